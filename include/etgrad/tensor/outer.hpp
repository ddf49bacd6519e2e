// etgrad/tensor/outer.hpp — a data loop's weight gradient: W̄ = Σ over samples of ȳ xᵀ, for a
// matvec(W, x) of a uniform weight W and a per-sample x.
//
// The per-sample kernels hold ȳ and x with samples in lanes. A chunk of blocks keeps its ȳ and x
// and adds them at its flush in register tiles (so that an accumulator is loaded and stored once
// per chunk, not once per block), in one of two layouts:
// - a small weight (M×N batches within 24 KiB, in L1) has one accumulator batch per element,
//   samples in lanes, summed across its lanes at the end;
// - a larger one (a 32×64 double weight would take 128 KiB so) has features in lanes: x is
//   transposed to one row per sample (zero-padded to whole batches), or read from the user's rows
//   when x is a data variable, and every weight row i and column batch jb gets Σ over the chunk's
//   samples of ȳ_i(s)·x(s)[jb], with ȳ_i(s) broadcast from memory, into an M × ⌈N/W⌉
//   accumulator (16 KiB for the same weight). The accumulator holds the worker's whole sum; the call adds the
// workers' sums in chunk order into double (fold_into), so that any number of threads gives the
// same bits.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

#include "eval.hpp"
#include "lanes.hpp"

namespace etgrad::detail {

template <class V, std::size_t M, std::size_t N, std::size_t Target>
struct outer_chunk {
    using E = lane_elem_t<V>;
    /// The call's sums: double for float and double (a number type of its own otherwise: duals).
    using sum_type = std::conditional_t<std::is_floating_point_v<E>, double, E>;
    static constexpr std::size_t W = lanes<V>();
    static constexpr std::size_t NB = (N + W - 1) / W;  // column batches of a row
    static constexpr std::size_t chunk = 8;             // blocks of W samples per flush
    static constexpr std::size_t target = Target;       // the weight's node
    // Register tiles: 32 vector registers with AVX-512, 16 otherwise.
    static constexpr std::size_t TI = sizeof(V) >= 64 ? 4 : 2, TJ = 4;
    /// A small weight keeps one accumulator batch per element, samples in lanes (M×N batches
    /// that stay in L1, and nothing to transpose); a larger one has features in lanes.
    static constexpr bool in_lanes = M * N * sizeof(V) <= 24576;
    /// Can x be read from the user's rows (x a data variable, rows of whole batches)?
    static constexpr bool can_direct = !in_lanes && N % W == 0;
    static constexpr std::size_t AC = in_lanes ? N : NB;  // accumulator batches per row

    alignas(64) E g[chunk][M][W];  // ȳ of the chunk's blocks, samples in lanes
    // x of the chunk's blocks: samples in lanes (in_lanes), or one row per sample.
    std::conditional_t<in_lanes, V[chunk][N], V[chunk * W][NB]> xr;
    const E* rows[can_direct ? chunk * W : 1];  // or, direct: where the samples' rows are
    V acc[M][AC];                  // Σ ȳ_i x over the worker's samples
    std::size_t count = 0;         // blocks waiting in g and xr
    bool written = false;          // acc holds sums (else it is unwritten)
    /// Direct: x is the data variable whose rows the data loop set for this block (cur), so that
    /// they need no transposing back.
    bool direct = false;
    const E* cur[W] = {};

    /// Starts a worker's samples.
    void reset() {
        count = 0;
        written = false;
    }

    /// One block's ȳ (M batches) and x (N batches).
    template <class G, class X, class Acc>
    ETGRAD_INLINE void push(const G& gv, const X& xv, Acc&) {
        for (std::size_t i = 0; i < M; ++i) {
            if constexpr (is_simd_batch<V>::value) {
                gv[i].store_aligned(g[count][i]);
            } else {
                g[count][i][0] = gv[i];
            }
        }
        if constexpr (in_lanes) {
            for (std::size_t j = 0; j < N; ++j) {
                xr[count][j] = xv[j];
            }
        } else {
            if (can_direct && direct) {
                for (std::size_t l = 0; l < W; ++l) {
                    rows[can_direct ? count * W + l : 0] = cur[l];
                }
            } else {
                for (std::size_t jb = 0; jb < NB; ++jb) {
                    std::array<V, W> r;
                    for (std::size_t k = 0; k < W; ++k) {
                        r[k] = jb * W + k < N ? V(xv[jb * W + k]) : V(E(0));
                    }
                    transpose_any(r);
                    for (std::size_t l = 0; l < W; ++l) {
                        xr[count * W + l][jb] = r[l];
                    }
                }
            }
        }
        if (++count == chunk) {
            flush();
        }
    }

    /// The blocks waiting, into acc.
    void flush() {
        if (count == 0) {
            return;
        }
        if constexpr (can_direct) {
            if (direct) {
                tiles<1>();
            } else {
                tiles<0>();
            }
        } else {
            tiles<in_lanes ? 2 : 0>();
        }
        count = 0;
        written = true;
    }

    /// dst[i*N + j] (+)= the worker's Σ ȳ_i x_j, in double (add: dst holds earlier workers' sums).
    void fold_into(sum_type* dst, bool add) const {
        for (std::size_t i = 0; i < M; ++i) {
            if constexpr (in_lanes) {
                for (std::size_t j = 0; j < N; ++j) {
                    const sum_type v = lane_total(acc[i][j]);
                    dst[i * N + j] = add ? dst[i * N + j] + v : v;
                }
            } else {
                alignas(64) E row[NB * W];
                for (std::size_t jb = 0; jb < NB; ++jb) {
                    if constexpr (is_simd_batch<V>::value) {
                        acc[i][jb].store_aligned(row + jb * W);
                    } else {
                        row[jb] = acc[i][jb];
                    }
                }
                for (std::size_t j = 0; j < N; ++j) {
                    const sum_type v = static_cast<sum_type>(row[j]);
                    dst[i * N + j] = add ? dst[i * N + j] + v : v;
                }
            }
        }
    }

  private:
    static sum_type lane_total(const V& v) {
        if constexpr (is_simd_batch<V>::value) {
            alignas(64) E m[W];
            v.store_aligned(m);
            sum_type t = static_cast<sum_type>(m[0]);
            for (std::size_t l = 1; l < W; ++l) {
                t = t + static_cast<sum_type>(m[l]);
            }
            return t;
        } else {
            return static_cast<sum_type>(v);
        }
    }
    // Mode 0: x rows in xr; 1: x rows where rows[] points; 2: samples in lanes (in_lanes).
    template <int Mode>
    void tiles() {
        constexpr std::size_t mi = M - M % TI, nj = AC - AC % TJ;
        for (std::size_t i0 = 0; i0 < mi; i0 += TI) {
            for (std::size_t j0 = 0; j0 < nj; j0 += TJ) {
                tile<Mode, TI, TJ>(i0, j0);
            }
            if constexpr (AC % TJ != 0) {
                tile<Mode, TI, AC % TJ>(i0, nj);
            }
        }
        if constexpr (M % TI != 0) {
            for (std::size_t j0 = 0; j0 < nj; j0 += TJ) {
                tile<Mode, M % TI, TJ>(mi, j0);
            }
            if constexpr (AC % TJ != 0) {
                tile<Mode, M % TI, AC % TJ>(mi, nj);
            }
        }
    }
    template <int Mode, std::size_t RI, std::size_t CJ>
    ETGRAD_INLINE void tile(std::size_t i0, std::size_t j0) {
        V a[RI][CJ];
        for (std::size_t i = 0; i < RI; ++i) {
            for (std::size_t j = 0; j < CJ; ++j) {
                a[i][j] = written ? acc[i0 + i][j0 + j] : V(E(0));
            }
        }
        if constexpr (Mode == 2) {
            for (std::size_t c = 0; c < count; ++c) {
                V x[CJ];
                for (std::size_t j = 0; j < CJ; ++j) {
                    x[j] = xr[c][j0 + j];
                }
                for (std::size_t i = 0; i < RI; ++i) {
                    const V gi = load_g(c, i0 + i);
                    for (std::size_t j = 0; j < CJ; ++j) {
                        a[i][j] = a[i][j] + gi * x[j];
                    }
                }
            }
        } else {
            for (std::size_t c = 0; c < count; ++c) {
                for (std::size_t l = 0; l < W; ++l) {
                    V x[CJ];
                    for (std::size_t j = 0; j < CJ; ++j) {
                        if constexpr (Mode == 1 && is_simd_batch<V>::value) {
                            x[j] = V::load_unaligned(rows[c * W + l] + (j0 + j) * W);
                        } else if constexpr (Mode == 1) {
                            x[j] = rows[c * W + l][j0 + j];
                        } else {
                            x[j] = xr[c * W + l][j0 + j];
                        }
                    }
                    for (std::size_t i = 0; i < RI; ++i) {
                        const V gi(g[c][i0 + i][l]);
                        for (std::size_t j = 0; j < CJ; ++j) {
                            a[i][j] = a[i][j] + gi * x[j];
                        }
                    }
                }
            }
        }
        for (std::size_t i = 0; i < RI; ++i) {
            for (std::size_t j = 0; j < CJ; ++j) {
                acc[i0 + i][j0 + j] = a[i][j];
            }
        }
    }
    ETGRAD_INLINE V load_g(std::size_t c, std::size_t i) const {
        if constexpr (is_simd_batch<V>::value) {
            return V::load_aligned(g[c][i]);
        } else {
            return g[c][i][0];
        }
    }
};

/// The call's sums of one deferred weight gradient (nil for the other nodes), in double.
template <class D>
struct outer_total {
    using type = nil;
};
template <class V, std::size_t M, std::size_t N, std::size_t Target>
struct outer_total<outer_chunk<V, M, N, Target>> {
    struct type {
        std::array<typename outer_chunk<V, M, N, Target>::sum_type, M * N> sum;
        bool written = false;
    };
};

}  // namespace etgrad::detail
