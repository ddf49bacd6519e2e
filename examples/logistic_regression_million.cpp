// Logistic regression of "placed" on "cgpa" over one million synthetic students: each epoch is one
// call of eg::value_and_grad over the data, a single fused SIMD pass computing the loss and both
// gradients (no tape, no allocation), followed by a gradient-descent step.
#include <etgrad/etgrad.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace eg = etgrad;

int main() {
    // The data: cgpa uniform in [5, 9]; placed with probability sigmoid(1.2 cgpa - 8.4).
    constexpr std::size_t n = 1'000'000;
    std::vector<double> cgpa(n), placed(n);
    std::mt19937_64 gen(42);
    std::uniform_real_distribution<double> grade(5.0, 9.0), u(0.0, 1.0);
    for (std::size_t i = 0; i < n; ++i) {
        cgpa[i] = grade(gen);
        placed[i] = u(gen) < 1.0 / (1.0 + std::exp(-(1.2 * cgpa[i] - 8.4))) ? 1.0 : 0.0;
    }

    // The model, written once as a type: the feature is centred at 7 to keep gradient descent
    // well conditioned (b0 = b + 7 w is the usual intercept).
    constexpr auto w = eg::var<"w">;
    constexpr auto b = eg::var<"b">;
    constexpr auto x = eg::var<"x">;  // cgpa, bound to data
    constexpr auto y = eg::var<"y">;  // placed, bound to data
    constexpr auto p = eg::sigmoid(w * (x - 7.0) + b);
    constexpr auto loss = eg::mean(-(y * eg::log(p) + (1 - y) * eg::log(1 - p)));
    static_assert(eg::data_passes(loss, eg::wrt(w, b), eg::per_sample(x, y)) == 1);  // one pass per epoch

    double wv = 0.0, bv = 0.0;
    const double lr = 2.0;
    const int epochs = 60;
    double first = 0, last = 0, seconds = 0;
    std::printf("SIMD: %s, %zu doubles per batch\n", eg::simd_arch_name(), eg::simd_width<double>);
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        auto t0 = std::chrono::steady_clock::now();
        auto [L, g] = eg::value_and_grad(loss, eg::wrt(w, b), w = wv, b = bv, x = cgpa, y = placed);
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        wv -= lr * g[w];
        bv -= lr * g[b];
        first = epoch == 1 ? L : first;
        last = L;
        if (epoch == 1 || epoch % 10 == 0) {
            std::printf("epoch %3d  loss %.6f  w %.4f  intercept %.4f\n", epoch, L, wv, bv - 7.0 * wv);
        }
    }
    std::printf("%.3f ms per epoch over %zu samples (%.2f ns per sample)\n", 1e3 * seconds / epochs, n,
                1e9 * seconds / epochs / static_cast<double>(n));
    std::printf("fitted w = %.3f, intercept = %.3f (the data were drawn with 1.2 and -8.4)\n", wv, bv - 7.0 * wv);
    // The example is also a test: the loss fell and the fit is near the truth.
    const bool ok = last < first && std::fabs(wv - 1.2) < 0.1 && std::fabs(bv - 7.0 * wv + 8.4) < 0.7;
    return ok ? 0 : 1;
}
