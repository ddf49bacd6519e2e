// An Elman RNN classifier trained over a batch of sequences: each sample is a noisy sine of one of
// three frequencies, sampled for L steps (L from argv: a run-time length), and the network reads it
// step by step, h <- tanh(W_ih u_t + b_ih + W_hh h + b_hh) (torch.nn.RNN's cell), then classifies
// the last state, z = W h + b.
// eg::mean(loop) runs one loop per sample, the samples in SIMD lanes, and differentiates the mean
// cross-entropy with respect to every parameter (etgrad/loop/data.hpp), trained with Adam.
//
//     etgrad_rnn_classifier [L] [epochs]
#include <etgrad/etgrad.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace eg = etgrad;

constexpr std::size_t H = 8, C = 3;
constexpr auto h = eg::var<"h", eg::shape<H>>;   // the hidden state (carried)
constexpr auto u = eg::var<"u", eg::shape<1>>;    // the input of a step
constexpr auto y = eg::var<"y">;                  // the label of a sample
constexpr auto ih = eg::nn::linear<"ih", 1, H>;   // torch.nn.RNN's W_ih, b_ih
constexpr auto hh = eg::nn::linear<"hh", H, H>;   // W_hh, b_hh
constexpr auto fc = eg::nn::linear<"fc", H, C>;
constexpr auto cell = eg::carry(h = eg::tanh(ih(u) + hh(h)));
constexpr auto logits = fc(h);

namespace {
/// A deterministic uniform number in [0, 1) (splitmix64).
double uniform(unsigned long long& s) {
    unsigned long long z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return double((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}
struct dataset {
    std::vector<double> U;  // N × L inputs
    std::vector<int> labels;
};
dataset make(std::size_t n, std::size_t L, unsigned long long seed) {
    dataset d{std::vector<double>(n * L), std::vector<int>(n)};
    const double omega[C] = {0.25, 0.6, 1.1};
    for (std::size_t i = 0; i < n; ++i) {
        const int c = int(i % C);
        const double phase = 6.283185307179586 * uniform(seed);
        for (std::size_t t = 0; t < L; ++t) {
            d.U[i * L + t] = std::sin(omega[c] * double(t) + phase) + 0.2 * (uniform(seed) - 0.5);
        }
        d.labels[i] = c;
    }
    return d;
}
}  // namespace

int main(int argc, char** argv) {
    const std::size_t L = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 16;
    const int epochs = argc > 2 ? std::atoi(argv[2]) : 200;
    const dataset train = make(240, L, 1), test = make(120, L, 2);

    const auto rnn = eg::scan(cell, static_cast<std::ptrdiff_t>(L)).final(eg::nn::cross_entropy(logits, y));
    // model.parameters(): the layers' weights and biases (as torch.nn.Linear initialises them),
    // and h, the initial state, learned too (zeros at first).
    auto params = eg::parameters<double>(rnn, eg::inputs(u, y), 1);
    eg::optim::adam opt(params, {.lr = 0.02});
    double first = 0, loss = 0;
    for (int e = 0; e < epochs; ++e) {
        auto [L_, g] = eg::value_and_grad(eg::mean(rnn), params, u = eg::sequences<1>(train.U, L), y = train.labels);
        loss = L_;
        if (e == 0) {
            first = loss;
        }
        opt.step(g);
    }
    // Accuracy on the test sequences: each sample's logits after its loop.
    std::size_t right = 0;
    for (std::size_t i = 0; i < test.labels.size(); ++i) {
        std::vector<double> us(test.U.begin() + std::ptrdiff_t(i * L), test.U.begin() + std::ptrdiff_t((i + 1) * L));
        int best = 0;
        double top = -1e300;
        for (int k = 0; k < int(C); ++k) {
            const auto score = eg::scan(cell, static_cast<std::ptrdiff_t>(L)).final(eg::pick(logits, y));
            const double z = eg::evaluate(score, params, u = eg::sequence<1>(us), y = k);
            if (z > top) {
                top = z;
                best = k;
            }
        }
        right += best == test.labels[i];
    }
    const double acc = double(right) / double(test.labels.size());
    std::printf("RNN over %zu-step sequences, %zu samples: loss %.4f -> %.4f after %d epochs, test accuracy %.1f %%\n",
                L, train.labels.size(), first, loss, epochs, 100 * acc);
    return loss < first && acc >= 0.9 ? 0 : 1;
}
