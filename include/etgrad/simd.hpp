// etgrad/simd.hpp — xsimd batches as etgrad numbers. The only header that includes xsimd.
//
// The batch type is xsimd's default for the instruction sets the build enables: AVX-512, AVX2+FMA,
// AVX, SSE4/SSE2, NEON... Build with `-march=native` (or the CMake option ETGRAD_NATIVE) to use the
// widest the machine has; a plain x86-64 build uses SSE2.
#pragma once

// GCC 12 warns that the AVX-512 intrinsics' `_mm512_undefined_*` placeholders are uninitialised
// when they are inlined (GCC bug 105593, fixed in GCC 13); the warning points into GCC's own
// headers, so it is silenced for them only.
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

#include "core.hpp"

namespace etgrad {

template <class T, class A>
struct is_simd_batch<xsimd::batch<T, A>> : std::true_type {};

/// The SIMD batch of T that the data loops use (xsimd's default architecture for this build).
template <class T>
using simd_batch = xsimd::batch<T>;

/// The number of T in one batch of this build (e.g. 4 doubles with AVX2, 8 with AVX-512).
template <class T>
inline constexpr std::size_t simd_width = simd_batch<T>::size;

/// The name of the instruction set the data loops use ("avx2", "sse2", ...).
inline constexpr const char* simd_arch_name() { return xsimd::default_arch::name(); }

}  // namespace etgrad
