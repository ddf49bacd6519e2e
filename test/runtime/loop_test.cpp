// Loops of run-time length (etgrad/loop.hpp): against the same loop unrolled at compile time,
// against finite differences in long double, memory policies bit-identical, per-step inputs,
// while loops, forward mode, and the errors.
#include <catch2/catch.hpp>
#include <etgrad/etgrad.hpp>

#include <cmath>
#include <vector>

namespace eg = etgrad;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto v = eg::var<"v">;
constexpr auto k = eg::var<"k">;
constexpr auto c = eg::var<"c">;
constexpr auto dt = eg::var<"dt">;
constexpr auto oscillator = eg::carry(v = v - dt * (k * x + c * v), x = x + dt * v);

// The same loop unrolled at compile time: the state after N steps as expressions.
template <int N>
struct unrolled {
    using prev = unrolled<N - 1>;
    static constexpr auto vn = prev::vn - dt * (k * prev::xn + c * prev::vn);
    static constexpr auto xn = prev::xn + dt * prev::vn;
};
template <>
struct unrolled<0> {
    static constexpr auto vn = v;
    static constexpr auto xn = x;
};

// The oscillator in long double, for finite differences.
long double osc_ld(long double x0, long double v0, long double kk, long double cc, long double h, int n) {
    long double xs = x0, vs = v0;
    for (int t = 0; t < n; ++t) {
        const long double vn = vs - h * (kk * xs + cc * vs);
        xs = xs + h * vs;
        vs = vn;
    }
    return xs;
}

template <int N>
void check_unrolled() {
    INFO("n = " << N);
    auto [xs, g] = eg::value_and_grad(eg::scan(oscillator, N).final(x), eg::wrt(k, c, x, v), x = 1.0, v = 0.25,
                                      k = 4.0, c = 0.3, dt = 0.01);
    auto [xu, gu] = eg::value_and_grad(unrolled<N>::xn, eg::wrt(k, c, x, v), x = 1.0, v = 0.25, k = 4.0, c = 0.3,
                                       dt = 0.01);
    CHECK(xs == Approx(xu).epsilon(1e-15));
    CHECK(g[k] == Approx(gu[k]).epsilon(1e-14).margin(1e-300));
    CHECK(g[c] == Approx(gu[c]).epsilon(1e-14).margin(1e-300));
    CHECK(g[x] == Approx(gu[x]).epsilon(1e-14));
    CHECK(g[v] == Approx(gu[v]).epsilon(1e-14).margin(1e-300));
}
}  // namespace

TEST_CASE("scan equals the loop unrolled at compile time") {
    check_unrolled<0>();
    check_unrolled<1>();
    check_unrolled<2>();
    check_unrolled<5>();
}

TEST_CASE("scan's gradient against long-double central differences, n up to 10^5") {
    for (int n : {1, 2, 37, 1000, 100000}) {
        INFO("n = " << n);
        const double h = 1e-5;
        auto [xs, g] = eg::value_and_grad(eg::scan(oscillator, n).final(x), eg::wrt(k, c, x, v), x = 1.0, v = 0.0,
                                          k = 4.0, c = 0.3, dt = 0.001);
        CHECK(xs == Approx(static_cast<double>(osc_ld(1, 0, 4, 0.3L, 0.001L, n))).epsilon(1e-11));
        const long double hh = h;
        auto fd = [&](int which) {
            auto f = [&](long double d) {
                return osc_ld(1 + (which == 2 ? d : 0), 0 + (which == 3 ? d : 0), 4 + (which == 0 ? d : 0),
                              0.3L + (which == 1 ? d : 0), 0.001L, n);
            };
            return static_cast<double>((f(hh) - f(-hh)) / (2 * hh));
        };
        CHECK(g[k] == Approx(fd(0)).epsilon(1e-7).margin(1e-9));
        CHECK(g[c] == Approx(fd(1)).epsilon(1e-7).margin(1e-9));
        CHECK(g[x] == Approx(fd(2)).epsilon(1e-7).margin(1e-9));
        CHECK(g[v] == Approx(fd(3)).epsilon(1e-7).margin(1e-9));
    }
}

TEST_CASE("every memory policy gives bit-identical values and gradients") {
    for (int n : {0, 1, 2, 37, 1000}) {
        INFO("n = " << n);
        const auto run = [&](auto policy) {
            return eg::value_and_grad(eg::scan(oscillator, n, policy).final(x * x).sum(eg::c<1, 10> * v * v),
                                      eg::wrt(k, c, x, v), x = 1.0, v = 0.5, k = 4.0, c = 0.3, dt = 0.01);
        };
        const auto a = run(eg::store_states{});
        const auto b = run(eg::checkpoint_every<1>);
        const auto d = run(eg::checkpoint_every<7>);
        const auto e = run(eg::checkpoint_every<5000>);
        for (const auto& r : {b, d, e}) {
#if defined(__FMA__) && !defined(__clang__)
            // GCC with FMA contraction may contract a recomputed segment differently from the
            // first pass (see eg::checkpoint_every_t): a few ulp there, bits elsewhere.
            CHECK(r.value == Approx(a.value).epsilon(1e-14));
            for (std::size_t i = 0; i < a.grad.values.size(); ++i) {
                CHECK(r.grad.values[i] == Approx(a.grad.values[i]).epsilon(1e-13).margin(1e-300));
            }
#else
            CHECK(r.value == a.value);
            CHECK(r.grad.values == a.grad.values);
#endif
        }
    }
    CHECK(eg::scan_workspace_size(eg::store_states{}, 1000, 2) == 2002);
    CHECK(eg::scan_workspace_size(eg::checkpoint_every<32>, 1000, 2) == (32 + 1) * 2 + (32 + 1) * 2);
    CHECK(eg::scan_workspace_size(eg::checkpoint_every<10>, 1000, 3) == (100 + 1) * 3 + 11 * 3);
}

TEST_CASE("a caller's workspace: the same bits as memory allocated per call; too small throws") {
    const auto run = [](auto policy, std::vector<double>* w) {
        auto loop = eg::scan(oscillator, 777, policy).final(x * x).sum(eg::c<1, 10> * v * v);
        if (w != nullptr) {
            return eg::value_and_grad(loop.workspace(*w), eg::wrt(k, c, x, v), x = 1.0, v = 0.5, k = 4.0, c = 0.3,
                                      dt = 0.01);
        }
        return eg::value_and_grad(loop, eg::wrt(k, c, x, v), x = 1.0, v = 0.5, k = 4.0, c = 0.3, dt = 0.01);
    };
    const auto same = [](const auto& a, const auto& b) {
        CHECK(a.value == b.value);
        for (std::size_t i = 0; i < 4; ++i) {
            CHECK(a.grad.values[i] == b.grad.values[i]);
        }
    };
    std::vector<double> w1(eg::scan_workspace_size(eg::store_states{}, 777, 2));
    same(run(eg::store_states{}, &w1), run(eg::store_states{}, nullptr));
    std::vector<double> w2(eg::scan_workspace_size(eg::checkpoint_every<10>, 777, 2));
    same(run(eg::checkpoint_every<10>, &w2), run(eg::checkpoint_every<10>, nullptr));
    // One value short: refused before the loop runs.
    std::vector<double> w3(w2.size() - 1);
    CHECK_THROWS_AS(run(eg::checkpoint_every<10>, &w3), std::invalid_argument);
    // scan_while: sized for max_steps.
    const auto wl = eg::scan_while(oscillator, x > 0.2, 2000).final(x);
    std::vector<double> w4(eg::scan_workspace_size(eg::store_states{}, 2000, 2));
    auto a = eg::value_and_grad(wl.workspace(w4), eg::wrt(k, x), x = 1.0, v = 0.0, k = 4.0, c = 0.3, dt = 0.01);
    auto b = eg::value_and_grad(wl, eg::wrt(k, x), x = 1.0, v = 0.0, k = 4.0, c = 0.3, dt = 0.01);
    CHECK(a.value == b.value);
    CHECK(a.grad[k] == b.grad[k]);
    CHECK(a.grad[x] == b.grad[x]);
    std::vector<double> w5(eg::scan_workspace_size(eg::store_states{}, 1999, 2));
    CHECK_THROWS_AS(eg::value_and_grad(wl.workspace(w5), eg::wrt(k, x), x = 1.0, v = 0.0, k = 4.0, c = 0.3, dt = 0.01),
                    std::invalid_argument);
}

TEST_CASE("a sum over the steps, forward mode, and plain evaluation agree with the gradient") {
    const auto loop = eg::scan(oscillator, 500).sum(x * x);
    auto [s, g] = eg::value_and_grad(loop, eg::wrt(k, c, x), x = 1.0, v = 0.0, k = 4.0, c = 0.3, dt = 0.01);
    CHECK(loop(x = 1.0, v = 0.0, k = 4.0, c = 0.3, dt = 0.01) == s);
    // The sum by hand.
    double xs = 1.0, vs = 0.0, sum = 0.0;
    for (int t = 0; t < 500; ++t) {
        const double vn = vs - 0.01 * (4.0 * xs + 0.3 * vs);
        xs = xs + 0.01 * vs;
        vs = vn;
        sum += xs * xs;
    }
    CHECK(s == Approx(sum).epsilon(1e-13));
    const auto t1 = eg::jvp(loop, eg::tangent(k = 1.0), x = 1.0, v = 0.0, k = 4.0, c = 0.3, dt = 0.01);
    CHECK(t1.value == Approx(s).epsilon(1e-14));  // (forward mode: another order of operations)
    CHECK(t1.tangent == Approx(g[k]).epsilon(1e-12));
    const auto t2 = eg::jvp(loop, eg::tangent(x = 1.0, c = 2.0), x = 1.0, v = 0.0, k = 4.0, c = 0.3, dt = 0.01);
    CHECK(t2.tangent == Approx(g[x] + 2 * g[c]).epsilon(1e-12));
    // Without eg::wrt: every bound variable, in the bindings' order.
    auto [s2, g2] = eg::value_and_grad(loop, x = 1.0, v = 0.0, k = 4.0, c = 0.3, dt = 0.01);
    static_assert(decltype(g2)::size() == 5);
    CHECK(s2 == s);
    CHECK(g2[k] == g[k]);
}

TEST_CASE("per-step inputs: a sequence read one value per step, and its gradient") {
    constexpr auto b = eg::var<"b">;  // balance
    constexpr auto r = eg::var<"r">;  // this period's rate
    constexpr auto w = eg::var<"w">;  // withdrawal
    constexpr auto account = eg::carry(b = b * (1 + r) - w);
    for (std::size_t n : {0u, 1u, 37u, 400u}) {
        INFO("n = " << n);
        std::vector<double> rates(n + 3), gr(n + 3, -1.0);
        for (std::size_t t = 0; t < rates.size(); ++t) {
            rates[t] = 0.01 + 0.001 * std::sin(static_cast<double>(t));
        }
        auto [bn, g] = eg::value_and_grad(eg::scan(account, static_cast<std::ptrdiff_t>(n)).final(b), eg::wrt(b, w),
                                          b = 100.0, w = 0.5, r = eg::sequence(rates).grad_into(gr));
        // By hand: the balances, then d b_n / d r_t = b_t * prod_{s > t} (1 + r_s).
        std::vector<double> bs{100.0};
        for (std::size_t t = 0; t < n; ++t) {
            bs.push_back(bs.back() * (1 + rates[t]) - 0.5);
        }
        CHECK(bn == Approx(bs.back()).epsilon(1e-14));
        double grow = 1.0, dw = 0.0;
        for (std::size_t t = n; t-- > 0;) {
            CHECK(gr[t] == Approx(bs[t] * grow).epsilon(1e-13));
            dw -= grow;
            grow *= 1 + rates[t];
        }
        CHECK(g[b] == Approx(grow).epsilon(1e-13));
        CHECK(g[w] == Approx(dw).epsilon(1e-13).margin(1e-300));
        for (std::size_t t = n; t < rates.size(); ++t) {
            CHECK(gr[t] == 0.0);  // steps that did not run read nothing
        }
    }
}

TEST_CASE("a while loop: the count is found forward and replayed backward") {
    constexpr auto a = eg::var<"a">;
    constexpr auto halve = eg::carry(x = x * a);
    // A condition evaluates to its truth value (it used to read an unwritten slot).
    CHECK((x > 1.0)(x = 2.0));
    CHECK_FALSE((x > 1.0)(x = 0.5));
    // x0 = 100, a = 0.5: x > 1 holds before 7 steps (100 -> 0.78).
    auto [xw, gw] = eg::value_and_grad(eg::scan_while(halve, x > 1.0, 1000).final(x), eg::wrt(a, x), x = 100.0,
                                       a = 0.5);
    auto [xf, gf] = eg::value_and_grad(eg::scan(halve, 7).final(x), eg::wrt(a, x), x = 100.0, a = 0.5);
    CHECK(xw == xf);
    CHECK(xw == Approx(100.0 / 128));
    CHECK(gw[a] == gf[a]);
    CHECK(gw[x] == gf[x]);
    CHECK(gw[a] == Approx(7 * 100.0 * std::pow(0.5, 6)));
    // The bound: at most max_steps steps.
    CHECK(eg::scan_while(halve, x > 1.0, 3).final(x)(x = 100.0, a = 0.5) == 12.5);
    auto [xc, gc] = eg::value_and_grad(eg::scan_while(halve, x > 1.0, 1000, eg::checkpoint_every<3>).final(x),
                                       eg::wrt(a, x), x = 100.0, a = 0.5);
    CHECK(xc == xw);
    CHECK(gc[a] == gw[a]);
}

TEST_CASE("loop errors: negative counts and short sequences throw before anything is written") {
    CHECK_THROWS_WITH(eg::scan(oscillator, -1).final(x)(x = 1.0, v = 0.0, k = 1.0, c = 0.0, dt = 0.1),
                      Catch::Contains("etgrad::scan: n = -1 is negative"));
    constexpr auto b = eg::var<"b">;
    constexpr auto r = eg::var<"r">;
    const std::vector<double> rates(5, 0.01);
    std::vector<double> gr(5, -1.0);
    CHECK_THROWS_WITH(eg::value_and_grad(eg::scan(eg::carry(b = b * (1 + r)), 6).final(b), eg::wrt(b), b = 1.0,
                                         r = eg::sequence(rates).grad_into(gr)),
                      Catch::Contains("the sequence r has 5 values, fewer than the 6 steps"));
    CHECK(gr == std::vector<double>(5, -1.0));
    std::vector<double> short_out(4, -1.0);
    CHECK_THROWS_WITH(eg::value_and_grad(eg::scan(eg::carry(b = b * (1 + r)), 5).final(b), eg::wrt(b), b = 1.0,
                                         r = eg::sequence(rates).grad_into(short_out)),
                      Catch::Contains("r.grad_into(out): out has 4 values, the sequence 5"));
}
