// etgrad/data.hpp — fused SIMD loops over data.
//
// A variable bound to a contiguous range is per-sample data; a variable bound to a number is a
// parameter, broadcast to every sample. The graph splits at the reductions (sum, mean, prod,
// logsumexp):
//   - "data" nodes depend on data without a reduction in between; they run per sample, in a loop
//     over xsimd batches (the same forward and backward step code as the scalar sweeps, with
//     Number = xsimd::batch), with a scalar loop for the last samples;
//   - every other node is scalar ("phase" nodes: parameters, constants, reductions and what is
//     computed from them) and runs once per call, in double.
// Reductions nest (mean((x - mean(x))^2)): a reduction's stage is 1 + the stage of what its
// operand reads, and each stage is one pass over the data forward and one backward. When every
// last-stage reduction is a sum or a mean and the scalar path from the root down to them needs no
// value of that stage (the root is linear in them, like mean(bce) + 0.01 * w * w), the last
// stage's forward and backward passes are one fused pass: 2S - 1 passes for S stages, else 2S.
// `eg::data_passes(...)` says how many a call makes.
//
// Accumulation: reductions and parameter adjoints accumulate per lane in registers over blocks of
// `block_size` samples; each block's lanes are then added, in order, into double totals (so float
// data keeps double accuracy over long ranges, and results do not depend on threading).
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "detail/thread_pool.hpp"
#include "simd.hpp"
#include "transforms.hpp"

namespace etgrad {

/// Samples per accumulation block (a multiple of every batch width).
inline constexpr std::size_t block_size = 2048;


namespace detail {

/// A data call's bindings: etgrad's tuple (std::tuple's recursive layout hits the template depth
/// at 900 bindings) as a class template of its own, so that functions can deduce B... from it
/// (Clang 14 deduces nothing through the alias tup<B...>).
template <class... B>
struct btup : tup<B...> {
    constexpr explicit btup(const B&... b) : tup<B...>(b...) {}
};

template <class... B>
constexpr void check_bindings_list() {
    static_assert(all_true({is_binding_v<B>...}),
                  "etgrad: after the expression (and an optional eg::wrt(...)), pass bindings `x = value`");
    if constexpr (all_true({is_binding_v<B>...})) {
        check_each_bound_once<B...>();
    }
}

// ---------------------------------------------------------------------------------------------
// Per-node facts for the data plan.
template <class N>
struct red_kind_c : std::integral_constant<int, 0> {};
template <class Op, class B>
    requires Reduction<Op>
struct red_kind_c<basic_node<Op, B>> : std::integral_constant<int, Op::reduction> {};
enum red_kind : int { red_none = 0, red_sum = 1, red_mean = 2, red_prod = 3, red_lse = 4 };

template <class N>
struct node_uses {
    static constexpr std::array<unsigned, max_arity> v{};
};
template <class Op, class... Bs>
struct node_uses<basic_node<Op, Bs...>> {
    static constexpr std::array<unsigned, max_arity> v{partial_uses<Op>(0), partial_uses<Op>(1),
                                                       partial_uses<Op>(2)};
};

template <class B>
struct data_elem {
    using type = void;
};
template <auto N, class T, bool G>
struct data_elem<binding<N, data_ref<T, G>>> {
    using type = T;
};
/// The element type of the data bound in one call (void when none). Flat, not one level per
/// binding, so that a call with a thousand bindings stays within the compilers' depth limits.
template <class... B>
struct data_elem_of {
    static constexpr bool has_f = any_true({std::is_same_v<typename data_elem<B>::type, float>...});
    static constexpr bool has_d = any_true({std::is_same_v<typename data_elem<B>::type, double>...});
    static_assert(!(has_f && has_d),
                  "etgrad: all data bound in one call must have the same element type (float or double)");
    using type = std::conditional_t<has_d, double, std::conditional_t<has_f, float, void>>;
};

template <class B>
struct is_grad_binding_c : std::false_type {};
template <auto N, class T>
struct is_grad_binding_c<binding<N, data_ref<T, true>>> : std::true_type {};
template <class B>
struct variable_of {
    using type = void;
};
template <auto N, class V>
struct variable_of<binding<N, V>> {
    using type = typename binding<N, V>::variable;
};
/// The variables of the bindings B for which Pred holds, in order (a flat filter).
template <template <class> class Pred, class... B>
struct bound_vars_where {
    struct keep_at {
        static constexpr bool keep(std::size_t i) {
            constexpr bool v[] = {Pred<B>::value..., false};
            return v[i];
        }
    };
    using type = typename select_list<tlist<typename variable_of<B>::type...>, keep_at>::type;
};
template <class B>
using is_data_binding_c = std::bool_constant<is_data_binding_v<B>>;
/// The variables bound to data, and those of them given a gradient output (grad_into).
template <class... B>
using data_vars_t = typename bound_vars_where<is_data_binding_c, B...>::type;
template <class... B>
using grad_vars_t = typename bound_vars_where<is_grad_binding_c, B...>::type;

// ---------------------------------------------------------------------------------------------
// The plan: which nodes are per-sample, their stages, each pass's nodes and adjoint masks.
template <class L, class W, class DV, std::size_t Root>
struct data_plan;
template <class... Ns, class W, class DV, std::size_t Root>
struct data_plan<tlist<Ns...>, W, DV, Root> {
    using list = tlist<Ns...>;
    using G = graph<list>;
    static constexpr std::size_t n = sizeof...(Ns);
    static constexpr std::size_t root = Root;
    static constexpr std::array<int, n> red{red_kind_c<Ns>::value...};
    static constexpr std::array<bool, n> dvar{contains_c<DV, Ns>::value...};
    static constexpr std::array<std::array<unsigned, max_arity>, n> uses{node_uses<Ns>::v...};

    struct cls_t {
        std::array<bool, n> data{};
        std::array<int, n> st{};
        int S = 0;
    };
    static constexpr cls_t cls = [] {
        cls_t c{};
        for (std::size_t i = 0; i < n; ++i) {
            const node_info& f = G::info[i];
            if (red[i] != red_none) {
                c.st[i] = 1 + c.st[f.child[0]];
                c.S = c.S > c.st[i] ? c.S : c.st[i];
                continue;
            }
            c.data[i] = dvar[i];
            for (std::size_t s = 0; s < f.arity; ++s) {
                c.data[i] = c.data[i] || c.data[f.child[s]];
                c.st[i] = c.st[i] > c.st[f.child[s]] ? c.st[i] : c.st[f.child[s]];
            }
        }
        return c;
    }();
    static constexpr int S = cls.S;
    /// No reduction above the root: one value per sample.
    static constexpr bool elementwise = cls.data[Root];
    /// Forward passes (an elementwise root adds the output pass).
    static constexpr int npass = elementwise ? S + 1 : S;

    static constexpr auto active = activity<G, W>::active;
    static constexpr auto first = first_contribution<G>(active, std::array<std::size_t, 1>{Root});
    static constexpr bool reached(std::size_t i) { return first[i] != none; }

    struct pass_t {
        std::array<bool, n> member{};  // data nodes computed in the pass
        std::array<bool, n> redk{};    // the pass's reductions
        std::array<bool, n> ext{};     // scalar nodes it reads (broadcast once)
        std::array<unsigned, n> contrib{};
        std::array<unsigned, n> assign{};
        std::array<bool, n> got{};     // nodes that receive an adjoint in the pass
        bool any_bwd = false;
    };
    static constexpr std::array<pass_t, npass + 1> pass = [] {
        std::array<pass_t, npass + 1> ps{};
        for (int k = 1; k <= npass; ++k) {
            pass_t& p = ps[k];
            for (std::size_t i = 0; i < n; ++i) {
                if (red[i] != red_none && cls.st[i] == k) {
                    p.redk[i] = true;
                    std::size_t c = G::info[i].child[0];
                    (cls.data[c] ? p.member[c] : p.ext[c]) = true;
                }
            }
            if (k == S + 1) {
                p.member[Root] = true;
            }
            for (std::size_t i = n; i-- > 0;) {
                if (!p.member[i]) {
                    continue;
                }
                const node_info& f = G::info[i];
                for (std::size_t s = 0; s < f.arity; ++s) {
                    std::size_t c = f.child[s];
                    (cls.data[c] ? p.member[c] : p.ext[c]) = true;
                }
            }
            // Adjoints: reverse topological order over the pass's reductions and data nodes.
            std::array<bool, n> seen{};
            for (std::size_t i = n; i-- > 0;) {
                if (!(p.member[i] || p.redk[i]) || !active[i] || !reached(i) || G::info[i].is_condition) {
                    continue;
                }
                const node_info& f = G::info[i];
                for (std::size_t s = 0; s < f.arity; ++s) {
                    std::size_t c = f.child[s];
                    if (!f.diff[s] || !active[c]) {
                        continue;
                    }
                    p.contrib[i] |= 1u << s;
                    p.got[c] = true;
                    p.any_bwd = true;
                    if (cls.data[c] && !seen[c]) {
                        p.assign[i] |= 1u << s;
                        seen[c] = true;
                    }
                }
            }
        }
        return ps;
    }();

    /// Scalar nodes: those of phase k run after the reductions of stage k.
    static constexpr bool in_phase(std::size_t i, int k) {
        return !cls.data[i] && red[i] == red_none && cls.st[i] == k;
    }
    static constexpr std::array<unsigned, n> phase_contrib = [] {
        std::array<unsigned, n> r{};
        for (std::size_t i = 0; i < n; ++i) {
            const node_info& f = G::info[i];
            if (cls.data[i] || red[i] != red_none || !active[i] || !reached(i) || f.is_condition) {
                continue;
            }
            for (std::size_t s = 0; s < f.arity; ++s) {
                if (f.diff[s] && active[f.child[s]]) {
                    r[i] |= 1u << s;
                }
            }
        }
        return r;
    }();
    /// The backward pass (stage k) that writes a data variable's gradient first; later ones add.
    static constexpr std::array<int, n> first_writer = [] {
        std::array<int, n> r{};
        for (std::size_t i = 0; i < n; ++i) {
            for (int k = npass; k >= 1; --k) {
                if (pass[k].got[i]) {
                    r[i] = k;
                    break;
                }
            }
        }
        return r;
    }();
    /// Fuse the last stage's forward and backward passes: its reductions are sums or means, and
    /// the scalar nodes of the last phase need no value of that phase for their partials.
    static constexpr bool fused = [] {
        if (elementwise || S == 0) {
            return false;
        }
        for (std::size_t i = 0; i < n; ++i) {
            if (red[i] != red_none && cls.st[i] == S && red[i] != red_sum && red[i] != red_mean) {
                return false;
            }
            if (!in_phase(i, S) || phase_contrib[i] == 0) {
                continue;
            }
            const node_info& f = G::info[i];
            for (std::size_t s = 0; s < f.arity; ++s) {
                if (((phase_contrib[i] >> s) & 1u) == 0) {
                    continue;
                }
                unsigned u = uses[i][s];
                if ((u >> 31) & 1u) {
                    return false;  // reads the node's own value
                }
                for (std::size_t c = 0; c < f.arity; ++c) {
                    if (((u >> c) & 1u) && cls.st[f.child[c]] == S) {
                        return false;
                    }
                }
            }
        }
        return true;
    }();
    /// Passes over the data that value_and_grad makes (reduced roots).
    static constexpr int grad_passes = elementwise ? 1 : 2 * S - (fused ? 1 : 0);
    static constexpr bool has_kind(int kind) {
        for (int r : red) {
            if (r == kind) {
                return true;
            }
        }
        return false;
    }

    // Step lists.
    template <int K>
    struct phase_pred {
        static constexpr bool keep(std::size_t i) { return in_phase(i, K); }
    };
    template <int K>
    struct phase_rpred {
        static constexpr bool keep(std::size_t j) { return in_phase(n - 1 - j, K); }
    };
    template <int K>
    struct pass_pred {
        static constexpr bool keep(std::size_t i) { return pass[K].member[i]; }
    };
    template <int K>
    struct pass_rpred {
        static constexpr bool keep(std::size_t j) {
            std::size_t i = n - 1 - j;
            return (pass[K].member[i] || pass[K].redk[i]) && pass[K].contrib[i] != 0;
        }
    };
    template <int K>
    using phase_steps = typename select_list<typename G::steps, phase_pred<K>>::type;
    template <int K>
    using phase_rsteps = typename select_list<typename G::rsteps, phase_rpred<K>>::type;
    template <int K>
    using pass_steps = typename select_list<typename G::steps, pass_pred<K>>::type;
    template <int K>
    using pass_rsteps = typename select_list<typename G::rsteps, pass_rpred<K>>::type;
};

// ---------------------------------------------------------------------------------------------
// Contexts: how a sweep reads variables. V is the number type (double in the scalar phases, T or
// a batch of T in the loops).
template <class V, class T, class... B>
struct data_ctx {
    const btup<B...>* bs;
    const double* consts;
    std::size_t i;

    template <class Var>
    ETGRAD_INLINE V get() const {
        constexpr std::size_t k = binding_index<Var, B...>();
        if constexpr (k == none) {
            (void)missing_binding<Var>{};
            return V{};
        } else if constexpr (k == seeded) {
            (void)bound_twice<Var>{};
            return V{};
        } else {
            const auto& v = tget<k>(*bs).value;
            if constexpr (is_data_ref_v<rm<decltype(v)>>) {
                if constexpr (is_simd_batch<V>::value) {
                    return V::load_unaligned(v.ptr + i);
                } else {
                    return static_cast<V>(v.ptr[i]);
                }
            } else if constexpr (is_simd_batch<V>::value) {
                return V(static_cast<T>(v));
            } else {
                return static_cast<V>(static_cast<T>(v));
            }
        }
    }
};

template <class V, class S>
ETGRAD_INLINE V to_num(S s) {
    using E = typename scalar_of<V>::type;
    if constexpr (is_simd_batch<V>::value) {
        return V(static_cast<E>(s));
    } else {
        return static_cast<V>(s);
    }
}

/// NaN lanes (xsimd 8.1's `!=` on AVX-512 is an ordered compare, false for NaN: use isnan).
template <class V>
ETGRAD_INLINE auto nan_mask(const V& a) {
    if constexpr (is_simd_batch<V>::value) {
        return xsimd::isnan(a);
    } else {
        return a != a;
    }
}

/// exp of logsumexp's terms (arguments at most about 0), NaN kept: xsimd's exp takes -inf, +inf
/// and NaN through an integer conversion (undefined behaviour, UBSan's float-cast-overflow), so a
/// batch goes to xsimd's exp only when every lane is in [-708, 0] (-87 in float: no denormal
/// result), one compare; any other batch (NaN, -inf, a term below exp's normal range) is <cmath>'s,
/// lane by lane.
template <class V>
ETGRAD_INLINE V exp_nonpos(const V& a) {
    if constexpr (is_simd_batch<V>::value) {
        if (xsimd::all(a >= V(-num::batch_math<V>::exp_hi))) [[likely]] {  // NaN: false
            return xsimd::exp(a);
        }
        return num::exp(a);  // (lane by lane)
    } else {
        return num::exp(a);  // <cmath>: defined everywhere
    }
}

/// exp of -|v - m| in logsumexp's accumulation (at most 0, or NaN): NaN lanes are made NaN by the
/// lane's max. Below exp's normal range (-708 in double, -87 in float, and -inf: a lane's first
/// sample) the term is 0: it multiplies or adds to a lane's sum that holds exp(0) = 1, where a
/// denormal is below an ulp. xsimd's exp then sees only its own domain (no lane-by-lane path).
template <class V>
ETGRAD_INLINE V exp_neg(const V& a) {
    if constexpr (is_simd_batch<V>::value) {
        const V lo(-num::batch_math<V>::exp_hi);
        return xsimd::select(a >= lo, xsimd::exp(xsimd::max(a, lo)), to_num<V>(0.0));  // NaN -> 0
    } else {
        return num::exp(a);
    }
}

// Lane access for folding batches into double totals.
template <class V>
ETGRAD_INLINE constexpr std::size_t lanes() {
    if constexpr (is_simd_batch<V>::value) {
        return V::size;
    } else {
        return 1;
    }
}
template <class V, class E = typename scalar_of<V>::type>
ETGRAD_INLINE void to_lanes(const V& v, E* out) {
    if constexpr (is_simd_batch<V>::value) {
        v.store_unaligned(out);
    } else {
        out[0] = v;
    }
}

/// Combine a (max, scaled sum) pair of logsumexp into another, in double.
inline void lse_merge(double& M, double& Ssum, double m, double s) {
    if (m != m || M != M || s != s) {  // (a lane's NaN sample: in its max, or in its sum)
        M = std::numeric_limits<double>::quiet_NaN();
        return;
    }
    if (s == 0.0) {
        return;
    }
    if (m > M) {
        Ssum = (M == -std::numeric_limits<double>::infinity() ? 0.0 : Ssum * std::exp(M - m)) + s;
        M = m;
    } else if (m == M) {
        Ssum += s;
    } else {
        Ssum += (m == -std::numeric_limits<double>::infinity() ? 0.0 : s * std::exp(m - M));
    }
}

// The scalar state of a call: values and adjoints of every node (only scalar ones are used), and
// the reductions' totals.
template <class P>
struct data_state {
    static constexpr std::size_t n = P::n;
    store<double, n, P::G::has_conditions> s{};
    std::array<double, n> adj{};
    std::array<double, n> t1{};  // sum / nonzero product / max
    std::array<double, n> t2{};  // zero count / scaled sum
    std::array<double, n> t3{};  // prod: the power of two of the nonzero product (t1 in [0.5, 1))
    std::size_t N = 0;
};

template <class V>
struct exp_type {
    using type = long;
};
template <class T, class A>
struct exp_type<xsimd::batch<T, A>> {
    using type = xsimd::batch<xsimd::as_integer_t<T>, A>;
};
/// Sums' and products' running lanes are double, also for float data (float lanes drift: 10^6
/// factors near 1 came out 4e-4 low, 2^20 times 0.1f 1e-6 low): a float batch goes into two
/// double batches.
template <class V>
struct prod_lanes {
    using type = V;
    static constexpr std::size_t k = 1;
};
template <>
struct prod_lanes<float> {
    using type = double;
    static constexpr std::size_t k = 1;
};
template <class A>
struct prod_lanes<xsimd::batch<float, A>> {
    using type = xsimd::batch<double, A>;
    static constexpr std::size_t k = 2;
};
/// Lane accumulators of one block (V = batch) or of the tail (V = T).
/// f as prod_lanes<V>'s k batches (a float batch: its two halves in double), each passed to fn(j, .).
template <class V, class F>
ETGRAD_INLINE void for_wide(const V& f, F&& fn) {
    using PV = typename prod_lanes<V>::type;
    if constexpr (prod_lanes<V>::k == 2) {
        // x86: convert in registers (by the batch's size: the register type itself carries
        // attributes that templates ignore)
#if defined(__AVX512F__)
        if constexpr (sizeof(V) == 64) {
            const __m512 r = f;
            fn(std::size_t{0}, PV(_mm512_cvtps_pd(_mm512_castps512_ps256(r))));
            fn(std::size_t{1}, PV(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(r), 1)))));
            return;
        }
#endif
#if defined(__AVX__)
        if constexpr (sizeof(V) == 32) {
            const __m256 r = f;
            fn(std::size_t{0}, PV(_mm256_cvtps_pd(_mm256_castps256_ps128(r))));
            fn(std::size_t{1}, PV(_mm256_cvtps_pd(_mm256_extractf128_ps(r, 1))));
            return;
        }
#endif
#if defined(__SSE2__)
        if constexpr (sizeof(V) == 16) {
            const __m128 r = f;
            fn(std::size_t{0}, PV(_mm_cvtps_pd(r)));
            fn(std::size_t{1}, PV(_mm_cvtps_pd(_mm_movehl_ps(r, r))));
            return;
        }
#endif
        alignas(64) float buf[V::size];  // other architectures: through memory
        f.store_aligned(buf);
        fn(std::size_t{0}, PV::load_aligned(buf));
        fn(std::size_t{1}, PV::load_aligned(buf + PV::size));
    } else {
        fn(std::size_t{0}, static_cast<PV>(f));
    }
}
template <class P, class V>
struct lane_acc {
    using PV = typename prod_lanes<V>::type;
    static constexpr std::size_t pk = prod_lanes<V>::k;
    std::array<V, P::n> a1;
    std::array<V, P::n> a2;
    std::array<std::array<PV, pk>, P::n> p1;                              // sum, mean, prod: in double
    std::array<std::array<typename exp_type<PV>::type, pk>, P::n> p3;  // prod: their powers of two
    std::array<std::array<PV, pk>, P::n> pz;                              // prod: zero factors
    std::array<bool, P::n> fin;  // logsumexp: every lane's running maximum is finite
};

/// frexp that is right at the edges, for batches and scalars: denormals are scaled by 2^54 first
/// (xsimd::frexp gets their exponent wrong), and 0, inf and NaN are returned as they are with an
/// exponent of 0 (xsimd::frexp turns NaN into inf or 0 and inf into a finite mantissa).
template <class V, class X>
ETGRAD_INLINE V frexp_edge(const V& x, X& k) {
    using E = typename scalar_of<V>::type;
    if constexpr (is_simd_batch<V>::value) {
        using I = typename X::value_type;
        constexpr int mbits = std::numeric_limits<E>::digits - 1;
        constexpr I emask = std::is_same_v<E, double> ? 0x7ff : 0xff;
        constexpr I half = emask / 2 - 1;  // the biased exponent of [0.5, 1)
        const V ax = xsimd::abs(x);
        const auto fin = (ax > V(E(0))) & (ax <= V(std::numeric_limits<E>::max()));
        const auto den = ax < V(std::numeric_limits<E>::min());
        const V xs = xsimd::select(den, x * V(E(18014398509481984.0)), x);  // 2^54
        const X bits = xsimd::bitwise_cast<X>(xs);
        const X dm = xsimd::bitwise_cast<X>(xsimd::bitwise_cast(den));  // -1 where denormal
        const X fm = xsimd::bitwise_cast<X>(xsimd::bitwise_cast(fin));  // -1 where finite, nonzero
        const X ex = ((bits >> mbits) & X(emask)) - X(half) - (dm & X(54));
        k = ex & fm;
        const V m = xsimd::bitwise_cast<V>((bits & X(~(emask << mbits))) | X(half << mbits));
        return xsimd::select(fin, m, x);
    } else {
        if (!(std::abs(x) <= std::numeric_limits<E>::max()) || x == E(0)) {
            k = X(0);
            return x;
        }
        int e = 0;
        const V m = std::frexp(x, &e);
        k = static_cast<X>(e);
        return m;
    }
}

/// Products keep a running product and a separate power of two, so that no partial product (of a
/// lane, a block) overflows or underflows when the whole product does not. The running product
/// is renormalised only when a step leaves [2^-r, 2^r] (r = 500 in double, 60 in float):
/// inside it a multiplication is exact up to its rounding whatever the factor, and one range check
/// per batch finds every step that is not (overflow, underflow, denormals, inf, NaN).
template <class V>
ETGRAD_INLINE bool prod_in_range(const V& p) {
    using E = typename scalar_of<V>::type;
    constexpr E lo = std::is_same_v<E, double> ? E(0x1p-500) : E(0x1p-60);
    constexpr E hi = std::is_same_v<E, double> ? E(0x1p500) : E(0x1p60);
    if constexpr (is_simd_batch<V>::value) {
        const V ap = xsimd::abs(p);
        return xsimd::all((ap >= V(lo)) & (ap <= V(hi)));
    } else {
        const E ap = std::abs(p);
        return ap >= lo && ap <= hi;
    }
}
/// m <- m * f with the powers of two of both moved into e; inf and NaN stay in m.
template <class V, class X>
ETGRAD_INLINE void prod_step_slow(V& m, X& e, const V& f) {
    X k1, k2;
    const V m1 = frexp_edge(m, k1);
    const V m2 = frexp_edge(f, k2);
    m = m1 * m2;
    e = e + k1 + k2;
}
template <class V, class X>
ETGRAD_INLINE void prod_renorm(V& m, X& e) {
    X k;
    m = frexp_edge(m, k);
    e = e + k;
}
inline double prod_value(double m, double e) {
    const double lim = 1 << 20;
    return std::ldexp(m, static_cast<int>(e < -lim ? -lim : (e > lim ? lim : e)));
}

/// How far above a lane's maximum a logsumexp sample may lie and still be summed without moving the
/// maximum (acc_add): exp(lse_lag) times the samples a lane sums in a block (block_size) stays far
/// below the type's largest value (double: e^300 * 2048 ~ 4e133; float: e^40 * 2048 ~ 5e20).
template <class E>
inline constexpr E lse_lag = std::is_same_v<E, double> ? E(300) : E(40);
static_assert(block_size <= 4096, "etgrad: lse_lag assumes at most 4096 samples per lane and block");

template <class P, int K, class V>
ETGRAD_INLINE void acc_init(lane_acc<P, V>& a) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        (
            [&]() ETGRAD_LAMBDA_INLINE {
                if constexpr (P::pass[K].redk[Is]) {
                    constexpr int r = P::red[Is];
                    if constexpr (r == red_prod) {
                        using PV = typename lane_acc<P, V>::PV;
                        for (std::size_t j = 0; j < lane_acc<P, V>::pk; ++j) {
                            a.p1[Is][j] = to_num<PV>(1.0);
                            a.pz[Is][j] = to_num<PV>(0.0);
                            a.p3[Is][j] = typename exp_type<PV>::type(0);
                        }
                    } else if constexpr (r == red_lse) {
                        a.a1[Is] = to_num<V>(-std::numeric_limits<double>::infinity());
                        a.a2[Is] = to_num<V>(0.0);
                        a.fin[Is] = false;
                    } else {
                        for (std::size_t j = 0; j < lane_acc<P, V>::pk; ++j) {
                            a.p1[Is][j] = to_num<typename lane_acc<P, V>::PV>(0.0);
                        }
                    }
                }
            }(),
            ...);
    }(std::make_index_sequence<P::n>{});
}

template <class P, int K, class V, class SV>
ETGRAD_INLINE void acc_add(lane_acc<P, V>& a, const SV& bv) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        (
            [&]() ETGRAD_LAMBDA_INLINE {
                if constexpr (P::pass[K].redk[Is]) {
                    constexpr int r = P::red[Is];
                    const V& v = bv.v[P::G::info[Is].child[0]];
                    if constexpr (r == red_prod) {
                        // One multiplication and one range check per batch: a zero factor makes the
                        // step leave the range, so zeros are counted (and skipped) on the slow path.
                        using PV = typename lane_acc<P, V>::PV;
                        auto step = [&](std::size_t j, const PV& fj) ETGRAD_LAMBDA_INLINE {
                            const PV p = a.p1[Is][j] * fj;
                            if (prod_in_range(p)) [[likely]] {
                                a.p1[Is][j] = p;
                            } else {
                                const PV pzero = to_num<PV>(0.0), pone = to_num<PV>(1.0);
                                const auto z = fj == pzero;
                                a.pz[Is][j] = a.pz[Is][j] + num::select(z, pone, pzero);
                                prod_step_slow(a.p1[Is][j], a.p3[Is][j], num::select(z, pone, fj));
                            }
                        };
                        for_wide(v, step);
                    } else if constexpr (r == red_lse) {
                        // One exp per sample: rescale the running sum only when the max moves.
                        const V m = a.a1[Is];
                        if constexpr (is_simd_batch<V>::value) {
                            // Most batches: every sample within [-r, lse_lag] of its lane's
                            // (finite) maximum, r = exp's normal range. Then the exp reads a
                            // maximum that does not change from batch to batch (no loop-carried
                            // exp) and sees only its own domain: one range check. The maximum is
                            // allowed to lag behind the samples by up to lse_lag: a lane's sum
                            // is sum(exp(v - m)) for any m (the log adds m back), and a new
                            // lane maximum in any of the W lanes, frequent early in each block
                            // (about W ln(k) / k of the k-th batch), would otherwise send the
                            // whole batch to the general step. Other batches (a sample far above
                            // the maximum, NaN, +-inf, a term below an ulp of the lane's sum,
                            // which holds exp(0) = 1) take the general step below.
                            const V x = v - m;
                            if (a.fin[Is] && xsimd::all((x <= V(lse_lag<typename scalar_of<V>::type>)) &
                                                        (x >= V(-num::batch_math<V>::exp_hi))))
                                [[likely]] {  // (NaN, -inf: false)
                                a.a2[Is] = a.a2[Is] + xsimd::exp(x);
                                return;
                            }
                        }
                        // A NaN sample makes the lane's max NaN (lse_merge then gives NaN).
                        const V one = to_num<V>(1.0);
                        V e = num::select(v == m, one, exp_neg(-num::abs(v - m)));
                        a.a2[Is] = num::select(v > m, a.a2[Is] * e + one, a.a2[Is] + e);
                        a.a1[Is] = num::select(nan_mask(v), v, num::select(v > m, v, m));
                        if constexpr (is_simd_batch<V>::value) {
                            const V am = xsimd::abs(a.a1[Is]);
                            a.fin[Is] = xsimd::all(am <= V(std::numeric_limits<typename scalar_of<V>::type>::max()));
                        }
                    } else {
                        using PV = typename lane_acc<P, V>::PV;
                        for_wide(v, [&](std::size_t j, const PV& vj) ETGRAD_LAMBDA_INLINE { a.p1[Is][j] = a.p1[Is][j] + vj; });
                    }
                }
            }(),
            ...);
    }(std::make_index_sequence<P::n>{});
}

/// Add a block's (or the tail's) lanes, in order, into the double totals.
template <class P, int K, bool Fwd, bool Bwd, class V, class A>
ETGRAD_INLINE void acc_fold(data_state<P>& st, const lane_acc<P, V>& a, const A& badj) {
    using E = typename scalar_of<V>::type;
    constexpr std::size_t w = lanes<V>();
    [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        (
            [&]() ETGRAD_LAMBDA_INLINE {
                if constexpr (Fwd && P::pass[K].redk[Is]) {
                    constexpr int r = P::red[Is];
                    E l1[w], l2[w];
                    if constexpr (r == red_lse) {
                        to_lanes(a.a1[Is], l1);
                    }
                    if constexpr (r == red_lse) {
                        to_lanes(a.a2[Is], l2);
                    }
                    if constexpr (r == red_prod || r == red_sum || r == red_mean) {
                        using PV = typename lane_acc<P, V>::PV;
                        constexpr std::size_t pw = lanes<PV>();
                        for (std::size_t j = 0; j < lane_acc<P, V>::pk; ++j) {
                            double d1[pw];
                            if constexpr (r != red_prod) {
                                to_lanes(a.p1[Is][j], d1);
                                for (std::size_t l = 0; l < pw; ++l) {
                                    st.t1[Is] += d1[l];
                                }
                            } else {
                                double dz[pw];
                                to_lanes(a.pz[Is][j], dz);
                                for (std::size_t l = 0; l < pw; ++l) {
                                    st.t2[Is] += dz[l];
                                }
                                // Every lane's mantissa in [0.5, 1) first (one batch frexp):
                                // their product is then at least 2^-8, one renormalisation.
                                typename exp_type<PV>::type k;
                                const PV m = frexp_edge(a.p1[Is][j], k);
                                const auto e = a.p3[Is][j] + k;
                                to_lanes(m, d1);
                                std::int64_t d3[pw];
                                if constexpr (is_simd_batch<PV>::value) {
                                    e.store_unaligned(d3);
                                } else {
                                    d3[0] = static_cast<std::int64_t>(e);
                                }
                                double t = 1.0, te = 0.0;
                                for (std::size_t l = 0; l < pw; ++l) {
                                    t *= d1[l];
                                    te += static_cast<double>(d3[l]);
                                }
                                st.t1[Is] *= t;
                                prod_renorm(st.t1[Is], st.t3[Is]);
                                st.t3[Is] += te;
                            }
                        }
                    }
                    if constexpr (r == red_lse) {
                        for (std::size_t l = 0; l < w; ++l) {
                            lse_merge(st.t1[Is], st.t2[Is], static_cast<double>(l1[l]), static_cast<double>(l2[l]));
                        }
                    }
                }
                if constexpr (Bwd && P::pass[K].ext[Is] && P::pass[K].got[Is]) {
                    E l1[w];
                    to_lanes(badj[Is], l1);
                    for (std::size_t l = 0; l < w; ++l) {
                        st.adj[Is] += static_cast<double>(l1[l]);
                    }
                }
            }(),
            ...);
    }(std::make_index_sequence<P::n>{});
}

// The backward step of a reduction inside a pass: each sample's share of the reduction's adjoint.
template <class P, int K, class V, class SV, class A, class Seeds>
ETGRAD_INLINE void red_bwd_all(const SV& bv, A& badj, const Seeds& sd) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        (
            [&]() ETGRAD_LAMBDA_INLINE {
                if constexpr (P::pass[K].redk[Is] && P::pass[K].contrib[Is] != 0) {
                    constexpr int r = P::red[Is];
                    constexpr std::size_t c = P::G::info[Is].child[0];
                    const V& v = bv.v[c];
                    V contrib;
                    if constexpr (r == red_lse) {
                        contrib = sd.seed[Is] * exp_nonpos(v - sd.aux1[Is]);
                    } else if constexpr (r == red_prod) {
                        // The product of the other samples: P / x without zeros; with one zero, the
                        // zero sample gets the product of the others and the rest 0.
                        contrib = sd.seed[Is] * num::select(v == to_num<V>(0.0), sd.aux2[Is], sd.aux1[Is] / v);
                    } else {
                        contrib = sd.seed[Is];
                    }
                    if constexpr ((P::pass[K].assign[Is] & 1u) != 0) {
                        badj[c] = contrib;
                    } else {
                        badj[c] = badj[c] + contrib;
                    }
                }
            }(),
            ...);
    }(std::make_index_sequence<P::n>{});
}

template <class V, class P>
struct seeds {
    std::array<V, P::n> seed;
    std::array<V, P::n> aux1;
    std::array<V, P::n> aux2;
};

// Steps of a pass's backward sweep: reductions are seeded by red_bwd_all, the rest by bwd.
template <class V, class P, int K, class Step, class SV, class A>
ETGRAD_INLINE void pass_bwd(Step, const SV&, A&) {}
template <class V, class P, int K, std::size_t I, class Op, unsigned M, std::size_t... C, class SV, class A>
ETGRAD_INLINE void pass_bwd(op_step<I, Op, M, C...> st, const SV& bv, A& badj) {
    if constexpr (!Reduction<Op>) {
        bwd<V, P::pass[K].contrib[I], P::pass[K].assign[I]>(st, bv, badj);
    }
}

/// A forward step in a data loop: as in the scalar sweep, except that a division by a scalar node
/// (a parameter, a constant) multiplies by its reciprocal, which the loop computes once.
template <class V, class P, class Step, class SV, class Ctx>
ETGRAD_INLINE void dfwd(Step st, SV& bv, const Ctx& ctx) {
    fwd<V>(st, bv, ctx);
}
template <class V, class P, std::size_t I, unsigned M, std::size_t C0, std::size_t C1, class SV, class Ctx>
ETGRAD_INLINE void dfwd(op_step<I, ops::div_op, M, C0, C1> st, SV& bv, const Ctx& ctx) {
    if constexpr (!P::cls.data[C1]) {
        bv.v[I] = bv.v[C0] * (to_num<V>(1.0) / bv.v[C1]);
    } else {
        fwd<V>(st, bv, ctx);
    }
}

/// One sample (V = T) or one batch (V = batch) of a pass: forward, reduction accumulation,
/// backward, data-gradient stores, output stores.
template <class P, int K, bool Fwd, bool Bwd, class V, class T, class SV, class A, class Ctx, class... B>
ETGRAD_INLINE void pass_iteration(SV& bv, A& badj, lane_acc<P, V>& acc, const seeds<V, P>& sd, const Ctx& ctx,
                                  T* out, const btup<B...>& bs) {
    [&]<class... Ss>(tlist<Ss...>*) ETGRAD_LAMBDA_INLINE {
        const int order[] = {0, (dfwd<V, P>(Ss{}, bv, ctx), 0)...};
        (void)order;
    }(static_cast<typename P::template pass_steps<K>*>(nullptr));
    if constexpr (Fwd) {
        acc_add<P, K>(acc, bv);
    }
    if constexpr (K == P::S + 1) {  // the output pass of an elementwise root
        if constexpr (is_simd_batch<V>::value) {
            bv.v[P::root].store_unaligned(out + ctx.i);
        } else {
            out[ctx.i] = bv.v[P::root];
        }
    }
    if constexpr (Bwd) {
        red_bwd_all<P, K, V>(bv, badj, sd);
        [&]<class... Ss>(tlist<Ss...>*) ETGRAD_LAMBDA_INLINE {
            const int order[] = {0, (pass_bwd<V, P, K>(Ss{}, bv, badj), 0)...};
            (void)order;
        }(static_cast<typename P::template pass_rsteps<K>*>(nullptr));
        // Data variables' gradients.
        [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
            (
                [&]() ETGRAD_LAMBDA_INLINE {
                    if constexpr (P::dvar[Is] && P::pass[K].got[Is]) {
                        using Var = at_t<typename P::list, Is>;
                        constexpr std::size_t k = binding_index<Var, B...>();
                        const auto& ref = tget<k>(bs).value;
                        if constexpr (rm<decltype(ref)>::has_grad) {
                            T* g = ref.gptr + ctx.i;
                            if constexpr (is_simd_batch<V>::value) {
                                if constexpr (P::first_writer[Is] == K) {
                                    badj[Is].store_unaligned(g);
                                } else {
                                    (V::load_unaligned(g) + badj[Is]).store_unaligned(g);
                                }
                            } else {
                                if constexpr (P::first_writer[Is] == K) {
                                    *g = badj[Is];
                                } else {
                                    *g = *g + badj[Is];
                                }
                            }
                        }
                    }
                }(),
                ...);
        }(std::make_index_sequence<P::n>{});
    }
}

/// Broadcast the pass's scalar inputs (and, backward, its seeds) into V.
template <class P, int K, bool Bwd, class V, class SV>
ETGRAD_INLINE void pass_setup(const data_state<P>& st, SV& bv, seeds<V, P>& sd) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        (
            [&]() ETGRAD_LAMBDA_INLINE {
                if constexpr (P::pass[K].ext[Is]) {
                    if constexpr (P::G::info[Is].is_condition) {
                        bv.m[Is] = mask_t<V>(st.s.m[Is]);
                    } else {
                        bv.v[Is] = to_num<V>(st.s.v[Is]);
                    }
                }
                if constexpr (Bwd && P::pass[K].redk[Is] && P::pass[K].contrib[Is] != 0) {
                    constexpr int r = P::red[Is];
                    double seed = st.adj[Is];
                    if constexpr (r == red_mean) {
                        seed = st.N == 0 ? 0.0 : seed / static_cast<double>(st.N);
                    }
                    sd.seed[Is] = to_num<V>(seed);
                    if constexpr (r == red_lse) {
                        sd.aux1[Is] = to_num<V>(st.s.v[Is]);
                    } else if constexpr (r == red_prod) {
                        sd.aux1[Is] = to_num<V>(st.s.v[Is]);                        // the product
                        sd.aux2[Is] = to_num<V>(st.t2[Is] == 1.0 ? prod_value(st.t1[Is], st.t3[Is]) : 0.0);  // at the zero
                    }
                }
            }(),
            ...);
    }(std::make_index_sequence<P::n>{});
}

template <class P, int K, class A>
ETGRAD_INLINE void ext_adj_zero(A& badj) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        (
            [&]() ETGRAD_LAMBDA_INLINE {
                if constexpr (P::pass[K].ext[Is] && P::pass[K].got[Is]) {
                    badj[Is] = to_num<rm<decltype(badj[Is])>>(0.0);
                }
            }(),
            ...);
    }(std::make_index_sequence<P::n>{});
}

/// Run samples [begin, end) of pass K: batches, then single samples; fold into st's totals.
template <class P, int K, bool Fwd, bool Bwd, class T, class... B>
ETGRAD_LOOP void pass_range(data_state<P>& st, const btup<B...>& bs, const double* consts, std::size_t begin,
                               std::size_t end, T* out) {
    using V = simd_batch<T>;
    constexpr std::size_t w = V::size;
    constexpr bool hc = P::G::has_conditions;
    {
        // Zeroed once per range: the two-chain loop below copies it (bv2) before every slot is
        // written, and a copy must not read indeterminate values.
        store<V, P::n, hc> bv{};
        std::array<V, P::n> badj;
        seeds<V, P> sd;
        pass_setup<P, K, Bwd, V>(st, bv, sd);
        std::size_t i = begin;
        // A reduction's accumulator is a loop-carried chain (an add's latency per batch; a
        // product's renormalisation and a log-sum-exp's running maximum lengthen it): two batches
        // per iteration with their own accumulators make two independent chains. Passes that also
        // run a backward sweep keep one chain for sums and means (they have work enough between
        // two adds; two chains measured slower there: normal log-density 11.7 -> 18.5 us at 2^16),
        // two for prod and logsumexp.
        constexpr bool two = Fwd && P::n <= 48 && [] {
            for (std::size_t j = 0; j < P::n; ++j) {
                if (P::pass[K].redk[j] && (!Bwd || P::red[j] == red_prod || P::red[j] == red_lse)) {
                    return true;
                }
            }
            return false;
        }();
        auto bv2 = bv;
        std::array<V, P::n> badj2;
        while (i + w <= end) {
            std::size_t bend = std::min(end, i + block_size);
            lane_acc<P, V> acc, acc2;
            acc_init<P, K>(acc);
            ext_adj_zero<P, K>(badj);
            if constexpr (two) {
                acc_init<P, K>(acc2);
                ext_adj_zero<P, K>(badj2);
                for (; i + 2 * w <= bend; i += 2 * w) {
                    data_ctx<V, T, B...> ctx{&bs, consts, i}, ctx2{&bs, consts, i + w};
                    pass_iteration<P, K, Fwd, Bwd, V, T>(bv, badj, acc, sd, ctx, out, bs);
                    pass_iteration<P, K, Fwd, Bwd, V, T>(bv2, badj2, acc2, sd, ctx2, out, bs);
                }
            }
            for (; i + w <= bend; i += w) {
                data_ctx<V, T, B...> ctx{&bs, consts, i};
                pass_iteration<P, K, Fwd, Bwd, V, T>(bv, badj, acc, sd, ctx, out, bs);
            }
            acc_fold<P, K, Fwd, Bwd>(st, acc, badj);
            if constexpr (two) {
                acc_fold<P, K, Fwd, Bwd>(st, acc2, badj2);
            }
        }
        begin = i;
    }
    if (begin < end) {
        store<T, P::n, hc> sv;
        std::array<T, P::n> sadj;
        seeds<T, P> sd;
        pass_setup<P, K, Bwd, T>(st, sv, sd);
        lane_acc<P, T> acc;
        acc_init<P, K>(acc);
        ext_adj_zero<P, K>(sadj);
        for (std::size_t i = begin; i < end; ++i) {
            data_ctx<T, T, B...> ctx{&bs, consts, i};
            pass_iteration<P, K, Fwd, Bwd, T, T>(sv, sadj, acc, sd, ctx, out, bs);
        }
        acc_fold<P, K, Fwd, Bwd>(st, acc, sadj);
    }
}

template <class P, int K>
void totals_init(data_state<P>& st) {
    for (std::size_t i = 0; i < P::n; ++i) {
        if (P::pass[K].redk[i]) {
            st.t1[i] = P::red[i] == red_prod ? 1.0 : (P::red[i] == red_lse ? -std::numeric_limits<double>::infinity() : 0.0);
            st.t2[i] = 0.0;
            st.t3[i] = 0.0;
        }
    }
}
template <class P, int K>
void totals_finish(data_state<P>& st) {
    for (std::size_t i = 0; i < P::n; ++i) {
        if (!P::pass[K].redk[i]) {
            continue;
        }
        switch (P::red[i]) {
            case red_sum: st.s.v[i] = st.t1[i]; break;
            case red_mean: st.s.v[i] = st.t1[i] / static_cast<double>(st.N); break;
            case red_prod:  // a zero times inf or NaN is NaN
                st.s.v[i] = st.t2[i] > 0.0 ? (std::isfinite(st.t1[i]) ? 0.0 : std::numeric_limits<double>::quiet_NaN())
                                           : prod_value(st.t1[i], st.t3[i]);
                break;
            case red_lse:
                st.s.v[i] = st.t1[i] == -std::numeric_limits<double>::infinity() || st.t1[i] == std::numeric_limits<double>::infinity()
                                ? st.t1[i]
                                : st.t1[i] + std::log(st.t2[i]);
                break;
            default: break;
        }
    }
}

/// A whole pass over the data: sequential, or split into blocks over threads. Each block gives
/// partial totals, combined in block order either way: bit-identical for any thread count.
template <class P, int K, bool Fwd, bool Bwd>
void part_init(data_state<P>& p) {
    if constexpr (Fwd) {
        totals_init<P, K>(p);
    }
    if constexpr (Bwd) {
        for (std::size_t i = 0; i < P::n; ++i) {
            if (P::pass[K].ext[i]) {
                p.adj[i] = 0.0;
            }
        }
    }
}
template <class P, int K, bool Fwd, bool Bwd>
void part_merge(data_state<P>& st, const data_state<P>& part) {
    for (std::size_t i = 0; i < P::n; ++i) {
        if (Fwd && P::pass[K].redk[i]) {
            if (P::red[i] == red_prod) {
                st.t1[i] *= part.t1[i];
                prod_renorm(st.t1[i], st.t3[i]);
                st.t3[i] += part.t3[i];
                st.t2[i] += part.t2[i];
            } else if (P::red[i] == red_lse) {
                lse_merge(st.t1[i], st.t2[i], part.t1[i], part.t2[i]);
            } else {
                st.t1[i] += part.t1[i];
            }
        }
        if (Bwd && P::pass[K].ext[i]) {
            st.adj[i] += part.adj[i];
        }
    }
}
template <class P, int K, bool Fwd, bool Bwd, class T, class... B>
void run_pass(data_state<P>& st, const btup<B...>& bs, const double* consts, T* out, unsigned threads) {
    if constexpr (Fwd) {
        totals_init<P, K>(st);
    }
    const std::size_t N = st.N;
    const std::size_t nblocks = (N + block_size - 1) / block_size;
    if constexpr (!Fwd && !Bwd) {
        // The output pass: each block writes its own samples' outputs, nothing to combine.
        parallel_blocks(threads, nblocks, [&](std::size_t b) {
            data_state<P> part = st;
            pass_range<P, K, Fwd, Bwd, T>(part, bs, consts, b * block_size, std::min(N, (b + 1) * block_size), out);
        });
    } else if (nblocks <= 1) {
        pass_range<P, K, Fwd, Bwd, T>(st, bs, consts, 0, N, out);
    } else if (threads <= 1) {
        data_state<P> part = st;
        for (std::size_t b = 0; b < nblocks; ++b) {
            part_init<P, K, Fwd, Bwd>(part);
            pass_range<P, K, Fwd, Bwd, T>(part, bs, consts, b * block_size, std::min(N, (b + 1) * block_size), out);
            part_merge<P, K, Fwd, Bwd>(st, part);
        }
    } else {
        std::vector<data_state<P>> part(nblocks, st);
        for (auto& p : part) {
            part_init<P, K, Fwd, Bwd>(p);
        }
        parallel_blocks(threads, nblocks, [&](std::size_t b) {
            pass_range<P, K, Fwd, Bwd, T>(part[b], bs, consts, b * block_size, std::min(N, (b + 1) * block_size), out);
        });
        for (std::size_t b = 0; b < nblocks; ++b) {
            part_merge<P, K, Fwd, Bwd>(st, part[b]);
        }
    }
    if constexpr (Fwd) {
        totals_finish<P, K>(st);
    }
}

// Scalar phases, in double.
template <class P, class Step>
ETGRAD_INLINE void phase_bwd_step(Step, data_state<P>&) {}
template <class P, std::size_t I, class Op, unsigned M, std::size_t... C>
ETGRAD_INLINE void phase_bwd_step(op_step<I, Op, M, C...> s, data_state<P>& st) {
    bwd<double, P::phase_contrib[I], 0>(s, st.s, st.adj);
}
template <class P, int K, class... B>
ETGRAD_INLINE void phase_forward(data_state<P>& st, const btup<B...>& bs, const double* consts) {
    data_ctx<double, double, B...> ctx{&bs, consts, 0};
    [&]<class... Ss>(tlist<Ss...>*) ETGRAD_LAMBDA_INLINE {
        const int order[] = {0, (fwd<double>(Ss{}, st.s, ctx), 0)...};
        (void)order;
    }(static_cast<typename P::template phase_steps<K>*>(nullptr));
}
template <class P, int K>
ETGRAD_INLINE void phase_backward(data_state<P>& st) {
    [&]<class... Ss>(tlist<Ss...>*) ETGRAD_LAMBDA_INLINE {
        const int order[] = {0, (phase_bwd_step<P>(Ss{}, st), 0)...};
        (void)order;
    }(static_cast<typename P::template phase_rsteps<K>*>(nullptr));
}

// ---------------------------------------------------------------------------------------------
// Checks before any work: equal lengths, output sizes, non-empty means.
/// Append text and numbers to a message (by appending: GCC 12 warns falsely about "a" + s).
inline void append(std::string&) {}
template <class A, class... R>
void append(std::string& m, const A& a, const R&... r) {
    if constexpr (std::is_arithmetic_v<A>) {
        m.append(std::to_string(a));
    } else {
        m.append(std::string_view(a));
    }
    append(m, r...);
}
template <class... A>
std::string message(const A&... a) {
    std::string m;
    append(m, a...);
    return m;
}

template <class B>
constexpr void collect_length(const B& b, std::size_t& n, std::string_view& first, bool& bad) {
    if constexpr (is_data_binding_v<B>) {
        if (first.empty()) {
            n = b.value.n;
            first = B::name;
        } else if (b.value.n != n) {
            bad = true;
        }
        if constexpr (rm<decltype(b.value)>::has_grad) {
            bad = bad || b.value.gn != b.value.n;
        }
    }
}
template <class B>
void describe_length(const B& b, std::string& msg) {
    if constexpr (is_data_binding_v<B>) {
        append(msg, msg.empty() ? "etgrad: data of different lengths: '" : ", '", B::name, "' has ", b.value.n);
        if constexpr (rm<decltype(b.value)>::has_grad) {
            if (b.value.gn != b.value.n) {
                append(msg, " (its gradient output has ", b.value.gn, ")");
            }
        }
    }
}
/// The common length of the data; std::invalid_argument naming every data variable and its length
/// when they differ (or a gradient output has another size).
template <class... B>
std::size_t checked_length(const B&... b) {
    std::size_t n = 0;
    std::string_view first;
    bool bad = false;
    (collect_length(b, n, first, bad), ...);
    if (bad) {
        std::string msg;
        (describe_length(b, msg), ...);
        throw std::invalid_argument(msg);
    }
    return n;
}
template <class P>
void check_nonempty(std::size_t N) {
    if (N == 0 && (P::has_kind(red_mean) || P::has_kind(red_lse))) {
        throw std::invalid_argument(P::has_kind(red_mean) ? "etgrad: mean over zero samples"
                                                          : "etgrad: logsumexp over zero samples");
    }
}

template <class W, class... B>
struct check_data_wrt {
    using DV = data_vars_t<B...>;
    using GV = grad_vars_t<B...>;
    template <class V>
    static constexpr bool ok() {
        return !contains_c<DV, V>::value || contains_c<GV, V>::value;
    }
    template <class... Vs>
    static constexpr bool all(tlist<Vs...>*) {
        return (ok<Vs>() && ...);
    }
    static_assert(all(static_cast<W*>(nullptr)),
                  "etgrad: a variable bound to data is in wrt(...) but has no gradient output: bind it as "
                  "`x = eg::data(xs).grad_into(gx)`");
};

/// Under an explicit eg::wrt(...), every variable bound with .grad_into(gx) is listed (GV: those
/// variables): the gradient of one left out would not be computed, and gx not written.
template <class W, class GV>
struct grad_into_in_wrt;
template <class W, class... Gs>
struct grad_into_in_wrt<W, tlist<Gs...>> {
    static_assert((contains_c<W, Gs>::value && ...),
                  "etgrad: a variable bound as `x = eg::data(xs).grad_into(gx)` is not in wrt(...), so its gradient "
                  "would not be computed: add it to eg::wrt(...), or bind it without .grad_into");
};

// The default differentiated variables with data: the parameters and the data given grad_into.
template <class L, class DV, class GV>
struct default_wrt;
template <class... Vs, class DV, class GV>
struct default_wrt<tlist<Vs...>, DV, GV> {
    struct keep_at {
        static constexpr bool keep(std::size_t i) {
            constexpr bool v[] = {(!contains_c<DV, Vs>::value || contains_c<GV, Vs>::value)..., false};
            return v[i];
        }
    };
    using type = typename select_list<tlist<Vs...>, keep_at>::type;
};

/// Gradient record of a data call: g[w] for a parameter; g[x] for data is the caller's span.
template <class T, class DV, class... Vs>
struct data_gradient : gradient<T, Vs...> {
    using base = gradient<T, Vs...>;
    std::array<std::span<T>, sizeof...(Vs)> spans{};
    template <class V>
    constexpr decltype(auto) operator[](const V& v) {
        if constexpr (contains_c<DV, V>::value) {
            return spans[base::template index_of<V>()];
        } else {
            return base::operator[](v);
        }
    }
    template <class V>
    constexpr decltype(auto) operator[](const V& v) const {
        if constexpr (contains_c<DV, V>::value) {
            return std::span<const T>(spans[base::template index_of<V>()]);
        } else {
            return base::operator[](v);
        }
    }
};

template <int Lo, int Hi, class F>
ETGRAD_INLINE void for_stages_up(F&& f) {
    if constexpr (Lo <= Hi) {
        f(std::integral_constant<int, Lo>{});
        for_stages_up<Lo + 1, Hi>(f);
    }
}
template <int Hi, int Lo, class F>
ETGRAD_INLINE void for_stages_down(F&& f) {
    if constexpr (Hi >= Lo) {
        f(std::integral_constant<int, Hi>{});
        for_stages_down<Hi - 1, Lo>(f);
    }
}


/// The scalar phase 0, then stages 1..Last: each a forward pass over the data and its scalar phase.
template <class P, int Last, class T, class... B>
void forward_stages(data_state<P>& st, const btup<B...>& bs, const double* consts, unsigned threads) {
    phase_forward<P, 0>(st, bs, consts);
    for_stages_up<1, Last>([&](auto k) {
        run_pass<P, k.value, true, false, T>(st, bs, consts, nullptr, threads);
        phase_forward<P, k.value>(st, bs, consts);
    });
}

// ---------------------------------------------------------------------------------------------
// The entry points (called by evaluation and value_and_grad when some binding is data).
template <class W0, class E, class... B>
auto data_value_and_grad(unsigned threads, const E& e, const B&... b) {
    check_bindings_list<B...>();
    using T = typename data_elem_of<B...>::type;
    using DV = data_vars_t<B...>;
    using GV = grad_vars_t<B...>;
    using Low = lowered<E>;
    check_bound<typename vars_in<typename Low::list>::type, B...>();
    using W = std::conditional_t<std::is_void_v<W0>, typename default_wrt<typename vars_in<typename Low::list>::type, DV, GV>::type, W0>;
    (void)check_data_wrt<W, B...>{};
    if constexpr (!std::is_void_v<W0>) {
        (void)grad_into_in_wrt<W, GV>{};
    }
    (void)wrt_nonempty<W>{};
    (void)requires_grad<typename Low::graph_type, W, Low::root_index[0]>{};
    using P = data_plan<typename Low::list, W, DV, Low::root_index[0]>;
    static_assert(!P::elementwise,
                  "etgrad: this expression is per-sample (no eg::sum/mean/prod/logsumexp above the data), so it has "
                  "no single gradient; reduce it (eg::mean(e)) or use eg::value_and_grad_into(out, grads, e, ...)");
    const std::size_t N = checked_length(b...);
    check_nonempty<P>(N);
    Low low(e);
    btup<B...> bs(b...);
    const double* consts = low.consts.data();
    data_state<P> st{};
    st.N = N;
    // Data gradients that no pass reaches are zero.
    (
        [&] {
            if constexpr (is_data_binding_v<B>) {
                if constexpr (rm<decltype(b.value)>::has_grad) {
                    using Var = typename B::variable;
                    constexpr bool written = [] {
                        if constexpr (contains_c<typename P::list, Var>::value) {
                            return P::first_writer[index_in<typename P::list, Var>::value] != 0;
                        } else {
                            return false;
                        }
                    }();
                    if constexpr (!written) {
                        std::fill(b.value.gptr, b.value.gptr + b.value.gn, T(0));
                    }
                }
            }
        }(),
        ...);
    constexpr int S = P::S;
    forward_stages<P, S - 1, T>(st, bs, consts, threads);
    if constexpr (S >= 1) {
        st.adj[P::root] = 1.0;
        if constexpr (P::fused) {
            phase_backward<P, S>(st);  // reads no value of this phase (checked at compile time)
            run_pass<P, S, true, true, T>(st, bs, consts, nullptr, threads);
            phase_forward<P, S>(st, bs, consts);
        } else {
            run_pass<P, S, true, false, T>(st, bs, consts, nullptr, threads);
            phase_forward<P, S>(st, bs, consts);
            phase_backward<P, S>(st);
            run_pass<P, S, false, true, T>(st, bs, consts, nullptr, threads);
        }
        for_stages_down<S - 1, 1>([&](auto k) {
            phase_backward<P, k.value>(st);
            run_pass<P, k.value, false, true, T>(st, bs, consts, nullptr, threads);
        });
    } else {
        st.adj[P::root] = 1.0;
    }
    phase_backward<P, 0>(st);
    return [&]<class... Vs>(tlist<Vs...>*) {
        data_gradient<T, DV, Vs...> g{};
        std::size_t k = 0;
        (
            [&] {
                if constexpr (contains_c<DV, Vs>::value) {
                    constexpr std::size_t bi = binding_index<Vs, B...>();
                    const auto& ref = tget<bi>(bs).value;
                    g.spans[k] = std::span<T>(ref.gptr, ref.gn);
                } else if constexpr (contains_c<typename P::list, Vs>::value) {
                    g.values[k] = static_cast<T>(st.adj[index_in<typename P::list, Vs>::value]);
                }
                ++k;
            }(),
            ...);
        return value_and_gradient<T, data_gradient<T, DV, Vs...>>{static_cast<T>(st.s.v[P::root]), g};
    }(static_cast<W*>(nullptr));
}

template <class E, class... B>
auto data_evaluate(unsigned threads, const E& e, const B&... b) {
    check_bindings_list<B...>();
    using T = typename data_elem_of<B...>::type;
    using Low = lowered<E>;
    check_bound<typename vars_in<typename Low::list>::type, B...>();
    using P = data_plan<typename Low::list, tlist<>, data_vars_t<B...>, Low::root_index[0]>;
    static_assert(!P::elementwise,
                  "etgrad: this expression is per-sample (no eg::sum/mean/prod/logsumexp above the data): "
                  "evaluate it with eg::eval_into(out, e, ...)");
    const std::size_t N = checked_length(b...);
    check_nonempty<P>(N);
    Low low(e);
    btup<B...> bs(b...);
    data_state<P> st{};
    st.N = N;
    forward_stages<P, P::S, T>(st, bs, low.consts.data(), threads);
    return static_cast<T>(st.s.v[P::root]);
}

template <class R>
using range_elem_t = std::remove_cv_t<std::ranges::range_value_t<R>>;

template <class T, class R>
constexpr void check_output_range() {
    static_assert(std::ranges::contiguous_range<R> && std::ranges::sized_range<R>,
                  "etgrad: an output must be a contiguous range (std::vector, std::span, std::array)");
    static_assert(std::is_same_v<range_elem_t<R>, T> &&
                      !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>,
                  "etgrad: an output must be a writable range of the data's element type");
}

// The elementwise loop without reductions: scalar nodes (parameters, constants and what is computed
// from them alone) once per call, in double; per batch, the data nodes forward and, for the
// derivatives, the whole graph backward (a parameter's per-sample derivative flows through them).
template <class P, class V, class SV>
ETGRAD_INLINE void broadcast_scalars(const data_state<P>& st, SV& bv) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        (
            [&]() ETGRAD_LAMBDA_INLINE {
                if constexpr (!P::cls.data[Is]) {
                    if constexpr (P::G::info[Is].is_condition) {
                        bv.m[Is] = mask_t<V>(st.s.m[Is]);
                    } else {
                        bv.v[Is] = to_num<V>(st.s.v[Is]);
                    }
                }
            }(),
            ...);
    }(std::make_index_sequence<P::n>{});
}

template <class T, class W, class Low, bool Grad, class... B>
ETGRAD_LOOP void elementwise_range(const btup<B...>& bs, const double* consts, std::size_t begin, std::size_t end,
                                      T* out, const std::array<T*, W::size + 1>& gout) {
    using G = typename Low::graph_type;
    using P = data_plan<typename Low::list, W, data_vars_t<B...>, Low::root_index[0]>;
    using plan = reverse_plan<G, W, Low::root_index>;
    constexpr std::size_t root = Low::root_index[0];
    data_state<P> st{};
    phase_forward<P, 0>(st, bs, consts);
    auto loop = [&]<class V>(std::size_t i, std::size_t stop, V*) ETGRAD_LAMBDA_INLINE {
        constexpr std::size_t step = lanes<V>();
        store_t<G, V> bv;
        broadcast_scalars<P, V>(st, bv);
        for (; i + step <= stop; i += step) {
            data_ctx<V, T, B...> ctx{&bs, consts, i};
            [&]<class... Ss>(tlist<Ss...>*) ETGRAD_LAMBDA_INLINE {
                const int order[] = {0, (dfwd<V, P>(Ss{}, bv, ctx), 0)...};
                (void)order;
            }(static_cast<typename P::template pass_steps<1>*>(nullptr));
            auto put = [&](T* p, const V& v) ETGRAD_LAMBDA_INLINE {
                if constexpr (is_simd_batch<V>::value) {
                    v.store_unaligned(p + i);
                } else {
                    p[i] = v;
                }
            };
            put(out, bv.v[root]);
            if constexpr (Grad) {
                std::array<V, G::size> adj;
                adj[root] = to_num<V>(1.0);
                backward<G, V, plan>(bv, adj);
                [&]<class... Vs>(tlist<Vs...>*) ETGRAD_LAMBDA_INLINE {
                    std::size_t k = 0;
                    (
                        [&]() ETGRAD_LAMBDA_INLINE {
                            if constexpr (contains_c<typename G::list, Vs>::value) {
                                constexpr std::size_t j = index_in<typename G::list, Vs>::value;
                                if constexpr (plan::first[j] != none) {
                                    put(gout[k], adj[j]);
                                } else {
                                    put(gout[k], to_num<V>(0.0));
                                }
                            } else {
                                put(gout[k], to_num<V>(0.0));
                            }
                            ++k;
                        }(),
                        ...);
                }(static_cast<W*>(nullptr));
            }
        }
        return i;
    };
    std::size_t i = loop(begin, end, static_cast<simd_batch<T>*>(nullptr));
    loop(i, end, static_cast<T*>(nullptr));
}

template <class T, class W, class Low, bool Grad, class... B>
void elementwise_run(const btup<B...>& bs, const double* consts, std::size_t N, T* out,
                     const std::array<T*, W::size + 1>& gout, unsigned threads) {
    const std::size_t nblocks = (N + block_size - 1) / block_size;
    if (threads <= 1 || nblocks <= 1) {
        elementwise_range<T, W, Low, Grad>(bs, consts, 0, N, out, gout);
        return;
    }
    parallel_blocks(threads, nblocks, [&](std::size_t b) {
        elementwise_range<T, W, Low, Grad>(bs, consts, b * block_size, std::min(N, (b + 1) * block_size), out, gout);
    });
}

inline unsigned thread_count(par_t p) {
    unsigned n = p.threads != 0 ? p.threads : std::thread::hardware_concurrency();
    return n == 0 ? 1 : n;
}

template <class Out, class E, class... B>
void eval_into_scalar(unsigned threads, Out&& out, const E& e, const B&... b) {
    check_bindings_list<B...>();
    using T0 = typename data_elem_of<B...>::type;
    using T = std::conditional_t<std::is_void_v<T0>, range_elem_t<Out>, T0>;
    check_output_range<T, Out>();
    using Low = lowered<E>;
    check_bound<typename vars_in<typename Low::list>::type, B...>();
    using P = data_plan<typename Low::list, tlist<>, data_vars_t<B...>, Low::root_index[0]>;
    std::size_t N = any_data_v<B...> ? checked_length(b...) : std::ranges::size(out);
    if (std::ranges::size(out) != N) {
        throw std::invalid_argument(
            message("etgrad::eval_into: the output has ", std::ranges::size(out), " elements but the data has ", N));
    }
    check_nonempty<P>(N);
    Low low(e);
    btup<B...> bs(b...);
    T* o = std::ranges::data(out);
    if constexpr (P::S == 0) {
        elementwise_run<T, tlist<>, Low, false>(bs, low.consts.data(), N, o, std::array<T*, 1>{}, threads);
    } else if constexpr (!P::elementwise) {
        T v = data_evaluate(threads, e, b...);
        std::fill(o, o + N, v);
    } else {
        data_state<P> st{};
        st.N = N;
        forward_stages<P, P::S, T>(st, bs, low.consts.data(), threads);
        run_pass<P, P::S + 1, false, false, T>(st, bs, low.consts.data(), o, threads);
    }
}

template <class Out, class E, class... B>
void tensor_data_eval_into(unsigned threads, Out&& out, const E& f, const B&... b);  // etgrad/tensor/data.hpp

template <class Out, class E, class... B>
void eval_into_impl(unsigned threads, Out&& out, const E& e, const B&... b) {
    static_assert(Expr<E>, "etgrad::eval_into(out, e, bindings...): e must be an expression");
    if constexpr (tensor_path_v<E, B...>) {
        // eg::par: the samples in chunks that depend on n alone, each written on its own.
        tensor_data_eval_into(threads, static_cast<Out&&>(out), e, b...);
    } else {
        eval_into_scalar(threads, static_cast<Out&&>(out), e, b...);
    }
}

template <class Out, class Grads, class E, class... Vs, class... B>
void tensor_data_value_and_grad_into(unsigned threads, Out&& out, Grads&& grads, const E& e,
                                     const B&... b);  // etgrad/tensor/data.hpp

template <class Out, class Grads, class E, class... Vs, class... B>
void value_and_grad_into_impl(unsigned threads, Out&& out, Grads&& grads, const E& e, wrt_t<Vs...>, const B&... b) {
    static_assert(Expr<E>, "etgrad::value_and_grad_into(out, grads, e, eg::wrt(...), bindings...): e must be an expression");
    if constexpr (tensor_path_v<E, B...>) {
        // eg::par: both passes in chunks that depend on n alone, each sample written on its own.
        static_assert(std::tuple_size_v<std::remove_cvref_t<Grads>> == sizeof...(Vs),
                      "etgrad::value_and_grad_into: give one gradient output per variable of wrt(...), e.g. "
                      "std::tie(gx)");
        tensor_data_value_and_grad_into<Out, Grads, E, Vs...>(threads, static_cast<Out&&>(out),
                                                               static_cast<Grads&&>(grads), e, b...);
        return;
    } else {
    check_bindings_list<B...>();
    using T0 = typename data_elem_of<B...>::type;
    using T = std::conditional_t<std::is_void_v<T0>, range_elem_t<Out>, T0>;
    check_output_range<T, Out>();
    using W = tlist<Vs...>;
    static_assert(sizeof...(Vs) > 0, "etgrad::value_and_grad_into: name the variables: eg::wrt(x, y)");
    static_assert(std::tuple_size_v<std::remove_cvref_t<Grads>> == sizeof...(Vs),
                  "etgrad::value_and_grad_into: give one gradient output per variable of wrt(...), e.g. "
                  "std::tie(dx, dy)");
    using Low = lowered<E>;
    check_bound<typename vars_in<typename Low::list>::type, B...>();
    using P = data_plan<typename Low::list, W, data_vars_t<B...>, Low::root_index[0]>;
    static_assert(P::S == 0,
                  "etgrad::value_and_grad_into: per-sample derivatives of an expression with a reduction inside "
                  "(eg::sum, eg::mean, ...) are not supported; use value_and_grad on a reduced loss");
    std::size_t N = any_data_v<B...> ? checked_length(b...) : std::ranges::size(out);
    std::array<T*, sizeof...(Vs) + 1> gout{};
    std::string err;
    if (std::ranges::size(out) != N) {
        err = message("etgrad::value_and_grad_into: the output has ", std::ranges::size(out),
                      " elements but the data has ", N);
    }
    [&]<std::size_t... Is>(std::index_sequence<Is...>) {
        (
            [&] {
                auto&& r = std::get<Is>(grads);
                check_output_range<T, decltype(r)>();
                gout[Is] = std::ranges::data(r);
                if (std::ranges::size(r) != N && err.empty()) {
                    err = message("etgrad::value_and_grad_into: the gradient output of '", at_t<W, Is>::name,
                                  "' has ", std::ranges::size(r), " elements but the data has ", N);
                }
            }(),
            ...);
    }(std::index_sequence_for<Vs...>{});
    if (!err.empty()) {
        throw std::invalid_argument(err);
    }
    Low low(e);
    btup<B...> bs(b...);
    elementwise_run<T, W, Low, true>(bs, low.consts.data(), N, std::ranges::data(out), gout, threads);
    }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Public entry points.

namespace detail {
template <class... B>
struct data_loops_need_etgrad_data_hpp {
    template <class E>
    static auto evaluate(const E& e, const B&... b) {
        return data_evaluate(1, e, b...);
    }
    template <class W, class E>
    static auto value_and_grad(const E& e, const B&... b) {
        return data_value_and_grad<W>(1, e, b...);
    }
};
}  // namespace detail

namespace detail {
template <class... B>
struct tensor_data_entry;  // etgrad/tensor/data.hpp
}  // namespace detail

/// value_and_grad spread over threads: `eg::value_and_grad(eg::par, loss, eg::wrt(w, b), ...)`.
/// Fixed blocks (scalar graphs) or chunks (graphs with tensors), chosen from the number of samples
/// alone and combined in order: the same bits for any number of threads.
template <class F, class... A>
auto value_and_grad(par_t p, const F& f, const A&... a) {
    if constexpr (sizeof...(A) > 0 && (detail::is_wrt_v<A> || ...)) {
        return [&]<class... Vs, class... B>(wrt_t<Vs...>, const B&... b) {
            if constexpr (detail::tensor_path_v<F, B...>) {
                return detail::tensor_data_entry<B...>::template value_and_grad_threads<detail::tlist<Vs...>, true>(
                    detail::thread_count(p), f, b...);
            } else {
                (void)detail::scalar_only<F>{};
                return detail::data_value_and_grad<detail::tlist<Vs...>>(detail::thread_count(p), f, b...);
            }
        }(a...);
    } else if constexpr (detail::tensor_path_v<F, A...>) {
        return detail::tensor_data_entry<A...>::template value_and_grad_threads<detail::all_vars_t<F>, false>(
            detail::thread_count(p), f, a...);
    } else {
        (void)detail::scalar_only<F>{};
        return detail::data_value_and_grad<void>(detail::thread_count(p), f, a...);
    }
}

/// Write e's value for every sample to out (a contiguous range of the data's element type):
/// `eg::eval_into(prices, bs_call, S = spots, K = strikes, r = 0.01, ...)`. Throws
/// std::invalid_argument, before writing anything, when lengths differ.
template <class Out, class E, class... B>
    requires(!std::is_same_v<std::remove_cvref_t<Out>, par_t>)
void eval_into(Out&& out, const E& e, const B&... b) {
    detail::eval_into_impl(1, static_cast<Out&&>(out), e, b...);
}
/// eval_into spread over threads: `eg::eval_into(eg::par, out, e, ...)`.
template <class Out, class E, class... B>
void eval_into(par_t p, Out&& out, const E& e, const B&... b) {
    detail::eval_into_impl(detail::thread_count(p), static_cast<Out&&>(out), e, b...);
}

/// Per sample: e's value into out and its derivative with respect to each variable of wrt(...) into
/// the matching range of grads (a tuple of ranges, e.g. `std::tie(delta, vega)`, or a std::array
/// of spans). Throws std::invalid_argument, before writing anything, when sizes differ.
template <class Out, class Grads, class E, class... Vs, class... B>
    requires(!std::is_same_v<std::remove_cvref_t<Out>, par_t>)
void value_and_grad_into(Out&& out, Grads&& grads, const E& e, wrt_t<Vs...> w, const B&... b) {
    detail::value_and_grad_into_impl(1, static_cast<Out&&>(out), static_cast<Grads&&>(grads), e, w, b...);
}
/// value_and_grad_into spread over threads.
template <class Out, class Grads, class E, class... Vs, class... B>
void value_and_grad_into(par_t p, Out&& out, Grads&& grads, const E& e, wrt_t<Vs...> w, const B&... b) {
    detail::value_and_grad_into_impl(detail::thread_count(p), static_cast<Out&&>(out), static_cast<Grads&&>(grads), e,
                                     w, b...);
}

/// How many passes over the data `eg::value_and_grad(e, eg::wrt(...), bindings...)` makes: 1 when
/// the root is linear in its sums and means, 2 for one level of reductions otherwise (a prod or a
/// logsumexp needs its value before its backward pass), 2S or 2S - 1 for S nested levels.
template <class E, class... Vs, class... B>
constexpr int data_passes(const E&, wrt_t<Vs...>, const B&...) {
    using Low = detail::lowered<E>;
    using P = detail::data_plan<typename Low::list, detail::tlist<Vs...>, detail::data_vars_t<B...>, Low::root_index[0]>;
    return P::grad_passes;
}

/// Names the variables that will be bound to data, for compile-time questions such as
/// `static_assert(eg::data_passes(loss, eg::wrt(w, b), eg::per_sample(x, y)) == 1)`.
template <class... Vs>
struct per_sample_t {};
template <class... Vs>
constexpr per_sample_t<Vs...> per_sample(const Vs&...) {
    static_assert((detail::is_var_c<Vs>::value && ...), "etgrad::per_sample(...) takes variables");
    return {};
}
template <class E, class... Vs, class... Ds>
constexpr int data_passes(const E&, wrt_t<Vs...>, per_sample_t<Ds...>) {
    using Low = detail::lowered<E>;
    using P = detail::data_plan<typename Low::list, detail::tlist<Vs...>, detail::tlist<Ds...>, Low::root_index[0]>;
    return P::grad_passes;
}

}  // namespace etgrad
