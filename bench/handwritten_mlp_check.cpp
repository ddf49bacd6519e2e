// Checks the hand-written SIMD MLP loss and gradient (handwritten_mlp.hpp) against its scalar
// double-precision reference, for float and double, three network sizes (64/32/10, 16/8/3, and
// 13/5/4, which no batch width divides) and sample counts that cover the empty set, a lone sample,
// partial/full/overfull SIMD blocks and a long run with a tail. n = 0 is defined as loss 0 with a
// zero gradient. Exit status 0 when every case agrees, 1 otherwise; prints the worst error of each
// case.
#include "handwritten_mlp.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

struct Rng {  // splitmix64: deterministic and identical everywhere
    std::uint64_t s;
    double uniform(double lo, double hi) {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        return lo + (hi - lo) * static_cast<double>(z >> 11) * 0x1.0p-53;
    }
};

template <class T, std::size_t N>
void fill(std::array<T, N>& a, Rng& r, double bound) {
    for (auto& v : a) {
        v = static_cast<T>(r.uniform(-bound, bound));
    }
}

// The error of one value: relative to the reference, except that an element below 1% of the
// largest of its array is measured relative to that 1% instead. Such elements are small because
// their terms cancel (a pre-activation near zero, a sum over samples of mixed signs); rounding in a
// different order then moves them by a relative amount far above the working precision in both the
// float and the double version (pure elementwise relative error reaches 4e-12 in double and 3e-3 in
// float here), while a real bug still shows as an error of order 1. Where the reference is all zero
// (n = 0) only exact zeros pass.
double error(double got, double want, double floor) {
    return std::fabs(got - want) / std::max(std::fabs(want), floor);
}

struct Worst {
    double err = 0.0;
    std::string where;
    void update(double e, const char* name, std::size_t idx, double got, double want) {
        if (!(e <= err)) {  // NaN counts as worst
            err = e;
            char buf[160];
            std::snprintf(buf, sizeof buf, "%s[%zu]: %.17g vs reference %.17g", name, idx, got,
                          want);
            where = buf;
        }
    }
};

template <class T, std::size_t N>
void compare(const std::array<T, N>& got, const std::array<double, N>& want, const char* name,
             Worst& w) {
    double largest = 0.0;
    for (double v : want) {
        largest = std::max(largest, std::fabs(v));
    }
    const double floor = std::max(1e-2 * largest, 1e-300);
    for (std::size_t q = 0; q < N; ++q) {
        w.update(error(got[q], want[q], floor), name, q, got[q], want[q]);
    }
}

template <class T, std::size_t In, std::size_t Hid, std::size_t Out>
bool check_case(std::size_t n, double tol) {
    Rng r{0x5eed0000ULL + In * 131 + Hid * 17 + Out + n * 7919};
    handwritten::mlp_params<T, In, Hid, Out> p;
    fill(p.W1, r, 1.0 / std::sqrt(double(In)));
    fill(p.b1, r, 1.0 / std::sqrt(double(In)));
    fill(p.W2, r, 1.0 / std::sqrt(double(Hid)));
    fill(p.b2, r, 1.0 / std::sqrt(double(Hid)));
    std::vector<T> X(n * In);
    for (auto& v : X) {
        v = static_cast<T>(r.uniform(0.0, 1.0));
    }
    std::vector<int> labels(n);
    for (std::size_t s = 0; s < n; ++s) {
        labels[s] = static_cast<int>(s % Out);
    }

    handwritten::mlp_params<T, In, Hid, Out> g;
    fill(g.W1, r, 1e9);  // must be overwritten
    fill(g.b1, r, 1e9);
    fill(g.W2, r, 1e9);
    fill(g.b2, r, 1e9);
    handwritten::mlp_params<double, In, Hid, Out> gr;
    const T loss = handwritten::mlp_loss_grad(p, X.data(), labels.data(), n, g);
    const double loss_ref = handwritten::mlp_loss_grad_reference(p, X.data(), labels.data(), n, gr);

    Worst w;
    w.update(error(loss, loss_ref, 1e-300), "loss", 0, loss, loss_ref);
    compare(g.W1, gr.W1, "dW1", w);
    compare(g.b1, gr.b1, "db1", w);
    compare(g.W2, gr.W2, "dW2", w);
    compare(g.b2, gr.b2, "db2", w);
    const bool ok = w.err <= tol;
    std::printf("%-4s %s %3zu/%2zu/%2zu n=%4zu  worst %.3g (tol %.0e)%s%s\n", ok ? "ok" : "FAIL",
                sizeof(T) == 4 ? "float " : "double", In, Hid, Out, n, w.err, tol,
                w.where.empty() ? "" : "  at ", w.where.c_str());
    return ok;
}

template <class T, std::size_t In, std::size_t Hid, std::size_t Out>
bool check_sizes(double tol) {
    bool ok = true;
    for (std::size_t n : {0, 1, 7, 8, 9, 1437}) {
        ok &= check_case<T, In, Hid, Out>(n, tol);
    }
    return ok;
}

}  // namespace

int main() {
    std::printf("SIMD: %s, %zu doubles / %zu floats per batch\n", xsimd::default_arch::name(),
                xsimd::batch<double>::size, xsimd::batch<float>::size);
    bool ok = true;
    ok &= check_sizes<double, 64, 32, 10>(1e-12);
    ok &= check_sizes<double, 16, 8, 3>(1e-12);
    ok &= check_sizes<double, 13, 5, 4>(1e-12);  // no size a multiple of the batch
    ok &= check_sizes<float, 64, 32, 10>(1e-4);
    ok &= check_sizes<float, 16, 8, 3>(1e-4);
    ok &= check_sizes<float, 13, 5, 4>(1e-4);
    std::printf("%s\n", ok ? "all agree" : "MISMATCH");
    return ok ? 0 : 1;
}
