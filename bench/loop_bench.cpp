// Run-time-length loop benchmarks: etgrad's eg::scan against hand-written loops in the same binary.
// The problem: a damped oscillator, n = 10^4 steps of
//     v' = v - dt (k x + c v),   x' = x + dt v      (both updates read the old state),
// from (x0, v0) = (1, 0) with k = 4, c = 0.3, dt = 0.01; the value x_n and its gradient with
// respect to k, c, x0 and v0.
//   BM_oscillator_hand             a hand-written forward loop storing the trajectory, then a
//                                  hand-written reverse loop (the adjoints by hand),
//   BM_oscillator_etgrad           eg::scan(step, n).final(x), the default store_states policy,
//   BM_oscillator_etgrad_checkpoint the same with eg::checkpoint_every<100>,
//   BM_oscillator_etgrad_revolve   the same with eg::revolve<10> (10 stored states; the binomial
//                                  schedule takes r·n − C(10 + r, r − 1) forward steps in all, r = 7
//                                  at n = 10^4: 57624, about 5.8 forward passes),
//   BM_oscillator_hand_value       the hand-written forward loop alone,
//   BM_oscillator_etgrad_value     the etgrad loop's value alone (its call operator).
// An ensemble, one oscillator per sample (etgrad/loop/data.hpp): kSamples initial positions, n =
// 1000 steps each, the sum over the samples of x_n and its gradient with respect to k and c (and
// each sample's x0):
//   BM_ensemble_hand               hand-written forward and reverse loops over the steps, blocks of
//                                  8 samples innermost (the compiler vectorises them), a block's
//                                  trajectories stored,
//   BM_ensemble_etgrad             eg::sum(eg::scan(step, n).final(x)) over x = xs, one loop per
//                                  SIMD lane,
//   BM_ensemble_etgrad_per_sample  the scalar etgrad loop called once per sample.
// Both gradient implementations allocate their trajectory storage once per call. main() checks
// once that hand-written and etgrad agree (1e-12 relative) before timing. Figures go into
// bench/RESULTS.md only through run_benchmarks.py.
#include <benchmark/benchmark.h>
#include <etgrad/etgrad.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace eg = etgrad;

namespace {

constexpr auto x = eg::var<"x">;
constexpr auto v = eg::var<"v">;
constexpr auto k = eg::var<"k">;
constexpr auto c = eg::var<"c">;
constexpr auto dt = eg::var<"dt">;
constexpr auto step = eg::carry(v = v - dt * (k * x + c * v), x = x + dt * v);

constexpr double kX0 = 1.0, kV0 = 0.0, kK = 4.0, kC = 0.3, kDt = 0.01;
constexpr std::ptrdiff_t kSteps = 10000;

struct Res {
    double xn, gk, gc, gx0, gv0;
};

// ------------------------------------------------------------------------------------------------
// Hand-written.
double oscillator_hand_value(std::ptrdiff_t n) {
    double xs = kX0, vs = kV0;
    for (std::ptrdiff_t t = 0; t < n; ++t) {
        const double vn = vs - kDt * (kK * xs + kC * vs);
        xs = xs + kDt * vs;
        vs = vn;
    }
    return xs;
}
Res oscillator_hand(std::ptrdiff_t n) {
    const auto len = static_cast<std::size_t>(n);
    std::vector<double> xs(len + 1), vs(len + 1);  // the trajectory: states 0..n
    xs[0] = kX0;
    vs[0] = kV0;
    for (std::size_t t = 0; t < len; ++t) {
        vs[t + 1] = vs[t] - kDt * (kK * xs[t] + kC * vs[t]);
        xs[t + 1] = xs[t] + kDt * vs[t];
    }
    // Reverse: xb, vb are the adjoints of x_{t+1}, v_{t+1}; step t maps them to those of x_t, v_t.
    const double a = -kDt * kK, b = 1.0 - kDt * kC;
    double xb = 1.0, vb = 0.0, kb = 0.0, cb = 0.0;
    for (std::size_t t = len; t-- > 0;) {
        kb -= kDt * xs[t] * vb;
        cb -= kDt * vs[t] * vb;
        const double xb0 = xb + a * vb;
        vb = kDt * xb + b * vb;
        xb = xb0;
    }
    return {xs[len], kb, cb, xb, vb};
}

// ------------------------------------------------------------------------------------------------
// etgrad.
template <class Policy>
Res oscillator_etgrad(std::ptrdiff_t n, Policy policy) {
    auto [xn, g] = eg::value_and_grad(eg::scan(step, n, policy).final(x), eg::wrt(k, c, x, v), x = kX0, v = kV0,
                                      k = kK, c = kC, dt = kDt);
    return {xn, g[k], g[c], g[x], g[v]};
}
Res oscillator_etgrad_store(std::ptrdiff_t n) { return oscillator_etgrad(n, eg::store_states{}); }
Res oscillator_etgrad_checkpoint(std::ptrdiff_t n) { return oscillator_etgrad(n, eg::checkpoint_every<100>); }
Res oscillator_etgrad_revolve(std::ptrdiff_t n) { return oscillator_etgrad(n, eg::revolve<10>); }
double oscillator_etgrad_value(std::ptrdiff_t n) {
    return eg::scan(step, n).final(x)(x = kX0, v = kV0, k = kK, c = kC, dt = kDt);
}

// ------------------------------------------------------------------------------------------------
// The ensemble.
constexpr std::size_t kSamples = 1024;
constexpr std::ptrdiff_t kEnsembleSteps = 1000;
struct ensemble {
    std::vector<double> x0 = [] {
        std::vector<double> r(kSamples);
        for (std::size_t i = 0; i < kSamples; ++i) {
            r[i] = 0.5 + 1.5 * std::sin(0.37 * double(i)) * std::sin(0.37 * double(i));
        }
        return r;
    }();
    std::vector<double> gx0 = std::vector<double>(kSamples);
};
ensemble& the_ensemble() {
    static ensemble e;
    return e;
}
struct ERes {
    double sum, gk, gc, gx0_first, gx0_last;
};
ERes ensemble_hand(std::ptrdiff_t n) {
    // Blocks of B samples (their trajectories stay in cache), the samples innermost.
    constexpr std::size_t B = 8;
    static_assert(kSamples % B == 0);
    auto& e = the_ensemble();
    const auto len = static_cast<std::size_t>(n);
    std::vector<double> xs((len + 1) * B), vs((len + 1) * B);
    const double a = -kDt * kK, b = 1.0 - kDt * kC;
    double sum = 0, gk = 0, gc = 0;
    for (std::size_t s0 = 0; s0 < kSamples; s0 += B) {
        for (std::size_t i = 0; i < B; ++i) {
            xs[i] = e.x0[s0 + i];
            vs[i] = kV0;
        }
        for (std::size_t t = 0; t < len; ++t) {
            const double* xo = &xs[t * B];
            const double* vo = &vs[t * B];
            double* xn = &xs[(t + 1) * B];
            double* vn = &vs[(t + 1) * B];
            for (std::size_t i = 0; i < B; ++i) {
                vn[i] = vo[i] - kDt * (kK * xo[i] + kC * vo[i]);
                xn[i] = xo[i] + kDt * vo[i];
            }
        }
        double xb[B], vb[B], kb[B], cb[B];
        for (std::size_t i = 0; i < B; ++i) {
            sum += xs[len * B + i];
            xb[i] = 1.0;
            vb[i] = kb[i] = cb[i] = 0.0;
        }
        for (std::size_t t = len; t-- > 0;) {
            const double* xo = &xs[t * B];
            const double* vo = &vs[t * B];
            for (std::size_t i = 0; i < B; ++i) {
                kb[i] -= kDt * xo[i] * vb[i];
                cb[i] -= kDt * vo[i] * vb[i];
                const double xb0 = xb[i] + a * vb[i];
                vb[i] = kDt * xb[i] + b * vb[i];
                xb[i] = xb0;
            }
        }
        for (std::size_t i = 0; i < B; ++i) {
            gk += kb[i];
            gc += cb[i];
            e.gx0[s0 + i] = xb[i];
        }
    }
    return {sum, gk, gc, e.gx0[0], e.gx0[kSamples - 1]};
}
ERes ensemble_etgrad(std::ptrdiff_t n) {
    auto& e = the_ensemble();
    auto [s, g] = eg::value_and_grad(eg::sum(eg::scan(step, n).final(x)), eg::wrt(k, c),
                                     x = eg::data(e.x0).grad_into(e.gx0), v = kV0, k = kK, c = kC, dt = kDt);
    return {s, g[k], g[c], e.gx0[0], e.gx0[kSamples - 1]};
}
ERes ensemble_etgrad_per_sample(std::ptrdiff_t n) {
    auto& e = the_ensemble();
    ERes r{0, 0, 0, 0, 0};
    const auto loop = eg::scan(step, n).final(x);
    for (std::size_t i = 0; i < kSamples; ++i) {
        auto [xn, g] = eg::value_and_grad(loop, eg::wrt(k, c, x), x = e.x0[i], v = kV0, k = kK, c = kC, dt = kDt);
        r.sum += xn;
        r.gk += g[k];
        r.gc += g[c];
        e.gx0[i] = g[x];
    }
    r.gx0_first = e.gx0[0];
    r.gx0_last = e.gx0[kSamples - 1];
    return r;
}

// ------------------------------------------------------------------------------------------------
template <class F>
void timed(benchmark::State& state, F f) {
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(state.range(0));
    for (auto _ : state) {
        auto res = f(n);
        benchmark::DoNotOptimize(res);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
}

#define ETGRAD_LOOP_BENCH(name, fn) \
    void BM_##name(benchmark::State& st) { timed(st, fn); } \
    BENCHMARK(BM_##name)->Arg(kSteps)

ETGRAD_LOOP_BENCH(oscillator_hand, oscillator_hand);
ETGRAD_LOOP_BENCH(oscillator_etgrad, oscillator_etgrad_store);
ETGRAD_LOOP_BENCH(oscillator_etgrad_checkpoint, oscillator_etgrad_checkpoint);
ETGRAD_LOOP_BENCH(oscillator_etgrad_revolve, oscillator_etgrad_revolve);
ETGRAD_LOOP_BENCH(oscillator_hand_value, oscillator_hand_value);
ETGRAD_LOOP_BENCH(oscillator_etgrad_value, oscillator_etgrad_value);

// The ensemble: items are sample-steps.
template <class F>
void timed_ensemble(benchmark::State& state, F f) {
    for (auto _ : state) {
        auto res = f(kEnsembleSteps);
        benchmark::DoNotOptimize(res);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kEnsembleSteps *
                            static_cast<std::int64_t>(kSamples));
}
void BM_ensemble_hand(benchmark::State& st) { timed_ensemble(st, ensemble_hand); }
void BM_ensemble_etgrad(benchmark::State& st) { timed_ensemble(st, ensemble_etgrad); }
void BM_ensemble_etgrad_per_sample(benchmark::State& st) { timed_ensemble(st, ensemble_etgrad_per_sample); }
BENCHMARK(BM_ensemble_hand);
BENCHMARK(BM_ensemble_etgrad);
BENCHMARK(BM_ensemble_etgrad_per_sample);

// ------------------------------------------------------------------------------------------------
// Agreement, checked before timing (and by the test suite through --benchmark_list_tests).
int failures = 0;
void agree(const char* what, std::ptrdiff_t n, double got, double want, double rel) {
    if (!(std::fabs(got - want) <= rel * std::fabs(want) + 1e-300)) {
        std::fprintf(stderr, "etgrad_bench_loop: %s (n = %td): %.17g vs %.17g\n", what, n, got, want);
        ++failures;
    }
}
void agree_res(const char* what, std::ptrdiff_t n, const Res& got, const Res& want) {
    char buf[96];
    const char* parts[] = {"x_n", "dx_n/dk", "dx_n/dc", "dx_n/dx0", "dx_n/dv0"};
    const double g[] = {got.xn, got.gk, got.gc, got.gx0, got.gv0};
    const double w[] = {want.xn, want.gk, want.gc, want.gx0, want.gv0};
    for (int i = 0; i < 5; ++i) {
        std::snprintf(buf, sizeof buf, "%s %s", what, parts[i]);
        agree(buf, n, g[i], w[i], 1e-12);
    }
}
void check_agreement() {
    for (std::ptrdiff_t n : {std::ptrdiff_t{0}, std::ptrdiff_t{1}, std::ptrdiff_t{37}, std::ptrdiff_t{1001}, kSteps}) {
        const Res h = oscillator_hand(n);
        agree_res("store_states", n, oscillator_etgrad_store(n), h);
        agree_res("checkpoint_every<100>", n, oscillator_etgrad_checkpoint(n), h);
        agree_res("revolve<10>", n, oscillator_etgrad_revolve(n), h);
        agree("hand value", n, oscillator_hand_value(n), h.xn, 1e-12);
        agree("etgrad value", n, oscillator_etgrad_value(n), h.xn, 1e-12);
    }
    for (std::ptrdiff_t n : {std::ptrdiff_t{0}, std::ptrdiff_t{37}, kEnsembleSteps}) {
        const ERes h = ensemble_hand(n);
        for (const ERes& g : {ensemble_etgrad(n), ensemble_etgrad_per_sample(n)}) {
            agree("ensemble sum", n, g.sum, h.sum, 1e-12);
            agree("ensemble d/dk", n, g.gk, h.gk, 1e-11);
            agree("ensemble d/dc", n, g.gc, h.gc, 1e-11);
            agree("ensemble d/dx0[0]", n, g.gx0_first, h.gx0_first, 1e-12);
            agree("ensemble d/dx0[N-1]", n, g.gx0_last, h.gx0_last, 1e-12);
        }
    }
}
}  // namespace

int main(int argc, char** argv) {
    check_agreement();
    if (failures != 0) {
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
