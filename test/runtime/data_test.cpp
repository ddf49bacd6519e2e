// Data loops: every result against the scalar reverse mode of the core applied sample by sample
// and summed in long double; lengths 0..67 and 1'000'003, offsets, float and double, nested and
// non-linear reductions, data gradients, elementwise outputs, errors that write nothing, pass
// counts (stated and counted), and threads giving bit-identical results.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstring>
#include <etgrad/etgrad.hpp>
#include <random>
#include <span>
#include <tuple>
#include <thread>
#include <vector>

namespace eg = etgrad;

namespace {
constexpr auto w = eg::var<"w">;
constexpr auto b = eg::var<"b">;
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;

template <class T>
struct dataset {
    std::vector<T> xs, ys;
};
template <class T>
dataset<T> make_data(std::size_t n, unsigned seed = 7) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> cg(5.0, 9.0), u(0.0, 1.0);
    dataset<T> d;
    for (std::size_t i = 0; i < n; ++i) {
        double c = cg(gen);
        d.xs.push_back(static_cast<T>(c));
        d.ys.push_back(static_cast<T>(u(gen) < 1.0 / (1.0 + std::exp(-(1.2 * c - 8.0))) ? 1.0 : 0.0));
    }
    return d;
}

// The scalar core, sample by sample: sum over i of value_and_grad(f, wrt(w, b), w, b, x_i, y_i).
struct ref3 {
    long double v = 0, gw = 0, gb = 0;
};
template <class F, class T>
ref3 per_sample_sum(const F& f, double wv, double bv, const std::vector<T>& xs, const std::vector<T>& ys) {
    ref3 r;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        auto [v, g] = eg::value_and_grad(f, eg::wrt(w, b), w = wv, b = bv, x = static_cast<double>(xs[i]),
                                         y = static_cast<double>(ys[i]));
        r.v += v;
        r.gw += g[w];
        r.gb += g[b];
    }
    return r;
}

// Relative tolerance against long double sums: double data keeps ~1e-13 over 10^6 samples; float
// data is rounded per sample (~6e-8 each) and accumulated in double.
template <class T>
constexpr double tol = std::is_same_v<T, float> ? 2e-5 : 1e-11;

bool close(long double got, long double want, double rel, double abs_floor = 1e-12) {
    long double err = std::fabs(got - want);
    return err <= rel * std::fabs(want) + abs_floor;
}

constexpr auto p = eg::sigmoid(w * x + b);
constexpr auto bce = -(y * eg::log(p) + (1 - y) * eg::log(1 - p));
}  // namespace

TEMPLATE_TEST_CASE("logistic regression: the hand-derived gradient, every length 1..67", "[data]", double, float) {
    using T = TestType;
    auto d = make_data<T>(67 + 1);
    for (std::size_t n = 1; n <= 67; ++n) {
        // offset by one element: unaligned data
        std::span<const T> xs(d.xs.data() + 1, n), ys(d.ys.data() + 1, n);
        auto [L, g] = eg::value_and_grad(eg::mean(bce), eg::wrt(w, b), w = 0.1, b = -0.5, x = xs, y = ys);
        long double l = 0, gw = 0, gb = 0;
        for (std::size_t i = 0; i < n; ++i) {
            long double xi = xs[i], yi = ys[i];
            long double pi = 1.0L / (1.0L + std::exp(-(0.1L * xi - 0.5L)));
            l += -(yi * std::log(pi) + (1 - yi) * std::log(1 - pi));
            gw += (pi - yi) * xi;
            gb += pi - yi;
        }
        INFO("n = " << n);
        static_assert(std::is_same_v<decltype(L), T>);
        CHECK(close(L, l / n, tol<T>));
        CHECK(close(g[w], gw / n, tol<T>));
        CHECK(close(g[b], gb / n, tol<T>));
    }
}

TEST_CASE("logistic regression over 1'000'003 samples equals the per-sample core", "[data]") {
    auto d = make_data<double>(1'000'003, 11);
    auto [L, g] = eg::value_and_grad(eg::mean(bce) + 0.01 * (w * w), eg::wrt(w, b), w = 1.1, b = -8.0, x = d.xs,
                                     y = d.ys);
    ref3 r = per_sample_sum(bce, 1.1, -8.0, d.xs, d.ys);
    long double n = d.xs.size();
    CHECK(close(L, r.v / n + 0.01L * 1.1L * 1.1L, 1e-12));
    CHECK(close(g[w], r.gw / n + 0.02L * 1.1L, 1e-11));
    CHECK(close(g[b], r.gb / n, 1e-11));
}

TEMPLATE_TEST_CASE("reduced expressions equal the per-sample core", "[data]", double, float) {
    using T = TestType;
    for (std::size_t n : {1u, 3u, 8u, 17u, 64u, 1000u, 4099u}) {
        auto d = make_data<T>(n, static_cast<unsigned>(n));
        INFO("n = " << n);
        auto check = [&](const auto& f, const char* what) {
            INFO(what);
            auto [v, g] = eg::value_and_grad(eg::sum(f), eg::wrt(w, b), w = 0.3, b = -0.7, x = d.xs, y = d.ys);
            ref3 r = per_sample_sum(f, 0.3, -0.7, d.xs, d.ys);
            CHECK(close(v, r.v, tol<T>, 1e-9));
            CHECK(close(g[w], r.gw, tol<T>, 1e-9));
            CHECK(close(g[b], r.gb, tol<T>, 1e-9));
        };
        check(w * x + b, "affine");
        check(bce, "binary cross-entropy");
        check(eg::exp(w * x) * eg::sin(b * y) + eg::tanh(x * b), "transcendental");
        check(eg::where(x > 6.5, x * w, b * y), "where");
        check(eg::pow(eg::abs(w * x + b), 1.5) + eg::max(w * x, b), "pow, abs, max");
        check(w * w + b, "no data inside: N copies");
    }
}

TEST_CASE("non-linear functions of reductions, two reductions, nested reductions", "[data]") {
    auto d = make_data<double>(1001, 3);
    const auto& xs = d.xs;
    const auto& ys = d.ys;
    const long double n = xs.size();
    const double wv = 0.25, bv = -1.5;
    SECTION("log(sum(exp(w x + b))) and logsumexp agree with each other and the closed form") {
        long double m = -1e300;
        for (double xi : xs) {
            m = std::max<long double>(m, wv * xi + bv);
        }
        long double s = 0, sx = 0;
        for (double xi : xs) {
            long double e = std::exp(wv * xi + bv - m);
            s += e;
            sx += e * xi;
        }
        long double lse = m + std::log(s);
        auto [v1, g1] = eg::value_and_grad(eg::log(eg::sum(eg::exp(w * x + b))), eg::wrt(w, b), w = wv, b = bv, x = xs);
        auto [v2, g2] = eg::value_and_grad(eg::logsumexp(w * x + b), eg::wrt(w, b), w = wv, b = bv, x = xs);
        CHECK(close(v1, lse, 1e-13));
        CHECK(close(v2, lse, 1e-13));
        CHECK(close(g1[w], sx / s, 1e-12));
        CHECK(close(g2[w], sx / s, 1e-12));
        CHECK(close(g1[b], 1.0L, 1e-12));
        CHECK(close(g2[b], 1.0L, 1e-12));
    }
    SECTION("a product of two sums") {
        long double sx = 0, sy = 0;
        for (std::size_t i = 0; i < xs.size(); ++i) {
            sx += xs[i];
            sy += ys[i];
        }
        auto [v, g] = eg::value_and_grad(eg::sum(w * x) * eg::sum(b * y), eg::wrt(w, b), w = wv, b = bv, x = xs, y = ys);
        CHECK(close(v, wv * sx * bv * sy, 1e-13));
        CHECK(close(g[w], sx * bv * sy, 1e-13));
        CHECK(close(g[b], wv * sx * sy, 1e-13));
    }
    SECTION("the variance of w x: mean((w x - mean(w x))^2)") {
        long double mx = 0;
        for (double xi : xs) {
            mx += xi;
        }
        mx /= n;
        long double var = 0;
        for (double xi : xs) {
            var += (xi - mx) * (xi - mx);
        }
        var /= n;
        auto wx = w * x;
        auto variance = eg::mean(eg::square(wx - eg::mean(wx)));
        std::vector<double> gx(xs.size());
        auto [v, g] = eg::value_and_grad(variance, eg::wrt(w, x), w = wv, x = eg::data(xs).grad_into(gx));
        CHECK(close(v, wv * wv * var, 1e-12));
        CHECK(close(g[w], 2 * wv * var, 1e-11));
        // d var / d x_i = 2 w^2 (x_i - mean) / n
        for (std::size_t i = 0; i < xs.size(); i += 97) {
            CHECK(close(gx[i], 2 * wv * wv * (xs[i] - mx) / n, 1e-10, 1e-15));
        }
        CHECK(eg::data_passes(variance, eg::wrt(w, x), w = wv, x = eg::data(xs).grad_into(gx)) == 3);
    }
}

TEST_CASE("gradients with respect to data: prod stays exact at zeros, logsumexp gives softmax", "[data]") {
    for (std::size_t n : {1u, 2u, 5u, 9u, 31u, 67u, 1000u}) {
        INFO("n = " << n);
        std::vector<double> xs(n);
        std::mt19937_64 gen(n);
        std::uniform_real_distribution<double> u(0.5, 1.5);
        for (auto& v : xs) {
            v = u(gen);
        }
        auto others = [&](std::size_t i) {
            long double pr = 1;
            for (std::size_t j = 0; j < n; ++j) {
                pr *= j == i ? 1.0L : xs[j];
            }
            return pr;
        };
        std::vector<double> gx(n, -1.0);
        auto [v, g] = eg::value_and_grad(eg::prod(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
        CHECK(close(v, others(n) /* all */, 1e-13));
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(close(gx[i], others(i), 1e-12));
        }
        CHECK(g[x].data() == gx.data());
        // one zero: that sample's gradient is the product of the others, every other one is 0
        xs[n / 2] = 0.0;
        auto [v0, g0] = eg::value_and_grad(eg::prod(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
        CHECK(v0 == 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            if (i == n / 2) {
                CHECK(close(gx[i], others(i), 1e-12));
            } else {
                CHECK(gx[i] == 0.0);
            }
        }
        if (n >= 2) {
            xs[0] = 0.0;
            xs[n - 1] = 0.0;
            eg::value_and_grad(eg::prod(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
            for (double gi : gx) {
                CHECK(gi == 0.0);
            }
        }
        // softmax
        for (auto& v2 : xs) {
            v2 = u(gen) * 10.0;
        }
        long double m = *std::max_element(xs.begin(), xs.end()), s = 0;
        for (double xi : xs) {
            s += std::exp(xi - m);
        }
        auto [l, gl] = eg::value_and_grad(eg::logsumexp(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
        CHECK(close(l, m + std::log(s), 1e-13));
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(close(gx[i], std::exp(xs[i] - m) / s, 1e-12, 1e-300));
        }
        // sum(x * x): 2x, in float too
        std::vector<float> xf(xs.begin(), xs.end()), gf(n);
        eg::value_and_grad(eg::sum(x * x), eg::wrt(x), x = eg::data(xf).grad_into(gf));
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(gf[i] == 2.0f * xf[i]);
        }
    }
}

TEST_CASE("logsumexp is stable at large and -inf inputs", "[data]") {
    std::vector<double> xs{1000.0, 1000.0, -std::numeric_limits<double>::infinity(), 999.0};
    for (int rep = 0; rep < 5; ++rep) {  // several batches and a tail whatever the width
        xs.insert(xs.end(), {1000.0, -std::numeric_limits<double>::infinity()});
    }
    long double s = 0;
    for (double v : xs) {
        s += std::exp(static_cast<long double>(v) - 1000.0L);
    }
    std::vector<double> gx(xs.size());
    auto [l, g] = eg::value_and_grad(eg::logsumexp(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
    CHECK(close(l, 1000.0L + std::log(s), 1e-15));
    for (std::size_t i = 0; i < xs.size(); ++i) {
        CHECK(close(gx[i], std::exp(static_cast<long double>(xs[i]) - 1000.0L) / s, 1e-13, 1e-300));
    }
    std::vector<double> all_neg_inf(9, -std::numeric_limits<double>::infinity());
    CHECK(eg::logsumexp(x)(x = all_neg_inf) == -std::numeric_limits<double>::infinity());
}

TEMPLATE_TEST_CASE("elementwise: eval_into and value_and_grad_into equal the per-sample core", "[data]", double,
                   float) {
    using T = TestType;
    constexpr auto S = eg::var<"S">;
    constexpr auto sigma = eg::var<"sigma">;
    constexpr auto r = eg::var<"r">;
    constexpr auto tau = eg::var<"tau">;
    const auto srt = sigma * eg::sqrt(tau);
    const auto d1 = (eg::log(S / 100.0) + (r + 0.5 * sigma * sigma) * tau) / srt;
    const auto d2 = d1 - srt;
    const auto ncdf = [](const auto& z) { return 0.5 * (1.0 + eg::erf(z * 0.7071067811865476)); };
    const auto call = S * ncdf(d1) - 100.0 * eg::exp(-r * tau) * ncdf(d2);
    for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 33u, 67u, 1000u}) {
        INFO("n = " << n);
        std::vector<T> spots(n + 1), vols(n + 1);
        for (std::size_t i = 0; i <= n; ++i) {
            spots[i] = static_cast<T>(80.0 + 0.5 * static_cast<double>(i % 80));
            vols[i] = static_cast<T>(0.1 + 0.003 * static_cast<double>(i % 100));
        }
        std::span<const T> sp(spots.data() + 1, n), vo(vols.data() + 1, n);  // offset by one
        std::vector<T> price(n), delta(n), vega(n), rho(n), theta(n);
        eg::value_and_grad_into(price, std::tie(delta, vega, rho, theta), call, eg::wrt(S, sigma, r, tau), S = sp,
                                sigma = vo, r = 0.02, tau = 0.75);
        std::vector<T> price2(n);
        eg::eval_into(price2, call, S = sp, sigma = vo, r = 0.02, tau = 0.75);
        for (std::size_t i = 0; i < n; ++i) {
            auto [v, g] = eg::value_and_grad(call, eg::wrt(S, sigma, r, tau), S = static_cast<double>(sp[i]),
                                             sigma = static_cast<double>(vo[i]), r = 0.02, tau = 0.75);
            double t = std::is_same_v<T, float> ? 2e-5 : 1e-13;
            CHECK(close(price[i], v, t, t));
            CHECK(close(price2[i], v, t, t));
            CHECK(close(delta[i], g[S], t, t));
            CHECK(close(vega[i], g[sigma], t, t));
            CHECK(close(rho[i], g[r], t, t));
            CHECK(close(theta[i], g[tau], t, t));
        }
    }
}

TEST_CASE("eval_into with a reduction inside: softmax", "[data]") {
    std::vector<double> xs{1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.5, -3.0};
    std::vector<double> out(xs.size());
    eg::eval_into(out, eg::exp(x - eg::logsumexp(x)), x = xs);
    long double s = 0;
    for (double v : xs) {
        s += std::exp(static_cast<long double>(v));
    }
    long double tot = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        CHECK(close(out[i], std::exp(static_cast<long double>(xs[i])) / s, 1e-14, 1e-300));
        tot += out[i];
    }
    CHECK(close(tot, 1.0L, 1e-14));
}

TEST_CASE("errors: mismatched lengths and sizes throw before anything is written", "[data]") {
    std::vector<double> xs(10, 1.0), ys(9, 1.0), out(10, 42.0), gx(10, 42.0), gshort(9, 42.0);
    const std::vector<double> out0 = out, gx0 = gx;
    try {
        eg::value_and_grad(eg::mean(w * x + y), eg::wrt(w), w = 1.0, x = xs, y = ys);
        FAIL("no exception");
    } catch (const std::invalid_argument& e) {
        std::string m = e.what();
        CHECK(m.find("'x'") != std::string::npos);
        CHECK(m.find("'y'") != std::string::npos);
        CHECK(m.find("10") != std::string::npos);
        CHECK(m.find("9") != std::string::npos);
    }
    CHECK_THROWS_AS(eg::value_and_grad(eg::sum(x * y), eg::wrt(x), x = eg::data(xs).grad_into(gx), y = ys),
                    std::invalid_argument);
    CHECK(gx == gx0);
    CHECK_THROWS_AS(eg::value_and_grad(eg::sum(x), eg::wrt(x), x = eg::data(xs).grad_into(gshort)),
                    std::invalid_argument);
    CHECK_THROWS_AS(eg::eval_into(out, x * y, x = xs, y = ys), std::invalid_argument);
    CHECK(out == out0);
    std::vector<double> out9(9, 42.0);
    CHECK_THROWS_AS(eg::eval_into(out9, x * w, x = xs, w = 2.0), std::invalid_argument);
    CHECK(std::all_of(out9.begin(), out9.end(), [](double v) { return v == 42.0; }));
    CHECK_THROWS_AS(eg::value_and_grad_into(out, std::tie(gx, gshort), x * w, eg::wrt(x, w), x = xs, w = 2.0),
                    std::invalid_argument);
    CHECK(out == out0);
    CHECK(gx == gx0);
    std::vector<double> empty;
    CHECK_THROWS_WITH(eg::value_and_grad(eg::mean(w * x), eg::wrt(w), w = 1.0, x = empty),
                      Catch::Contains("mean over zero samples"));
    CHECK_THROWS_WITH(eg::logsumexp(x)(x = empty), Catch::Contains("logsumexp over zero samples"));
    // sum and prod over nothing: 0 and 1, and zero gradients
    auto [s0, g0] = eg::value_and_grad(eg::sum(w * x), eg::wrt(w), w = 1.0, x = empty);
    CHECK(s0 == 0.0);
    CHECK(g0[w] == 0.0);
    CHECK(eg::prod(x)(x = empty) == 1.0);
}

namespace {
// Counts the samples it is evaluated on (a batch counts its lanes).
std::atomic<long> g_samples{0};
struct CountSamples {
    template <class U>
    static U value(const U& u) {
        if constexpr (eg::is_simd_batch<U>::value) {
            g_samples += static_cast<long>(U::size);
        } else {
            g_samples += 1;
        }
        return u;
    }
    template <class U>
    static U derivative(const U& u) {
        return u / u;
    }
};
}  // namespace

TEST_CASE("passes over the data: as documented, and counted", "[data]") {
    std::vector<double> xs(1000), gx(1000);
    for (std::size_t i = 0; i < xs.size(); ++i) {
        xs[i] = 0.5 + 0.001 * static_cast<double>(i);
    }
    const auto cx = eg::function<CountSamples>(w * x);
    auto passes = [&](const auto& f) {
        g_samples = 0;
        eg::value_and_grad(f, eg::wrt(w), w = 0.5, x = xs);
        long seen = g_samples.load();
        REQUIRE(seen % 1000 == 0);
        return static_cast<int>(seen / 1000);
    };
    // linear in its sums and means: one pass
    CHECK(eg::data_passes(eg::mean(cx) + 0.1 * w * w, eg::wrt(w), w = 0.5, x = xs) == 1);
    CHECK(passes(eg::mean(cx) + 0.1 * w * w) == 1);
    CHECK(eg::data_passes(3.0 * eg::sum(cx) - eg::mean(x), eg::wrt(w), w = 0.5, x = xs) == 1);
    CHECK(passes(3.0 * eg::sum(cx) - eg::mean(x)) == 1);
    CHECK(passes(w * eg::sum(cx)) == 2);  // d/dw reads the sum: its value first
    // a non-linear function of a reduction, a prod, a logsumexp: two
    CHECK(eg::data_passes(eg::log(eg::sum(cx)), eg::wrt(w), w = 0.5, x = xs) == 2);
    CHECK(passes(eg::log(eg::sum(cx))) == 2);
    CHECK(passes(eg::sum(cx) * eg::sum(cx)) == 2);
    CHECK(passes(eg::prod(cx)) == 2);
    CHECK(passes(eg::logsumexp(cx)) == 2);
    // nested: 2S - 1 with a linear root, 2S otherwise
    CHECK(eg::data_passes(eg::mean(eg::square(cx - eg::mean(cx))), eg::wrt(w), w = 0.5, x = xs) == 3);
    CHECK(passes(eg::mean(eg::square(cx - eg::mean(cx)))) == 3);
    CHECK(eg::data_passes(eg::sqrt(eg::mean(eg::square(cx - eg::mean(cx)))), eg::wrt(w), w = 0.5, x = xs) == 4);
    CHECK(passes(eg::sqrt(eg::mean(eg::square(cx - eg::mean(cx))))) == 4);
}

TEST_CASE("threads: bit-identical results for any thread count", "[data][par]") {
    auto d = make_data<double>(100'003, 5);
    std::vector<double> gx1(d.xs.size()), gxn(d.xs.size());
    const auto loss = eg::mean(bce) + eg::logsumexp(w * x) * 1e-3;
    auto seq = eg::value_and_grad(loss, eg::wrt(w, b, x), w = 0.9, b = -6.0, x = eg::data(d.xs).grad_into(gx1), y = d.ys);
    for (unsigned t : {1u, 2u, 3u, 8u}) {
        INFO("threads = " << t);
        auto r = eg::value_and_grad(eg::par(t), loss, eg::wrt(w, b, x), w = 0.9, b = -6.0,
                                    x = eg::data(d.xs).grad_into(gxn), y = d.ys);
        CHECK(std::memcmp(&r.value, &seq.value, sizeof(double)) == 0);
        CHECK(std::memcmp(&r.grad[w], &seq.grad[w], sizeof(double)) == 0);
        CHECK(std::memcmp(&r.grad[b], &seq.grad[b], sizeof(double)) == 0);
        CHECK(std::memcmp(gxn.data(), gx1.data(), gx1.size() * sizeof(double)) == 0);
    }
    std::vector<double> o1(d.xs.size()), on(d.xs.size());
    eg::eval_into(o1, p, w = 0.9, b = -6.0, x = d.xs);
    eg::eval_into(eg::par, on, p, w = 0.9, b = -6.0, x = d.xs);
    CHECK(std::memcmp(o1.data(), on.data(), o1.size() * sizeof(double)) == 0);
}

TEST_CASE("threads: the pool kept across calls serves repeated and concurrent callers", "[data][par]") {
    auto d = make_data<double>(50'001, 6);
    const auto loss = eg::mean(bce);
    auto seq = eg::value_and_grad(loss, eg::wrt(w, b), w = 0.9, b = -6.0, x = d.xs, y = d.ys);
    // Repeated calls with growing and shrinking thread counts reuse (and grow) one pool.
    for (unsigned t : {2u, 4u, 2u, 3u, 1u, 4u}) {
        auto r = eg::value_and_grad(eg::par(t), loss, eg::wrt(w, b), w = 0.9, b = -6.0, x = d.xs, y = d.ys);
        CHECK(std::memcmp(&r.grad[w], &seq.grad[w], sizeof(double)) == 0);
    }
    // Callers on four threads at once: one gets the pool, the others run alone; all agree bitwise.
    std::vector<double> got(4 * 25);
    std::vector<std::thread> callers;
    for (unsigned c = 0; c < 4; ++c) {
        callers.emplace_back([&, c] {
            for (unsigned k = 0; k < 25; ++k) {
                got[c * 25 + k] =
                    eg::value_and_grad(eg::par(3), loss, eg::wrt(w, b), w = 0.9, b = -6.0, x = d.xs, y = d.ys).grad[b];
            }
        });
    }
    for (auto& th : callers) {
        th.join();
    }
    for (double g : got) {
        CHECK(std::memcmp(&g, &seq.grad[b], sizeof(double)) == 0);
    }
}

TEST_CASE("symbolic derivatives of reductions evaluate over data; default wrt", "[data]") {
    auto d = make_data<double>(333, 9);
    const auto loss = eg::mean(bce);
    auto [L, g] = eg::value_and_grad(loss, eg::wrt(w, b), w = 0.8, b = -5.0, x = d.xs, y = d.ys);
    // d(mean(f), w) is mean(d(f, w)): the same number through another graph
    CHECK(close(eg::d(loss, w)(w = 0.8, b = -5.0, x = d.xs, y = d.ys), g[w], 1e-12));
    CHECK(close(eg::d(loss, b)(w = 0.8, b = -5.0, x = d.xs, y = d.ys), g[b], 1e-12));
    // d(logsumexp(w x), w) = sum(softmax(w x) x): a reduction nested in a sum
    const auto lse = eg::logsumexp(w * x);
    auto [v2, g2] = eg::value_and_grad(lse, eg::wrt(w), w = 0.7, x = d.xs);
    CHECK(close(eg::d(lse, w)(w = 0.7, x = d.xs), g2[w], 1e-12));
    // the second derivative: the variance of x under the softmax weights
    long double m = -1e300, s = 0, s1 = 0, s2 = 0;
    for (double xi : d.xs) {
        m = std::max<long double>(m, 0.7L * xi);
    }
    for (double xi : d.xs) {
        long double e = std::exp(0.7L * xi - m);
        s += e;
        s1 += e * xi;
        s2 += e * xi * xi;
    }
    CHECK(close(eg::d(eg::d(lse, w), w)(w = 0.7, x = d.xs), s2 / s - (s1 / s) * (s1 / s), 1e-9));
    // without wrt: the parameters (and data given grad_into)
    auto [L3, g3] = eg::value_and_grad(loss, w = 0.8, b = -5.0, x = d.xs, y = d.ys);
    CHECK(L3 == L);
    CHECK(g3[w] == g[w]);
    CHECK(g3[b] == g[b]);
    static_assert(decltype(g3)::size() == 2);
}

TEST_CASE("prod: partial products never overflow when the product does not (float)", "[data]") {
    // Lanes see every W-th sample: alternating 1e20 and 1e-20 gives lanes of only 1e20 or only
    // 1e-20, whose running products leave float's range long before the end; the product is ~1.
    for (std::size_t n : {2u, 64u, 4000u, 10'002u}) {
        std::vector<float> xs(n), gx(n);
        long double pr = 1;
        for (std::size_t i = 0; i < n; ++i) {
            xs[i] = i % 2 == 0 ? 1e20f : 1e-20f;
            pr *= xs[i];
        }
        auto [v, g] = eg::value_and_grad(eg::prod(x), eg::wrt(x), x = eg::data(xs).grad_into(gx));
        INFO("n = " << n << ", product " << v << ", expected " << static_cast<double>(pr));
        // float multiplications: about 2^-24 of relative rounding each, per lane
        const double rel = 1e-7 * static_cast<double>(n);
        CHECK(close(v, pr, rel));
        CHECK(close(gx[0], pr / xs[0], rel));
        CHECK(close(gx[n - 1], pr / xs[n - 1], rel, 0));
    }
}
