// loops.cpp -- loops whose length is known only at run time, differentiated: the body is one
// compile-time expression of the carried state, the count a number (here from the command line).
//
//     etgrad_loops [n]        (n: the oscillator's number of steps, 1000 by default)
//
// 1. A damped oscillator integrated for n Euler steps: the final position's derivatives with
//    respect to the stiffness, the damping and the initial position.
// 2. Compound interest with a different rate each period (a per-step input sequence) and a
//    fixed withdrawal: the final balance's derivatives with respect to every rate.
// 3. A pendulum integrated with RK4: the final angle's derivative with respect to the length.
// 4. An Elman RNN (a hidden vector of two units: a shaped carry) over a sequence of inputs of
//    run-time length: the loss's gradient with respect to the weights, and a while loop (halving
//    until below 1).
#include <etgrad/etgrad.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace eg = etgrad;

int main(int argc, char** argv) {
    const long n = argc > 1 ? std::atol(argv[1]) : 1000;
    bool ok = true;

    // 1. The oscillator: v' = -k x - c v, x' = v, explicit Euler (each update reads the old state).
    {
        constexpr auto x = eg::var<"x">;
        constexpr auto v = eg::var<"v">;
        constexpr auto k = eg::var<"k">;
        constexpr auto c = eg::var<"c">;
        constexpr auto dt = eg::var<"dt">;
        constexpr auto step = eg::carry(v = v - dt * (k * x + c * v), x = x + dt * v);
        auto [xn, g] = eg::value_and_grad(eg::scan(step, n).final(x), eg::wrt(k, c, x), x = 1.0, v = 0.0, k = 4.0,
                                          c = 0.3, dt = 0.01);
        std::printf("oscillator, %ld steps: x = %.10f, dx/dk = %.10f, dx/dc = %.10f, dx/dx0 = %.10f\n", n, xn, g[k],
                    g[c], g[x]);
        // The same with every 32nd state stored (and one extra forward pass): the same numbers
        // (to the last bits, which GCC's FMA contraction can change in the recomputed segments).
        auto [xc, gc] = eg::value_and_grad(eg::scan(step, n, eg::checkpoint_every<32>).final(x), eg::wrt(k, c, x),
                                           x = 1.0, v = 0.0, k = 4.0, c = 0.3, dt = 0.01);
        auto same = [](double a, double b) { return std::abs(a - b) <= 1e-12 * std::abs(b); };
        ok = ok && same(xc, xn) && same(gc[k], g[k]) && same(gc[c], g[c]);
    }

    // 2. Compound interest: b <- b (1 + r_t) - w, one rate per period.
    {
        constexpr auto b = eg::var<"b">;
        constexpr auto r = eg::var<"r">;
        constexpr auto w = eg::var<"w">;
        constexpr auto period = eg::carry(b = b * (1 + r) - w);
        std::vector<double> rates(120), d_rates(120);
        for (std::size_t t = 0; t < rates.size(); ++t) {
            rates[t] = 0.004 + 0.001 * std::sin(0.5 * static_cast<double>(t));
        }
        auto [bn, g] = eg::value_and_grad(eg::scan(period, 120).final(b), eg::wrt(b, w), b = 1000.0, w = 5.0,
                                          r = eg::sequence(rates).grad_into(d_rates));
        std::printf("interest, 120 periods: balance %.4f, d/d(initial) %.6f, d/d(withdrawal) %.4f, "
                    "d/d(rate of period 0) %.4f, of period 119 %.4f\n",
                    bn, g[b], g[w], d_rates[0], d_rates[119]);
        ok = ok && d_rates[0] > d_rates[119] && g[w] < 0;
    }

    // 3. A pendulum, theta'' = -(g / L) sin(theta), with the classic RK4 step of size h.
    {
        constexpr auto th = eg::var<"theta">;
        constexpr auto om = eg::var<"omega">;
        constexpr auto L = eg::var<"L">;
        constexpr auto h = eg::var<"h">;
        constexpr auto acc = [](auto angle) { return -(9.81 / eg::var<"L">) * eg::sin(angle); };
        constexpr auto k1t = om;
        constexpr auto k1o = acc(th);
        constexpr auto k2t = om + h / 2 * k1o;
        constexpr auto k2o = acc(th + h / 2 * k1t);
        constexpr auto k3t = om + h / 2 * k2o;
        constexpr auto k3o = acc(th + h / 2 * k2t);
        constexpr auto k4t = om + h * k3o;
        constexpr auto k4o = acc(th + h * k3t);
        constexpr auto rk4 = eg::carry(th = th + h / 6 * (k1t + 2 * k2t + 2 * k3t + k4t),
                                       om = om + h / 6 * (k1o + 2 * k2o + 2 * k3o + k4o));
        auto [tn, g] = eg::value_and_grad(eg::scan(rk4, 200).final(th), eg::wrt(L, th), th = 0.5, om = 0.0, L = 1.3,
                                          h = 0.01);
        std::printf("pendulum, RK4, 2 s: theta = %.8f, d theta / d L = %.8f, d theta / d theta0 = %.8f\n", tn, g[L],
                    g[th]);
        ok = ok && std::isfinite(g[L]);
    }

    // 4. An Elman RNN with two hidden units, a vector h: h <- tanh(W h + U u_t + b),
    //    loss = sum_t |h_t|^2, over a sequence of inputs whose length is known at run time; then
    //    a while loop.
    {
        constexpr auto h = eg::var<"h", eg::shape<2>>;  // the hidden state, carried
        constexpr auto u = eg::var<"u">;                 // one input per step
        constexpr auto W = eg::var<"W", eg::shape<2, 2>>;
        constexpr auto U = eg::var<"U", eg::shape<2>>;
        constexpr auto cell = eg::carry(h = eg::tanh(eg::matvec(W, h) + U * u));
        const std::size_t len = 50 + static_cast<std::size_t>(n % 7);
        std::vector<double> us(len), du(len);
        for (std::size_t t = 0; t < len; ++t) {
            us[t] = std::sin(0.3 * static_cast<double>(t));
        }
        const std::array<double, 2> h0{0.0, 0.0}, Uv{1.0, -0.7};
        const std::array<double, 4> Wv{0.5, -0.3, 0.2, 0.4};
        // The loss: the sum over the steps of |h|^2 (the target 0 here, to keep it short).
        auto [L, g] = eg::value_and_grad(eg::scan(cell, static_cast<long>(len)).sum(eg::sum(eg::square(h))),
                                         eg::wrt(W, U, h), h = h0, W = Wv, U = Uv,
                                         u = eg::sequence(us).grad_into(du));
        std::printf("Elman RNN over %zu inputs: loss %.6f, dL/dW11 %.6f, dL/dU1 %.6f, dL/du_0 %.6f\n", len, L,
                    g[W](0, 0), g[U](0), du[0]);
        ok = ok && std::isfinite(L) && std::isfinite(g[W](0, 0));
        constexpr auto x = eg::var<"x">;
        constexpr auto a = eg::var<"a">;
        auto [xw, gw] = eg::value_and_grad(eg::scan_while(eg::carry(x = x * a), x > 1.0, 1000).final(x), eg::wrt(a),
                                           x = 100.0, a = 0.5);
        std::printf("while x > 1: x <- a x from 100 with a = 0.5 ends at %.6f (7 steps), dx/da = %.4f\n", xw, gw[a]);
        ok = ok && xw == 100.0 / 128 && std::abs(gw[a] - 7 * 100.0 / 64) < 1e-9;
    }
    return ok ? 0 : 1;
}
