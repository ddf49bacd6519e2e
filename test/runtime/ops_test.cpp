// Every operation's value and first derivative, at ordinary points and at the edges of its domain:
// reverse mode (eg::grad / eg::value_and_grad) against a central finite difference of a long double
// reference; reverse, symbolic (eg::d) and forward (eg::jvp) modes against each other; the value
// against <cmath>; PyTorch's conventions at the non-differentiable points; eg::check_grad.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <etgrad/etgrad.hpp>
#include <initializer_list>
#include <iomanip>
#include <limits>
#include <string>
#include <type_traits>

namespace eg = etgrad;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto z = eg::var<"z">;
using ld = long double;

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double qnan = std::numeric_limits<double>::quiet_NaN();

/// A point (x, y, z); `h` overrides the finite-difference step (0: the default step).
struct pt {
    double x = 0, y = 0, z = 0;
    double h = 0;
};

/// Options of one operation's check.
struct opts {
    // Absolute part of the finite-difference tolerance (0: none). Only the rules written with the
    // rounded output y, as PyTorch writes them (tanh' = 1 - y^2, sigmoid' = y(1 - y), expm1' =
    // y + 1), need it: where the derivative is tiny next to 1 they lose relative accuracy by
    // cancellation, but their absolute error stays within a few ulp of 1: 4 ulp(1) bounds it.
    double fd_abs = 0;
    // Absolute part of the tolerance between modes (0: none). Single operations evaluate the same
    // rule on the same numbers in every mode; an expression whose partials reach a variable along
    // several paths sums them in a different order per mode, so where the sum cancels the modes
    // differ by a few ulp of the largest term, not of the sum. Set to 8 ulp of that term.
    double mode_abs = 0;
};

// The finite difference. D(h) = (f(p + h) - f(p - h)) / 2h of the long double reference (<cmath>
// on long double: eps_ld = 1.1e-19), with h = 1e-6 max(1, |p|) by default, or a step given with
// the point: at the edges of a domain h is at most 1e-3 of the distance to the edge, so that
// p +- 2h stays well inside it. The estimate is Richardson's (4 D(h) - D(2h)) / 3 (error O(h^4));
// it is compared with the library's derivative within
//   fd_rel |fd|                      the tolerance proper: 1e-6 relative (a wrong rule is off by
//                                    O(1); the truncation error of D(h) is ~1e-12 relative),
//   + |D(h) - D(2h)|                 a bound on the truncation error left (~ h^2 |f'''|: it
//                                    matters only where f' is 0 or tiny, e.g. x^3 at 0),
//   + 8 eps_ld max|f(p +- h)| / h    the rounding of the reference values themselves (it matters
//                                    only where |f'| is tiny next to |f|: atan at 1e8),
//   + opts::fd_abs.
// In float the derivative itself carries a rounding error of a few float ulp per operation: the
// relative tolerance is 64 FLT_EPSILON (7.6e-6) instead.
template <class T>
constexpr double fd_rel = std::max(1e-6, 64.0 * std::numeric_limits<T>::epsilon());

// Modes and values: the same rule evaluated on the same numbers, so they agree to a few ulp (8
// ulp relative), with an absolute floor of 8 times the smallest normal number near zero (plus
// opts::mode_abs for expressions with several paths).
template <class T>
bool agree(T a, T b, double abs_tol = 0) {
    if (std::isnan(a) || std::isnan(b)) {
        return std::isnan(a) && std::isnan(b);
    }
    if (a == b) {
        return true;  // also +-inf
    }
    const T eps = std::numeric_limits<T>::epsilon();
    return std::abs(a - b) <=
           8 * eps * std::max(std::abs(a), std::abs(b)) + 8 * std::numeric_limits<T>::min() + static_cast<T>(abs_tol);
}

/// Exactly equal (NaN equals NaN; -0 equals +0).
bool same(double a, double b) {
    return (std::isnan(a) && std::isnan(b)) || a == b;
}

ld step(double p, double h) {
    return h != 0 ? static_cast<ld>(h) : static_cast<ld>(1e-6 * std::max(1.0, std::abs(p)));
}

/// The finite-difference estimate of f'(p) along one coordinate and its error bound.
struct fd_result {
    ld value, bound;
};
template <class G>
fd_result finite_difference(G f, ld p, ld h) {
    const ld fp = f(p + h), fm = f(p - h);
    const ld d1 = (fp - fm) / (2 * h);
    const ld d2 = (f(p + 2 * h) - f(p - 2 * h)) / (4 * h);
    const ld round = 8 * LDBL_EPSILON * std::max(std::abs(fp), std::abs(fm)) / h;
    return {(4 * d1 - d2) / 3, std::abs(d1 - d2) + round};
}

/// The value, the finite-difference gradient and the three modes of one operation f(x, y, z), at
/// every point, in the number type T. `ref(x, y, z)` is the operation in long double (<cmath>).
template <class T = double, class F, class Ref>
void check_op(const F& f, Ref ref, std::initializer_list<pt> points, opts o = {}) {
    for (const pt& p0 : points) {
        // The point, rounded to T: the reference is evaluated at the point the library sees.
        const T px = static_cast<T>(p0.x), py = static_cast<T>(p0.y), pz = static_cast<T>(p0.z);
        const ld lx = px, ly = py, lz = pz;
        INFO(std::setprecision(17) << eg::to_string(f) << " at x = " << px << ", y = " << py << ", z = " << pz
                                   << " (" << (std::is_same_v<T, float> ? "float" : "double") << ")");

        // Value against the long double reference (<cmath>).
        const T value = f(x = px, y = py, z = pz);
        static_assert(std::is_same_v<decltype(f(x = px, y = py, z = pz)), T>);
        const T expect = static_cast<T>(ref(lx, ly, lz));
        CAPTURE(value, expect);
        CHECK(agree(value, expect));

        // Reverse mode against central finite differences of the reference, for each variable
        // (a variable that f does not use gets an exact zero, and so does its difference).
        const auto g = eg::grad(f, eg::wrt(x, y, z), x = px, y = py, z = pz);
        static_assert(std::is_same_v<std::remove_cvref_t<decltype(g[x])>, T>);
        const fd_result fd[3] = {
            finite_difference([&](ld t) { return ref(t, ly, lz); }, lx, step(px, p0.h)),
            finite_difference([&](ld t) { return ref(lx, t, lz); }, ly, step(py, p0.h)),
            finite_difference([&](ld t) { return ref(lx, ly, t); }, lz, step(pz, p0.h))};
        const T rev[3] = {g[x], g[y], g[z]};
        for (int i = 0; i < 3; ++i) {
            const double an = static_cast<double>(rev[i]);
            const double num = static_cast<double>(fd[i].value);
            const double tol = fd_rel<T> * std::abs(num) + static_cast<double>(fd[i].bound) + o.fd_abs;
            INFO(std::setprecision(17) << "d/d" << "xyz"[i] << ": reverse mode " << an << ", finite difference "
                                       << num << ", tolerance " << tol);
            CHECK(std::abs(an - num) <= tol);
        }

        // The three modes: reverse (value_and_grad), symbolic (d), forward (jvp).
        const auto [v, gr] = eg::value_and_grad(f, eg::wrt(x, y, z), x = px, y = py, z = pz);
        static_assert(std::is_same_v<std::remove_cvref_t<decltype(v)>, T>);
        CHECK(same(v, value));
        const T sym[3] = {eg::d(f, x)(x = px, y = py, z = pz), eg::d(f, y)(x = px, y = py, z = pz),
                          eg::d(f, z)(x = px, y = py, z = pz)};
        const auto jx = eg::jvp(f, eg::tangent(x = T(1)), x = px, y = py, z = pz);
        const auto jy = eg::jvp(f, eg::tangent(y = T(1)), x = px, y = py, z = pz);
        const auto jz = eg::jvp(f, eg::tangent(z = T(1)), x = px, y = py, z = pz);
        static_assert(std::is_same_v<std::remove_cvref_t<decltype(jx.tangent)>, T>);
        CHECK(same(jx.value, value));
        const T fwd[3] = {jx.tangent, jy.tangent, jz.tangent};
        const T rv[3] = {gr[x], gr[y], gr[z]};
        for (int i = 0; i < 3; ++i) {
            INFO(std::setprecision(17) << "d/d" << "xyz"[i] << ": reverse " << rv[i] << ", symbolic " << sym[i]
                                       << ", forward " << fwd[i]);
            CHECK(agree(rv[i], sym[i], o.mode_abs));
            CHECK(agree(rv[i], fwd[i], o.mode_abs));
        }
    }
}

/// At a point where the rule is a convention: the value and the derivatives in all three modes
/// are exactly the expected numbers (NaN for NaN, inf for inf). No exception, ever.
template <class F>
void check_exact(const F& f, pt p, double value, double dx, double dy = 0, double dz = 0) {
    INFO(eg::to_string(f) << " at x = " << p.x << ", y = " << p.y << ", z = " << p.z);
    const double expect[3] = {dx, dy, dz};
    CHECK_NOTHROW(f(x = p.x, y = p.y, z = p.z));
    const double v0 = f(x = p.x, y = p.y, z = p.z);
    CAPTURE(v0, value);
    CHECK(same(v0, value));
    const auto [v, g] = eg::value_and_grad(f, eg::wrt(x, y, z), x = p.x, y = p.y, z = p.z);
    CHECK(same(v, value));
    const double rev[3] = {g[x], g[y], g[z]};
    const double sym[3] = {eg::d(f, x)(x = p.x, y = p.y, z = p.z), eg::d(f, y)(x = p.x, y = p.y, z = p.z),
                           eg::d(f, z)(x = p.x, y = p.y, z = p.z)};
    const double fwd[3] = {eg::jvp(f, eg::tangent(x = 1.0), x = p.x, y = p.y, z = p.z).tangent,
                           eg::jvp(f, eg::tangent(y = 1.0), x = p.x, y = p.y, z = p.z).tangent,
                           eg::jvp(f, eg::tangent(z = 1.0), x = p.x, y = p.y, z = p.z).tangent};
    for (int i = 0; i < 3; ++i) {
        INFO("d/d" << "xyz"[i] << ": expected " << expect[i] << "; reverse " << rev[i] << ", symbolic "
                   << sym[i] << ", forward " << fwd[i]);
        CHECK(same(rev[i], expect[i]));
        CHECK(same(sym[i], expect[i]));
        CHECK(same(fwd[i], expect[i]));
    }
}

ld sigmoid_ref(ld a) { return 1 / (1 + std::exp(-a)); }
ld softplus_ref(ld a) { return a > 0 ? a + std::log1p(std::exp(-a)) : std::log1p(std::exp(a)); }

// Finite-difference steps at the edges of a domain (<= 1e-3 of the distance to the edge).
constexpr double h_edge = 1e-10;  // asin/acos at +-0.999999, log1p at -0.999999

/// A custom function with a wrong rule (6u^2 for u^3): check_grad must reject it.
struct wrong_cube {
    static constexpr auto value(const auto& u) { return u * u * u; }
    static constexpr auto derivative(const auto& u) { return 6.0 * u * u; }
};

struct set_precision {
    set_precision() { Catch::StringMaker<double>::precision = 17; }
};
}  // namespace

TEST_CASE("ops: + - * / and unary minus", "[ops]") {
    set_precision{};
    const std::initializer_list<pt> pts = {{2, 3}, {-1.5, 0.25}, {1e3, -1e-3}, {0, 5}, {-7, -0.5}};
    check_op(x + y, [](ld a, ld b, ld) { return a + b; }, pts);
    check_op(x - y, [](ld a, ld b, ld) { return a - b; }, pts);
    check_op(x * y, [](ld a, ld b, ld) { return a * b; }, pts);
    check_op(x / y, [](ld a, ld b, ld) { return a / b; }, pts);
    check_op(-x, [](ld a, ld, ld) { return -a; }, pts);
    // With runtime constants (lifted operands) and compile-time constants.
    check_op(2.5 * x - y / 4.0, [](ld a, ld b, ld) { return 2.5L * a - b / 4; }, pts);
    check_op(1.0 / x + eg::c<2> * y, [](ld a, ld b, ld) { return 1 / a + 2 * b; }, {{2, 3}, {-1.5, 0.25}, {1e3, -1e-3}, {-7, -0.5}});
    check_op(eg::c<1, 3> - x * eg::c<-5>, [](ld a, ld, ld) { return 1.0L / 3 + 5 * a; }, pts);
    // Reused subexpression (one node, two uses).
    // The partials of (x y)/(x y + z) sum two paths, 1/w and -(f/w), w = x y + z, that cancel
    // where |z| << |w|: at these points the terms are below 1, so 8 ulp(1) bounds the difference.
    check_op((x * y) / (x * y + z), [](ld a, ld b, ld c) { return a * b / (a * b + c); },
             {{2, 3, 1}, {-1.5, 0.25, 4}, {0.5, 0.5, -3}, {10, -2, 1}}, {0, 8 * DBL_EPSILON});
}

TEST_CASE("ops: exp log log1p expm1", "[ops]") {
    set_precision{};
    check_op(eg::exp(x), [](ld a, ld, ld) { return std::exp(a); },
             {{-700}, {-30}, {-1}, {0}, {1}, {30}, {700}});
    check_op(eg::log(x), [](ld a, ld, ld) { return std::log(a); },
             {{1e-8, 0, 0, 1e-14}, {1e-3, 0, 0, 1e-9}, {0.5}, {2}, {1e10}, {1e300}});
    check_op(eg::log1p(x), [](ld a, ld, ld) { return std::log1p(a); },
             {{-0.999999, 0, 0, h_edge}, {-0.5}, {1e-10}, {3}, {100}, {1e20}});
    // expm1' = y + 1 (PyTorch's rule): see opts::fd_abs. At -30 and -700 f' is 1e-13 next to
    // |f| = 1, so the step is larger (the reference's rounding is 8 eps_ld / h).
    check_op(eg::expm1(x), [](ld a, ld, ld) { return std::expm1(a); },
             {{-700, 0, 0, 1e-2}, {-30, 0, 0, 1e-2}, {-1}, {1e-10}, {2}, {30}, {700}}, {4 * DBL_EPSILON});
}

TEST_CASE("ops: sqrt cbrt pow square", "[ops]") {
    set_precision{};
    check_op(eg::sqrt(x), [](ld a, ld, ld) { return std::sqrt(a); },
             {{1e-10, 0, 0, 1e-16}, {1e-300, 0, 0, 1e-306}, {0.25}, {2}, {1e8}});
    check_op(eg::cbrt(x), [](ld a, ld, ld) { return std::cbrt(a); },
             {{-8}, {-0.5}, {1e-9, 0, 0, 1e-15}, {2}, {27}, {1e12}});
    // pow(x, y) for x > 0 (d/dy = x^y log x), and y = 0 (d/dx = 0, as everywhere with y == 0).
    check_op(eg::pow(x, y), [](ld a, ld b, ld) { return std::pow(a, b); },
             {{2, 3}, {0.5, -1.5}, {3, 0.5}, {10, 2.5}, {1.5, 0}, {1e-3, 2, 0, 1e-9}});
    check_op(eg::pow(x, eg::c<3>), [](ld a, ld, ld) { return a * a * a; }, {{-2}, {-0.5}, {0}, {1.5}, {10}, {1e50}});
    check_op(eg::pow(x, eg::c<-2>), [](ld a, ld, ld) { return 1 / (a * a); }, {{-3}, {-0.5}, {0.25}, {2}, {100}});
    check_op(eg::square(x), [](ld a, ld, ld) { return a * a; }, {{-3}, {0}, {0.5}, {7}, {1e100}});
    // pow with a runtime-constant exponent and a runtime-constant base.
    check_op(eg::pow(x, 2.5), [](ld a, ld, ld) { return std::pow(a, 2.5L); }, {{0.5}, {2}, {9}, {1e3}});
    check_op(eg::pow(2.0, y), [](ld, ld b, ld) { return std::pow(2.0L, b); }, {{0, -3}, {0, 0}, {0, 0.5}, {0, 10}});
}

TEST_CASE("ops: sin cos tan asin acos atan atan2", "[ops]") {
    set_precision{};
    const std::initializer_list<pt> trig = {{-3}, {0}, {0.5}, {2}, {100}};
    check_op(eg::sin(x), [](ld a, ld, ld) { return std::sin(a); }, trig);
    check_op(eg::cos(x), [](ld a, ld, ld) { return std::cos(a); }, trig);
    check_op(eg::tan(x), [](ld a, ld, ld) { return std::tan(a); }, {{-1.2}, {0}, {0.3}, {1.5}, {4}});
    const std::initializer_list<pt> unit = {
        {-0.999999, 0, 0, h_edge}, {-0.5}, {0}, {0.3}, {0.999999, 0, 0, h_edge}};
    check_op(eg::asin(x), [](ld a, ld, ld) { return std::asin(a); }, unit);
    check_op(eg::acos(x), [](ld a, ld, ld) { return std::acos(a); }, unit);
    check_op(eg::atan(x), [](ld a, ld, ld) { return std::atan(a); }, {{-1e3}, {-2}, {0}, {0.5}, {10}, {1e8, 0, 0, 1e5}});
    // atan2(y, x) in the four quadrants, near both axes, and near the branch cut (x < 0, y -> 0+-).
    check_op(eg::atan2(y, x), [](ld a, ld b, ld) { return std::atan2(b, a); },
             {{1, 1}, {-1, 1}, {-1, -1}, {1, -1}, {2, 1e-3, 0, 1e-9}, {1e-3, 2, 0, 1e-9}, {-5, 1e-3, 0, 1e-9},
              {-5, -1e-3, 0, 1e-9}, {3, -4}, {-1e-3, -2, 0, 1e-9}});
}

TEST_CASE("ops: sinh cosh tanh sigmoid softplus", "[ops]") {
    set_precision{};
    check_op(eg::sinh(x), [](ld a, ld, ld) { return std::sinh(a); }, {{-20}, {-0.5}, {0}, {1}, {3}, {700}});
    check_op(eg::cosh(x), [](ld a, ld, ld) { return std::cosh(a); }, {{-20}, {-0.5}, {0}, {1}, {3}, {-700}});
    const std::initializer_list<pt> wide = {{-700}, {-30}, {-1}, {0}, {0.5}, {2}, {30}, {700}};
    const opts from_output{4 * DBL_EPSILON};  // see opts::fd_abs
    check_op(eg::tanh(x), [](ld a, ld, ld) { return std::tanh(a); }, wide, from_output);
    check_op(eg::sigmoid(x), [](ld a, ld, ld) { return sigmoid_ref(a); }, wide, from_output);
    check_op(eg::softplus(x), [](ld a, ld, ld) { return softplus_ref(a); }, wide);

    // Where the absolute floor above makes the finite-difference check weak (the derivative is
    // far below 1), the rules are still relatively accurate on the side where y is small.
    CHECK(eg::grad(eg::sigmoid(x), x = -700.0)[x] == Approx(std::exp(-700.0)).epsilon(1e-14));
    CHECK(eg::grad(eg::sigmoid(x), x = -30.0)[x] ==
          Approx(static_cast<double>(std::exp(-30.0L) / ((1 + std::exp(-30.0L)) * (1 + std::exp(-30.0L)))))
              .epsilon(1e-14));
    CHECK(eg::grad(eg::softplus(x), x = -700.0)[x] == Approx(std::exp(-700.0)).epsilon(1e-14));
    CHECK(eg::softplus(x)(x = 700.0) == 700.0);  // no overflow
    CHECK(eg::softplus(x)(x = 1000.0) == 1000.0);
    CHECK(eg::sigmoid(x)(x = -1000.0) == 0.0);
    CHECK(eg::grad(eg::sigmoid(x), x = -1000.0)[x] == 0.0);
    CHECK(eg::grad(eg::softplus(x), x = 1000.0)[x] == 1.0);
    CHECK(eg::grad(eg::tanh(x), x = 1000.0)[x] == 0.0);
}

TEST_CASE("ops: relu abs erf max min where", "[ops]") {
    set_precision{};
    check_op(eg::relu(x), [](ld a, ld, ld) { return a > 0 ? a : 0; }, {{-2}, {-1e-3}, {1e-3}, {3}, {1e6}});
    check_op(eg::abs(x), [](ld a, ld, ld) { return std::abs(a); }, {{-3}, {-1e-3}, {1e-3}, {2}, {-1e6}});
    check_op(eg::erf(x), [](ld a, ld, ld) { return std::erf(a); }, {{-2}, {-0.5}, {0}, {0.1}, {1}, {3}, {4, 0, 0, 1e-4}});
    const std::initializer_list<pt> pairs = {{1, 2}, {2, 1}, {-3, 5}, {0.5, -0.5}, {-1e-3, 1e-3, 0, 1e-9}};
    check_op(eg::max(x, y), [](ld a, ld b, ld) { return std::max(a, b); }, pairs);
    check_op(eg::min(x, y), [](ld a, ld b, ld) { return std::min(a, b); }, pairs);
    check_op(eg::max(x, 0.5), [](ld a, ld, ld) { return std::max(a, 0.5L); }, {{-1}, {0.4}, {0.6}, {3}});
    // where: the derivative follows the branch taken; the condition has no gradient.
    check_op(eg::where(x > 0, y, z), [](ld a, ld b, ld c) { return a > 0 ? b : c; },
             {{1, 2, 3}, {-1, 2, 3}, {1e-3, -4, 5, 1e-9}, {-1e-3, -4, 5, 1e-9}});
    check_op(eg::where(x > 0, eg::sin(x) * y, x * z), [](ld a, ld b, ld c) { return a > 0 ? std::sin(a) * b : a * c; },
             {{1, 2, 3}, {-1, 2, 3}, {0.25, -4, 5}, {-2, -4, 5}});
    check_op(eg::where(x > 0 && y < z, x * y, y - z), [](ld a, ld b, ld c) { return a > 0 && b < c ? a * b : b - c; },
             {{1, 2, 3}, {1, 3, 2}, {-1, 2, 3}, {2, -1, 0.5}});
    check_op(eg::where(!(x <= y) || z >= 1, eg::exp(x - y), eg::cos(z)),
             [](ld a, ld b, ld c) { return !(a <= b) || c >= 1 ? std::exp(a - b) : std::cos(c); },
             {{1, 2, 3}, {1, 2, 0.5}, {3, 2, 0.5}, {-1, -2, -3}});
}

TEST_CASE("ops: float evaluation", "[ops][float]") {
    set_precision{};
    Catch::StringMaker<float>::precision = 9;
    // x = 2.0f gives float values and float gradients in every mode.
    {
        const auto f = eg::sin(x) * y;
        const auto value = f(x = 2.0f, y = 3.0f);
        static_assert(std::is_same_v<decltype(value), const float>);
        const auto [v, g] = eg::value_and_grad(f, x = 2.0f, y = 3.0f);
        static_assert(std::is_same_v<std::remove_cvref_t<decltype(v)>, float>);
        static_assert(std::is_same_v<std::remove_cvref_t<decltype(g[x])>, float>);
        static_assert(std::is_same_v<decltype(eg::d(f, x)(x = 2.0f, y = 3.0f)), float>);
        static_assert(std::is_same_v<decltype(eg::jvp(f, eg::tangent(x = 1.0f), x = 2.0f, y = 3.0f).tangent), float>);
        CHECK(value == std::sin(2.0f) * 3.0f);
        CHECK(g[x] == std::cos(2.0f) * 3.0f);
        CHECK(g[y] == std::sin(2.0f));
        // float and double bindings together compute in double.
        static_assert(std::is_same_v<decltype(f(x = 2.0f, y = 3.0)), double>);
    }
    const std::initializer_list<pt> pos = {{0.5}, {2}, {7}, {1e-3, 0, 0, 1e-9}};
    check_op<float>(eg::exp(x), [](ld a, ld, ld) { return std::exp(a); }, {{-80}, {-1}, {0}, {2}, {80}});
    check_op<float>(eg::log(x), [](ld a, ld, ld) { return std::log(a); }, pos);
    check_op<float>(eg::sqrt(x), [](ld a, ld, ld) { return std::sqrt(a); }, pos);
    check_op<float>(eg::sin(x), [](ld a, ld, ld) { return std::sin(a); }, {{-3}, {0}, {0.5}, {2}});
    check_op<float>(eg::tanh(x), [](ld a, ld, ld) { return std::tanh(a); }, {{-20}, {-1}, {0}, {0.5}, {20}},
                    {4 * FLT_EPSILON});
    check_op<float>(eg::sigmoid(x), [](ld a, ld, ld) { return sigmoid_ref(a); }, {{-80}, {-1}, {0}, {2}, {20}},
                    {4 * FLT_EPSILON});
    check_op<float>(eg::softplus(x), [](ld a, ld, ld) { return softplus_ref(a); }, {{-80}, {-1}, {0}, {2}, {80}});
    check_op<float>(x * y / (x - y), [](ld a, ld b, ld) { return a * b / (a - b); }, {{2, 3}, {-1.5, 0.25}, {5, -4}});
    check_op<float>(eg::atan2(y, x), [](ld a, ld b, ld) { return std::atan2(b, a); }, {{1, 1}, {-1, 1}, {-1, -1}, {1, -1}});
    check_op<float>(eg::pow(x, y), [](ld a, ld b, ld) { return std::pow(a, b); }, {{2, 3}, {0.5, -1.5}, {3, 0.5}});
    check_op<float>(eg::max(x, y) + eg::relu(y), [](ld a, ld b, ld) { return std::max(a, b) + (b > 0 ? b : 0); },
                    {{1, 2}, {2, 1}, {-3, -5}});
}

TEST_CASE("ops: PyTorch's conventions at non-differentiable points, in all three modes", "[ops][conventions]") {
    set_precision{};
    // relu'(0) = 0; abs'(0) = 0 (sign(0) = 0).
    check_exact(eg::relu(x), {0}, 0, 0);
    check_exact(eg::relu(x), {-0.0}, 0, 0);
    check_exact(eg::abs(x), {0}, 0, 0);
    check_exact(eg::abs(x), {-0.0}, 0, 0);
    check_exact(eg::relu(x - y), {2, 2}, 0, 0, 0);
    check_exact(eg::abs(x - y), {2, 2}, 0, 0, 0);
    // max and min at a tie: half the gradient to each argument.
    check_exact(eg::max(x, y), {1.5, 1.5}, 1.5, 0.5, 0.5);
    check_exact(eg::min(x, y), {1.5, 1.5}, 1.5, 0.5, 0.5);
    check_exact(eg::max(x, y), {0, 0}, 0, 0.5, 0.5);
    check_exact(eg::min(x, y), {-3, -3}, -3, 0.5, 0.5);
    check_exact(eg::max(x, 2.0), {2}, 2, 0.5);
    check_exact(eg::min(3 * x, y), {1, 3}, 3, 1.5, 0.5);
    // max(x, x): both halves reach x.
    check_exact(eg::max(x, x * 1.0), {4}, 4, 1);
    // Away from the tie, all of it to the larger (smaller) one.
    check_exact(eg::max(x, y), {2, 1}, 2, 1, 0);
    check_exact(eg::min(x, y), {2, 1}, 1, 0, 1);
    // where(x > 0, a, b) follows the branch taken: at x = 0 it takes b; never a gradient to x.
    check_exact(eg::where(x > 0, y, z), {0, 2, 3}, 3, 0, 0, 1);
    check_exact(eg::where(x > 0, y, z), {1, 2, 3}, 2, 0, 1, 0);
    check_exact(eg::where(x > 0, y, z), {-1, 2, 3}, 3, 0, 0, 1);
    check_exact(eg::where(x > 0, x * x, -x), {0}, 0, -1);
    check_exact(eg::where(x > 0, x * x, -x), {3}, 9, 6);
    check_exact(eg::where(x >= 0, x * y, x), {0, 5}, 0, 5, 0);
    // As in PyTorch, the branch not taken gets a zero gradient, so a non-finite local derivative
    // there (sqrt'(-1) = NaN, log'(0) = inf) gives 0 * NaN or 0 * inf = NaN, in all three modes
    // (README, "Derivative conventions"); a finite one contributes exactly nothing.
    check_exact(eg::where(x > 0, eg::sqrt(x), -x), {-1}, 1, qnan);
    check_exact(eg::where(x > 0, eg::log(x), x), {0}, 0, qnan);
    check_exact(eg::where(x > 0, eg::sqrt(eg::where(x > 0, x, 1.0)), -x), {-1}, 1, -1);
    // pow(x, y) at x = 0 with y < 0: d/dy is not masked (PyTorch): -inf.
    check_exact(eg::pow(x, y), {0, -1}, inf, -inf, -inf);
    // sqrt'(0) = +inf.
    check_exact(eg::sqrt(x), {0}, 0, inf);
    // log of a negative number is NaN (no exception); its derivative is still 1/x (PyTorch).
    check_exact(eg::log(x), {-1}, qnan, -1);
    check_exact(eg::log(x), {0}, -inf, inf);
    // pow(x, y): d/dy is 0 where x == 0 (not 0 * -inf), d/dx is 0 where y == 0.
    check_exact(eg::pow(x, y), {0, 2}, 0, 0, 0);
    check_exact(eg::pow(x, y), {0, 3}, 0, 0, 0);
    check_exact(eg::pow(x, y), {0, 0}, 1, 0, 0);
    check_exact(eg::pow(x, y), {3, 0}, 1, 0, std::log(3.0));
    check_exact(eg::pow(x, y), {0, 1}, 0, 1, 0);
    check_exact(eg::pow(x, y), {0, 0.5}, 0, inf, 0);
    check_exact(eg::pow(x, y), {2, 1}, 2, 1, 2 * std::log(2.0));
}

TEST_CASE("ops: check_grad on compositions", "[ops][check_grad]") {
    static_assert(eg::check_grad(eg::log(eg::sigmoid(x * y)), x = 0.7, y = -1.3));
    CHECK(eg::check_grad(eg::log(eg::sigmoid(x * y)), x = 0.7, y = -1.3));
    CHECK(eg::check_grad(eg::sin(x * x) + eg::exp(y) / x, x = 2.0, y = 1.0));
    CHECK(eg::check_grad(eg::atan2(y, x) * eg::sqrt(x * x + y * y), x = -0.4, y = 1.7));
    CHECK(eg::check_grad(eg::softplus(x - y) * eg::tanh(y) + eg::erf(x * y), x = 0.3, y = -0.8));
    CHECK(eg::check_grad(eg::pow(x, y) + eg::log1p(eg::expm1(y) * x), x = 1.3, y = 0.6));
    CHECK(eg::check_grad(eg::asin(x / 2) * eg::acos(y / 3) + eg::atan(x * y), x = 0.5, y = -1.1));
    CHECK(eg::check_grad(eg::cbrt(x) * eg::cosh(y) - eg::sinh(x) / eg::cos(y) + eg::tan(x - y), x = 0.9, y = 0.2));
    CHECK(eg::check_grad(eg::max(x, y) * eg::min(x, y * y) + eg::relu(x) * eg::abs(y), x = 0.9, y = -1.2));
    CHECK(eg::check_grad(eg::where(x > y, eg::square(x - y), eg::pow(y - x, eg::c<3>)), x = 0.2, y = 1.4));
    CHECK(eg::check_grad(-eg::pow(x * z, eg::c<-2>) + z / (x + y), x = 1.2, y = 0.4, z = -2.0));
    // And it fails for a wrong derivative (a custom function whose rule is off by a factor 2).
    CHECK_FALSE(eg::check_grad(eg::function<wrong_cube>(x) * y, x = 0.7, y = 1.5));
    const auto r = eg::check_grad(eg::function<wrong_cube>(x), x = 1.0);
    CHECK(r.max_abs_error == Approx(3.0).epsilon(1e-6));
    // With explicit options.
    CHECK(eg::check_grad(eg::exp(x * y), eg::grad_check_options{1e-7, 1e-6, 1e-5}, x = 0.25, y = 2.0));
}
