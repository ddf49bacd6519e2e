// etgrad/tensor/data.hpp — fused SIMD loops over data for graphs with shaped nodes.
//
// Per-sample values (x = eg::rows<64>(X), label = ys, y = ys) are arrays of xsimd batches, one sample
// per lane: a per-sample vector of 64 is 64 batch registers' worth of values, and a matvec by a
// parameter matrix broadcasts each weight against a batch of samples (no horizontal operation).
// Parameters and what depends on them only are uniform: computed once per call in T. The graph
// splits at the reductions over samples (eg::sum, eg::mean of a per-sample scalar):
//   1. the uniform nodes below the reductions, once;
//   2. when the root is not linear in the reductions (log(mean(...)), ...), a forward pass over the
//      data for the reductions' values;
//   3. the uniform nodes above the reductions, forward and backward: each reduction's adjoint;
//   4. one pass over the data, forward and backward per batch: each sample's adjoints, parameter
//      adjoints accumulated per lane (a weight's adjoint over the samples is a sum of outer
//      products, accumulated in registers and memory per lane, reduced once at the end);
//   5. the uniform nodes backward, into the gradient.
// So a loss linear in its reductions (mean(ce) + 0.01 * sum(W * W)) costs one pass, others two.
// The last samples run as one padded batch (the last sample repeated, its lanes' contributions
// masked), so that every sample goes through the same code.
#pragma once

#include "../data.hpp"
#include "eval.hpp"
#include "lanes.hpp"
#include "outer.hpp"

namespace etgrad::detail {

template <class V>
inline constexpr bool is_sample_value_v = is_rows_ref_v<V> || is_label_ref_v<V> || is_data_ref_v<V>;
template <class B>
struct is_sample_binding_c : std::false_type {};
template <auto N, class V>
struct is_sample_binding_c<binding<N, V>> : std::bool_constant<is_sample_value_v<V>> {};

/// The per-sample number type of a data loop over T: T's SIMD batch, samples in lanes; a dual
/// number itself (eg::hvp over data, tensor_data_hvp: one sample per step, no SIMD).
template <class T>
struct data_lane {
    using type = simd_batch<T>;
};
template <class T, std::size_t N>
struct data_lane<dual<T, N>> {
    using type = dual<T, N>;
};

/// The kinds of the nodes of L in a data call with data variables DV.
template <class L, class DV>
struct data_kinds;
template <class... Ns, class DV>
struct data_kinds<tlist<Ns...>, DV> {
    using G = graph<tlist<Ns...>>;
    static constexpr std::size_t n = sizeof...(Ns);
    static constexpr std::array<int, n> red = {red_kind_c<Ns>::value...};
    struct facts {
        std::array<bool, n> ps{};   // per-sample
        std::array<bool, n> dep{};  // depends on a reduction over samples (or is one)
        bool two_stage = false;     // a per-sample node reads a reduction's value
        bool bad_reduction = false; // a reduction other than sum or mean, or of a uniform value
    };
    static constexpr facts f = [] {
        facts r{};
        constexpr bool is_data[] = {contains_c<DV, Ns>::value..., false};
        for (std::size_t i = 0; i < n; ++i) {
            const node_info& inf = G::info[i];
            bool ps = is_data[i], dep = false;
            for (std::size_t s = 0; s < inf.arity; ++s) {
                ps = ps || r.ps[inf.child[s]];
                dep = dep || r.dep[inf.child[s]];
            }
            if (red[i] != 0) {
                r.bad_reduction = r.bad_reduction || (red[i] != 1 && red[i] != 2) || !ps;
                r.two_stage = r.two_stage || dep;
                ps = false;
                dep = true;
            } else if (ps && dep) {
                r.two_stage = true;
            }
            r.ps[i] = ps;
            r.dep[i] = dep;
        }
        return r;
    }();
    static constexpr std::array<bool, n> ps = f.ps;
};

/// Is the root linear in the reductions along every path (so that the reductions' adjoints need
/// none of their values, and one pass over the data does forward and backward)?
template <class L, class K>
struct linear_in_reductions;
template <class... Ns, class K>
struct linear_in_reductions<tlist<Ns...>, K> {
    using G = graph<tlist<Ns...>>;
    template <class N>
    struct op_kind : std::integral_constant<int, 0> {};
    template <class Op, class... Bs>
    struct op_kind<basic_node<Op, Bs...>>
        : std::integral_constant<int, std::is_same_v<Op, ops::add_op> || std::is_same_v<Op, ops::sub_op> ||
                                              std::is_same_v<Op, ops::neg_op>
                                          ? 1
                                          : std::is_same_v<Op, ops::mul_op> ? 2
                                          : std::is_same_v<Op, ops::div_op> ? 3
                                                                            : 4> {};
    static constexpr bool value = [] {
        constexpr int kind[] = {op_kind<Ns>::value..., 0};
        for (std::size_t i = 0; i < sizeof...(Ns); ++i) {
            if (!K::f.dep[i] || K::red[i] != 0) {
                continue;
            }
            const node_info& inf = G::info[i];
            if (kind[i] == 2 && K::f.dep[inf.child[0]] && K::f.dep[inf.child[1]]) {
                return false;
            }
            if (kind[i] == 3 && K::f.dep[inf.child[1]]) {
                return false;
            }
            if (kind[i] == 4 || kind[i] == 0) {
                return false;
            }
        }
        return true;
    }();
};

template <class K>
struct pick_lower {
    static constexpr bool keep(std::size_t i) { return !K::ps[i] && !K::f.dep[i]; }
};
template <class K>
struct pick_upper {
    static constexpr bool keep(std::size_t i) { return K::f.dep[i] && K::red[i] == 0; }
};
template <class K>
struct pick_sample {
    static constexpr bool keep(std::size_t i) { return K::ps[i]; }
};
template <class K>
struct pick_uniform_bwd {
    static constexpr bool keep(std::size_t i) { return !K::ps[i] && K::red[i] == 0; }
};

/// Sample s of per-sample data is row order[s] when the data were given an order
/// (eg::rows<F>(X, order), eg::select(labels, order)), row s otherwise.
template <class V>
ETGRAD_INLINE constexpr const std::size_t* sample_order(const V& v) {
    if constexpr (requires { v.order; }) {
        return v.order;
    } else {
        return nullptr;
    }
}
template <class V>
ETGRAD_INLINE constexpr std::size_t sample_total(const V& v) {
    if constexpr (requires { v.total; }) {
        return v.total;
    } else {
        return v.n;
    }
}
template <class V>
ETGRAD_INLINE constexpr std::size_t sample_row(const V& v, std::size_t s) {
    const std::size_t* o = sample_order(v);
    return o ? o[s] : s;
}

/// Bindings of a data call: parameters as in a scalar call, per-sample values loaded per batch
/// (the current batch starts at sample s0; lanes from `valid` on repeat the last valid sample).
template <class T, class V, class... B>
struct tdata_ctx : tbindings<T, B...> {
    std::size_t s0 = 0;
    std::size_t valid = 0;

    template <class Var, class Slot>
    ETGRAD_INLINE void load_sample(Slot& out) const {
        constexpr std::size_t i = binding_index<Var, B...>();
        const auto& v = tget<i>(this->bs).value;
        constexpr std::size_t W = lanes<V>();
        constexpr std::size_t F = std::tuple_size_v<Slot>;
        using E = typename scalar_of<V>::type;
        if constexpr (is_simd_batch<V>::value && std::is_same_v<E, std::remove_cv_t<std::remove_reference_t<decltype(*v.ptr)>>>) {
            // Rows into lanes: element j of lane l is sample s0 + l's element j. Whole W×W blocks
            // of columns are loaded row by row and transposed in registers; the columns left over
            // (all of them where no full interleave exists, AVX2) with the SIMD gather.
            constexpr std::size_t JT = transposes_in_registers<V> ? F / W * W : 0;
            if constexpr (JT != 0) {
                const E* row[W];
                for (std::size_t l = 0; l < W; ++l) {
                    row[l] = v.ptr + sample_row(v, s0 + (l < valid ? l : valid - 1)) * F;
                }
                for (std::size_t j0 = 0; j0 < JT; j0 += W) {
                    std::array<V, W> r;
                    for (std::size_t l = 0; l < W; ++l) {
                        r[l] = V::load_unaligned(row[l] + j0);
                    }
                    transpose_block(r);
                    for (std::size_t k = 0; k < W; ++k) {
                        out[j0 + k] = r[k];
                    }
                }
                if constexpr (JT == F) {
                    return;
                }
            }
            using I = std::conditional_t<sizeof(E) == 4, std::int32_t, std::int64_t>;
            using IB = xsimd::batch<I, typename V::arch_type>;
            static_assert(IB::size == W);
            const std::size_t* order = sample_order(v);
            if (order == nullptr || sizeof(I) == 8 || sample_total(v) * F <= std::size_t{0x7fffffff}) {
                alignas(64) I idx[W];
                const E* base = order == nullptr ? v.ptr + s0 * F : v.ptr;
                for (std::size_t l = 0; l < W; ++l) {
                    const std::size_t s = l < valid ? l : valid - 1;
                    idx[l] = static_cast<I>((order == nullptr ? s : order[s0 + s]) * F);
                }
                const IB ib = IB::load_aligned(idx);
                for (std::size_t j = JT; j < F; ++j) {
                    out[j] = V::gather(base + j, ib);
                }
                return;
            }
        }
        alignas(64) E buf[F][W];
        for (std::size_t l = 0; l < W; ++l) {
            const std::size_t s = sample_row(v, s0 + (l < valid ? l : valid - 1));
            for (std::size_t j = 0; j < F; ++j) {
                buf[j][l] = static_cast<E>(v.ptr[s * F + j]);
            }
        }
        for (std::size_t j = 0; j < F; ++j) {
            if constexpr (is_simd_batch<V>::value) {
                out[j] = V::load_aligned(buf[j]);
            } else {
                out[j] = buf[j][0];
            }
        }
    }
};

template <class V>
ETGRAD_INLINE V lane_mask_value(std::size_t valid) {
    using E = typename scalar_of<V>::type;
    alignas(64) E m[lanes<V>()];
    for (std::size_t l = 0; l < lanes<V>(); ++l) {
        m[l] = l < valid ? E(1) : E(0);
    }
    if constexpr (is_simd_batch<V>::value) {
        return V::load_aligned(m);
    } else {
        return m[0];
    }
}
template <class V>
ETGRAD_INLINE double lane_sum(const V& v) {
    using E = typename scalar_of<V>::type;
    alignas(64) E m[lanes<V>()];
    if constexpr (is_simd_batch<V>::value) {
        v.store_aligned(m);
    } else {
        m[0] = v;
    }
    double s = 0;
    for (std::size_t l = 0; l < lanes<V>(); ++l) {
        s += static_cast<double>(m[l]);
    }
    return s;
}
/// A dual number's one lane (eg::hvp over data): its value. A reduction's total keeps no tangent,
/// which tensor_data_hvp allows only where no derivative reads a reduction's value.
template <class T, std::size_t N>
ETGRAD_INLINE double lane_sum(const dual<T, N>& v) {
    return static_cast<double>(v.v);
}

/// Labels in range for every pick(z, label) of the graph: std::invalid_argument before any work.
template <class L, class... B, class Tup>
void check_labels(const Tup& bs) {
    [&]<class... Ns>(tlist<Ns...>*) {
        (
            [&] {
                if constexpr (is_node_c<Ns>::value) {
                    if constexpr (std::is_same_v<typename Ns::op, ops::pick_op>) {
                        using Z = rm<decltype(Ns{}.template child<0>())>;
                        using Y = rm<decltype(Ns{}.template child<1>())>;
                        if constexpr (is_var_c<Y>::value) {
                            constexpr std::size_t i = binding_index<Y, B...>();
                            if constexpr (i < sizeof...(B)) {
                                const auto& v = tget<i>(bs).value;
                                if constexpr (is_label_ref_v<rm<decltype(v)>>) {
                                    constexpr std::size_t C = shape_of<Z>::type::size;
                                    for (std::size_t s = 0; s < v.n; ++s) {
                                        const auto lab = v.ptr[sample_row(v, s)];
                                        if (lab < 0 || static_cast<std::size_t>(lab) >= C) {
                                            std::string m = "etgrad: pick(z, ";
                                            append(m, Y::name, "): label ", static_cast<long long>(lab),
                                                   " of sample ", s, " is out of range [0, ", C, ")");
                                            throw std::invalid_argument(m);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }(),
            ...);
    }(static_cast<L*>(nullptr));
}

template <class V>
std::size_t sample_count(const V& v) {
    return v.n;
}

/// The common number of samples; std::invalid_argument naming each data variable and its length
/// when they differ, or when a gradient output has the wrong size.
template <class... B, class Tup>
std::size_t tensor_data_length(const Tup& bs) {
    std::size_t n = 0;
    bool first = true, bad = false;
    // Each data variable and its length, for the message (built only on error: no allocation).
    auto each = [&](auto&& f) {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            (
                [&] {
                    using BV = rm<decltype(tget<Is>(bs).value)>;
                    if constexpr (is_sample_value_v<BV>) {
                        f(at_t<tlist<B...>, Is>::name, tget<Is>(bs).value);
                    }
                }(),
                ...);
        }(std::index_sequence_for<B...>{});
    };
    each([&](std::string_view name, const auto& v) {
        using BV = rm<decltype(v)>;
        if (!first && v.n != n) {
            bad = true;
        }
        n = v.n;
        first = false;
        if constexpr (is_rows_ref_v<BV>) {
            if (BV::has_grad && v.gn != v.total * BV::etgrad_shape::size) {
                std::string m = "etgrad: ";
                append(m, name, ".grad_into(out): out has ", v.gn, " elements, the data ",
                       v.total * BV::etgrad_shape::size);
                throw std::invalid_argument(m);
            }
        }
    });
    if (bad) {
        std::string msg = "etgrad: data of different lengths (samples):";
        each([&](std::string_view name, const auto& v) { append(msg, " ", name, " has ", v.n); });
        throw std::invalid_argument(msg);
    }
    return n;
}

template <class B>
struct is_sample_grad_binding_c : std::false_type {};
template <auto N, class V>
    requires requires { V::has_grad; }
struct is_sample_grad_binding_c<binding<N, V>> : std::bool_constant<V::has_grad> {};

/// The entries of a data call's gradient record: the differentiated variables not bound to data
/// (data gradients go to the caller's grad_into outputs).
template <class W, class DV>
struct keep_params;
template <class... Ws, class DV>
struct keep_params<tlist<Ws...>, DV> {
    struct type {
        static constexpr bool keep(std::size_t i) {
            constexpr bool v[] = {!contains_c<DV, Ws>::value..., false};
            return v[i];
        }
    };
};

/// The deferred outer products of a data call (outer_chunk): a matvec node I, per sample, whose
/// weight is uniform, differentiated, and accumulated per lane; nil for every other node.
template <class L, class K, class V, class Plan, class Lacc, std::size_t I>
struct defer_slot {
    static constexpr auto pick() {
        using N = at_t<L, I>;
        if constexpr (is_node_c<N>::value) {
            if constexpr (std::is_same_v<typename N::op, ops::matvec_op>) {
                constexpr std::size_t w = graph<L>::info[I].child[0], xv = graph<L>::info[I].child[1];
                if constexpr (K::ps[I] && !K::ps[w] && K::ps[xv] && Lacc::keep(w) && (Plan::m.contrib[I] & 1u) != 0) {
                    using S = shape_at<L, w>;
                    return static_cast<outer_chunk<V, S::dims[0], S::dims[1], w>*>(nullptr);
                } else {
                    return static_cast<nil*>(nullptr);
                }
            } else {
                return static_cast<nil*>(nullptr);
            }
        } else {
            return static_cast<nil*>(nullptr);
        }
    }
    using type = std::remove_pointer_t<decltype(pick())>;
};
template <class L, class K, class V, class Plan, class Lacc, class Seq>
struct defer_store_of;
template <class L, class K, class V, class Plan, class Lacc, std::size_t... Is>
struct defer_store_of<L, K, V, Plan, Lacc, std::index_sequence<Is...>> {
    using type = sstore<typename defer_slot<L, K, V, Plan, Lacc, Is>::type...>;
};

/// The weights whose every per-sample contribution comes through outer_chunks (slot 0 of a
/// deferred matvec): they need no lane accumulators.
template <class G, class K, class Plan, class DS>
struct deferred_only {
    static constexpr auto value = [] {
        constexpr auto deferred = []<std::size_t... Is>(std::index_sequence<Is...>) {
            return std::array<bool, G::size + 1>{deferred_at<DS, Is>::value..., false};
        }(std::make_index_sequence<G::size>{});
        std::array<bool, G::size + 1> r{};
        for (std::size_t w = 0; w < G::size; ++w) {
            bool any = false, all = true;
            for (std::size_t p = 0; p < G::size; ++p) {
                const node_info& inf = G::info[p];
                for (std::size_t c = 0; c < inf.arity; ++c) {
                    if (K::ps[p] && inf.child[c] == w && ((Plan::m.contrib[p] >> c) & 1u)) {
                        any = true;
                        all = all && c == 0 && deferred[p];
                    }
                }
            }
            r[w] = any && all;
        }
        return r;
    }();
};
template <class DS, class Seq>
struct outer_totals_of;
template <class DS, std::size_t... Is>
struct outer_totals_of<DS, std::index_sequence<Is...>> {
    using type = sstore<typename outer_total<rm<decltype(sget<Is>(std::declval<DS&>()))>>::type...>;
};

/// One data call: plan, stores, passes.
template <class T, class W, class E, class... B>
auto tensor_data_value_and_grad_threads(unsigned threads, const E& f, const B&... b) {
    check_bindings_list<B...>();
    using V = typename data_lane<T>::type;
    using Low = lowered<E>;
    using L = typename Low::list;
    using G = graph<L>;
    using DV = typename bound_vars_where<is_sample_binding_c, B...>::type;
    using K = data_kinds<L, DV>;
    static_assert(!K::f.two_stage,
                  "etgrad: with tensors, a per-sample value computed from a reduction over samples (two stages, "
                  "like x - mean(x)) is not supported yet; compute the inner reduction in a separate call");
    static_assert(!K::f.bad_reduction,
                  "etgrad: with tensors, the reductions over samples are eg::sum and eg::mean of a per-sample value "
                  "(eg::prod and eg::logsumexp over samples are not supported with shaped variables yet)");
    constexpr std::size_t root = Low::root_index[0];
    static_assert(!K::ps[root], "etgrad: the root of a data call with tensors must be reduced over the samples "
                                "(eg::mean(loss) or eg::sum(loss))");
    (void)scalar_root<shape_at<L, root>>{};
    (void)wrt_nonempty<typename vars_in<L>::type>{};
    check_bound<typename vars_in<L>::type, B...>();
    constexpr bool fused = linear_in_reductions<L, K>::value;

    tup<B...> bs(b...);
    const std::size_t n = tensor_data_length<B...>(bs);
    check_labels<L, B...>(bs);

    using plan = reverse_plan<G, W, Low::root_index>;
    struct keep_uadj {
        static constexpr bool keep(std::size_t i) { return !K::ps[i] && plan::active[i] && plan::first[i] != none; }
    };
    struct keep_badj {
        static constexpr bool keep(std::size_t i) { return K::ps[i] && plan::active[i] && plan::first[i] != none; }
    };
    // Lane accumulators: uniform nodes that a per-sample parent differentiates.
    struct keep_lacc {
        static constexpr bool keep(std::size_t i) {
            if (K::ps[i] || !keep_uadj::keep(i)) {
                return false;
            }
            for (std::size_t p = 0; p < G::size; ++p) {
                const node_info& inf = G::info[p];
                for (std::size_t s = 0; s < inf.arity; ++s) {
                    if (K::ps[p] && inf.child[s] == i && ((plan::m.contrib[p] >> s) & 1u)) {
                        return true;
                    }
                }
            }
            return false;
        }
    };
    using US = typename ustore_of<L, K, T, std::make_index_sequence<L::size>, B...>::type;
    using BS = typename bstore_of<L, K, V, std::make_index_sequence<L::size>>::type;
    using UA = typename astore_of<L, T, keep_uadj, std::make_index_sequence<L::size>>::type;
    using BA = typename astore_of<L, V, keep_badj, std::make_index_sequence<L::size>>::type;
    Low low(f);
    tdata_ctx<T, V, B...> ctx{{bs, low.consts.data()}};
    US u{};
    UA ua{};
    // Weight gradients of matvecs by per-sample vectors: deferred to outer_chunks, and summed
    // there; the other uniform nodes that per-sample parents differentiate: lane accumulators.
    using DS = typename defer_store_of<L, K, V, plan, keep_lacc, std::make_index_sequence<L::size>>::type;
    using only = deferred_only<G, K, plan, DS>;
    struct keep_la {
        static constexpr bool keep(std::size_t i) { return keep_lacc::keep(i) && !only::value[i]; }
    };
    using LA = typename astore_of<L, V, keep_la, std::make_index_sequence<L::size>>::type;
    using DT = typename outer_totals_of<DS, std::make_index_sequence<L::size>>::type;
    // What one chunk of samples needs of its own: per-sample values and adjoints, the lane
    // accumulators, the deferred outer products, the reductions' lane sums.
    struct worker {
        BS bv{};
        BA ba{};
        LA la;
        DS ds;
        std::array<double, G::size> total{};
        tdata_ctx<T, V, B...> ctx;
        explicit worker(const tdata_ctx<T, V, B...>& c) : ctx(c) {}
    };
    const auto reset = [&](worker& w) {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            (
                [&] {
                    if constexpr (is_outer_chunk<rm<decltype(sget<Is>(w.ds))>>::value) {
                        sget<Is>(w.ds).reset();
                    }
                    if constexpr (keep_la::keep(Is)) {
                        for (auto& e : sget<Is>(w.la)) {
                            e = V(0);
                        }
                    }
                }(),
                ...);
        }(std::make_index_sequence<G::size>{});
    };
    using steps = typename G::steps;
    using rsteps = typename G::rsteps;
    // The main state: the uniform sweeps (below and above the reductions, and backward at the end).
    worker main_w(ctx);
    tstate<K, US, BS, UA, BA, LA, DS> st{u, main_w.bv, ua, main_w.ba, main_w.la, &main_w.ds};

    // Reduction totals (in double) and the reductions' adjoints.
    std::array<double, G::size> total{};
    std::array<T, G::size> radj{};
    const bool any_mean = [] {
        for (int r : K::red) {
            if (r == 2) {
                return true;
            }
        }
        return false;
    }();
    if (any_mean && n == 0) {
        throw std::invalid_argument("etgrad: mean over zero samples");
    }
    auto set_reductions = [&](bool zero) {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            (
                [&] {
                    if constexpr (K::red[Is] != 0) {
                        const double v = zero ? 0.0 : (K::red[Is] == 2 ? total[Is] / static_cast<double>(n) : total[Is]);
                        sget<Is>(u)[0] = static_cast<T>(v);
                    }
                }(),
                ...);
        }(std::make_index_sequence<G::size>{});
    };
    // Deferred weight gradients whose x is a data variable (rows of the element type): the
    // block's rows, read by the outer products as they are (no transposing back).
    const auto set_direct_rows = [&](worker& w) ETGRAD_LAMBDA_INLINE {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
            (
                [&]() ETGRAD_LAMBDA_INLINE {
                    using D = rm<decltype(sget<Is>(w.ds))>;
                    if constexpr (is_outer_chunk<D>::value) {
                        constexpr std::size_t xc = G::info[Is].child[1];  // (a name first: nvcc)
                        using XN = at_t<L, xc>;
                        if constexpr (D::can_direct && is_var_c<XN>::value) {
                            constexpr std::size_t bi = binding_index<XN, B...>();
                            if constexpr (bi < sizeof...(B)) {
                                const auto& v = tget<bi>(bs).value;
                                using BV = rm<decltype(v)>;
                                if constexpr (is_rows_ref_v<BV>) {
                                    if constexpr (std::is_same_v<typename BV::value_type, typename D::E>) {
                                        auto& d = sget<Is>(w.ds);
                                        d.direct = true;
                                        const std::size_t F = BV::etgrad_shape::size;
                                        for (std::size_t l = 0; l < D::W; ++l) {
                                            const std::size_t sl = l < w.ctx.valid ? l : w.ctx.valid - 1;
                                            d.cur[l] = v.ptr + sample_row(v, w.ctx.s0 + sl) * F;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }(),
                ...);
        }(std::make_index_sequence<G::size>{});
    };
    // The samples [lo, hi) with worker w's state; Bwd: seeded with radj, adjoints per sample.
    auto run_chunk = [&]<bool Bwd>(std::bool_constant<Bwd>, worker& w, std::size_t lo, std::size_t hi) ETGRAD_LAMBDA_INLINE {
        tstate<K, US, BS, UA, BA, LA, DS> ws{u, w.bv, ua, w.ba, w.la, &w.ds};
        auto& bv = w.bv;
        auto& ba = w.ba;
        auto& wctx = w.ctx;
        w.total = {};
        std::array<V, G::size> racc{};
        constexpr std::size_t Wd = lanes<V>();
        for (std::size_t s0 = lo; s0 < hi; s0 += Wd) {
            wctx.s0 = s0;
            wctx.valid = hi - s0 < Wd ? hi - s0 : Wd;
            const V mask = lane_mask_value<V>(wctx.valid);
            tforward_steps<L, T, V, pick_sample<K>>(static_cast<steps*>(nullptr), ws, wctx);
            [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
                (
                    [&]() ETGRAD_LAMBDA_INLINE {
                        if constexpr (K::red[Is] != 0) {
                            constexpr std::size_t c = G::info[Is].child[0];
                            racc[Is] = racc[Is] + sget<c>(bv)[0] * mask;
                        }
                    }(),
                    ...);
            }(std::make_index_sequence<G::size>{});
            if constexpr (Bwd) {
                // Zeroed batch by batch (inline stores: a memset call costs more at these sizes).
                [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
                    (
                        [&]() ETGRAD_LAMBDA_INLINE {
                            if constexpr (keep_badj::keep(Is)) {
                                for (auto& e : sget<Is>(ba)) {
                                    e = V(0);
                                }
                            }
                        }(),
                        ...);
                }(std::make_index_sequence<G::size>{});
                [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
                    (
                        [&]() ETGRAD_LAMBDA_INLINE {
                            if constexpr (K::red[Is] != 0) {
                                constexpr std::size_t c = G::info[Is].child[0];
                                if constexpr (keep_badj::keep(c) && keep_uadj::keep(Is)) {
                                    sget<c>(ba)[0] = sget<c>(ba)[0] + V(radj[Is]) * mask;
                                }
                            }
                        }(),
                        ...);
                }(std::make_index_sequence<G::size>{});
                set_direct_rows(w);
                tbackward_steps<L, T, V, plan, pick_sample<K>>(static_cast<rsteps*>(nullptr), ws);
                // Per-sample gradients of data given grad_into.
                [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
                    (
                        [&]() ETGRAD_LAMBDA_INLINE {
                            using N = at_t<L, Is>;
                            if constexpr (is_var_c<N>::value && keep_badj::keep(Is)) {
                                constexpr std::size_t bi = binding_index<N, B...>();
                                const auto& v = tget<bi>(bs).value;
                                using BV = rm<decltype(v)>;
                                if constexpr (is_rows_ref_v<BV> && BV::has_grad) {
                                    constexpr std::size_t F = BV::etgrad_shape::size;
                                    using Ev = typename scalar_of<V>::type;
                                    alignas(64) Ev tmp[Wd];
                                    for (std::size_t j = 0; j < F; ++j) {
                                        if constexpr (is_simd_batch<V>::value) {
                                            sget<Is>(ba)[j].store_aligned(tmp);
                                        } else {
                                            tmp[0] = sget<Is>(ba)[j];
                                        }
                                        for (std::size_t l = 0; l < wctx.valid; ++l) {
                                            v.gptr[sample_row(v, s0 + l) * F + j] = static_cast<rm<decltype(*v.gptr)>>(tmp[l]);
                                        }
                                    }
                                } else if constexpr (is_data_ref_v<BV> && BV::has_grad) {
                                    using Ev = typename scalar_of<V>::type;
                                    alignas(64) Ev tmp[Wd];
                                    if constexpr (is_simd_batch<V>::value) {
                                        sget<Is>(ba)[0].store_aligned(tmp);
                                    } else {
                                        tmp[0] = sget<Is>(ba)[0];
                                    }
                                    for (std::size_t l = 0; l < wctx.valid; ++l) {
                                        v.gptr[s0 + l] = static_cast<rm<decltype(*v.gptr)>>(tmp[l]);
                                    }
                                }
                            }
                        }(),
                        ...);
                }(std::make_index_sequence<G::size>{});
            }
        }
        if constexpr (Bwd) {
            [&]<std::size_t... Is>(std::index_sequence<Is...>) {
                (
                    [&] {
                        if constexpr (is_outer_chunk<rm<decltype(sget<Is>(w.ds))>>::value) {
                            sget<Is>(w.ds).flush();
                        }
                    }(),
                    ...);
            }(std::make_index_sequence<G::size>{});
        }
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            (
                [&] {
                    if constexpr (K::red[Is] != 0) {
                        w.total[Is] = lane_sum(racc[Is]);
                    }
                }(),
                ...);
        }(std::make_index_sequence<G::size>{});
    };
    // The samples in C chunks, C from n alone (never from the thread count): each chunk's lane
    // accumulators and sums are added to the call's in chunk order, so that any number of threads
    // gives the same bits.
    constexpr std::size_t Wd = lanes<V>();
    const std::size_t C = std::min<std::size_t>(16, std::max<std::size_t>(1, (n + 1023) / 1024));
    const auto chunk_lo = [&](std::size_t c) { return c == C ? n : (c * n / C) / Wd * Wd; };
    LA acc{};
    std::array<bool, G::size + 1> acc_written{};
    DT dt{};
    const auto merge = [&]<bool Bwd>(std::bool_constant<Bwd>, const worker& w) {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            (
                [&] {
                    if constexpr (K::red[Is] != 0) {
                        total[Is] += w.total[Is];
                    }
                    if constexpr (Bwd && keep_la::keep(Is)) {
                        auto& a = sget<Is>(acc);
                        const auto& l = sget<Is>(w.la);
                        for (std::size_t e = 0; e < a.size(); ++e) {
                            a[e] = acc_written[Is] ? a[e] + l[e] : l[e];
                        }
                        acc_written[Is] = true;
                    }
                    if constexpr (Bwd && is_outer_chunk<rm<decltype(sget<Is>(w.ds))>>::value) {
                        const auto& d = sget<Is>(w.ds);
                        auto& t = sget<Is>(dt);
                        if (d.written) {
                            d.fold_into(t.sum.data(), t.written);
                            t.written = true;
                        }
                    }
                }(),
                ...);
        }(std::make_index_sequence<G::size>{});
    };
    auto pass = [&]<bool Bwd>(std::bool_constant<Bwd> bwd) {
        total = {};
        if (threads <= 1 || C <= 1) {
            for (std::size_t c = 0; c < C; ++c) {
                if constexpr (Bwd) {
                    reset(main_w);
                }
                run_chunk(bwd, main_w, chunk_lo(c), chunk_lo(c + 1));
                merge(bwd, main_w);
            }
        } else {
            std::vector<worker> ws(C, worker(ctx));
            parallel_blocks(threads, C, [&](std::size_t c) {
                if constexpr (Bwd) {
                    reset(ws[c]);
                }
                run_chunk(bwd, ws[c], chunk_lo(c), chunk_lo(c + 1));
            });
            for (std::size_t c = 0; c < C; ++c) {
                merge(bwd, ws[c]);
            }
        }
    };
    // The reductions' adjoints from the uniform nodes above them.
    auto upper = [&] {
        tforward_steps<L, T, V, pick_upper<K>>(static_cast<steps*>(nullptr), st, ctx);
        ua = UA{};
        constexpr std::size_t r = root;
        if constexpr (keep_uadj::keep(r)) {
            sget<r>(ua)[0] = num_cast<T>(1.0);
        }
    };

    tforward_steps<L, T, V, pick_lower<K>>(static_cast<steps*>(nullptr), st, ctx);
    if constexpr (!fused) {
        pass(std::false_type{});
        set_reductions(false);
    } else {
        set_reductions(true);
    }
    upper();
    tbackward_steps<L, T, V, plan, pick_upper<K>>(static_cast<rsteps*>(nullptr), st);
    [&]<std::size_t... Is>(std::index_sequence<Is...>) {
        (
            [&] {
                if constexpr (K::red[Is] != 0 && keep_uadj::keep(Is)) {
                    radj[Is] = sget<Is>(ua)[0];
                    if constexpr (K::red[Is] == 2) {
                        radj[Is] = radj[Is] / static_cast<T>(n);
                    }
                }
            }(),
            ...);
    }(std::make_index_sequence<G::size>{});
    pass(std::true_type{});
    set_reductions(false);
    upper();
    // Lane accumulators into the uniform adjoints, then the uniform backward sweep.
    [&]<std::size_t... Is>(std::index_sequence<Is...>) {
        (
            [&] {
                if constexpr (keep_la::keep(Is)) {
                    if (acc_written[Is]) {
                        // One sum of the lanes per element, in double.
                        for (std::size_t e = 0; e < tgraph<L>::size[Is]; ++e) {
                            if constexpr (is_simd_batch<V>::value) {
                                sget<Is>(ua)[e] = sget<Is>(ua)[e] + static_cast<T>(lane_sum(sget<Is>(acc)[e]));
                            } else {
                                sget<Is>(ua)[e] = sget<Is>(ua)[e] + static_cast<T>(sget<Is>(acc)[e]);
                            }
                        }
                    }
                }
                if constexpr (is_outer_chunk<rm<decltype(sget<Is>(main_w.ds))>>::value) {
                    const auto& t = sget<Is>(dt);
                    constexpr std::size_t tw = rm<decltype(sget<Is>(main_w.ds))>::target;
                    if (t.written) {
                        for (std::size_t e = 0; e < t.sum.size(); ++e) {
                            sget<tw>(ua)[e] = sget<tw>(ua)[e] + static_cast<T>(t.sum[e]);
                        }
                    }
                }
            }(),
            ...);
    }(std::make_index_sequence<G::size>{});
    tbackward_steps<L, T, V, plan, pick_uniform_bwd<K>>(static_cast<rsteps*>(nullptr), st);

    using RW = typename select_list<W, typename keep_params<W, DV>::type>::type;
    auto g = gradient_record<T, RW, L, keep_uadj>(ua);
    return value_and_gradient<T, decltype(g)>{static_cast<T>(sget<root>(u)[0]), g};
}

/// One thread.
template <class T, class W, class E, class... B>
auto tensor_data_value_and_grad(const E& f, const B&... b) {
    return tensor_data_value_and_grad_threads<T, W>(1, f, b...);
}

/// eval_into with tensors: the per-sample value of f for every sample, written to out (n rows of
/// the root's elements, row-major). One forward pass over the data; no reduction over samples.
/// On `threads` threads (eg::par): the samples in the chunks of a data call (their number from n
/// alone, boundaries multiples of the lane count), each with its own per-sample store, so that
/// every sample goes through the same batch as on one thread: the same bits for any thread count.
template <class Out, class E, class... B>
void tensor_data_eval_into(unsigned threads, Out&& out, const E& f, const B&... b) {
    check_bindings_list<B...>();
    using T = number_t<B...>;
    using V = simd_batch<T>;
    using Low = lowered<E>;
    using L = typename Low::list;
    using DV = typename bound_vars_where<is_sample_binding_c, B...>::type;
    using K = data_kinds<L, DV>;
    constexpr std::size_t root = Low::root_index[0];
    static_assert(!K::f.dep[root],
                  "etgrad::eval_into(out, e, ...): e is evaluated per sample and must not reduce over the samples "
                  "(for a reduction over the data use eg::evaluate or the expression's call)");
    static_assert(K::ps[root], "etgrad::eval_into(out, e, ...): e does not depend on the per-sample data");
    using S = shape_at<L, root>;
    using O = std::remove_cv_t<std::ranges::range_value_t<Out>>;
    static_assert(std::ranges::contiguous_range<Out> && std::ranges::sized_range<Out> && Real<O> &&
                      !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<Out>>>,
                  "etgrad::eval_into(out, e, ...): out must be a writable contiguous range of float or double");
    check_bound<typename vars_in<L>::type, B...>();
    tup<B...> bs(b...);
    const std::size_t n = tensor_data_length<B...>(bs);
    check_labels<L, B...>(bs);
    if (std::ranges::size(out) != n * S::size) {
        std::string m = "etgrad::eval_into: the output has ";
        append(m, std::ranges::size(out), " elements, the data ", n, " samples of ", S::size);
        throw std::invalid_argument(m);
    }
    using US = typename ustore_of<L, K, T, std::make_index_sequence<L::size>, B...>::type;
    using BS = typename bstore_of<L, K, V, std::make_index_sequence<L::size>>::type;
    Low low(f);
    tdata_ctx<T, V, B...> ctx{{bs, low.consts.data()}};
    US u{};
    BS bv{};
    sstore<> none{};
    tstate<K, US, BS, sstore<>, sstore<>, sstore<>> st{u, bv, none, none, none};
    using steps = typename graph<L>::steps;
    tforward_steps<L, T, V, pick_lower<K>>(static_cast<steps*>(nullptr), st, ctx);
    O* o = std::ranges::data(out);
    constexpr std::size_t Wd = lanes<V>();
    using Ev = typename scalar_of<V>::type;
    // The samples [lo, hi) (lo a multiple of Wd) with the per-sample store sv and the context c
    // (its s0 and valid); the uniform values u, computed above, are shared and only read.
    const auto run_range = [&](tdata_ctx<T, V, B...>& c, BS& sv, std::size_t lo, std::size_t hi) {
        tstate<K, US, BS, sstore<>, sstore<>, sstore<>> ws{u, sv, none, none, none};
        for (std::size_t s0 = lo; s0 < hi; s0 += Wd) {
            c.s0 = s0;
            c.valid = hi - s0 < Wd ? hi - s0 : Wd;
            tforward_steps<L, T, V, pick_sample<K>>(static_cast<steps*>(nullptr), ws, c);
            alignas(64) Ev tmp[Wd];
            for (std::size_t e = 0; e < S::size; ++e) {
                if constexpr (is_simd_batch<V>::value) {
                    sget<root>(sv)[e].store_aligned(tmp);
                } else {
                    tmp[0] = sget<root>(sv)[e];
                }
                for (std::size_t l = 0; l < c.valid; ++l) {
                    o[(s0 + l) * S::size + e] = static_cast<O>(tmp[l]);
                }
            }
        }
    };
    // The chunks of tensor_data_value_and_grad_threads: C from n alone, boundaries multiples of Wd.
    const std::size_t C = std::min<std::size_t>(16, std::max<std::size_t>(1, (n + 1023) / 1024));
    const auto chunk_lo = [&](std::size_t k) { return k == C ? n : (k * n / C) / Wd * Wd; };
    if (threads <= 1 || C <= 1) {
        run_range(ctx, bv, 0, n);
    } else {
        struct part {
            BS bv{};
            tdata_ctx<T, V, B...> ctx;
        };
        std::vector<part> parts(C, part{BS{}, ctx});
        parallel_blocks(threads, C,
                        [&](std::size_t k) { run_range(parts[k].ctx, parts[k].bv, chunk_lo(k), chunk_lo(k + 1)); });
    }
}

/// A per-sample binding given a gradient output: rows or data with grad_into(out).
template <class B, class R>
auto with_grad_output(const B& b, R& r) {
    using BV = typename B::value_type;
    using Ev = std::remove_cv_t<std::ranges::range_value_t<R>>;
    static_assert(std::is_same_v<Ev, typename BV::value_type>,
                  "etgrad::value_and_grad_into: a gradient output has another element type than its data");
    if constexpr (is_rows_ref_v<BV>) {
        rows_ref<typename BV::value_type, typename BV::etgrad_shape, true> v{
            b.value.ptr, b.value.n, std::ranges::data(r), std::ranges::size(r), b.value.order, b.value.total};
        return typename rebind_binding<B, decltype(v)>::type{v};
    } else {
        data_ref<typename BV::value_type, true> v{b.value.ptr, b.value.n, std::ranges::data(r), std::ranges::size(r)};
        return typename rebind_binding<B, decltype(v)>::type{v};
    }
}

/// value_and_grad_into with tensors: e's value for every sample into out, and e's derivative with
/// respect to each per-sample variable of wrt(...) into the matching output (n rows of the
/// variable's elements). Two passes: eval_into, then the reverse pass of sum(e) over the samples,
/// whose per-sample input gradients are each sample's derivative. On `threads` threads (eg::par)
/// both passes run in chunks that depend on n alone: the same bits for any thread count.
template <class Out, class Grads, class E, class... Vs, class... B>
void tensor_data_value_and_grad_into(unsigned threads, Out&& out, Grads&& grads, const E& e, const B&... b) {
    using DV = typename bound_vars_where<is_sample_binding_c, B...>::type;
    static_assert((contains_c<DV, Vs>::value && ...),
                  "etgrad::value_and_grad_into with tensors: the variables of wrt(...) must be bound to per-sample "
                  "data (x = eg::rows<F>(X), or x = xs for a scalar per sample); a parameter's derivative is not per "
                  "sample: use value_and_grad on a reduced loss");
    using Low = lowered<E>;
    constexpr bool scalar = shape_at<typename Low::list, Low::root_index[0]>::rank == 0;
    static_assert(!(contains_c<DV, Vs>::value && ...) || scalar,
                  "etgrad::value_and_grad_into: e must be a scalar per sample (its derivative is then shaped like "
                  "each variable)");
    if constexpr ((contains_c<DV, Vs>::value && ...) && scalar) {
    tup<B...> bs(b...);
    const std::size_t n = tensor_data_length<B...>(bs);
    // Every size first: nothing is written when one is wrong.
    [&]<std::size_t... Ks>(std::index_sequence<Ks...>) {
        (
            [&] {
                using V = at_t<tlist<Vs...>, Ks>;
                auto&& r = std::get<Ks>(grads);
                const std::size_t want = n * V::shape_type::size;
                if (std::ranges::size(r) != want) {
                    std::string m = "etgrad::value_and_grad_into: the gradient output of '";
                    append(m, V::name, "' has ", std::ranges::size(r), " elements, the data ", n, " samples of ",
                           V::shape_type::size);
                    throw std::invalid_argument(m);
                }
            }(),
            ...);
    }(std::index_sequence_for<Vs...>{});
    if (std::ranges::size(out) != n) {
        std::string m = "etgrad::value_and_grad_into: the output has ";
        append(m, std::ranges::size(out), " elements but the data has ", n, " samples");
        throw std::invalid_argument(m);
    }
    tensor_data_eval_into(threads, out, e, b...);
    const auto rebound = [&](const auto& bi) -> decltype(auto) {
        using Bi = rm<decltype(bi)>;
        constexpr std::size_t k = index_in<tlist<Vs...>, typename variable_of<Bi>::type>::value;
        if constexpr (k < sizeof...(Vs)) {
            return with_grad_output(bi, std::get<k>(grads));
        } else {
            return bi;
        }
    };
    (void)tensor_data_value_and_grad_threads<number_t<B...>, tlist<Vs...>>(threads, etgrad::sum(e), rebound(b)...);
    }
}

template <class T, class E, class... B>
T tensor_data_evaluate(const E& f, const B&... b) {
    return tensor_data_value_and_grad<T, tlist<>>(f, b...).value;
}

/// eg::hvp over data: is no derivative a reading of a reduction's value? Above the reductions over
/// samples a loss linear in them has sums, differences, negations, and products and quotients by
/// factors free of the reductions; such a factor's adjoint reads the reduction's value, so it must
/// not be differentiated (a constant: 0.5 * mean(ce) is fine, a parameter times mean(ce) is not).
template <class L, class K, class Plan>
struct hvp_reductions_unread;
template <class... Ns, class K, class Plan>
struct hvp_reductions_unread<tlist<Ns...>, K, Plan> {
    template <class N>
    struct mul_div : std::false_type {};
    template <class Op, class... Bs>
    struct mul_div<basic_node<Op, Bs...>>
        : std::bool_constant<std::is_same_v<Op, ops::mul_op> || std::is_same_v<Op, ops::div_op>> {};
    static constexpr bool value = [] {
        constexpr bool md[] = {mul_div<Ns>::value..., false};
        for (std::size_t i = 0; i < sizeof...(Ns); ++i) {
            if (!K::f.dep[i] || K::red[i] != 0 || !md[i]) {
                continue;
            }
            const node_info& inf = graph<tlist<Ns...>>::info[i];
            for (std::size_t s = 0; s < inf.arity; ++s) {
                if (!K::f.dep[inf.child[s]] && Plan::active[inf.child[s]]) {
                    return false;
                }
            }
        }
        return true;
    }();
};

/// eg::hvp over data: a direction on a per-sample data variable (the template argument).
template <class Var, bool Data>
struct hvp_direction_on_parameter {
    static_assert(!Data, "etgrad::hvp over data: eg::tangent(...) names a per-sample data variable (the template "
                         "argument of this message); the direction is on the parameters only (for one sample's "
                         "Hessian, bind the sample as arrays in a scalar call)");
};

/// eg::hvp over data (x = eg::rows<F>(X), y = labels): H·v of the data loss with respect to the
/// parameters of W, forward over reverse as in a scalar call (tensor_hvp). The data loop of
/// value_and_grad runs once with T = V = dual<T, 1>: the parameters bound as duals whose tangents are
/// the direction, the data loaded with tangent 0, one sample per step (no SIMD lanes: an H·v costs
/// about one sample-at-a-time reverse pass on dual numbers), the samples in order, so the result
/// does not depend on the build's SIMD width. The parameters' adjoints' tangents are H·v. The
/// loss must be linear in its reductions over samples (one pass), and no derivative may read a
/// reduction's value (hvp_reductions_unread): the reductions' totals are kept in double, without
/// their tangents. mean(ce) + 0.01 * sum(W * W) qualifies; log(mean(...)) or a parameter times
/// mean(...) is one compile error. Data variables are not differentiated (nor given directions).
template <class W, class E, class... TB, class... B>
auto tensor_data_hvp(const E& f, const tangent_t<TB...>& dir, const B&... b) {
    check_bindings_list<B...>();
    using T = number_t<B...>;
    static_assert(std::is_floating_point_v<T>, "etgrad::hvp with shaped variables takes float or double values");
    using D = dual<T, 1>;
    using DV = typename bound_vars_where<is_sample_binding_c, B...>::type;
    (void)std::tuple<hvp_direction_on_parameter<typename TB::variable, contains_c<DV, typename TB::variable>::value>...>{};
    constexpr bool data_dir = (contains_c<DV, typename TB::variable>::value || ...);
    using Low = lowered<E>;
    using L = typename Low::list;
    using K = data_kinds<L, DV>;
    using RW = typename select_list<W, typename keep_params<W, DV>::type>::type;
    using plan = reverse_plan<graph<L>, RW, Low::root_index>;
    constexpr bool ok = K::f.two_stage || K::f.bad_reduction ||
                        (linear_in_reductions<L, K>::value && hvp_reductions_unread<L, K, plan>::value);
    static_assert(ok, "etgrad::hvp over data: the loss must be linear in its reductions over samples with "
                      "coefficients that are not differentiated (mean(ce) + 0.01 * sum(W * W), 2 * mean(a) - sum(b)); "
                      "log(mean(...)), mean(a) * mean(b) or a parameter times mean(...) are not supported");
    if constexpr (ok && !data_dir) {
        // The parameters: arrays of duals (tensor_hvp's storage); the data: as bound.
        const auto make = [&](const auto& bi) {
            if constexpr (is_sample_binding_c<rm<decltype(bi)>>::value) {
                return nil{};
            } else {
                return hvp_dual_array<D>(bi, dir);
            }
        };
        const auto store = tup<decltype(make(b))...>(make(b)...);
        const auto r = [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            const auto arg = [&]<std::size_t I, class Bi>(std::integral_constant<std::size_t, I>, const Bi& bi) {
                if constexpr (is_sample_binding_c<Bi>::value) {
                    return bi;
                } else {
                    using P = param_ref<D, typename Bi::variable::shape_type>;
                    return typename rebind_binding<Bi, P>::type{P{tget<I>(store).data()}};
                }
            };
            return tensor_data_value_and_grad_threads<D, RW>(1, f, arg(std::integral_constant<std::size_t, Is>{}, b)...);
        }(std::index_sequence_for<B...>{});
        return hvp_tangents<T, RW>(r.grad);
    } else {
        return []<class... Vs>(tlist<Vs...>*) { return tensor_gradient<T, Vs...>{}; }(static_cast<RW*>(nullptr));
    }
}

template <class... B>
struct tensor_data_entry {
    template <class E>
    static auto evaluate(const E& f, const B&... b) {
        return tensor_data_evaluate<number_t<B...>>(f, b...);
    }
    /// eg::hvp over data: tensor_data_hvp.
    template <class W, class E, class... TB>
    static auto hvp(const E& f, const tangent_t<TB...>& dir, const B&... b) {
        return tensor_data_hvp<W>(f, dir, b...);
    }
    /// W: the variables to differentiate (every parameter and the data given grad_into by default).
    template <class W, bool Explicit, class E>
    static auto value_and_grad(const E& f, const B&... b) {
        return value_and_grad_threads<W, Explicit>(1, f, b...);
    }
    /// The same on `threads` threads (eg::par): the same bits for any number of threads.
    template <class W, bool Explicit, class E>
    static auto value_and_grad_threads(unsigned threads, const E& f, const B&... b) {
        using DV = typename bound_vars_where<is_sample_binding_c, B...>::type;
        using GV = typename bound_vars_where<is_sample_grad_binding_c, B...>::type;
        using Low = lowered<E>;
        if constexpr (Explicit) {
            (void)grad_into_in_wrt<W, GV>{};
            (void)requires_grad<typename Low::graph_type, W, Low::root_index[0]>{};
            return tensor_data_value_and_grad_threads<number_t<B...>, W>(threads, f, b...);
        } else {
            using DW = typename default_wrt<W, DV, GV>::type;
            (void)requires_grad<typename Low::graph_type, DW, Low::root_index[0]>{};
            return tensor_data_value_and_grad_threads<number_t<B...>, DW>(threads, f, b...);
        }
    }
};
}  // namespace etgrad::detail
