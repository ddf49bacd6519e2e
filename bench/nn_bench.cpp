// Neural-network benchmark, etgrad's side of the comparison with PyTorch (bench/torch_nn_bench.py;
// bench/compare_torch.py runs both in one sitting and writes the torch_nn section of RESULTS.md).
// The model: 64 -> 32 -> 10, tanh hidden layer, softmax cross-entropy, mean over the samples,
// written with etgrad's nn layers (eg::nn::linear, eg::nn::cross_entropy) and a parameter store:
//   BM_nn_fullbatch_etgrad[_float]  loss and every parameter gradient over all 1437 samples
//                                   (the digits training set's size), double [float];
//   BM_nn_onesample_etgrad          the same for one sample (float): a scalar call, no data loop;
//   BM_nn_adam_epoch_etgrad         one epoch of Adam (lr 1e-3, float) over minibatches of 32
//                                   (44 full and one of 29): value_and_grad and opt.step for each,
//                                   the minibatches being subspans of a copy of the data permuted
//                                   once, before timing (no copy per epoch or per minibatch).
// The data are synthetic (pixels floor(U(0, 17)) / 16, labels 0..9) and the weights are drawn as
// torch.nn.Linear draws them (uniform in +-1/sqrt(in)), all from one splitmix64 stream that
// torch_nn_bench.py reproduces, so that both programs compute the same losses: main() checks
// etgrad against a plain double reference, and records the losses in the JSON context
// ("check_*") where compare_torch.py compares them with PyTorch's.
// Figures go into bench/RESULTS.md only through compare_torch.py.
#include "handwritten_mlp.hpp"  // mlp_loss_grad_reference: the plain reference for the check

#include <benchmark/benchmark.h>

// GCC 12 reports -Waggressive-loop-optimizations ("iteration 72057594037927936 invokes undefined
// behavior") inside matvec_op::forward's leftover-rows loop, which never runs for 32 rows, when
// the one-sample call (a scalar call on tview operands) is inlined: silenced for etgrad's headers
// only. (A false positive; reported with this benchmark.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Waggressive-loop-optimizations"
#endif
#include <etgrad/etgrad.hpp>
#include <etgrad/nn/layers.hpp>
#include <etgrad/nn/losses.hpp>
#include <etgrad/nn/parameters.hpp>
#if __has_include(<etgrad/nn/optim.hpp>)
#include <etgrad/nn/optim.hpp>
#define NN_BENCH_HAVE_ADAM 1
#else
#define NN_BENCH_HAVE_ADAM 0
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

namespace eg = etgrad;

namespace {

constexpr std::size_t In = 64, Hid = 32, Out = 10, N = 1437, Batch = 32;

constexpr auto x = eg::var<"x", eg::shape<In>>;  // one sample's features
constexpr auto y = eg::var<"y">;                  // its class label
constexpr auto fc1 = eg::nn::linear<"fc1", In, Hid>;
constexpr auto fc2 = eg::nn::linear<"fc2", Hid, Out>;
constexpr auto logits = fc2(eg::tanh(fc1(x)));
constexpr auto sample_loss = eg::nn::cross_entropy(logits, y);
constexpr auto loss = eg::mean(sample_loss);  // over the samples bound to x and y

template <class T>
using store_t = decltype(eg::parameters<T>(loss, eg::inputs(x, y), 0));

// splitmix64, as torch_nn_bench.py computes it (one operation per statement: no contraction).
struct Rng {
    std::uint64_t s;
    double uniform(double lo, double hi) {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        const double u = static_cast<double>(z >> 11) * 0x1.0p-53;
        const double span = hi - lo;
        const double t = span * u;
        return lo + t;
    }
};

constexpr std::uint64_t kDataSeed = 42, kPermSeed = 7;

// The problem: parameters, data, and the data permuted once for the minibatches.
template <class T>
struct problem {
    store_t<T> params = eg::parameters<T>(loss, eg::inputs(x, y), 0);
    std::vector<T> X = std::vector<T>(N * In);
    std::vector<int> labels = std::vector<int>(N);
    std::vector<T> Xp = std::vector<T>(N * In);  // rows in the epoch's shuffled order
    std::vector<int> yp = std::vector<int>(N);

    problem() {
        Rng r{kDataSeed};
        const double k1 = 1.0 / std::sqrt(double(In)), k2 = 1.0 / std::sqrt(double(Hid));
        for (auto& v : params[fc1.weight]) v = static_cast<T>(r.uniform(-k1, k1));
        for (auto& v : params[fc1.bias]) v = static_cast<T>(r.uniform(-k1, k1));
        for (auto& v : params[fc2.weight]) v = static_cast<T>(r.uniform(-k2, k2));
        for (auto& v : params[fc2.bias]) v = static_cast<T>(r.uniform(-k2, k2));
        for (auto& v : X) v = static_cast<T>(std::floor(r.uniform(0, 17)) / 16);
        for (auto& l : labels) l = static_cast<int>(r.uniform(0, 10));
        // Fisher-Yates with the permutation's own stream.
        std::vector<std::size_t> perm(N);
        for (std::size_t i = 0; i < N; ++i) perm[i] = i;
        Rng q{kPermSeed};
        for (std::size_t i = N - 1; i > 0; --i) {
            const auto j = static_cast<std::size_t>(q.uniform(0, static_cast<double>(i + 1)));
            std::swap(perm[i], perm[j]);
        }
        for (std::size_t k = 0; k < N; ++k) {
            std::copy_n(X.begin() + static_cast<std::ptrdiff_t>(perm[k] * In), In,
                        Xp.begin() + static_cast<std::ptrdiff_t>(k * In));
            yp[k] = labels[perm[k]];
        }
    }
    std::span<const T> data() const { return X; }
    std::span<const int> targets() const { return labels; }
};

// (a) The full batch: loss and all parameter gradients over the N samples.
template <class T>
auto full_batch(const store_t<T>& params, std::span<const T> X, std::span<const int> labels) {
    return eg::value_and_grad(loss, params, x = eg::rows<In>(X), y = labels);
}

// (b) One sample: a scalar call (x bound to an array of In values, y to the label).
auto one_sample(const store_t<float>& params, const std::array<float, In>& xs, float label) {
    return eg::value_and_grad(sample_loss, params, x = xs, y = label);
}

#if NN_BENCH_HAVE_ADAM
// (c) One epoch of Adam over minibatches of Batch rows of the pre-permuted data (subspans: no
// copy). Returns the last minibatch's loss.
template <class Opt>
float adam_epoch(store_t<float>& params, Opt& opt, std::span<const float> Xp, std::span<const int> yp) {
    float last = 0;
    for (std::size_t s = 0; s < N; s += Batch) {
        const std::size_t b = std::min(Batch, N - s);
        auto [L, g] = eg::value_and_grad(loss, params, x = eg::rows<In>(Xp.subspan(s * In, b * In)),
                                         y = yp.subspan(s, b));
        opt.step(g);
        last = L;
    }
    return last;
}
#endif

std::array<float, In> row0(const problem<float>& d) {
    std::array<float, In> xs{};
    std::copy_n(d.X.begin(), In, xs.begin());
    return xs;
}

template <class T>
void BM_fullbatch(benchmark::State& st) {
    const problem<T> d;
    for (auto _ : st) {
        auto r = full_batch<T>(d.params, d.data(), d.targets());
        benchmark::DoNotOptimize(r);
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * N));
}

void BM_nn_fullbatch_etgrad(benchmark::State& st) { BM_fullbatch<double>(st); }
void BM_nn_fullbatch_etgrad_float(benchmark::State& st) { BM_fullbatch<float>(st); }

void BM_nn_onesample_etgrad(benchmark::State& st) {
    const problem<float> d;
    const std::array<float, In> xs = row0(d);
    const float label = static_cast<float>(d.labels[0]);
    for (auto _ : st) {
        auto r = one_sample(d.params, xs, label);
        benchmark::DoNotOptimize(r);
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
}

BENCHMARK(BM_nn_fullbatch_etgrad);
BENCHMARK(BM_nn_fullbatch_etgrad_float);
BENCHMARK(BM_nn_onesample_etgrad);

#if NN_BENCH_HAVE_ADAM
void BM_nn_adam_epoch_etgrad(benchmark::State& st) {
    problem<float> d;  // training goes on from epoch to epoch, as in torch_nn_bench.py
    eg::optim::adam opt(d.params, {.lr = 1e-3});
    for (auto _ : st) {
        benchmark::DoNotOptimize(adam_epoch(d.params, opt, d.Xp, d.yp));
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * N));
}
BENCHMARK(BM_nn_adam_epoch_etgrad);
#endif

// ------------------------------------------------------------------------------------------------
// Checks, before timing (and by the test suite through --benchmark_list_tests).
using ref_params = handwritten::mlp_params<double, In, Hid, Out>;

bool failed = false;
void agree(const char* what, std::size_t i, double got, double want, double tol) {
    if (!(std::abs(got - want) <= tol * std::max(1.0, std::abs(want)))) {
        std::fprintf(stderr, "nn_bench: %s[%zu]: etgrad %.17g, reference %.17g\n", what, i, got, want);
        failed = true;
    }
}

template <class T>
handwritten::mlp_params<T, In, Hid, Out> as_mlp(const store_t<T>& p) {
    handwritten::mlp_params<T, In, Hid, Out> m{};
    std::copy_n(p[fc1.weight].begin(), Hid * In, m.W1.begin());
    std::copy_n(p[fc1.bias].begin(), Hid, m.b1.begin());
    std::copy_n(p[fc2.weight].begin(), Out * Hid, m.W2.begin());
    std::copy_n(p[fc2.bias].begin(), Out, m.b2.begin());
    return m;
}

// etgrad's loss L and gradient record g against the double reference on the same n rows.
template <class T, class G>
void check_call(const char* what, const store_t<T>& params, const T* X, const int* labels, std::size_t n, double L,
                const G& g, double tol) {
    ref_params want{};
    const double Lw = handwritten::mlp_loss_grad_reference<T, In, Hid, Out>(as_mlp<T>(params), X, labels, n, want);
    const std::string w = what;
    agree((w + " loss").c_str(), 0, L, Lw, tol);
    for (std::size_t i = 0; i < Hid * In; ++i) agree((w + " dW1").c_str(), i, g[fc1.weight][i], want.W1[i], tol);
    for (std::size_t i = 0; i < Hid; ++i) agree((w + " db1").c_str(), i, g[fc1.bias][i], want.b1[i], tol);
    for (std::size_t i = 0; i < Out * Hid; ++i) agree((w + " dW2").c_str(), i, g[fc2.weight][i], want.W2[i], tol);
    for (std::size_t i = 0; i < Out; ++i) agree((w + " db2").c_str(), i, g[fc2.bias][i], want.b2[i], tol);
}

std::string g17(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

void check_and_record() {
    {
        const problem<double> d;
        const auto [L, g] = full_batch<double>(d.params, d.data(), d.targets());
        check_call<double>("full batch (double)", d.params, d.X.data(), d.labels.data(), N, L, g, 1e-12);
        benchmark::AddCustomContext("check_loss_fullbatch_double", g17(L));
    }
    const problem<float> d;
    {
        const auto [L, g] = full_batch<float>(d.params, d.data(), d.targets());
        check_call<float>("full batch (float)", d.params, d.X.data(), d.labels.data(), N, L, g, 2e-5);
        benchmark::AddCustomContext("check_loss_fullbatch_float", g17(L));
    }
    {
        const auto [L, g] = one_sample(d.params, row0(d), static_cast<float>(d.labels[0]));
        check_call<float>("one sample", d.params, d.X.data(), d.labels.data(), 1, L, g, 2e-5);
        benchmark::AddCustomContext("check_loss_onesample", g17(L));
    }
    {
        // The last minibatch of an epoch (29 rows), through subspans of the permuted copy.
        const std::size_t s = (N / Batch) * Batch;
        const auto [L, g] = full_batch<float>(d.params, std::span<const float>(d.Xp).subspan(s * In),
                                              std::span<const int>(d.yp).subspan(s));
        check_call<float>("last minibatch", d.params, d.Xp.data() + s * In, d.yp.data() + s, N - s, L, g, 2e-5);
    }
#if NN_BENCH_HAVE_ADAM
    {
        // Adam's first step moves each parameter by -lr * g / (|g| + eps): about lr against the
        // gradient's sign (elements with a tiny gradient are left out: eps matters there).
        problem<float> t;
        const auto before = t.params;
        const auto [L, g] = full_batch<float>(t.params, std::span<const float>(t.Xp).first(Batch * In),
                                              std::span<const int>(t.yp).first(Batch));
        (void)L;
        eg::optim::adam opt(t.params, {.lr = 1e-3});
        opt.step(g);
        const auto step_ok = [&](const char* what, const auto& p0, const auto& p1, const auto& gv) {
            for (std::size_t i = 0; i < p0.size(); ++i) {
                const double gi = gv[i];
                if (std::abs(gi) < 1e-4) continue;
                agree(what, i, double(p1[i]) - double(p0[i]), -1e-3 * (gi > 0 ? 1.0 : -1.0), 1e-5);
            }
        };
        step_ok("adam step fc1.weight", before[fc1.weight], t.params[fc1.weight], g[fc1.weight]);
        step_ok("adam step fc1.bias", before[fc1.bias], t.params[fc1.bias], g[fc1.bias]);
        step_ok("adam step fc2.weight", before[fc2.weight], t.params[fc2.weight], g[fc2.weight]);
        step_ok("adam step fc2.bias", before[fc2.bias], t.params[fc2.bias], g[fc2.bias]);
    }
    {
        // One epoch from the initial weights, then the full-batch loss: compared with PyTorch's.
        problem<float> t;
        eg::optim::adam opt(t.params, {.lr = 1e-3});
        adam_epoch(t.params, opt, t.Xp, t.yp);
        const auto [L, g] = full_batch<float>(t.params, t.data(), t.targets());
        (void)g;
        benchmark::AddCustomContext("check_loss_after_adam_epoch", g17(L));
    }
#endif
}

std::string compiler_name() {
#if defined(__clang__)
    return "Clang " __clang_version__;
#elif defined(__GNUC__)
    return "GCC " __VERSION__;
#else
    return "unknown compiler";
#endif
}

}  // namespace

int main(int argc, char** argv) {
    check_and_record();
    if (failed) {
        return 1;
    }
    benchmark::AddCustomContext("simd", eg::simd_arch_name());
    benchmark::AddCustomContext("etgrad_compiler", compiler_name());
#ifdef ETGRAD_BENCH_FLAGS
    benchmark::AddCustomContext("flags", ETGRAD_BENCH_FLAGS);
#endif
    benchmark::AddCustomContext("adam", NN_BENCH_HAVE_ADAM ? "yes" : "no (etgrad/nn/optim.hpp absent)");
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
