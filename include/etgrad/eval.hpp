// etgrad/eval.hpp — the sweeps. Forward: every distinct node's value, in topological order, into a
// fixed-size store on the stack. Backward: adjoints in reverse order, generated as straight-line code
// from the graph tables (no tape, no heap, no virtual call, no global state). Tangent: forward mode.
// All of it is generic over the number type (float, double, an xsimd batch).
#pragma once

#include "graph.hpp"

namespace etgrad::detail {

// ---------------------------------------------------------------------------------------------
// Bindings.
template <class B>
using binding_value_t = typename B::value_type;

template <class... Vs>
struct number_type {
    using type = double;
};
template <class V, class... Vs>
struct number_type<V, Vs...> {
    using rest = typename number_type<Vs...>::type;
    using type = std::conditional_t<
        is_simd_batch<V>::value, V,
        std::conditional_t<is_simd_batch<rest>::value, rest,
                           std::conditional_t<std::is_floating_point_v<V> && sizeof...(Vs) == 0, V,
                                              std::common_type_t<std::conditional_t<std::is_integral_v<V>, double, V>,
                                                                 rest>>>>;
};
template <>
struct number_type<float> {
    using type = float;
};

/// The number type an evaluation runs in: the common type of the bound values (integers count as
/// double), or the batch type when a batch is bound.
template <class... B>
using number_t = typename number_type<binding_value_t<B>...>::type;

/// Names the variable in the compiler's message when it is not bound.
template <class Var>
struct missing_binding {
    static_assert(sizeof(Var) == 0,
                  "etgrad: a variable of the expression is not bound; bind it as `x = value` "
                  "(the variable is named in the template argument `Var` of this message)");
};
template <class Var>
struct bound_twice {
    static_assert(sizeof(Var) == 0,
                  "etgrad: the same variable is bound twice; bind each variable once "
                  "(the variable is named in the template argument `Var` of this message)");
};

template <class Var, class... B>
constexpr std::size_t binding_index() {
    constexpr bool match[] = {std::is_same_v<typename B::variable, Var>..., false};
    std::size_t idx = none, count = 0;
    for (std::size_t i = 0; i < sizeof...(B); ++i) {
        if (match[i]) {
            idx = count == 0 ? i : idx;
            ++count;
        }
    }
    return count == 1 ? idx : (count == 0 ? none : seeded);
}

template <class T, class... B>
struct bindings {
    tup<B...> bs;
    const double* consts;

    template <class Var>
    constexpr T get() const {
        constexpr std::size_t i = binding_index<Var, B...>();
        if constexpr (i == none) {
            (void)missing_binding<Var>{};
            return T{};
        } else if constexpr (i == seeded) {
            (void)bound_twice<Var>{};
            return T{};
        } else {
            const auto& v = tget<i>(bs).value;
            if constexpr (std::is_same_v<rm<decltype(v)>, T>) {
                return v;
            } else if constexpr (is_simd_batch<T>::value) {
                return T(static_cast<typename scalar_of<T>::type>(v));
            } else {
                return static_cast<T>(v);
            }
        }
    }
};

template <class... B>
constexpr void check_bindings() {
    static_assert((is_binding_v<B> && ...),
                  "etgrad: after the expression (and an optional eg::wrt(...)), pass bindings `x = value`");
}

// ---------------------------------------------------------------------------------------------
// Value stores: one slot per graph node, of the node's value type (T, or a mask for conditions).
template <std::size_t I, class V>
struct vslot {
    V v{};
};
template <class Seq, class... Vs>
struct vstore_impl;
template <std::size_t... Is, class... Vs>
struct vstore_impl<std::index_sequence<Is...>, Vs...> : vslot<Is, Vs>... {};
template <std::size_t I, class V>
constexpr V& vget(vslot<I, V>& s) {
    return s.v;
}
template <std::size_t I, class V>
constexpr const V& vget(const vslot<I, V>& s) {
    return s.v;
}

template <class N, class T>
struct value_type_of {
    using type = T;
};
template <class Op, class... Cs, class T>
    requires Condition<Op>
struct value_type_of<node<Op, Cs...>, T> {
    using type = decltype(Op::value(std::declval<typename value_type_of<Cs, T>::type>()...));
};

template <class L, class T>
struct vstore;
template <class... Ns, class T>
struct vstore<tlist<Ns...>, T> {
    using type = vstore_impl<std::index_sequence_for<Ns...>, typename value_type_of<Ns, T>::type...>;
};

// ---------------------------------------------------------------------------------------------
// Forward sweep.
template <class L, std::size_t I, class T, class S, class Ctx>
constexpr void forward_one(S& s, const Ctx& ctx) {
    using N = at_t<L, I>;
    if constexpr (is_var_v<N>) {
        vget<I>(s) = ctx.template get<N>();
    } else if constexpr (is_cc_v<N>) {
        vget<I>(s) = num_cast<T>(N{});
    } else if constexpr (requires { N::value; }) {  // nconst
        vget<I>(s) = num_cast<T>(N::value);
    } else if constexpr (is_node_v<N>) {
        using Op = typename N::op;
        [&]<class... Cs>(node<Op, Cs...>*) {
            if constexpr (Condition<Op>) {
                vget<I>(s) = Op::value(vget<index_of_v<L, Cs>>(s)...);
            } else {
                vget<I>(s) = static_cast<T>(Op::value(vget<index_of_v<L, Cs>>(s)...));
            }
        }(static_cast<N*>(nullptr));
    } else {
        [&]<std::size_t J>(rc<J>*) { vget<I>(s) = num_cast<T>(ctx.consts[J]); }(static_cast<N*>(nullptr));
    }
}

template <class L, class T, class S, class Ctx>
constexpr void forward(S& s, const Ctx& ctx) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) {
        (forward_one<L, Is, T>(s, ctx), ...);
    }(std::make_index_sequence<L::size>{});
}

// ---------------------------------------------------------------------------------------------
// Backward sweep.
template <class L, std::size_t P, std::size_t Slot, class S>
constexpr decltype(auto) partial_of(const S& s) {
    using N = at_t<L, P>;
    using Op = typename N::op;
    return [&]<class... Cs>(node<Op, Cs...>*) -> decltype(auto) {
        return Op::template partial<Slot>(vget<P>(s), vget<index_of_v<L, Cs>>(s)...);
    }(static_cast<N*>(nullptr));
}

template <class L, class T, class Tab, std::size_t P, class S, class A>
constexpr void backward_one(const S& s, A& adj) {
    using G = graph<L>;
    constexpr node_info f = G::info[P];
    if constexpr (Tab::active[P] && Tab::first[P] != none && f.arity > 0 && !f.is_condition) {
        [&]<std::size_t... Slots>(std::index_sequence<Slots...>) {
            (
                [&] {
                    constexpr std::size_t ch = f.child[Slots];
                    if constexpr (f.diff[Slots] && Tab::active[ch]) {
                        T contrib = adj[P] * static_cast<T>(partial_of<L, P, Slots>(s));
                        if constexpr (Tab::first[ch] == P * max_arity + Slots) {
                            adj[ch] = contrib;
                        } else {
                            adj[ch] = adj[ch] + contrib;
                        }
                    }
                }(),
                ...);
        }(std::make_index_sequence<f.arity>{});
    }
}

template <class L, class T, class Tab, class S, class A>
constexpr void backward(const S& s, A& adj) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) {
        (backward_one<L, T, Tab, L::size - 1 - Is>(s, adj), ...);
    }(std::make_index_sequence<L::size>{});
}

// ---------------------------------------------------------------------------------------------
// Tangent (forward-mode) sweep: tan[i] = sum over differentiable slots of partial * tan[child].
template <class L, class T, class Tab, std::size_t I, class S, class A, class Seed>
constexpr void tangent_one(const S& s, A& tan, const Seed& seed) {
    using G = graph<L>;
    constexpr node_info f = G::info[I];
    if constexpr (Tab::active[I]) {
        if constexpr (f.is_var) {
            tan[I] = seed.template get<at_t<L, I>>();
        } else if constexpr (f.arity > 0 && !f.is_condition) {
            bool first = true;
            [&]<std::size_t... Slots>(std::index_sequence<Slots...>) {
                (
                    [&] {
                        constexpr std::size_t ch = f.child[Slots];
                        if constexpr (f.diff[Slots] && Tab::active[ch]) {
                            T term = static_cast<T>(partial_of<L, I, Slots>(s)) * tan[ch];
                            tan[I] = first ? term : tan[I] + term;
                            first = false;
                        }
                    }(),
                    ...);
            }(std::make_index_sequence<f.arity>{});
        }
    }
}

template <class L, class T, class Tab, class S, class A, class Seed>
constexpr void tangent(const S& s, A& tan, const Seed& seed) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) {
        (tangent_one<L, T, Tab, Is>(s, tan, seed), ...);
    }(std::make_index_sequence<L::size>{});
}

// ---------------------------------------------------------------------------------------------
// A lowered set of roots: their graph, and the runtime constants in a flat array.
template <class... Roots>
struct lowered {
    static constexpr std::size_t counts[] = {count_rconst<Roots>..., 0};
    static constexpr auto offs = child_offsets<Roots...>();
    static constexpr std::size_t nconst = offs[sizeof...(Roots)];

    template <class Seq>
    struct roots_of;
    template <std::size_t... Is>
    struct roots_of<std::index_sequence<Is...>> {
        using type = tlist<lower_t<Roots, offs[Is]>...>;
    };
    using root_list = typename roots_of<std::index_sequence_for<Roots...>>::type;

    template <class RL>
    struct topo_of;
    template <class... Rs>
    struct topo_of<tlist<Rs...>> {
        using type = topo_t<Rs...>;
        static constexpr std::array<std::size_t, sizeof...(Rs)> root_index = {index_of_v<type, Rs>...};
    };
    using list = typename topo_of<root_list>::type;
    static constexpr auto root_index = topo_of<root_list>::root_index;

    std::array<double, nconst == 0 ? 1 : nconst> consts{};

    constexpr explicit lowered(const Roots&... roots) {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            (collect_rconst(roots, consts.data() + offs[Is]), ...);
        }(std::index_sequence_for<Roots...>{});
    }
};

/// The variables of a graph list, in topological order.
template <class L, class Acc = tlist<>>
struct vars_in;
template <class Acc>
struct vars_in<tlist<>, Acc> {
    using type = Acc;
};
template <class N, class... Ns, class Acc>
struct vars_in<tlist<N, Ns...>, Acc> {
    using type = typename vars_in<tlist<Ns...>,
                                  std::conditional_t<is_var_v<N>, typename push_back<Acc, N>::type, Acc>>::type;
};

template <class E, class... B>
constexpr auto evaluate(const E& e, const B&... b) {
    check_bindings<B...>();
    using T = number_t<B...>;
    using Low = lowered<E>;
    Low low(e);
    bindings<T, B...> ctx{tup<B...>(b...), low.consts.data()};
    typename vstore<typename Low::list, T>::type s{};
    forward<typename Low::list, T>(s, ctx);
    return vget<Low::root_index[0]>(s);
}

}  // namespace etgrad::detail
