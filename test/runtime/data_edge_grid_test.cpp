// Issue 13: a sample's result must not depend on whether it falls in a SIMD batch or in the scalar
// tail. Every elementwise function and its gradient, in double and float, over a grid of edge values
// (±0, denormals, the smallest normal, overflow and underflow thresholds, ±inf, NaN, huge values),
// each value at every lane position and in the tail, through the data loops (value_and_grad_into;
// eval_into for the quoted cases) against the scalar call f(x = v) of the same expression
// (<cmath>). Where the scalar answer is ±0, ±inf or NaN the data loop's must be the same bits (NaN:
// any NaN; zeros: the sign too); elsewhere within the batch kernels' stated ulp
// (test/runtime/simd_math_test.cpp). Both SIMD widths run it: the GCC configuration builds for this
// machine (AVX-512 here), Clang's is SSE2.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <etgrad/etgrad.hpp>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace eg = etgrad;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;

template <class T>
double ulp_distance(T a, T b) {
    if (a != a || b != b) {
        return (a != a && b != b) ? 0.0 : std::numeric_limits<double>::infinity();
    }
    if (a == b) {
        return std::signbit(a) == std::signbit(b) ? 0.0 : std::numeric_limits<double>::infinity();
    }
    if (std::isinf(a) || std::isinf(b) || a == 0 || b == 0) {
        // 0 or inf on one side only: not a rounding difference (denormals are not 0)
        if (!(std::isinf(a) || std::isinf(b)) && std::abs(static_cast<double>(a) - static_cast<double>(b)) <=
                                                     4 * static_cast<double>(std::numeric_limits<T>::denorm_min())) {
            return std::abs(static_cast<double>(a) - static_cast<double>(b)) /
                   static_cast<double>(std::numeric_limits<T>::denorm_min());
        }
        return std::numeric_limits<double>::infinity();
    }
    using I = std::conditional_t<sizeof(T) == 8, std::int64_t, std::int32_t>;
    I ia = 0, ib = 0;
    std::memcpy(&ia, &a, sizeof a);
    std::memcpy(&ib, &b, sizeof b);
    // ordered: negative numbers below positive ones, one step per representable value
    const long double oa = ia < 0 ? -static_cast<long double>(ia & std::numeric_limits<I>::max()) : ia;
    const long double ob = ib < 0 ? -static_cast<long double>(ib & std::numeric_limits<I>::max()) : ib;
    return static_cast<double>(oa > ob ? oa - ob : ob - oa);
}

/// The data loop's answer d agrees with the scalar s: the same bits where s is ±0, ±inf or NaN,
/// else within tol ulp. Gradients (any_zero_sign): the data loops add each sample's gradient to a
/// zero, so a -0 partial is +0 there (0 + -0), in the lanes and in the tail alike.
template <class T>
bool agrees(T d, T s, double tol, bool any_zero_sign = false) {
    if (s != s) {
        return d != d;
    }
    if (s == 0 || std::isinf(s)) {
        return d == s && (any_zero_sign || std::signbit(d) == std::signbit(s));
    }
    return ulp_distance(d, s) <= tol;
}

template <class T>
std::vector<T> edge_values() {
    using L = std::numeric_limits<T>;
    std::vector<T> pos;
    if constexpr (sizeof(T) == 8) {
        pos = {0.0,    L::denorm_min(), 1e-310, L::min(), 1e-300, 1e-20, 1e-8,   0.5,    0.84375, 1.0,
               1.5707963267948966, 2.0,  3.0,    4.5,     6.0,    20.0,  30.0,   88.72,  103.97,  708.0,
               709.5,  709.78,          709.79, 710.0,    745.13, 745.2, 750.0,  1e5,    1e15,    1e22,
               1e30,   1e300,           L::max(), L::infinity()};
    } else {
        pos = {0.0f,  L::denorm_min(), 1e-40f, L::min(), 1e-20f, 1e-8f,  0.5f,  0.84375f, 1.0f,  1.5707964f,
               2.0f,  3.0f,            4.5f,   6.0f,     9.0f,   20.0f,  30.0f, 87.3f,    88.0f, 88.72f,
               88.73f, 89.4f,          103.97f, 104.0f,  1e4f,   1e10f,  1e30f, L::max(), L::infinity()};
    }
    std::vector<T> v;
    for (T p : pos) {
        v.push_back(p);
        v.push_back(-p);
    }
    v.push_back(L::quiet_NaN());
    return v;
}
/// A smaller grid for the two-argument functions (every pair is tried).
template <class T>
std::vector<T> pair_values() {
    using L = std::numeric_limits<T>;
    const T big = sizeof(T) == 8 ? T(1e300) : T(1e30);
    const T thr = sizeof(T) == 8 ? T(709.78) : T(88.72);
    std::vector<T> pos = {T(0), L::denorm_min(), L::min(), T(0.5), T(1), T(2), T(2.5), T(3), thr, big, L::max(),
                          L::infinity()};
    std::vector<T> v;
    for (T p : pos) {
        v.push_back(p);
        v.push_back(-p);
    }
    v.push_back(L::quiet_NaN());
    return v;
}

template <class T>
std::string show(T v) {
    std::ostringstream o;
    o.precision(std::numeric_limits<T>::max_digits10);
    o << v;
    return o.str();
}

/// Sample arrays: the grid after s fillers for s = 0 .. width (each value at every lane position,
/// the last ones in the tail), and each value alone (the tail only).
template <class T>
std::vector<std::vector<T>> arrangements(const std::vector<T>& g, T filler) {
    std::vector<std::vector<T>> r;
    for (std::size_t s = 0; s <= eg::simd_width<T>; ++s) {
        std::vector<T> a(s, filler);
        a.insert(a.end(), g.begin(), g.end());
        r.push_back(a);
    }
    for (T v : g) {
        r.push_back({v});
    }
    return r;
}

template <class T, class E>
void unary_grid(const char* name, const E& e, double tol, double gtol) {
    std::size_t failures = 0;
    for (const auto& xs : arrangements(edge_values<T>(), T(0.5))) {
        const std::size_t n = xs.size();
        std::vector<T> out(n), gx(n);
        eg::value_and_grad_into(out, std::tie(gx), e, eg::wrt(x), x = xs);
        for (std::size_t i = 0; i < n; ++i) {
            const T s = e(x = xs[i]);
            const auto vg = eg::value_and_grad(e, eg::wrt(x), x = xs[i]);
            const T sg = vg.grad[x];
            const bool ok = agrees(out[i], s, tol) && agrees(gx[i], sg, gtol, true);
            if (!ok && ++failures <= 8) {
                UNSCOPED_INFO(name << "(" << show(xs[i]) << "), sample " << i << " of " << n << ": data "
                                   << show(out[i]) << ", scalar " << show(s)
                                   << "; gradient data " << show(gx[i]) << ", scalar " << show(sg));
            }
        }
    }
    INFO(name << " (" << (sizeof(T) == 8 ? "double" : "float") << ", " << eg::simd_arch_name() << ")");
    CHECK(failures == 0);
}

template <class T, class E>
void binary_grid(const char* name, const E& e, double tol, double gtol) {
    const std::vector<T> g = pair_values<T>();
    std::vector<T> gy, gx0;
    for (T a : g) {
        for (T b : g) {
            gy.push_back(a);
            gx0.push_back(b);
        }
    }
    std::size_t failures = 0;
    std::vector<std::vector<T>> ya = arrangements(gy, T(0.5)), xa = arrangements(gx0, T(0.5));
    for (std::size_t k = 0; k < ya.size(); ++k) {
        const std::vector<T>& ys = ya[k];
        const std::vector<T>& xs = xa[k];
        const std::size_t n = xs.size();
        std::vector<T> out(n), gyv(n), gxv(n);
        eg::value_and_grad_into(out, std::tie(gyv, gxv), e, eg::wrt(y, x), y = ys, x = xs);
        for (std::size_t i = 0; i < n; ++i) {
            const T s = e(y = ys[i], x = xs[i]);
            const auto vg = eg::value_and_grad(e, eg::wrt(y, x), y = ys[i], x = xs[i]);
            const T sgy = vg.grad[y], sgx = vg.grad[x];
            const bool ok = agrees(out[i], s, tol) && agrees(gyv[i], sgy, gtol, true) &&
                            agrees(gxv[i], sgx, gtol, true);
            if (!ok && ++failures <= 8) {
                UNSCOPED_INFO(name << "(" << show(ys[i]) << ", " << show(xs[i]) << "), sample " << i << " of " << n
                                   << ": data " << show(out[i]) << ", scalar " << show(s)
                                   << "; gradients data " << show(gyv[i]) << ", " << show(gxv[i]) << ", scalar "
                                   << show(sgy) << ", " << show(sgx));
            }
        }
    }
    INFO(name << " (" << (sizeof(T) == 8 ? "double" : "float") << ", " << eg::simd_arch_name() << ")");
    CHECK(failures == 0);
}
}  // namespace

// Sanitizer builds (scripts/test.sh's asan: GCC at -O1 with ASan and UBSan, float-cast-overflow
// included) compile a subset, to bound their compile time: the functions whose lanes reach xsimd's
// exp and its conversion to an integer (exp, sinh, tanh, erf, softplus, pow).
#if defined(__SANITIZE_ADDRESS__)
#define ETGRAD_EDGE_GRID_ALL 0
#else
#define ETGRAD_EDGE_GRID_ALL 1
#endif

// The tolerances are the batch kernels' stated bounds (README, test/runtime/simd_math_test.cpp).
// Gradients compose several kernels (1 + tan², cosh for sinh, ...): about twice the bound plus 2.
TEMPLATE_TEST_CASE("data loops at the edges: exp, log and their kin, in SIMD lanes and in the tail",
                   "[data][ieee][edges]", double, float) {
    using T = TestType;
    unary_grid<T>("exp", eg::exp(x), 1, 4);
#if ETGRAD_EDGE_GRID_ALL
    unary_grid<T>("log", eg::log(x), 1, 4);
    unary_grid<T>("log1p", eg::log1p(x), 1, 4);
    unary_grid<T>("expm1", eg::expm1(x), 2, 6);
    unary_grid<T>("sqrt", eg::sqrt(x), 0, 2);
    unary_grid<T>("cbrt", eg::cbrt(x), 3, 8);
#endif
    unary_grid<T>("sinh", eg::sinh(x), 2, 6);
#if ETGRAD_EDGE_GRID_ALL
    unary_grid<T>("cosh", eg::cosh(x), 2, 6);
#endif
    unary_grid<T>("tanh", eg::tanh(x), 2, 6);
    unary_grid<T>("erf", eg::erf(x), 3, 4);
#if ETGRAD_EDGE_GRID_ALL
    unary_grid<T>("sigmoid", eg::sigmoid(x), 2, 6);
#endif
    unary_grid<T>("softplus", eg::softplus(x), 2, 6);
}

#if ETGRAD_EDGE_GRID_ALL
TEMPLATE_TEST_CASE("data loops at the edges: trigonometric functions, in SIMD lanes and in the tail",
                   "[data][ieee][edges]", double, float) {
    using T = TestType;
    unary_grid<T>("sin", eg::sin(x), 2, 8);
    unary_grid<T>("cos", eg::cos(x), 2, 6);
    unary_grid<T>("tan", eg::tan(x), 3, 8);
    unary_grid<T>("asin", eg::asin(x), 2, 6);
    unary_grid<T>("acos", eg::acos(x), 2, 6);
    unary_grid<T>("atan", eg::atan(x), 2, 6);
}
#endif

TEMPLATE_TEST_CASE("data loops at the edges: powers, abs, relu, in SIMD lanes and in the tail", "[data][ieee][edges]",
                   double, float) {
    using T = TestType;
    unary_grid<T>("pow(x, 1/2)", eg::pow(x, eg::c<1, 2>), 1, 4);
#if ETGRAD_EDGE_GRID_ALL
    unary_grid<T>("pow(x, -1/3)", eg::pow(x, eg::c<-1, 3>), 1, 4);
    unary_grid<T>("pow(x, 2.5)", eg::pow(x, 2.5), 1, 4);
    unary_grid<T>("square", eg::square(x), 0, 0);
    unary_grid<T>("pow(x, -3)", eg::pow(x, eg::c<-3>), 1, 4);
    unary_grid<T>("abs", eg::abs(x), 0, 0);
    unary_grid<T>("relu", eg::relu(x), 0, 0);
#endif
}

TEMPLATE_TEST_CASE("data loops at the edges: pow, atan2, max, min over every pair, in SIMD lanes and in the tail",
                   "[data][ieee][edges]", double, float) {
    using T = TestType;
    binary_grid<T>("pow", eg::pow(y, x), 1, 4);
#if ETGRAD_EDGE_GRID_ALL
    binary_grid<T>("atan2", eg::atan2(y, x), 2, 6);
    binary_grid<T>("max", eg::max(y, x), 0, 0);
    binary_grid<T>("min", eg::min(y, x), 0, 0);
#endif
}

TEST_CASE("data loops at the edges: the quoted cases of issue 13", "[data][ieee][edges]") {
    const double inf = std::numeric_limits<double>::infinity();
    const std::size_t w = eg::simd_width<double>;
    // n samples of the case: all in SIMD batches (n = 2w), then a copy in the tail (n = 2w + 1)
    auto pw = [&](double a, double b) {
        std::vector<double> as(2 * w + 1, a), bs(2 * w + 1, b), out(2 * w + 1);
        eg::eval_into(out, eg::pow(y, x), y = as, x = bs);
        return out;
    };
    // the scalar answers computed at run time (a compiler folds std::cbrt(1e-310) correctly
    // rounded, 1 ulp from glibc's)
    auto rt = [](double v) {
        volatile double r = v;
        return static_cast<double>(r);
    };
    auto un = [&](auto e, double v) {
        std::vector<double> vs(2 * w + 1, v), out(2 * w + 1);
        eg::eval_into(out, e, x = vs);
        return out;
    };
    for (double r : pw(0, 0)) CHECK(r == 1);
    for (double r : pw(0, -1)) CHECK(r == inf);
    for (double r : pw(1, inf)) CHECK(r == 1);
    for (double r : pw(2.2e-308, 1)) CHECK(r == 2.2e-308);
    for (double r : un(eg::atan2(eg::c<0>, x), 0.0)) CHECK((r == 0 && !std::signbit(r)));
    for (double r : un(eg::atan2(eg::c<0>, x), -0.0)) CHECK(r == std::atan2(rt(0.0), rt(-0.0)));
    for (double r : un(eg::atan2(x, x), inf)) CHECK(r == std::atan2(rt(inf), rt(inf)));
    for (double r : un(eg::exp(x), 709.5)) CHECK(r == std::exp(rt(709.5)));
    for (double r : un(eg::log(x), 1e-310)) CHECK(r == std::log(rt(1e-310)));
    for (double r : un(eg::cbrt(x), 1e-310)) CHECK(r == std::cbrt(rt(1e-310)));
    for (double r : un(eg::erf(x), 1e300)) CHECK(r == 1);
    for (double r : un(eg::erf(x), 0.5)) CHECK(ulp_distance(r, std::erf(rt(0.5))) <= 1);
    std::vector<double> zs(2 * w + 1, 0.0), g(2 * w + 1), o(2 * w + 1);
    eg::value_and_grad_into(o, std::tie(g), eg::pow(x, eg::c<1, 2>), eg::wrt(x), x = zs);
    for (double r : g) CHECK(r == inf);
    const std::size_t wf = eg::simd_width<float>;
    std::vector<float> fs(2 * wf + 1, -88.0f), fo(2 * wf + 1);
    eg::eval_into(fo, eg::exp(x), x = fs);
    for (float r : fo) CHECK(r == std::exp(static_cast<float>(rt(-88.0))));
}
