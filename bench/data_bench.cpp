// Data-loop benchmarks: etgrad's fused SIMD loops against hand-written loops in the same binary.
// Per problem (N = 2^20 samples, and N = 1000 for the small-data case):
//   BM_<p>_hand_value   a hand-written scalar loop for the value alone,
//   BM_<p>_hand_scalar  a hand-written scalar loop for value and gradient,
//   BM_<p>_hand_simd    a hand-written xsimd loop for value and gradient (closed-form derivatives,
//                       loop invariants hoisted: what a careful engineer writes),
//   BM_<p>_hand_simdchain (some problems) the same xsimd loop with the chain rule written as AD
//                       applies it (no algebraic identity across operations),
//   BM_<p>_etgrad       etgrad,
//   BM_<p>_etgrad_value etgrad's value alone (the primal: value and gradient over it is the
//                       gradient/primal ratio of FastAD's problem set, issue 14).
//   BM_<p>_hand_simdvalue (sum, normal, lse, prod) a hand-written xsimd loop for the value alone:
//                       BM_<p>_hand_simd over it is the hand-written gradient/primal ratio, the
//                       floor etgrad's ratio is measured against (issue 14 item 10): the sum's and
//                       the product's gradients are N numbers written (memory-bound), the
//                       log-sum-exp's a second exp per sample.
// main() checks once that every implementation agrees with etgrad before timing. Figures go into
// bench/RESULTS.md only through run_benchmarks.py.
#include <benchmark/benchmark.h>
#include <etgrad/etgrad.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <tuple>
#include <vector>

namespace eg = etgrad;
using B = xsimd::batch<double>;
constexpr std::size_t W = B::size;

namespace {

struct Rng {
    std::uint64_t s;
    double uniform(double lo, double hi) {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        return lo + (hi - lo) * static_cast<double>(z >> 11) * 0x1.0p-53;
    }
};
std::vector<double> uniform(std::size_t n, double lo, double hi, std::uint64_t seed) {
    Rng r{seed};
    std::vector<double> v(n);
    for (auto& e : v) {
        e = r.uniform(lo, hi);
    }
    return v;
}
double hsum(const B& b) { return xsimd::hadd(b); }

constexpr auto w = eg::var<"w">;
constexpr auto b = eg::var<"b">;
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;

struct Res3 {
    double v, g0, g1;
};

// ------------------------------------------------------------------------------------------------
// 1. Logistic regression with one feature (cgpa -> placed): loss, dL/dw, dL/db.
struct LogregData {
    std::vector<double> xs, ys;
    explicit LogregData(std::size_t n) : xs(uniform(n, 5.0, 9.0, 1)), ys(n) {
        Rng r{2};
        for (std::size_t i = 0; i < n; ++i) {
            ys[i] = r.uniform(0, 1) < 1.0 / (1.0 + std::exp(-(1.2 * xs[i] - 8.0))) ? 1.0 : 0.0;
        }
    }
};
constexpr double kW = 1.1, kB = -8.0;
constexpr auto lr_p = eg::sigmoid(w * x + b);
// The 1s are compile-time constants (eg::c<1>), so that etgrad recognises the binary cross-entropy
// of a sigmoid and builds its fused stable form, bce_with_logits(w * x + b, y), with the gradient
// sigmoid(z) - y (README "Numerically stable forms"); a plain 1 is a runtime constant, whose value
// is not in the type, and gives the textbook composition.
constexpr auto lr_loss = eg::mean(-(y * eg::log(lr_p) + (eg::c<1> - y) * eg::log(eg::c<1> - lr_p)));

double logreg_hand_value(const LogregData& d) {
    double l = 0;
    const std::size_t n = d.xs.size();
    for (std::size_t i = 0; i < n; ++i) {
        double p = 1.0 / (1.0 + std::exp(-(kW * d.xs[i] + kB)));
        l += -(d.ys[i] * std::log(p) + (1 - d.ys[i]) * std::log(1 - p));
    }
    return l / static_cast<double>(n);
}
Res3 logreg_hand_scalar(const LogregData& d) {
    double l = 0, gw = 0, gb = 0;
    const std::size_t n = d.xs.size();
    for (std::size_t i = 0; i < n; ++i) {
        double p = 1.0 / (1.0 + std::exp(-(kW * d.xs[i] + kB)));
        l += -(d.ys[i] * std::log(p) + (1 - d.ys[i]) * std::log(1 - p));
        double r = p - d.ys[i];
        gw += r * d.xs[i];
        gb += r;
    }
    double inv = 1.0 / static_cast<double>(n);
    return {l * inv, gw * inv, gb * inv};
}
template <bool Chain>
Res3 logreg_hand_simd(const LogregData& d) {
    const std::size_t n = d.xs.size();
    const B one(1.0), wv(kW), bv(kB);
    B l(0.0), gw(0.0), gb(0.0);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        B xv = B::load_unaligned(d.xs.data() + i), yv = B::load_unaligned(d.ys.data() + i);
        B p = one / (one + xsimd::exp(-xsimd::fma(wv, xv, bv)));
        B q = one - p;
        l += -(yv * xsimd::log(p) + (one - yv) * xsimd::log(q));
        B r;
        if constexpr (Chain) {
            r = (-yv / p + (one - yv) / q) * (p * q);  // dL/dlog p, dlog p/dp, dp/dz as AD does
        } else {
            r = p - yv;
        }
        gw = xsimd::fma(r, xv, gw);
        gb += r;
    }
    double ls = hsum(l), gws = hsum(gw), gbs = hsum(gb);
    for (; i < n; ++i) {
        double p = 1.0 / (1.0 + std::exp(-(kW * d.xs[i] + kB)));
        ls += -(d.ys[i] * std::log(p) + (1 - d.ys[i]) * std::log(1 - p));
        gws += (p - d.ys[i]) * d.xs[i];
        gbs += p - d.ys[i];
    }
    double inv = 1.0 / static_cast<double>(n);
    return {ls * inv, gws * inv, gbs * inv};
}
Res3 logreg_etgrad(const LogregData& d) {
    auto [l, g] = eg::value_and_grad(lr_loss, eg::wrt(w, b), w = kW, b = kB, x = d.xs, y = d.ys);
    return {l, g[w], g[b]};
}
double logreg_etgrad_value(const LogregData& d) { return lr_loss(w = kW, b = kB, x = d.xs, y = d.ys); }
Res3 logreg_etgrad_par2(const LogregData& d) {  // two threads (eg::par's pool, kept across calls)
    auto [l, g] = eg::value_and_grad(eg::par(2), lr_loss, eg::wrt(w, b), w = kW, b = kB, x = d.xs, y = d.ys);
    return {l, g[w], g[b]};
}

// ------------------------------------------------------------------------------------------------
// 2. The sum of normal log-densities, gradient with respect to (mu, sigma).
constexpr auto mu = eg::var<"mu">;
constexpr auto sigma = eg::var<"sigma">;
constexpr double kHalfLog2Pi = 0.91893853320467274178;
constexpr double kMu = 0.3, kSigma = 1.7;
constexpr auto nl_loss = eg::sum(-0.5 * eg::square((x - mu) / sigma) - eg::log(sigma) - kHalfLog2Pi);
struct NormalData {
    std::vector<double> xs;
    explicit NormalData(std::size_t n) : xs(uniform(n, -4.0, 4.0, 3)) {}
};
double normal_hand_value(const NormalData& d) {
    const double inv = 1.0 / kSigma, c = std::log(kSigma) + kHalfLog2Pi;
    double s = 0;
    for (double xi : d.xs) {
        double z = (xi - kMu) * inv;
        s += z * z;
    }
    return -0.5 * s - static_cast<double>(d.xs.size()) * c;
}
Res3 normal_hand_scalar(const NormalData& d) {
    const double inv = 1.0 / kSigma, c = std::log(kSigma) + kHalfLog2Pi;
    double s2 = 0, s1 = 0;
    for (double xi : d.xs) {
        double z = (xi - kMu) * inv;
        s2 += z * z;
        s1 += z;
    }
    double n = static_cast<double>(d.xs.size());
    return {-0.5 * s2 - n * c, s1 * inv, (s2 - n) * inv};
}
Res3 normal_hand_simd(const NormalData& d) {
    const double inv = 1.0 / kSigma, c = std::log(kSigma) + kHalfLog2Pi;
    const B invv(inv), muv(kMu);
    B s2(0.0), s1(0.0);
    const std::size_t n = d.xs.size();
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        B z = (B::load_unaligned(d.xs.data() + i) - muv) * invv;
        s2 = xsimd::fma(z, z, s2);
        s1 += z;
    }
    double a2 = hsum(s2), a1 = hsum(s1);
    for (; i < n; ++i) {
        double z = (d.xs[i] - kMu) * inv;
        a2 += z * z;
        a1 += z;
    }
    double nn = static_cast<double>(n);
    return {-0.5 * a2 - nn * c, a1 * inv, (a2 - nn) * inv};
}
double normal_hand_simdvalue(const NormalData& d) {  // the value alone: one sum of squares
    const double inv = 1.0 / kSigma, c = std::log(kSigma) + kHalfLog2Pi;
    const B invv(inv), muv(kMu);
    B s2(0.0), t2(0.0);  // two chains: the FMA's latency would bound one
    const std::size_t n = d.xs.size();
    std::size_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        B z = (B::load_unaligned(d.xs.data() + i) - muv) * invv;
        B u = (B::load_unaligned(d.xs.data() + i + W) - muv) * invv;
        s2 = xsimd::fma(z, z, s2);
        t2 = xsimd::fma(u, u, t2);
    }
    for (; i + W <= n; i += W) {
        B z = (B::load_unaligned(d.xs.data() + i) - muv) * invv;
        s2 = xsimd::fma(z, z, s2);
    }
    double a2 = hsum(s2 + t2);
    for (; i < n; ++i) {
        double z = (d.xs[i] - kMu) * inv;
        a2 += z * z;
    }
    return -0.5 * a2 - static_cast<double>(n) * c;
}
Res3 normal_etgrad(const NormalData& d) {
    auto [l, g] = eg::value_and_grad(nl_loss, eg::wrt(mu, sigma), mu = kMu, sigma = kSigma, x = d.xs);
    return {l, g[mu], g[sigma]};
}
double normal_etgrad_value(const NormalData& d) { return nl_loss(mu = kMu, sigma = kSigma, x = d.xs); }
Res3 normal_etgrad_par2(const NormalData& d) {
    auto [l, g] = eg::value_and_grad(eg::par(2), nl_loss, eg::wrt(mu, sigma), mu = kMu, sigma = kSigma, x = d.xs);
    return {l, g[mu], g[sigma]};
}

// ------------------------------------------------------------------------------------------------
// 3. Black-Scholes calls with delta, vega, rho and theta (dV/dT) per option: elementwise.
constexpr auto S = eg::var<"S">;
constexpr auto vol = eg::var<"vol">;
constexpr auto r = eg::var<"r">;
constexpr auto T = eg::var<"T">;
constexpr double kK = 100.0, kR = 0.02;
constexpr auto bs_srt = vol * eg::sqrt(T);
constexpr auto bs_d1 = (eg::log(S / kK) + (r + 0.5 * vol * vol) * T) / bs_srt;
constexpr auto bs_d2 = bs_d1 - bs_srt;
constexpr auto bs_call = S * (0.5 * (1.0 + eg::erf(bs_d1 * 0.70710678118654752))) -
                         kK * eg::exp(-r * T) * (0.5 * (1.0 + eg::erf(bs_d2 * 0.70710678118654752)));
struct BsData {
    std::vector<double> s, v, t;
    std::vector<double> price, delta, vega, rho, theta;
    explicit BsData(std::size_t n)
        : s(uniform(n, 60, 140, 4)), v(uniform(n, 0.1, 0.5, 5)), t(uniform(n, 0.1, 2.0, 6)), price(n), delta(n),
          vega(n), rho(n), theta(n) {}
};
constexpr double kInvSqrt2 = 0.70710678118654752, kInvSqrt2Pi = 0.39894228040143268;
void bs_hand_value(BsData& d) {
    for (std::size_t i = 0; i < d.s.size(); ++i) {
        double srt = d.v[i] * std::sqrt(d.t[i]);
        double d1 = (std::log(d.s[i] / kK) + (kR + 0.5 * d.v[i] * d.v[i]) * d.t[i]) / srt, d2 = d1 - srt;
        double disc = kK * std::exp(-kR * d.t[i]);
        d.price[i] = d.s[i] * 0.5 * (1 + std::erf(d1 * kInvSqrt2)) - disc * 0.5 * (1 + std::erf(d2 * kInvSqrt2));
    }
}
// One option, value and greeks in closed form (the scalar loop, and the tail of the xsimd loop).
inline void bs_hand_one(BsData& d, std::size_t i) {
        double sq = std::sqrt(d.t[i]), srt = d.v[i] * sq;
        double d1 = (std::log(d.s[i] / kK) + (kR + 0.5 * d.v[i] * d.v[i]) * d.t[i]) / srt, d2 = d1 - srt;
        double disc = kK * std::exp(-kR * d.t[i]);
        double n1 = 0.5 * (1 + std::erf(d1 * kInvSqrt2)), n2 = 0.5 * (1 + std::erf(d2 * kInvSqrt2));
        double pdf1 = kInvSqrt2Pi * std::exp(-0.5 * d1 * d1);
        d.price[i] = d.s[i] * n1 - disc * n2;
        d.delta[i] = n1;
        d.vega[i] = d.s[i] * pdf1 * sq;
        d.rho[i] = d.t[i] * disc * n2;
        d.theta[i] = d.s[i] * pdf1 * d.v[i] / (2 * sq) + kR * disc * n2;
}
void bs_hand_scalar(BsData& d) {
    for (std::size_t i = 0; i < d.s.size(); ++i) {
        bs_hand_one(d, i);
    }
}
void bs_hand_simd(BsData& d) {
    const std::size_t n = d.s.size();
    const B half(0.5), one(1.0), K(kK), R(kR), is2(kInvSqrt2), is2p(kInvSqrt2Pi), two(2.0);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        B s = B::load_unaligned(d.s.data() + i), v = B::load_unaligned(d.v.data() + i),
          t = B::load_unaligned(d.t.data() + i);
        B sq = xsimd::sqrt(t), srt = v * sq;
        B d1 = (xsimd::log(s / K) + (R + half * v * v) * t) / srt, d2 = d1 - srt;
        B disc = K * xsimd::exp(-R * t);
        B n1 = half * (one + xsimd::erf(d1 * is2)), n2 = half * (one + xsimd::erf(d2 * is2));
        B pdf1 = is2p * xsimd::exp(-half * d1 * d1);
        (s * n1 - disc * n2).store_unaligned(d.price.data() + i);
        n1.store_unaligned(d.delta.data() + i);
        (s * pdf1 * sq).store_unaligned(d.vega.data() + i);
        (t * disc * n2).store_unaligned(d.rho.data() + i);
        (s * pdf1 * v / (two * sq) + R * disc * n2).store_unaligned(d.theta.data() + i);
    }
    for (; i < n; ++i) {
        bs_hand_one(d, i);
    }
}
void bs_etgrad(BsData& d) {
    eg::value_and_grad_into(d.price, std::tie(d.delta, d.vega, d.rho, d.theta), bs_call, eg::wrt(S, vol, r, T),
                            S = d.s, vol = d.v, r = kR, T = d.t);
}
void bs_etgrad_par2(BsData& d) {
    eg::value_and_grad_into(eg::par(2), d.price, std::tie(d.delta, d.vega, d.rho, d.theta), bs_call,
                            eg::wrt(S, vol, r, T), S = d.s, vol = d.v, r = kR, T = d.t);
}

// ------------------------------------------------------------------------------------------------
// 4. log-sum-exp of a vector and its gradient (the softmax).
struct LseData {
    std::vector<double> xs, g;
    explicit LseData(std::size_t n) : xs(uniform(n, -10.0, 10.0, 7)), g(n) {}
};
double lse_hand_value(const LseData& d) {
    double m = -INFINITY;
    for (double v : d.xs) {
        m = v > m ? v : m;
    }
    double s = 0;
    for (double v : d.xs) {
        s += std::exp(v - m);
    }
    return m + std::log(s);
}
double lse_hand_scalar(LseData& d) {
    double l = lse_hand_value(d);
    for (std::size_t i = 0; i < d.xs.size(); ++i) {
        d.g[i] = std::exp(d.xs[i] - l);
    }
    return l;
}
double lse_hand_simdvalue(const LseData& d) {  // the value alone: a max pass and an exp pass
    const std::size_t n = d.xs.size();
    std::size_t i = 0;
    B mv(-INFINITY);
    for (; i + W <= n; i += W) {
        mv = xsimd::max(mv, B::load_unaligned(d.xs.data() + i));
    }
    alignas(64) double ml[W];
    mv.store_aligned(ml);
    double m = ml[0];
    for (std::size_t l = 1; l < W; ++l) {
        m = ml[l] > m ? ml[l] : m;
    }
    for (std::size_t j = i; j < n; ++j) {
        m = d.xs[j] > m ? d.xs[j] : m;
    }
    const B M(m);
    B sv(0.0);
    for (i = 0; i + W <= n; i += W) {
        sv += xsimd::exp(B::load_unaligned(d.xs.data() + i) - M);
    }
    double s = hsum(sv);
    for (std::size_t j = i; j < n; ++j) {
        s += std::exp(d.xs[j] - m);
    }
    return m + std::log(s);
}
double lse_hand_simd(LseData& d) {  // and the gradient: one more exp pass, N writes
    const std::size_t n = d.xs.size();
    const double l = lse_hand_simdvalue(d);
    const B L(l);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        xsimd::exp(B::load_unaligned(d.xs.data() + i) - L).store_unaligned(d.g.data() + i);
    }
    for (; i < n; ++i) {
        d.g[i] = std::exp(d.xs[i] - l);
    }
    return l;
}
double lse_etgrad(LseData& d) {
    auto [l, g] = eg::value_and_grad(eg::logsumexp(x), eg::wrt(x), x = eg::data(d.xs).grad_into(d.g));
    return l;
}
double lse_etgrad_value(const LseData& d) { return eg::logsumexp(x)(x = eg::data(d.xs)); }
double lse_etgrad_par2(LseData& d) {
    auto [l, g] = eg::value_and_grad(eg::par(2), eg::logsumexp(x), eg::wrt(x), x = eg::data(d.xs).grad_into(d.g));
    return l;
}

// ------------------------------------------------------------------------------------------------
// 5. The product of N numbers in (0.5, 1.5) and its gradient with respect to each number. Every
// implementation handles zeros exactly (the gradient at a zero is the product of the others).
struct ProdData {
    std::vector<double> xs, g;
    explicit ProdData(std::size_t n) : xs(uniform(n, 0.5, 1.5, 8)), g(n) {}
};
double prod_hand_value(const ProdData& d) {
    double p = 1;
    for (double v : d.xs) {
        p *= v;
    }
    return p;
}
double prod_hand_scalar(ProdData& d) {
    double pnz = 1;
    std::size_t zeros = 0;
    for (double v : d.xs) {
        if (v == 0) {
            ++zeros;
        } else {
            pnz *= v;
        }
    }
    const double p = zeros ? 0.0 : pnz, atzero = zeros == 1 ? pnz : 0.0;
    for (std::size_t i = 0; i < d.xs.size(); ++i) {
        d.g[i] = d.xs[i] == 0 ? atzero : p / d.xs[i];
    }
    return p;
}
double prod_hand_simdvalue(const ProdData& d) {  // the value alone: one product (no zero count)
    const std::size_t n = d.xs.size();
    B pv(1.0);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        pv *= B::load_unaligned(d.xs.data() + i);
    }
    alignas(64) double pl[W];
    pv.store_aligned(pl);
    double p = 1;
    for (std::size_t l = 0; l < W; ++l) {
        p *= pl[l];
    }
    for (; i < n; ++i) {
        p *= d.xs[i];
    }
    return p;
}
double prod_hand_simd(ProdData& d) {
    const std::size_t n = d.xs.size();
    const B zero(0.0), one(1.0);
    B pv(1.0), zv(0.0);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        B v = B::load_unaligned(d.xs.data() + i);
        auto z = v == zero;
        pv *= xsimd::select(z, one, v);
        zv += xsimd::select(z, one, zero);
    }
    alignas(64) double pl[W], zl[W];
    pv.store_aligned(pl);
    zv.store_aligned(zl);
    double pnz = 1, zeros = 0;
    for (std::size_t l = 0; l < W; ++l) {
        pnz *= pl[l];
        zeros += zl[l];
    }
    for (std::size_t j = i; j < n; ++j) {
        if (d.xs[j] == 0) {
            zeros += 1;
        } else {
            pnz *= d.xs[j];
        }
    }
    const double p = zeros > 0 ? 0.0 : pnz, atzero = zeros == 1 ? pnz : 0.0;
    const B P(p), Z(atzero);
    for (i = 0; i + W <= n; i += W) {
        B v = B::load_unaligned(d.xs.data() + i);
        xsimd::select(v == zero, Z, P / v).store_unaligned(d.g.data() + i);
    }
    for (; i < n; ++i) {
        d.g[i] = d.xs[i] == 0 ? atzero : p / d.xs[i];
    }
    return p;
}
double prod_etgrad(ProdData& d) {
    auto [p, g] = eg::value_and_grad(eg::prod(x), eg::wrt(x), x = eg::data(d.xs).grad_into(d.g));
    return p;
}
double prod_etgrad_value(const ProdData& d) { return eg::prod(x)(x = eg::data(d.xs)); }
double prod_etgrad_par2(ProdData& d) {
    auto [p, g] = eg::value_and_grad(eg::par(2), eg::prod(x), eg::wrt(x), x = eg::data(d.xs).grad_into(d.g));
    return p;
}

// ------------------------------------------------------------------------------------------------
// 6. The seed expression ((a + b) b^2) + ((c - d) d^2), elementwise, with its four gradients.
constexpr auto a_ = eg::var<"a">;
constexpr auto b_ = eg::var<"b">;
constexpr auto c_ = eg::var<"c">;
constexpr auto d_ = eg::var<"d">;
constexpr auto seed_f = ((a_ + b_) * eg::square(b_)) + ((c_ - d_) * eg::square(d_));
struct SeedData {
    std::vector<double> a, b, c, d, f, ga, gb, gc, gd;
    explicit SeedData(std::size_t n)
        : a(uniform(n, -2, 2, 9)), b(uniform(n, -2, 2, 10)), c(uniform(n, -2, 2, 11)), d(uniform(n, -2, 2, 12)),
          f(n), ga(n), gb(n), gc(n), gd(n) {}
};
void seed_hand_value(SeedData& s) {
    for (std::size_t i = 0; i < s.a.size(); ++i) {
        s.f[i] = (s.a[i] + s.b[i]) * s.b[i] * s.b[i] + (s.c[i] - s.d[i]) * s.d[i] * s.d[i];
    }
}
// One sample, value and gradient (the scalar loop, and the tail of the xsimd loop).
inline void seed_hand_one(SeedData& s, std::size_t i) {
        double ab = s.a[i] + s.b[i], cd = s.c[i] - s.d[i], b2 = s.b[i] * s.b[i], d2 = s.d[i] * s.d[i];
        s.f[i] = ab * b2 + cd * d2;
        s.ga[i] = b2;
        s.gb[i] = b2 + 2 * s.b[i] * ab;
        s.gc[i] = d2;
        s.gd[i] = 2 * s.d[i] * cd - d2;
}
void seed_hand_scalar(SeedData& s) {
    for (std::size_t i = 0; i < s.a.size(); ++i) {
        seed_hand_one(s, i);
    }
}
void seed_hand_simd(SeedData& s) {
    const std::size_t n = s.a.size();
    const B two(2.0);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        B a = B::load_unaligned(s.a.data() + i), b = B::load_unaligned(s.b.data() + i),
          c = B::load_unaligned(s.c.data() + i), d = B::load_unaligned(s.d.data() + i);
        B ab = a + b, cd = c - d, b2 = b * b, d2 = d * d;
        (ab * b2 + cd * d2).store_unaligned(s.f.data() + i);
        b2.store_unaligned(s.ga.data() + i);
        (b2 + two * b * ab).store_unaligned(s.gb.data() + i);
        d2.store_unaligned(s.gc.data() + i);
        (two * d * cd - d2).store_unaligned(s.gd.data() + i);
    }
    for (; i < n; ++i) {
        seed_hand_one(s, i);
    }
}
void seed_etgrad(SeedData& s) {
    eg::value_and_grad_into(s.f, std::tie(s.ga, s.gb, s.gc, s.gd), seed_f, eg::wrt(a_, b_, c_, d_), a_ = s.a,
                            b_ = s.b, c_ = s.c, d_ = s.d);
}

// ------------------------------------------------------------------------------------------------
// 7. The sum of N numbers and its gradient with respect to each (all ones): memory-bound.
struct SumData {
    std::vector<double> xs, g;
    explicit SumData(std::size_t n) : xs(uniform(n, -1.0, 1.0, 9)), g(n) {}
};
double sum_hand_simdvalue(const SumData& d) {  // the value alone: N reads
    const std::size_t n = d.xs.size();
    std::size_t i = 0;
    B s0(0.0), s1(0.0);
    for (; i + 2 * W <= n; i += 2 * W) {
        s0 += B::load_unaligned(d.xs.data() + i);
        s1 += B::load_unaligned(d.xs.data() + i + W);
    }
    double s = hsum(s0 + s1);
    for (; i < n; ++i) {
        s += d.xs[i];
    }
    return s;
}
double sum_hand_simd(SumData& d) {  // and the gradient: N reads, N writes
    const double s = sum_hand_simdvalue(d);
    const B one(1.0);
    const std::size_t n = d.xs.size();
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        one.store_unaligned(d.g.data() + i);
    }
    for (; i < n; ++i) {
        d.g[i] = 1.0;
    }
    return s;
}
double sum_etgrad(SumData& d) {
    auto [s, g] = eg::value_and_grad(eg::sum(x), eg::wrt(x), x = eg::data(d.xs).grad_into(d.g));
    return s;
}
double sum_etgrad_value(const SumData& d) { return eg::sum(x)(x = eg::data(d.xs)); }

// ------------------------------------------------------------------------------------------------
template <class D, class F>
void timed(benchmark::State& state, F f) {
    const auto n = static_cast<std::size_t>(state.range(0));
    D d(n);
    for (auto _ : state) {
        auto res = f(d);
        benchmark::DoNotOptimize(res);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
}
template <class F>
auto void_ret(F f) {
    return [f](auto& d) {
        f(d);
        return 0;
    };
}

#define ETGRAD_DATA_BENCH(name, Data, fn) \
    void BM_##name(benchmark::State& st) { timed<Data>(st, fn); } \
    BENCHMARK(BM_##name)->Arg(1 << 20)->Arg(1 << 16)->Arg(1000)
// Threads: timed by the wall clock (the CPU time of the calling thread would hide the others').
#define ETGRAD_DATA_BENCH_PAR(name, Data, fn) \
    void BM_##name(benchmark::State& st) { timed<Data>(st, fn); } \
    BENCHMARK(BM_##name)->Arg(1 << 20)->Arg(1 << 16)->UseRealTime()

ETGRAD_DATA_BENCH(logreg_hand_value, LogregData, logreg_hand_value);
ETGRAD_DATA_BENCH(logreg_hand_scalar, LogregData, logreg_hand_scalar);
ETGRAD_DATA_BENCH(logreg_hand_simd, LogregData, logreg_hand_simd<false>);
ETGRAD_DATA_BENCH(logreg_hand_simdchain, LogregData, logreg_hand_simd<true>);
ETGRAD_DATA_BENCH(logreg_etgrad, LogregData, logreg_etgrad);
ETGRAD_DATA_BENCH(logreg_etgrad_value, LogregData, logreg_etgrad_value);
ETGRAD_DATA_BENCH_PAR(logreg_etgrad_par2, LogregData, logreg_etgrad_par2);
ETGRAD_DATA_BENCH(normal_hand_value, NormalData, normal_hand_value);
ETGRAD_DATA_BENCH(normal_hand_scalar, NormalData, normal_hand_scalar);
ETGRAD_DATA_BENCH(normal_hand_simdvalue, NormalData, normal_hand_simdvalue);
ETGRAD_DATA_BENCH(normal_hand_simd, NormalData, normal_hand_simd);
ETGRAD_DATA_BENCH(normal_etgrad, NormalData, normal_etgrad);
ETGRAD_DATA_BENCH(normal_etgrad_value, NormalData, normal_etgrad_value);
ETGRAD_DATA_BENCH_PAR(normal_etgrad_par2, NormalData, normal_etgrad_par2);
ETGRAD_DATA_BENCH(bs_hand_value, BsData, void_ret(bs_hand_value));
ETGRAD_DATA_BENCH(bs_hand_scalar, BsData, void_ret(bs_hand_scalar));
ETGRAD_DATA_BENCH(bs_hand_simd, BsData, void_ret(bs_hand_simd));
ETGRAD_DATA_BENCH(bs_etgrad, BsData, void_ret(bs_etgrad));
ETGRAD_DATA_BENCH_PAR(bs_etgrad_par2, BsData, void_ret(bs_etgrad_par2));
ETGRAD_DATA_BENCH(lse_hand_value, LseData, lse_hand_value);
ETGRAD_DATA_BENCH(lse_hand_scalar, LseData, lse_hand_scalar);
ETGRAD_DATA_BENCH(lse_hand_simdvalue, LseData, lse_hand_simdvalue);
ETGRAD_DATA_BENCH(lse_hand_simd, LseData, lse_hand_simd);
ETGRAD_DATA_BENCH(lse_etgrad, LseData, lse_etgrad);
ETGRAD_DATA_BENCH(lse_etgrad_value, LseData, lse_etgrad_value);
ETGRAD_DATA_BENCH_PAR(lse_etgrad_par2, LseData, lse_etgrad_par2);
ETGRAD_DATA_BENCH(prod_hand_value, ProdData, prod_hand_value);
ETGRAD_DATA_BENCH(prod_hand_scalar, ProdData, prod_hand_scalar);
ETGRAD_DATA_BENCH(prod_hand_simdvalue, ProdData, prod_hand_simdvalue);
ETGRAD_DATA_BENCH(prod_hand_simd, ProdData, prod_hand_simd);
ETGRAD_DATA_BENCH(prod_etgrad, ProdData, prod_etgrad);
ETGRAD_DATA_BENCH(prod_etgrad_value, ProdData, prod_etgrad_value);
ETGRAD_DATA_BENCH(sum_hand_simdvalue, SumData, sum_hand_simdvalue);
ETGRAD_DATA_BENCH(sum_hand_simd, SumData, sum_hand_simd);
ETGRAD_DATA_BENCH(sum_etgrad, SumData, sum_etgrad);
ETGRAD_DATA_BENCH(sum_etgrad_value, SumData, sum_etgrad_value);
ETGRAD_DATA_BENCH_PAR(prod_etgrad_par2, ProdData, prod_etgrad_par2);
ETGRAD_DATA_BENCH(seed_hand_value, SeedData, void_ret(seed_hand_value));
ETGRAD_DATA_BENCH(seed_hand_scalar, SeedData, void_ret(seed_hand_scalar));
ETGRAD_DATA_BENCH(seed_hand_simd, SeedData, void_ret(seed_hand_simd));
ETGRAD_DATA_BENCH(seed_etgrad, SeedData, void_ret(seed_etgrad));

// ------------------------------------------------------------------------------------------------
// Agreement, checked before timing (and by the test suite through --benchmark_list_tests).
int failures = 0;
void agree(const char* what, double got, double want, double rel) {
    if (!(std::fabs(got - want) <= rel * std::fabs(want) + 1e-300)) {
        std::fprintf(stderr, "etgrad_bench_data: %s: %.17g vs %.17g\n", what, got, want);
        ++failures;
    }
}
void agree_all(const char* what, const std::vector<double>& got, const std::vector<double>& want, double rel) {
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (!(std::fabs(got[i] - want[i]) <= rel * std::fabs(want[i]) + 1e-10)) {  // prices near 0 cancel
            std::fprintf(stderr, "etgrad_bench_data: %s[%zu]: %.17g vs %.17g\n", what, i, got[i], want[i]);
            ++failures;
            return;
        }
    }
}
void check_agreement() {
    for (std::size_t n : {std::size_t{1000}, std::size_t{1} << 20, std::size_t{1003}}) {
        LogregData ld(n);
        Res3 e = logreg_etgrad(ld);
        for (Res3 h : {logreg_hand_scalar(ld), logreg_hand_simd<false>(ld), logreg_hand_simd<true>(ld)}) {
            agree("logreg loss", h.v, e.v, 1e-10);
            agree("logreg dw", h.g0, e.g0, 1e-9);
            agree("logreg db", h.g1, e.g1, 1e-9);
        }
        agree("logreg value", logreg_hand_value(ld), e.v, 1e-10);
        NormalData nd(n);
        Res3 ne = normal_etgrad(nd);
        for (Res3 h : {normal_hand_scalar(nd), normal_hand_simd(nd)}) {
            agree("normal value", h.v, ne.v, 1e-10);
            agree("normal dmu", h.g0, ne.g0, 1e-9);
            agree("normal dsigma", h.g1, ne.g1, 1e-9);
        }
        agree("normal etgrad value", normal_etgrad_value(nd), ne.v, 1e-12);
        agree("normal simd value", normal_hand_simdvalue(nd), ne.v, 1e-10);
        BsData b1(n), b2(n);
        bs_etgrad(b1);
        bs_hand_scalar(b2);
        agree_all("bs price", b2.price, b1.price, 1e-10);
        agree_all("bs delta", b2.delta, b1.delta, 1e-9);
        agree_all("bs vega", b2.vega, b1.vega, 1e-9);
        agree_all("bs rho", b2.rho, b1.rho, 1e-9);
        agree_all("bs theta", b2.theta, b1.theta, 1e-9);
        bs_hand_simd(b2);
        agree_all("bs simd theta", b2.theta, b1.theta, 1e-9);
        LseData l1(n), l2(n);
        agree("lse", lse_hand_simd(l2), lse_etgrad(l1), 1e-13);
        agree_all("lse grad", l2.g, l1.g, 1e-12);
        agree("lse value", lse_hand_value(l2), lse_hand_scalar(l1), 1e-13);
        agree("lse etgrad value", lse_etgrad_value(l1), lse_hand_value(l2), 1e-13);
        agree("lse simd value", lse_hand_simdvalue(l1), lse_hand_value(l2), 1e-13);
        ProdData p1(n), p2(n);
        agree("prod", prod_hand_simd(p2), prod_etgrad(p1), 1e-10);
        agree_all("prod grad", p2.g, p1.g, 1e-10);
        agree("prod etgrad value", prod_etgrad_value(p1), prod_hand_simd(p2), 1e-10);
        agree("prod simd value", prod_hand_simdvalue(p1), prod_hand_simd(p2), 1e-10);
        SeedData s1(n), s2(n);
        seed_etgrad(s1);
        seed_hand_simd(s2);
        agree_all("seed f", s2.f, s1.f, 1e-14);
        agree_all("seed ga", s2.ga, s1.ga, 1e-14);
        agree_all("seed gb", s2.gb, s1.gb, 1e-14);
        agree_all("seed gc", s2.gc, s1.gc, 1e-14);
        agree_all("seed gd", s2.gd, s1.gd, 1e-14);
        // Two threads: bit-identical to one.
        agree("logreg par2 loss", logreg_etgrad_par2(ld).v, e.v, 0);
        agree("logreg par2 dw", logreg_etgrad_par2(ld).g0, e.g0, 0);
        agree("logreg value", logreg_etgrad_value(ld), e.v, 1e-12);
        SumData sd(n), sh(n);
        agree("sum", sum_etgrad(sd), sum_hand_simd(sh), 1e-10);
        agree("sum value", sum_etgrad_value(sd), sum_hand_simdvalue(sh), 1e-10);
        agree_all("sum grad", sd.g, sh.g, 0);
        agree("normal par2 dsigma", normal_etgrad_par2(nd).g1, ne.g1, 0);
        BsData b3(n);
        bs_etgrad_par2(b3);
        agree_all("bs par2 vega", b3.vega, b1.vega, 0);
        LseData l3(n);
        agree("lse par2", lse_etgrad_par2(l3), lse_etgrad(l1), 0);
        agree_all("lse par2 grad", l3.g, l1.g, 0);
        ProdData p3(n);
        agree("prod par2", prod_etgrad_par2(p3), prod_etgrad(p1), 0);
        agree_all("prod par2 grad", p3.g, p1.g, 0);
    }
}
}  // namespace

int main(int argc, char** argv) {
    check_agreement();
    if (failures != 0) {
        return 1;
    }
    benchmark::AddCustomContext("simd", eg::simd_arch_name());
#ifdef ETGRAD_BENCH_FLAGS
    benchmark::AddCustomContext("flags", ETGRAD_BENCH_FLAGS);
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
