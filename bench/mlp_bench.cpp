// Tensor benchmark: the loss and full gradient of a 64 -> 32 -> 10 network (tanh hidden layer,
// softmax cross-entropy, mean over 1437 samples: the digits training set's size), in double and
// float, etgrad against the hand-written SIMD kernel of handwritten_mlp.hpp in the same binary:
//   BM_mlp_hand[_float]    hand-written: samples in lanes, register-tiled outer products,
//   BM_mlp_etgrad[_float]  etgrad: eg::value_and_grad over eg::rows<64>(X) and integer labels.
//   BM_mlp_etgrad_par2     the same on two threads (eg::par(2)), wall time.
// The data are synthetic (pixels in [0, 1], labels 0..9, weights as torch.nn.Linear initialises
// them) so that the benchmark needs nothing installed. main() checks once that both agree.
// Figures go into bench/RESULTS.md only through run_benchmarks.py.
#include "handwritten_mlp.hpp"

#include <benchmark/benchmark.h>
#include <etgrad/etgrad.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

namespace eg = etgrad;

namespace {

constexpr std::size_t In = 64, Hid = 32, Out = 10, N = 1437;

constexpr auto W1 = eg::var<"fc1.weight", eg::shape<Hid, In>>;
constexpr auto b1 = eg::var<"fc1.bias", eg::shape<Hid>>;
constexpr auto W2 = eg::var<"fc2.weight", eg::shape<Out, Hid>>;
constexpr auto b2 = eg::var<"fc2.bias", eg::shape<Out>>;
constexpr auto x = eg::var<"x", eg::shape<In>>;
constexpr auto y = eg::var<"y">;
constexpr auto logits = eg::matvec(W2, eg::tanh(eg::matvec(W1, x) + b1)) + b2;
constexpr auto loss = eg::mean(eg::logsumexp(logits) - eg::pick(logits, y));

struct Rng {  // splitmix64
    std::uint64_t s;
    double uniform(double lo, double hi) {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        return lo + (hi - lo) * static_cast<double>(z >> 11) * 0x1.0p-53;
    }
};

template <class T>
struct problem {
    handwritten::mlp_params<T, In, Hid, Out> p{};
    std::vector<T> X;
    std::vector<int> labels;
    problem() : X(N * In), labels(N) {
        Rng r{42};
        for (auto& v : p.W1) v = static_cast<T>(r.uniform(-0.125, 0.125));  // 1/sqrt(64)
        for (auto& v : p.b1) v = static_cast<T>(r.uniform(-0.125, 0.125));
        const double k = 1.0 / std::sqrt(double(Hid));
        for (auto& v : p.W2) v = static_cast<T>(r.uniform(-k, k));
        for (auto& v : p.b2) v = static_cast<T>(r.uniform(-k, k));
        for (auto& v : X) v = static_cast<T>(std::floor(r.uniform(0, 17)) / 16);
        for (auto& l : labels) l = static_cast<int>(r.uniform(0, 10));
    }
};

template <class T>
T hand(const problem<T>& d, handwritten::mlp_params<T, In, Hid, Out>& g) {
    return handwritten::mlp_loss_grad<T, In, Hid, Out>(d.p, d.X.data(), d.labels.data(), N, g);
}

template <class T>
auto etgrad_call(const problem<T>& d) {
    return eg::value_and_grad(loss, eg::wrt(W1, b1, W2, b2), W1 = d.p.W1, b1 = d.p.b1, W2 = d.p.W2,
                              b2 = d.p.b2, x = eg::rows<In>(std::span<const T>(d.X)), y = d.labels);
}

template <class T>
void BM_hand(benchmark::State& st) {
    const problem<T> d;
    handwritten::mlp_params<T, In, Hid, Out> g;
    for (auto _ : st) {
        benchmark::DoNotOptimize(hand(d, g));
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * N));
}

template <class T>
void BM_etgrad(benchmark::State& st) {
    const problem<T> d;
    for (auto _ : st) {
        auto r = etgrad_call(d);
        benchmark::DoNotOptimize(r);
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * N));
}

// The same call on two threads (eg::par(2)), timed by the wall clock; bit-identical (checked in main).
template <class T>
auto etgrad_call_par2(const problem<T>& d) {
    return eg::value_and_grad(eg::par(2), loss, eg::wrt(W1, b1, W2, b2), W1 = d.p.W1, b1 = d.p.b1, W2 = d.p.W2,
                              b2 = d.p.b2, x = eg::rows<In>(std::span<const T>(d.X)), y = d.labels);
}
void BM_mlp_etgrad_par2(benchmark::State& st) {
    const problem<double> d;
    for (auto _ : st) {
        auto r = etgrad_call_par2(d);
        benchmark::DoNotOptimize(r);
        benchmark::ClobberMemory();
    }
    st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * N));
}
BENCHMARK(BM_mlp_etgrad_par2)->UseRealTime();

void BM_mlp_hand(benchmark::State& st) { BM_hand<double>(st); }
void BM_mlp_etgrad(benchmark::State& st) { BM_etgrad<double>(st); }
void BM_mlp_hand_float(benchmark::State& st) { BM_hand<float>(st); }
void BM_mlp_etgrad_float(benchmark::State& st) { BM_etgrad<float>(st); }
BENCHMARK(BM_mlp_hand);
BENCHMARK(BM_mlp_etgrad);
BENCHMARK(BM_mlp_hand_float);
BENCHMARK(BM_mlp_etgrad_float);

// Agreement, checked before timing (and by the test suite through --benchmark_list_tests).
bool failed = false;
void agree(const char* what, std::size_t i, double got, double want, double tol) {
    if (!(std::abs(got - want) <= tol * std::max(1.0, std::abs(want)))) {
        std::fprintf(stderr, "mlp_bench: %s[%zu]: etgrad %.17g, hand-written %.17g\n", what, i, got, want);
        failed = true;
    }
}

template <class T, std::size_t K, class G>
void agree_all(const char* what, const std::array<T, K>& want, const G& got, double tol) {
    for (std::size_t i = 0; i < K; ++i) {
        agree(what, i, got[i], want[i], tol);
    }
}

template <class T>
void check(double tol) {
    const problem<T> d;
    handwritten::mlp_params<T, In, Hid, Out> g;
    const T L = hand(d, g);
    const auto [Le, ge] = etgrad_call(d);
    agree("loss", 0, Le, L, tol);
    agree_all("dW1", g.W1, ge[W1], tol);
    agree_all("db1", g.b1, ge[b1], tol);
    agree_all("dW2", g.W2, ge[W2], tol);
    agree_all("db2", g.b2, ge[b2], tol);
    // Two threads: the same bits as one.
    const auto [Lp, gp] = etgrad_call_par2(d);
    if (!(Lp == Le && gp[W1] == ge[W1] && gp[b1] == ge[b1] && gp[W2] == ge[W2] && gp[b2] == ge[b2])) {
        std::fprintf(stderr, "mlp_bench: eg::par(2) differs from one thread\n");
        failed = true;
    }
}

}  // namespace

int main(int argc, char** argv) {
    check<double>(1e-12);
    check<float>(2e-5);
    if (failed) {
        return 1;
    }
    benchmark::AddCustomContext("simd", eg::simd_arch_name());
#ifdef ETGRAD_BENCH_FLAGS
    benchmark::AddCustomContext("flags", ETGRAD_BENCH_FLAGS);
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
