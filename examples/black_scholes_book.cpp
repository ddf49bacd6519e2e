// A book of European call options priced with their greeks in one call: eg::value_and_grad_into
// writes, per option, the price and its derivatives with respect to the spot (delta), the
// volatility (vega), the rate (rho, a parameter shared by the book) and the maturity (theta as
// dV/dT) — a SIMD loop over the options, forward and backward sweeps fused per batch.
#include <etgrad/etgrad.hpp>

#include <chrono>
#include <numbers>
#include <cmath>
#include <cstdio>
#include <random>
#include <tuple>
#include <vector>

namespace eg = etgrad;

int main() {
    constexpr auto S = eg::var<"S">;          // spot, per option
    constexpr auto K = eg::var<"K">;          // strike, per option
    constexpr auto sigma = eg::var<"sigma">;  // volatility, per option
    constexpr auto r = eg::var<"r">;          // rate, one for the book
    constexpr auto T = eg::var<"T">;          // maturity in years, per option
    constexpr auto N = [](const auto& z) { return 0.5 * (1.0 + eg::erf(z * 0.70710678118654752)); };
    constexpr auto srt = sigma * eg::sqrt(T);
    constexpr auto d1 = (eg::log(S / K) + (r + 0.5 * sigma * sigma) * T) / srt;
    constexpr auto d2 = d1 - srt;
    constexpr auto call = S * N(d1) - K * eg::exp(-r * T) * N(d2);

    constexpr std::size_t n = 200'000;
    std::vector<double> spot(n), strike(n), vol(n), mat(n);
    std::mt19937_64 gen(7);
    std::uniform_real_distribution<double> us(80, 120), uk(90, 110), uv(0.1, 0.5), ut(0.1, 2.0);
    for (std::size_t i = 0; i < n; ++i) {
        spot[i] = us(gen);
        strike[i] = uk(gen);
        vol[i] = uv(gen);
        mat[i] = ut(gen);
    }
    std::vector<double> price(n), delta(n), vega(n), rho(n), theta(n);
    const double rate = 0.03;
    auto t0 = std::chrono::steady_clock::now();
    eg::value_and_grad_into(price, std::tie(delta, vega, rho, theta), call, eg::wrt(S, sigma, r, T), S = spot,
                            K = strike, sigma = vol, r = rate, T = mat);
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::printf("%zu options priced with 4 greeks in %.2f ms (%.1f ns per option, SIMD %s)\n", n, 1e3 * sec,
                1e9 * sec / n, eg::simd_arch_name());
    std::printf("%8s %8s %6s %6s | %9s %7s %8s %8s %8s\n", "S", "K", "sigma", "T", "price", "delta", "vega", "rho",
                "theta");
    for (std::size_t i = 0; i < 5; ++i) {
        std::printf("%8.2f %8.2f %6.3f %6.3f | %9.4f %7.4f %8.4f %8.4f %8.4f\n", spot[i], strike[i], vol[i], mat[i],
                    price[i], delta[i], vega[i], rho[i], theta[i]);
    }
    // Checks against the closed forms: delta = N(d1), vega = S n(d1) sqrt(T).
    double worst = 0;
    for (std::size_t i = 0; i < n; ++i) {
        double sq = std::sqrt(mat[i]);
        double e1 = (std::log(spot[i] / strike[i]) + (rate + 0.5 * vol[i] * vol[i]) * mat[i]) / (vol[i] * sq);
        double dd = 0.5 * (1 + std::erf(e1 / std::sqrt(2.0)));
        double vv = spot[i] * std::exp(-0.5 * e1 * e1) / std::sqrt(2 * std::numbers::pi) * sq;
        worst = std::fmax(worst, std::fmax(std::fabs(dd - delta[i]), std::fabs(vv - vega[i]) / (1 + vv)));
    }
    std::printf("largest difference from the closed-form delta and vega: %.2e\n", worst);
    return worst < 1e-9 ? 0 : 1;
}
