// Run-time-length loop benchmarks: etgrad's eg::scan against hand-written loops in the same binary.
// The problem: a damped oscillator, n = 10^4 steps of
//     v' = v - dt (k x + c v),   x' = x + dt v      (both updates read the old state),
// from (x0, v0) = (1, 0) with k = 4, c = 0.3, dt = 0.01; the value x_n and its gradient with
// respect to k, c, x0 and v0.
//   BM_oscillator_hand             a hand-written forward loop storing the trajectory, then a
//                                  hand-written reverse loop (the adjoints by hand),
//   BM_oscillator_etgrad           eg::scan(step, n).final(x), the default store_states policy,
//   BM_oscillator_etgrad_checkpoint the same with eg::checkpoint_every<100>,
//   BM_oscillator_hand_value       the hand-written forward loop alone,
//   BM_oscillator_etgrad_value     the etgrad loop's value alone (its call operator).
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
double oscillator_etgrad_value(std::ptrdiff_t n) {
    return eg::scan(step, n).final(x)(x = kX0, v = kV0, k = kK, c = kC, dt = kDt);
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
ETGRAD_LOOP_BENCH(oscillator_hand_value, oscillator_hand_value);
ETGRAD_LOOP_BENCH(oscillator_etgrad_value, oscillator_etgrad_value);

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
        agree("hand value", n, oscillator_hand_value(n), h.xn, 1e-12);
        agree("etgrad value", n, oscillator_etgrad_value(n), h.xn, 1e-12);
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
