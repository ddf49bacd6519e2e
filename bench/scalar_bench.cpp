// Scalar benchmarks: etgrad's value_and_grad against the value-and-derivative code a careful
// engineer writes by hand (no AD, intermediate results reused), one pair per problem, named
// BM_<problem>_hand and BM_<problem>_etgrad. Run through bench/run_benchmarks.py, which is the only
// thing that writes figures into bench/RESULTS.md.
//
// Fairness rules followed by every pair:
//  - both take the same input struct and return the same Out<N> (value and the same derivatives),
//    and main() checks once that they agree to 1e-12 relative on every input set before timing;
//  - inputs come from a small table filled at run time and rotated every iteration, and each
//    result goes through benchmark::DoNotOptimize (whose memory clobber also forces the next
//    input to be reloaded), so nothing can be constant-folded or hoisted out of the loop.
#include <benchmark/benchmark.h>
#include <etgrad/etgrad.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace eg = etgrad;

#define ETGRAD_BENCH_INLINE __attribute__((always_inline)) inline

namespace {

// Value and N derivatives: what both halves of a pair return.
template <std::size_t N>
struct Out {
    double value;
    std::array<double, N> grad;
};

constexpr std::size_t kSets = 16;  // input sets per problem, a power of two (rotation by mask)

// splitmix64: deterministic inputs on every platform (std:: distributions are not).
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

template <class In, class F>
void run(benchmark::State& state, const std::array<In, kSets>& inputs, F f) {
    std::size_t i = 0;
    for (auto _ : state) {
        auto r = f(inputs[i]);
        benchmark::DoNotOptimize(r);
        i = (i + 1) & (kSets - 1);
    }
}

// ------------------------------------------------------------------------------------------------
// 1. Logistic-regression loss of one sample, gradient w.r.t. the parameters w and b only.
//    p = sigmoid(w*x + b),  L = -(t*log(p) + (1-t)*log(1-p)),  dL/dw = (p-t)*x,  dL/db = p-t.
namespace logreg {

struct In {
    double w, b, x, t;
};

std::array<In, kSets> inputs;

// |w*x + b| <= 2.5: p stays in [0.076, 0.924], where the textbook formula is accurate and the
// two halves agree to ~1e-15 whatever stable form either one uses. Labels t are 0 or 1.
In draw(Rng& rng) {
    return {rng.uniform(-1.0, 1.0), rng.uniform(-0.5, 0.5), rng.uniform(-2.0, 2.0),
            rng.uniform(0.0, 1.0) < 0.5 ? 0.0 : 1.0};
}

// By hand: with a = exp(-|z|), -log p = softplus(-z) = max(-z, 0) + log1p(a) and
// -log(1-p) = -log p + z, so L = softplus(-z) + (1-t)*z: one exp, one log1p, one division,
// stable for every z; the derivative is the classic dL/dz = p - t.
ETGRAD_BENCH_INLINE Out<2> by_hand(const In& in) {
    const double z = in.w * in.x + in.b;
    const double a = std::exp(-std::abs(z));
    const double r = 1.0 / (1.0 + a);
    const double p = z >= 0.0 ? r : a * r;
    const double nlogp = (z >= 0.0 ? 0.0 : -z) + std::log1p(a);
    const double L = nlogp + (1.0 - in.t) * z;
    const double dz = p - in.t;
    return {L, {dz * in.x, dz}};
}

// By hand, the chain rule applied to the same textbook formula (no identity across operations):
// what AD itself can do, so the ratio against it measures etgrad's overhead alone.
ETGRAD_BENCH_INLINE Out<2> by_hand_chain(const In& in) {
    const double z = in.w * in.x + in.b;
    const double p = 1.0 / (1.0 + std::exp(-z));
    const double q = 1.0 - p;
    const double L = -(in.t * std::log(p) + (1.0 - in.t) * std::log(q));
    const double dLdp = -(in.t / p - (1.0 - in.t) / q);
    const double dz = dLdp * (p * q);
    return {L, {dz * in.x, dz}};
}

constexpr auto w = eg::var<"w">;
constexpr auto b = eg::var<"b">;
constexpr auto x = eg::var<"x">;
constexpr auto t = eg::var<"t">;
constexpr auto p = eg::sigmoid(w * x + b);
// The textbook spelling; etgrad builds it as the fused stable bce_with_logits(w * x + b, t), whose
// gradient is p - t with one exp shared by value and gradient (README "Numerically stable forms").
constexpr auto loss = -(t * eg::log(p) + (eg::c<1> - t) * eg::log(eg::c<1> - p));
static_assert(eg::to_string(loss) == "bce_with_logits(w * x + b, t)");

ETGRAD_BENCH_INLINE Out<2> by_etgrad(const In& in) {
    const auto [L, g] = eg::value_and_grad(loss, eg::wrt(w, b), w = in.w, b = in.b, x = in.x,
                                           t = in.t);
    return {L, {g[w], g[b]}};
}

}  // namespace logreg

// ------------------------------------------------------------------------------------------------
// 2. Rosenbrock in 2 variables: f = 100*(y - x^2)^2 + (1 - x)^2, full gradient.
namespace rosen2 {

struct In {
    double x, y;
};

std::array<In, kSets> inputs;

In draw(Rng& rng) { return {rng.uniform(-2.0, 2.0), rng.uniform(-1.0, 3.0)}; }

ETGRAD_BENCH_INLINE Out<2> by_hand(const In& in) {
    const double d = in.y - in.x * in.x;
    const double e = 1.0 - in.x;
    const double f = 100.0 * d * d + e * e;
    return {f, {-400.0 * in.x * d - 2.0 * e, 200.0 * d}};
}

constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto f = eg::c<100> * eg::square(y - eg::square(x)) + eg::square(eg::c<1> - x);

ETGRAD_BENCH_INLINE Out<2> by_etgrad(const In& in) {
    const auto [v, g] = eg::value_and_grad(f, x = in.x, y = in.y);
    return {v, {g[x], g[y]}};
}

}  // namespace rosen2

// ------------------------------------------------------------------------------------------------
// 3. Rosenbrock in 10 variables: f = sum_{i=0..8} 100*(x_{i+1} - x_i^2)^2 + (1 - x_i)^2,
//    full gradient (10 components).
namespace rosen10 {

constexpr std::size_t n = 10;
using In = std::array<double, n>;

std::array<In, kSets> inputs;

In draw(Rng& rng) {
    In in;
    for (auto& v : in) v = rng.uniform(-2.0, 2.0);
    return in;
}

ETGRAD_BENCH_INLINE Out<n> by_hand(const In& x) {
    Out<n> r{0.0, {}};
    for (std::size_t i = 0; i + 1 < n; ++i) {
        const double d = x[i + 1] - x[i] * x[i];
        const double e = 1.0 - x[i];
        r.value += 100.0 * d * d + e * e;
        r.grad[i] += -400.0 * x[i] * d - 2.0 * e;
        r.grad[i + 1] += 200.0 * d;
    }
    return r;
}

constexpr auto x0 = eg::var<"x0">;
constexpr auto x1 = eg::var<"x1">;
constexpr auto x2 = eg::var<"x2">;
constexpr auto x3 = eg::var<"x3">;
constexpr auto x4 = eg::var<"x4">;
constexpr auto x5 = eg::var<"x5">;
constexpr auto x6 = eg::var<"x6">;
constexpr auto x7 = eg::var<"x7">;
constexpr auto x8 = eg::var<"x8">;
constexpr auto x9 = eg::var<"x9">;

constexpr auto term(auto a, auto b) {
    return eg::c<100> * eg::square(b - eg::square(a)) + eg::square(eg::c<1> - a);
}

constexpr auto f = term(x0, x1) + term(x1, x2) + term(x2, x3) + term(x3, x4) + term(x4, x5) +
                   term(x5, x6) + term(x6, x7) + term(x7, x8) + term(x8, x9);

ETGRAD_BENCH_INLINE Out<n> by_etgrad(const In& in) {
    const auto [v, g] =
        eg::value_and_grad(f, x0 = in[0], x1 = in[1], x2 = in[2], x3 = in[3], x4 = in[4],
                           x5 = in[5], x6 = in[6], x7 = in[7], x8 = in[8], x9 = in[9]);
    return {v, {g[x0], g[x1], g[x2], g[x3], g[x4], g[x5], g[x6], g[x7], g[x8], g[x9]}};
}

}  // namespace rosen10

// ------------------------------------------------------------------------------------------------
// 4. A 30-node expression graph with shared subexpressions, full gradient w.r.t. x, y, z.
//    Distinct nodes (3 variables + 27 operations, no constants):
//     1 x   2 y   3 z
//     4 a   = x*y            5 u   = a + z           6 s   = sin(u)        7 nu = -u
//     8 en  = exp(nu)        9 v   = s*en           10 uv  = u*v          11 vu = v/u
//    12 w   = uv + vu       13 cw  = cos(w)         14 ww  = w*w          15 t1 = cw*v
//    16 lx  = log1p(ww)     17 r   = t1 + lx        18 yz  = y*z          19 q  = r*yz
//    20 th  = tanh(q)       21 m   = th*u           22 mv  = m + v        23 yz2 = yz*yz
//    24 h   = ww + yz2      25 sh  = sqrt(h)        26 k   = mv*sh        27 kr = k*r
//    28 at  = atan(kr)      29 fs  = at + mv        30 f   = fs*w
//    Shared: u has 5 parents, v 4 (uv, vu, t1, mv), w 3 (cw, ww, f), and ww, yz, r, mv 2 each;
//    written out as a tree, f would have 616 nodes.
namespace shared30 {

struct In {
    double x, y, z;
};

std::array<In, kSets> inputs;

In draw(Rng& rng) {
    // u = x*y + z in [0.45, 2.75]: u > 0 (v/u), sin(u) > 0, so v, w > 0.
    return {rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5), rng.uniform(0.2, 0.5)};
}

// By hand: one forward sweep, then the adjoints in reverse order (what a careful engineer writes
// for a function of this size), reusing every value the forward sweep computed.
ETGRAD_BENCH_INLINE Out<3> by_hand(const In& in) {
    const double x = in.x, y = in.y, z = in.z;
    // forward
    const double a = x * y;
    const double u = a + z;
    const double su = std::sin(u);
    const double cu = std::cos(u);
    const double en = std::exp(-u);
    const double v = su * en;
    const double inv_u = 1.0 / u;
    const double uv = u * v;
    const double vu = v * inv_u;
    const double w = uv + vu;
    const double sw = std::sin(w);
    const double cw = std::cos(w);
    const double ww = w * w;
    const double t1 = cw * v;
    const double lx = std::log1p(ww);
    const double r = t1 + lx;
    const double yz = y * z;
    const double q = r * yz;
    const double th = std::tanh(q);
    const double m = th * u;
    const double mv = m + v;
    const double yz2 = yz * yz;
    const double h = ww + yz2;
    const double sh = std::sqrt(h);
    const double k = mv * sh;
    const double kr = k * r;
    const double at = std::atan(kr);
    const double fs = at + mv;
    const double f = fs * w;
    // backward (f_bar = 1)
    const double fs_b = w;
    double w_b = fs;
    const double kr_b = fs_b / (1.0 + kr * kr);
    const double k_b = kr_b * r;
    double r_b = kr_b * k;
    double mv_b = fs_b + k_b * sh;
    const double h_b = k_b * mv * 0.5 / sh;
    double ww_b = h_b;
    double yz_b = h_b * 2.0 * yz;
    const double th_b = mv_b * u;
    double u_b = mv_b * th;
    double v_b = mv_b;
    const double q_b = th_b * (1.0 - th * th);
    r_b += q_b * yz;
    yz_b += q_b * r;
    double y_b = yz_b * z;
    double z_b = yz_b * y;
    ww_b += r_b / (1.0 + ww);
    v_b += r_b * cw;
    w_b += ww_b * 2.0 * w - r_b * v * sw;
    v_b += w_b * (u + inv_u);
    u_b += w_b * (v - vu * inv_u);
    const double en_b = v_b * su;
    u_b += v_b * en * cu - en_b * en;
    z_b += u_b;
    y_b += u_b * x;
    return {f, {u_b * y, y_b, z_b}};
}

constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto z = eg::var<"z">;
constexpr auto u = x * y + z;
constexpr auto v = eg::sin(u) * eg::exp(-u);
constexpr auto w = u * v + v / u;
constexpr auto ww = w * w;
constexpr auto r = eg::cos(w) * v + eg::log1p(ww);
constexpr auto yz = y * z;
constexpr auto mv = eg::tanh(r * yz) * u + v;
constexpr auto k = mv * eg::sqrt(ww + yz * yz);
constexpr auto f = (eg::atan(k * r) + mv) * w;

ETGRAD_BENCH_INLINE Out<3> by_etgrad(const In& in) {
    const auto [val, g] = eg::value_and_grad(f, x = in.x, y = in.y, z = in.z);
    return {val, {g[x], g[y], g[z]}};
}

}  // namespace shared30

// ------------------------------------------------------------------------------------------------
// 5. Black–Scholes call price C(S, K, T, r, sigma) with N(d) = 0.5*(1 + erf(d/sqrt(2))),
//    and its greeks: delta = dC/dS, vega = dC/dsigma, rho = dC/dr, theta = -dC/dT.
namespace black_scholes {

struct In {
    double S, K, T, r, sigma;
};

std::array<In, kSets> inputs;

In draw(Rng& rng) {
    return {rng.uniform(80.0, 120.0), 100.0, rng.uniform(0.25, 2.0), rng.uniform(0.01, 0.05),
              rng.uniform(0.15, 0.4)};
}

constexpr double inv_sqrt2 = 0.70710678118654752440;      // 1/sqrt(2)
constexpr double inv_sqrt2pi = 0.39894228040143267794;    // 1/sqrt(2*pi)

// By hand: the closed-form greeks, sharing sqrt(T), sigma*sqrt(T), N(d1), N(d2), the density
// at d1 and the discounted strike.
ETGRAD_BENCH_INLINE Out<4> by_hand(const In& in) {
    const double sqT = std::sqrt(in.T);
    const double sst = in.sigma * sqT;
    const double d1 = (std::log(in.S / in.K) + (in.r + 0.5 * in.sigma * in.sigma) * in.T) / sst;
    const double d2 = d1 - sst;
    const double N1 = 0.5 * (1.0 + std::erf(d1 * inv_sqrt2));
    const double N2 = 0.5 * (1.0 + std::erf(d2 * inv_sqrt2));
    const double Kd = in.K * std::exp(-in.r * in.T);
    const double KdN2 = Kd * N2;
    const double C = in.S * N1 - KdN2;
    const double Spdf1 = in.S * inv_sqrt2pi * std::exp(-0.5 * d1 * d1);
    const double delta = N1;
    const double vega = Spdf1 * sqT;
    const double rho = in.T * KdN2;
    const double theta = -0.5 * Spdf1 * in.sigma / sqT - in.r * KdN2;
    return {C, {delta, vega, rho, theta}};
}

// By hand, the chain rule through d1 and d2 on the same formula, without the identity
// S n(d1) = K e^{-rT} n(d2) that the closed form uses: what AD itself can do.
ETGRAD_BENCH_INLINE Out<4> by_hand_chain(const In& in) {
    const double sqT = std::sqrt(in.T);
    const double sst = in.sigma * sqT;
    const double a = in.r + 0.5 * in.sigma * in.sigma;
    const double d1 = (std::log(in.S / in.K) + a * in.T) / sst;
    const double d2 = d1 - sst;
    const double N1 = 0.5 * (1.0 + std::erf(d1 * inv_sqrt2));
    const double N2 = 0.5 * (1.0 + std::erf(d2 * inv_sqrt2));
    const double n1 = inv_sqrt2pi * std::exp(-0.5 * d1 * d1);
    const double n2 = inv_sqrt2pi * std::exp(-0.5 * d2 * d2);
    const double Kd = in.K * std::exp(-in.r * in.T);
    const double C = in.S * N1 - Kd * N2;
    const double g1 = in.S * n1;   // dC/dd1
    const double g2 = -Kd * n2;    // dC/dd2
    const double g12 = g1 + g2;    // d1 and d2 move together in S, r and (partly) sigma, T
    const double delta = N1 + g12 / (in.S * sst);
    const double dd1_dsigma = (in.sigma * in.T - d1 * sqT) / sst;
    const double vega = g12 * dd1_dsigma - g2 * sqT;
    const double rho = in.T * Kd * N2 + g12 * in.T / sst;
    const double hs = in.sigma / (2.0 * sqT);
    const double dd1_dT = (a - d1 * hs) / sst;
    const double theta = -(g12 * dd1_dT - g2 * hs + in.r * Kd * N2);
    return {C, {delta, vega, rho, theta}};
}

constexpr auto S = eg::var<"S">;
constexpr auto K = eg::var<"K">;
constexpr auto T = eg::var<"T">;
constexpr auto r = eg::var<"r">;
constexpr auto sigma = eg::var<"sigma">;
constexpr auto sst = sigma * eg::sqrt(T);
constexpr auto d1 = (eg::log(S / K) + (r + eg::c<1, 2> * eg::square(sigma)) * T) / sst;
constexpr auto d2 = d1 - sst;
constexpr auto N(auto d) { return eg::c<1, 2> * (eg::c<1> + eg::erf(inv_sqrt2 * d)); }
constexpr auto C = S * N(d1) - K * eg::exp(-(r * T)) * N(d2);

ETGRAD_BENCH_INLINE Out<4> by_etgrad(const In& in) {
    const auto [val, g] = eg::value_and_grad(C, eg::wrt(S, sigma, r, T), S = in.S, K = in.K,
                                             T = in.T, r = in.r, sigma = in.sigma);
    return {val, {g[S], g[sigma], g[r], -g[T]}};
}

}  // namespace black_scholes

// ------------------------------------------------------------------------------------------------
// Benchmarks, one pair per problem.

#define ETGRAD_BENCH_PAIR(problem)                                                          \
    void BM_##problem##_hand(benchmark::State& state) {                                     \
        run(state, problem::inputs, [](const auto& in) { return problem::by_hand(in); });   \
    }                                                                                       \
    void BM_##problem##_etgrad(benchmark::State& state) {                                   \
        run(state, problem::inputs, [](const auto& in) { return problem::by_etgrad(in); }); \
    }                                                                                       \
    BENCHMARK(BM_##problem##_hand);                                                         \
    BENCHMARK(BM_##problem##_etgrad)

ETGRAD_BENCH_PAIR(logreg);
void BM_logreg_hand_chain(benchmark::State& state) {
    run(state, logreg::inputs, [](const auto& in) { return logreg::by_hand_chain(in); });
}
BENCHMARK(BM_logreg_hand_chain);
ETGRAD_BENCH_PAIR(rosen2);
ETGRAD_BENCH_PAIR(rosen10);
ETGRAD_BENCH_PAIR(shared30);
ETGRAD_BENCH_PAIR(black_scholes);
void BM_black_scholes_hand_chain(benchmark::State& state) {
    run(state, black_scholes::inputs, [](const auto& in) { return black_scholes::by_hand_chain(in); });
}
BENCHMARK(BM_black_scholes_hand_chain);

// ------------------------------------------------------------------------------------------------
// Startup check: every pair computes the same value and derivatives, to 1e-12 relative.

constexpr double kTol = 1e-12;

// Inputs are drawn until each set is well conditioned: no derivative that is a near-cancellation
// (below 1e-3 of the largest one), since no two evaluation orders, with or without FMA
// contraction, agree on such a component to 1e-12 relative.
template <class In, class Hand>
void fill(std::array<In, kSets>& inputs, std::uint64_t seed, In (*draw)(Rng&), Hand hand_fn) {
    Rng rng{seed};
    for (auto& in : inputs) {
        for (;;) {
            in = draw(rng);
            const auto h = hand_fn(in);
            double lo = std::fabs(h.value), hi = lo;
            for (double g : h.grad) {
                lo = std::fmin(lo, std::fabs(g));
                hi = std::fmax(hi, std::fabs(g));
            }
            if (lo >= 1e-3 * hi) break;
        }
    }
}

bool close(double a, double b) {
    const double scale = std::fmax(std::fabs(a), std::fabs(b));
    return std::fabs(a - b) <= kTol * scale;  // also false for NaN
}

template <class In, class Hand, class Etgrad>
void check(const char* problem, const std::array<In, kSets>& inputs, Hand hand_fn,
           Etgrad etgrad_fn) {
    for (std::size_t i = 0; i < kSets; ++i) {
        const auto h = hand_fn(inputs[i]);
        const auto e = etgrad_fn(inputs[i]);
        bool ok = close(h.value, e.value);
        for (std::size_t j = 0; j < h.grad.size(); ++j) ok = ok && close(h.grad[j], e.grad[j]);
        if (ok) continue;
        std::fprintf(stderr,
                     "etgrad_bench_scalar: %s: etgrad and the hand-written code disagree "
                     "(tolerance %g relative) on input set %zu:\n"
                     "  value   hand % .17g  etgrad % .17g\n",
                     problem, kTol, i, h.value, e.value);
        for (std::size_t j = 0; j < h.grad.size(); ++j)
            std::fprintf(stderr, "  grad[%zu] hand % .17g  etgrad % .17g%s\n", j, h.grad[j],
                         e.grad[j], close(h.grad[j], e.grad[j]) ? "" : "  <-- differs");
        std::abort();
    }
}

#define ETGRAD_BENCH_CHECK(problem, seed)                                                   \
    do {                                                                                    \
        const auto hand_fn = [](const auto& in) { return problem::by_hand(in); };           \
        fill(problem::inputs, seed, problem::draw, hand_fn);                                \
        check(#problem, problem::inputs, hand_fn,                                           \
              [](const auto& in) { return problem::by_etgrad(in); });                       \
    } while (false)

// Fills every input table, then checks every pair.
void fill_and_check_all() {
    ETGRAD_BENCH_CHECK(logreg, 1);
    ETGRAD_BENCH_CHECK(rosen2, 2);
    ETGRAD_BENCH_CHECK(rosen10, 3);
    ETGRAD_BENCH_CHECK(shared30, 4);
    ETGRAD_BENCH_CHECK(black_scholes, 5);
    check("logreg (chain rule by hand)", logreg::inputs, [](const auto& in) { return logreg::by_hand_chain(in); },
          [](const auto& in) { return logreg::by_etgrad(in); });
    check("black_scholes (chain rule by hand)", black_scholes::inputs,
          [](const auto& in) { return black_scholes::by_hand_chain(in); },
          [](const auto& in) { return black_scholes::by_etgrad(in); });
}

std::string compiler_name() {
#if defined(__clang__)
    return "Clang " __clang_version__;
#elif defined(__GNUC__)
    return "GCC " __VERSION__;
#else
    return "unknown compiler";
#endif
}

}  // namespace

int main(int argc, char** argv) {
    fill_and_check_all();
    // Recorded in the JSON context, where run_benchmarks.py reads them for RESULTS.md.
    benchmark::AddCustomContext("etgrad_compiler", compiler_name());
#ifdef ETGRAD_BENCH_FLAGS
    benchmark::AddCustomContext("etgrad_flags", ETGRAD_BENCH_FLAGS);
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
