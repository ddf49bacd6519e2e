// Binomial checkpointing, eg::revolve<S> (etgrad/loop.hpp): the same values and gradients as
// storing every state (the oscillator, an Elman RNN with an 8-vector state and one input row per
// step, final and running objectives, grad_into, while loops), the workspace figure, and the
// forward steps it takes again, counted, against Griewank and Walther's optimum.
#include <catch2/catch.hpp>
#include <etgrad/etgrad.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

namespace eg = etgrad;

namespace {
// The identity, counting its evaluations: in the step, it counts the step's evaluations.
long g_steps = 0;
struct CountStep {
    template <class U>
    static U value(const U& u) {
        ++g_steps;
        return u;
    }
    template <class U>
    static double derivative(const U&) {
        return 1.0;
    }
};

constexpr auto x = eg::var<"x">;
constexpr auto v = eg::var<"v">;
constexpr auto k = eg::var<"k">;
constexpr auto c = eg::var<"c">;
constexpr auto dt = eg::var<"dt">;
// loop_test.cpp's oscillator, its v read through the counter (the same bits).
constexpr auto oscillator = eg::carry(v = v - dt * (k * x + c * v), x = x + dt * eg::function<CountStep>(v));
constexpr auto osc_loss = eg::c<1, 10> * v * v;

std::size_t binomial(std::size_t a, std::size_t b) {
    b = b < a - b ? b : a - b;  // (the products stay small)
    std::size_t r = 1;
    for (std::size_t i = 0; i < b; ++i) {
        r = r * (a - i) / (i + 1);
    }
    return r;
}
// Griewank and Walther's optimum (Algorithm 799, 2000): with s stored states, the least number of
// forward steps that reverse l steps is r·l − C(s + r, r − 1), r the least with C(s + r, s) >= l.
// The first pass takes l − 1 of them (to the last step's state): the rest are taken again.
std::size_t optimum_recomputed(std::size_t l, std::size_t s) {
    if (l <= 1) {
        return 0;
    }
    std::size_t r = 0;
    while (binomial(s + r, s) < l) {
        ++r;
    }
    return r * l - binomial(s + r, r - 1) - (l - 1);
}

// The same bits as store_states, except for GCC's FMA contraction of the inlined scalar step
// (see eg::checkpoint_every_t and loop_test.cpp): a few ulp there.
template <class R>
void same_scalar(const R& r, const R& a) {
#if defined(__FMA__) && !defined(__clang__)
    CHECK(r.value == Approx(a.value).epsilon(1e-14));
    for (std::size_t i = 0; i < a.grad.values.size(); ++i) {
        CHECK(r.grad.values[i] == Approx(a.grad.values[i]).epsilon(1e-13).margin(1e-300));
    }
#else
    CHECK(r.value == a.value);
    CHECK(r.grad.values == a.grad.values);
#endif
}

template <class Policy>
auto osc_run(std::size_t n, Policy policy) {
    g_steps = 0;
    auto r = eg::value_and_grad(eg::scan(oscillator, static_cast<std::ptrdiff_t>(n), policy).final(x * x).sum(osc_loss),
                                eg::wrt(k, c, x, v), x = 1.0, v = 0.5, k = 4.0, c = 0.3, dt = 0.01);
    return std::make_pair(r, g_steps);
}

// Forward steps taken again going back, counted: the calls past store_states', in evaluations
// of the step (each its forward: the value alone of n steps takes n of them).
template <std::size_t S>
void check_oscillator(long per_step) {
    for (std::size_t n : {0, 1, 2, 37, 1000}) {
        INFO("S = " << S << ", n = " << n);
        const auto a = osc_run(n, eg::store_states{});
        const auto r = osc_run(n, eg::revolve<S>);
        same_scalar(r.first, a.first);
        const long extra = r.second - a.second;
        REQUIRE(extra % per_step == 0);
        const auto recomputed = static_cast<std::size_t>(extra / per_step);
        CHECK(recomputed <= optimum_recomputed(n, S));
        CHECK(recomputed == optimum_recomputed(n, S));  // the schedule is optimal
    }
}
}  // namespace

TEST_CASE("revolve: the oscillator's bits, and the optimal number of steps taken again") {
    g_steps = 0;
    const double xn = eg::scan(oscillator, 100).final(x)(x = 1.0, v = 0.5, k = 4.0, c = 0.3, dt = 0.01);
    CHECK(std::isfinite(xn));
    const long per_step = g_steps / 100;
    REQUIRE(per_step >= 1);
    REQUIRE(g_steps == 100 * per_step);
    check_oscillator<1>(per_step);
    check_oscillator<2>(per_step);
    check_oscillator<3>(per_step);
    check_oscillator<10>(per_step);
    // The optimum at a few sizes (S = 1: each step from the start, n(n − 1)/2 − (n − 1)).
    CHECK(optimum_recomputed(1000, 10) == 2637);
    CHECK(optimum_recomputed(1000, 1) == 1000 * 999 / 2 - 999);
    CHECK(optimum_recomputed(37, 3) == 79);
}

TEST_CASE("revolve: while loops replay the schedule on the count found going forward") {
    // x falls below -0.5 after about a hundred steps: max_steps = 5000 is not reached.
    const auto wl = [](auto policy, double lo, std::ptrdiff_t max_steps) {
        return eg::scan_while(oscillator, x > lo, max_steps, policy).final(x).sum(osc_loss);
    };
    const auto run = [&](auto policy, double lo, std::ptrdiff_t max_steps, std::vector<double>* w = nullptr) {
        g_steps = 0;
        const auto loop = wl(policy, lo, max_steps);
        auto r = w != nullptr ? eg::value_and_grad(loop.workspace(*w), eg::wrt(k, c, x, v), x = 1.0, v = 0.5, k = 4.0,
                                                   c = 0.3, dt = 0.01)
                              : eg::value_and_grad(loop, eg::wrt(k, c, x, v), x = 1.0, v = 0.5, k = 4.0, c = 0.3,
                                                   dt = 0.01);
        return std::make_pair(r, g_steps);
    };
    g_steps = 0;
    (void)wl(eg::store_states{}, -0.5, 5000)(x = 1.0, v = 0.5, k = 4.0, c = 0.3, dt = 0.01);
    const long forward = g_steps;  // the count times the evaluations per step
    g_steps = 0;
    (void)eg::scan(oscillator, 1).final(x)(x = 1.0, v = 0.5, k = 4.0, c = 0.3, dt = 0.01);
    const long per_step = g_steps;
    const auto count = static_cast<std::size_t>(forward / per_step);
    REQUIRE(count > 50);
    REQUIRE(count < 5000);
    const auto a = run(eg::store_states{}, -0.5, 5000);
    // The forward pass stores nothing (the count is unknown there): the schedule's first sweep
    // runs again, at most count − 1 steps more than the optimum.
    const auto r = run(eg::revolve<10>, -0.5, 5000);
    same_scalar(r.first, a.first);
    const auto recomputed = static_cast<std::size_t>((r.second - a.second) / per_step);
    CHECK(recomputed <= optimum_recomputed(count, 10) + (count - 1));
    CHECK(recomputed > optimum_recomputed(count, 10));
    // A caller's workspace, sized for max_steps: min(S, max_steps) states; the same bits.
    std::vector<double> w(eg::scan_workspace_size(eg::revolve<10>, 5000, 2));
    CHECK(w.size() == 20);
    const auto rw = run(eg::revolve<10>, -0.5, 5000, &w);
    CHECK(rw.first.value == r.first.value);
    CHECK(rw.first.grad.values == r.first.grad.values);
    std::vector<double> w1(19, -7.0);
    CHECK_THROWS_AS(run(eg::revolve<10>, -0.5, 5000, &w1), std::invalid_argument);
    CHECK(w1 == std::vector<double>(19, -7.0));
    // A while loop that stops before its first step, and one that max_steps stops.
    const auto z = run(eg::revolve<10>, 2.0, 10).first;
    CHECK(z.value == 1.0);
    CHECK(z.grad.values[0] == 0.0);  // d/dk
    CHECK(z.grad.values[2] == 1.0);  // d/dx
    same_scalar(run(eg::revolve<10>, -0.5, 50).first, run(eg::store_states{}, -0.5, 50).first);
}

TEST_CASE("revolve: the workspace is min(S, n) states; a smaller one throws before anything runs") {
    CHECK(eg::scan_workspace_size(eg::revolve<10>, 1000, 2) == 20);
    CHECK(eg::scan_workspace_size(eg::revolve<10>, 5, 2) == 10);
    CHECK(eg::scan_workspace_size(eg::revolve<3>, 1000, 8) == 24);
    CHECK(eg::scan_workspace_size(eg::revolve<1>, 1000, 2) == 2);
    CHECK(eg::scan_workspace_size(eg::revolve<4>, 0, 2) == 0);
    static_assert(eg::scan_workspace_size(eg::revolve<7>, 100, 3) == 21);
    for (std::size_t n : {0, 1, 5, 777}) {  // (fewer steps than states, and more)
        INFO("n = " << n);
        const auto loop =
            eg::scan(oscillator, static_cast<std::ptrdiff_t>(n), eg::revolve<10>).final(x * x).sum(osc_loss);
        std::vector<double> w(eg::scan_workspace_size(eg::revolve<10>, n, 2), -7.0);
        const auto rw = eg::value_and_grad(loop.workspace(w), eg::wrt(k, c, x, v), x = 1.0, v = 0.5, k = 4.0,
                                           c = 0.3, dt = 0.01);
        const auto ro = eg::value_and_grad(loop, eg::wrt(k, c, x, v), x = 1.0, v = 0.5, k = 4.0, c = 0.3, dt = 0.01);
        CHECK(rw.value == ro.value);
        CHECK(rw.grad.values == ro.grad.values);
        // Every value of it holds a state (the figure is exact); the first is the initial (v, x).
        CHECK(std::find(w.begin(), w.end(), -7.0) == w.end());
        if (n > 0) {
            CHECK(w[0] == 0.5);
            CHECK(w[1] == 1.0);
        }
        if (!w.empty()) {
            std::vector<double> small(w.size() - 1, -7.0);
            CHECK_THROWS_AS(eg::value_and_grad(loop.workspace(small), eg::wrt(k, c, x, v), x = 1.0, v = 0.5, k = 4.0,
                                               c = 0.3, dt = 0.01),
                            std::invalid_argument);
            CHECK(small == std::vector<double>(w.size() - 1, -7.0));
        }
    }
}

namespace {
constexpr std::size_t H = 8;  // loop_tensor_test.cpp's RNN
constexpr std::size_t I = 3;
constexpr auto h = eg::var<"h", eg::shape<H>>;
constexpr auto u = eg::var<"u", eg::shape<I>>;
constexpr auto Wh = eg::var<"Wh", eg::shape<H, H>>;
constexpr auto Wx = eg::var<"Wx", eg::shape<H, I>>;
constexpr auto b = eg::var<"b", eg::shape<H>>;
constexpr auto cell = eg::carry(h = eg::tanh(eg::matvec(Wh, h) + eg::matvec(Wx, u) + b));
constexpr auto loss = eg::sum(eg::square(h));

struct rnn_values {
    std::array<double, H * H> wh{};
    std::array<double, H * I> wx{};
    std::array<double, H> bb{}, h0{};
    std::vector<double> us;
    explicit rnn_values(std::size_t n) : us(n * I) {
        for (std::size_t i = 0; i < H * H; ++i) {
            wh[i] = 0.6 / std::sqrt(double(H)) * std::sin(1.3 * double(i) + 0.4);
        }
        for (std::size_t i = 0; i < H * I; ++i) {
            wx[i] = 0.5 * std::cos(0.7 * double(i) + 0.1);
        }
        for (std::size_t i = 0; i < H; ++i) {
            bb[i] = 0.05 * double(i) - 0.1;
            h0[i] = 0.2 * std::sin(double(i) + 2.0);
        }
        for (std::size_t i = 0; i < us.size(); ++i) {
            us[i] = std::sin(0.37 * double(i));
        }
    }
};

template <class Policy>
auto rnn_run(const rnn_values& p, std::size_t n, Policy policy, std::vector<double>* w = nullptr) {
    std::vector<double> gu(n * I, -1.0);
    auto loop = eg::scan(cell, static_cast<std::ptrdiff_t>(n), policy).final(loss).sum(eg::c<1, 10> * loss);
    auto r = w != nullptr ? eg::value_and_grad(loop.workspace(*w), eg::wrt(Wh, Wx, b, h), h = p.h0, Wh = p.wh,
                                               Wx = p.wx, b = p.bb, u = eg::sequence<I>(p.us).grad_into(gu))
                          : eg::value_and_grad(loop, eg::wrt(Wh, Wx, b, h), h = p.h0, Wh = p.wh, Wx = p.wx, b = p.bb,
                                               u = eg::sequence<I>(p.us).grad_into(gu));
    return std::make_pair(r, gu);
}
template <class R>
void same_rnn(const R& r, const R& a) {
    CHECK(r.first.value == a.first.value);
    CHECK(r.first.grad[Wh].values == a.first.grad[Wh].values);
    CHECK(r.first.grad[Wx].values == a.first.grad[Wx].values);
    CHECK(r.first.grad[b].values == a.first.grad[b].values);
    CHECK(r.first.grad[h].values == a.first.grad[h].values);
    CHECK(r.second == a.second);
}
}  // namespace

TEST_CASE("revolve: shaped carries (an RNN, inputs with grad_into) give the same bits") {
    // (Each step's passes of a shaped loop are compiled functions: exact with every compiler.)
    for (std::size_t n : {0, 1, 2, 37, 1000}) {
        INFO("n = " << n);
        const rnn_values p(n);
        const auto a = rnn_run(p, n, eg::store_states{});
        same_rnn(rnn_run(p, n, eg::revolve<2>), a);
        same_rnn(rnn_run(p, n, eg::revolve<10>), a);
        // A caller's workspace of min(S, n) states of step.elements() values.
        constexpr std::size_t M = decltype(cell)::elements();
        STATIC_REQUIRE(M == H);
        std::vector<double> w(eg::scan_workspace_size(eg::revolve<10>, n, M));
        CHECK(w.size() == (n < 10 ? n : 10) * M);
        same_rnn(rnn_run(p, n, eg::revolve<10>, &w), a);
        if (!w.empty()) {
            std::vector<double> small(w.size() - 1);
            CHECK_THROWS_AS(rnn_run(p, n, eg::revolve<10>, &small), std::invalid_argument);
        }
    }
}

TEST_CASE("revolve: a while loop on a shaped state") {
    constexpr auto a = eg::var<"a">;
    constexpr auto s = eg::var<"s", eg::shape<2>>;
    const std::array<double, 2> s0{3.0, 4.0};  // |s| = 5, times 0.9 until |s|^2 <= 1: 16 steps
    const auto run = [&](auto policy) {
        return eg::value_and_grad(eg::scan_while(eg::carry(s = a * s), eg::sum(eg::square(s)) > 1.0, 100, policy)
                                      .final(eg::sum(eg::square(s))),
                                  eg::wrt(a, s), s = s0, a = 0.9);
    };
    const auto r0 = run(eg::store_states{});
    const auto r1 = run(eg::revolve<3>);
    CHECK(r0.value == Approx(25.0 * std::pow(0.81, 16)).epsilon(1e-14));
    CHECK(r1.value == r0.value);
    CHECK(r1.grad[a] == r0.grad[a]);
    CHECK(r1.grad[s].values == r0.grad[s].values);
}
