// etgrad/detail/dual.hpp — forward-mode numbers with N tangents, for Hessians computed
// forward-over-reverse: the reverse sweep that value_and_grad generates, run once on dual<T, n>
// numbers whose tangents are the n directions of wrt(...), gives every gradient entry with its
// derivative along each direction, that is the Hessian's rows, from one instantiation of the sweep
// (the symbolic route instantiated one second-derivative graph per entry).
#pragma once

#include <array>
#include <cstddef>

#include "../ops.hpp"

namespace etgrad::detail {

template <class T, std::size_t N>
struct dual {
    using value_type = T;  // scalar_of<dual>: constants are built as dual(T)
    T v{};
    std::array<T, N> t{};

    constexpr dual() = default;
    constexpr dual(T x) : v(x) {}  // NOLINT: a constant, with no tangent

    constexpr dual operator-() const {
        dual r(-v);
        for (std::size_t i = 0; i < N; ++i) {
            r.t[i] = -t[i];
        }
        return r;
    }
    constexpr dual operator+() const { return *this; }
    friend constexpr dual operator+(const dual& a, const dual& b) {
        dual r(a.v + b.v);
        for (std::size_t i = 0; i < N; ++i) {
            r.t[i] = a.t[i] + b.t[i];
        }
        return r;
    }
    friend constexpr dual operator-(const dual& a, const dual& b) {
        dual r(a.v - b.v);
        for (std::size_t i = 0; i < N; ++i) {
            r.t[i] = a.t[i] - b.t[i];
        }
        return r;
    }
    friend constexpr dual operator*(const dual& a, const dual& b) {
        dual r(a.v * b.v);
        for (std::size_t i = 0; i < N; ++i) {
            r.t[i] = a.t[i] * b.v + a.v * b.t[i];
        }
        return r;
    }
    friend constexpr dual operator/(const dual& a, const dual& b) {
        const T q = a.v / b.v;
        dual r(q);
        for (std::size_t i = 0; i < N; ++i) {
            r.t[i] = (a.t[i] - q * b.t[i]) / b.v;
        }
        return r;
    }
    constexpr dual& operator+=(const dual& b) { return *this = *this + b; }
    constexpr dual& operator-=(const dual& b) { return *this = *this - b; }
    constexpr dual& operator*=(const dual& b) { return *this = *this * b; }
    constexpr dual& operator/=(const dual& b) { return *this = *this / b; }

    // Comparisons (where, min, max, relu, ...) compare values.
    friend constexpr bool operator<(const dual& a, const dual& b) { return a.v < b.v; }
    friend constexpr bool operator>(const dual& a, const dual& b) { return a.v > b.v; }
    friend constexpr bool operator<=(const dual& a, const dual& b) { return a.v <= b.v; }
    friend constexpr bool operator>=(const dual& a, const dual& b) { return a.v >= b.v; }
    friend constexpr bool operator==(const dual& a, const dual& b) { return a.v == b.v; }
    friend constexpr bool operator!=(const dual& a, const dual& b) { return a.v != b.v; }

    // The elementary functions, found by num::f's argument-dependent call. Each is its value and
    // its derivative at a.v, both through num:: (so <cmath>, or cx:: while constant-evaluating).
    friend constexpr dual exp(const dual& a) {
        const T e = num::exp(a.v);
        return scale(e, a, e);
    }
    friend constexpr dual log(const dual& a) { return scale(num::log(a.v), a, T(1) / a.v); }
    friend constexpr dual log1p(const dual& a) { return scale(num::log1p(a.v), a, T(1) / (T(1) + a.v)); }
    friend constexpr dual expm1(const dual& a) { return scale(num::expm1(a.v), a, num::exp(a.v)); }
    friend constexpr dual sqrt(const dual& a) {
        const T s = num::sqrt(a.v);
        return scale(s, a, T(0.5) / s);
    }
    friend constexpr dual cbrt(const dual& a) {
        const T c = num::cbrt(a.v);
        return scale(c, a, T(1) / (T(3) * c * c));
    }
    friend constexpr dual sin(const dual& a) { return scale(num::sin(a.v), a, num::cos(a.v)); }
    friend constexpr dual cos(const dual& a) { return scale(num::cos(a.v), a, -num::sin(a.v)); }
    friend constexpr dual tan(const dual& a) {
        const T y = num::tan(a.v);
        return scale(y, a, T(1) + y * y);
    }
    friend constexpr dual asin(const dual& a) { return scale(num::asin(a.v), a, T(1) / num::sqrt(T(1) - a.v * a.v)); }
    friend constexpr dual acos(const dual& a) {
        return scale(num::acos(a.v), a, -T(1) / num::sqrt(T(1) - a.v * a.v));
    }
    friend constexpr dual atan(const dual& a) { return scale(num::atan(a.v), a, T(1) / (T(1) + a.v * a.v)); }
    friend constexpr dual sinh(const dual& a) { return scale(num::sinh(a.v), a, num::cosh(a.v)); }
    friend constexpr dual cosh(const dual& a) { return scale(num::cosh(a.v), a, num::sinh(a.v)); }
    friend constexpr dual tanh(const dual& a) {
        const T y = num::tanh(a.v);
        return scale(y, a, T(1) - y * y);
    }
    friend constexpr dual erf(const dual& a) {
        return scale(num::erf(a.v), a, T(1.12837916709551257389615890312154517) * num::exp(-a.v * a.v));
    }
    friend constexpr dual abs(const dual& a) {
        return scale(num::abs(a.v), a, a.v > T(0) ? T(1) : (a.v < T(0) ? T(-1) : T(0)));
    }
    friend constexpr dual atan2(const dual& y, const dual& x) {
        const T r2 = x.v * x.v + y.v * y.v;
        dual r(num::atan2(y.v, x.v));
        for (std::size_t i = 0; i < N; ++i) {
            r.t[i] = (x.v * y.t[i] - y.v * x.t[i]) / r2;
        }
        return r;
    }
    friend constexpr dual pow(const dual& a, const dual& b) {
        const T p = num::pow(a.v, b.v);
        bool const_exponent = true;
        for (std::size_t i = 0; i < N; ++i) {
            const_exponent = const_exponent && b.t[i] == T(0);
        }
        // a^b with a constant b: b a^(b-1) (also where a <= 0); else the log term too.
        const T da = b.v == T(0) ? T(0) : b.v * num::pow(a.v, b.v - T(1));
        const T db = const_exponent ? T(0) : p * num::log(a.v);
        dual r(p);
        for (std::size_t i = 0; i < N; ++i) {
            r.t[i] = da * a.t[i] + (const_exponent ? T(0) : db * b.t[i]);
        }
        return r;
    }

  private:
    static constexpr dual scale(T value, const dual& a, T da) {
        dual r(value);
        for (std::size_t i = 0; i < N; ++i) {
            r.t[i] = da * a.t[i];
        }
        return r;
    }
};

template <class T, std::size_t N>
struct is_dual_c<dual<T, N>> : std::true_type {};

/// A binding of the same variable to another value type.
template <class B, class V>
struct rebind_binding;
template <auto Name, class U, class V>
struct rebind_binding<binding<Name, U>, V> {
    using type = binding<Name, V>;
};
}  // namespace etgrad::detail
