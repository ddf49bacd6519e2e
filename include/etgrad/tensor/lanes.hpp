// etgrad/tensor/lanes.hpp — moving per-sample vectors between the two layouts of a data loop:
// row-major (a sample's elements side by side, as users store their data) and samples in lanes
// (element j of W samples in one batch, as the per-sample kernels compute). Both ways are the
// transpose of W×W blocks, done in registers where one instruction interleaves two whole batches
// (SSE2's unpack for 128-bit batches, AVX-512's two-source permute); elsewhere (AVX2) the callers
// gather, or transpose through memory.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

#include "../data.hpp"

namespace etgrad::detail {

/// The element type of V (V itself when V is not a batch: a number, a dual number).
template <class V>
struct lane_elem {
    using type = V;
};
template <class T, class A>
struct lane_elem<xsimd::batch<T, A>> {
    using type = T;
};
template <class V>
using lane_elem_t = typename lane_elem<V>::type;

/// Can a W×W block of V be transposed in registers (a full interleave of two batches exists)?
template <class V>
inline constexpr bool transposes_in_registers = [] {
    if constexpr (!is_simd_batch<V>::value) {
        return true;  // one lane: nothing to move
    } else {
#if defined(__AVX512F__)
        if (sizeof(V) == 64) {
            return true;
        }
#endif
        return sizeof(V) == 16;
    }
}();

/// a0 b0 a1 b1 ... from the low halves of a and b (High: the high halves). Only where
/// transposes_in_registers<V>: xsimd 8.1's zip_lo/zip_hi interleave within 128-bit lanes, the
/// full interleave only for 128-bit batches.
template <bool High, class V>
ETGRAD_INLINE V interleave_halves(const V& a, const V& b) {
#if defined(__AVX512F__)
    if constexpr (sizeof(V) == 64) {
        using E = lane_elem_t<V>;
        constexpr std::size_t W = V::size;
        // Lane l takes element l/2 of the half: from a for even l, from b (index + W) for odd l.
        alignas(64) static constexpr auto idx = [] {
            std::array<xsimd::as_integer_t<E>, W> v{};
            for (std::size_t l = 0; l < W; ++l) {
                v[l] = static_cast<xsimd::as_integer_t<E>>(l / 2 + (High ? W / 2 : 0) + (l % 2 ? W : 0));
            }
            return v;
        }();
        const __m512i i = _mm512_load_si512(idx.data());
        if constexpr (std::is_same_v<E, double>) {
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

/// Transposes the W×W block r in registers (r[k] lane l ↔ r[l] lane k): log2(W) rounds of
/// interleaving row k with row k + W/2; each round rotates the bits of (row, lane) by one, so that
/// after log2(W) rounds row and lane have swapped.
template <class V>
ETGRAD_INLINE void transpose_block(std::array<V, lanes<V>()>& r) {
    constexpr std::size_t W = lanes<V>();
    if constexpr (W > 1) {
        static_assert(transposes_in_registers<V>);
        for (std::size_t round = 1; round < W; round *= 2) {
            std::array<V, W> t;
            for (std::size_t k = 0; k < W / 2; ++k) {
                t[2 * k] = interleave_halves<false>(r[k], r[k + W / 2]);
                t[2 * k + 1] = interleave_halves<true>(r[k], r[k + W / 2]);
            }
            r = t;
        }
    }
}

/// The same through memory, for any V (AVX2): W² element moves.
template <class V>
ETGRAD_INLINE void transpose_block_memory(std::array<V, lanes<V>()>& r) {
    constexpr std::size_t W = lanes<V>();
    if constexpr (W > 1) {
        using E = lane_elem_t<V>;
        alignas(64) E in[W][W], out[W][W];
        for (std::size_t k = 0; k < W; ++k) {
            r[k].store_aligned(in[k]);
        }
        for (std::size_t k = 0; k < W; ++k) {
            for (std::size_t l = 0; l < W; ++l) {
                out[l][k] = in[k][l];
            }
        }
        for (std::size_t k = 0; k < W; ++k) {
            r[k] = V::load_aligned(out[k]);
        }
    }
}

template <class V>
ETGRAD_INLINE void transpose_any(std::array<V, lanes<V>()>& r) {
    if constexpr (transposes_in_registers<V>) {
        transpose_block(r);
    } else {
        transpose_block_memory(r);
    }
}

}  // namespace etgrad::detail
