// etgrad/tensor/eval.hpp — the sweeps over graphs with shaped nodes. The graph, its topological
// order and its reverse plan are those of the scalar sweeps (etgrad/graph.hpp); what changes is the
// value of a node: an array of its shape's elements (a view of the caller's storage for a bound
// parameter). An elementwise op applies its scalar rule (etgrad/ops.hpp) per element, with NumPy
// broadcasting, and its adjoint is summed back over the broadcast axes; a structured op calls its
// kernels (etgrad/tensor/ops.hpp). One node per tensor operation: the loops run over
// compile-time bounds, the graph never sees the elements.
//
// A node is either uniform (one value per call: parameters, constants and what depends on them
// only) or per-sample (data loops, etgrad/tensor/data.hpp: one value per SIMD lane). Uniform
// values are in T, per-sample ones in V (a batch of T); the two live in separate stores, and a
// uniform node's adjoint from per-sample parents accumulates per lane.
#pragma once

#include "../transforms.hpp"
#include "ops.hpp"

namespace etgrad::detail {

/// A node's value: its elements (row-major).
template <class E, std::size_t N>
using tarr = std::array<E, N>;
/// A bound parameter's value: the caller's storage.
template <class E>
struct tview {
    const E* p = nullptr;
    ETGRAD_INLINE constexpr const E& operator[](std::size_t i) const { return p[i]; }
};
/// A slot for a node that lives in the other store.
struct nil {};

/// A heterogeneous store: slot I has type Ts...[I].
template <std::size_t I, class T>
struct sleaf {
    T v;
};
template <class Seq, class... Ts>
struct sstore_impl;
template <std::size_t... Is, class... Ts>
struct sstore_impl<std::index_sequence<Is...>, Ts...> : sleaf<Is, Ts>... {};
template <class... Ts>
using sstore = sstore_impl<std::index_sequence_for<Ts...>, Ts...>;
template <std::size_t I, class T>
ETGRAD_INLINE constexpr T& sget(sleaf<I, T>& l) {
    return l.v;
}
template <std::size_t I, class T>
ETGRAD_INLINE constexpr const T& sget(const sleaf<I, T>& l) {
    return l.v;
}

// ---------------------------------------------------------------------------------------------
// Per-graph facts: each node's shape, and for each child of an elementwise node how an output
// element's flat index maps to the child's (NumPy broadcasting).
/// Values an operation keeps for its backward pass after its own (PyTorch's save_for_backward):
/// Op::saved<shapes of the operands> more elements in the node's value slot, 0 for most.
template <class N>
struct saved_of : std::integral_constant<std::size_t, 0> {};
template <class Op, class... Cs>
    requires requires { Op::template saved<typename shape_of<unbox_t<Cs>>::type...>; }
struct saved_of<basic_node<Op, Cs...>>
    : std::integral_constant<std::size_t, Op::template saved<typename shape_of<unbox_t<Cs>>::type...>> {};

template <class L>
struct tgraph;
template <class... Ns>
struct tgraph<tlist<Ns...>> {
    using G = graph<tlist<Ns...>>;
    using shapes = tlist<typename shape_of<Ns>::type...>;
    static constexpr std::array<std::size_t, sizeof...(Ns)> size = {shape_of<Ns>::type::size...};
    /// The value slot's length: the elements, then what the operation saved.
    static constexpr std::array<std::size_t, sizeof...(Ns)> vsize = {shape_of<Ns>::type::size + saved_of<Ns>::value...};
    static constexpr std::array<bool, sizeof...(Ns)> cond = {is_condition_c<Ns>::value...};
};
template <class L, std::size_t I>
using shape_at = at_t<typename tgraph<L>::shapes, I>;

/// The flat index into a child of shape SC of the output element i of shape SO.
template <class SO, class SC>
ETGRAD_INLINE constexpr std::size_t bindex(std::size_t i) {
    if constexpr (SC::size == SO::size) {
        return i;
    } else if constexpr (SC::size == 1) {
        return 0;
    } else {
        constexpr bool suffix = [] {
            for (std::size_t k = 0; k < SC::rank; ++k) {
                if (SC::dims[SC::rank - 1 - k] != SO::dims[SO::rank - 1 - k]) {
                    return false;
                }
            }
            return true;
        }();
        if constexpr (suffix) {
            return i % SC::size;  // a row broadcast over the leading axes
        } else {
            std::size_t r = 0, stride = 1, rest = i;
            for (std::size_t k = 0; k < SO::rank; ++k) {
                const std::size_t d = SO::dims[SO::rank - 1 - k];
                const std::size_t coord = rest % d;
                rest /= d;
                if (k < SC::rank) {
                    const std::size_t dc = SC::dims[SC::rank - 1 - k];
                    r += (dc == 1 ? 0 : coord) * stride;
                    stride *= dc;
                }
            }
            return r;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The plan of a call: which nodes are per-sample (none in a scalar call).
template <class L>
struct scalar_kinds {
    static constexpr std::array<bool, L::size> ps{};
};

/// The value slot of node I in a store of element type E (a mask for conditions); nil for nodes of
/// the other kind.
template <class L, class K, std::size_t I, class E, bool PerSample>
struct slot {
    using type = std::conditional_t<K::ps[I] != PerSample, nil,
                                    tarr<std::conditional_t<tgraph<L>::cond[I], mask_t<E>, E>, tgraph<L>::vsize[I]>>;
};

/// A variable's slot in the uniform store: a view of a parameter bound in T, else a copy.
template <class L, std::size_t I, class T, class BV>
struct var_slot {
    using type = tarr<T, tgraph<L>::size[I]>;
};
template <class L, std::size_t I, class T, class S>
struct var_slot<L, I, T, param_ref<T, S>> {
    using type = tview<T>;
};

template <class Var, class... B>
struct bound_value {
    static constexpr std::size_t i = binding_index<Var, B...>();
    using type = typename at_t<tlist<B...>, (i < sizeof...(B) ? i : 0)>::value_type;
};

template <class L, class K, std::size_t I, class T, class N, class... B>
struct uslot : slot<L, K, I, T, false> {};
template <class L, class K, std::size_t I, class T, auto Name, class S, class... B>
    requires(!K::ps[I])
struct uslot<L, K, I, T, var_node<Name, S>, B...> : var_slot<L, I, T, typename bound_value<var_node<Name, S>, B...>::type> {};

/// The uniform value store of graph L (T) for the bindings B.
template <class L, class K, class T, class Seq, class... B>
struct ustore_of;
template <class L, class K, class T, std::size_t... Is, class... B>
struct ustore_of<L, K, T, std::index_sequence<Is...>, B...> {
    using type = sstore<typename uslot<L, K, Is, T, at_t<L, Is>, B...>::type...>;
};
/// The per-sample value store (V); nil slots for uniform nodes.
template <class L, class K, class V, class Seq>
struct bstore_of;
template <class L, class K, class V, std::size_t... Is>
struct bstore_of<L, K, V, std::index_sequence<Is...>> {
    using type = sstore<typename slot<L, K, Is, V, true>::type...>;
};
/// An adjoint store: E-typed arrays for the nodes where Keep holds (the differentiated ones of a
/// kind), nil elsewhere.
template <class L, class E, class Keep, class Seq>
struct astore_of;
template <class L, class E, class Keep, std::size_t... Is>
struct astore_of<L, E, Keep, std::index_sequence<Is...>> {
    using type = sstore<std::conditional_t<Keep::keep(Is), tarr<E, tgraph<L>::size[Is]>, nil>...>;
};

/// The stores of one sweep. U: uniform values; B: per-sample values; UA: uniform adjoints; BA:
/// per-sample adjoints; LA: per-lane accumulators of uniform adjoints from per-sample parents.
template <class K, class US, class BS, class UA, class BA, class LA, class DS = nil>
struct tstate {
    using kinds = K;
    using deferred = DS;
    US& u;
    BS& b;
    UA& ua;
    BA& ba;
    LA& la;
    DS* ds = nullptr;  ///< data loops: outer products waiting for their chunk (outer_chunk)
};

/// Data loops: a matvec's weight gradient over the samples, accumulated a chunk of blocks at a
/// time (etgrad/tensor/outer.hpp).
template <class V, std::size_t M, std::size_t N, std::size_t Target>
struct outer_chunk;
template <class T>
struct is_outer_chunk : std::false_type {};
template <class V, std::size_t M, std::size_t N, std::size_t Target>
struct is_outer_chunk<outer_chunk<V, M, N, Target>> : std::true_type {};
/// Is node I's weight gradient deferred to an outer_chunk in the deferred store DS?
template <class DS, std::size_t I>
struct deferred_at : std::false_type {};
template <std::size_t... Is, class... Ds, std::size_t I>
    requires(I < sizeof...(Ds))
struct deferred_at<sstore_impl<std::index_sequence<Is...>, Ds...>, I> : is_outer_chunk<at_t<tlist<Ds...>, I>> {};

template <class K, std::size_t C, class St>
ETGRAD_INLINE constexpr const auto& tval(const St& st) {
    if constexpr (K::ps[C]) {
        return sget<C>(st.b);
    } else {
        return sget<C>(st.u);
    }
}

// ---------------------------------------------------------------------------------------------
// Forward.
template <class L, class T, class V, class Op, std::size_t I, std::size_t... C, class St>
ETGRAD_INLINE constexpr void top_forward(St& st) {
    using K = typename St::kinds;
    using E = std::conditional_t<K::ps[I], V, T>;
    auto& out = [&]() -> auto& {
        if constexpr (K::ps[I]) {
            return sget<I>(st.b);
        } else {
            return sget<I>(st.u);
        }
    }();
    using SO = shape_at<L, I>;
    if constexpr (ShapeRule<Op>) {
        Op::template forward<SO, shape_at<L, C>...>(out, tval<K, C>(st)...);
    } else {
        for (std::size_t i = 0; i < SO::size; ++i) {
            if constexpr (Condition<Op> && !std::is_same_v<Op, ops::lnot_op> && !std::is_same_v<Op, ops::land_op> &&
                          !std::is_same_v<Op, ops::lor_op>) {
                out[i] = Op::value(cv<E>(tval<K, C>(st)[bindex<SO, shape_at<L, C>>(i)])...);
            } else if constexpr (Condition<Op>) {
                out[i] = Op::value(tval<K, C>(st)[bindex<SO, shape_at<L, C>>(i)]...);
            } else {
                out[i] = static_cast<E>(Op::value([&]() ETGRAD_LAMBDA_INLINE -> decltype(auto) {
                    if constexpr (tgraph<L>::cond[C]) {
                        return tval<K, C>(st)[bindex<SO, shape_at<L, C>>(i)];
                    } else {
                        return cv<E>(tval<K, C>(st)[bindex<SO, shape_at<L, C>>(i)]);
                    }
                }()...));
            }
        }
    }
}

template <class L, class T, class V, class Step, class St, class Ctx>
ETGRAD_INLINE constexpr void tfwd(Step, St&, const Ctx&) {}

template <class L, class T, class V, std::size_t I, class K, class St, class Ctx>
ETGRAD_INLINE constexpr void tfwd(const_step<I, K>, St& st, const Ctx&) {
    if constexpr (!St::kinds::ps[I]) {
        if constexpr (is_cc_c<K>::value) {
            sget<I>(st.u)[0] = num_cast<T>(K{});
        } else {
            sget<I>(st.u)[0] = num_cast<T>(K::value);
        }
    }
}
template <class L, class T, class V, std::size_t I, std::size_t J, class St, class Ctx>
ETGRAD_INLINE constexpr void tfwd(rc_step<I, J>, St& st, const Ctx& ctx) {
    if constexpr (!St::kinds::ps[I]) {
        sget<I>(st.u)[0] = num_cast<T>(ctx.consts[J]);
    }
}
template <class L, class T, class V, std::size_t I, class Var, class St, class Ctx>
ETGRAD_INLINE constexpr void tfwd(var_step<I, Var>, St& st, const Ctx& ctx) {
    if constexpr (!St::kinds::ps[I]) {
        ctx.template load_uniform<Var>(sget<I>(st.u));
    } else {
        ctx.template load_sample<Var>(sget<I>(st.b));
    }
}
template <class L, class T, class V, std::size_t I, class Op, unsigned M, std::size_t... C, class St, class Ctx>
ETGRAD_INLINE constexpr void tfwd(op_step<I, Op, M, C...>, St& st, const Ctx&) {
    top_forward<L, T, V, Op, I, C...>(st);
}

/// Forward over the nodes where Pick::keep(i) holds (every node: scalar calls).
template <class L, class T, class V, class Pick, class... Steps, class St, class Ctx>
ETGRAD_INLINE constexpr void tforward_steps(tlist<Steps...>*, St& st, const Ctx& ctx) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        (
            [&]() ETGRAD_LAMBDA_INLINE {
                if constexpr (Pick::keep(Is)) {
                    tfwd<L, T, V>(Steps{}, st, ctx);
                }
            }(),
            ...);
    }(std::index_sequence_for<Steps...>{});
}

// ---------------------------------------------------------------------------------------------
// Backward: for each node in reverse order, its adjoint times each local Jacobian, added to the
// child's adjoint (summed over the broadcast axes for elementwise ops).
template <class K, std::size_t P, std::size_t C, class St>
ETGRAD_INLINE constexpr auto& adj_target(St& st) {
    if constexpr (K::ps[C]) {
        return sget<C>(st.ba);
    } else if constexpr (K::ps[P]) {
        return sget<C>(st.la);
    } else {
        return sget<C>(st.ua);
    }
}
template <class K, std::size_t I, class St>
ETGRAD_INLINE constexpr const auto& adj_of(const St& st) {
    if constexpr (K::ps[I]) {
        return sget<I>(st.ba);
    } else {
        return sget<I>(st.ua);
    }
}

template <class L, class T, class V, class Op, std::size_t Slot, std::size_t I, std::size_t... C, class St>
ETGRAD_INLINE constexpr void tbwd_slot(St& st) {
    using K = typename St::kinds;
    using E = std::conditional_t<K::ps[I], V, T>;
    constexpr std::size_t child[] = {C...};
    constexpr std::size_t ch = child[Slot];
    using SO = shape_at<L, I>;
    auto& target = adj_target<K, I, ch>(st);
    const auto& g = adj_of<K, I>(st);
    if constexpr (deferred_at<typename St::deferred, I>::value && Slot == 0) {
        // A data loop's matvec weight gradient: deferred to the chunk (outer_chunk).
        sget<I>(*st.ds).push(g, tval<K, child[Slot + 1]>(st), target);
    } else if constexpr (ShapeRule<Op>) {
        Op::template backward<Slot, SO, shape_at<L, C>...>(g, tval<K, I>(st), tval<K, C>(st)..., target);
    } else {
        using SC = shape_at<L, ch>;
        const auto& out = tval<K, I>(st);
        for (std::size_t i = 0; i < SO::size; ++i) {
            const E c = contribution<Op, Slot, E>(g[i], cv<E>(out[i]), [&]() ETGRAD_LAMBDA_INLINE -> decltype(auto) {
                if constexpr (tgraph<L>::cond[C]) {
                    return tval<K, C>(st)[bindex<SO, shape_at<L, C>>(i)];
                } else {
                    return cv<E>(tval<K, C>(st)[bindex<SO, shape_at<L, C>>(i)]);
                }
            }()...);
            const std::size_t j = bindex<SO, SC>(i);
            target[j] = target[j] + c;
        }
    }
}

template <class L, class T, class V, unsigned Contrib, class Step, class St>
ETGRAD_INLINE constexpr void tbwd(Step, St&) {}
template <class L, class T, class V, unsigned Contrib, std::size_t I, class Op, unsigned M, std::size_t... C, class St>
ETGRAD_INLINE constexpr void tbwd(op_step<I, Op, M, C...>, St& st) {
    if constexpr (Contrib != 0) {
        [&]<std::size_t... Ks>(std::index_sequence<Ks...>) ETGRAD_LAMBDA_INLINE {
            (
                [&]() ETGRAD_LAMBDA_INLINE {
                    if constexpr (((Contrib >> Ks) & 1u) != 0) {
                        tbwd_slot<L, T, V, Op, Ks, I, C...>(st);
                    }
                }(),
                ...);
        }(std::index_sequence_for<decltype(C)...>{});
    }
}

/// Backward over the reversed steps RS whose (topological) position p has Pick::keep(p).
template <class L, class T, class V, class Plan, class Pick, class... Steps, class St>
ETGRAD_INLINE constexpr void tbackward_steps(tlist<Steps...>*, St& st) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        constexpr std::size_t n = sizeof...(Steps);
        (
            [&]() ETGRAD_LAMBDA_INLINE {
                if constexpr (Pick::keep(n - 1 - Is)) {
                    tbwd<L, T, V, Plan::m.contrib[n - 1 - Is]>(Steps{}, st);
                }
            }(),
            ...);
    }(std::index_sequence_for<Steps...>{});
}

// ---------------------------------------------------------------------------------------------
// Tangents (forward mode, scalar calls): tan(node) = sum over slots of J_slot tan(child).
template <class L, class T, class Op, std::size_t Slot, std::size_t I, std::size_t... C, class US, class TS>
ETGRAD_INLINE constexpr void ttng_slot(const US& u, TS& ts) {
    constexpr std::size_t child[] = {C...};
    constexpr std::size_t ch = child[Slot];
    using SO = shape_at<L, I>;
    auto& to = sget<I>(ts);
    const auto& tk = sget<ch>(ts);
    if constexpr (ShapeRule<Op>) {
        Op::template tangent<Slot, SO, shape_at<L, C>...>(tk, sget<I>(u), sget<C>(u)..., to);
    } else {
        using SC = shape_at<L, ch>;
        for (std::size_t i = 0; i < SO::size; ++i) {
            const T p = static_cast<T>(Op::template partial<Slot>(cv<T>(sget<I>(u)[i]), [&]() ETGRAD_LAMBDA_INLINE -> decltype(auto) {
                if constexpr (tgraph<L>::cond[C]) {
                    return sget<C>(u)[bindex<SO, shape_at<L, C>>(i)];
                } else {
                    return cv<T>(sget<C>(u)[bindex<SO, shape_at<L, C>>(i)]);
                }
            }()...));
            to[i] = to[i] + p * tk[bindex<SO, SC>(i)];
        }
    }
}
template <class L, class T, unsigned Mask, class Step, class US, class TS, class Seed>
ETGRAD_INLINE constexpr void ttng(Step, const US&, TS&, const Seed&) {}
template <class L, class T, unsigned Mask, std::size_t I, class Var, class US, class TS, class Seed>
ETGRAD_INLINE constexpr void ttng(var_step<I, Var>, const US&, TS& ts, const Seed& seed) {
    if constexpr (Mask != 0) {
        seed.template load_uniform<Var>(sget<I>(ts));
    }
}
template <class L, class T, unsigned Mask, std::size_t I, class Op, unsigned M, std::size_t... C, class US, class TS,
          class Seed>
ETGRAD_INLINE constexpr void ttng(op_step<I, Op, M, C...>, const US& u, TS& ts, const Seed&) {
    if constexpr (Mask != 0) {
        [&]<std::size_t... Ks>(std::index_sequence<Ks...>) ETGRAD_LAMBDA_INLINE {
            (
                [&]() ETGRAD_LAMBDA_INLINE {
                    if constexpr (((Mask >> Ks) & 1u) != 0) {
                        ttng_slot<L, T, Op, Ks, I, C...>(u, ts);
                    }
                }(),
                ...);
        }(std::index_sequence_for<decltype(C)...>{});
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the bindings of a scalar call.
template <class T, class... B>
struct tbindings {
    tup<B...> bs;
    const double* consts;

    template <class Var, class Slot>
    ETGRAD_INLINE constexpr void load_uniform(Slot& out) const {
        constexpr std::size_t i = binding_index<Var, B...>();
        if constexpr (i < sizeof...(B)) {
            const auto& v = tget<i>(bs).value;
            using BV = rm<decltype(v)>;
            if constexpr (is_param_ref_v<BV>) {
                if constexpr (std::is_same_v<Slot, tview<T>>) {
                    out.p = v.ptr;
                } else {
                    for (std::size_t e = 0; e < out.size(); ++e) {
                        out[e] = static_cast<T>(v.ptr[e]);
                    }
                }
            } else if constexpr (std::is_arithmetic_v<BV> || is_simd_batch<BV>::value) {
                out[0] = static_cast<T>(v);
            }
        }
    }
};

/// The nodes of every kind (a scalar call).
struct keep_all {
    static constexpr bool keep(std::size_t) { return true; }
};

template <class L, class W>
struct tensor_wrt_keep {
    template <class Plan>
    struct by {
        static constexpr bool keep(std::size_t i) { return Plan::active[i]; }
    };
};

// ---------------------------------------------------------------------------------------------
// Gradient records with shaped entries.
template <class T, class V>
struct grad_entry {
    using type = std::conditional_t<V::shape_type::rank == 0, T, tensor<T, typename V::shape_type>>;
};
}  // namespace etgrad::detail

namespace etgrad {
/// One entry per variable, shaped like it: `g[W]` is an eg::tensor<T, shape of W> (row-major,
/// `g[W](i, j)`), `g[x]` a number for a scalar variable. As the scalar record: `acc += g`,
/// `acc.zero()`, `g * s`.
template <class T, class... Vs>
struct tensor_gradient {
    using value_type = T;
    using variables = detail::tlist<Vs...>;
    detail::sstore<typename detail::grad_entry<T, Vs>::type...> entries{};

    static constexpr std::size_t size() { return sizeof...(Vs); }
    template <class V>
    static constexpr std::size_t index_of() {
        static_assert(detail::is_var_c<V>::value, "etgrad: index a gradient record with a variable: g[x]");
        static_assert(detail::contains_c<variables, V>::value,
                      "etgrad: g[x]: this variable is not in the gradient record (it was not listed in wrt)");
        return detail::index_in<variables, V>::value;
    }
    template <class V>
    constexpr auto& operator[](const V&) {
        return detail::sget<index_of<V>()>(entries);
    }
    template <class V>
    constexpr const auto& operator[](const V&) const {
        return detail::sget<index_of<V>()>(entries);
    }
    /// The I-th entry.
    template <std::size_t I>
    constexpr auto& get() {
        return detail::sget<I>(entries);
    }
    template <std::size_t I>
    constexpr const auto& get() const {
        return detail::sget<I>(entries);
    }
    constexpr tensor_gradient& operator+=(const tensor_gradient& o) {
        each([&](auto& a, const auto& b) { a += b; }, o);
        return *this;
    }
    constexpr tensor_gradient& operator-=(const tensor_gradient& o) {
        each([&](auto& a, const auto& b) { a -= b; }, o);
        return *this;
    }
    constexpr tensor_gradient& operator*=(const T& s) {
        each([&](auto& a, const auto&) { a *= s; }, *this);
        return *this;
    }
    friend constexpr tensor_gradient operator+(tensor_gradient a, const tensor_gradient& b) { return a += b; }
    friend constexpr tensor_gradient operator-(tensor_gradient a, const tensor_gradient& b) { return a -= b; }
    friend constexpr tensor_gradient operator*(tensor_gradient a, const T& s) { return a *= s; }
    friend constexpr tensor_gradient operator*(const T& s, tensor_gradient a) { return a *= s; }
    /// Set every entry to zero.
    constexpr void zero() {
        each([&](auto& a, const auto&) { a = std::remove_cvref_t<decltype(a)>{}; }, *this);
    }
    /// Call f(variable, entry) for each entry, in order.
    template <class F>
    constexpr void for_each(F&& f) const {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) { (f(Vs{}, detail::sget<Is>(entries)), ...); }(
            std::index_sequence_for<Vs...>{});
    }

  private:
    template <class F>
    constexpr void each(F&& f, const tensor_gradient& o) {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) { (f(detail::sget<Is>(entries), detail::sget<Is>(o.entries)), ...); }(
            std::index_sequence_for<Vs...>{});
    }
};

/// The result of a tensor evaluation: a number, or an eg::tensor for a shaped root.
template <class T, class S>
using tensor_value_t = std::conditional_t<S::rank == 0, T, tensor<T, S>>;
}  // namespace etgrad

namespace etgrad::detail {

template <class T, class S, class Slot>
constexpr tensor_value_t<T, S> to_value(const Slot& s) {
    if constexpr (S::rank == 0) {
        return static_cast<T>(s[0]);
    } else {
        tensor<T, S> r{};
        for (std::size_t i = 0; i < S::size; ++i) {
            r.values[i] = static_cast<T>(s[i]);
        }
        return r;
    }
}

/// A scalar call's sweeps over the graph of Low: the stores, forward, and (when W is given)
/// backward from the roots' seeds.
template <class T, class Low, class... B>
struct tcall {
    using L = typename Low::list;
    using K = scalar_kinds<L>;
    using US = typename ustore_of<L, K, T, std::make_index_sequence<L::size>, B...>::type;
    using BS = sstore<>;
    US u{};
    BS b{};

    constexpr void forward(const tbindings<T, B...>& ctx) {
        sstore<> none;
        tstate<K, US, BS, sstore<>, sstore<>, sstore<>> st{u, b, none, none, none};
        tforward_steps<L, T, T, keep_all>(static_cast<typename graph<L>::steps*>(nullptr), st, ctx);
    }
    template <std::size_t R>
    constexpr const auto& value() const {
        return sget<Low::root_index[R]>(u);
    }
};

/// The gradient record of the variables W from the uniform adjoints UA of graph L (nodes kept by
/// Keep carry an adjoint; the others are structural zeros).
template <class T, class W, class L, class Keep, class UA>
constexpr auto gradient_record(const UA& ua) {
    return [&]<class... Vs>(tlist<Vs...>*) {
        tensor_gradient<T, Vs...> g{};
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            (
                [&] {
                    using Var = at_t<tlist<Vs...>, Is>;
                    if constexpr (contains_c<L, Var>::value) {
                        constexpr std::size_t i = index_in<L, Var>::value;
                        if constexpr (Keep::keep(i)) {
                            auto& e = g.template get<Is>();
                            if constexpr (Var::shape_type::rank == 0) {
                                e = sget<i>(ua)[0];
                            } else {
                                for (std::size_t k = 0; k < Var::shape_type::size; ++k) {
                                    e.values[k] = sget<i>(ua)[k];
                                }
                            }
                        }
                    }
                }(),
                ...);
        }(std::index_sequence_for<Vs...>{});
        return g;
    }(static_cast<W*>(nullptr));
}

template <class T, class W, class Low, class Call, std::size_t R>
constexpr auto tensor_backward(Call& call, const std::array<const T*, R>& seeds) {
    using L = typename Low::list;
    using G = graph<L>;
    using K = scalar_kinds<L>;
    using plan = reverse_plan<G, W, Low::root_index>;
    struct keep_active {
        static constexpr bool keep(std::size_t i) { return plan::active[i] && plan::first[i] != none; }
    };
    using UA = typename astore_of<L, T, keep_active, std::make_index_sequence<L::size>>::type;
    UA ua{};
    sstore<> none_s;
    [&]<std::size_t... Rs>(std::index_sequence<Rs...>) {
        (
            [&] {
                constexpr std::size_t i = Low::root_index[Rs];
                if constexpr (keep_active::keep(i)) {
                    for (std::size_t e = 0; e < tgraph<L>::size[i]; ++e) {
                        sget<i>(ua)[e] = sget<i>(ua)[e] + seeds[Rs][e];
                    }
                }
            }(),
            ...);
    }(std::make_index_sequence<R>{});
    tstate<K, typename Call::US, typename Call::BS, UA, sstore<>, sstore<>> st{call.u, call.b, ua, none_s, none_s};
    tbackward_steps<L, T, T, plan, keep_all>(static_cast<typename G::rsteps*>(nullptr), st);
    return gradient_record<T, W, L, keep_active>(ua);
}

template <class T, class S>
struct seed_array {
    std::array<T, S::size> v{};
};

/// The root of a gradient is a scalar (PyTorch: grad can be implicitly created only for scalar
/// outputs).
template <class S>
struct scalar_root {
    static_assert(S::rank == 0,
                  "etgrad: grad of a shaped expression: reduce it to a scalar first (eg::sum(e), eg::mean(e)), "
                  "or use eg::vjp(e, cotangent, ...) (the shape is the template argument of this message)");
};

template <class T, class W, class E, class... B>
constexpr auto tensor_value_and_grad(const E& f, const B&... b) {
    check_bindings<B...>();
    using Low = lowered<E>;
    using L = typename Low::list;
    using S = shape_at<L, Low::root_index[0]>;
    (void)scalar_root<S>{};
    (void)wrt_nonempty<typename vars_in<L>::type>{};
    (void)requires_grad<typename Low::graph_type, W, Low::root_index[0]>{};
    check_bound<typename vars_in<L>::type, B...>();
    Low low(f);
    tbindings<T, B...> ctx{tup<B...>(b...), low.consts.data()};
    tcall<T, Low, B...> call;
    call.forward(ctx);
    const T one = num_cast<T>(1.0);
    auto g = tensor_backward<T, W, Low>(call, std::array<const T*, 1>{&one});
    return value_and_gradient<T, decltype(g)>{static_cast<T>(call.template value<0>()[0]), g};
}

template <class E, class... B>
constexpr auto tensor_evaluate(const E& f, const B&... b) {
    check_bindings<B...>();
    using T = number_t<B...>;
    using Low = lowered<E>;
    using L = typename Low::list;
    check_bound<typename vars_in<L>::type, B...>();
    Low low(f);
    tbindings<T, B...> ctx{tup<B...>(b...), low.consts.data()};
    tcall<T, Low, B...> call;
    call.forward(ctx);
    return to_value<T, shape_at<L, Low::root_index[0]>>(call.template value<0>());
}

/// vjp of one shaped (or scalar) expression with a cotangent of its shape.
template <class W, class E, class C, class... B>
constexpr auto tensor_vjp(const E& f, const C& cot, const B&... b) {
    check_bindings<B...>();
    using T = number_t<B...>;
    using Low = lowered<E>;
    using L = typename Low::list;
    using S = shape_at<L, Low::root_index[0]>;
    (void)wrt_nonempty<W>{};
    check_bound<typename vars_in<L>::type, B...>();
    std::array<T, S::size> seed{};
    if constexpr (std::is_arithmetic_v<C>) {
        static_assert(S::rank == 0, "etgrad::vjp: the cotangent of a shaped expression is an array or eg::tensor of its shape");
        seed[0] = static_cast<T>(cot);
    } else {
        static_assert(std::ranges::sized_range<C> && (std_array_of<C>::value || tensor_of<C>::value),
                      "etgrad::vjp: the cotangent of a shaped expression is a std::array or eg::tensor of its shape");
        if constexpr (std_array_of<C>::value) {
            static_assert(std_array_of<C>::n == S::size, "etgrad::vjp: the cotangent has another size than the expression");
        } else if constexpr (tensor_of<C>::value) {
            static_assert(tensor_of<C>::shape::size == S::size, "etgrad::vjp: the cotangent has another size than the expression");
        }
        std::size_t k = 0;
        for (const auto& c : cot) {
            seed[k++] = static_cast<T>(c);
        }
    }
    Low low(f);
    tbindings<T, B...> ctx{tup<B...>(b...), low.consts.data()};
    tcall<T, Low, B...> call;
    call.forward(ctx);
    auto g = tensor_backward<T, W, Low>(call, std::array<const T*, 1>{seed.data()});
    return value_and_gradient<tensor_value_t<T, S>, decltype(g)>{to_value<T, S>(call.template value<0>()), g};
}

/// Tangent seeds of a scalar call: the tangent bindings' values (shaped like their variables).
template <class T, class... TB>
using tseed = tbindings<T, TB...>;

template <class W, class E, class... TB, class... B>
constexpr auto tensor_jvp(const E& f, const tangent_t<TB...>& dir, const B&... b) {
    check_bindings<B...>();
    using T = number_t<B...>;
    using Low = lowered<E>;
    using L = typename Low::list;
    using G = graph<L>;
    using S = shape_at<L, Low::root_index[0]>;
    check_bound<typename vars_in<L>::type, B...>();
    Low low(f);
    tbindings<T, B...> ctx{tup<B...>(b...), low.consts.data()};
    tcall<T, Low, B...> call;
    call.forward(ctx);
    using tab = tangent_plan<G, W>;
    struct keep_active {
        static constexpr bool keep(std::size_t i) { return tab::active[i]; }
    };
    using TS = typename astore_of<L, T, keep_active, std::make_index_sequence<L::size>>::type;
    TS ts{};
    tseed<T, TB...> seed{dir.bs, nullptr};
    [&]<class... Steps>(tlist<Steps...>*) {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            (ttng<L, T, tab::mask[Is]>(Steps{}, call.u, ts, seed), ...);
        }(std::index_sequence_for<Steps...>{});
    }(static_cast<typename G::steps*>(nullptr));
    constexpr std::size_t r = Low::root_index[0];
    tensor_value_t<T, S> t{};
    if constexpr (keep_active::keep(r)) {
        t = to_value<T, S>(sget<r>(ts));
    }
    return value_and_tangent<tensor_value_t<T, S>>{to_value<T, S>(call.template value<0>()), t};
}

/// A binding's value as an array of duals shaped like its variable, each tangent the direction's
/// element (0 where the direction dir does not name the variable): hvp's forward-over-reverse seed.
template <class D, class Bi, class... TB>
constexpr auto hvp_dual_array(const Bi& bi, const tangent_t<TB...>& dir) {
    using T = typename D::value_type;
    using S = typename Bi::variable::shape_type;
    std::array<D, S::size> a{};
    const auto& v = bi.value;
    for (std::size_t e = 0; e < S::size; ++e) {
        if constexpr (is_param_ref_v<rm<decltype(v)>>) {
            a[e] = D(static_cast<T>(v.ptr[e]));
        } else {
            a[e] = D(static_cast<T>(v));
        }
    }
    constexpr std::size_t j = binding_index<typename Bi::variable, TB...>();
    if constexpr (j < sizeof...(TB)) {
        const auto& t = tget<j>(dir.bs).value;
        for (std::size_t e = 0; e < S::size; ++e) {
            if constexpr (is_param_ref_v<rm<decltype(t)>>) {
                a[e].t[0] = static_cast<T>(t.ptr[e]);
            } else {
                a[e].t[0] = static_cast<T>(t);
            }
        }
    }
    return a;
}

/// H·v from the gradient record of a sweep run on dual numbers: its tangents, over the variables W.
template <class T, class W, class R>
constexpr auto hvp_tangents(const R& grad) {
    return [&]<class... Vs>(tlist<Vs...>*) {
        tensor_gradient<T, Vs...> h{};
        (
            [&] {
                const auto& gv = grad[Vs{}];
                auto& hv = h[Vs{}];
                if constexpr (Vs::shape_type::rank == 0) {
                    hv = gv.t[0];
                } else {
                    for (std::size_t e = 0; e < Vs::shape_type::size; ++e) {
                        hv.data()[e] = gv.data()[e].t[0];
                    }
                }
            }(),
            ...);
        return h;
    }(static_cast<W*>(nullptr));
}

/// Hessian-vector product with shaped variables, forward over reverse: every bound value becomes
/// a dual number (its tangent the direction's element, 0 where the direction does not name the
/// variable), the tensor reverse sweep runs once on them, and the gradient's tangents are H·v.
/// One extra instantiation of the sweep, whatever the number of elements.
template <class W, class E, class... TB, class... B>
constexpr auto tensor_hvp(const E& f, const tangent_t<TB...>& dir, const B&... b) {
    check_bindings<B...>();
    using T = number_t<B...>;
    static_assert(std::is_floating_point_v<T>, "etgrad::hvp with shaped variables takes float or double values");
    using D = dual<T, 1>;
    // Storage: one array of duals per binding, shaped like its variable.
    const auto store = tup<decltype(hvp_dual_array<D>(b, dir))...>(hvp_dual_array<D>(b, dir)...);
    const auto r = [&]<std::size_t... Is>(std::index_sequence<Is...>) {
        return tensor_value_and_grad<D, W>(
            f, typename rebind_binding<B, param_ref<D, typename B::variable::shape_type>>::type{
                   param_ref<D, typename B::variable::shape_type>{tget<Is>(store).data()}}...);
    }(std::index_sequence_for<B...>{});
    return hvp_tangents<T, W>(r.grad);
}

}  // namespace etgrad::detail

namespace etgrad::detail {
/// The entry points of the tensor sweeps (declared in etgrad/eval.hpp, which dispatches here).
/// Data calls with tensors (etgrad/tensor/data.hpp, which includes xsimd).
template <class... B>
struct tensor_data_entry;
template <class B>
struct is_sample_data_c : std::false_type {};
template <auto N, class V>
    requires(is_rows_ref_v<V> || is_label_ref_v<V> || is_data_ref_v<V>)
struct is_sample_data_c<binding<N, V>> : std::true_type {};

template <class... B>
struct tensor_entry {
    static constexpr bool data = any_true({is_sample_data_c<B>::value...});
    template <class E>
    static constexpr auto evaluate(const E& f, const B&... b) {
        if constexpr (data) {
            return tensor_data_entry<B...>::evaluate(f, b...);
        } else {
            return tensor_evaluate(f, b...);
        }
    }
    template <class W, bool Explicit, class E>
    static constexpr auto value_and_grad(const E& f, const B&... b) {
        if constexpr (data) {
            return tensor_data_entry<B...>::template value_and_grad<W, Explicit>(f, b...);
        } else {
            return tensor_value_and_grad<number_t<B...>, W>(f, b...);
        }
    }
    template <class W, class E, class C>
    static constexpr auto vjp(const E& f, const C& cot, const B&... b) {
        return tensor_vjp<W>(f, cot, b...);
    }
    template <class W, class E, class... TB>
    static constexpr auto jvp(const E& f, const tangent_t<TB...>& dir, const B&... b) {
        return tensor_jvp<W>(f, dir, b...);
    }
    template <class W, class E, class... TB>
    static constexpr auto hvp(const E& f, const tangent_t<TB...>& dir, const B&... b) {
        if constexpr (data) {
            return tensor_data_entry<B...>::template hvp<W>(f, dir, b...);
        } else {
            return tensor_hvp<W>(f, dir, b...);
        }
    }
};
}  // namespace etgrad::detail
