// Accuracy of etgrad's constexpr elementary functions (etgrad::detail::cx, used while
// constant-evaluating) against <cmath>, measured in ulp at run time (they are constexpr, hence
// callable): dense grids, a deterministic pseudo-random sample spanning the binades, and the edges
// (+-0, denormals, +-inf, NaN, huge arguments, overflow and underflow thresholds, special cases).
// Set ETGRAD_ULP_TABLE=1 to print the measured maxima (the table in README.md).
#include <etgrad/detail/cmath.hpp>

#include <catch2/catch.hpp>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

namespace cx = etgrad::detail::cx;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
constexpr double dmin = std::numeric_limits<double>::denorm_min();
constexpr double dmax = std::numeric_limits<double>::max();

/// Distance in units in the last place (representable numbers between a and b); 0 for two NaNs,
/// infinite for NaN against a number; +0 and -0 are the same point here (signs of zeros are
/// checked separately, exactly).
template <class T>
double ulp_distance(T a, T b) {
    if (std::isnan(a) || std::isnan(b)) {
        return std::isnan(a) && std::isnan(b) ? 0.0 : inf;
    }
    if (a == b) {
        return 0.0;
    }
    // Order-preserving keys of the bit patterns (negatives reversed below the positives).
    using U = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
    constexpr U sign = U{1} << (8 * sizeof(T) - 1);
    auto key = [](T v) {
        const U u = std::bit_cast<U>(v);
        return (u & sign) != 0 ? static_cast<U>(~u) : static_cast<U>(u | sign);
    };
    const U ka = key(a), kb = key(b);
    return static_cast<double>(ka > kb ? ka - kb : kb - ka);
}

/// A deterministic generator (splitmix64).
struct rng {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }  // [0, 1)
    /// |x| log-uniform over the binades [2^e0, 2^e1), random sign if signed_.
    double binades(int e0, int e1, bool signed_ = true) {
        const double m = 1.0 + uniform();
        const int e = e0 + static_cast<int>(next() % static_cast<std::uint64_t>(e1 - e0));
        const double v = std::ldexp(m, e);
        return signed_ && (next() & 1u) != 0 ? -v : v;
    }
};

std::vector<double> grid(double lo, double hi, int n) {
    std::vector<double> v;
    for (int i = 0; i <= n; ++i) {
        v.push_back(lo + (hi - lo) * i / n);
    }
    return v;
}

struct row {
    std::string fn, range;
    double max_ulp;
};
std::vector<row>& table() {
    static std::vector<row> t;
    return t;
}

/// The largest ulp distance of f from g over xs; checks it against bound (and records it).
template <class T, class F, class G>
void measure(const char* fn, const char* range, const std::vector<T>& xs, F f, G g, double bound) {
    double worst = 0;
    T at = 0;
    for (T x : xs) {
        const double e = ulp_distance<T>(f(x), g(x));
        if (e > worst || std::isnan(e)) {
            worst = e;
            at = x;
        }
    }
    table().push_back({fn, range, worst});
    INFO(fn << " over " << range << ": max " << worst << " ulp at x = " << std::hexfloat << at << std::defaultfloat
            << " (" << at << "): cx " << f(at) << ", <cmath> " << g(at));
    CHECK(worst <= bound);
}

/// f and g agree exactly, including the sign of a zero and NaN for NaN.
template <class T>
bool same(T a, T b) {
    if (std::isnan(a) || std::isnan(b)) {
        return std::isnan(a) && std::isnan(b);
    }
    return a == b && std::signbit(a) == std::signbit(b);
}

#define ETGRAD_CX(F) [](auto v) { return cx::F(v); }
#define ETGRAD_STD(F) [](auto v) { return std::F(v); }

constexpr double bound = 4;  // the stated bound (ulp against <cmath>), every function

}  // namespace

TEST_CASE("cx: exp, expm1 against <cmath>", "[cmath][accuracy]") {
    rng r{1};
    std::vector<double> xs = grid(-745.2, 709.8, 40000);
    for (int i = 0; i < 20000; ++i) {
        xs.push_back(-746 + 1456 * r.uniform());
        xs.push_back(r.binades(-1074, 10));
    }
    measure("exp", "[-745.2, 709.8] and |x| in [2^-1074, 2^10)", xs, ETGRAD_CX(exp), ETGRAD_STD(exp), bound);

    std::vector<double> ys = grid(-40, 709.78, 40000);
    for (int i = 0; i < 20000; ++i) {
        ys.push_back(r.binades(-1074, 0));
        ys.push_back(-50 + 760 * r.uniform());
    }
    measure("expm1", "[-40, 709.78] and |x| in [2^-1074, 1)", ys, ETGRAD_CX(expm1), ETGRAD_STD(expm1), bound);

    // Edges: overflow (the largest finite result and the first infinite one), underflow to the
    // denormals and to 0, +-0, +-inf, NaN.
    for (double x : {709.782712893383973096, 709.78271289338400, 710.0, 1e6, -708.3964185322641, -745.1332191019411,
                     -745.1332191019412, -746.0, -1e6, 0.0, -0.0, dmin, -dmin, inf, -inf, qnan}) {
        INFO("x = " << std::hexfloat << x);
        CHECK(ulp_distance(cx::exp(x), std::exp(x)) <= bound);
        CHECK(ulp_distance(cx::expm1(x), std::expm1(x)) <= bound);
    }
    CHECK(same(cx::expm1(-0.0), -0.0));
    CHECK(same(cx::expm1(-inf), -1.0));
    CHECK(same(cx::exp(-inf), 0.0));
}

TEST_CASE("cx: log, log1p against <cmath>", "[cmath][accuracy]") {
    rng r{2};
    std::vector<double> xs = grid(0.5, 2.0, 40000);
    for (int i = 0; i < 40000; ++i) {
        xs.push_back(r.binades(-1074, 1024, false));
    }
    measure("log", "(0, DBL_MAX], all binades (denormals too)", xs, ETGRAD_CX(log), ETGRAD_STD(log), bound);

    std::vector<double> ys = grid(-0.999, 10, 40000);
    for (int i = 0; i < 40000; ++i) {
        ys.push_back(r.binades(-1074, -1));
        ys.push_back(r.binades(-1, 1024, false));
    }
    measure("log1p", "(-1, DBL_MAX], |x| down to 2^-1074", ys, ETGRAD_CX(log1p), ETGRAD_STD(log1p), bound);

    for (double x : {0.0, -0.0, -1.0, -dmin, dmin, 1.0, dmax, inf, -inf, qnan, -1.0 + 0x1p-53, -1.5}) {
        INFO("x = " << std::hexfloat << x);
        CHECK(same(cx::log(x), std::log(x)));
        CHECK(ulp_distance(cx::log1p(x), std::log1p(x)) <= bound);
    }
    CHECK(same(cx::log1p(-0.0), -0.0));
    CHECK(same(cx::log1p(-1.0), -inf));
    CHECK(std::isnan(cx::log1p(-2.0)));
}

TEST_CASE("cx: sqrt, cbrt against <cmath>", "[cmath][accuracy]") {
    rng r{3};
    std::vector<double> xs;
    for (int i = 0; i < 40000; ++i) {
        xs.push_back(r.binades(-1074, 1024, false));
    }
    measure("sqrt", "[2^-1074, DBL_MAX]", xs, ETGRAD_CX(sqrt), ETGRAD_STD(sqrt), 1);
    for (double& x : xs) {
        x = (r.next() & 1u) != 0 ? -x : x;
    }
    measure("cbrt", "+-[2^-1074, DBL_MAX]", xs, ETGRAD_CX(cbrt), ETGRAD_STD(cbrt), bound);
    for (double x : {0.0, -0.0, inf, -inf, qnan, -1.0}) {
        INFO("x = " << std::hexfloat << x);
        CHECK(same(cx::sqrt(x), std::sqrt(x)));
        CHECK(same(cx::cbrt(x), std::cbrt(x)));
    }
    // Rounded from long double, sqrt can be 1 ulp off where the result is close to a midpoint:
    // sqrt(DBL_MAX) (cx: 2^512, correctly rounded: 2^512 - 1 ulp).
    for (double x : {dmin, dmax, 2.0, 0.5}) {
        INFO("x = " << std::hexfloat << x);
        CHECK(ulp_distance(cx::sqrt(x), std::sqrt(x)) <= 1);
        CHECK(ulp_distance(cx::cbrt(x), std::cbrt(x)) <= bound);
        CHECK(ulp_distance(cx::cbrt(-x), std::cbrt(-x)) <= bound);
    }
    CHECK(cx::cbrt(dmin) == 0x1p-358);  // exact (glibc: 1 ulp below)
}

TEST_CASE("cx: sin, cos, tan against <cmath>, huge arguments included", "[cmath][accuracy]") {
    rng r{4};
    std::vector<double> small = grid(-10, 10, 40000);
    for (int i = 0; i < 20000; ++i) {
        small.push_back(r.binades(-1074, 4));
    }
    std::vector<double> huge;
    for (int i = 0; i < 40000; ++i) {
        huge.push_back(r.binades(4, 1024));
    }
    // Hard cases of argument reduction: multiples of pi/2 in double, 1e6, 1e15, 1e22, 1e300, DBL_MAX.
    for (double x : {1.5707963267948966, 3.141592653589793, 4.71238898038469, 1e6, 1e15,
                     1e22, 1e300, dmax, 0x1p1023, 1e-300, dmin, 355.0, 103993.0, 2.0 * 1.5707963267948966e10}) {
        huge.push_back(x);
        huge.push_back(-x);
    }
    measure("sin", "[-10, 10] and |x| in [2^-1074, 16)", small, ETGRAD_CX(sin), ETGRAD_STD(sin), bound);
    measure("cos", "[-10, 10] and |x| in [2^-1074, 16)", small, ETGRAD_CX(cos), ETGRAD_STD(cos), bound);
    measure("tan", "[-10, 10] and |x| in [2^-1074, 16)", small, ETGRAD_CX(tan), ETGRAD_STD(tan), bound);
    measure("sin", "|x| in [16, DBL_MAX] (and 1e6, 1e15, 1e22, 1e300, hard cases)", huge, ETGRAD_CX(sin),
            ETGRAD_STD(sin), bound);
    measure("cos", "|x| in [16, DBL_MAX] (and 1e6, 1e15, 1e22, 1e300, hard cases)", huge, ETGRAD_CX(cos),
            ETGRAD_STD(cos), bound);
    measure("tan", "|x| in [16, DBL_MAX] (and 1e6, 1e15, 1e22, 1e300, hard cases)", huge, ETGRAD_CX(tan),
            ETGRAD_STD(tan), bound);
    // The double closest to a multiple of pi/2, 6381956970095103 * 2^797 = q pi/2 + r with
    // r = 4.687165924254628e-19 and q = 1 mod 4. The correctly rounded results below come from a
    // 2000-bit integer computation of r; glibc's cos and tan are 8 and 14 ulp away from them here,
    // so this point is checked against those values rather than against <cmath>.
    constexpr double hard = 0x1.6ac5b262ca1ffp+849;
    CHECK(cx::cos(hard) == -0x1.14ae72e6ba22fp-61);
    CHECK(cx::cos(-hard) == -0x1.14ae72e6ba22fp-61);
    CHECK(cx::tan(hard) == -0x1.d9ba9a7975636p+60);
    CHECK(cx::tan(-hard) == 0x1.d9ba9a7975636p+60);
    CHECK(cx::sin(hard) == 1.0);
    CHECK(cx::sin(-hard) == -1.0);
    for (double x : {0.0, -0.0, dmin, -dmin, inf, -inf, qnan}) {
        INFO("x = " << std::hexfloat << x);
        CHECK(same(cx::sin(x), std::sin(x)));
        CHECK(same(cx::cos(x), std::cos(x)));
        CHECK(same(cx::tan(x), std::tan(x)));
    }
}

TEST_CASE("cx: asin, acos, atan, atan2 against <cmath>", "[cmath][accuracy]") {
    rng r{5};
    std::vector<double> xs = grid(-1, 1, 40000);
    for (int i = 0; i < 20000; ++i) {
        xs.push_back(r.binades(-1074, 0));
        const double near_one = 1.0 - std::ldexp(1.0 + r.uniform(), -static_cast<int>(2 + r.next() % 50));
        xs.push_back((r.next() & 1u) != 0 ? near_one : -near_one);
    }
    measure("asin", "[-1, 1], near +-1 and tiny", xs, ETGRAD_CX(asin), ETGRAD_STD(asin), bound);
    measure("acos", "[-1, 1], near +-1 and tiny", xs, ETGRAD_CX(acos), ETGRAD_STD(acos), bound);
    std::vector<double> ts = grid(-20, 20, 40000);
    for (int i = 0; i < 40000; ++i) {
        ts.push_back(r.binades(-1074, 1024));
    }
    measure("atan", "+-[2^-1074, DBL_MAX]", ts, ETGRAD_CX(atan), ETGRAD_STD(atan), bound);

    // atan2 over the four quadrants: y and x of random signs and magnitudes 2^-300 ... 2^300.
    std::vector<std::pair<double, double>> ps;
    for (int i = 0; i < 60000; ++i) {
        ps.emplace_back(r.binades(-300, 300), r.binades(-300, 300));
    }
    double worst = 0;
    for (auto [y, x] : ps) {
        worst = std::max(worst, ulp_distance(cx::atan2(y, x), std::atan2(y, x)));
    }
    table().push_back({"atan2", "four quadrants, |y|, |x| in [2^-300, 2^300)", worst});
    CHECK(worst <= bound);

    for (double x : {1.0, -1.0, 0.0, -0.0, dmin, -dmin, 1.0 + 0x1p-52, -2.0, inf, -inf, qnan}) {
        INFO("x = " << std::hexfloat << x);
        CHECK(ulp_distance(cx::asin(x), std::asin(x)) <= bound);
        CHECK(ulp_distance(cx::acos(x), std::acos(x)) <= bound);
        CHECK(ulp_distance(cx::atan(x), std::atan(x)) <= bound);
    }
    CHECK(same(cx::asin(-0.0), -0.0));
    CHECK(same(cx::atan(-0.0), -0.0));
    // atan2 at every combination of special values: the same value, the same sign of zero.
    const double sp[] = {0.0, -0.0, 1.0, -1.0, dmin, -dmin, 1e300, -1e300, inf, -inf, qnan};
    for (double y : sp) {
        for (double x : sp) {
            INFO("atan2(" << y << ", " << x << "): cx " << cx::atan2(y, x) << ", <cmath> " << std::atan2(y, x));
            CHECK(ulp_distance(cx::atan2(y, x), std::atan2(y, x)) <= bound);
            CHECK(std::signbit(cx::atan2(y, x)) == std::signbit(std::atan2(y, x)));
        }
    }
}

TEST_CASE("cx: sinh, cosh, tanh against <cmath>", "[cmath][accuracy]") {
    rng r{6};
    std::vector<double> xs = grid(-710.4, 710.4, 40000);
    for (int i = 0; i < 20000; ++i) {
        xs.push_back(r.binades(-1074, 10));
        xs.push_back(-711 + 1422 * r.uniform());
    }
    measure("sinh", "[-710.4, 710.4] and |x| in [2^-1074, 2^10)", xs, ETGRAD_CX(sinh), ETGRAD_STD(sinh), bound);
    measure("cosh", "[-710.4, 710.4] and |x| in [2^-1074, 2^10)", xs, ETGRAD_CX(cosh), ETGRAD_STD(cosh), bound);
    measure("tanh", "[-710.4, 710.4] and |x| in [2^-1074, 2^10)", xs, ETGRAD_CX(tanh), ETGRAD_STD(tanh), bound);
    for (double x : {0.0, -0.0, dmin, -dmin, 710.4758600739439, 710.476, -710.476, 1e300, inf, -inf, qnan}) {
        INFO("x = " << std::hexfloat << x);
        CHECK(same(cx::sinh(x), std::sinh(x)));
        CHECK(same(cx::cosh(x), std::cosh(x)));
        CHECK(same(cx::tanh(x), std::tanh(x)));
    }
}

TEST_CASE("cx: erf against <cmath>, tails included", "[cmath][accuracy]") {
    rng r{7};
    std::vector<double> xs = grid(-6.5, 6.5, 60000);
    for (int i = 0; i < 20000; ++i) {
        xs.push_back(r.binades(-1074, 6));
    }
    measure("erf", "[-6.5, 6.5] and |x| in [2^-1074, 64)", xs, ETGRAD_CX(erf), ETGRAD_STD(erf), bound);
    for (double x : {0.0, -0.0, dmin, -dmin, 2.5, 5.9, 6.0, 27.0, 1e300, inf, -inf, qnan}) {
        INFO("x = " << std::hexfloat << x);
        CHECK(same(cx::erf(x), std::erf(x)));
    }
}

TEST_CASE("cx: pow against <cmath>, special cases exactly", "[cmath][accuracy]") {
    rng r{8};
    std::vector<std::pair<double, double>> ps;
    for (int i = 0; i < 60000; ++i) {
        const double a = r.binades(-40, 40, false);
        const double b = -20 + 40 * r.uniform();
        ps.emplace_back(a, b);
        // integer exponents of negative bases, and results near overflow and underflow
        ps.emplace_back(-r.binades(-8, 8, false), static_cast<double>(static_cast<int>(-60 + r.next() % 121)));
        const double big = 1.0 + r.uniform();
        ps.emplace_back(big, (r.next() & 1u ? 1.0 : -1.0) * (1020.0 * (1 + r.uniform()) / std::log2(big)));
    }
    double worst = 0;
    std::pair<double, double> at{};
    for (auto [a, b] : ps) {
        const double e = ulp_distance(cx::pow(a, b), std::pow(a, b));
        if (e > worst) {
            worst = e;
            at = {a, b};
        }
    }
    table().push_back({"pow", "a in [2^-40, 2^40), b in [-20, 20]; a < 0 with integer b; results near overflow",
                       worst});
    INFO("worst at pow(" << std::hexfloat << at.first << ", " << at.second << ")");
    CHECK(worst <= bound);

    const double sp[] = {0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 2.5, -2.5, dmin, 1e300, -1e300,
                         inf, -inf, qnan, 0x1p53 + 2, -(0x1p53 + 2)};
    for (double a : sp) {
        for (double b : sp) {
            INFO("pow(" << a << ", " << b << "): cx " << cx::pow(a, b) << ", <cmath> " << std::pow(a, b));
            CHECK(ulp_distance(cx::pow(a, b), std::pow(a, b)) <= bound);
            CHECK((std::isnan(std::pow(a, b)) || std::signbit(cx::pow(a, b)) == std::signbit(std::pow(a, b))));
        }
    }
}

TEST_CASE("cx: float arguments", "[cmath][accuracy][float]") {
    rng r{9};
    std::vector<float> pos, any, unit, small;
    for (int i = 0; i < 20000; ++i) {
        pos.push_back(static_cast<float>(r.binades(-149, 128, false)));
        any.push_back(static_cast<float>(r.binades(-149, 128)));
        unit.push_back(static_cast<float>(-1 + 2 * r.uniform()));
        small.push_back(static_cast<float>(-88 + 176 * r.uniform()));
    }
    // Float paths round a long double result once (correctly rounded but for double rounding);
    // glibc's float functions are themselves up to 2 ulp off (tanhf at -0x1.b8c00ep-2: cx is
    // correctly rounded there, glibc 2 ulp away).
    const double fb = 2;
    measure<float>("exp (float)", "[-88, 88]", small, ETGRAD_CX(exp), ETGRAD_STD(exp), fb);
    measure<float>("expm1 (float)", "[-88, 88]", small, ETGRAD_CX(expm1), ETGRAD_STD(expm1), fb);
    measure<float>("log (float)", "(0, FLT_MAX]", pos, ETGRAD_CX(log), ETGRAD_STD(log), fb);
    measure<float>("log1p (float)", "(0, FLT_MAX]", pos, ETGRAD_CX(log1p), ETGRAD_STD(log1p), fb);
    measure<float>("sqrt (float)", "(0, FLT_MAX]", pos, ETGRAD_CX(sqrt), ETGRAD_STD(sqrt), fb);
    measure<float>("cbrt (float)", "+-FLT range", any, ETGRAD_CX(cbrt), ETGRAD_STD(cbrt), fb);
    measure<float>("sin (float)", "+-FLT range", any, ETGRAD_CX(sin), ETGRAD_STD(sin), fb);
    measure<float>("cos (float)", "+-FLT range", any, ETGRAD_CX(cos), ETGRAD_STD(cos), fb);
    measure<float>("tan (float)", "+-FLT range", any, ETGRAD_CX(tan), ETGRAD_STD(tan), fb);
    measure<float>("asin (float)", "[-1, 1]", unit, ETGRAD_CX(asin), ETGRAD_STD(asin), fb);
    measure<float>("acos (float)", "[-1, 1]", unit, ETGRAD_CX(acos), ETGRAD_STD(acos), fb);
    measure<float>("atan (float)", "+-FLT range", any, ETGRAD_CX(atan), ETGRAD_STD(atan), fb);
    measure<float>("sinh (float)", "[-88, 88]", small, ETGRAD_CX(sinh), ETGRAD_STD(sinh), fb);
    measure<float>("cosh (float)", "[-88, 88]", small, ETGRAD_CX(cosh), ETGRAD_STD(cosh), fb);
    measure<float>("tanh (float)", "[-88, 88]", small, ETGRAD_CX(tanh), ETGRAD_STD(tanh), fb);
    measure<float>("erf (float)", "[-88, 88]", small, ETGRAD_CX(erf), ETGRAD_STD(erf), fb);
}

TEST_CASE("cx: the measured table", "[cmath][accuracy][!mayfail]") {
    if (std::getenv("ETGRAD_ULP_TABLE") != nullptr) {
        for (const row& t : table()) {
            std::printf("| `%s` | %s | %g |\n", t.fn.c_str(), t.range.c_str(), t.max_ulp);
        }
    }
    SUCCEED();
}
