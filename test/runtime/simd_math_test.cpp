// The data loops' batch kernels (etgrad/simd.hpp, detail::num::batch_math) against <cmath>, in ulp:
// pseudo-random points over every binade and the usual ranges, with the lanes of a batch all
// different, and the edges (±0, denormals, thresholds, ±inf, NaN) where the answer must be <cmath>'s
// bits. The README's accuracy table gives these figures (ETGRAD_ULP_TABLE=1 prints them); both
// SIMD widths run it (GCC: this machine's, AVX-512 here; Clang: SSE2).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <etgrad/etgrad.hpp>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace eg = etgrad;

namespace {
template <class T>
using kernels = eg::detail::num::batch_math<eg::simd_batch<T>>;

template <class T>
double ulp_distance(T a, T b) {
    if (a != a || b != b) {
        return (a != a && b != b) ? 0.0 : std::numeric_limits<double>::infinity();
    }
    if (a == b) {
        return std::signbit(a) == std::signbit(b) ? 0.0 : std::numeric_limits<double>::infinity();
    }
    if (std::isinf(a) || std::isinf(b)) {
        return std::numeric_limits<double>::infinity();
    }
    using I = std::conditional_t<sizeof(T) == 8, std::int64_t, std::int32_t>;
    I ia = 0, ib = 0;
    std::memcpy(&ia, &a, sizeof a);
    std::memcpy(&ib, &b, sizeof b);
    const long double oa = ia < 0 ? -static_cast<long double>(ia & std::numeric_limits<I>::max()) : ia;
    const long double ob = ib < 0 ? -static_cast<long double>(ib & std::numeric_limits<I>::max()) : ib;
    return static_cast<double>(oa > ob ? oa - ob : ob - oa);
}

struct row {
    std::string fn, range;
    double max_ulp;
};
std::vector<row>& table() {
    static std::vector<row> t;
    return t;
}

/// Evaluates the batch kernel f over xs (a whole batch at a time; the last batch padded with xs's
/// first values) and compares each lane with g (<cmath>).
template <class T, class F, class G>
void measure(const std::string& fn, const char* range, const std::vector<T>& xs, F f, G g, double bound) {
    using B = eg::simd_batch<T>;
    constexpr std::size_t w = B::size;
    double worst = 0;
    T at = 0, got = 0;
    alignas(64) T in[w];
    alignas(64) T out[w];
    for (std::size_t i = 0; i < xs.size(); i += w) {
        for (std::size_t j = 0; j < w; ++j) {
            in[j] = xs[(i + j) % xs.size()];
        }
        f(B::load_aligned(in)).store_aligned(out);
        for (std::size_t j = 0; j < w; ++j) {
            const double e = ulp_distance<T>(out[j], g(in[j]));
            if (e > worst || std::isnan(e)) {
                worst = e;
                at = in[j];
                got = out[j];
            }
        }
    }
    const std::string name = fn + (sizeof(T) == 4 ? " (float)" : "");
    table().push_back({name, range, worst});
    INFO(name << " over " << range << " (" << eg::simd_arch_name() << "): max " << worst << " ulp at x = "
              << std::hexfloat << at << std::defaultfloat << " (" << at << "): batch " << got << ", <cmath> " << g(at));
    CHECK(worst <= bound);
}
/// Two arguments: pairs (a[i], b[i]).
template <class T, class F, class G>
void measure2(const std::string& fn, const char* range, const std::vector<T>& as, const std::vector<T>& bs, F f, G g,
              double bound) {
    using B = eg::simd_batch<T>;
    constexpr std::size_t w = B::size;
    double worst = 0;
    T at = 0, bt = 0, got = 0;
    alignas(64) T ia[w];
    alignas(64) T ib[w];
    alignas(64) T out[w];
    for (std::size_t i = 0; i < as.size(); i += w) {
        for (std::size_t j = 0; j < w; ++j) {
            ia[j] = as[(i + j) % as.size()];
            ib[j] = bs[(i + j) % as.size()];
        }
        f(B::load_aligned(ia), B::load_aligned(ib)).store_aligned(out);
        for (std::size_t j = 0; j < w; ++j) {
            const double e = ulp_distance<T>(out[j], g(ia[j], ib[j]));
            if (e > worst || std::isnan(e)) {
                worst = e;
                at = ia[j];
                bt = ib[j];
                got = out[j];
            }
        }
    }
    const std::string name = fn + (sizeof(T) == 4 ? " (float)" : "");
    table().push_back({name, range, worst});
    INFO(name << " over " << range << " (" << eg::simd_arch_name() << "): max " << worst << " ulp at (" << at << ", "
              << bt << "): batch " << got << ", <cmath> " << g(at, bt));
    CHECK(worst <= bound);
}

template <class T>
std::vector<T> uniform(double lo, double hi, std::size_t n, unsigned seed) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<T> v(n);
    for (T& e : v) {
        e = static_cast<T>(d(gen));
    }
    return v;
}
/// |x| log-uniform in [2^lo, 2^hi), random signs when both.
template <class T>
std::vector<T> binades(int lo, int hi, std::size_t n, unsigned seed, bool both = false) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<T> v(n);
    for (std::size_t i = 0; i < n; ++i) {
        const double e = d(gen);
        T m = static_cast<T>(std::ldexp(std::exp2(e - std::floor(e)), static_cast<int>(std::floor(e))));
        if (m == 0) {
            m = std::numeric_limits<T>::denorm_min();
        }
        v[i] = (both && (gen() & 1u)) ? -m : m;
    }
    return v;
}
template <class T>
std::vector<T> edges() {
    using L = std::numeric_limits<T>;
    std::vector<T> pos = {T(0),     L::denorm_min(), L::min(),  T(1e-30), T(0.5),   T(0.84375), T(1),
                          T(2),     T(6),            T(20),     T(30),    T(87.3),  T(88.72),   T(88.73),
                          T(103.9), L::max(),        L::infinity()};
    if constexpr (sizeof(T) == 8) {
        for (double v : {1e-310, 1e-300, 708.0, 709.5, 709.78, 709.79, 710.0, 745.13, 745.2, 750.0, 1e5, 1e22, 1e300}) {
            pos.push_back(v);
        }
    }
    std::vector<T> v;
    for (T p : pos) {
        v.push_back(p);
        v.push_back(-p);
    }
    v.push_back(L::quiet_NaN());
    return v;
}
/// The doubles (floats) nearest k π/2, k = 1 .. n: zeros of cos, poles of tan.
template <class T>
std::vector<T> near_half_pi(int n) {
    std::vector<T> v;
    for (int k = 1; k <= n; ++k) {
        v.push_back(static_cast<T>(static_cast<long double>(k) * 1.57079632679489661923132169163975144L));
        v.push_back(-v.back());
    }
    return v;
}

/// k π/2 + d: 1 <= k < 63000, |d| log-uniform in [2^-30, 2^-2], both signs.
template <class T>
std::vector<T> near_half_pi_plus(std::size_t n) {
    std::mt19937_64 gen(14);
    std::uniform_real_distribution<double> e(-30, -2);
    std::vector<T> v(n);
    for (T& x : v) {
        const long double k = static_cast<long double>(1 + gen() % 63000);
        const double d = std::exp2(e(gen)) * ((gen() & 1u) ? 1 : -1);
        x = static_cast<T>(k * 1.57079632679489661923132169163975144L + d);
    }
    return v;
}

#define ETGRAD_K(F) [](const auto& b) { return kernels<T>::F(b); }
#define ETGRAD_S(F) [](T v) { return std::F(v); }

// The stated bounds (README): the largest distance measured in either SIMD width, for double and
// float. Lanes outside a kernel's domain are <cmath>'s (0 ulp); at the edges the answer must be
// <cmath>'s where that is ±0, ±inf or NaN (ulp_distance is infinite otherwise), and within the
// bound where the edge list has ordinary values (1, 0.5, ...).
template <class T>
void run_all() {
    constexpr bool dbl = sizeof(T) == 8;
    constexpr std::size_t n = 40000;
    const int lo = dbl ? -1074 : -149, hi = dbl ? 1024 : 128;
    const std::vector<T> e = edges<T>();
    const std::vector<T> all = binades<T>(lo, hi, n, 1, true);
    const std::vector<T> pos = binades<T>(lo, hi, n, 2);
    const std::vector<T> tiny = binades<T>(lo, -20, n, 3, true);
    const std::vector<T> expr = dbl ? uniform<T>(-745.2, 709.8, n, 4) : uniform<T>(-103.9, 88.7, n, 4);
    const std::vector<T> unit = uniform<T>(-1, 1, n, 5);
    const std::vector<T> ten = uniform<T>(-10, 10, n, 6);
    const std::vector<T> hyp = dbl ? uniform<T>(-710.4, 710.4, n, 7) : uniform<T>(-89.4, 89.4, n, 7);
    const std::vector<T> erfr = uniform<T>(-6.5, 6.5, n, 8);
    const std::vector<T> big = binades<T>(-20, dbl ? 1023 : 127, n, 9, true);
    measure<T>("exp", "exp's range", expr, ETGRAD_K(exp), ETGRAD_S(exp), 1);
    measure<T>("exp", "edges", e, ETGRAD_K(exp), ETGRAD_S(exp), 1);
    measure<T>("exp", "tiny", tiny, ETGRAD_K(exp), ETGRAD_S(exp), 1);
    measure<T>("expm1", "exp's range", expr, ETGRAD_K(expm1), ETGRAD_S(expm1), 2);
    measure<T>("expm1", "tiny", tiny, ETGRAD_K(expm1), ETGRAD_S(expm1), 1);
    measure<T>("expm1", "edges", e, ETGRAD_K(expm1), ETGRAD_S(expm1), 2);
    measure<T>("log", "every binade, denormals too", pos, ETGRAD_K(log), ETGRAD_S(log), 1);
    measure<T>("log", "edges", e, ETGRAD_K(log), ETGRAD_S(log), 1);
    measure<T>("log1p", "every binade", pos, ETGRAD_K(log1p), ETGRAD_S(log1p), 1);
    measure<T>("log1p", "(-1, 1)", unit, ETGRAD_K(log1p), ETGRAD_S(log1p), 1);
    measure<T>("log1p", "edges", e, ETGRAD_K(log1p), ETGRAD_S(log1p), 1);
    measure<T>("sqrt", "every binade", pos, ETGRAD_K(sqrt), ETGRAD_S(sqrt), 0);
    measure<T>("cbrt", "every binade, both signs", all, ETGRAD_K(cbrt), ETGRAD_S(cbrt), 3);
    measure<T>("cbrt", "edges", e, ETGRAD_K(cbrt), ETGRAD_S(cbrt), 3);
    measure<T>("sin", "[-10, 10]", ten, ETGRAD_K(sin), ETGRAD_S(sin), 2);
    measure<T>("cos", "[-10, 10]", ten, ETGRAD_K(cos), ETGRAD_S(cos), 2);
    measure<T>("tan", "[-10, 10]", ten, ETGRAD_K(tan), ETGRAD_S(tan), 2);
    measure<T>("sin", "\\|x\\| in [2⁻²⁰, max] (beyond 1e5 (1e4): <cmath>)", big, ETGRAD_K(sin), ETGRAD_S(sin), 2);
    measure<T>("cos", "\\|x\\| in [2⁻²⁰, max] (beyond 1e5 (1e4): <cmath>)", big, ETGRAD_K(cos), ETGRAD_S(cos), 2);
    measure<T>("tan", "\\|x\\| in [2⁻²⁰, max] (beyond 1e5 (1e4): <cmath>)", big, ETGRAD_K(tan), ETGRAD_S(tan), 2);
    measure<T>("cos", "the nearest to k π/2, k ≤ 2000", near_half_pi<T>(2000), ETGRAD_K(cos), ETGRAD_S(cos), 2);
    measure<T>("tan", "the nearest to k π/2, k ≤ 2000", near_half_pi<T>(2000), ETGRAD_K(tan), ETGRAD_S(tan), 2);
    measure<T>("sin", "the nearest to k π/2, k ≤ 2000", near_half_pi<T>(2000), ETGRAD_K(sin), ETGRAD_S(sin), 2);
    const std::vector<T> nz = near_half_pi_plus<T>(n);
    measure<T>("sin", "k π/2 + d, \\|k π/2\\| ≤ 1e5, \\|d\\| in [2⁻³⁰, 2⁻²]", nz, ETGRAD_K(sin), ETGRAD_S(sin), 2);
    measure<T>("cos", "k π/2 + d, \\|k π/2\\| ≤ 1e5, \\|d\\| in [2⁻³⁰, 2⁻²]", nz, ETGRAD_K(cos), ETGRAD_S(cos), 2);
    measure<T>("tan", "k π/2 + d, \\|k π/2\\| ≤ 1e5, \\|d\\| in [2⁻³⁰, 2⁻²]", nz, ETGRAD_K(tan), ETGRAD_S(tan), 3);
    measure<T>("sin", "edges", e, ETGRAD_K(sin), ETGRAD_S(sin), 2);
    measure<T>("asin", "[-1, 1]", unit, ETGRAD_K(asin), ETGRAD_S(asin), 2);
    measure<T>("acos", "[-1, 1]", unit, ETGRAD_K(acos), ETGRAD_S(acos), 2);
    measure<T>("atan", "every binade, both signs", all, ETGRAD_K(atan), ETGRAD_S(atan), 2);
    measure<T>("atan", "[-1, 1]", unit, ETGRAD_K(atan), ETGRAD_S(atan), 2);
    measure<T>("sinh", "sinh's range", hyp, ETGRAD_K(sinh), ETGRAD_S(sinh), 3);
    measure<T>("cosh", "cosh's range", hyp, ETGRAD_K(cosh), ETGRAD_S(cosh), 3);
    measure<T>("tanh", "[-10, 10]", ten, ETGRAD_K(tanh), ETGRAD_S(tanh), 2);
    measure<T>("sinh", "tiny", tiny, ETGRAD_K(sinh), ETGRAD_S(sinh), 1);
    measure<T>("tanh", "tiny", tiny, ETGRAD_K(tanh), ETGRAD_S(tanh), 1);
    measure<T>("erf", "[-6.5, 6.5]", erfr, ETGRAD_K(erf), ETGRAD_S(erf), dbl ? 1 : 3);
    measure<T>("erf", "[-1, 1]", unit, ETGRAD_K(erf), ETGRAD_S(erf), dbl ? 1 : 3);
    measure<T>("erf", "tiny", tiny, ETGRAD_K(erf), ETGRAD_S(erf), dbl ? 1 : 2);
    measure<T>("erf", "edges", e, ETGRAD_K(erf), ETGRAD_S(erf), dbl ? 1 : 3);
    // pow: a in [2^-40, 2^40), b in [-20, 20]; every pair of edges.
    const std::vector<T> pa = binades<T>(-40, 40, n, 10), pb = uniform<T>(-20, 20, n, 11);
    measure2<T>("pow", "a in [2^-40, 2^40), b in [-20, 20]", pa, pb,
                [](const auto& a, const auto& b) { return kernels<T>::pow(a, b); },
                [](T a, T b) { return std::pow(a, b); }, dbl ? 0 : 1);
    std::vector<T> ea, eb;
    for (T a : e) {
        for (T b : e) {
            ea.push_back(a);
            eb.push_back(b);
        }
    }
    measure2<T>("pow", "every pair of edges", ea, eb, [](const auto& a, const auto& b) { return kernels<T>::pow(a, b); },
                [](T a, T b) { return std::pow(a, b); }, dbl ? 0 : 1);
    measure2<T>("atan2", "every pair of edges", ea, eb,
                [](const auto& a, const auto& b) { return kernels<T>::atan2(a, b); },
                [](T a, T b) { return std::atan2(a, b); }, 2);
    const std::vector<T> qa = binades<T>(-300 * dbl - 30, 300 * dbl + 30, n, 12, true),
                         qb = binades<T>(-300 * dbl - 30, 300 * dbl + 30, n, 13, true);
    measure2<T>("atan2", "four quadrants, \\|y\\|, \\|x\\| in [2⁻³⁰⁰, 2³⁰⁰) (float: [2⁻³⁰, 2³⁰))", qa, qb,
                [](const auto& a, const auto& b) { return kernels<T>::atan2(a, b); },
                [](T a, T b) { return std::atan2(a, b); }, 2);
}
#undef ETGRAD_K
#undef ETGRAD_S
}  // namespace

TEST_CASE("batch kernels: within their stated ulp of <cmath>, its bits at the edges", "[simd][accuracy]") {
    run_all<double>();
    run_all<float>();
    if (std::getenv("ETGRAD_ULP_TABLE") != nullptr) {
        std::printf("batch kernels, %s:\n", eg::simd_arch_name());
        for (const row& t : table()) {
            std::printf("| `%s` | %s | %g |\n", t.fn.c_str(), t.range.c_str(), t.max_ulp);
        }
    }
}
