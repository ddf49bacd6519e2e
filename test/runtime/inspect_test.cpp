// PyTorch autograd's concepts, seen through etgrad's inspection API and checked against what the
// README and API.md promise: grad_fn_name, is_leaf, children, variables, depends_on, to_string,
// to_dot, detach, custom functions, gradient records, check_grad, bindings, expressions as values
// and runtime constants kept apart.
#include <catch2/catch.hpp>

#include <boost/hana/contains.hpp>
#include <boost/hana/equal.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/size.hpp>
#include <cmath>
#include <sstream>
#include <etgrad/etgrad.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace eg = etgrad;
namespace hana = boost::hana;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto z = eg::var<"z">;
constexpr auto a = eg::var<"a">;
constexpr auto b = eg::var<"b">;
constexpr auto c = eg::var<"c">;
constexpr auto d = eg::var<"d">;

using X = eg::var_t<"x">;
using Y = eg::var_t<"y">;
using Z = eg::var_t<"z">;

template <class T>
using rm = std::remove_cvref_t<T>;

// The number of elements of a hana sequence or set, as a compile-time value.
template <class S>
constexpr std::size_t hana_len(const S& s) {
    return decltype(hana::length(s))::value;
}

// Non-overlapping occurrences of `what` in `s`.
std::size_t count_of(const std::string& s, std::string_view what) {
    std::size_t n = 0;
    for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) {
        ++n;
    }
    return n;
}

// A custom function with a name: u^3, derivative 3u^2 (`3.0 * u` works on numbers and expressions).
struct Cube {
    static constexpr std::string_view name = "Cube";
    static constexpr auto value(const auto& u) { return u * u * u; }
    static constexpr auto derivative(const auto& u) { return 3.0 * u * u; }
};
// A custom function without a name, with a non-polynomial derivative: log(cosh(u)), tanh(u).
struct LogCosh {
    static constexpr auto value(const auto& u) { return eg::log(eg::cosh(u)); }
    static constexpr auto derivative(const auto& u) { return eg::tanh(u); }
};
// Softplus by hand: log(1 + e^u), derivative sigmoid(u), whose own derivative is s(1 - s).
struct MySoftplus {
    static constexpr std::string_view name = "MySoftplus";
    static constexpr auto value(const auto& u) { return eg::log1p(eg::exp(u)); }
    static constexpr auto derivative(const auto& u) { return eg::sigmoid(u); }
};
// Deliberately wrong: value u^2, "derivative" 3u (the truth is 2u).
struct WrongSquare {
    static constexpr std::string_view name = "WrongSquare";
    static constexpr auto value(const auto& u) { return u * u; }
    static constexpr auto derivative(const auto& u) { return 3.0 * u; }
};
// Deliberately wrong: value sin(u), "derivative" -cos(u) (sign error).
struct WrongSin {
    static constexpr auto value(const auto& u) { return eg::sin(u); }
    static constexpr auto derivative(const auto& u) { return -eg::cos(u); }
};
}  // namespace

// ---------------------------------------------------------------------------------------------
// grad_fn_name

TEST_CASE("grad_fn_name: PyTorch's names at compile time", "[inspect][grad_fn]") {
    static_assert(eg::grad_fn_name(x * y) == "MulBackward");
    static_assert(eg::grad_fn_name(eg::sin(x)) == "SinBackward");
    static_assert(eg::grad_fn_name(x + y) == "AddBackward");
    static_assert(eg::grad_fn_name(x - y) == "SubBackward");
    static_assert(eg::grad_fn_name(x / y) == "DivBackward");
    static_assert(eg::grad_fn_name(-x) == "NegBackward");
    static_assert(eg::grad_fn_name(eg::exp(x)) == "ExpBackward");
    static_assert(eg::grad_fn_name(eg::log(x)) == "LogBackward");
    static_assert(eg::grad_fn_name(eg::log1p(x)) == "Log1PBackward");
    static_assert(eg::grad_fn_name(eg::expm1(x)) == "Expm1Backward");
    static_assert(eg::grad_fn_name(eg::sqrt(x)) == "SqrtBackward");
    static_assert(eg::grad_fn_name(eg::cbrt(x)) == "CbrtBackward");
    static_assert(eg::grad_fn_name(eg::pow(x, eg::c<3>)) == "PowBackward");
    static_assert(eg::grad_fn_name(eg::square(x)) == "PowBackward");
    static_assert(eg::grad_fn_name(eg::pow(x, y)) == "PowBackward");
    static_assert(eg::grad_fn_name(eg::cos(x)) == "CosBackward");
    static_assert(eg::grad_fn_name(eg::tan(x)) == "TanBackward");
    static_assert(eg::grad_fn_name(eg::asin(x)) == "AsinBackward");
    static_assert(eg::grad_fn_name(eg::acos(x)) == "AcosBackward");
    static_assert(eg::grad_fn_name(eg::atan(x)) == "AtanBackward");
    static_assert(eg::grad_fn_name(eg::atan2(y, x)) == "Atan2Backward");
    static_assert(eg::grad_fn_name(eg::sinh(x)) == "SinhBackward");
    static_assert(eg::grad_fn_name(eg::cosh(x)) == "CoshBackward");
    static_assert(eg::grad_fn_name(eg::tanh(x)) == "TanhBackward");
    static_assert(eg::grad_fn_name(eg::sigmoid(x)) == "SigmoidBackward");
    static_assert(eg::grad_fn_name(eg::softplus(x)) == "SoftplusBackward");
    static_assert(eg::grad_fn_name(eg::relu(x)) == "ReluBackward");
    static_assert(eg::grad_fn_name(eg::abs(x)) == "AbsBackward");
    static_assert(eg::grad_fn_name(eg::erf(x)) == "ErfBackward");
    static_assert(eg::grad_fn_name(eg::max(x, y)) == "MaximumBackward");
    static_assert(eg::grad_fn_name(eg::min(x, y)) == "MinimumBackward");
    static_assert(eg::grad_fn_name(eg::where(x > y, x, y)) == "WhereBackward");
    // the root decides: the name is that of the last operation
    static_assert(eg::grad_fn_name(eg::sin(x * x) + eg::exp(y) / x) == "AddBackward");
    static_assert(eg::grad_fn_name(eg::sin(x * x + y)) == "SinBackward");
    // no trailing digit (PyTorch's "MulBackward0")
    static_assert(eg::grad_fn_name(x * y).back() == 'd');
}

TEST_CASE("grad_fn_name: leaves, detached values and conditions have none", "[inspect][grad_fn]") {
    static_assert(eg::grad_fn_name(x).empty());
    static_assert(eg::grad_fn_name(eg::c<2>).empty());
    static_assert(eg::grad_fn_name(eg::c<1, 3>).empty());
    static_assert(eg::grad_fn_name(eg::rconst(2.5)).empty());
    static_assert(eg::grad_fn_name(eg::detach(x * y)).empty());
    static_assert(eg::grad_fn_name(eg::stop_gradient(eg::sin(x))).empty());
    static_assert(eg::is_leaf(eg::detach(x * y)));
    static_assert(eg::grad_fn_name(x > y).empty());
    REQUIRE(eg::grad_fn_name(x) == "");
    REQUIRE(eg::grad_fn_name(eg::c<2>) == "");
    REQUIRE(eg::grad_fn_name(eg::detach(x * y)) == "");
    REQUIRE(eg::is_leaf(eg::detach(x * y)));
}

TEST_CASE("grad_fn_name: custom functions are named after their rule", "[inspect][grad_fn]") {
    static_assert(eg::grad_fn_name(eg::function<Cube>(x)) == "CubeBackward");
    static_assert(eg::grad_fn_name(eg::function<MySoftplus>(x * y)) == "MySoftplusBackward");
    static_assert(eg::grad_fn_name(eg::function<LogCosh>(x)) == "FunctionBackward");  // no name
    REQUIRE(eg::grad_fn_name(eg::function<Cube>(x)) == "CubeBackward");
    REQUIRE(eg::grad_fn_name(eg::function<Cube>(x + y) * 2.0) == "MulBackward");
}

TEST_CASE("grad_fn_name at run time, with runtime constants and symbolic derivatives", "[inspect][grad_fn]") {
    const double k = 2.5;
    const auto f = k * x;
    REQUIRE(eg::grad_fn_name(f) == "MulBackward");
    REQUIRE(eg::grad_fn_name(f + 1.0) == "AddBackward");
    REQUIRE(eg::grad_fn_name(1.0 - y) == "SubBackward");
    REQUIRE(eg::grad_fn_name(x / 4.0) == "DivBackward");
    REQUIRE(eg::grad_fn_name(eg::pow(x, 1.5)) == "PowBackward");
    const std::string_view n = eg::grad_fn_name(eg::sigmoid(x * y));
    REQUIRE(std::string(n) == "SigmoidBackward");
    // eg::d of an expression with runtime constants is a closure; its root is still named
    const auto dfdx = eg::d(2.5 * x * x + eg::sin(x), x);
    REQUIRE(eg::grad_fn_name(dfdx) == "AddBackward");
    REQUIRE_FALSE(eg::is_leaf(dfdx));
    static_assert(eg::grad_fn_name(eg::d(eg::sin(x), x)) == "CosBackward");
}

// ---------------------------------------------------------------------------------------------
// is_leaf, children, variables, depends_on

TEST_CASE("is_leaf: variables, constants and detached values", "[inspect]") {
    static_assert(eg::is_leaf(x));
    static_assert(eg::is_leaf(eg::c<2>));
    static_assert(eg::is_leaf(eg::c<-1, 2>));
    static_assert(eg::is_leaf(eg::detach(eg::sin(x) * y)));
    static_assert(!eg::is_leaf(x * y));
    static_assert(!eg::is_leaf(-x));
    static_assert(!eg::is_leaf(eg::function<Cube>(x)));
    REQUIRE(eg::is_leaf(eg::rconst(2.5)));
    REQUIRE_FALSE(eg::is_leaf(2.5 * x));
    REQUIRE(eg::is_leaf(eg::stop_gradient(2.5 * x)));
}

TEST_CASE("children: the root's inputs as a hana::tuple", "[inspect]") {
    constexpr auto f = eg::sin(x * y) + z;
    constexpr auto kids = eg::children(f);
    static_assert(hana_len(kids) == 2);
    static_assert(decltype(hana::size(kids))::value == 2);
    static_assert(std::is_same_v<rm<decltype(kids[hana::size_c<0>])>, rm<decltype(eg::sin(x * y))>>);
    static_assert(std::is_same_v<rm<decltype(kids[hana::size_c<1>])>, Z>);
    // PyTorch's next_functions, one level further
    constexpr auto grandkids = eg::children(kids[hana::size_c<0>]);
    static_assert(hana_len(grandkids) == 1);
    static_assert(std::is_same_v<rm<decltype(grandkids[hana::size_c<0>])>, rm<decltype(x * y)>>);
    static_assert(eg::grad_fn_name(grandkids[hana::size_c<0>]) == "MulBackward");
    constexpr auto leaves = eg::children(grandkids[hana::size_c<0>]);
    static_assert(hana_len(leaves) == 2);
    static_assert(std::is_same_v<rm<decltype(leaves[hana::size_c<0>])>, X>);
    static_assert(std::is_same_v<rm<decltype(leaves[hana::size_c<1>])>, Y>);
    // leaves have no children
    static_assert(hana_len(eg::children(x)) == 0);
    static_assert(hana_len(eg::children(eg::c<3>)) == 0);
    // arities: unary, binary, ternary, custom
    static_assert(hana_len(eg::children(-x)) == 1);
    static_assert(hana_len(eg::children(eg::exp(x))) == 1);
    static_assert(hana_len(eg::children(eg::pow(x, eg::c<3>))) == 1);
    static_assert(hana_len(eg::children(eg::pow(x, y))) == 2);
    static_assert(hana_len(eg::children(eg::atan2(y, x))) == 2);
    static_assert(hana_len(eg::children(eg::where(x > y, x, y * y))) == 3);
    static_assert(hana_len(eg::children(eg::function<Cube>(x + y))) == 1);
    static_assert(std::is_same_v<rm<decltype(eg::children(eg::function<Cube>(x + y))[hana::size_c<0>])>,
                                 rm<decltype(x + y)>>);
    // the children of a where: the condition, then the two branches
    constexpr auto w = eg::children(eg::where(x > y, x, y * y));
    static_assert(eg::grad_fn_name(w[hana::size_c<0>]).empty());
    static_assert(std::is_same_v<rm<decltype(w[hana::size_c<1>])>, X>);
    static_assert(eg::grad_fn_name(w[hana::size_c<2>]) == "MulBackward");
    REQUIRE(eg::to_string(w[hana::size_c<0>]) == "x > y");
    REQUIRE(eg::to_string(kids[hana::size_c<0>]) == "sin(x * y)");
}

TEST_CASE("children: runtime constants keep their values", "[inspect]") {
    const auto f = 2.5 * x;
    const auto kids = eg::children(f);
    static_assert(hana_len(decltype(kids){}) == 2);
    // one child is the constant 2.5, the other the variable x
    using K0 = rm<decltype(kids[hana::size_c<0>])>;
    using K1 = rm<decltype(kids[hana::size_c<1>])>;
    static_assert((std::is_same_v<K0, eg::rconst> && std::is_same_v<K1, X>) ||
                  (std::is_same_v<K0, X> && std::is_same_v<K1, eg::rconst>));
    REQUIRE(eg::to_string(kids[hana::size_c<0>]) + " " + eg::to_string(kids[hana::size_c<1>]) == "2.5 x");
    // children of a closure (eg::d of an expression with runtime constants) still print the constants
    const auto dfdx = eg::d(2.5 * x * x + 4.0 * y, x);
    const auto dkids = eg::children(dfdx);
    std::string all;
    hana::for_each(dkids, [&](const auto& k) { all += eg::to_string(k) + ";"; });
    REQUIRE(all.find("2.5") != std::string::npos);
    REQUIRE(all.find("c0") == std::string::npos);
    REQUIRE(dfdx(x = 2.0, y = 7.0) == 10.0);
}

TEST_CASE("variables: the hana::set of variables an expression reads", "[inspect]") {
    constexpr auto f = eg::sin(x * y) + eg::exp(y) / x;
    constexpr auto vs = eg::variables(f);
    static_assert(hana_len(vs) == 2);
    static_assert(decltype(hana::contains(vs, x))::value);
    static_assert(decltype(hana::contains(vs, y))::value);
    static_assert(!decltype(hana::contains(vs, z))::value);
    static_assert(decltype(vs == hana::make_set(y, x))::value);  // a set: order does not matter
    static_assert(hana_len(eg::variables(x * x * x + x)) == 1);
    static_assert(hana_len(eg::variables(eg::c<2>)) == 0);
    static_assert(hana_len(eg::variables(eg::where(z > 0, x, y))) == 3);  // the condition reads z
    static_assert(hana_len(eg::variables(eg::function<Cube>(a + b) * c)) == 3);
    const auto g = 2.5 * x + 3.5 * z;
    static_assert(hana_len(decltype(eg::variables(g)){}) == 2);
    REQUIRE(decltype(hana::contains(eg::variables(g), z))::value);
    REQUIRE_FALSE(decltype(hana::contains(eg::variables(g), y))::value);
}

TEST_CASE("depends_on: requires_grad's contagion, at compile time", "[inspect]") {
    constexpr auto f = eg::sin(x * y) + eg::exp(y) / x;
    static_assert(eg::depends_on(f, x));
    static_assert(eg::depends_on(f, y));
    static_assert(!eg::depends_on(f, z));
    static_assert(eg::depends_on(f + z, z));
    static_assert(!eg::depends_on(eg::c<2>, x));
    static_assert(eg::depends_on(x, x));
    static_assert(!eg::depends_on(x, y));
    static_assert(eg::depends_on(eg::function<Cube>(z), z));
    constexpr bool dep = eg::depends_on(eg::where(z > 0, x, y), z);
    static_assert(dep);
    const auto g = 2.5 * x;
    REQUIRE(eg::depends_on(g, x));
    REQUIRE_FALSE(eg::depends_on(g, y));
}

// ---------------------------------------------------------------------------------------------
// to_string

TEST_CASE("to_string returns an eg::text that works where a std::string does", "[inspect][to_string]") {
    const eg::text t = eg::to_string(eg::sin(x) * y);
    // conversions
    const std::string s = t;
    REQUIRE(s == "sin(x) * y");
    const std::string_view v = t;
    REQUIRE(v == "sin(x) * y");
    REQUIRE(t.str() == s);
    REQUIRE(std::string(t) == s);
    // comparisons in both orders, with literals, std::string, std::string_view and text
    REQUIRE(t == "sin(x) * y");
    REQUIRE("sin(x) * y" == t);
    REQUIRE(t == s);
    REQUIRE(s == t);
    REQUIRE(t == v);
    REQUIRE(t == eg::to_string(eg::sin(x) * y));
    REQUIRE(t != "sin(x)");
    REQUIRE(eg::to_string(x) < eg::to_string(y));
    // access
    REQUIRE(t.size() == 10);
    REQUIRE(t.length() == 10);
    REQUIRE_FALSE(t.empty());
    REQUIRE(eg::text().empty());
    REQUIRE(std::string_view(t.c_str()) == "sin(x) * y");
    REQUIRE(t.c_str()[t.size()] == '\0');
    REQUIRE(t[0] == 's');
    REQUIRE(std::string(t.begin(), t.end()) == s);
    REQUIRE(t.find("*") == 7);
    REQUIRE(t.find("cos") == eg::text::npos);
    REQUIRE(t.contains("(x)"));
    REQUIRE(t.starts_with("sin"));
    REQUIRE(t.ends_with("* y"));
    // concatenation
    REQUIRE(t + "!" == "sin(x) * y!");
    REQUIRE("f = " + t == "f = sin(x) * y");
    REQUIRE(std::string("f = ") + t == "f = sin(x) * y");
    REQUIRE(t + std::string(";") == "sin(x) * y;");
    REQUIRE(t + t == "sin(x) * ysin(x) * y");
    std::string acc = "[";
    acc += t;
    REQUIRE(acc == "[sin(x) * y");
    eg::text u;
    u += "a";
    u += 'b';
    u += t;
    REQUIRE(u == "absin(x) * y");
    // printing
    std::ostringstream os;
    os << t;
    REQUIRE(os.str() == s);
}

TEST_CASE("to_string: infix notation", "[inspect][to_string]") {
    REQUIRE(eg::to_string(eg::sin(x * x) + eg::exp(y) / x) == "sin(x * x) + exp(y) / x");
    REQUIRE(eg::to_string(x) == "x");
    REQUIRE(eg::to_string(x + y) == "x + y");
    REQUIRE(eg::to_string(eg::sin(x) * eg::cos(y)) == "sin(x) * cos(y)");
    REQUIRE(eg::to_string(eg::pow(x, eg::c<3>)) == "pow(x, 3)");
    REQUIRE(eg::to_string(eg::square(x)) == "pow(x, 2)");
    REQUIRE(eg::to_string(eg::pow(x, y)) == "pow(x, y)");
    REQUIRE(eg::to_string(eg::atan2(y, x)) == "atan2(y, x)");
    REQUIRE(eg::to_string(eg::max(x, y)) == "max(x, y)");
    REQUIRE(eg::to_string(eg::min(x * y, z)) == "min(x * y, z)");
    REQUIRE(eg::to_string(eg::where(x > 0, x, -x)) == "where(x > 0, x, -x)");
    REQUIRE(eg::to_string(eg::where(x > y, x * y, x + y) * z) == "where(x > y, x * y, x + y) * z");
    REQUIRE(eg::to_string(eg::function<Cube>(x + y)) == "Cube(x + y)");
    REQUIRE(eg::to_string(eg::detach(x * y)) == "detach(x * y)");
}

TEST_CASE("to_string: parentheses exactly where precedence needs them", "[inspect][to_string]") {
    REQUIRE(eg::to_string((x + y) * z) == "(x + y) * z");
    REQUIRE(eg::to_string(x + y * z) == "x + y * z");
    REQUIRE(eg::to_string(x * y + z) == "x * y + z");
    REQUIRE(eg::to_string(x - (y - z)) == "x - (y - z)");
    REQUIRE(eg::to_string(x - y - z) == "x - y - z");
    REQUIRE(eg::to_string(x - (y + z)) == "x - (y + z)");
    REQUIRE(eg::to_string(x / (y * z)) == "x / (y * z)");
    REQUIRE(eg::to_string(x / y * z) == "x / y * z");
    REQUIRE(eg::to_string(x / (y / z)) == "x / (y / z)");
    REQUIRE(eg::to_string((x - y) * (x + y)) == "(x - y) * (x + y)");
    REQUIRE(eg::to_string(-(x + y)) == "-(x + y)");
    REQUIRE(eg::to_string(-x) == "-x");
    REQUIRE(eg::to_string(-eg::sin(x)) == "-sin(x)");
    REQUIRE(eg::to_string(eg::pow(x + y, eg::c<3>)) == "pow(x + y, 3)");
    REQUIRE(eg::to_string(eg::sin(x + y)) == "sin(x + y)");  // function arguments need none
    REQUIRE(eg::to_string((x > 0) && (y < 1)) == "x > 0 && y < 1");
}

TEST_CASE("to_string: constants", "[inspect][to_string]") {
    // runtime constants: the shortest representation that reads back the same double
    REQUIRE(eg::to_string(2.5 * x) == "2.5 * x");
    REQUIRE(eg::to_string(0.1 * x) == "0.1 * x");
    REQUIRE(eg::to_string(x * 0.1) == "x * 0.1");
    REQUIRE(eg::to_string(x / 4.0) == "x / 4");
    REQUIRE(eg::to_string(1 - y) == "1 - y");
    REQUIRE(eg::to_string(x - 1.5) == "x - 1.5");
    REQUIRE(eg::to_string(1e100 * x) == "1e+100 * x");
    REQUIRE(eg::to_string(2.5 * x + 3.5 * x) == "2.5 * x + 3.5 * x");
    // compile-time constants: integers and fractions
    REQUIRE(eg::to_string(eg::c<2>) == "2");
    REQUIRE(eg::to_string(eg::c<1, 2>) == "1/2");
    REQUIRE(eg::to_string(eg::c<2, 4> * x) == "1/2 * x");
    REQUIRE(eg::to_string(eg::c<-2> * x) == "-2 * x");
    // a symbolic derivative holding runtime constants prints their values
    const std::string s = eg::to_string(eg::d(2.5 * x * x, x));
    REQUIRE(s.find("2.5") != std::string::npos);
    REQUIRE(s.find("c0") == std::string::npos);
    // the printed derivative of a polynomial carries no "0 *" or "1 *" left by the chain rule
    const std::string p = eg::to_string(eg::d(x * x * x, x));
    REQUIRE(p.find("0 *") == std::string::npos);
    REQUIRE(p.find("1 *") == std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// to_dot

TEST_CASE("to_dot: the autograd notes' graph, forward and backward", "[inspect][to_dot]") {
    // e = ((a + b) * b^2) + ((c - d) * d^2)
    const auto e = ((a + b) * eg::square(b)) + ((c - d) * eg::square(d));
    const std::string dot = eg::to_dot(e);
    INFO(dot);
    REQUIRE(dot.rfind("digraph", 0) == 0);
    REQUIRE(dot.find("subgraph cluster_forward") != std::string::npos);
    REQUIRE(dot.find("subgraph cluster_backward") != std::string::npos);
    REQUIRE(dot.find("subgraph cluster_forward") < dot.find("subgraph cluster_backward"));
    REQUIRE(count_of(dot, "{") == count_of(dot, "}"));
    REQUIRE(dot.back() == '\n');
    const std::string fwd = dot.substr(0, dot.find("subgraph cluster_backward"));
    const std::string bwd = dot.substr(dot.find("subgraph cluster_backward"));

    // forward: one node per distinct subexpression: 4 variables, 7 operations
    for (const char* v : {"label=\"a\"", "label=\"b\"", "label=\"c\"", "label=\"d\""}) {
        INFO(v);
        REQUIRE(count_of(fwd, v) == 1);  // b and d are used twice, and appear once
    }
    REQUIRE(count_of(fwd, "[label=") == 11);
    REQUIRE(count_of(fwd, "->") == 12);
    REQUIRE(count_of(fwd, "shape=ellipse") == 4);

    // backward: grad_fn nodes and one AccumulateGrad per variable
    REQUIRE(count_of(bwd, "MulBackward") == 2);
    REQUIRE(count_of(bwd, "AddBackward") == 2);
    REQUIRE(count_of(bwd, "SubBackward") == 1);
    REQUIRE(count_of(bwd, "PowBackward") == 2);
    REQUIRE(count_of(bwd, "AccumulateGrad") == 4);
    for (const char* v : {"AccumulateGrad\\na\"", "AccumulateGrad\\nb\"", "AccumulateGrad\\nc\"",
                          "AccumulateGrad\\nd\""}) {
        INFO(v);
        REQUIRE(count_of(bwd, v) == 1);
    }
    REQUIRE(count_of(bwd, "[label=") == 11);
    REQUIRE(count_of(bwd, "->") == 12);
    REQUIRE(count_of(dot, "Backward") == 7);  // only in the backward graph
    REQUIRE(count_of(fwd, "Backward") == 0);
}

TEST_CASE("to_dot: b * b written as a product; a title", "[inspect][to_dot]") {
    const auto e = ((a + b) * (b * b)) + ((c - d) * (d * d));
    const std::string dot = eg::to_dot(e);
    INFO(dot);
    const std::string fwd = dot.substr(0, dot.find("subgraph cluster_backward"));
    const std::string bwd = dot.substr(dot.find("subgraph cluster_backward"));
    REQUIRE(count_of(fwd, "label=\"b\"") == 1);
    REQUIRE(count_of(fwd, "[label=") == 11);
    REQUIRE(count_of(fwd, "->") == 14);  // b * b reads b twice
    REQUIRE(count_of(bwd, "MulBackward") == 4);
    REQUIRE(count_of(bwd, "AddBackward") == 2);
    REQUIRE(count_of(bwd, "AccumulateGrad") == 4);
    REQUIRE(count_of(bwd, "->") == 14);

    // a title
    REQUIRE(eg::to_dot(eg::sin(x), "my graph").rfind("digraph \"my graph\"", 0) == 0);
}

TEST_CASE("to_dot: a detached subgraph is in the forward graph only", "[inspect][to_dot][detach]") {
    // PyTorch: (x * z).detach() * y + 2.5 * x has no path from the output's grad_fn to x * z, so
    // neither MulBackward(x * z) nor z's AccumulateGrad is part of the backward graph.
    const std::string dd = eg::to_dot(eg::detach(x * z) * y + 2.5 * x);
    INFO(dd);
    const std::string dfwd = dd.substr(0, dd.find("subgraph cluster_backward"));
    const std::string dbwd = dd.substr(dd.find("subgraph cluster_backward"));
    CHECK(count_of(dfwd, "label=\"2.5\"") == 1);  // the runtime constant's value
    CHECK(count_of(dfwd, "label=\"z\"") == 1);
    CHECK(count_of(dfwd, "label=\"detach\"") == 1);
    CHECK(count_of(dbwd, "Detach") == 0);
    CHECK(count_of(dbwd, "AccumulateGrad\\nx") == 1);
    CHECK(count_of(dbwd, "AccumulateGrad\\ny") == 1);
    CHECK(count_of(dbwd, "AccumulateGrad\\nz") == 0);
    CHECK(count_of(dbwd, "MulBackward") == 2);  // detach(x * z) * y and 2.5 * x, not x * z
    CHECK(count_of(dbwd, "->") == 4);
}

// ---------------------------------------------------------------------------------------------
// detach / stop_gradient

TEST_CASE("detach and stop_gradient in reverse, symbolic and forward mode", "[inspect][detach]") {
    const auto f = eg::detach(x) * y;
    auto [v, g] = eg::value_and_grad(f, eg::wrt(x, y), x = 3.0, y = 2.0);
    REQUIRE(v == 6.0);
    REQUIRE(g[x] == 0.0);
    REQUIRE(g[y] == 3.0);  // x's value
    REQUIRE(f(x = 3.0, y = 2.0) == 6.0);
    REQUIRE(eg::detach(x)(x = 3.0) == 3.0);
    // eg::grad(f, eg::wrt(x), ...) is a compile error: f reads x only through detach
    // (test/compile_fail/grad_of_detached_wrt.cpp, PyTorch's "does not require grad").

    const auto h = eg::stop_gradient(eg::sin(x)) * x;  // d/dx = sin(x) only
    REQUIRE(eg::grad(h, eg::wrt(x), x = 0.5)[x] == std::sin(0.5));
    REQUIRE(h(x = 0.5) == std::sin(0.5) * 0.5);
    // symbolic and forward mode agree
    static_assert(eg::is_zero<decltype(eg::d(eg::detach(x * x), x))>);
    REQUIRE(eg::d(f, x)(x = 3.0, y = 2.0) == 0.0);
    REQUIRE(eg::d(f, y)(x = 3.0, y = 2.0) == 3.0);
    REQUIRE(eg::jvp(f, eg::tangent(x = 1.0), x = 3.0, y = 2.0).tangent == 0.0);
    // detaching a number is the number
    REQUIRE(eg::detach(2.5) == 2.5);
}

// ---------------------------------------------------------------------------------------------
// custom functions

TEST_CASE("custom function: reverse mode, symbolic d and hessian", "[inspect][function]") {
    const auto f = eg::function<Cube>(x);
    REQUIRE(f(x = 2.0) == 8.0);
    auto [v, g] = eg::value_and_grad(f, x = 2.0);
    REQUIRE(v == 8.0);
    REQUIRE(g[x] == 12.0);
    const auto dfdx = eg::d(f, x);
    REQUIRE(dfdx(x = 2.0) == 12.0);
    REQUIRE(eg::d(dfdx, x)(x = 2.0) == Approx(12.0));  // 6x
    REQUIRE(eg::d(eg::d(dfdx, x), x)(x = 2.0) == Approx(6.0));
    REQUIRE(eg::hessian(f, x = 2.0)(x, x) == Approx(12.0));

    // through a composition whose argument holds no runtime constant: u = x * y
    const auto h = eg::function<Cube>(x * y) * z;
    auto [hv, hg] = eg::value_and_grad(h, x = 1.5, y = 2.0, z = 0.5);
    REQUIRE(hv == 27.0 * 0.5);
    REQUIRE(hg[x] == 3 * 9.0 * 2.0 * 0.5);
    REQUIRE(hg[y] == 3 * 9.0 * 1.5 * 0.5);
    REQUIRE(hg[z] == 27.0);
    REQUIRE(eg::d(h, y)(x = 1.5, y = 2.0, z = 0.5) == Approx(hg[y]).epsilon(1e-15));
    const auto H = eg::hessian(h, eg::wrt(x, y, z), x = 1.5, y = 2.0, z = 0.5);
    REQUIRE(H(x, x) == Approx(6 * 3.0 * 2.0 * 2.0 * 0.5));       // 6u y^2 z
    REQUIRE(H(x, y) == Approx((6 * 3.0 * 1.5 * 2.0 + 3 * 9.0) * 0.5));  // (6u xy + 3u^2) z
    REQUIRE(H(y, x) == H(x, y));
    REQUIRE(H(x, z) == Approx(3 * 9.0 * 2.0));
    REQUIRE(H(z, z) == 0.0);
    REQUIRE(eg::check_grad(h, x = 1.5, y = 2.0, z = 0.5));
    // forward mode
    REQUIRE(eg::jvp(h, eg::tangent(x = 1.0), x = 1.5, y = 2.0, z = 0.5).tangent == Approx(hg[x]).epsilon(1e-15));
    // value on a plain number: the rule itself
    REQUIRE(eg::function<Cube>(3.0) == 27.0);
}

// The rule's derivative `3.0 * u * u` holds a runtime constant (3.0); so does the argument (2.0 * x).
// Reverse mode is right; the transforms built on the symbolic derivative must be too.
TEST_CASE("custom function: runtime constants in the rule's derivative and in its argument",
          "[inspect][function][rconst]") {
    const auto f = eg::function<Cube>(2.0 * x);  // 8 x^3: f' = 24 x^2, f'' = 48 x
    CHECK(f(x = 1.0) == 8.0);
    CHECK(eg::grad(f, x = 1.0)[x] == 24.0);
    CHECK(eg::hessian(f, x = 1.0)(x, x) == Approx(48.0));
    CHECK(eg::hvp(f, eg::tangent(x = 1.0), x = 1.0)[x] == Approx(48.0));
    CHECK(eg::jacobian(eg::vector(f), eg::wrt(x), x = 1.0)(0, x) == Approx(24.0));

    const auto h = eg::function<Cube>(x + 2.0 * y) * z;  // u = x + 2y = 1.5
    const auto H = eg::hessian(h, eg::wrt(x, y, z), x = 1.0, y = 0.25, z = 2.0);
    CHECK(H(x, x) == Approx(6 * 1.5 * 2.0));
    CHECK(H(x, y) == Approx(6 * 1.5 * 2.0 * 2.0));
    CHECK(H(x, z) == Approx(3 * 2.25));
    // eg::d's closure holds both the argument's constant (as rc<I>) and the rule's own 3.0
    CHECK(eg::d(f, x)(x = 1.0) == 24.0);
    CHECK(eg::d(eg::d(f, x), x)(x = 1.0) == Approx(48.0));
    CHECK(eg::d(h, x)(x = 1.0, y = 0.25, z = 2.0) == Approx(3 * 2.25 * 2.0));
    CHECK(eg::d(eg::d(h, x), y)(x = 1.0, y = 0.25, z = 2.0) == Approx(6 * 1.5 * 2.0 * 2.0));
}

TEST_CASE("custom function with a non-polynomial derivative", "[inspect][function]") {
    const auto f = eg::function<LogCosh>(x * y);
    const double u = 0.6 * -1.7;
    REQUIRE(f(x = 0.6, y = -1.7) == Approx(std::log(std::cosh(u))).epsilon(1e-14));
    auto [v, g] = eg::value_and_grad(f, x = 0.6, y = -1.7);
    REQUIRE(v == Approx(std::log(std::cosh(u))).epsilon(1e-14));
    REQUIRE(g[x] == Approx(std::tanh(u) * -1.7).epsilon(1e-14));
    REQUIRE(g[y] == Approx(std::tanh(u) * 0.6).epsilon(1e-14));
    REQUIRE(eg::d(f, x)(x = 0.6, y = -1.7) == Approx(g[x]).epsilon(1e-14));
    // second order: d/du tanh(u) = 1 - tanh(u)^2
    const double sech2 = 1 - std::tanh(u) * std::tanh(u);
    const auto H = eg::hessian(f, x = 0.6, y = -1.7);
    REQUIRE(H(x, x) == Approx(sech2 * 1.7 * 1.7).epsilon(1e-12));
    REQUIRE(H(x, y) == Approx(sech2 * u + std::tanh(u)).epsilon(1e-12));
    REQUIRE(H(y, y) == Approx(sech2 * 0.36).epsilon(1e-12));
    REQUIRE(eg::check_grad(f, x = 0.6, y = -1.7));

    // softplus written by hand matches the built-in one in every mode
    const auto s = eg::function<MySoftplus>(x);
    const auto t = eg::softplus(x);
    for (double p : {-3.0, -0.5, 0.0, 0.7, 4.0}) {
        INFO(p);
        REQUIRE(s(x = p) == Approx(t(x = p)).epsilon(1e-14));
        REQUIRE(eg::grad(s, x = p)[x] == Approx(eg::grad(t, x = p)[x]).epsilon(1e-14));
        REQUIRE(eg::d(eg::d(s, x), x)(x = p) == Approx(eg::d(eg::d(t, x), x)(x = p)).epsilon(1e-12));
        REQUIRE(eg::hessian(s, x = p)(x, x) == Approx(eg::hessian(t, x = p)(x, x)).epsilon(1e-12));
    }
}

TEST_CASE("custom functions evaluate in constant expressions", "[inspect][function]") {
    constexpr auto f = eg::function<Cube>(x) + y;
    static_assert(f(x = 2.0, y = 1.0) == 9.0);
    static_assert(eg::grad(f, x = 2.0, y = 1.0)[x] == 12.0);
    static_assert(eg::d(f, x)(x = 2.0, y = 1.0) == 12.0);
    REQUIRE(f(x = 2.0, y = 1.0) == 9.0);
}

// ---------------------------------------------------------------------------------------------
// gradient records

TEST_CASE("gradient records: .grad accumulation, zero_grad, scaling, for_each", "[inspect][records]") {
    constexpr auto f = x * y + eg::sin(x);
    auto g1 = eg::grad(f, eg::wrt(x, y), x = 1.0, y = 2.0);
    auto g2 = eg::grad(f, eg::wrt(x, y), x = 0.5, y = -3.0);
    auto g3 = eg::grad(f, eg::wrt(x, y), x = -2.0, y = 0.25);
    static_assert(decltype(g1)::size() == 2);
    static_assert(std::is_same_v<decltype(g1)::value_type, double>);

    // several backward calls accumulate into .grad
    decltype(g1) acc{};
    REQUIRE(acc[x] == 0.0);
    REQUIRE(acc[y] == 0.0);
    acc += g1;
    REQUIRE(acc[x] == g1[x]);
    acc += g2;
    acc += g3;
    REQUIRE(acc[x] == Approx((2.0 + std::cos(1.0)) + (-3.0 + std::cos(0.5)) + (0.25 + std::cos(-2.0))));
    REQUIRE(acc[y] == Approx(1.0 + 0.5 - 2.0));
    // zero_grad
    acc.zero();
    REQUIRE(acc[x] == 0.0);
    REQUIRE(acc[y] == 0.0);
    acc += g2;
    REQUIRE(acc[x] == g2[x]);
    REQUIRE(acc[y] == g2[y]);

    // scaling: g * s and s * g
    const auto h = g1 * 2.0;
    REQUIRE(h[x] == 2.0 * g1[x]);
    REQUIRE(h[y] == 2.0);
    const auto h2 = 0.5 * g1;
    REQUIRE(h2[y] == 0.5);
    // sums and differences
    REQUIRE((g1 + g2)[x] == g1[x] + g2[x]);
    REQUIRE((g1 - g1)[y] == 0.0);
    // writable entries (an optimizer step)
    acc[x] = 42.0;
    REQUIRE(acc[x] == 42.0);

    // for_each visits (variable, value) in wrt's order
    std::string names;
    double sum = 0;
    g1.for_each([&](auto v, double val) {
        names += std::string(decltype(v)::name);
        sum += val;
    });
    REQUIRE(names == "xy");
    REQUIRE(sum == g1[x] + g1[y]);
}

TEST_CASE("gradient records: one-variable records convert, unused wrt variables are exactly 0",
          "[inspect][records]") {
    constexpr auto f = x * y + eg::sin(x);
    const double gy = eg::grad(f, eg::wrt(y), x = 3.0, y = 2.0);
    REQUIRE(gy == 3.0);
    const double gx = eg::grad(eg::sin(x), x = 0.0);
    REQUIRE(gx == 1.0);

    auto g = eg::grad(f, eg::wrt(x, y, z), x = 1.0, y = 2.0);
    REQUIRE(g[z] == 0.0);
    REQUIRE_FALSE(std::signbit(g[z]));
    REQUIRE(g[y] == 1.0);
    auto [v, g2] = eg::value_and_grad(f, eg::wrt(z), x = 1.0, y = 2.0, z = 5.0);
    REQUIRE(v == f(x = 1.0, y = 2.0));
    REQUIRE(g2[z] == 0.0);
    static_assert(eg::grad(x * x, eg::wrt(x, z), x = 3.0)[z] == 0.0);
    static_assert(eg::grad(x * x, eg::wrt(x, z), x = 3.0)[x] == 6.0);
}

// ---------------------------------------------------------------------------------------------
// check_grad

TEST_CASE("check_grad: true on smooth functions", "[inspect][check_grad]") {
    REQUIRE(eg::check_grad(eg::log(eg::sigmoid(x * y)), x = 0.7, y = -1.3));
    REQUIRE(eg::check_grad(eg::sin(x * x) + eg::exp(y) / x, x = 2.0, y = 1.0));
    REQUIRE(eg::check_grad(eg::atan2(y, x) * eg::sqrt(x * x + y * y), x = 0.3, y = 0.8));
    REQUIRE(eg::check_grad(eg::function<Cube>(x - y) + eg::function<LogCosh>(y), x = 1.1, y = 0.4));
    const auto ok = eg::check_grad(eg::tanh(x) * y, x = 0.3, y = 2.0);
    REQUIRE(ok.ok);
    REQUIRE(ok.max_abs_error < 1e-6);
    REQUIRE(eg::check_grad(eg::exp(x) * y, eg::grad_check_options{1e-5, 1e-6, 1e-6}, x = 0.3, y = 2.0));
    static_assert(eg::check_grad(eg::log(eg::sigmoid(x * y)), x = 0.7, y = -1.3));
}

TEST_CASE("check_grad: false on a wrong custom derivative, with the error", "[inspect][check_grad]") {
    static_assert(eg::grad_fn_name(eg::function<WrongSquare>(x)) == "WrongSquareBackward");
    const auto bad = eg::check_grad(eg::function<WrongSquare>(x), x = 2.0);
    REQUIRE_FALSE(bad);
    REQUIRE_FALSE(bad.ok);
    REQUIRE(bad.max_abs_error == Approx(2.0).epsilon(1e-5));  // |2u - 3u| at u = 2

    const auto bad2 = eg::check_grad(eg::function<WrongSquare>(x * y) + y, x = 1.5, y = 2.0);
    REQUIRE_FALSE(bad2);
    REQUIRE(bad2.max_abs_error > 1.0);  // u = 3: x's error is |u| * y = 6, y's is |u| * x = 4.5
    REQUIRE(bad2.max_abs_error == Approx(6.0).epsilon(1e-5));

    const auto bad3 = eg::check_grad(eg::function<WrongSin>(x), x = 0.25);
    REQUIRE_FALSE(bad3);
    REQUIRE(bad3.max_abs_error == Approx(2 * std::cos(0.25)).epsilon(1e-5));
    static_assert(!eg::check_grad(eg::function<WrongSquare>(x), x = 2.0));
}

// ---------------------------------------------------------------------------------------------
// bindings

TEST_CASE("bindings: any order, unused ignored, number type from the bindings", "[inspect][bindings]") {
    constexpr auto f = x / y + z;
    REQUIRE(f(x = 1.0, y = 4.0, z = 0.5) == 0.75);
    REQUIRE(f(z = 0.5, y = 4.0, x = 1.0) == 0.75);
    REQUIRE(f(y = 4.0, z = 0.5, x = 1.0) == 0.75);
    REQUIRE(f(a = 100.0, x = 1.0, b = -1.0, y = 4.0, z = 0.5) == 0.75);
    // one set of bindings serves a function and its derivatives
    constexpr auto g = eg::sin(x);
    REQUIRE(g(x = 0.5, y = 2.0, z = 3.0) == std::sin(0.5));
    REQUIRE(eg::d(g, x)(x = 0.5, y = 2.0, z = 3.0) == std::cos(0.5));
    auto [v0, g0] = eg::value_and_grad(g, z = 3.0, x = 0.5, y = 2.0);
    REQUIRE(v0 == std::sin(0.5));
    REQUIRE(g0[x] == std::cos(0.5));

    // float in, float out
    auto vf = f(x = 1.0f, y = 3.0f, z = 0.25f);
    static_assert(std::is_same_v<decltype(vf), float>);
    REQUIRE(vf == 1.0f / 3.0f + 0.25f);
    auto [fv, fg] = eg::value_and_grad(f, x = 1.0f, y = 2.0f, z = 0.0f);
    static_assert(std::is_same_v<decltype(fv), float>);
    static_assert(std::is_same_v<decltype(fg)::value_type, float>);
    static_assert(std::is_same_v<rm<decltype(fg[x])>, float>);
    REQUIRE(fv == 0.5f);
    REQUIRE(fg[y] == -0.25f);
    auto df = eg::d(eg::sin(x) * x, x)(x = 0.5f);
    static_assert(std::is_same_v<decltype(df), float>);
    REQUIRE(df == Approx(std::cos(0.5) * 0.5 + std::sin(0.5)).epsilon(1e-6));
    auto Hf = eg::hessian(x * x * y, x = 1.0f, y = 2.0f);
    static_assert(std::is_same_v<rm<decltype(Hf(x, x))>, float>);
    REQUIRE(Hf(x, y) == 2.0f);

    // integers count as double
    auto vi = f(x = 1, y = 4, z = 0);
    static_assert(std::is_same_v<decltype(vi), double>);
    REQUIRE(vi == 0.25);
    auto [iv, ig] = eg::value_and_grad(x / y, x = 1, y = 3);
    static_assert(std::is_same_v<decltype(iv), double>);
    REQUIRE(iv == 1.0 / 3.0);
    REQUIRE(ig[y] == -1.0 / 9.0);
    auto vl = (x * y)(x = 3L, y = 2u);
    static_assert(std::is_same_v<decltype(vl), double>);
    REQUIRE(vl == 6.0);
}

// ---------------------------------------------------------------------------------------------
// expressions are values

namespace {
auto make_expression() {
    auto u = x * x;  // a local: the result holds a copy
    return eg::sin(u) + u;
}
auto make_scaled(double k) {  // k is a local too: its value is stored in the node
    auto u = k * x;
    auto v = eg::exp(-u);
    return v * v + u;
}
template <class E>
struct Model {
    E loss;
    double weight;
};
struct Holder {
    decltype(make_scaled(1.0)) expr = make_scaled(1.0);
};
}  // namespace

TEST_CASE("expressions holding runtime constants: returned, stored, copied into a vector", "[inspect][values]") {
    const auto f = make_expression();
    REQUIRE(f(x = 1.5) == Approx(std::sin(2.25) + 2.25).epsilon(1e-15));
    REQUIRE(eg::grad(f, x = 1.5)[x] == Approx(std::cos(2.25) * 3.0 + 3.0).epsilon(1e-15));

    const auto s2 = make_scaled(2.0);
    const auto s3 = make_scaled(3.0);
    static_assert(std::is_same_v<decltype(s2), decltype(s3)>);
    auto ref = [](double k, double p) { return std::exp(-2 * k * p) + k * p; };
    auto dref = [](double k, double p) { return -2 * k * std::exp(-2 * k * p) + k; };
    REQUIRE(s2(x = 0.5) == Approx(ref(2.0, 0.5)).epsilon(1e-15));
    REQUIRE(s3(x = 0.5) == Approx(ref(3.0, 0.5)).epsilon(1e-15));
    REQUIRE(eg::grad(s3, x = 0.5)[x] == Approx(dref(3.0, 0.5)).epsilon(1e-14));
    REQUIRE(eg::d(s3, x)(x = 0.5) == Approx(dref(3.0, 0.5)).epsilon(1e-14));

    // in a struct member
    Model<rm<decltype(s2)>> m{s2, 0.5};
    REQUIRE(m.loss(x = 0.5) == s2(x = 0.5));
    Holder hold;
    REQUIRE(hold.expr(x = 0.5) == Approx(ref(1.0, 0.5)).epsilon(1e-15));
    hold.expr = make_scaled(4.0);  // assignable
    REQUIRE(hold.expr(x = 0.5) == Approx(ref(4.0, 0.5)).epsilon(1e-15));

    // copied into a std::vector, which reallocates as it grows
    std::vector<rm<decltype(s2)>> many;
    for (int i = 0; i < 50; ++i) {
        many.push_back(make_scaled(0.1 * i));
    }
    for (int i = 0; i < 50; ++i) {
        INFO(i);
        REQUIRE(many[i](x = 0.5) == Approx(ref(0.1 * i, 0.5)).epsilon(1e-14));
        REQUIRE(eg::grad(many[i], x = 0.5)[x] == Approx(dref(0.1 * i, 0.5)).epsilon(1e-13));
    }
    // a copy is independent of the original's lifetime
    auto copy = [] {
        auto tmp = make_scaled(5.0);
        return tmp;
    }();
    REQUIRE(copy(x = 0.5) == Approx(ref(5.0, 0.5)).epsilon(1e-15));
}

TEST_CASE("expressions are constexpr values", "[inspect][values]") {
    constexpr auto f = x * x * y + 3.0 * x - y / 2.0;
    static_assert(f(x = 2.0, y = 4.0) == 16.0 + 6.0 - 2.0);
    static_assert(eg::grad(f, x = 2.0, y = 4.0)[x] == 2 * 2.0 * 4.0 + 3.0);
    static_assert(eg::grad(f, x = 2.0, y = 4.0)[y] == 4.0 - 0.5);
    static_assert(eg::d(f, x)(x = 2.0, y = 4.0) == 19.0);
    static_assert(eg::d(eg::d(f, x), y)(x = 2.0, y = 4.0) == 4.0);
    constexpr auto g = eg::c<1, 2> * x * x - 2.5 * y;
    static_assert(g(x = 3.0, y = 2.0) == 4.5 - 5.0);
    static_assert(eg::is_zero<decltype(eg::d(eg::exp(y), x))>);
    REQUIRE(f(x = 2.0, y = 4.0) == 20.0);
}

// ---------------------------------------------------------------------------------------------
// runtime constants are kept apart

TEST_CASE("runtime constants: same type, different values, never merged", "[inspect][rconst]") {
    const auto f = 2.5 * x + 3.5 * x;
    static_assert(std::is_same_v<decltype(2.5 * x), decltype(3.5 * x)>);
    REQUIRE(f(x = 2.0) == 12.0);
    REQUIRE(eg::grad(f, x = 2.0)[x] == 6.0);
    auto [v, g] = eg::value_and_grad(f, x = -1.0);
    REQUIRE(v == -6.0);
    REQUIRE(g[x] == 6.0);
    REQUIRE(eg::d(f, x)(x = 2.0) == 6.0);
    REQUIRE(eg::jvp(f, eg::tangent(x = 1.0), x = 2.0).tangent == 6.0);
    REQUIRE(eg::hessian(f, x = 2.0)(x, x) == 0.0);
    REQUIRE(eg::check_grad(f, x = 2.0));
    // two distinct forward nodes, one per constant
    const std::string dot = eg::to_dot(f);
    REQUIRE(count_of(dot, "label=\"2.5\"") == 1);
    REQUIRE(count_of(dot, "label=\"3.5\"") == 1);
    REQUIRE(count_of(dot, "MulBackward") == 2);

    const auto u = 2.0 * x;
    const auto w = 3.0 * x;
    const auto h = (u * u) + (w * w);  // 13 x^2
    REQUIRE(h(x = 1.0) == 13.0);
    REQUIRE(h(x = 2.0) == 52.0);
    REQUIRE(eg::grad(h, x = 1.0)[x] == 26.0);
    REQUIRE(eg::d(h, x)(x = 1.0) == 26.0);
    REQUIRE(eg::d(eg::d(h, x), x)(x = 1.0) == 26.0);
    REQUIRE(eg::hessian(h, x = 1.0)(x, x) == 26.0);
    REQUIRE(eg::hvp(h, eg::tangent(x = 1.0), x = 1.0)[x] == 26.0);

    // the same type with different constants inside a vector of outputs
    const auto J = eg::jacobian(eg::vector(u * x, w * x, u + w), eg::wrt(x), x = 1.0);
    REQUIRE(J(0, x) == 4.0);
    REQUIRE(J(1, x) == 6.0);
    REQUIRE(J(2, x) == 5.0);
    auto [vals, vg] = eg::vjp(eg::vector(u, w), std::array{1.0, 10.0}, x = 1.0);
    REQUIRE(vals[0] == 2.0);
    REQUIRE(vals[1] == 3.0);
    REQUIRE(vg[x] == 32.0);

    // deeper: identical shapes whose constants differ only far from the root
    const auto p = eg::sin(1.0 * x) * eg::sin(1.0 * x) + eg::sin(2.0 * x) * eg::sin(2.0 * x);
    REQUIRE(p(x = 0.3) == Approx(std::sin(0.3) * std::sin(0.3) + std::sin(0.6) * std::sin(0.6)).epsilon(1e-15));
    REQUIRE(eg::grad(p, x = 0.3)[x] ==
            Approx(2 * std::sin(0.3) * std::cos(0.3) + 4 * std::sin(0.6) * std::cos(0.6)).epsilon(1e-14));
}
