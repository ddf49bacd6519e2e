// etgrad/simd.hpp — xsimd batches as etgrad numbers. The only header that includes xsimd.
//
// The batch type is xsimd's default for the instruction sets the build enables: AVX-512, AVX2+FMA,
// AVX, SSE4/SSE2, NEON... Build with `-march=native` (or the CMake option ETGRAD_NATIVE) to use the
// widest the machine has; a plain x86-64 build uses SSE2.
#pragma once

// GCC 12 warns that the AVX-512 intrinsics' `_mm512_undefined_*` placeholders are uninitialised
// when they are inlined (GCC bug 105593, fixed in GCC 13); the warning points into GCC's own
// headers, so it is silenced for them only. (Only where AVX-512 is on: all of <immintrin.h> costs
// half a second of every compile, and a plain x86-64 build, SSE2, needs only what xsimd includes.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <xsimd/xsimd.hpp>
#pragma GCC diagnostic pop
#else
#include <xsimd/xsimd.hpp>
#endif

#include <cmath>
#include <limits>

#include "core.hpp"
#include "ops.hpp"

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

// ---------------------------------------------------------------------------------------------
// Batch kernels (issue 13): a sample's result must not depend on whether it falls in a SIMD batch
// or in the scalar tail, which uses <cmath>. xsimd 8.1's kernels are used where they are accurate
// (a few ulp from glibc), each in a domain where its answers are right: a batch with a lane outside
// that domain (±0 for some, denormals, ±inf, NaN, arguments near overflow or underflow) is computed
// lane by lane with <cmath>, checked once per batch (a compare and a movemask). The lane-by-lane
// path also keeps xsimd's exp and its users away from arguments whose conversion to an integer is
// undefined (UBSan's float-cast-overflow). erf (double) is etgrad's own kernel (xsimd's is up to 68
// ulp off); double pow is <cmath>'s lane by lane (xsimd's exp(b log a) is up to ~500 ulp off, and
// on SSE2 slower than glibc's pow), float pow computes in double lanes.
namespace detail::num {

template <class T, class A>
struct batch_math<xsimd::batch<T, A>> {
    using B = xsimd::batch<T, A>;
    using L = std::numeric_limits<T>;
    static constexpr bool enabled = true;
    static constexpr bool dbl = sizeof(T) == 8;
    static constexpr std::size_t n = B::size;
    /// |x| below this: exp, expm1, sinh, cosh in xsimd's range (no overflow, no denormal result).
    static constexpr T exp_hi = dbl ? T(708) : T(87);
    /// |x| up to this: xsimd's sin, cos, tan reduce accurately.
    static constexpr T trig_hi = dbl ? T(1e5) : T(1e4);

    template <class F>
    static B lanes(const B& a, F f) {
        alignas(64) T v[n];
        a.store_aligned(v);
        for (std::size_t i = 0; i < n; ++i) {
            v[i] = f(v[i]);
        }
        return B::load_aligned(v);
    }
    template <class F>
    static B lanes(const B& a, const B& b, F f) {
        alignas(64) T u[n];
        alignas(64) T v[n];
        a.store_aligned(u);
        b.store_aligned(v);
        for (std::size_t i = 0; i < n; ++i) {
            u[i] = f(u[i], v[i]);
        }
        return B::load_aligned(u);
    }
    /// min normal <= |a| <= max (false for 0, denormals, inf, NaN).
    static auto normal(const B& aa) { return (aa >= B(L::min())) & (aa <= B(L::max())); }

    static B exp(const B& a) {
        if (xsimd::all(xsimd::abs(a) <= B(exp_hi))) {
            return xsimd::exp(a);
        }
        return lanes(a, [](T v) { return std::exp(v); });
    }
    static B expm1(const B& a) {
        if (xsimd::all(xsimd::abs(a) <= B(exp_hi))) {
            return xsimd::select(a == B(T(0)), a, xsimd::expm1(a));  // -0 kept
        }
        return lanes(a, [](T v) { return std::expm1(v); });
    }
    static B log(const B& a) {
        if (xsimd::all((a >= B(L::min())) & (a <= B(L::max())))) {
            return xsimd::log(a);
        }
        return lanes(a, [](T v) { return std::log(v); });
    }
    static B log1p(const B& a) {
        if (xsimd::all((a > B(T(-1))) & (a <= B(L::max())))) {
            return xsimd::select(a == B(T(0)), a, xsimd::log1p(a));  // -0 kept
        }
        return lanes(a, [](T v) { return std::log1p(v); });
    }
    static B sqrt(const B& a) { return xsimd::sqrt(a); }  // IEEE: exact
    static B cbrt(const B& a) {
        if (xsimd::all(normal(xsimd::abs(a)) | (a == B(T(0))))) {
            return xsimd::cbrt(a);
        }
        return lanes(a, [](T v) { return std::cbrt(v); });
    }
    /// xsimd's sin, cos, tan: within 2 ulp for |a| <= trig_hi but within 2^-30 of a nonzero
    /// multiple of π/2 in double (its reduction's precision: 25000 ulp at the double nearest
    /// 1000 π/2, a zero of cos). The check: a - k π/2 with k = round(a 2/π), about 2^-36 accurate.
    static bool trig_domain(const B& a) {
        const auto in = xsimd::abs(a) <= B(trig_hi);
        if constexpr (dbl) {
            const B k = xsimd::nearbyint(a * B(0.63661977236758134));
            const B r = xsimd::abs(xsimd::fnma(k, B(1.5707963267948966), a));
            return xsimd::all(in & ((r >= B(0x1p-30)) | (k == B(0.0))));
        } else {
            return xsimd::all(in);
        }
    }
    static B sin(const B& a) {
        if (trig_domain(a)) {
            return xsimd::sin(a);
        }
        return lanes(a, [](T v) { return std::sin(v); });
    }
    static B cos(const B& a) {
        if (trig_domain(a)) {
            return xsimd::cos(a);
        }
        return lanes(a, [](T v) { return std::cos(v); });
    }
    static B tan(const B& a) {
        if (trig_domain(a)) {
            return xsimd::tan(a);
        }
        return lanes(a, [](T v) { return std::tan(v); });
    }
    static B asin(const B& a) { return xsimd::asin(a); }
    static B acos(const B& a) { return xsimd::acos(a); }
    static B atan(const B& a) { return xsimd::atan(a); }
    static B atan2(const B& y, const B& x) {
        // xsimd: NaN where |y| == |x| is 0 or inf (atan2(0, 0) is 0, atan2(inf, inf) pi/4).
        const B ax = xsimd::abs(x);
        if (xsimd::any((ax == xsimd::abs(y)) & ((ax == B(T(0))) | (ax == B(L::infinity()))))) {
            return lanes(y, x, [](T u, T v) { return std::atan2(u, v); });
        }
        return xsimd::atan2(y, x);
    }
    static B sinh(const B& a) {
        if (xsimd::all(xsimd::abs(a) <= B(exp_hi))) {
            return xsimd::sinh(a);
        }
        return lanes(a, [](T v) { return std::sinh(v); });
    }
    static B cosh(const B& a) {
        if (xsimd::all(xsimd::abs(a) <= B(exp_hi))) {
            return xsimd::cosh(a);
        }
        return lanes(a, [](T v) { return std::cosh(v); });
    }
    static B tanh(const B& a) {
        // |a| > 20: ±1 in double and float (saturated units are common: no lane-by-lane path).
        const B aa = xsimd::abs(a);
        if (xsimd::all(aa <= B(T(20)))) {
            return xsimd::tanh(a);
        }
        if (xsimd::any(xsimd::isnan(a))) {
            return lanes(a, [](T v) { return std::tanh(v); });
        }
        const auto big = aa > B(T(20));
        return xsimd::select(big, xsimd::copysign(B(T(1)), a), xsimd::tanh(xsimd::select(big, B(T(0)), a)));
    }
    static B erf(const B& a) {
        if constexpr (dbl) {
            return erf_double(a);
        } else {
            // xsimd's float erf: within 3 ulp of glibc, right at the edges.
            return xsimd::erf(a);
        }
    }
    static B abs(const B& a) { return xsimd::abs(a); }

    static B pow(const B& a, const B& b) {
        if constexpr (dbl) {
            return lanes(a, b, [](T u, T v) { return std::pow(u, v); });
        } else {
            return pow_float(a, b);
        }
    }

  private:
    template <std::size_t N>
    static B horner(const B& t, const double (&c)[N]) {
        B r(c[0]);
        for (std::size_t i = 1; i < N; ++i) {
            r = xsimd::fma(r, t, B(c[i]));
        }
        return r;
    }
    /// erf in double: |a| < 0.84375: a + a q(a^2), q a degree-10 polynomial (Chebyshev fit of
    /// erf(a)/a - 1, error 1e-17); 0.84375 <= |a| < 6: 1 - exp(-a^2) g(|a|), g = erfc(a) exp(a^2)
    /// fitted on four intervals (error in erf below 1e-17); beyond, ±1. Only the pieces that a
    /// batch's lanes need are evaluated.
    static B erf_double(const B& a) {
        static constexpr double q[] = {1.0726571432176349e-8, -1.5714460672602443e-7, 1.640162967934702e-6,
                                       -1.4922121574443056e-5, 0.00012055199941321886, -0.00085483237911641301,
                                       0.0052239775763778445, -0.026866170640779852, 0.11283791670935311,
                                       -0.376126389031834, 0.12837916709551256};
        static constexpr double g1[] = {-8.2737777770260584e-13, 6.441536352465355e-12, -4.559959049055948e-11,
                                        3.3586904648796129e-10, -2.4094155333313598e-9, 1.6730633525857401e-8,
                                        -1.1242210433733355e-7, 7.29169590049822e-7, -4.5508640684339371e-6,
                                        2.7230260143082221e-5, -0.00015551061018484324, 0.00084294824555666148,
                                        -0.0043060702442079424, 0.020535247450034005, -0.09023167204832838,
                                        0.35826398118390492};
        static constexpr double g2[] = {-1.3182452202092912e-12, 8.9510912199792901e-12, -5.4332579490386186e-11,
                                        3.5308104905758525e-10, -2.2534574495950454e-9, 1.4005649759968026e-8,
                                        -8.4944058256652713e-8, 5.0204622233620192e-7, -2.8863338708237934e-6,
                                        1.6109027088584123e-5, -8.707585378425197e-5, 0.00045460557145527928,
                                        -0.0022847866358229146, 0.011009769742058405, -0.050610705701378697,
                                        0.22050569220490666};
        static constexpr double g3[] = {-4.4599481168933674e-10, 2.9463846086777195e-9, -1.7807594566461265e-8,
                                        1.1343894998870569e-7, -7.1104196757821504e-7, 4.3634949055075015e-6,
                                        -2.6241047479289373e-5, 0.00015447658588049019, -0.00088900996119527232,
                                        0.0049942999864558474, -0.027342193149537887, 0.14558972127500609};
        static constexpr double g4[] = {9.6047924839996009e-9, -7.6799014198332939e-8, 5.8486922513805568e-7,
                                        -4.5552232970715764e-6, 3.5021194989335797e-5, -0.00026540274724807894,
                                        0.0019823348987166167, -0.014584083462386743, 0.1056127354688918};
        const B aa = xsimd::abs(a);
        if (xsimd::any(xsimd::isnan(a))) {
            return lanes(a, [](T v) { return std::erf(v); });
        }
        const auto small = aa < B(0.84375);
        B r(T(0));
        if (xsimd::any(small)) {
            const B z = a * a;
            r = xsimd::fma(a, horner(z, q), a);
            if (xsimd::all(small)) {
                return r;
            }
        }
        const auto mid = (aa >= B(0.84375)) & (aa < B(6.0));
        if (xsimd::any(mid)) {
            const B t = xsimd::select(mid, aa, B(1.0));
            B g(0.0);
            const auto m1 = t < B(1.75), m2 = (t >= B(1.75)) & (t < B(3.0)), m3 = (t >= B(3.0)) & (t < B(4.5));
            const auto m4 = t >= B(4.5);
            if (xsimd::any(m1)) {
                g = xsimd::select(m1, horner((t - B(1.296875)) * B(2.2068965517241379), g1), g);
            }
            if (xsimd::any(m2)) {
                g = xsimd::select(m2, horner((t - B(2.375)) * B(1.6), g2), g);
            }
            if (xsimd::any(m3)) {
                g = xsimd::select(m3, horner((t - B(3.75)) * B(1.3333333333333333), g3), g);
            }
            if (xsimd::any(m4)) {
                g = xsimd::select(m4, horner((t - B(5.25)) * B(1.3333333333333333), g4), g);
            }
            const B e = B(1.0) - xsimd::exp(-(t * t)) * g;
            r = xsimd::select(mid, xsimd::copysign(e, a), r);
        }
        return xsimd::select(aa >= B(6.0), xsimd::copysign(B(1.0), a), r);
    }
    /// float pow in double lanes: exp(b log a) in double is within 2^-43 of a^b, far below a float
    /// ulp, and overflows or underflows to float's inf, denormals and 0 as powf does. Lanes with a
    /// outside the normal positive range, b not finite, or |b log a| > 700 use powf.
    static B pow_float(const B& a, const B& b) {
        using D = xsimd::batch<double, A>;
        if (!xsimd::all(normal(a) & (xsimd::abs(b) <= B(L::max())))) {
            return lanes(a, b, [](T u, T v) { return std::pow(u, v); });
        }
        alignas(64) float u[n];
        alignas(64) float v[n];
        a.store_aligned(u);
        b.store_aligned(v);
        for (std::size_t k = 0; k < n; k += D::size) {
            alignas(64) double x[D::size];
            alignas(64) double y[D::size];
            for (std::size_t i = 0; i < D::size; ++i) {
                x[i] = u[k + i];
                y[i] = v[k + i];
            }
            const D p = D::load_aligned(y) * xsimd::log(D::load_aligned(x));
            if (xsimd::all(xsimd::abs(p) <= D(700.0))) {
                xsimd::exp(p).store_aligned(x);
                for (std::size_t i = 0; i < D::size; ++i) {
                    u[k + i] = static_cast<float>(x[i]);
                }
            } else {
                for (std::size_t i = 0; i < D::size; ++i) {
                    u[k + i] = std::pow(u[k + i], v[k + i]);
                }
            }
        }
        return B::load_aligned(u);
    }
};

}  // namespace detail::num

}  // namespace etgrad
