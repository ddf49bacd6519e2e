// Issue 13: IEEE semantics in every mode, and the bugs that new users hit. One section per item,
// each test failing before its fix.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <etgrad/etgrad.hpp>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

namespace eg = etgrad;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto w = eg::var<"w">;

constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

template <class T>
constexpr bool is_nan(T v) {
    return v != v;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Item 6: NaN propagates through relu, max and min (torch.relu, torch.maximum, torch.minimum).

TEST_CASE("NaN: relu, max and min return NaN whatever the operand order", "[ieee][nan]") {
    CHECK(std::isnan(eg::relu(x)(x = qnan)));
    CHECK(std::isnan(eg::max(x, y)(x = 1.0, y = qnan)));
    CHECK(std::isnan(eg::max(x, y)(x = qnan, y = 1.0)));
    CHECK(std::isnan(eg::min(x, y)(x = 1.0, y = qnan)));
    CHECK(std::isnan(eg::min(x, y)(x = qnan, y = 1.0)));
    CHECK(std::isnan(eg::max(x, 1.0)(x = qnan)));
    CHECK(std::isnan(eg::min(1.0, x)(x = qnan)));
    CHECK(std::isnan(eg::relu(qnan)));
    CHECK(std::isnan(eg::max(1.0, qnan)));
    CHECK(std::isnan(eg::min(2.0f, std::numeric_limits<float>::quiet_NaN())));
    // Constant evaluation too.
    static_assert(is_nan(eg::relu(x)(x = qnan)));
    static_assert(is_nan(eg::max(x, y)(x = 1.0, y = qnan)) && is_nan(eg::min(x, y)(x = 1.0, y = qnan)));
#if !defined(__clang__)  // Clang does not constant-evaluate arithmetic that gives NaN (1 * NaN)
    static_assert(is_nan(eg::grad(eg::max(x, y), x = 1.0, y = qnan)[x]));
#endif
    // Everything else is unchanged: infinities, signed zeros, ties.
    CHECK(eg::relu(x)(x = -inf) == 0.0);
    CHECK(eg::relu(x)(x = inf) == inf);
    CHECK(!std::signbit(eg::relu(x)(x = -0.0)));
    CHECK(eg::max(x, y)(x = -inf, y = 1.0) == 1.0);
    CHECK(eg::min(x, y)(x = inf, y = 1.0) == 1.0);
    CHECK(eg::max(x, y)(x = 3.0, y = 1.0) == 3.0);
    CHECK(eg::min(x, y)(x = 3.0, y = 1.0) == 1.0);
}

TEST_CASE("NaN: the gradient is NaN where the value is, in reverse, forward and symbolic modes", "[ieee][nan]") {
    {
        const auto g = eg::grad(eg::relu(x), x = qnan);
        CHECK(std::isnan(g[x]));
        CHECK(std::isnan(eg::d(eg::relu(x), x)(x = qnan)));
        CHECK(std::isnan(eg::jvp(eg::relu(x), eg::tangent(x = 1.0), x = qnan).tangent));
        CHECK(std::isnan(eg::hessian(eg::relu(x), x = qnan)(x, x)));
    }
    const std::array<std::array<double, 2>, 3> points{{{1.0, qnan}, {qnan, 1.0}, {qnan, qnan}}};
    for (const auto& p : points) {
        const double a = p[0], b = p[1];
        INFO("a = " << a << ", b = " << b);
        for (int which = 0; which < 2; ++which) {
            const auto check = [&](const auto& f) {
                auto [v, g] = eg::value_and_grad(f, x = a, y = b);
                CHECK(std::isnan(v));
                CHECK(std::isnan(g[x]));
                CHECK(std::isnan(g[y]));
                CHECK(std::isnan(eg::d(f, x)(x = a, y = b)));
                CHECK(std::isnan(eg::d(f, y)(x = a, y = b)));
                CHECK(std::isnan(eg::jvp(f, eg::tangent(x = 1.0, y = 0.0), x = a, y = b).tangent));
                CHECK(std::isnan(eg::hessian(f, x = a, y = b)(x, y)));
            };
            if (which == 0) {
                check(eg::max(x, y));
            } else {
                check(eg::min(x, y));
            }
        }
    }
    // Finite and infinite operands keep PyTorch's gradients: the larger one gets 1, a tie 1/2.
    auto g1 = eg::grad(eg::max(x, y), x = -inf, y = 1.0);
    CHECK(g1[x] == 0.0);
    CHECK(g1[y] == 1.0);
    auto g2 = eg::grad(eg::max(x, y), x = inf, y = inf);
    CHECK(g2[x] == 0.5);
    CHECK(g2[y] == 0.5);
    auto g3 = eg::grad(eg::min(x, y), x = 2.0, y = 5.0);
    CHECK(g3[x] == 1.0);
    CHECK(g3[y] == 0.0);
    CHECK(eg::grad(eg::relu(x), x = -inf)[x] == 0.0);
    CHECK(eg::grad(eg::relu(x), x = 2.0)[x] == 1.0);
    CHECK(eg::d(eg::d(eg::relu(x), x), x)(x = -1.0) == 0.0);
    CHECK(eg::d(eg::d(eg::max(x, y), x), x)(x = 1.0, y = 1.0) == 0.0);
}

// The data loops: NaN samples in the first SIMD batch and in the scalar tail give NaN values and
// derivatives there, and every sample equals the scalar path's result.
TEMPLATE_TEST_CASE("NaN: relu, max and min in the data loops, SIMD lanes and scalar tail alike", "[ieee][nan][data]",
                   double, float) {
    using T = TestType;
    constexpr std::size_t W = eg::simd_width<T>;
    const std::size_t n = 2 * W + 3;  // two batches, then a scalar tail of 3
    const T tnan = std::numeric_limits<T>::quiet_NaN();
    std::vector<T> xs(n), ys(n);
    for (std::size_t i = 0; i < n; ++i) {
        xs[i] = static_cast<T>(0.25 * static_cast<double>(i % 5) - 0.5);
        ys[i] = static_cast<T>(0.1 * static_cast<double>(i) - 0.3);
    }
    xs[1] = tnan;      // in the first batch
    ys[W + 2] = tnan;  // in the second batch (y only)
    xs[n - 2] = tnan;  // in the tail
    ys[n - 1] = tnan;  // in the tail (y only)
    const auto same = [](T a, T b) { return (std::isnan(a) && std::isnan(b)) || a == b; };
    const auto check = [&](const auto& e, bool reads_y) {
        std::vector<T> v(n), gx(n), gy(n), v2(n);
        eg::eval_into(v2, e, x = xs, y = ys);
        eg::value_and_grad_into(v, std::tie(gx, gy), e, eg::wrt(x, y), x = xs, y = ys);
        for (std::size_t i = 0; i < n; ++i) {
            INFO("sample " << i << " of " << n << " (SIMD width " << W << ")");
            const bool nan_in = std::isnan(xs[i]) || (reads_y && std::isnan(ys[i]));
            CHECK(std::isnan(v[i]) == nan_in);
            CHECK(same(v[i], v2[i]));
            CHECK(std::isnan(gx[i]) == nan_in);
            if (reads_y) {
                CHECK(std::isnan(gy[i]) == nan_in);
            }
            auto [sv, sg] = eg::value_and_grad(e, eg::wrt(x, y), x = xs[i], y = ys[i]);
            CHECK(same(v[i], sv));
            CHECK(same(gx[i], sg[x]));
            CHECK(same(gy[i], sg[y]));
        }
        // A reduction over the samples is NaN, and so is a parameter's gradient.
        CHECK(std::isnan(eg::sum(e)(x = xs, y = ys)));
        auto [L, g] = eg::value_and_grad(eg::sum(w * e), eg::wrt(w), w = 1.5, x = xs, y = ys);
        CHECK(std::isnan(L));
        CHECK(std::isnan(g[w]));
    };
    check(eg::relu(x), false);
    check(eg::max(x, y), true);
    check(eg::max(y, x), true);
    check(eg::min(x, y), true);
    check(eg::min(y, x), true);
    check(eg::relu(x) + eg::max(x, 0.25) * eg::min(y, x), true);
    // A condition x != x holds for NaN samples in every lane (xsimd's != is ordered on AVX and
    // AVX-512: false for NaN) and in the tail.
    std::vector<T> flag(n);
    eg::eval_into(flag, eg::where(x != x, 1.0, 2.0) + eg::where(x == x, 10.0, 20.0), x = xs);
    for (std::size_t i = 0; i < n; ++i) {
        CHECK(flag[i] == (std::isnan(xs[i]) ? T(21) : T(12)));
    }
    // Without NaN samples nothing changes: max and min of the data agree with std::max/std::min.
    std::vector<T> a(n), b(n), out(n);
    for (std::size_t i = 0; i < n; ++i) {
        a[i] = static_cast<T>(0.5 * static_cast<double>(i % 4));
        b[i] = static_cast<T>(0.7 * static_cast<double>(i % 3));
    }
    eg::eval_into(out, eg::max(x, y) - eg::min(x, y) + eg::relu(x - y), x = a, y = b);
    for (std::size_t i = 0; i < n; ++i) {
        CHECK(out[i] == std::max(a[i], b[i]) - std::min(a[i], b[i]) + std::max(a[i] - b[i], T(0)));
    }
}

// ---------------------------------------------------------------------------------------------
// Item 8: to_string and to_dot of every operation's first and second derivatives, at compile
// time (to_string) and at run time (both).

namespace {
struct Cube {
    static constexpr auto value(const auto& u) { return u * u * u; }
    static constexpr auto derivative(const auto& u) { return 3.0 * u * u; }
};
struct CubeNoConstants {  // u^3, its derivative without runtime constants (d's result stays an expression)
    static constexpr auto value(const auto& u) { return u * u * u; }
    static constexpr auto derivative(const auto& u) { return u * u + u * u + u * u; }
};

/// to_string(e)'s characters, computed in a constant expression (N: its length).
template <std::size_t N, class E>
constexpr std::array<char, N + 1> text_chars(const E& e) {
    std::array<char, N + 1> a{};
    const eg::text t = eg::to_string(e);
    for (std::size_t i = 0; i < N && i < t.size(); ++i) {
        a[i] = t[i];
    }
    return a;
}

/// to_dot(e): the header, the variables e reads as ellipses, x's AccumulateGrad exactly where e
/// has a derivative in x, and the named constant where the text shows it.
template <class E>
void check_dot(const E& e, std::string_view text) {
    const std::string dot = eg::to_dot(e);
    CHECK(dot.rfind("digraph \"etgrad\" {\n", 0) == 0);
    CHECK(dot.size() > 2);
    CHECK(dot.substr(dot.size() - 2) == "}\n");
    if (eg::depends_on(e, x)) {
        CHECK(dot.find("[label=\"x\", shape=ellipse]") != std::string::npos);
    }
    // x in the backward graph where e has a derivative in x (not through conditions or detach only).
    const bool grad_x = !eg::is_zero<decltype(eg::d(e, x))>;
    CHECK((dot.find("AccumulateGrad\\nx") != std::string::npos) == grad_x);
    if (eg::depends_on(e, y)) {
        CHECK(dot.find("[label=\"y\", shape=ellipse]") != std::string::npos);
    }
    if (text.find("2/sqrt(pi)") != std::string_view::npos) {
        CHECK(dot.find("[label=\"2/sqrt(pi)\", shape=plaintext]") != std::string::npos);
    }
}
}  // namespace

// F: the expression; D1: the expected text of d(F, x). The second derivatives d(d(F, x), x) and
// d(d(F, x), y) are printed at compile time and compared with the run-time text.
#define ETGRAD_DERIVATIVE_TEXTS(F, D1)                                                            \
    do {                                                                                         \
        constexpr auto f_ = F;                                                                   \
        constexpr auto d1_ = eg::d(f_, x);                                                       \
        constexpr auto dxx_ = eg::d(d1_, x);                                                     \
        constexpr auto dxy_ = eg::d(d1_, y);                                                     \
        static_assert(eg::to_string(d1_) == std::string_view(D1));                               \
        constexpr std::size_t nxx_ = eg::to_string(dxx_).size();                                 \
        constexpr std::size_t nxy_ = eg::to_string(dxy_).size();                                 \
        constexpr auto txx_ = text_chars<nxx_>(dxx_);                                            \
        constexpr auto txy_ = text_chars<nxy_>(dxy_);                                            \
        static_assert(nxx_ > 0 && nxy_ > 0);                                                     \
        INFO(#F);                                                                                \
        CHECK(std::string(eg::to_string(d1_)) == D1);                                            \
        CHECK(std::string(eg::to_string(dxx_)) == std::string_view(txx_.data(), nxx_));          \
        CHECK(std::string(eg::to_string(dxy_)) == std::string_view(txy_.data(), nxy_));          \
        check_dot(d1_, D1);                                                                      \
        check_dot(dxx_, std::string_view(txx_.data(), nxx_));                                    \
        check_dot(dxy_, std::string_view(txy_.data(), nxy_));                                    \
    } while (false)

TEST_CASE("to_string and to_dot: the first and second derivatives of every operation", "[inspect][to_string][to_dot]") {
    // The case: erf's derivative holds the named constant 2/sqrt(pi).
    static_assert(eg::to_string(eg::d(eg::erf(x), x)) == "2/sqrt(pi) * exp(-(x * x))");
    CHECK(eg::to_string(eg::d(eg::erf(x), x)) == "2/sqrt(pi) * exp(-(x * x))");
    CHECK(eg::to_dot(eg::d(eg::erf(x), x)).find("label=\"2/sqrt(pi)\"") != std::string::npos);
    // A quotient by it is parenthesised: 2/sqrt(pi) reads as a quotient.
    constexpr auto k = eg::d(eg::erf(x), x) / eg::exp(-(x * x));
    static_assert(eg::to_string(x / k) == "x / (2/sqrt(pi) * exp(-(x * x)) / exp(-(x * x)))");
    static_assert(eg::to_string(x / eg::nconst<eg::detail::two_over_sqrt_pi>{}) == "x / (2/sqrt(pi))");

    ETGRAD_DERIVATIVE_TEXTS(x + y, "1");
    ETGRAD_DERIVATIVE_TEXTS(x - y, "1");
    ETGRAD_DERIVATIVE_TEXTS(x * y, "y");
    ETGRAD_DERIVATIVE_TEXTS(x / y, "1 / y");
    ETGRAD_DERIVATIVE_TEXTS(-(x * y), "-y");
    ETGRAD_DERIVATIVE_TEXTS(eg::exp(x), "exp(x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::log(x), "1 / x");
    ETGRAD_DERIVATIVE_TEXTS(eg::log1p(x), "1 / (1 + x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::expm1(x), "expm1(x) + 1");
    ETGRAD_DERIVATIVE_TEXTS(eg::sqrt(x), "1/2 / sqrt(x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::cbrt(x), "1/3 / (cbrt(x) * cbrt(x))");
    ETGRAD_DERIVATIVE_TEXTS(eg::pow(x, y), "where(y == 0, 0, y * pow(x, y - 1))");
    ETGRAD_DERIVATIVE_TEXTS(eg::pow(y, x), "where((y == 0 && x >= 0), 0, pow(y, x) * log(y))");
    ETGRAD_DERIVATIVE_TEXTS(eg::pow(x, eg::c<3>), "3 * pow(x, 2)");
    ETGRAD_DERIVATIVE_TEXTS(eg::square(x), "2 * x");
    ETGRAD_DERIVATIVE_TEXTS(eg::sin(x), "cos(x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::cos(x), "-sin(x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::tan(x), "1 + tan(x) * tan(x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::asin(x), "1 / sqrt(1 - x * x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::acos(x), "-1 / sqrt(1 - x * x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::atan(x), "1 / (1 + x * x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::atan2(x, y), "y / (y * y + x * x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::atan2(y, x), "-(y / (x * x + y * y))");
    ETGRAD_DERIVATIVE_TEXTS(eg::sinh(x), "cosh(x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::cosh(x), "sinh(x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::tanh(x), "1 - tanh(x) * tanh(x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::sigmoid(x), "sigmoid(x) * (1 - sigmoid(x))");
    ETGRAD_DERIVATIVE_TEXTS(eg::softplus(x), "sigmoid(x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::relu(x), "where(x > 0, 1, relu(x))");
    ETGRAD_DERIVATIVE_TEXTS(eg::abs(x), "where(x > 0, 1, where(x < 0, -1, 0))");
    ETGRAD_DERIVATIVE_TEXTS(eg::erf(x), "2/sqrt(pi) * exp(-(x * x))");
    ETGRAD_DERIVATIVE_TEXTS(eg::erf(x * y), "2/sqrt(pi) * exp(-(x * y * (x * y))) * y");
    ETGRAD_DERIVATIVE_TEXTS(eg::max(x, y), "where(x > y, 1, where(x < y, 0, where(x == y, 1/2, max(x, y))))");
    ETGRAD_DERIVATIVE_TEXTS(eg::min(x, y), "where(x < y, 1, where(x > y, 0, where(x == y, 1/2, min(x, y))))");
    ETGRAD_DERIVATIVE_TEXTS(eg::where(x > y, x * x, y), "where(x > y, 1, 0) * (2 * x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::detach(x) * x * y, "y * detach(x)");
    ETGRAD_DERIVATIVE_TEXTS(eg::function<CubeNoConstants>(x * y), "(2 * (x * y * (x * y)) + x * y * (x * y)) * y");
    ETGRAD_DERIVATIVE_TEXTS(eg::sum(x * y), "sum(y)");
    ETGRAD_DERIVATIVE_TEXTS(eg::mean(x * y), "mean(y)");
    ETGRAD_DERIVATIVE_TEXTS(eg::prod(x * y), "prod(x * y) * sum(y / (x * y))");
    ETGRAD_DERIVATIVE_TEXTS(eg::logsumexp(x * y), "sum(exp(x * y - logsumexp(x * y)) * y)");
}

// With runtime constants, d's result is a closure; GCC 12 fails to constant-evaluate to_string
// of some of them (Clang 14 and 16 do), so these are run-time checks.
TEST_CASE("to_string and to_dot: runtime constants and the named constant together", "[inspect][to_string][to_dot]") {
    const auto c1 = eg::d(eg::function<Cube>(x * y), x);
    CHECK(eg::to_string(c1) == "3 * (x * y) * (x * y) * y");
    CHECK(eg::to_string(eg::d(c1, x)) == "y * (x * y * (3 * y) + 3 * (x * y) * y)");
    CHECK(eg::to_dot(eg::d(c1, y)).find("label=\"3\"") != std::string::npos);
    const auto f = 2.5 * eg::erf(0.5 * x);
    const auto d1 = eg::d(f, x);
    CHECK(eg::to_string(d1) == "2.5 * (2/sqrt(pi) * exp(-(0.5 * x * (0.5 * x))) * 0.5)");
    const std::string dot = eg::to_dot(eg::d(d1, x));
    CHECK(dot.find("label=\"2/sqrt(pi)\"") != std::string::npos);
    CHECK(dot.find("label=\"2.5\"") != std::string::npos);
    CHECK(dot.find("label=\"0.5\"") != std::string::npos);
    // The derivative evaluates as erf's: 2.5 * 2/sqrt(pi) * exp(-(x/2)^2) / 2.
    CHECK(d1(x = 0.8) == Approx(2.5 * 1.1283791670955126 * std::exp(-0.16) * 0.5).epsilon(1e-14));
}

// ---------------------------------------------------------------------------------------------
// Item 9 (what still compiles; the errors are in test/compile_fail/grad_of_detached*.cpp): an
// expression with a path to a differentiated variable that passes through no detach.

TEST_CASE("detach: gradients through the paths that are not detached", "[detach]") {
    auto g = eg::grad(eg::detach(x * x) + x * y, x = 3.0, y = 2.0);
    CHECK(g[x] == 2.0);
    CHECK(g[y] == 3.0);
    // wrt(x) alone: x's only path is detached, but another variable's path is live and x is read
    // through it too: d/dx (detach(x) * y) = 0.
    auto g2 = eg::grad(eg::detach(x) * y + y, eg::wrt(x, y), x = 3.0, y = 2.0);
    CHECK(g2[x] == 0.0);
    CHECK(g2[y] == 4.0);
    // A wrt variable that the expression does not read gets an exact zero, as before.
    auto g3 = eg::grad(eg::detach(x) * y, eg::wrt(w), x = 3.0, y = 2.0, w = 1.0);
    CHECK(g3[w] == 0.0);
    // Data loops: the parameter's path is live.
    const std::vector<double> xs{1.0, 2.0, 3.0, 4.0, 5.0};
    auto [L, gd] = eg::value_and_grad(eg::sum(eg::detach(w * x) + w), w = 2.0, x = xs);
    CHECK(L == 40.0);
    CHECK(gd[w] == 5.0);
}

// ---------------------------------------------------------------------------------------------
// Item 11: check_grad.

namespace {
struct WrongSquare {  // u^2 with the derivative 3u
    static constexpr auto value(const auto& u) { return u * u; }
    static constexpr auto derivative(const auto& u) { return 3.0 * u; }
};
}  // namespace

TEST_CASE("check_grad: the result converts implicitly to bool", "[check_grad]") {
    static_assert(std::is_convertible_v<eg::grad_check_result, bool>);
    bool ok = eg::check_grad(eg::sin(x) * y, x = 0.3, y = 2.0);
    CHECK(ok);
    bool bad = eg::check_grad(eg::function<WrongSquare>(x), x = 2.0);
    CHECK_FALSE(bad);
    constexpr bool ok_cx = eg::check_grad(eg::log(eg::sigmoid(x * y)), x = 0.7, y = -1.3);
    static_assert(ok_cx);
}

TEST_CASE("check_grad: the options anywhere among the arguments", "[check_grad]") {
    const eg::grad_check_options tight{1e-5, 1e-9, 1e-7};
    const auto f = eg::exp(x) * y;
    const auto first = eg::check_grad(f, tight, x = 0.3, y = 2.0);
    const auto last = eg::check_grad(f, x = 0.3, y = 2.0, tight);
    const auto middle = eg::check_grad(f, x = 0.3, tight, y = 2.0);
    CHECK(first);
    CHECK(last);
    CHECK(middle);
    CHECK(first.max_abs_error == last.max_abs_error);
    CHECK(first.max_abs_error == middle.max_abs_error);
    CHECK(eg::check_grad(f, {.eps = 1e-5, .atol = 1e-9, .rtol = 1e-7}, x = 0.3, y = 2.0).max_abs_error ==
          first.max_abs_error);
    // The options are used wherever they are: a tolerance of 0 fails where rounding is not exact.
    const eg::grad_check_options zero{1e-3, 0, 0};
    CHECK_FALSE(eg::check_grad(eg::sin(x) * y, x = 0.3, y = 2.0, zero));
    CHECK(eg::check_grad(eg::sin(x) * y, x = 0.3, y = 2.0));
    static_assert(eg::check_grad(eg::log(eg::sigmoid(x * y)), x = 0.7, y = -1.3, eg::grad_check_options{}));
    // With a parameter store.
    constexpr auto v = eg::var<"v", eg::shape<2>>;
    constexpr auto fc = eg::nn::linear<"fc", 2, 1>;
    constexpr auto loss = eg::sum(eg::tanh(fc(v)));
    const auto p = eg::parameters(loss, eg::inputs(v), 3);
    CHECK(eg::check_grad(loss, p, v = std::array{0.4, -0.9}, tight));
    CHECK(eg::check_grad(loss, tight, p, v = std::array{0.4, -0.9}));
    CHECK_FALSE(eg::check_grad(loss, p, zero, v = std::array{0.4, -0.9}));
}

TEST_CASE("check_grad: the step is relative to each variable's value", "[check_grad]") {
    // At 1e10 an absolute step of 1e-6 is half an ulp (1.9e-6): x + 1e-6 rounds to the next double
    // and the finite difference of x * x came out 1.9 times too large. A step of eps * |x| is exact
    // enough, and y = 0.5 next to it still gets a step of eps.
    const auto r = eg::check_grad(x * x * eg::log(y), x = 1e10, y = 0.5);
    CHECK(r);
    CHECK(r.max_abs_error < 1e-9 * 2e20);  // y's derivative is x * x / y = 2e20
    // At 1e6 the step is 1e3, not 1e-3: a function whose derivative changes on a scale of 1 there
    // shows it (the finite difference averages sin' over the step).
    const auto r3 = eg::check_grad(eg::sin(x), eg::grad_check_options{1e-3, 1e-5, 1e-3}, x = 1e6);
    CHECK_FALSE(r3);
    // Near 0 the step stays eps (not eps * |x|, which would vanish).
    CHECK(eg::check_grad(eg::sin(x) / (1.0 + x * x), x = 1e-300));
    CHECK(eg::check_grad(eg::sin(x) / (1.0 + x * x), x = 0.0));
}

// ---------------------------------------------------------------------------------------------
// Item 7: simplification keeps IEEE results (e - e is computed, not replaced by 0), so every mode
// evaluates the same arithmetic and agrees where an intermediate overflows.

TEST_CASE("IEEE: e - e is computed, so overflow gives NaN in every mode", "[ieee]") {
    // exp(x) - exp(x) at 800 is inf - inf; x - x at inf is NaN too.
    constexpr auto f0 = eg::exp(x) - eg::exp(x);
    static_assert(!eg::is_zero<decltype(f0)> && !eg::is_zero<decltype(x - x)>);
    CHECK(std::isnan(f0(x = 800.0)));
    CHECK(std::isnan((x - x)(x = inf)));
    CHECK(f0(x = 1.0) == 0.0);
    CHECK(std::isnan(eg::grad(f0, x = 800.0)[x]));
    CHECK(eg::grad(f0, x = 1.0)[x] == 0.0);
    CHECK(std::isnan(eg::d(f0, x)(x = 800.0)));
    // exp(x) * exp(-x) at 710: exp(710) overflows; the first and second derivatives are NaN in
    // reverse, forward and symbolic mode, the Hessian and the Hessian-vector product alike (before,
    // hessian and d(d(f)) simplified to 0 while value_and_grad and hvp gave NaN).
    constexpr auto f = eg::exp(x) * eg::exp(-x);
    const double X = 710.0;
    CHECK(std::isnan(eg::grad(f, x = X)[x]));
    CHECK(std::isnan(eg::d(f, x)(x = X)));
    CHECK(std::isnan(eg::jvp(f, eg::tangent(x = 1.0), x = X).tangent));
    CHECK(std::isnan(eg::d(eg::d(f, x), x)(x = X)));
    CHECK(std::isnan(eg::hessian(f, x = X)(x, x)));
    CHECK(std::isnan(eg::hvp(f, eg::tangent(x = 1.0), x = X)[x]));
    // Where nothing overflows the first derivative is the exact 0 in every mode; the Hessian
    // (forward-over-reverse, on dual numbers: products of rounded tangents) is 0 to rounding.
    const double Y = 3.0;
    CHECK(eg::grad(f, x = Y)[x] == 0.0);
    CHECK(eg::d(f, x)(x = Y) == 0.0);
    CHECK(eg::jvp(f, eg::tangent(x = 1.0), x = Y).tangent == 0.0);
    CHECK(std::fabs(eg::hessian(f, x = Y)(x, x)) <= 1e-15);
    CHECK(eg::hvp(f, eg::tangent(x = 1.0), x = Y)[x] == 0.0);
    // The data loops evaluate the same graph: inf - inf in every sample, SIMD lanes and tail.
    const std::vector<double> xs(2 * eg::simd_width<double> + 3, 800.0);
    std::vector<double> gx(xs.size()), v(xs.size());
    eg::eval_into(v, f0, x = xs);
    auto [L, g] = eg::value_and_grad(eg::sum(f0), x = eg::data(xs).grad_into(gx));
    (void)g;
    CHECK(std::isnan(L));
    for (std::size_t i = 0; i < xs.size(); ++i) {
        CHECK(std::isnan(v[i]));
        CHECK(std::isnan(gx[i]));
    }
    // What is still simplified holds in IEEE arithmetic for every value (e + e is 2 * e), or is a
    // structural zero (the derivative of what does not depend on x), skipped by every mode alike.
    static_assert(std::is_same_v<decltype(eg::sin(x) + eg::sin(x)), decltype(eg::c<2> * eg::sin(x))>);
    static_assert(eg::is_zero<decltype(eg::d(eg::exp(y) * eg::c<3>, x))>);
    CHECK(eg::grad(eg::exp(y) * x, eg::wrt(x), x = 1.0, y = 800.0)[x] == inf);
}
