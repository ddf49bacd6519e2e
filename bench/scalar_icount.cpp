// Instruction counts of the scalar benchmarks' functions, for bench/instruction_counts.py:
// `etgrad_bench_scalar_icount <function>` calls one function 20000 times over the benchmark's
// inputs; run under callgrind, the difference with `none` is a deterministic cost per call that
// does not depend on what else the machine is doing (unlike the timings).
#define main etgrad_bench_scalar_main
#include "scalar_bench.cpp"
#undef main

#include <string>

namespace {
constexpr int kCalls = 20000;
template <class In, class F>
void loop(const std::array<In, kSets>& inputs, F f) {
    for (int k = 0; k < kCalls; ++k) {
        auto r = f(inputs[static_cast<std::size_t>(k) & (kSets - 1)]);
        benchmark::DoNotOptimize(r);
    }
}
}  // namespace

int main(int argc, char** argv) {
    fill_and_check_all();
    const std::string w = argc > 1 ? argv[1] : "none";
#define ETGRAD_ICOUNT(prob, fn)                                                     \
    if (w == #prob "_" #fn) {                                                       \
        loop(prob::inputs, [](const auto& in) { return prob::by_##fn(in); });       \
    }
    ETGRAD_ICOUNT(logreg, hand)
    ETGRAD_ICOUNT(logreg, hand_chain)
    ETGRAD_ICOUNT(logreg, etgrad)
    ETGRAD_ICOUNT(rosen2, hand)
    ETGRAD_ICOUNT(rosen2, etgrad)
    ETGRAD_ICOUNT(rosen10, hand)
    ETGRAD_ICOUNT(rosen10, etgrad)
    ETGRAD_ICOUNT(shared30, hand)
    ETGRAD_ICOUNT(shared30, etgrad)
    ETGRAD_ICOUNT(black_scholes, hand)
    ETGRAD_ICOUNT(black_scholes, hand_chain)
    ETGRAD_ICOUNT(black_scholes, etgrad)
    return 0;
}
