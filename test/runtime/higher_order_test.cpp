// Second and third derivatives against closed forms derived by hand (written next to each test):
// eg::hessian, nested eg::d, eg::hvp, eg::jacobian, eg::vjp and eg::jvp of vectors; and the facts
// of the compile-time simplifier (types of derivatives, structural zeros, no zero terms).
#include <catch2/catch.hpp>

#include <array>
#include <cfloat>
#include <cmath>
#include <etgrad/etgrad.hpp>
#include <initializer_list>
#include <iomanip>
#include <string>
#include <type_traits>
#include <utility>

namespace eg = etgrad;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto z = eg::var<"z">;
using ld = long double;

// Tolerance. The closed forms are evaluated in long double (exact to ~1e-19 here); the library's
// second and third derivatives are double evaluations of 5 to 40 operations, each within a few
// ulp (2.2e-16), and the points are chosen where those sums cancel by less than 10x: 1e-12
// relative to max(|expected|, scale) bounds the rounding with a margin of 10 or more, and any
// wrong rule or missing term is off by far more. `scale` is the size of the terms that cancel to
// a small or zero result (0: the expected value alone, so an expected 0 must come out exactly 0).
constexpr ld rel_tol = 1e-12L;
bool close(double got, ld expected, ld scale = 0) {
    return std::abs(static_cast<ld>(got) - expected) <= rel_tol * std::max(std::abs(expected), scale);
}
#define CHECK_CLOSE(got, expected, ...)                                                                  \
    do {                                                                                                 \
        const double got_ = (got);                                                                       \
        const ld expected_ = (expected);                                                                 \
        INFO(std::setprecision(17) << #got << " = " << got_ << ", expected " << #expected << " = "       \
                                   << static_cast<double>(expected_));                                  \
        CHECK(close(got_, expected_ __VA_OPT__(, ) __VA_ARGS__));                                        \
    } while (0)

/// A point of the plane.
struct p2 {
    double x, y;
};

/// Closed-form second derivatives of f(x, y): fxx, fxy, fyy.
struct h2 {
    ld xx, xy, yy;
};

/// Every second-order path of a two-variable f against its closed-form Hessian `hc(x, y)`:
/// eg::hessian (with and without wrt), nested eg::d in both orders, and eg::hvp along two
/// directions against H v. `scale`: see close().
template <class F, class HC>
void check_hessian(const F& f, HC hc, std::initializer_list<p2> points, ld scale = 0) {
    for (const p2 p : points) {
        INFO(std::setprecision(17) << eg::to_string(f) << " at x = " << p.x << ", y = " << p.y);
        const h2 e = hc(static_cast<ld>(p.x), static_cast<ld>(p.y));
        const auto H = eg::hessian(f, eg::wrt(x, y), x = p.x, y = p.y);
        CHECK_CLOSE(H(x, x), e.xx, scale);
        CHECK_CLOSE(H(x, y), e.xy, scale);
        CHECK_CLOSE(H(y, x), e.xy, scale);
        CHECK_CLOSE(H(y, y), e.yy, scale);
        CHECK(H(x, y) == H(y, x));
        // Every variable of f, in the graph's order (for atan2(y, x), y first: its mixed entry is
        // d(d(f, y), x), equal to d(d(f, x), y) up to rounding).
        const auto Hall = eg::hessian(f, x = p.x, y = p.y);
        CHECK_CLOSE(Hall(x, x), e.xx, scale);
        CHECK_CLOSE(Hall(x, y), e.xy, scale);
        CHECK_CLOSE(Hall(y, x), e.xy, scale);
        CHECK_CLOSE(Hall(y, y), e.yy, scale);
        CHECK_CLOSE(eg::d(eg::d(f, x), x)(x = p.x, y = p.y), e.xx, scale);
        CHECK_CLOSE(eg::d(eg::d(f, x), y)(x = p.x, y = p.y), e.xy, scale);
        CHECK_CLOSE(eg::d(eg::d(f, y), x)(x = p.x, y = p.y), e.xy, scale);
        CHECK_CLOSE(eg::d(eg::d(f, y), y)(x = p.x, y = p.y), e.yy, scale);
        // H v for v = (1, 2) and v = (-0.5, 3).
        const auto hv = eg::hvp(f, eg::tangent(x = 1.0, y = 2.0), x = p.x, y = p.y);
        CHECK_CLOSE(hv[x], e.xx + 2 * e.xy, scale * 3);
        CHECK_CLOSE(hv[y], e.xy + 2 * e.yy, scale * 3);
        const auto hw = eg::hvp(f, eg::tangent(y = 3.0, x = -0.5), eg::wrt(x, y), x = p.x, y = p.y);
        CHECK_CLOSE(hw[x], -0.5L * e.xx + 3 * e.xy, scale * 4);
        CHECK_CLOSE(hw[y], -0.5L * e.xy + 3 * e.yy, scale * 4);
    }
}

ld sigmoid_ld(ld a) { return 1 / (1 + std::exp(-a)); }

/// Same expression type, ignoring const (decltype of a variable such as eg::c<6> or x is const).
template <class A, class B>
constexpr bool same_type = std::is_same_v<std::remove_cvref_t<A>, std::remove_cvref_t<B>>;
}  // namespace

// ---------------------------------------------------------------------------------------------
// One variable.

TEST_CASE("higher order: x^3 has f'' = 6x and f''' = 6", "[higher]") {
    // f = x^3: f' = 3x^2, f'' = 6x, f''' = 6, f'''' = 0.
    auto check = [](const auto& f) {
        for (double xv : {-2.0, -0.5, 0.0, 1.5, 3.0}) {
            INFO(eg::to_string(f) << " at x = " << xv);
            CHECK_CLOSE(eg::d(f, x)(x = xv), 3.0L * xv * xv);
            CHECK_CLOSE(eg::d(eg::d(f, x), x)(x = xv), 6.0L * xv);
            CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), x), x)(x = xv), 6.0L);
            CHECK(eg::d(eg::d(eg::d(eg::d(f, x), x), x), x)(x = xv) == 0.0);
            CHECK_CLOSE(eg::hessian(f, eg::wrt(x), x = xv)(x, x), 6.0L * xv);
            CHECK_CLOSE(eg::hvp(f, eg::tangent(x = 2.0), x = xv)[x], 12.0L * xv);
        }
    };
    check(eg::pow(x, eg::c<3>));
    check(x * x * x);
    check(eg::square(x) * x);
    // With a compile-time exponent the constants fold to the end: d^3 x^3 is the constant 6 and
    // d^4 x^3 a structural zero.
    static_assert(same_type<decltype(eg::d(eg::d(eg::d(eg::pow(x, eg::c<3>), x), x), x)), decltype(eg::c<6>)>);
    static_assert(eg::is_zero<decltype(eg::d(eg::d(eg::d(eg::d(eg::pow(x, eg::c<3>), x), x), x), x))>);
}

TEST_CASE("higher order: log(1 + x^2), sigmoid, tanh, erf, atan, x log x, Gaussian, asin", "[higher]") {
    for (double xv : {-2.5, -0.7, 0.0, 0.4, 1.3, 3.0}) {
        INFO("x = " << xv);
        const ld X = xv, q = 1 + X * X;
        {
            // f = log(1 + x^2): f' = 2x/(1+x^2), f'' = 2(1 - x^2)/(1+x^2)^2,
            // f''' = 4x(x^2 - 3)/(1+x^2)^3.
            constexpr auto f = eg::log(1 + x * x);
            CHECK_CLOSE(eg::d(eg::d(f, x), x)(x = xv), 2 * (1 - X * X) / (q * q), 1);
            CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), x), x)(x = xv), 4 * X * (X * X - 3) / (q * q * q), 1);
            CHECK_CLOSE(eg::hessian(f, x = xv)(x, x), 2 * (1 - X * X) / (q * q), 1);
        }
        {
            // s = sigmoid(x): s' = s(1-s), s'' = s(1-s)(1-2s), s''' = s(1-s)(1-6s+6s^2).
            constexpr auto f = eg::sigmoid(x);
            const ld s = sigmoid_ld(X);
            CHECK_CLOSE(eg::d(f, x)(x = xv), s * (1 - s));
            CHECK_CLOSE(eg::d(eg::d(f, x), x)(x = xv), s * (1 - s) * (1 - 2 * s), 0.25L);
            CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), x), x)(x = xv), s * (1 - s) * (1 - 6 * s + 6 * s * s), 0.25L);
        }
        {
            // t = tanh(x): t' = 1 - t^2, t'' = -2t(1 - t^2), t''' = -2(1 - t^2)(1 - 3t^2).
            constexpr auto f = eg::tanh(x);
            const ld t = std::tanh(X);
            CHECK_CLOSE(eg::d(eg::d(f, x), x)(x = xv), -2 * t * (1 - t * t), 1);
            CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), x), x)(x = xv), -2 * (1 - t * t) * (1 - 3 * t * t), 1);
        }
        {
            // erf: erf' = (2/sqrt(pi)) e^{-x^2}, erf'' = -2x erf', erf''' = (4x^2 - 2) erf'.
            constexpr auto f = eg::erf(x);
            const ld e1 = 2 / std::sqrt(3.14159265358979323846264338327950288L) * std::exp(-X * X);
            CHECK_CLOSE(eg::d(eg::d(f, x), x)(x = xv), -2 * X * e1);
            CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), x), x)(x = xv), (4 * X * X - 2) * e1, e1);
        }
        {
            // atan: f' = 1/(1+x^2), f'' = -2x/(1+x^2)^2, f''' = (6x^2 - 2)/(1+x^2)^3.
            constexpr auto f = eg::atan(x);
            CHECK_CLOSE(eg::d(eg::d(f, x), x)(x = xv), -2 * X / (q * q));
            CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), x), x)(x = xv), (6 * X * X - 2) / (q * q * q), 1);
        }
        {
            // Gaussian g = exp(-x^2/2): g'' = (x^2 - 1) g, g''' = (3x - x^3) g.
            constexpr auto f = eg::exp(-(x * x) / 2);
            const ld g = std::exp(-X * X / 2);
            CHECK_CLOSE(eg::d(eg::d(f, x), x)(x = xv), (X * X - 1) * g, g);
            CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), x), x)(x = xv), (3 * X - X * X * X) * g, g);
        }
    }
    for (double xv : {0.05, 0.5, 1.0, 2.0, 10.0}) {
        // f = x log x: f' = log x + 1, f'' = 1/x, f''' = -1/x^2.
        constexpr auto f = x * eg::log(x);
        INFO("x = " << xv);
        CHECK_CLOSE(eg::d(f, x)(x = xv), std::log(static_cast<ld>(xv)) + 1, 1);
        CHECK_CLOSE(eg::d(eg::d(f, x), x)(x = xv), 1 / static_cast<ld>(xv));
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), x), x)(x = xv), -1 / (static_cast<ld>(xv) * xv));
    }
    for (double xv : {-0.9, -0.3, 0.0, 0.5, 0.95}) {
        // f = asin x: f' = (1-x^2)^{-1/2}, f'' = x (1-x^2)^{-3/2}, f''' = (1 + 2x^2)(1-x^2)^{-5/2}.
        constexpr auto f = eg::asin(x);
        const ld X = xv, u = 1 - X * X;
        INFO("x = " << xv);
        CHECK_CLOSE(eg::d(eg::d(f, x), x)(x = xv), X / (u * std::sqrt(u)));
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), x), x)(x = xv), (1 + 2 * X * X) / (u * u * std::sqrt(u)));
    }
}

// ---------------------------------------------------------------------------------------------
// Two and three variables.

TEST_CASE("higher order: sin(x y)", "[higher]") {
    // f = sin(xy): fx = y cos(xy), fy = x cos(xy);
    // fxx = -y^2 sin(xy), fxy = cos(xy) - xy sin(xy), fyy = -x^2 sin(xy);
    // fxxx = -y^3 cos(xy), fxxy = -2y sin(xy) - xy^2 cos(xy).
    constexpr auto f = eg::sin(x * y);
    const auto pts = {p2{0.5, 1.2}, p2{-1.3, 0.7}, p2{2.0, -1.5}, p2{0.0, 3.0}, p2{1.1, 1.1}};
    check_hessian(
        f,
        [](ld a, ld b) {
            return h2{-b * b * std::sin(a * b), std::cos(a * b) - a * b * std::sin(a * b), -a * a * std::sin(a * b)};
        },
        pts, 4);
    for (const p2 p : pts) {
        const ld a = p.x, b = p.y;
        INFO("x = " << p.x << ", y = " << p.y);
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), x), x)(x = p.x, y = p.y), -b * b * b * std::cos(a * b), 10);
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), x), y)(x = p.x, y = p.y),
                    -2 * b * std::sin(a * b) - a * b * b * std::cos(a * b), 10);
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, y), x), x)(x = p.x, y = p.y),
                    -2 * b * std::sin(a * b) - a * b * b * std::cos(a * b), 10);
    }
}

TEST_CASE("higher order: exp(x) cos(y)", "[higher]") {
    // f = e^x cos y: fxx = e^x cos y, fxy = -e^x sin y, fyy = -e^x cos y; fxyy = -e^x cos y,
    // fyyy = e^x sin y. (A harmonic function: fxx + fyy = 0.)
    constexpr auto f = eg::exp(x) * eg::cos(y);
    const auto pts = {p2{0.0, 0.0}, p2{1.0, 2.0}, p2{-2.0, 0.5}, p2{0.3, -3.0}};
    check_hessian(
        f, [](ld a, ld b) { return h2{std::exp(a) * std::cos(b), -std::exp(a) * std::sin(b), -std::exp(a) * std::cos(b)}; },
        pts);
    for (const p2 p : pts) {
        const ld a = p.x, b = p.y;
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), y), y)(x = p.x, y = p.y), -std::exp(a) * std::cos(b));
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, y), y), y)(x = p.x, y = p.y), std::exp(a) * std::sin(b));
        const auto H = eg::hessian(f, x = p.x, y = p.y);
        CHECK_CLOSE(H(x, x) + H(y, y), 0.0L, std::exp(a));
    }
}

TEST_CASE("higher order: x / y", "[higher]") {
    // f = x/y: fxx = 0, fxy = -1/y^2, fyy = 2x/y^3; fxyy = 2/y^3, fyyy = -6x/y^4.
    constexpr auto f = x / y;
    const auto pts = {p2{1.0, 2.0}, p2{-3.0, 0.5}, p2{0.0, -1.5}, p2{2.5, -4.0}};
    check_hessian(f, [](ld a, ld b) { return h2{0, -1 / (b * b), 2 * a / (b * b * b)}; }, pts);
    static_assert(eg::is_zero<decltype(eg::d(eg::d(f, x), x))>);  // linear in x: structurally 0
    for (const p2 p : pts) {
        const ld a = p.x, b = p.y;
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), y), y)(x = p.x, y = p.y), 2 / (b * b * b));
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, y), y), y)(x = p.x, y = p.y), -6 * a / (b * b * b * b));
    }
}

TEST_CASE("higher order: sqrt(x^2 + y^2) and atan2(y, x)", "[higher]") {
    // r = sqrt(x^2 + y^2): rxx = y^2/r^3, rxy = -xy/r^3, ryy = x^2/r^3.
    // t = atan2(y, x): tx = -y/r^2, ty = x/r^2; txx = 2xy/r^4, txy = (y^2 - x^2)/r^4, tyy = -2xy/r^4;
    // txxx = 2y/r^4 - 8x^2 y/r^6 = 2y(y^2 - 3x^2)/r^6 (the derivative of 2xy (x^2+y^2)^-2 in x).
    const auto pts = {p2{3.0, 4.0}, p2{-1.0, 2.0}, p2{-2.0, -0.5}, p2{0.5, -1.5}, p2{1.0, 0.0}};
    check_hessian(
        eg::sqrt(x * x + y * y),
        [](ld a, ld b) {
            const ld r = std::sqrt(a * a + b * b), r3 = r * r * r;
            return h2{b * b / r3, -a * b / r3, a * a / r3};
        },
        pts, 1);
    check_hessian(
        eg::atan2(y, x),
        [](ld a, ld b) {
            const ld r2 = a * a + b * b, r4 = r2 * r2;
            return h2{2 * a * b / r4, (b * b - a * a) / r4, -2 * a * b / r4};
        },
        pts, 1);
    for (const p2 p : pts) {
        const ld a = p.x, b = p.y, r2 = a * a + b * b;
        CHECK_CLOSE(eg::d(eg::d(eg::d(eg::atan2(y, x), x), x), x)(x = p.x, y = p.y),
                    2 * b * (b * b - 3 * a * a) / (r2 * r2 * r2), 1);
    }
}

TEST_CASE("higher order: x^y", "[higher][pow]") {
    // f = x^y (x > 0): fx = y x^(y-1), fy = x^y log x; fxx = y(y-1) x^(y-2),
    // fxy = x^(y-1) (1 + y log x), fyy = x^y (log x)^2; fyyy = x^y (log x)^3.
    constexpr auto f = eg::pow(x, y);
    const auto pts = {p2{2.0, 3.0}, p2{0.5, -1.5}, p2{3.0, 0.5}, p2{1.5, 2.0}, p2{4.0, 1.0}};
    check_hessian(
        f,
        [](ld a, ld b) {
            const ld la = std::log(a);
            return h2{b * (b - 1) * std::pow(a, b - 2), std::pow(a, b - 1) * (1 + b * la), std::pow(a, b) * la * la};
        },
        pts, 1);
    for (const p2 p : pts) {
        const ld a = p.x, b = p.y, la = std::log(a);
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, y), y), y)(x = p.x, y = p.y), std::pow(a, b) * la * la * la, 1);
    }
}

TEST_CASE("higher order: Rosenbrock", "[higher][rosenbrock]") {
    // f = (1 - x)^2 + 100 (y - x^2)^2:
    // fx = -2(1 - x) - 400x(y - x^2), fy = 200(y - x^2);
    // fxx = 1200x^2 - 400y + 2, fxy = -400x, fyy = 200; fxxx = 2400x, fxxy = -400, fyyy = 0.
    // At the minimum (1, 1): H = [[802, -400], [-400, 200]].
    auto hc = [](ld a, ld b) { return h2{1200 * a * a - 400 * b + 2, -400 * a, 200}; };
    const auto pts = {p2{1.0, 1.0}, p2{0.0, 0.0}, p2{-1.2, 1.0}, p2{0.5, -0.25}, p2{2.0, 3.0}};
    // Runtime constants (1 - x, 100 * ...) and compile-time constants.
    constexpr auto f_rt = eg::square(1 - x) + 100 * eg::square(y - x * x);
    constexpr auto f_ct = eg::square(eg::c<1> - x) + eg::c<100> * eg::square(y - eg::square(x));
    check_hessian(f_rt, hc, pts, 1200);
    check_hessian(f_ct, hc, pts, 1200);
    const auto H = eg::hessian(f_ct, eg::wrt(x, y), x = 1.0, y = 1.0);
    CHECK(H(x, x) == 802.0);
    CHECK(H(x, y) == -400.0);
    CHECK(H(y, x) == -400.0);
    CHECK(H(y, y) == 200.0);
    // Numeric indices (std::size_t: an int literal would select the by-variable overload).
    CHECK(H(std::size_t{0}, std::size_t{0}) == 802.0);
    CHECK(H(std::size_t{0}, std::size_t{1}) == -400.0);
    // The gradient vanishes at the minimum.
    const auto g = eg::grad(f_rt, x = 1.0, y = 1.0);
    CHECK(g[x] == 0.0);
    CHECK(g[y] == 0.0);
    for (const p2 p : pts) {
        CHECK_CLOSE(eg::d(eg::d(eg::d(f_ct, x), x), x)(x = p.x, y = p.y), 2400.0L * p.x);
        CHECK_CLOSE(eg::d(eg::d(eg::d(f_rt, x), x), x)(x = p.x, y = p.y), 2400.0L * p.x);
        CHECK_CLOSE(eg::d(eg::d(eg::d(f_ct, x), x), y)(x = p.x, y = p.y), -400.0L);
        CHECK_CLOSE(eg::d(eg::d(eg::d(f_rt, y), x), x)(x = p.x, y = p.y), -400.0L);
    }
    // fyy is the constant 200 and fyyy a structural zero (compile-time constants fold).
    static_assert(same_type<decltype(eg::d(eg::d(f_ct, y), y)), decltype(eg::c<200>)>);
    static_assert(eg::is_zero<decltype(eg::d(eg::d(eg::d(f_ct, y), y), y))>);
    static_assert(eg::is_zero<decltype(eg::d(eg::d(eg::d(f_rt, y), y), y))>);
    // The Hessian of the compile-time form is a constant expression.
    static_assert(eg::hessian(f_ct, eg::wrt(x, y), x = 1.0, y = 1.0)(x, x) == 802.0);
}

TEST_CASE("higher order: three variables x y z + exp(x z) + y^2 z", "[higher]") {
    // f = xyz + e^{xz} + y^2 z:
    // fxx = z^2 e^{xz}, fyy = 2z, fzz = x^2 e^{xz},
    // fxy = z, fxz = y + e^{xz}(1 + xz), fyz = x + 2y; fxyz = 1, fyyz = 2, fxxz = e^{xz}(2z + xz^2).
    constexpr auto f = x * y * z + eg::exp(x * z) + y * y * z;
    for (const auto& [xv, yv, zv] : {std::array{0.5, -1.0, 2.0}, std::array{-1.2, 0.3, 0.7},
                                     std::array{0.0, 2.0, -1.0}, std::array{1.0, 1.0, 1.0}}) {
        INFO("x = " << xv << ", y = " << yv << ", z = " << zv);
        const ld a = xv, b = yv, c = zv, e = std::exp(a * c);
        const auto H = eg::hessian(f, eg::wrt(x, y, z), x = xv, y = yv, z = zv);
        CHECK_CLOSE(H(x, x), c * c * e);
        CHECK_CLOSE(H(y, y), 2 * c);
        CHECK_CLOSE(H(z, z), a * a * e);
        CHECK_CLOSE(H(x, y), c);
        CHECK_CLOSE(H(y, x), c);
        CHECK_CLOSE(H(x, z), b + e * (1 + a * c), 4);
        CHECK_CLOSE(H(z, x), b + e * (1 + a * c), 4);
        CHECK_CLOSE(H(y, z), a + 2 * b, 4);
        CHECK_CLOSE(H(z, y), a + 2 * b, 4);
        CHECK(H(std::size_t{2}, std::size_t{0}) == H(z, x));
        // Only some variables: a sub-matrix, in wrt's order.
        const auto Hzx = eg::hessian(f, eg::wrt(z, x), x = xv, y = yv, z = zv);
        CHECK(Hzx(z, z) == H(z, z));
        CHECK(Hzx(z, x) == H(z, x));
        CHECK(Hzx(x, x) == H(x, x));
        CHECK(Hzx(std::size_t{0}, std::size_t{1}) == H(z, x));
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), y), z)(x = xv, y = yv, z = zv), 1.0L);
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, z), y), x)(x = xv, y = yv, z = zv), 1.0L);
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, y), y), z)(x = xv, y = yv, z = zv), 2.0L);
        CHECK_CLOSE(eg::d(eg::d(eg::d(f, x), x), z)(x = xv, y = yv, z = zv), e * (2 * c + a * c * c), 4);
        // H v along v = (1, -1, 0.5).
        const auto hv = eg::hvp(f, eg::tangent(x = 1.0, y = -1.0, z = 0.5), x = xv, y = yv, z = zv);
        const ld hxx = c * c * e, hyy = 2 * c, hzz = a * a * e, hxy = c, hxz = b + e * (1 + a * c), hyz = a + 2 * b;
        CHECK_CLOSE(hv[x], hxx - hxy + 0.5L * hxz, 8);
        CHECK_CLOSE(hv[y], hxy - hyy + 0.5L * hyz, 8);
        CHECK_CLOSE(hv[z], hxz - hyz + 0.5L * hzz, 8);
        // A direction with no z component (unbound tangents are zero).
        const auto hw = eg::hvp(f, eg::tangent(y = 2.0), x = xv, y = yv, z = zv);
        CHECK_CLOSE(hw[x], 2 * hxy, 4);
        CHECK_CLOSE(hw[y], 2 * hyy, 4);
        CHECK_CLOSE(hw[z], 2 * hyz, 4);
    }
    // A variable of wrt that f does not use: its row and column are exact zeros.
    const auto H = eg::hessian(eg::sin(x * y), eg::wrt(x, y, z), x = 0.5, y = 2.0, z = 1.0);
    CHECK(H(z, z) == 0.0);
    CHECK(H(x, z) == 0.0);
    CHECK(H(z, y) == 0.0);
    CHECK_CLOSE(H(x, y), std::cos(1.0L) - std::sin(1.0L), 1);
}

// ---------------------------------------------------------------------------------------------
// Jacobians and vector-Jacobian products.

TEST_CASE("higher order: jacobian, vjp and jvp of a vector of expressions", "[higher][jacobian]") {
    // f1 = xy + sin x, f2 = e^{x - y} y:
    // J = [[y + cos x, x], [e^{x-y} y, e^{x-y}(1 - y)]].
    constexpr auto f1 = x * y + eg::sin(x);
    constexpr auto f2 = eg::exp(x - y) * y;
    constexpr auto F = eg::vector(f1, f2);
    for (const p2 p : {p2{0.5, 2.0}, p2{-1.0, 0.3}, p2{2.0, -1.5}, p2{0.0, 1.0}}) {
        INFO("x = " << p.x << ", y = " << p.y);
        const ld a = p.x, b = p.y, e = std::exp(a - b);
        const ld J00 = b + std::cos(a), J01 = a, J10 = e * b, J11 = e * (1 - b);
        const auto J = eg::jacobian(F, eg::wrt(x, y), x = p.x, y = p.y);
        CHECK(J.rows() == 2);
        CHECK(J.cols() == 2);
        CHECK_CLOSE(J(0, x), J00, 1);
        CHECK_CLOSE(J(0, y), J01);
        CHECK_CLOSE(J(1, x), J10);
        CHECK_CLOSE(J(1, y), J11, e);
        CHECK(J(1, std::size_t{0}) == J(1, x));
        const auto Jall = eg::jacobian(F, x = p.x, y = p.y);
        CHECK(Jall(0, x) == J(0, x));
        CHECK(Jall(1, y) == J(1, y));
        // The values with the Jacobian, from one graph.
        const auto [Fv1, J1] = eg::value_and_jacobian(F, eg::wrt(x, y), x = p.x, y = p.y);
        CHECK_CLOSE(Fv1[0], a * b + std::sin(a), 1);
        CHECK_CLOSE(Fv1[1], e * b);
        CHECK_CLOSE(J1(0, x), J00, 1);
        CHECK_CLOSE(J1(0, y), J01);
        CHECK_CLOSE(J1(1, x), J10);
        CHECK_CLOSE(J1(1, y), J11, e);
        const auto VJall = eg::value_and_jacobian(F, x = p.x, y = p.y);
        CHECK(VJall.jacobian.cols() == 2);
        CHECK_CLOSE(VJall.jacobian(1, y), J11, e);
        CHECK_CLOSE(VJall.value[1], e * b);
        const auto Jy = eg::jacobian(F, eg::wrt(y), x = p.x, y = p.y);
        // Another instantiation: with FMA contraction (-march=native) the last bit may differ.
        CHECK_CLOSE(Jy(0, y), J(0, y));
        CHECK_CLOSE(Jy(1, y), J(1, y), e);
        CHECK(Jy(1, std::size_t{0}) == Jy(1, y));
        // The values of F.
        const std::array<double, 2> Fv = F(x = p.x, y = p.y);
        CHECK_CLOSE(Fv[0], a * b + std::sin(a), 1);
        CHECK_CLOSE(Fv[1], e * b);
        // vjp with the cotangent (1, 2): the gradient of f1 + 2 f2.
        const auto [vals, g] = eg::vjp(F, std::array{1.0, 2.0}, x = p.x, y = p.y);
        CHECK(vals[0] == Fv[0]);
        CHECK(vals[1] == Fv[1]);
        CHECK_CLOSE(g[x], J00 + 2 * J10, 4);
        CHECK_CLOSE(g[y], J01 + 2 * J11, 4);
        const auto [vals2, gy] = eg::vjp(F, std::array{-3.0, 0.5}, eg::wrt(y), x = p.x, y = p.y);
        CHECK(vals2[1] == Fv[1]);
        CHECK_CLOSE(gy[y], -3 * J01 + 0.5L * J11, 4);
        // jvp along (1, 2): J v.
        const auto [v, t] = eg::jvp(F, eg::tangent(x = 1.0, y = 2.0), x = p.x, y = p.y);
        CHECK(v[0] == Fv[0]);
        CHECK(v[1] == Fv[1]);
        CHECK_CLOSE(t[0], J00 + 2 * J01, 4);
        CHECK_CLOSE(t[1], J10 + 2 * J11, 4);
    }
    // The Jacobian of the gradient is the Hessian.
    constexpr auto f = eg::sin(x * y) + x * x * y;
    const auto Jg = eg::jacobian(eg::vector(eg::d(f, x), eg::d(f, y)), eg::wrt(x, y), x = 0.7, y = -1.1);
    const auto H = eg::hessian(f, eg::wrt(x, y), x = 0.7, y = -1.1);
    CHECK_CLOSE(Jg(0, x), H(x, x), 1);
    CHECK_CLOSE(Jg(0, y), H(x, y), 1);
    CHECK_CLOSE(Jg(1, x), H(y, x), 1);
    CHECK_CLOSE(Jg(1, y), H(y, y), 1);
}

// ---------------------------------------------------------------------------------------------
// The simplifier.

TEST_CASE("higher order: simplification facts", "[higher][simplify]") {
    // d(x * x, x) is 2 * x, as a type.
    static_assert(std::is_same_v<decltype(eg::d(x * x, x)), decltype(eg::c<2> * x)>);
    static_assert(eg::d(x * x, x)(x = 3.0) == 6.0);
    CHECK(eg::d(x * x, x)(x = 3.0) == 6.0);

    // The tenth derivative of exp(x) is exp(x), as a type.
    constexpr auto e = eg::exp(x);
    constexpr auto d10 = eg::d(eg::d(eg::d(eg::d(eg::d(eg::d(eg::d(eg::d(eg::d(eg::d(e, x), x), x), x), x), x), x), x), x), x);
    static_assert(std::is_same_v<decltype(d10), decltype(e)>);
    CHECK(d10(x = 1.5) == std::exp(1.5));

    // Structural zeros: no dependence, no code.
    static_assert(eg::is_zero<decltype(eg::d(eg::exp(y), x))>);
    static_assert(eg::is_zero<decltype(eg::d(eg::c<3>, x))>);
    // Runtime-constant expressions with respect to an absent variable.
    static_assert(eg::is_zero<decltype(eg::d(2.5 * y + 1.0, x))>);
    static_assert(eg::is_zero<decltype(eg::d(eg::exp(y * 0.5) / 3.0 - eg::pow(y, eg::c<3>) * 7.0, x))>);
    static_assert(eg::is_zero<decltype(eg::d(eg::d(2.5 * x + 1.0, x), x))>);
    // Through where and detach: the condition and a detached value carry no gradient.
    static_assert(eg::is_zero<decltype(eg::d(eg::where(x > 0, y, 2.0 * y), x))>);
    static_assert(eg::is_zero<decltype(eg::d(eg::detach(x * x), x))>);
    CHECK(eg::d(2.5 * y + 1.0, x)(x = 1.0, y = 2.0) == 0.0);

    // d(x x x, x) has no zero terms left in it, and its value is 3x^2.
    constexpr auto d3 = eg::d(x * x * x, x);
    const std::string s = eg::to_string(d3);
    INFO("d(x * x * x, x) = " << s);
    CHECK(s.find("0 *") == std::string::npos);
    CHECK(s.find("* 0") == std::string::npos);
    CHECK(s.find("+ 0") == std::string::npos);
    CHECK(s.find("- 0") == std::string::npos);
    CHECK(s.find("* 1") == std::string::npos);
    CHECK(s.find("1 *") == std::string::npos);
    CHECK(d3(x = 2.0) == 12.0);
    CHECK(d3(x = -3.0) == 27.0);

    // More folding: e - e is 0, e + e is 2 * e, 1 * e is e, constants fold.
    static_assert(eg::is_zero<decltype(eg::d(x - x, x))>);
    static_assert(same_type<decltype(eg::d(x + x, x)), decltype(eg::c<2>)>);
    static_assert(same_type<decltype(eg::d(eg::c<3> * x, x)), decltype(eg::c<3>)>);
    static_assert(std::is_same_v<decltype(eg::d(eg::sin(x), x)), decltype(eg::cos(x))>);
    static_assert(std::is_same_v<decltype(eg::d(eg::cos(x), x)), decltype(-eg::sin(x))>);
    static_assert(std::is_same_v<decltype(eg::d(eg::d(eg::d(eg::d(eg::sin(x), x), x), x), x)), decltype(eg::sin(x))>);
    // With respect to y, x * y is x; and the mixed second derivative of x * y is 1.
    static_assert(same_type<decltype(eg::d(x * y, y)), decltype(x)>);
    static_assert(same_type<decltype(eg::d(eg::d(x * y, x), y)), decltype(eg::c<1>)>);
}
