// bench/handwritten_mlp.hpp — a hand-written loss and full gradient of a one-hidden-layer MLP
// (tanh hidden layer, softmax cross-entropy, mean over the samples), written the way a careful
// engineer would for speed: the "physical limit" the benchmarks compare etgrad's generated code to.
//
// Samples sit in SIMD lanes, W = xsimd::batch<T>::size of them per block, so every operation of
// the per-sample computation is one batch operation and nothing horizontal happens in the loop:
// parameters are broadcast, the log-sum-exp runs elementwise across the Out logit batches, and the
// gradients are accumulated per lane and summed across lanes once, at the end (except dW1's, see
// below). The inputs are transposed into that layout in registers, a W x W block at a time.
//
// The weight gradients are outer products summed over the samples. Accumulating them after every
// block would load and store one accumulator per multiply-add (and dW1's per-lane accumulators,
// Hid*In batches, do not fit in L1), so a chunk of blocks keeps its h, dz and da, and the chunk's
// sums are formed in register tiles:
//   dW2 per lane, as sum over the chunk's blocks of dz_k * h_i;
//   dW1 with the features in lanes instead: sum over the chunk's samples of da_i * (row of X),
//       straight from X, into a plain Hid x In accumulator (the In % W columns left over, if
//       any, are accumulated per lane).
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

// x*y + z in one rounding. xsimd 8.1 has no AVX-512 kernel for fma: its generic fallback is a
// multiply and an add, which GCC contracts by default and clang does not.
template <class T, class A>
inline xsimd::batch<T, A> fmadd(const xsimd::batch<T, A>& x, const xsimd::batch<T, A>& y,
                                const xsimd::batch<T, A>& z) {
#if defined(__AVX512F__)
    if constexpr (sizeof(xsimd::batch<T, A>) == 64 && std::is_same_v<T, double>) {
        return _mm512_fmadd_pd(x, y, z);
    } else if constexpr (sizeof(xsimd::batch<T, A>) == 64 && std::is_same_v<T, float>) {
        return _mm512_fmadd_ps(x, y, z);
    } else
#endif
    {
        return xsimd::fma(x, y, z);
    }
}

// Keeps a loaded batch in a register. GCC otherwise re-reads a load that several FMAs share, as a
// memory operand of each, and the tile loops below become bound by loads.
template <class T, class A>
inline void pin(xsimd::batch<T, A>& v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    auto r = static_cast<typename xsimd::batch<T, A>::register_type>(v);
    __asm__("" : "+v"(r));
    v = r;
#else
    (void)v;
#endif
}

// Calls f.template operator()<R, C>(r0, c0) on every tile of a Rows x Cols grid cut into TR x TC
// tiles (smaller ones at the far edges), so that tile sizes are compile-time constants.
template <std::size_t Rows, std::size_t Cols, std::size_t TR, std::size_t TC, class F>
inline void for_tiles(const F& f) {
    constexpr std::size_t full_r = Rows - Rows % TR, full_c = Cols - Cols % TC;
    const auto row = [&]<std::size_t R>(std::size_t r0) {
        for (std::size_t c0 = 0; c0 < full_c; c0 += TC) {
            f.template operator()<R, TC>(r0, c0);
        }
        if constexpr (Cols % TC != 0) {
            f.template operator()<R, Cols % TC>(r0, full_c);
        }
    };
    for (std::size_t r0 = 0; r0 < full_r; r0 += TR) {
        row.template operator()<TR>(r0);
    }
    if constexpr (Rows % TR != 0) {
        row.template operator()<Rows % TR>(full_r);
    }
}

template <class T, std::size_t In, std::size_t Hid, std::size_t Out>
class mlp_kernel {
public:
    using B = xsimd::batch<T>;
    using params = mlp_params<T, In, Hid, Out>;
    static constexpr std::size_t W = B::size;
    // dW1's columns in whole batches of a row of X, and the ones left over.
    static constexpr std::size_t JB = In / W, JR = In % W;
    // Blocks per chunk: h, dz and da of a chunk take about 24 KiB.
    static constexpr std::size_t chunk =
        std::clamp<std::size_t>(24576 / ((2 * Hid + Out) * sizeof(B)), 1, 16);
    // Register tiles: 32 vector registers with AVX-512, 16 otherwise.
    static constexpr bool wide = sizeof(B) >= 64;

    explicit mlp_kernel(const params& p) : p_(p) {
        // One zeroed allocation; every part starts on a batch boundary.
        constexpr std::size_t sizes[] = {Hid * In,          Hid * JR * W,     Hid * W,
                                         Out * Hid * W,     Out * W,          In * W,
                                         chunk * Hid * W,   chunk * Out * W,  chunk * Hid * W};
        T** parts[] = {&gW1_, &gW1r_, &gb1_, &gW2_, &gb2_, &xt_, &h_, &dz_, &da_};
        std::size_t total = 0;
        for (std::size_t z : sizes) {
            total += round_up(z);
        }
        ws_.assign(total, T(0));
        T* q = ws_.data();
        for (std::size_t k = 0; k < std::size(parts); ++k) {
            *parts[k] = q;
            q += round_up(sizes[k]);
        }
    }

    T run(const T* X, const int* labels, std::size_t n, params& g) {
        const T inv_n = T(1) / static_cast<T>(n);
        std::size_t chunk_start = 0, kb = 0;
        for (std::size_t s = 0; s < n; s += W) {
            const std::size_t count = std::min(W, n - s);
            block(X, labels, s, count, kb, inv_n);
            if (++kb == chunk || s + count == n) {
                update_w2(kb);
                update_w1(X + chunk_start * In, s + count - chunk_start);
                chunk_start = s + count;
                kb = 0;
            }
        }
        for (std::size_t i = 0; i < Hid; ++i) {
            std::copy_n(gW1_ + i * In, JB * W, g.W1.data() + i * In);
            for (std::size_t j = 0; j < JR; ++j) {
                g.W1[i * In + JB * W + j] = lane_sum(gW1r_ + (i * JR + j) * W);
            }
            g.b1[i] = lane_sum(gb1_ + i * W);
        }
        for (std::size_t q = 0; q < Out * Hid; ++q) {
            g.W2[q] = lane_sum(gW2_ + q * W);
        }
        for (std::size_t k = 0; k < Out; ++k) {
            g.b2[k] = lane_sum(gb2_ + k * W);
        }
        return xsimd::hadd(loss_);
    }

private:
    static constexpr std::size_t round_up(std::size_t z) { return (z + W - 1) / W * W; }
    static B ld(const T* q) { return B::load_aligned(q); }
    static void st(T* q, const B& v) { v.store_aligned(q); }
    static void add_to(T* q, const B& v) { st(q, ld(q) + v); }
    // Once per parameter, off the hot path. (Not xsimd::haddp, which sums several at once: in
    // xsimd 8.1 its AVX-512 float version returns the sums in a permuted order.)
    static T lane_sum(const T* acc) { return xsimd::hadd(ld(acc)); }

    // The full interleave of the low (High: high) halves of a and b: a0 b0 a1 b1 ... Only where a
    // single instruction does it: xsimd 8.1's zip_lo/zip_hi interleave within 128-bit lanes, which
    // is the full interleave only for 128-bit batches.
    static constexpr bool has_interleave =
#if defined(__AVX512F__)
        sizeof(B) == 64 ||
#endif
        sizeof(B) == 16;
    template <bool High>
    static B interleave(const B& a, const B& b) {
#if defined(__AVX512F__)
        if constexpr (sizeof(B) == 64) {
            // Lane l takes element l/2 of the half, from a for even l, from b (index + W) for odd.
            alignas(64) static constexpr auto idx = [] {
                std::array<xsimd::as_integer_t<T>, W> v{};
                for (std::size_t l = 0; l < W; ++l) {
                    v[l] = static_cast<xsimd::as_integer_t<T>>(l / 2 + (High ? W / 2 : 0) +
                                                               (l % 2 ? W : 0));
                }
                return v;
            }();
            const __m512i i = _mm512_load_si512(idx.data());
            if constexpr (std::is_same_v<T, double>) {
                return _mm512_permutex2var_pd(a, i, b);
            } else {
                return _mm512_permutex2var_ps(a, i, b);
            }
        } else
#endif
        {
            return High ? xsimd::zip_hi(a, b) : xsimd::zip_lo(a, b);
        }
    }

    // Writes the inputs of samples s .. s+count-1 transposed: xt[j*W + l] = X[(s+l)*In + j]. Lanes
    // past count repeat sample s (their contribution is weighted by zero later): every lane stays
    // finite, and the same code serves the tail. Each W x W block of columns is transposed in
    // registers: log2(W) rounds of interleaving row k with row k + W/2 (each round rotates the
    // bits of (row, column) by one, so that after log2(W) rounds row and column have swapped);
    // the columns left over, or all of them without a full interleave, are gathered.
    static void load_inputs(const T* X, std::size_t s, std::size_t count, T* xt) {
        const T* base = X + s * In;
        std::size_t j0 = 0;
        if constexpr (has_interleave && W > 1) {
            for (; j0 < JB * W; j0 += W) {
                std::array<B, W> r;
                for (std::size_t l = 0; l < W; ++l) {
                    r[l] = B::load_unaligned(base + (l < count ? l : 0) * In + j0);
                }
                for (std::size_t round = 1; round < W; round *= 2) {
                    std::array<B, W> t;
                    for (std::size_t k = 0; k < W / 2; ++k) {
                        t[2 * k] = interleave<false>(r[k], r[k + W / 2]);
                        t[2 * k + 1] = interleave<true>(r[k], r[k + W / 2]);
                    }
                    r = t;
                }
                for (std::size_t j = 0; j < W; ++j) {
                    st(xt + (j0 + j) * W, r[j]);
                }
            }
        }
        if (j0 < In) {
            using I = xsimd::batch<xsimd::as_integer_t<T>>;
            static_assert(I::size == W);
            alignas(I::arch_type::alignment()) std::array<xsimd::as_integer_t<T>, W> offs;
            for (std::size_t l = 0; l < W; ++l) {
                offs[l] = static_cast<xsimd::as_integer_t<T>>((l < count ? l : 0) * In);
            }
            const I idx = I::load_aligned(offs.data());
            for (std::size_t j = j0; j < In; ++j) {
                st(xt + j * W, B::gather(base + j, idx));
            }
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
                acc[r] = fmadd(B(Wm[(i0 + r) * Cols + j]), v, acc[r]);
            }
        }
        for (std::size_t r = 0; r < R; ++r) {
            out[i0 + r] = acc[r];
        }
    }
    template <std::size_t Rows, std::size_t Cols, class Src>
    static void affine(const T* Wm, const T* bias, const Src& src, B* out) {
        for_tiles<Rows, 1, 8, 1>([&]<std::size_t R, std::size_t>(std::size_t i0, std::size_t) {
            affine_rows<R, Cols>(Wm, bias, i0, src, out);
        });
    }

    // Hidden rows i0 .. i0+R-1 of the backward pass: da = (W2^T dz) * (1 - h^2), kept for the
    // chunk's dW1; db1 (and dW1's left-over columns) accumulated per lane.
    template <std::size_t R>
    void hidden_back_rows(std::size_t i0, const B* h, const B* dz, T* da) {
        std::array<B, R> acc;
        acc.fill(B(T(0)));
        for (std::size_t k = 0; k < Out; ++k) {
            for (std::size_t r = 0; r < R; ++r) {
                acc[r] = fmadd(B(p_.W2[k * Hid + i0 + r]), dz[k], acc[r]);
            }
        }
        for (std::size_t r = 0; r < R; ++r) {
            const std::size_t i = i0 + r;
            const B a = acc[r] * fmadd(-h[i], h[i], B(T(1)));
            add_to(gb1_ + i * W, a);
            st(da + i * W, a);
            for (std::size_t j = 0; j < JR; ++j) {
                T* gw = gW1r_ + (i * JR + j) * W;
                st(gw, fmadd(a, ld(xt_ + (JB * W + j) * W), ld(gw)));
            }
        }
    }

    // One block of up to W samples, slot kb of the chunk: forward, loss, dz, da, and the bias
    // gradients; the weight gradients are left to the chunk.
    void block(const T* X, const int* labels, std::size_t s, std::size_t count, std::size_t kb,
               T inv_n) {
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
        for (std::size_t i = 0; i < Hid; ++i) {
            h[i] = xsimd::tanh(h[i]);
            st(h_ + (kb * Hid + i) * W, h[i]);
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
        loss_ = fmadd(wt, m + xsimd::log(sum) - zy, loss_);
        const B p_scale = wt / sum;
        std::array<B, Out> dz;
        for (std::size_t k = 0; k < Out; ++k) {
            dz[k] = e[k] * p_scale - xsimd::select(y == B(static_cast<T>(k)), wt, B(T(0)));
            add_to(gb2_ + k * W, dz[k]);
            st(dz_ + (kb * Out + k) * W, dz[k]);
        }

        T* da = da_ + kb * Hid * W;
        for_tiles<Hid, 1, 8, 1>([&]<std::size_t R, std::size_t>(std::size_t i0, std::size_t) {
            hidden_back_rows<R>(i0, h.data(), dz.data(), da);
        });
    }

    // dW2[k0.., i0..] += sum over the chunk's blocks of dz_k * h_i, per lane, in registers. The
    // chunk's sum starts from zero and is added at the end: a two-level sum, which keeps float's
    // rounding error from growing as fast with n.
    template <std::size_t RK, std::size_t RI>
    void w2_tile(std::size_t blocks, std::size_t k0, std::size_t i0) {
        std::array<B, RK * RI> acc;
        acc.fill(B(T(0)));
        for (std::size_t kb = 0; kb < blocks; ++kb) {
            std::array<B, RI> hv;
            for (std::size_t b = 0; b < RI; ++b) {
                hv[b] = ld(h_ + (kb * Hid + i0 + b) * W);
                pin(hv[b]);
            }
            for (std::size_t a = 0; a < RK; ++a) {
                const B d = ld(dz_ + (kb * Out + k0 + a) * W);
                for (std::size_t b = 0; b < RI; ++b) {
                    acc[a * RI + b] = fmadd(d, hv[b], acc[a * RI + b]);
                }
            }
        }
        for (std::size_t a = 0; a < RK; ++a) {
            for (std::size_t b = 0; b < RI; ++b) {
                add_to(gW2_ + ((k0 + a) * Hid + i0 + b) * W, acc[a * RI + b]);
            }
        }
    }
    void update_w2(std::size_t blocks) {
        for_tiles<Out, Hid, 2, wide ? 8 : 4>(
            [&]<std::size_t RK, std::size_t RI>(std::size_t k0, std::size_t i0) {
                w2_tile<RK, RI>(blocks, k0, i0);
            });
    }

    // dW1[i0.., jb0*W..] += sum over the chunk's samples of da[s][i] * X[s][j], features in lanes:
    // RI broadcasts of the sample's deltas and CJ loads of its row per RI*CJ FMAs, into
    // accumulators held in registers for the whole chunk (two-level sum, as for dW2).
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
                pin(xv[b]);
            }
            for (std::size_t a = 0; a < RI; ++a) {
                const B da_qa(d[a * W]);
                for (std::size_t b = 0; b < CJ; ++b) {
                    acc[a * CJ + b] = fmadd(da_qa, xv[b], acc[a * CJ + b]);
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
    // The chunk's ns samples start at row Xc of X; their deltas are in da_.
    void update_w1(const T* Xc, std::size_t ns) {
        for_tiles<Hid, JB, wide ? 4 : 2, 4>(
            [&]<std::size_t RI, std::size_t CJ>(std::size_t i0, std::size_t jb0) {
                w1_tile<RI, CJ>(Xc, ns, i0, jb0);
            });
    }

    const params& p_;
    // All the accumulators and buffers, zeroed once, batch-aligned.
    std::vector<T, xsimd::aligned_allocator<T, B::arch_type::alignment()>> ws_;
    T* gW1_;   // dW1's first JB*W columns, features in lanes: Hid x In values
    T* gW1r_;  // dW1's JR left-over columns, per lane: Hid x JR batches
    T* gb1_;   // per lane: Hid batches
    T* gW2_;   // per lane: Out x Hid batches
    T* gb2_;   // per lane: Out batches
    T* xt_;    // the current block's inputs, transposed: In batches
    T* h_;     // the chunk's hidden activations: Hid batches per block
    T* dz_;    // the chunk's logit deltas: Out batches per block
    T* da_;    // the chunk's hidden pre-activation deltas: Hid batches per block
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
