// digits.cpp -- a digit classifier trained on the 8x8 digits that Debian's python3-sklearn ships
// (sklearn/datasets/data/digits.csv.gz: 1797 rows of 64 pixels 0..16, then the label 0..9).
//
//     etgrad_digits [path/to/digits.csv.gz] [--quick] [--split-seed N] [--init-seed N]
//
// Pixels are divided by 16; a fixed 80/20 split (1437 train, 360 test): the committed permutation
// examples/data/digits_split.txt (NumPy's default_rng(0).permutation(1797), the split on which
// PyTorch reproduces the reference accuracies of the issue), or with --split-seed N a Fisher-Yates
// permutation driven by splitmix64 (examples/digits_data.hpp). The model is 64 -> 32 -> 10 with tanh
// and a softmax cross-entropy, written with etgrad's layers; it is trained twice from the same
// initial parameters:
//   1. full-batch gradient descent, eg::optim::sgd with lr 0.5, 200 steps (200 epochs);
//   2. Adam (lr 1e-3) on minibatches of 32 rows for 200 epochs, the rows in a new random order
//      each epoch (eg::rows<64>(X, order): read in place, never copied).
// Loss, test accuracy and time per epoch are printed as training goes, a confusion matrix at the
// end; the trained parameters are saved, loaded back and checked. Without the data file (no
// python3-sklearn) it says so and exits with status 0 after training on nothing: the test suite
// runs it with --quick on a small generated set instead.
#include <etgrad/etgrad.hpp>
#include <etgrad/nn.hpp>

#include "digits_data.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <vector>

namespace eg = etgrad;

// The model, its loss, and its input variables: one sample's 64 pixels and its label.
constexpr auto x = eg::var<"x", eg::shape<64>>;
constexpr auto y = eg::var<"y">;
constexpr auto fc1 = eg::nn::linear<"fc1", 64, 32>;
constexpr auto fc2 = eg::nn::linear<"fc2", 32, 10>;
constexpr auto logits = fc2(eg::tanh(fc1(x)));
constexpr auto loss = eg::mean(eg::nn::cross_entropy(logits, y));

namespace {

using digits::dataset;

// The test accuracy: the logits of every test row in one call (PyTorch's model(X) in inference).
template <class P>
double accuracy(const P& params, const dataset& d, int (*confusion)[10] = nullptr) {
    std::vector<float> z(10 * d.size());
    eg::eval_into(z, logits, params, x = eg::rows<64>(std::span<const float>(d.X)));
    std::size_t right = 0;
    for (std::size_t s = 0; s < d.size(); ++s) {
        const int p = static_cast<int>(std::max_element(z.begin() + 10 * s, z.begin() + 10 * s + 10) - (z.begin() + 10 * s));
        right += p == d.labels[s];
        if (confusion != nullptr) {
            ++confusion[d.labels[s]][p];
        }
    }
    return d.size() ? static_cast<double>(right) / static_cast<double>(d.size()) : 0.0;
}

template <class P>
double full_loss(const P& params, const dataset& d) {
    return eg::value_and_grad(loss, params, x = eg::rows<64>(std::span<const float>(d.X)), y = d.labels).value;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    std::string path = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
    bool quick = false;
    std::uint64_t split_seed = 0;
    bool seed_given = false;
    std::uint64_t init_seed = 1;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (std::strcmp(argv[i], "--init-seed") == 0 && i + 1 < argc) {
            init_seed = std::strtoull(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--split-seed") == 0 && i + 1 < argc) {
            split_seed = std::strtoull(argv[++i], nullptr, 10);
            seed_given = true;
        } else {
            path = argv[i];
        }
    }
    dataset all;
    if (!digits::load_examples_data(quick, path, "digits", all)) {
        return 0;
    }
    const std::size_t n_train = all.size() * 4 / 5;  // 1437 of 1797
    std::vector<std::size_t> order;
    try {
        order = digits::example_split(all.size(), seed_given, split_seed);
    } catch (const std::exception& e) {
        std::printf("%s\n", e.what());
        return 1;
    }
    const dataset train = digits::select(all, std::span<const std::size_t>(order).first(n_train));
    const dataset test = digits::select(all, std::span<const std::size_t>(order).subspan(n_train));
    std::printf("digits: %zu training and %zu test samples of 64 pixels\n", train.size(), test.size());

    const auto init = eg::parameters<float>(loss, eg::inputs(x, y), init_seed);
    const auto X = std::span<const float>(train.X);

    // 1. Full-batch gradient descent.
    auto params = init;
    eg::optim::sgd gd(params, {.lr = 0.5});
    const int gd_steps = quick ? 100 : 200;
    auto t0 = std::chrono::steady_clock::now();
    for (int step = 1; step <= gd_steps; ++step) {
        auto [L, g] = eg::value_and_grad(loss, params, x = eg::rows<64>(X), y = train.labels);
        gd.step(g);
        if (step % (gd_steps / 5) == 0) {
            std::printf("  GD step %4d  loss %.4f  test accuracy %.1f %%  (%.3f ms per step)\n", step, L,
                        100 * accuracy(params, test), 1e3 * seconds_since(t0) / step);
        }
    }
    const double gd_acc = accuracy(params, test);
    std::printf("full-batch GD, lr 0.5: test accuracy %.1f %%\n", 100 * gd_acc);

    // 2. Adam on minibatches of 32 rows.
    params = init;
    eg::optim::adam adam(params, {.lr = 1e-3});
    constexpr std::size_t batch = 32;
    std::vector<std::size_t> perm(train.size());  // a new order of the rows every epoch
    for (std::size_t i = 0; i < perm.size(); ++i) {
        perm[i] = i;
    }
    digits::rng visit{99};
    const int epochs = quick ? 20 : 200;
    t0 = std::chrono::steady_clock::now();
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        digits::shuffle(perm, visit);
        for (std::size_t start = 0; start < perm.size(); start += batch) {
            // A minibatch: the rows perm[start], perm[start + 1], ... of X, read in place.
            const auto rows = std::span<const std::size_t>(perm).subspan(start, std::min(batch, perm.size() - start));
            auto g = eg::grad(loss, params, x = eg::rows<64>(X, rows), y = eg::select(train.labels, rows));
            adam.step(g);
        }
        if (epoch % (epochs / 10) == 0) {
            const double per_epoch = 1e3 * seconds_since(t0) / epoch;
            std::printf("  Adam epoch %3d  loss %.4f  test accuracy %.1f %%  (%.3f ms per epoch)\n", epoch,
                        full_loss(params, train), 100 * accuracy(params, test), per_epoch);
        }
    }
    int confusion[10][10] = {};
    const double adam_acc = accuracy(params, test, confusion);
    std::printf("Adam, minibatches of %zu: test accuracy %.1f %%\nconfusion matrix (rows: true digit, "
                "columns: predicted):\n",
                batch, 100 * adam_acc);
    for (int t = 0; t < 10; ++t) {
        std::printf("  %d |", t);
        for (int p = 0; p < 10; ++p) {
            std::printf(" %3d", confusion[t][p]);
        }
        std::printf("\n");
    }

    // The trained model, saved and loaded back.
    params.save("digits_model.txt");
    auto loaded = eg::parameters<float>(loss, eg::inputs(x, y), /*seed*/ 0);
    loaded.load("digits_model.txt");
    const bool same = accuracy(loaded, test) == adam_acc && loaded[fc2.bias] == params[fc2.bias];
    std::printf("saved to digits_model.txt and loaded back: %s\n", same ? "the same model" : "DIFFERENT");
    // The targets on its split (the committed one), with the default initialisation: 97 %
    // (GD) and 98.5 % (Adam). PyTorch 1.13 there: 97.5-97.8 % and 99.2-99.4 % (bench/torch_digits.py);
    // etgrad over initialisation seeds 1-5: 97.5-98.6 % and 98.3-99.2 %. Other splits, seeds and the
    // generated set check that training worked.
    const bool reference = !quick && !seed_given && init_seed == 1 && all.size() == 1797;
    const double want_gd = reference ? 0.97 : quick ? 0.9 : 0.95, want_adam = reference ? 0.985 : quick ? 0.9 : 0.95;
    return same && gd_acc >= want_gd && adam_acc >= want_adam ? 0 : 1;
}
