// bench/handwritten_mlp.hpp — a hand-written loss and full gradient of a one-hidden-layer MLP
// (tanh hidden layer, softmax cross-entropy, mean over the samples), written the way a careful
// engineer would for speed: the "physical limit" the benchmarks compare etgrad's generated code to.
//
// Layout of the fast version: samples sit in SIMD lanes, W = xsimd::batch<T>::size of them per
// block, so every arithmetic operation of the per-sample computation is one batch operation and no
// horizontal work happens inside the loop. Parameters are broadcast. Gradients are accumulated per
// lane (one batch per parameter) and reduced across lanes once, at the end.
//
// The dW1 accumulators (Hid*In batches, 128 KiB for 64x32 in double with AVX-512) do not fit in L1.
// Updating them after every block would move them through L2 once per block and make that traffic
// the bottleneck, so the inputs and hidden deltas of a chunk of blocks are kept and dW1 is updated
// once per chunk with a register tile of accumulators (a small outer-product GEMM over the chunk).
//
// Also here: a plain scalar reference (one sample at a time, double accumulation) for checking.
#pragma once

// GCC 12 warns that the AVX-512 intrinsics' `_mm512_undefined_*` placeholders are uninitialised
// when inlined (GCC bug 105593); silenced for those headers only, as etgrad/simd.hpp does.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <xsimd/xsimd.hpp>
#pragma GCC diagnostic pop
#else
#include <xsimd/xsimd.hpp>
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <type_traits>
#include <vector>

namespace handwritten {

/// The parameters (or a gradient) of the network, in PyTorch's layout: weight[out][in], row-major.
template <class T, std::size_t In, std::size_t Hid, std::size_t Out>
struct mlp_params {
    std::array<T, Hid * In> W1;
    std::array<T, Hid> b1;
    std::array<T, Out * Hid> W2;
    std::array<T, Out> b2;
};

namespace detail {

template <class T, std::size_t In, std::size_t Hid, std::size_t Out>
class mlp_kernel {
public:
    using B = xsimd::batch<T>;
    using params = mlp_params<T, In, Hid, Out>;
    static constexpr std::size_t W = B::size;

    // dW1 = sum over samples of da x^T is accumulated with the features in lanes (the rows of X as
    // they are) for the first JB*W columns, and per lane (samples in lanes) for the JR left over.
    static constexpr std::size_t JB = In / W, JR = In % W;
    // Blocks of W samples whose hidden deltas are kept for one pass of the dW1 update.
    static constexpr std::size_t chunk = 8;

    explicit mlp_kernel(const params& p) : p_(p) {
        // One zeroed, aligned allocation; every part starts on a batch boundary.
        constexpr std::size_t sizes[] = {Hid * In, Hid * JR * W, Hid * W, Out * Hid * W, Out * W,
                                         In * W, chunk * Hid * W};
        std::size_t total = 0;
        for (std::size_t z : sizes) {
            total += (z + W - 1) / W * W;
        }
        ws_.assign(total, T(0));
        T* q = ws_.data();
        T** parts[] = {&gW1_, &gW1r_, &gb1_, &gW2_, &gb2_, &xt_, &da_};
        for (std::size_t k = 0; k < std::size(parts); ++k) {
            *parts[k] = q;
            q += (sizes[k] + W - 1) / W * W;
        }
    }

    T run(const T* X, const int* labels, std::size_t n, params& g) {
        const T inv_n = T(1) / static_cast<T>(n);
        std::size_t chunk_start = 0, kb = 0;
        for (std::size_t s = 0; s < n; s += W) {
            const std::size_t count = std::min(W, n - s);
            block(X, labels, s, count, da_ + kb * Hid * W, inv_n);
            if (++kb == chunk || s + count == n) {
                update_w1(X + chunk_start * In, s + count - chunk_start);
                chunk_start = s + count;
                kb = 0;
            }
        }
        for (std::size_t i = 0; i < Hid; ++i) {
            std::copy_n(gW1_ + i * In, JB * W, g.W1.data() + i * In);
            for (std::size_t j = 0; j < JR; ++j) {
                g.W1[i * In + JB * W + j] = reduce(gW1r_ + (i * JR + j) * W);
            }
            g.b1[i] = reduce(gb1_ + i * W);
        }
        for (std::size_t q = 0; q < Out * Hid; ++q) {
            g.W2[q] = reduce(gW2_ + q * W);
        }
        for (std::size_t k = 0; k < Out; ++k) {
            g.b2[k] = reduce(gb2_ + k * W);
        }
        return xsimd::hadd(loss_);
    }

private:
    static B ld(const T* q) { return B::load_aligned(q); }
    static void st(T* q, const B& v) { v.store_aligned(q); }
    static void add_to(T* q, const B& v) { st(q, ld(q) + v); }
    // (Not xsimd::haddp for several at once: in xsimd 8.1 its AVX-512 float version returns the
    // sums in a permuted order. This runs once per parameter, off the hot path.)
    static T reduce(const T* acc) { return xsimd::hadd(ld(acc)); }

    // Writes the inputs of samples s .. s+count-1 transposed: xt[j*W + l] = X[(s+l)*In + j]. Lanes
    // past count repeat sample s (their contribution is weighted by zero later): every lane stays
    // finite, and the same code serves the tail.
    static void load_inputs(const T* X, std::size_t s, std::size_t count, T* xt) {
        using I = xsimd::batch<xsimd::as_integer_t<T>>;
        static_assert(I::size == W);
        alignas(I::arch_type::alignment()) std::array<xsimd::as_integer_t<T>, W> offs;
        for (std::size_t l = 0; l < W; ++l) {
            offs[l] = static_cast<xsimd::as_integer_t<T>>((l < count ? l : 0) * In);
        }
        const I idx = I::load_aligned(offs.data());
        const T* base = X + s * In;
        for (std::size_t j = 0; j < In; ++j) {
            st(xt + j * W, B::gather(base + j, idx));
        }
    }

    // out[i] = bias[i] + sum_j Wm[i][j] * src(j) for rows i0 .. i0+R-1: R independent accumulators
    // hide the FMA latency; the weights are broadcast straight from memory.
    template <std::size_t R, std::size_t Cols, class Src>
    static void affine_rows(const T* Wm, const T* bias, std::size_t i0, const Src& src, B* out) {
        std::array<B, R> acc;
        for (std::size_t r = 0; r < R; ++r) {
            acc[r] = B(bias[i0 + r]);
        }
        for (std::size_t j = 0; j < Cols; ++j) {
            const B v = src(j);
            for (std::size_t r = 0; r < R; ++r) {
                acc[r] = xsimd::fma(B(Wm[(i0 + r) * Cols + j]), v, acc[r]);
            }
        }
        for (std::size_t r = 0; r < R; ++r) {
            out[i0 + r] = acc[r];
        }
    }
    template <std::size_t Rows, std::size_t Cols, class Src>
    static void affine(const T* Wm, const T* bias, const Src& src, B* out) {
        constexpr std::size_t R = 8, full = Rows - Rows % R;
        for (std::size_t i = 0; i < full; i += R) {
            affine_rows<R, Cols>(Wm, bias, i, src, out);
        }
        if constexpr (Rows % R != 0) {
            affine_rows<Rows % R, Cols>(Wm, bias, full, src, out);
        }
    }

    // Hidden rows i0 .. i0+R-1 of the backward pass: accumulates dW2 += dz h^T for them, computes
    // da = (W2^T dz) * (1 - h^2), accumulates db1 (and dW1's left-over columns) and keeps da for
    // the chunk's dW1 update.
    template <std::size_t R>
    void hidden_back_rows(std::size_t i0, const B* h, const B* dz, const T* xt, T* da) {
        std::array<B, R> acc;
        acc.fill(B(T(0)));
        for (std::size_t k = 0; k < Out; ++k) {
            const B d = dz[k];
            for (std::size_t r = 0; r < R; ++r) {
                T* gw = gW2_ + (k * Hid + i0 + r) * W;
                st(gw, xsimd::fma(d, h[i0 + r], ld(gw)));
                acc[r] = xsimd::fma(B(p_.W2[k * Hid + i0 + r]), d, acc[r]);
            }
        }
        for (std::size_t r = 0; r < R; ++r) {
            const std::size_t i = i0 + r;
            const B a = xsimd::fnma(acc[r] * h[i], h[i], acc[r]);
            add_to(gb1_ + i * W, a);
            st(da + i * W, a);
            for (std::size_t j = 0; j < JR; ++j) {
                T* gw = gW1r_ + (i * JR + j) * W;
                st(gw, xsimd::fma(a, ld(xt + (JB * W + j) * W), ld(gw)));
            }
        }
    }

    // One block of up to W samples: forward, loss, and every gradient but the main part of dW1
    // (left to the chunk, from the hidden deltas written to da).
    void block(const T* X, const int* labels, std::size_t s, std::size_t count, T* da, T inv_n) {
        load_inputs(X, s, count, xt_);

        alignas(B::arch_type::alignment()) std::array<T, W> lab, lane_weight;
        for (std::size_t l = 0; l < W; ++l) {
            lab[l] = static_cast<T>(labels[s + (l < count ? l : 0)]);
            lane_weight[l] = l < count ? inv_n : T(0);
        }
        const B y = ld(lab.data());
        const B wt = ld(lane_weight.data());  // 1/n, or 0 in padding lanes

        std::array<B, Hid> h;
        affine<Hid, In>(p_.W1.data(), p_.b1.data(), [&](std::size_t j) { return ld(xt_ + j * W); },
                        h.data());
        for (auto& v : h) {
            v = xsimd::tanh(v);
        }
        std::array<B, Out> z;
        affine<Out, Hid>(p_.W2.data(), p_.b2.data(), [&](std::size_t i) { return h[i]; }, z.data());

        // Cross-entropy and dz = (softmax(z) - onehot(y)) / n, elementwise across the Out batches.
        B m = z[0];
        for (std::size_t k = 1; k < Out; ++k) {
            m = xsimd::max(m, z[k]);
        }
        std::array<B, Out> e;
        B sum(T(0)), zy(T(0));
        for (std::size_t k = 0; k < Out; ++k) {
            e[k] = xsimd::exp(z[k] - m);
            sum += e[k];
            zy = xsimd::select(y == B(static_cast<T>(k)), z[k], zy);
        }
        loss_ = xsimd::fma(wt, m + xsimd::log(sum) - zy, loss_);
        const B p_scale = wt / sum;
        std::array<B, Out> dz;
        for (std::size_t k = 0; k < Out; ++k) {
            dz[k] = e[k] * p_scale - xsimd::select(y == B(static_cast<T>(k)), wt, B(T(0)));
            add_to(gb2_ + k * W, dz[k]);
        }

        constexpr std::size_t R = 8, full = Hid - Hid % R;
        for (std::size_t i = 0; i < full; i += R) {
            hidden_back_rows<R>(i, h.data(), dz.data(), xt_, da);
        }
        if constexpr (Hid % R != 0) {
            hidden_back_rows<Hid % R>(full, h.data(), dz.data(), xt_, da);
        }
    }

    // dW1[i0.., jb0*W..] += sum over the chunk's samples of da[s][i] * X[s][j], features in lanes:
    // the RI x CJ batch accumulators stay in registers for the whole chunk, each sample costing
    // RI broadcasts of its deltas and CJ loads of its row. The chunk's sum starts from zero and is
    // added at the end (a two-level sum, which keeps float's rounding error from growing with n).
    template <std::size_t RI, std::size_t CJ>
    void w1_tile(const T* Xc, std::size_t ns, std::size_t i0, std::size_t jb0) {
        std::array<B, RI * CJ> acc;
        acc.fill(B(T(0)));
        for (std::size_t q = 0; q < ns; ++q) {
            const T* x = Xc + q * In + jb0 * W;
            const T* d = da_ + ((q / W) * Hid + i0) * W + q % W;  // da of sample q, row i0
            std::array<B, CJ> xv;
            for (std::size_t b = 0; b < CJ; ++b) {
                xv[b] = B::load_unaligned(x + b * W);
            }
            for (std::size_t a = 0; a < RI; ++a) {
                const B da_qa(d[a * W]);
                for (std::size_t b = 0; b < CJ; ++b) {
                    acc[a * CJ + b] = xsimd::fma(da_qa, xv[b], acc[a * CJ + b]);
                }
            }
        }
        for (std::size_t a = 0; a < RI; ++a) {
            for (std::size_t b = 0; b < CJ; ++b) {
                T* gw = gW1_ + (i0 + a) * In + (jb0 + b) * W;
                (B::load_unaligned(gw) + acc[a * CJ + b]).store_unaligned(gw);
            }
        }
    }
    // The tile is sized to the register file: 4x4 accumulators with 32 registers (AVX-512), 2x4
    // with 16.
    static constexpr std::size_t TI = sizeof(B) >= 64 ? 4 : 2, TJ = 4;
    template <std::size_t RI>
    void w1_strip(const T* Xc, std::size_t ns, std::size_t i0) {
        constexpr std::size_t full = JB - JB % TJ;
        for (std::size_t jb = 0; jb < full; jb += TJ) {
            w1_tile<RI, TJ>(Xc, ns, i0, jb);
        }
        if constexpr (JB % TJ != 0) {
            w1_tile<RI, JB % TJ>(Xc, ns, i0, full);
        }
    }
    // The chunk's ns samples start at row Xc of X; their deltas are in da_.
    void update_w1(const T* Xc, std::size_t ns) {
        if constexpr (JB != 0) {
            constexpr std::size_t full = Hid - Hid % TI;
            for (std::size_t i = 0; i < full; i += TI) {
                w1_strip<TI>(Xc, ns, i);
            }
            if constexpr (Hid % TI != 0) {
                w1_strip<Hid % TI>(Xc, ns, full);
            }
        }
    }

    const params& p_;
    // All the accumulators and buffers, zeroed once, batch-aligned.
    std::vector<T, xsimd::aligned_allocator<T, B::arch_type::alignment()>> ws_;
    T* gW1_;   // dW1's first JB*W columns, features in lanes: Hid x In scalars
    T* gW1r_;  // dW1's JR left-over columns, per lane: Hid x JR batches
    T* gb1_;   // per lane: Hid batches
    T* gW2_;   // per lane: Out x Hid batches
    T* gb2_;   // per lane: Out batches
    T* xt_;    // the current block's inputs, transposed: In batches
    T* da_;    // the chunk's hidden deltas: Hid batches per block
    B loss_ = B(T(0));
};

}  // namespace detail

/// loss = mean over the n samples of cross_entropy(W2 tanh(W1 x + b1) + b2, label), where
/// cross_entropy(z, y) = logsumexp(z) - z[y]. X holds n rows of In values (X[s*In + j]); labels
/// holds n ints in [0, Out). Overwrites g with the gradient of the loss and returns the loss.
/// n = 0: the mean of nothing is taken as 0, with a zero gradient.
template <class T, std::size_t In, std::size_t Hid, std::size_t Out>
T mlp_loss_grad(const mlp_params<T, In, Hid, Out>& p, const T* X, const int* labels, std::size_t n,
                mlp_params<T, In, Hid, Out>& g) {
    static_assert(std::is_floating_point_v<T> && In > 0 && Hid > 0 && Out > 0);
    if (n == 0) {
        g = {};
        return T(0);
    }
    return detail::mlp_kernel<T, In, Hid, Out>(p).run(X, labels, n, g);
}

/// The same loss and gradient, one sample at a time with plain loops, computed and accumulated in
/// double (the parameters and inputs are converted exactly). For checking mlp_loss_grad.
template <class T, std::size_t In, std::size_t Hid, std::size_t Out>
double mlp_loss_grad_reference(const mlp_params<T, In, Hid, Out>& p, const T* X, const int* labels,
                               std::size_t n, mlp_params<double, In, Hid, Out>& g) {
    g = {};
    if (n == 0) {
        return 0.0;
    }
    double loss = 0.0;
    std::array<double, Hid> h, dh;
    std::array<double, Out> z, dz;
    for (std::size_t s = 0; s < n; ++s) {
        const T* x = X + s * In;
        const auto y = static_cast<std::size_t>(labels[s]);
        for (std::size_t i = 0; i < Hid; ++i) {
            double a = p.b1[i];
            for (std::size_t j = 0; j < In; ++j) {
                a += static_cast<double>(p.W1[i * In + j]) * static_cast<double>(x[j]);
            }
            h[i] = std::tanh(a);
        }
        double m = -HUGE_VAL;
        for (std::size_t k = 0; k < Out; ++k) {
            double a = p.b2[k];
            for (std::size_t i = 0; i < Hid; ++i) {
                a += static_cast<double>(p.W2[k * Hid + i]) * h[i];
            }
            z[k] = a;
            m = std::max(m, a);
        }
        double sum = 0.0;
        for (std::size_t k = 0; k < Out; ++k) {
            sum += std::exp(z[k] - m);
        }
        loss += m + std::log(sum) - z[y];
        for (std::size_t k = 0; k < Out; ++k) {
            dz[k] = (std::exp(z[k] - m) / sum - (k == y ? 1.0 : 0.0)) / static_cast<double>(n);
            g.b2[k] += dz[k];
            for (std::size_t i = 0; i < Hid; ++i) {
                g.W2[k * Hid + i] += dz[k] * h[i];
            }
        }
        for (std::size_t i = 0; i < Hid; ++i) {
            double d = 0.0;
            for (std::size_t k = 0; k < Out; ++k) {
                d += static_cast<double>(p.W2[k * Hid + i]) * dz[k];
            }
            dh[i] = d * (1.0 - h[i] * h[i]);
            g.b1[i] += dh[i];
            for (std::size_t j = 0; j < In; ++j) {
                g.W1[i * In + j] += dh[i] * static_cast<double>(x[j]);
            }
        }
    }
    return loss / static_cast<double>(n);
}

}  // namespace handwritten
