// batch_norm.cpp -- the digit classifier with a batch norm: 64 -> 32 -> batch norm -> tanh -> 10,
// trained with Adam (lr 1e-3) on minibatches of 32 rows for 100 epochs (20 with --quick).
//
//     etgrad_batch_norm [path/to/digits.csv.gz] [--quick]
//
// A batch norm couples the samples of a minibatch, so the minibatch is bound as one N×64 matrix
// (eg::var<"X", eg::shape<32, 64>>) instead of per-sample rows: fc1 and fc2 take N×In matrices,
// eg::nn::batch_norm normalises each of the 32 features over the 32 rows, and the loss is the mean
// of the 32 samples' cross-entropies. The rows of each minibatch are gathered into a buffer of
// 32×64 floats (8 KiB); the last, shorter minibatch of an epoch is dropped (DataLoader's
// drop_last=True), since the batch size is part of the type.
//
// For the test accuracy the batch norm uses the mean and biased variance of its input over the
// whole training set (computed after training, with the trained fc1), as constants: PyTorch's
// evaluation mode uses running averages instead. The same data, split (the committed one for the
// real digits) and generated set as examples/digits.cpp (examples/digits_data.hpp). Without the
// data file it says so and exits 0.
#include <etgrad/etgrad.hpp>
#include <etgrad/nn.hpp>

#include "digits_data.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <vector>

namespace eg = etgrad;

constexpr std::size_t B = 32;                              // rows per minibatch
constexpr auto X = eg::var<"X", eg::shape<B, 64>>;         // a minibatch, one sample per row
constexpr auto labels = eg::var<"labels", eg::shape<B>>;   // its classes 0..9
constexpr auto fc1 = eg::nn::linear<"fc1", 64, 32>;
constexpr auto bn = eg::nn::batch_norm<"bn", 32>;
constexpr auto fc2 = eg::nn::linear<"fc2", 32, 10>;
constexpr auto loss = eg::mean(eg::nn::cross_entropy(fc2(eg::tanh(bn(fc1(X)))), labels));

// Inference on one sample, the batch statistics replaced by constants bound at the call.
constexpr auto x = eg::var<"x", eg::shape<64>>;
constexpr auto mu = eg::var<"bn.mean", eg::shape<32>>;
constexpr auto var = eg::var<"bn.var", eg::shape<32>>;
constexpr auto logits = fc2(eg::tanh((fc1(x) - mu) / eg::sqrt(var + 1e-5) * bn.weight + bn.bias));

namespace {
using digits::dataset;

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
    std::string path = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else {
            path = argv[i];
        }
    }
    dataset all;
    if (!digits::load_examples_data(quick, path, "batch_norm", all)) {
        return 0;
    }
    const std::size_t n_train = all.size() * 4 / 5;
    std::vector<std::size_t> order;
    try {
        order = digits::example_split(all.size(), false, 0);
    } catch (const std::exception& e) {
        std::printf("%s\n", e.what());
        return 1;
    }
    const dataset train = digits::select(all, std::span<const std::size_t>(order).first(n_train));
    const dataset test = digits::select(all, std::span<const std::size_t>(order).subspan(n_train));
    std::printf("batch_norm: %zu training and %zu test samples; minibatches of %zu rows\n", train.size(),
                test.size(), B);

    auto params = eg::parameters<float>(loss, eg::inputs(X, labels), /*seed*/ 1);
    eg::optim::adam adam(params, {.lr = 1e-3});
    std::vector<std::size_t> perm(train.size());
    for (std::size_t i = 0; i < perm.size(); ++i) {
        perm[i] = i;
    }
    digits::rng visit{99};
    std::vector<float> xb(B * 64), yb(B);  // the minibatch being trained on
    const int epochs = quick ? 20 : 100;
    const auto t0 = std::chrono::steady_clock::now();
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        digits::shuffle(perm, visit);
        double sum = 0;
        std::size_t batches = 0;
        for (std::size_t start = 0; start + B <= perm.size(); start += B, ++batches) {
            for (std::size_t r = 0; r < B; ++r) {
                const std::size_t i = perm[start + r];
                std::copy_n(train.X.begin() + static_cast<std::ptrdiff_t>(64 * i), 64, xb.begin() + static_cast<std::ptrdiff_t>(64 * r));
                yb[r] = static_cast<float>(train.labels[i]);
            }
            auto [L, g] = eg::value_and_grad(loss, params, X = std::span<const float>(xb), labels = std::span<const float>(yb));
            adam.step(g);
            sum += L;
        }
        if (epoch % (epochs / 5) == 0) {
            std::printf("  epoch %3d  mean minibatch loss %.4f  (%.3f ms per epoch)\n", epoch,
                        sum / static_cast<double>(batches), 1e3 * seconds_since(t0) / epoch);
        }
    }

    // The batch norm's statistics over the training set: fc1's outputs for every row.
    std::vector<float> h(32 * train.size());
    eg::eval_into(h, fc1(x), fc1.weight = params[fc1.weight], fc1.bias = params[fc1.bias],
                  x = eg::rows<64>(std::span<const float>(train.X)));
    eg::tensor<float, eg::shape<32>> m{}, v{};
    for (std::size_t j = 0; j < 32; ++j) {
        double s = 0, q = 0;
        for (std::size_t i = 0; i < train.size(); ++i) {
            s += h[32 * i + j];
        }
        const double mean = s / static_cast<double>(train.size());
        for (std::size_t i = 0; i < train.size(); ++i) {
            q += (h[32 * i + j] - mean) * (h[32 * i + j] - mean);
        }
        m(j) = static_cast<float>(mean);
        v(j) = static_cast<float>(q / static_cast<double>(train.size()));
    }
    std::vector<float> z(10 * test.size());
    eg::eval_into(z, logits, fc1.weight = params[fc1.weight], fc1.bias = params[fc1.bias],
                  bn.weight = params[bn.weight], bn.bias = params[bn.bias], fc2.weight = params[fc2.weight],
                  fc2.bias = params[fc2.bias], mu = m, var = v, x = eg::rows<64>(std::span<const float>(test.X)));
    std::size_t right = 0;
    for (std::size_t s = 0; s < test.size(); ++s) {
        const auto row = z.begin() + static_cast<std::ptrdiff_t>(10 * s);
        right += std::max_element(row, row + 10) - row == test.labels[s];
    }
    const double acc = test.size() ? static_cast<double>(right) / static_cast<double>(test.size()) : 0.0;
    std::printf("Adam with a batch norm, minibatches of %zu: test accuracy %.1f %%\n", B, 100 * acc);
    return acc >= (quick ? 0.9 : 0.95) ? 0 : 1;
}
