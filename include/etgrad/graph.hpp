// etgrad/graph.hpp — from an expression type to its graph: the distinct nodes in topological order
// (children first), computed once per type at compile time. Runtime constants are first numbered by
// their position in the tree ("lowering"), so that identity by type is sound: two subtrees share a
// graph node only when they are the same type and hold no runtime constant.
#pragma once

#include "ops.hpp"

namespace etgrad::detail {

// ---------------------------------------------------------------------------------------------
// Lowering: rconst -> rc<I>, I = the constant's index in a depth-first walk of the tree.
template <class E, std::size_t Off, bool = has_rconst_c<E>::value>
struct lower {
    using type = E;
};
template <std::size_t Off>
struct lower<rconst, Off, true> {
    using type = rc<Off>;
};

template <class... Cs>
constexpr auto child_offsets() {
    std::array<std::size_t, sizeof...(Cs) + 1> r{};
    std::size_t counts[] = {count_rconst_c<Cs>::value..., 0};
    for (std::size_t i = 0; i < sizeof...(Cs); ++i) {
        r[i + 1] = r[i] + counts[i];
    }
    return r;
}
template <class Op, class Seq, std::size_t Off, class... Cs>
struct lower_node;
template <class Op, std::size_t... Is, std::size_t Off, class... Cs>
struct lower_node<Op, std::index_sequence<Is...>, Off, Cs...> {
    static constexpr auto offs = child_offsets<Cs...>();
    using type = node<Op, typename lower<Cs, Off + offs[Is]>::type...>;
};
template <class Op, class... Bs, std::size_t Off>
struct lower<basic_node<Op, Bs...>, Off, true> {
    using type = typename lower_node<Op, std::index_sequence_for<Bs...>, Off, unbox_t<Bs>...>::type;
};
// A closure's expression is already lowered: shift its rc<I> leaves by the offset.
template <class E, std::size_t Off, bool = has_rc_c<E>::value && Off != 0>
struct shift {
    using type = E;
};
template <std::size_t I, std::size_t Off>
struct shift<rc<I>, Off, true> {
    using type = rc<I + Off>;
};
template <class Op, class... Bs, std::size_t Off>
struct shift<basic_node<Op, Bs...>, Off, true> {
    using type = node<Op, typename shift<unbox_t<Bs>, Off>::type...>;
};
template <class E, std::size_t K, std::size_t Off>
struct lower<closure<E, K>, Off, true> {
    // rc<I> -> rc<Off + I>; the expression's own runtime constants follow the closure's K values.
    using type = typename lower<typename shift<E, Off>::type, Off + K>::type;
};

template <class E, std::size_t Off = 0>
using lower_t = typename lower<E, Off>::type;

/// Write the runtime constants of e, in lowering order, to out.
template <class E>
constexpr void collect_rconst(const E& e, double* out) {
    if constexpr (std::is_same_v<E, rconst>) {
        *out = e.v;
    } else if constexpr (is_closure_c<E>::value) {
        for (std::size_t i = 0; i < e.c.size(); ++i) {
            out[i] = e.c[i];
        }
        detail::collect_rconst(e.e, out + e.c.size());
    } else if constexpr (is_node_c<E>::value && has_rconst_c<E>::value) {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            constexpr auto offs = child_offsets<rm<decltype(e.template child<Is>())>...>();
            (detail::collect_rconst(e.template child<Is>(), out + offs[Is]), ...);
        }(std::make_index_sequence<arity_c<E>::value>{});
    }
}

// ---------------------------------------------------------------------------------------------
// Topological order: depth-first, children before parents, each distinct type once. One template
// frame per level of the expression, so that deep expressions stay within the compilers' limits.
// The state of the walk is a chain of small classes, one per node listed so far, each deriving from
// the previous one and from seen<Node>: "already listed?" is a base-class test (a walk over the
// chain inside the compiler, no pack expansion, no constant evaluation), and listing a node makes
// one class of two bases. The chain carries the list for the end.
template <class T>
struct seen {};
template <class... Ts>
struct topo_chain {
    using list = tlist<Ts...>;
};
template <class S, class N>
struct topo_chain_push : S, seen<N> {
    using list = typename S::list::template push_back<N>;
};

template <class S, class N, bool Present = ETGRAD_IS_BASE_OF(seen<N>, S)>
struct visit {
    using type = S;  // already listed
};
template <class S, class N>
struct visit<S, N, false> {
    using type = topo_chain_push<S, N>;  // a leaf
};
template <class S, class Op, class B0>
struct visit<S, basic_node<Op, B0>, false> {
    using type = topo_chain_push<typename visit<S, unbox_t<B0>>::type, basic_node<Op, B0>>;
};
template <class S, class Op, class B0, class B1>
struct visit<S, basic_node<Op, B0, B1>, false> {
    using type = topo_chain_push<typename visit<typename visit<S, unbox_t<B0>>::type, unbox_t<B1>>::type,
                                 basic_node<Op, B0, B1>>;
};
template <class S, class Op, class B0, class B1, class B2>
struct visit<S, basic_node<Op, B0, B1, B2>, false> {
    using type = topo_chain_push<
        typename visit<typename visit<typename visit<S, unbox_t<B0>>::type, unbox_t<B1>>::type,
                       unbox_t<B2>>::type,
        basic_node<Op, B0, B1, B2>>;
};

template <class S, class... Rs>
struct visit_roots {
    using type = S;
};
template <class S, class R, class... Rs>
struct visit_roots<S, R, Rs...> {
    using type = typename visit_roots<typename visit<S, R>::type, Rs...>::type;
};

/// The distinct nodes of the roots' graph in topological order.
template <class... Roots>
using topo_t = typename visit_roots<topo_chain<>, Roots...>::type::list;

// ---------------------------------------------------------------------------------------------
// Steps: one per graph node, naming only the operation and the positions of its children (small
// template arguments keep symbol names and compile time linear in the graph's size).
inline constexpr std::size_t max_arity = 3;
inline constexpr std::size_t none = static_cast<std::size_t>(-1);

/// A variable read from the bindings.
template <std::size_t I, class Var>
struct var_step {};
/// A compile-time constant (cconst or nconst).
template <std::size_t I, class K>
struct const_step {};
/// The J-th runtime constant.
template <std::size_t I, std::size_t J>
struct rc_step {};
/// An operation; bit k of CondMask says that child k is a condition (its value is a mask).
template <std::size_t I, class Op, unsigned CondMask, std::size_t... C>
struct op_step {};

template <class L, class N, std::size_t I>
struct step_of {
    using type = const_step<I, N>;
};
template <class L, auto Name, class S, std::size_t I>
struct step_of<L, var_node<Name, S>, I> {
    using type = var_step<I, var_node<Name, S>>;
};
template <class L, std::size_t J, std::size_t I>
struct step_of<L, rc<J>, I> {
    using type = rc_step<I, J>;
};
// (A plain function over the flags: a function template over Cs would get a long mangled name.)
constexpr unsigned bit_mask(std::initializer_list<bool> flags) {
    unsigned m = 0, bit = 1;
    for (bool f : flags) {
        m |= f ? bit : 0u;
        bit <<= 1;
    }
    return m;
}
template <class L, class Op, class... Bs, std::size_t I>
struct step_of<L, basic_node<Op, Bs...>, I> {
    static_assert(sizeof...(Bs) <= max_arity, "etgrad: nodes have at most three children");
    using type = op_step<I, Op, bit_mask({is_condition_c<unbox_t<Bs>>::value...}),
                         index_in<L, unbox_t<Bs>>::value...>;
};

template <class L, class Seq>
struct steps_impl;
template <class... Ns, std::size_t... Is>
struct steps_impl<tlist<Ns...>, std::index_sequence<Is...>> {
    using type = tlist<typename step_of<tlist<Ns...>, Ns, Is>::type...>;
};
/// The steps of a topologically ordered node list.
template <class L>
using steps_t = typename steps_impl<L, std::make_index_sequence<L::size>>::type;

// ---------------------------------------------------------------------------------------------
// Per-node facts as constexpr tables, so the sweeps query arrays instead of instantiating templates.
struct node_info {
    std::size_t arity = 0;
    std::size_t child[max_arity] = {none, none, none};
    bool diff[max_arity] = {false, false, false};
    bool is_var = false;
    bool is_condition = false;
};

template <class S>
struct step_info {
    static constexpr node_info value{};
};
template <std::size_t I, class Var>
struct step_info<var_step<I, Var>> {
    static constexpr node_info value{0, {none, none, none}, {false, false, false}, true, false};
};
template <std::size_t I, class Op, unsigned M, std::size_t... C>
struct step_info<op_step<I, Op, M, C...>> {
    static constexpr node_info value = [] {
        node_info r{};
        r.is_condition = Condition<Op>;
        std::size_t k = 0;
        ((r.child[k] = C, r.diff[k] = differentiable<Op>(k), ++k), ...);
        r.arity = k;
        return r;
    }();
};

template <class L, class Seq>
struct reverse_list;
template <class L, std::size_t... Is>
struct reverse_list<L, std::index_sequence<Is...>> {
    using type = tlist<at_t<L, L::size - 1 - Is>...>;
};

template <class L>
struct graph;
template <class... Ns>
struct graph<tlist<Ns...>> : sized<sizeof...(Ns)> {  // size: the number of nodes
    using list = tlist<Ns...>;
    using steps = steps_t<list>;
    static constexpr bool has_conditions = [] {
        constexpr bool c[] = {is_condition_c<Ns>::value..., false};
        for (bool b : c) {
            if (b) {
                return true;
            }
        }
        return false;
    }();
    /// The steps in reverse topological order (for the backward sweep).
    using rsteps = typename reverse_list<steps, std::index_sequence_for<Ns...>>::type;
    static constexpr std::array<node_info, sizeof...(Ns)> info = []<class... Ss>(tlist<Ss...>*) {
        return std::array<node_info, sizeof...(Ns)>{step_info<Ss>::value...};
    }(static_cast<steps*>(nullptr));
};

/// Which nodes carry a derivative: those that reach a variable of W through differentiable edges.
template <class L, class W>
struct activity;
template <class... Ns, class... Ws>
struct activity<tlist<Ns...>, tlist<Ws...>> {
    using G = graph<tlist<Ns...>>;
    static constexpr std::size_t n = sizeof...(Ns);
    static constexpr std::array<bool, n> active = [] {
        std::array<bool, n> a{};
        constexpr bool is_wrt[] = {contains_c<tlist<Ws...>, Ns>::value..., false};
        for (std::size_t i = 0; i < n; ++i) {
            const node_info& f = G::info[i];
            a[i] = f.is_var && is_wrt[i];
            for (std::size_t s = 0; s < f.arity; ++s) {
                a[i] = a[i] || (f.diff[s] && a[f.child[s]]);
            }
        }
        return a;
    }();
};

// The first write to each adjoint in the backward sweep (reverse topological order, slots in
// order) is an assignment, the others add: no 0 + x, which the compiler could not fold.
inline constexpr std::size_t seeded = static_cast<std::size_t>(-2);

template <class G, std::size_t N>
constexpr std::array<std::size_t, G::size> first_contribution(const std::array<bool, G::size>& active,
                                                              const std::array<std::size_t, N>& roots) {
    std::array<std::size_t, G::size> first{};
    for (auto& f : first) {
        f = none;
    }
    for (std::size_t r : roots) {
        first[r] = seeded;
    }
    for (std::size_t p = G::size; p-- > 0;) {
        const node_info& f = G::info[p];
        if (!active[p] || first[p] == none) {
            continue;  // no adjoint reaches p
        }
        for (std::size_t s = 0; s < f.arity; ++s) {
            std::size_t ch = f.child[s];
            if (f.diff[s] && active[ch] && first[ch] == none) {
                first[ch] = p * max_arity + s;
            }
        }
    }
    return first;
}

/// Backward-sweep plan of a graph for the differentiated variables W and the given roots:
/// per node, which slots contribute to a child's adjoint (bit k) and which of those assign.
template <class G, class W, auto Roots>
struct reverse_plan {
    static constexpr auto active = activity<typename G::list, W>::active;
    static constexpr auto first = first_contribution<G>(active, Roots);
    struct masks {
        std::array<unsigned, G::size> contrib{};
        std::array<unsigned, G::size> assign{};
    };
    static constexpr masks m = [] {
        masks r{};
        for (std::size_t p = 0; p < G::size; ++p) {
            const node_info& f = G::info[p];
            if (!active[p] || first[p] == none || f.is_condition) {
                continue;
            }
            for (std::size_t s = 0; s < f.arity; ++s) {
                if (f.diff[s] && active[f.child[s]]) {
                    r.contrib[p] |= 1u << s;
                    if (first[f.child[s]] == p * max_arity + s) {
                        r.assign[p] |= 1u << s;
                    }
                }
            }
        }
        return r;
    }();
};

/// Forward-mode plan: per node, which slots carry a tangent (bit k), and whether a variable leaf
/// is seeded (bit 31).
template <class G, class W>
struct tangent_plan {
    static constexpr auto active = activity<typename G::list, W>::active;
    static constexpr std::array<unsigned, G::size> mask = [] {
        std::array<unsigned, G::size> r{};
        for (std::size_t p = 0; p < G::size; ++p) {
            const node_info& f = G::info[p];
            if (!active[p] || f.is_condition) {
                continue;
            }
            if (f.is_var) {
                r[p] = 1u << 31;
            }
            for (std::size_t s = 0; s < f.arity; ++s) {
                if (f.diff[s] && active[f.child[s]]) {
                    r[p] |= 1u << s;
                }
            }
        }
        return r;
    }();
};

}  // namespace etgrad::detail
