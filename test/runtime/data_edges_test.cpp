// Issue 13: data loops at the IEEE edges. Every case runs at several lengths and with the special
// samples at every lane position, so that they fall in SIMD batches and in the scalar tail.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <etgrad/etgrad.hpp>
#include <limits>
#include <random>
#include <vector>

namespace eg = etgrad;

namespace {
constexpr auto x = eg::var<"x">;

template <class T>
bool is_nan(T v) {
    return v != v;
}
template <class T>
bool rel_close(T a, double b, double rel) {
    return std::abs(static_cast<double>(a) - b) <= rel * std::abs(b);
}

// Lengths: only the tail, one batch, batches and tail, several blocks with a tail.
constexpr std::size_t lengths[] = {3, 8, 19, 37, 70, 4099};

// prod over n samples of 1 with `a` at position p and `b` at position p + 1 (mod n).
template <class T>
std::vector<T> two_factors(std::size_t n, std::size_t p, T a, T b) {
    std::vector<T> xs(n, T(1));
    xs[p % n] = a;
    xs[(p + 1) % n] = b;
    return xs;
}
}  // namespace

TEST_CASE("prod over data: NaN and inf propagate, 0 * inf is NaN, in lanes and in the tail", "[data][ieee]") {
    const double qnan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    for (std::size_t n : lengths) {
        for (std::size_t p = 0; p < 17; ++p) {
            INFO("n = " << n << ", position " << p);
            std::vector<double> gx(n);
            auto xs = two_factors(n, p, 2.0, qnan);
            xs[(p + 2) % n] = 3.0;
            auto r1 = eg::value_and_grad(eg::prod(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
            CHECK(is_nan(r1.value));
            CHECK(is_nan(gx[p % n]));
            xs = two_factors(n, p, 2.0, inf);
            CHECK(eg::prod(x)(x = eg::data(xs)) == inf);
            xs = two_factors(n, p, -2.0, inf);
            CHECK(eg::prod(x)(x = eg::data(xs)) == -inf);
            xs = two_factors(n, p, 0.0, inf);
            CHECK(is_nan(eg::prod(x)(x = eg::data(xs))));
            xs = two_factors(n, p, 0.0, qnan);
            CHECK(is_nan(eg::prod(x)(x = eg::data(xs))));
            auto r2 = eg::value_and_grad(eg::prod(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
            CHECK(is_nan(r2.value));
            CHECK(is_nan(gx[(p + 1) % n]));
            // a zero alone still gives 0, and the zero's gradient the product of the others
            xs = two_factors(n, p, 0.0, 5.0);
            auto r3 = eg::value_and_grad(eg::prod(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
            CHECK(r3.value == 0.0);
            CHECK(gx[p % n] == 5.0);
            CHECK(gx[(p + 1) % n] == 0.0);
        }
    }
}

TEST_CASE("prod over data: denormal and huge factors keep full precision", "[data][ieee]") {
    for (std::size_t n : lengths) {
        for (std::size_t p = 0; p < 17; ++p) {
            INFO("n = " << n << ", position " << p);
            std::vector<double> gx(n);
            auto xs = two_factors(n, p, 1e-310, 1e300);
            auto r = eg::value_and_grad(eg::prod(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
            CHECK(rel_close(r.value, 1e-10, 1e-13));
            CHECK(rel_close(gx[p % n], 1e300, 1e-13));
            CHECK(rel_close(gx[(p + 1) % n], 1e-310, 1e-9));  // a denormal: ~14 significant bits fewer
            CHECK(rel_close(gx[(p + 2) % n], 1e-10, 1e-13));
            xs = two_factors(n, p, 4.9406564584124654e-324, 0x1p1000);
            CHECK(rel_close(eg::prod(x)(x = eg::data(xs)), 0x1p-74, 1e-15));
            // float: 1e-40f is a denormal
            std::vector<float> fgx(n);
            auto fs = two_factors(n, p, 1e-40f, 1e30f);
            const double expect = static_cast<double>(1e-40f) * static_cast<double>(1e30f);
            auto rf = eg::value_and_grad(eg::prod(x), eg::wrt(x), x = eg::data(fs).grad_into(fgx));
            CHECK(rel_close(rf.value, expect, 1e-6));
            CHECK(rel_close(fgx[p % n], 1e30, 1e-6));
            fs = two_factors(n, p, 2.0f, std::numeric_limits<float>::quiet_NaN());
            CHECK(is_nan(eg::prod(x)(x = eg::data(fs))));
            fs = two_factors(n, p, 0.0f, std::numeric_limits<float>::infinity());
            CHECK(is_nan(eg::prod(x)(x = eg::data(fs))));
        }
    }
}

TEST_CASE("prod over float data: 10^6 factors near 1 are not biased", "[data][ieee]") {
    // float lanes lost about 4e-10 per factor, always downwards (-4e-4 for 10^6 factors)
    for (unsigned seed = 1; seed <= 4; ++seed) {
        std::mt19937_64 gen(seed);
        std::uniform_real_distribution<float> u(0.999f, 1.001f);
        std::vector<float> xs(1'000'003), gx(xs.size());
        long double pr = 1;
        for (auto& v : xs) {
            v = u(gen);
            pr *= v;
        }
        auto r = eg::value_and_grad(eg::prod(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
        INFO("seed " << seed << ": " << r.value << " vs " << static_cast<double>(pr));
        CHECK(rel_close(r.value, static_cast<double>(pr), 2e-7));  // the float result's rounding
        CHECK(rel_close(gx[12345], static_cast<double>(pr / xs[12345]), 2e-7));
        CHECK(rel_close(gx.back(), static_cast<double>(pr / xs.back()), 2e-7));
    }
}

TEST_CASE("logsumexp over data: NaN propagates to the value and the gradient, in lanes and in the tail",
          "[data][ieee]") {
    const double qnan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    CHECK(is_nan(eg::logsumexp(x)(x = qnan)));  // the scalar path
    for (std::size_t n : {1u, 2u, 3u, 8u, 19u, 37u, 70u, 4099u}) {
        for (std::size_t p = 0; p < std::min<std::size_t>(n, 17); ++p) {
            INFO("n = " << n << ", NaN at " << p);
            std::vector<double> xs(n, 1.0), gx(n);
            xs[p] = qnan;
            auto r = eg::value_and_grad(eg::logsumexp(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
            CHECK(is_nan(r.value));
            CHECK(is_nan(gx[0]));
            CHECK(is_nan(gx[n - 1]));
            std::vector<float> fs(n, 1.0f), fgx(n);
            fs[p] = std::numeric_limits<float>::quiet_NaN();
            auto rf = eg::value_and_grad(eg::logsumexp(x), eg::wrt(x), x = eg::data(fs).grad_into(fgx));
            CHECK(is_nan(rf.value));
            CHECK(is_nan(fgx[n - 1]));
            // -inf samples add nothing, +inf gives inf, a NaN after an inf still gives NaN
            xs.assign(n, -inf);
            xs[p] = 2.0;
            auto r2 = eg::value_and_grad(eg::logsumexp(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
            CHECK(r2.value == 2.0);
            CHECK(gx[p] == 1.0);
            CHECK(gx[(p + 1) % n] == (n == 1 ? 1.0 : 0.0));
            xs.assign(n, 0.0);
            xs[p] = inf;
            CHECK(eg::logsumexp(x)(x = eg::data(xs)) == inf);
            if (n > 1) {
                xs[(p + 1) % n] = qnan;
                CHECK(is_nan(eg::logsumexp(x)(x = eg::data(xs))));
            }
            // finite data unchanged: log(n) + 1
            xs.assign(n, 1.0);
            CHECK(rel_close(eg::logsumexp(x)(x = eg::data(xs)), 1.0 + std::log(static_cast<double>(n)), 1e-14));
        }
    }
}

TEST_CASE("logsumexp over data: a running maximum that rises, slowly or far, in double and float", "[data][ieee]") {
    // A lane's maximum may lag behind its samples (the sum then holds terms above 1) up to a bound
    // beyond which the maximum moves; both sides of it, rising ramps (a new maximum in every batch)
    // and random spreads of several hundred, against long double.
    // (tol_g is relative to the value's size: g = exp(x - l) inherits l's absolute rounding error)
    auto check = [](const auto& xs, double tol_v, double tol_g0) {
        using T = std::decay_t<decltype(xs[0])>;
        long double m = -INFINITY;
        for (T v : xs) {
            m = std::max<long double>(m, v);
        }
        long double s = 0;
        for (T v : xs) {
            s += std::exp(static_cast<long double>(v) - m);
        }
        const long double l = m + std::log(s);
        const double tol_g = tol_g0 * std::max(1.0, std::abs(static_cast<double>(l)));
        std::vector<T> gx(xs.size());
        auto r = eg::value_and_grad(eg::logsumexp(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
        CHECK(rel_close(r.value, static_cast<double>(l), tol_v));
        CHECK(rel_close(eg::logsumexp(x)(x = eg::data(xs)), static_cast<double>(l), tol_v));
        double gsum = 0;
        for (std::size_t i = 0; i < xs.size(); i += 97) {
            const long double gi = std::exp(static_cast<long double>(xs[i]) - l);
            if (gi > 1e-30L) {
                CHECK(rel_close(gx[i], static_cast<double>(gi), tol_g));
            }
        }
        for (T g : gx) {
            gsum += g;
        }
        INFO("gsum " << gsum << " value " << r.value << " ref " << static_cast<double>(l));
        CHECK(rel_close(gsum, 1.0, tol_g));
    };
    for (std::size_t n : {5u, 61u, 2048u, 5000u, 70001u}) {
        INFO("n = " << n);
        for (double step : {1e-3, 0.05, 1.0, 37.0}) {  // ramps: the maximum rises by step per sample
            INFO("step " << step);
            std::vector<double> up(n), down(n);
            for (std::size_t i = 0; i < n; ++i) {
                up[i] = -30.0 + step * static_cast<double>(i % 4000);
                down[i] = -up[i];
            }
            check(up, 1e-13, 1e-11);
            check(down, 1e-13, 1e-11);
            std::vector<float> fup(n);
            for (std::size_t i = 0; i < n; ++i) {
                fup[i] = static_cast<float>(-3.0 + step * 1e-2 * static_cast<double>(i % 4000));
            }
            check(fup, 1e-6, 2e-4);
        }
        std::mt19937_64 gen(n);
        for (double spread : {10.0, 290.0, 310.0, 700.0}) {
            INFO("spread " << spread);
            std::uniform_real_distribution<double> u(-spread, spread);
            std::vector<double> xs(n);
            for (auto& v : xs) {
                v = u(gen);
            }
            check(xs, 1e-13, 1e-11);
            std::vector<float> fs(n);
            for (auto& v : fs) {
                v = static_cast<float>(u(gen) * 0.12);  // +-84 at most: float's exp range
            }
            check(fs, 1e-6, 2e-4);
        }
    }
}

TEST_CASE("sum and mean over float data keep double accuracy, in lanes and in the tail", "[data]") {
    // float lanes within a block were 1e-6 (AVX-512) to 4e-6 (SSE2) low for n times 0.1f; now the
    // lanes are double and the float result is the double sum rounded once (to 2^-24 relative)
    const double once = 0x1p-24;
    for (std::size_t n : {7u, 15u, 31u, 2049u, (1u << 20) + 3u}) {
        INFO("n = " << n);
        std::vector<float> xs(n, 0.1f);
        const double exact = static_cast<double>(n) * static_cast<double>(0.1f);
        const float s = eg::sum(x)(x = eg::data(xs));
        CHECK(rel_close(s, exact, once));
        CHECK(s == static_cast<float>(exact));
        const float m = eg::mean(x)(x = eg::data(xs));
        CHECK(rel_close(m, static_cast<double>(0.1f), once));
        // a sum of a data expression: the same accuracy
        const float s2 = eg::sum(3.0f * x)(x = eg::data(xs));
        CHECK(rel_close(s2, static_cast<double>(3.0f * 0.1f) * static_cast<double>(n), once));
    }
}
