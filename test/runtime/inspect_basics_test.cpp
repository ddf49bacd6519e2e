// The autograd concepts as inspection functions: grad_fn_name, is_leaf, children, variables,
// depends_on, to_string, detach, custom functions, gradient records, check_grad, bindings.
#include <catch2/catch.hpp>

#include <boost/hana/contains.hpp>
#include <boost/hana/length.hpp>
#include <cmath>
#include <etgrad/etgrad.hpp>
#include <string>

namespace eg = etgrad;
namespace hana = boost::hana;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto z = eg::var<"z">;

struct Cube {
    static constexpr std::string_view name = "Cube";
    static constexpr auto value(const auto& u) { return u * u * u; }
    static constexpr auto derivative(const auto& u) { return 3.0 * u * u; }
};
struct SoftSign {  // u / (1 + |u|), derivative 1 / (1 + |u|)^2; no name
    static constexpr auto value(const auto& u) { return u / (1.0 + eg::abs(u)); }
    static constexpr auto derivative(const auto& u) { return 1.0 / eg::square(1.0 + eg::abs(u)); }
};
}  // namespace

TEST_CASE("grad_fn_name: PyTorch's names, empty for leaves", "[inspect]") {
    static_assert(eg::grad_fn_name(x + y) == "AddBackward");
    static_assert(eg::grad_fn_name(x - y) == "SubBackward");
    static_assert(eg::grad_fn_name(x / y) == "DivBackward");
    static_assert(eg::grad_fn_name(-x) == "NegBackward");
    static_assert(eg::grad_fn_name(eg::exp(x)) == "ExpBackward");
    static_assert(eg::grad_fn_name(eg::pow(x, eg::c<3>)) == "PowBackward");
    static_assert(eg::grad_fn_name(eg::square(x)) == "PowBackward");
    static_assert(eg::grad_fn_name(eg::pow(x, y)) == "PowBackward");
    static_assert(eg::grad_fn_name(eg::max(x, y)) == "MaximumBackward");
    static_assert(eg::grad_fn_name(eg::min(x, y)) == "MinimumBackward");
    static_assert(eg::grad_fn_name(eg::where(x > y, x, y)) == "WhereBackward");
    static_assert(eg::grad_fn_name(eg::sigmoid(x)) == "SigmoidBackward");
    static_assert(eg::grad_fn_name(eg::relu(x)) == "ReluBackward");
    static_assert(eg::grad_fn_name(eg::tanh(x)) == "TanhBackward");
    static_assert(eg::grad_fn_name(x).empty());
    static_assert(eg::grad_fn_name(eg::c<2>).empty());
    static_assert(eg::grad_fn_name(eg::detach(x * y)).empty());
    REQUIRE(eg::grad_fn_name(eg::function<Cube>(x)) == "CubeBackward");
    REQUIRE(eg::grad_fn_name(eg::function<SoftSign>(x)) == "FunctionBackward");
    REQUIRE(eg::grad_fn_name(2.5 * x) == "MulBackward");
}

TEST_CASE("is_leaf, children, variables, depends_on", "[inspect]") {
    constexpr auto f = eg::sin(x * y) + z;
    static_assert(eg::is_leaf(x) && eg::is_leaf(eg::c<1>) && eg::is_leaf(eg::detach(f)) && !eg::is_leaf(f));
    auto kids = eg::children(f);
    static_assert(decltype(hana::length(kids))::value == 2);
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(kids[hana::size_c<1>])>, eg::var_t<"z">>);
    static_assert(decltype(hana::length(eg::children(x)))::value == 0);
    auto vars = eg::variables(f);
    static_assert(decltype(hana::length(vars))::value == 3);
    static_assert(decltype(hana::contains(vars, x))::value);
    static_assert(!decltype(hana::contains(eg::variables(eg::sin(x)), y))::value);
    static_assert(eg::depends_on(f, z) && !eg::depends_on(eg::sin(x), z));
    REQUIRE(eg::to_string(kids[hana::size_c<0>]) == "sin(x * y)");
}

TEST_CASE("to_string: precedence and constants", "[inspect]") {
    REQUIRE(eg::to_string(eg::sin(x * x) + eg::exp(y) / x) == "sin(x * x) + exp(y) / x");
    REQUIRE(eg::to_string((x + y) * z) == "(x + y) * z");
    REQUIRE(eg::to_string(x - (y - z)) == "x - (y - z)");
    REQUIRE(eg::to_string(x - y - z) == "x - y - z");
    REQUIRE(eg::to_string(2.5 * x) == "2.5 * x");
    REQUIRE(eg::to_string(eg::c<1, 2> * x) == "1/2 * x");
    REQUIRE(eg::to_string(eg::where(x > 0, x, -x)) == "where(x > 0, x, -x)");
    REQUIRE(eg::to_string(eg::d(x * x * x, x)).find("0 *") == std::string::npos);
}

TEST_CASE("detach / stop_gradient: the value passes, the gradient does not", "[inspect]") {
    auto f = eg::detach(x) * y;
    auto [v, g] = eg::value_and_grad(f, x = 3.0, y = 2.0);
    REQUIRE(v == 6.0);
    REQUIRE(g[x] == 0.0);
    REQUIRE(g[y] == 3.0);
    REQUIRE(eg::is_zero<decltype(eg::d(eg::stop_gradient(x * x), x))>);
    REQUIRE(eg::grad(eg::stop_gradient(x) + x * y, x = 1.0, y = 4.0)[x] == 4.0);
}

TEST_CASE("custom functions: reverse, symbolic and second order", "[inspect]") {
    auto f = eg::function<Cube>(x + y);
    auto [v, g] = eg::value_and_grad(f, x = 1.0, y = 0.5);
    REQUIRE(v == 3.375);
    REQUIRE(g[x] == 3 * 2.25);
    REQUIRE(eg::d(f, y)(x = 1.0, y = 0.5) == 3 * 2.25);
    REQUIRE(eg::hessian(f, x = 1.0, y = 0.5)(x, y) == Approx(6 * 1.5));
    auto s = eg::function<SoftSign>(x * y);
    REQUIRE(eg::grad(s, x = 2.0, y = -0.5)[x] == Approx(-0.5 / 4.0).epsilon(1e-15));
    REQUIRE(eg::check_grad(s, x = 2.0, y = -0.5));
}

TEST_CASE("gradient records accumulate like .grad and reset like zero_grad()", "[inspect]") {
    constexpr auto f = x * y + eg::sin(x);
    auto g = eg::grad(f, eg::wrt(x, y, z), x = 1.0, y = 2.0);
    REQUIRE(g[z] == 0.0);  // z is in wrt but f does not use it: an exact zero
    decltype(g) acc{};
    acc += g;
    acc += g;
    REQUIRE(acc[x] == 2 * (2.0 + std::cos(1.0)));
    REQUIRE(acc[y] == 2.0);
    auto scaled = g * 0.5;
    REQUIRE(scaled[y] == 0.5);
    int n = 0;
    acc.for_each([&](auto, double) { ++n; });
    REQUIRE(n == 3);
    acc.zero();
    REQUIRE(acc[x] == 0.0);
    REQUIRE(acc[y] == 0.0);
    double one = eg::grad(f, eg::wrt(y), x = 3.0, y = 2.0);  // a one-variable record converts
    REQUIRE(one == 3.0);
}

TEST_CASE("bindings: any order, unused ignored, float stays float, integers are double", "[inspect]") {
    constexpr auto f = x / y;
    REQUIRE(f(y = 4.0, x = 1.0) == 0.25);
    REQUIRE(f(x = 1.0, y = 4.0, z = 100.0) == 0.25);
    auto vf = f(x = 1.0f, y = 3.0f);
    static_assert(std::is_same_v<decltype(vf), float>);
    REQUIRE(vf == 1.0f / 3.0f);
    auto vi = f(x = 1, y = 4);
    static_assert(std::is_same_v<decltype(vi), double>);
    REQUIRE(vi == 0.25);
    auto [v, g] = eg::value_and_grad(f, x = 1.0f, y = 2.0f);
    static_assert(std::is_same_v<decltype(v), float>);
    REQUIRE(g[y] == -0.25f);
}

namespace {
struct WrongSquare {  // derivative 3u instead of 2u
    static constexpr auto value(const auto& u) { return u * u; }
    static constexpr auto derivative(const auto& u) { return 3.0 * u; }
};
}  // namespace

TEST_CASE("check_grad accepts correct gradients and reports the error of a wrong rule", "[inspect]") {
    REQUIRE(eg::check_grad(eg::log(eg::sigmoid(x * y)), x = 0.7, y = -1.3));
    const auto bad = eg::check_grad(eg::function<WrongSquare>(x), x = 2.0);
    REQUIRE_FALSE(bad);
    REQUIRE(bad.max_abs_error == Approx(2.0).epsilon(1e-6));
}
