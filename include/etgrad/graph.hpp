// etgrad/graph.hpp — from an expression type to its graph: the distinct nodes in topological order
// (children first), computed once per type at compile time. Runtime constants are first numbered by
// their position in the tree ("lowering"), so that identity by type is sound: two subtrees share a
// graph node only when they are the same type and hold no runtime constant.
#pragma once

#include "ops.hpp"

namespace etgrad::detail {

// ---------------------------------------------------------------------------------------------
// Lowering: rconst -> rc<I>, I = the constant's index in a depth-first walk of the tree.
template <class E, std::size_t Off, bool = has_rconst<E>>
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
    std::size_t counts[] = {count_rconst<Cs>..., 0};
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
template <class Op, class... Cs, std::size_t Off>
struct lower<node<Op, Cs...>, Off, true> {
    using type = typename lower_node<Op, std::index_sequence_for<Cs...>, Off, Cs...>::type;
};
template <class E, std::size_t Off = 0>
using lower_t = typename lower<E, Off>::type;

/// Write the runtime constants of e, in lowering order, to out.
template <class E>
constexpr void collect_rconst(const E& e, double* out) {
    if constexpr (std::is_same_v<E, rconst>) {
        *out = e.v;
    } else if constexpr (is_node_v<E> && has_rconst<E>) {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            constexpr auto offs = child_offsets<rm<decltype(e.template child<Is>())>...>();
            (collect_rconst(e.template child<Is>(), out + offs[Is]), ...);
        }(std::make_index_sequence<E::arity>{});
    }
}

// ---------------------------------------------------------------------------------------------
// Topological order: depth-first, children before parents, each distinct type once.
template <class L, class N, bool = contains_v<L, N>>
struct visit {
    using type = L;
};
template <class L, class... Cs>
struct visit_all;
template <class L>
struct visit_all<L> {
    using type = L;
};
template <class L, class C, class... Cs>
struct visit_all<L, C, Cs...> {
    using type = typename visit_all<typename visit<L, C>::type, Cs...>::type;
};
template <class L, class N>
struct visit_children {
    using type = L;
};
template <class L, class Op, class... Cs>
struct visit_children<L, node<Op, Cs...>> {
    using type = typename visit_all<L, Cs...>::type;
};
template <class L, class N>
struct visit<L, N, false> {
    using type = typename push_back<typename visit_children<L, N>::type, N>::type;
};

/// The distinct nodes of the roots' graph in topological order.
template <class... Roots>
using topo_t = typename visit_all<tlist<>, Roots...>::type;

// ---------------------------------------------------------------------------------------------
// Per-node facts as constexpr tables, so the sweeps query arrays instead of instantiating templates.
inline constexpr std::size_t max_arity = 3;
inline constexpr std::size_t none = static_cast<std::size_t>(-1);

struct node_info {
    std::size_t arity = 0;
    std::size_t child[max_arity] = {none, none, none};
    bool diff[max_arity] = {false, false, false};
    bool is_var = false;
    bool is_condition = false;
};

template <class L, class N>
constexpr node_info info_of() {
    node_info r{};
    r.is_var = is_var_v<N>;
    if constexpr (is_node_v<N>) {
        using Op = typename N::op;
        r.is_condition = Condition<Op>;
        [&]<class... Cs>(node<Op, Cs...>*) {
            static_assert(sizeof...(Cs) <= max_arity, "etgrad: nodes have at most three children");
            std::size_t i = 0;
            ((r.child[i] = index_of_v<L, Cs>, r.diff[i] = differentiable<Op>(i), ++i), ...);
            r.arity = i;
        }(static_cast<N*>(nullptr));
    }
    return r;
}

template <class L>
struct graph;
template <class... Ns>
struct graph<tlist<Ns...>> {
    using list = tlist<Ns...>;
    static constexpr std::size_t size = sizeof...(Ns);
    static constexpr std::array<node_info, size> info = {info_of<list, Ns>()...};
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
        constexpr bool is_wrt[] = {contains_v<tlist<Ws...>, Ns>..., false};
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

}  // namespace etgrad::detail
