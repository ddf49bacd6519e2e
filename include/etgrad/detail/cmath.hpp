// etgrad/detail/cmath.hpp — constexpr implementations of the elementary functions, used only while
// constant-evaluating (std::is_constant_evaluated()); run-time code calls <cmath>. Double-precision
// algorithms (argument reduction + series), evaluated in long double where that helps; float and
// long double arguments go through the same code.
#pragma once

#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace etgrad::detail::cx {

template <class T>
constexpr bool isnan(T x) {
    return x != x;
}
template <class T>
constexpr bool isinf(T x) {
    return x == std::numeric_limits<T>::infinity() || x == -std::numeric_limits<T>::infinity();
}
/// The sign bit (also of -0 and of NaN); long double through double, which keeps the sign.
template <class T>
constexpr bool signbit(T x) {
    return (std::bit_cast<std::uint64_t>(static_cast<double>(x)) >> 63) != 0;
}
template <class T>
constexpr T abs(T x) {
    if constexpr (std::is_floating_point_v<T>) {
        if (x == T(0)) {
            return T(0);  // also -0 -> +0
        }
    }
    return x < T(0) ? -x : x;
}
template <class T>
constexpr T inf() {
    return std::numeric_limits<T>::infinity();
}
template <class T>
constexpr T nan() {
    return std::numeric_limits<T>::quiet_NaN();
}

#ifdef __CUDA_ARCH__
using F = double;  // working precision in CUDA device code, which has no long double
#else
using F = long double;  // working precision
#endif
inline constexpr F ln2 = 0.693147180559945309417232121458176568L;
inline constexpr F pi = 3.14159265358979323846264338327950288L;
inline constexpr F pi_2 = 1.57079632679489661923132169163975144L;

// 2^k as F, exact.
constexpr F pow2(int k) {
    F r = 1;
    F b = k < 0 ? F(0.5) : F(2);
    int n = k < 0 ? -k : k;
    while (n != 0) {
        if ((n & 1) != 0) {
            r *= b;
        }
        b *= b;
        n >>= 1;
    }
    return r;
}

// exp on the working type: x = k ln2 + r, |r| <= ln2/2, Taylor series of e^r.
constexpr F exp_f(F x) {
    if (x != x) {
        return x;
    }
    if (x > F(11400)) {
        return inf<F>();
    }
    if (x < F(-11400)) {
        return F(0);
    }
    F kf = x / ln2;
    long long k = static_cast<long long>(kf < 0 ? kf - F(0.5) : kf + F(0.5));
    F r = x - F(k) * ln2;
    F term = 1, sum = 1;
    for (int i = 1; i < 30; ++i) {
        term *= r / F(i);
        sum += term;
        if (abs(term) < F(1e-22) * abs(sum)) {
            break;
        }
    }
    // apply 2^k in steps so that huge and tiny results are formed gradually
    while (k > 1000) {
        sum *= pow2(1000);
        k -= 1000;
    }
    while (k < -1000) {
        sum *= pow2(-1000);
        k += 1000;
    }
    return sum * pow2(static_cast<int>(k));
}

// log on the working type: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log m by atanh series.
constexpr F log_f(F x) {
    if (x != x || x < 0) {
        return nan<F>();
    }
    if (x == 0) {
        return -inf<F>();
    }
    if (x == inf<F>()) {
        return x;
    }
    int e = 0;
    F m = x;
    while (m >= F(1.41421356237309504880L)) {
        m *= F(0.5);
        ++e;
    }
    while (m < F(0.70710678118654752440L)) {
        m *= F(2);
        --e;
    }
    F s = (m - 1) / (m + 1);
    F s2 = s * s;
    F term = s, sum = 0;
    for (int i = 1; i < 200; i += 2) {
        sum += term / F(i);
        term *= s2;
        if (abs(term) < F(1e-24)) {
            break;
        }
    }
    return F(2) * sum + F(e) * ln2;
}

template <class T>
constexpr T exp(T x) {
    return static_cast<T>(exp_f(static_cast<F>(x)));
}
template <class T>
constexpr T log(T x) {
    return static_cast<T>(log_f(static_cast<F>(x)));
}
template <class T>
constexpr T expm1(T x) {
    if (x == T(0)) {
        return x;  // keeps -0
    }
    F xf = static_cast<F>(x);
    if (abs(xf) < F(0.5)) {
        F term = xf, sum = xf;
        for (int i = 2; i < 40; ++i) {
            term *= xf / F(i);
            sum += term;
            if (abs(term) < F(1e-24) * abs(sum)) {
                break;
            }
        }
        return static_cast<T>(sum);
    }
    return static_cast<T>(exp_f(xf) - 1);
}
template <class T>
constexpr T log1p(T x) {
    if (x == T(0)) {
        return x;  // keeps -0
    }
    F xf = static_cast<F>(x);
    if (abs(xf) < F(0.5)) {
        // log(1 + x) = 2 atanh(x / (2 + x))
        F s = xf / (2 + xf);
        F s2 = s * s, term = s, sum = 0;
        for (int i = 1; i < 200; i += 2) {
            sum += term / F(i);
            term *= s2;
            if (abs(term) < F(1e-24) * abs(sum) || term == 0) {
                break;
            }
        }
        return static_cast<T>(2 * sum);
    }
    return static_cast<T>(log_f(1 + xf));
}
template <class T>
constexpr T sqrt(T x) {
    if (x != x || x < T(0)) {
        return nan<T>();
    }
    if (x == T(0) || x == inf<T>()) {
        return x;
    }
    F xf = static_cast<F>(x);
    // scale into [1, 4) by powers of 4, Newton iterations
    int e = 0;
    while (xf >= 4) {
        xf *= F(0.25);
        ++e;
    }
    while (xf < 1) {
        xf *= 4;
        --e;
    }
    F r = (xf + 1) / 2;
    for (int i = 0; i < 8; ++i) {
        r = (r + xf / r) / 2;
    }
    return static_cast<T>(r * pow2(e));
}
template <class T>
constexpr T cbrt(T x) {
    if (x != x || x == T(0) || isinf(x)) {
        return x;
    }
    F xf = static_cast<F>(x);
    bool neg = xf < 0;
    if (neg) {
        xf = -xf;
    }
    int e = 0;
    while (xf >= 8) {
        xf *= F(0.125);
        ++e;
    }
    while (xf < 1) {
        xf *= 8;
        --e;
    }
    F r = (xf + 2) / 3;
    for (int i = 0; i < 10; ++i) {
        r = r - (r * r * r - xf) / (3 * r * r);
    }
    r *= pow2(e);
    return static_cast<T>(neg ? -r : r);
}

// sin/cos of the reduced argument |r| <= pi/4.
constexpr F sin_r(F r) {
    F r2 = r * r, term = r, sum = r;
    for (int i = 3; i < 40; i += 2) {
        term *= -r2 / (F(i - 1) * F(i));
        sum += term;
        if (abs(term) < F(1e-24)) {
            break;
        }
    }
    return sum;
}
constexpr F cos_r(F r) {
    F r2 = r * r, term = 1, sum = 1;
    for (int i = 2; i < 40; i += 2) {
        term *= -r2 / (F(i - 1) * F(i));
        sum += term;
        if (abs(term) < F(1e-24)) {
            break;
        }
    }
    return sum;
}
// Bits of 2/pi: word j holds the bits 32j+1 ... 32j+32 after the binary point (computed from
// Machin's formula with integer arithmetic; 1280 bits, enough for every double exponent).
inline constexpr std::uint32_t two_over_pi_bits[40] = {
    0xA2F9836E, 0x4E441529, 0xFC2757D1, 0xF534DDC0, 0xDB629599, 0x3C439041, 0xFE5163AB, 0xDEBBC561,
    0xB7246E3A, 0x424DD2E0, 0x06492EEA, 0x09D1921C, 0xFE1DEB1C, 0xB129A73E, 0xE88235F5, 0x2EBB4484,
    0xE99C7026, 0xB45F7E41, 0x3991D639, 0x835339F4, 0x9C845F8B, 0xBDF9283B, 0x1FF897FF, 0xDE05980F,
    0xEF2F118B, 0x5A0A6D1F, 0x6D367ECF, 0x27CB09B7, 0x4F463F66, 0x9E5FEA2D, 0x7527BAC7, 0xEBE5F17B,
    0x3D0739F7, 0x8A5292EA, 0x6BFB5FB1, 0x1F8D5D08, 0x56033046, 0xFC7B6BAB, 0xF0CFBC20, 0x9AF4361D};

/// x = q pi/2 + r, |r| <= pi/4 (q mod 4 is returned): an exact reduction for every finite double
/// (Payne-Hanek): x = m 2^k with m an integer, x 2/pi mod 4 from the bits of 2/pi that matter
/// (those of weight below 4 relative to m), 224 of them, multiplied exactly in 32-bit limbs; the
/// fraction keeps 128 bits, so r is accurate to long double precision even for the doubles closest
/// to a multiple of pi/2. long double arguments are reduced as the nearest double.
struct reduced {
    F r;
    int q;
};
constexpr reduced reduce_pi_2(double x) {
    if (abs(x) <= 0.785398163397448279) {  // < pi/4 in double
        return {static_cast<F>(x), 0};
    }
    const bool neg = signbit(x);
    const std::uint64_t bits = std::bit_cast<std::uint64_t>(neg ? -x : x);
    const int biased = static_cast<int>(bits >> 52);
    std::uint64_t m = bits & ((std::uint64_t{1} << 52) - 1);
    int k = -1074;
    if (biased != 0) {
        m |= std::uint64_t{1} << 52;
        k = biased - 1075;
    }
    // Bits of index i contribute m 2^(k - i): a multiple of 4 (dropped) when i <= k - 2.
    const int js = k - 2 <= 0 ? 0 : (k - 2) / 32;
    std::uint64_t limb[10] = {};
    const std::uint64_t mw[2] = {m & 0xffffffffu, m >> 32};
    for (int t = 0; t < 7; ++t) {
        const std::uint64_t w = two_over_pi_bits[js + t];
        for (int u = 0; u < 2; ++u) {
            const std::uint64_t p = w * mw[u];
            limb[6 - t + u] += p & 0xffffffffu;
            limb[7 - t + u] += p >> 32;
        }
    }
    for (int i = 0; i < 9; ++i) {
        limb[i + 1] += limb[i] >> 32;
        limb[i] &= 0xffffffffu;
    }
    // The product is (limbs) 2^-fb: fb fraction bits.
    const int fb = 32 * (js + 7) - k;
    auto bit = [&](int b) -> std::uint64_t { return (limb[b / 32] >> (b % 32)) & 1u; };
    auto field64 = [&](int s) -> std::uint64_t {  // bits s ... s + 63
        std::uint64_t r = 0;
        for (int b = 63; b >= 0; --b) {
            r = (r << 1) | bit(s + b);
        }
        return r;
    };
    int q = static_cast<int>(bit(fb) + 2 * bit(fb + 1));
    std::uint64_t hi = field64(fb - 64), lo = field64(fb - 128);
    bool fneg = false;
    if ((hi >> 63) != 0) {  // fraction >= 1/2: take fraction - 1, and q + 1
        lo = ~lo + 1;
        hi = ~hi + (lo == 0 ? 1 : 0);
        fneg = true;
        q += 1;
    }
    F f = static_cast<F>(hi) * pow2(-64) + static_cast<F>(lo) * pow2(-128);
    F r = (fneg ? -f : f) * pi_2;
    if (neg) {
        r = -r;
        q = -q;
    }
    return {r, ((q % 4) + 4) % 4};
}
template <class T>
constexpr T sin(T x) {
    if (x != x || isinf(x)) {
        return nan<T>();
    }
    if (x == T(0)) {
        return x;
    }
    const auto [r, q] = reduce_pi_2(static_cast<double>(x));
    F v = 0;
    switch (q) {
        case 0: v = sin_r(r); break;
        case 1: v = cos_r(r); break;
        case 2: v = -sin_r(r); break;
        default: v = -cos_r(r); break;
    }
    return static_cast<T>(v);
}
template <class T>
constexpr T cos(T x) {
    if (x != x || isinf(x)) {
        return nan<T>();
    }
    const auto [r, q] = reduce_pi_2(static_cast<double>(x));
    F v = 0;
    switch (q) {
        case 0: v = cos_r(r); break;
        case 1: v = -sin_r(r); break;
        case 2: v = -cos_r(r); break;
        default: v = sin_r(r); break;
    }
    return static_cast<T>(v);
}
template <class T>
constexpr T tan(T x) {
    if (x != x || isinf(x)) {
        return nan<T>();
    }
    if (x == T(0)) {
        return x;
    }
    const auto [r, q] = reduce_pi_2(static_cast<double>(x));
    F s = sin_r(r), c = cos_r(r);
    return static_cast<T>((q % 2 == 0) ? s / c : -c / s);
}
constexpr F atan_f(F x) {
    if (x != x) {
        return x;
    }
    bool neg = x < 0;
    if (neg) {
        x = -x;
    }
    F offset = 0;
    bool inv = false;
    if (x > 1) {
        x = 1 / x;
        inv = true;
    }
    // reduce further: atan(x) = pi/6 + atan((x - 1/sqrt3) / (1 + x/sqrt3)) for x > 2 - sqrt3
    if (x > F(0.2679491924311227064725536584941276L)) {
        constexpr F isq3 = 0.5773502691896257645091487805019574L;
        x = (x - isq3) / (1 + x * isq3);
        offset = pi / 6;
    }
    F x2 = x * x, term = x, sum = 0;
    for (int i = 1; i < 200; i += 2) {
        sum += term / F(i);
        term *= -x2;
        if (abs(term) < F(1e-24)) {
            break;
        }
    }
    F r = offset + sum;
    if (inv) {
        r = pi_2 - r;
    }
    return neg ? -r : r;
}
template <class T>
constexpr T atan(T x) {
    if (x == T(0)) {
        return x;
    }
    return static_cast<T>(atan_f(static_cast<F>(x)));
}
template <class T>
constexpr T atan2(T y, T x) {
    if (x != x || y != y) {
        return nan<T>();
    }
    const bool sy = signbit(y);
    const F yf = static_cast<F>(y), xf = static_cast<F>(x);
    auto sgn = [&](F v) { return static_cast<T>(sy ? -v : v); };
    if (yf == 0) {  // atan2(+-0, +0 or x > 0) = +-0; atan2(+-0, -0 or x < 0) = +-pi
        return (xf > 0 || (xf == 0 && !signbit(x))) ? y : sgn(pi);
    }
    if (isinf(yf)) {
        return isinf(xf) ? sgn(xf > 0 ? pi / 4 : 3 * pi / 4) : sgn(pi_2);
    }
    if (isinf(xf)) {
        return xf > 0 ? sgn(F(0)) : sgn(pi);
    }
    if (xf == 0) {
        return sgn(pi_2);
    }
    if (xf > 0) {
        return static_cast<T>(atan_f(yf / xf));
    }
    return static_cast<T>(yf > 0 ? atan_f(yf / xf) + pi : atan_f(yf / xf) - pi);
}
template <class T>
constexpr T asin(T x) {
    if (x != x || x > T(1) || x < T(-1)) {
        return nan<T>();
    }
    if (x == T(0)) {
        return x;
    }
    F xf = static_cast<F>(x);
    if (xf == 1 || xf == -1) {
        return static_cast<T>(xf * pi_2);
    }
    return static_cast<T>(atan_f(xf / sqrt((1 - xf) * (1 + xf))));
}
template <class T>
constexpr T acos(T x) {
    if (x != x || x > T(1) || x < T(-1)) {
        return nan<T>();
    }
    F xf = static_cast<F>(x);
    // acos(x) = 2 atan(sqrt((1 - x) / (1 + x)))
    if (xf == -1) {
        return static_cast<T>(pi);
    }
    return static_cast<T>(2 * atan_f(sqrt((1 - xf) / (1 + xf))));
}
template <class T>
constexpr T sinh(T x) {
    F xf = static_cast<F>(x);
    if (abs(xf) < F(0.5)) {
        F x2 = xf * xf, term = xf, sum = xf;
        for (int i = 3; i < 40; i += 2) {
            term *= x2 / (F(i - 1) * F(i));
            sum += term;
            if (abs(term) < F(1e-24) * abs(sum)) {
                break;
            }
        }
        return static_cast<T>(sum);
    }
    F e = exp_f(xf);
    return static_cast<T>((e - 1 / e) / 2);
}
template <class T>
constexpr T cosh(T x) {
    F e = exp_f(static_cast<F>(x));
    return static_cast<T>((e + 1 / e) / 2);
}
template <class T>
constexpr T tanh(T x) {
    F xf = static_cast<F>(x);
    if (x != x) {
        return x;
    }
    if (xf > 40) {
        return T(1);
    }
    if (xf < -40) {
        return T(-1);
    }
    if (xf == 0) {
        return x;
    }
    F em = expm1(F(2) * xf);
    return static_cast<T>(em / (em + 2));
}
template <class T>
constexpr T erf(T x) {
    if (x != x || x == T(0)) {
        return x;
    }
    F xf = static_cast<F>(x);
    bool neg = xf < 0;
    if (neg) {
        xf = -xf;
    }
    F r = 0;
    if (xf < F(2.5)) {
        // Maclaurin series: erf x = 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1))
        F x2 = xf * xf, term = xf, sum = xf;
        for (int n = 1; n < 200; ++n) {
            term *= -x2 / F(n);
            F t = term / F(2 * n + 1);
            sum += t;
            if (abs(t) < F(1e-22) * abs(sum)) {
                break;
            }
        }
        r = sum * F(1.12837916709551257389615890312154517L);
    } else if (xf < 30) {
        // continued fraction for erfc, evaluated backwards
        F f = 0;
        for (int n = 120; n >= 1; --n) {
            f = F(n) / 2 / (xf + f);
        }
        F erfc = exp_f(-xf * xf) / (xf + f) * F(0.56418958354775628694807945156077259L);
        r = 1 - erfc;
    } else {
        r = 1;
    }
    return static_cast<T>(neg ? -r : r);
}
template <class T>
constexpr T pow(T a, T b) {
    if (b == T(0) || a == T(1)) {
        return T(1);  // also for a NaN b, or a NaN a (C99 Annex F)
    }
    if (a != a || b != b) {
        return nan<T>();
    }
    const F af = static_cast<F>(a), bf = static_cast<F>(b);
    if (isinf(bf)) {
        const F aa = abs(af);
        if (aa == 1) {
            return T(1);
        }
        return (aa < 1) == (bf > 0) ? T(0) : inf<T>();
    }
    // integral exponents (every |b| >= 2^63 is an even integer), and odd ones
    bool integral = true, odd = false;
    if (abs(bf) < F(9.2e18)) {
        const long long bi = static_cast<long long>(bf);
        integral = static_cast<F>(bi) == bf;
        odd = integral && bi % 2 != 0;
    }
    if (isinf(af) || af == 0) {
        // |a| = inf: inf or 0 by the sign of b; a = 0: 0 or inf; the sign is a's for odd b
        const bool big = isinf(af) == (bf > 0);
        const T mag = big ? inf<T>() : T(0);
        return odd && signbit(a) ? -mag : mag;
    }
    if (af < 0 && !integral) {
        return nan<T>();
    }
    F mag = exp_f(bf * log_f(abs(af)));
    return static_cast<T>(af < 0 && odd ? -mag : mag);
}

}  // namespace etgrad::detail::cx
