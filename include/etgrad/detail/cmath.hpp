// etgrad/detail/cmath.hpp — constexpr implementations of the elementary functions, used only while
// constant-evaluating (std::is_constant_evaluated()); run-time code calls <cmath>. Double-precision
// algorithms (argument reduction + series), evaluated in long double where that helps; float and
// long double arguments go through the same code.
#pragma once

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

using F = long double;  // working precision
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
// x = q pi/2 + r with r in [-pi/4, pi/4] (three-part Cody-Waite constant).
constexpr F reduce_pi_2(F x, long long& q) {
    F qf = x / pi_2;
    q = static_cast<long long>(qf < 0 ? qf - F(0.5) : qf + F(0.5));
    constexpr F p1 = 1.5707963267948966192313216916397514L;
    constexpr F p2 = 4.3359050650618905123985220130216759e-35L;
    return (x - F(q) * p1) - F(q) * p2;
}
template <class T>
constexpr T sin(T x) {
    if (x != x || isinf(x)) {
        return nan<T>();
    }
    if (x == T(0)) {
        return x;
    }
    long long q = 0;
    F r = reduce_pi_2(static_cast<F>(x), q);
    F v = 0;
    switch (((q % 4) + 4) % 4) {
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
    long long q = 0;
    F r = reduce_pi_2(static_cast<F>(x), q);
    F v = 0;
    switch (((q % 4) + 4) % 4) {
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
    long long q = 0;
    F r = reduce_pi_2(static_cast<F>(x), q);
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
    F yf = static_cast<F>(y), xf = static_cast<F>(x);
    if (xf == 0 && yf == 0) {
        return y;  // matches the common +0/-0 cases with x >= 0
    }
    if (isinf(xf) || isinf(yf)) {
        // coarse but finite handling of infinities
        F xs = isinf(xf) ? (xf > 0 ? F(1) : F(-1)) : F(0);
        F ys = isinf(yf) ? (yf > 0 ? F(1) : F(-1)) : F(0);
        if (xs == 0 && ys == 0) {
            return T(0);
        }
        if (ys == 0) {
            ys = yf >= 0 ? F(0) : F(-0.0);
            return static_cast<T>(xs > 0 ? F(0) : (yf >= 0 ? pi : -pi));
        }
        xf = xs == 0 ? F(0) : xs;
        yf = ys;
    }
    if (xf > 0) {
        return static_cast<T>(atan_f(yf / xf));
    }
    if (xf < 0) {
        return static_cast<T>(yf >= 0 ? atan_f(yf / xf) + pi : atan_f(yf / xf) - pi);
    }
    return static_cast<T>(yf > 0 ? pi_2 : -pi_2);
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
    if (x != x) {
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
    if (b == T(0)) {
        return T(1);
    }
    if (a != a || b != b) {
        return nan<T>();
    }
    F af = static_cast<F>(a), bf = static_cast<F>(b);
    // integral exponents: exact repeated squaring for moderate values, sign handling for a < 0
    F bi = static_cast<F>(static_cast<long long>(bf));
    bool integral = bi == bf && abs(bf) < F(1e18);
    if (af == 0) {
        if (bf < 0) {
            return inf<T>();
        }
        return T(0);
    }
    if (af < 0 && !integral) {
        return nan<T>();
    }
    F mag = exp_f(bf * log_f(abs(af)));
    if (af < 0 && integral && (static_cast<long long>(bf) % 2 != 0)) {
        mag = -mag;
    }
    return static_cast<T>(mag);
}

}  // namespace etgrad::detail::cx
