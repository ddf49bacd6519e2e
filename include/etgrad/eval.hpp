// etgrad/eval.hpp — the sweeps. Forward: every distinct node's value, in topological order, into a
// fixed-size store on the stack. Backward: adjoints in reverse order, generated as straight-line code
// from the graph tables (no tape, no heap, no virtual call, no global state). Tangent: forward mode.
// All of it is generic over the number type (float, double, an xsimd batch).
#pragma once

#include <cstdint>

#include "graph.hpp"

namespace etgrad::detail {

// ---------------------------------------------------------------------------------------------
// Bindings.
template <class V>
struct scalar_value {
    using type = V;
};
template <class T, bool G>
struct scalar_value<data_ref<T, G>> {
    using type = T;  // only for the error path: data go through etgrad/data.hpp
};
template <class B>
using binding_value_t = typename scalar_value<typename B::value_type>::type;

// (Flat over the values, not one level per binding: a call may bind a thousand variables.)
template <class V>
struct number_rank : std::integral_constant<int, std::is_integral_v<V> ? 2 : std::is_same_v<V, float> ? 1
                                                  : std::is_same_v<V, double> ? 2 : std::is_floating_point_v<V> ? 3 : 0> {};
template <class... Vs>
struct number_type {
    static constexpr std::size_t batch_at = first_true({is_simd_batch<Vs>::value..., false});
    static constexpr int rank = [] {
        int r = 0;
        for (int x : {number_rank<Vs>::value..., 0}) {
            r = x > r ? x : r;
        }
        return r;
    }();
    using type = typename std::conditional_t<
        (batch_at < sizeof...(Vs)), at_t<tlist<Vs...>, (batch_at < sizeof...(Vs) ? batch_at : 0)>,
        std::conditional_t<rank == 1, float, std::conditional_t<rank == 3, long double, double>>>;
};
template <>
struct number_type<> {
    using type = double;
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
                  "(the variable is named in the template argument `Var` of this message; where a binding "
                  "is not used, a misspelt name?, the context names its variable: `Unused` of "
                  "missing_binding_beside_unused<Var, Unused>)");
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
    ETGRAD_INLINE constexpr T get() const {
        constexpr std::size_t i = binding_index<Var, B...>();
        if constexpr (i == none) {
            (void)missing_binding<Var>{};
            return T{};
        } else if constexpr (i == seeded) {
            (void)bound_twice<Var>{};
            return T{};
        } else {
            const auto& v = tget<i>(bs).value;
            if constexpr (is_data_ref_v<rm<decltype(v)>>) {
                return T{};  // after check_bindings' error: data need etgrad/data.hpp's loops
            } else if constexpr (std::is_same_v<rm<decltype(v)>, T>) {
                return v;
            } else if constexpr (is_simd_batch<T>::value) {
                return T(static_cast<typename scalar_of<T>::type>(v));
            } else {
                return static_cast<T>(v);
            }
        }
    }
};

template <class B>
inline constexpr bool is_data_binding_v = false;
template <auto N, class V>
inline constexpr bool is_data_binding_v<binding<N, V>> = is_data_ref_v<V>;
/// Is some variable bound to per-sample data (a range)?
template <class... B>
inline constexpr bool any_data_v = any_true({is_data_binding_v<B>...});

/// The data loops (etgrad/data.hpp): defined there, so that only users of data include xsimd.
template <class... B>
struct data_loops_need_etgrad_data_hpp;

/// Bindings that only the tensor sweeps read (a shaped parameter, per-sample rows, labels).
template <class B>
struct is_tensor_binding_c : std::false_type {};
template <auto N, class V>
    requires(!std::is_same_v<typename binding<N, V>::variable, var_node<N>> || requires { V::etgrad_label; })
struct is_tensor_binding_c<binding<N, V>> : std::true_type {};
/// Graphs with a shaped node, or calls with a tensor binding, run the tensor sweeps
/// (etgrad/tensor/eval.hpp, included by etgrad/etgrad.hpp).
template <class E, class... B>
inline constexpr bool tensor_path_v = has_shaped_c<E>::value || any_true({is_tensor_binding_c<B>::value...});
template <class... B>
struct tensor_entry;

/// The first binding whose variable an earlier binding binds too, and that earlier one (none, none
/// when each variable is bound once). By name, shape rank and size, sorted: O(N log N) steps of
/// constant evaluation and no instantiation per pair, so that a call with 1000 bindings compiles
/// quickly (a pair found is confirmed on the types by the caller).
template <class... B>
constexpr std::array<std::size_t, 2> first_rebinding() {
    constexpr std::size_t n = sizeof...(B);
    if constexpr (n < 2) {
        return {none, none};
    } else {
        // Integer keys (a hash of the name), so that the sort is cheap to evaluate (Clang's
        // constant evaluation counts steps: string comparisons of 1000 names exceed them).
        struct key {
            std::uint64_t hash;
            std::size_t rank, size, index;
            std::string_view name;
            constexpr bool operator<(const key& o) const {
                return hash != o.hash ? hash < o.hash
                       : rank != o.rank ? rank < o.rank
                       : size != o.size ? size < o.size
                                        : index < o.index;
            }
        };
        constexpr auto fnv = [](std::string_view v) {
            std::uint64_t h = 14695981039346656037ull;
            for (char ch : v) {
                h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
            }
            return h;
        };
        // (A list, not a fold expression: Clang nests folds, 256 deep at most.)
        std::array<key, n> k = [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            return std::array<key, n>{key{fnv(B::variable::name), B::variable::shape_type::rank,
                                          B::variable::shape_type::size, Is, B::variable::name}...};
        }(std::index_sequence_for<B...>{});
        std::sort(k.begin(), k.end());
        std::array<std::size_t, 2> r{none, none};
        for (std::size_t j = 1; j < n; ++j) {
            if (k[j].hash == k[j - 1].hash && k[j].rank == k[j - 1].rank && k[j].size == k[j - 1].size &&
                k[j].name == k[j - 1].name && (r[1] == none || k[j].index < r[1])) {
                r = {k[j - 1].index, k[j].index};
            }
        }
        return r;
    }
}
template <class... B>
constexpr void check_each_bound_once() {
    constexpr auto r = first_rebinding<B...>();
    if constexpr (r[0] != none) {
        using V0 = typename at_t<tlist<B...>, r[0]>::variable;
        using V1 = typename at_t<tlist<B...>, r[1]>::variable;
        if constexpr (std::is_same_v<V0, V1>) {
            (void)bound_twice<V0>{};
        }
    }
}
/// A variable is not bound while a binding is not used (a misspelt name, say `eg::var<"lamda"> =
/// 0.1` for lambda): one error, missing_binding<Var>'s, whose instantiation context names this
/// class with both variables.
template <class Var, class Unused>
struct missing_binding_beside_unused : missing_binding<Var> {};
template <class V, class Unused, class... B>
constexpr void check_is_bound() {
    if constexpr (binding_index<V, B...>() == none) {
        if constexpr (std::is_void_v<Unused>) {
            (void)missing_binding<V>{};
        } else {
            (void)missing_binding_beside_unused<V, Unused>{};
        }
    }
}
template <class V, class... Vs>
inline constexpr bool one_of_v = (std::is_same_v<V, Vs> || ...);
/// The variable of the I-th binding of L, or void past the end.
template <std::size_t I, class L>
struct nth_variable {
    using type = void;
};
template <std::size_t I, class B0, class... B>
struct nth_variable<I, tlist<B0, B...>> {
    using type = typename std::conditional_t<I == 0, std::type_identity<typename B0::variable>,
                                             nth_variable<(I == 0 ? 0 : I - 1), tlist<B...>>>::type;
};
template <class... Vs, class... B>
constexpr void check_all_bound(tlist<Vs...>*, tlist<B...>*) {
    // the first binding whose variable the expression does not read, if any
    constexpr std::size_t u = first_true({!one_of_v<typename B::variable, Vs...>..., true});
    using Unused = typename nth_variable<u, tlist<B...>>::type;
    (check_is_bound<Vs, Unused, B...>(), ...);
}

/// Reported for the first argument that is not a binding: its type is this class's template
/// argument, which the compiler prints beside the message.
template <class Arg>
struct not_a_binding {
    static_assert(is_binding_v<Arg>,
                  "etgrad: after the expression (and an optional eg::wrt(...)), pass bindings `x = value`; "
                  "an argument is not one (its type is the template argument `Arg` of not_a_binding<Arg>: "
                  "read a gradient record as g[x]; bind a number, array or range to a variable as x = value)");
};
/// Every argument is a binding (or a misused loop update, which has its own message).
template <class... B>
inline constexpr bool all_bindings_v = all_true({(is_binding_v<B> || is_update_v<B>)...});

template <class... B>
constexpr void check_bindings() {
    static_assert(!any_true({is_update_v<B>...}),
                  "etgrad: `x = e` with an expression e is a loop's update of its state: it goes in eg::carry(...); "
                  "bind x to a number here");
    if constexpr (!all_bindings_v<B...>) {
        constexpr std::size_t first = first_true({!(is_binding_v<B> || is_update_v<B>)...});
        (void)not_a_binding<at_t<tlist<B...>, first>>{};
    }
    static_assert(!any_data_v<B...>,
                  "etgrad: this function takes scalar bindings; data bound to a variable (x = xs) works with "
                  "evaluation, value_and_grad, grad, eval_into and value_and_grad_into");
    if constexpr (all_true({is_binding_v<B>...})) {
        // Each variable bound once (checked here, at the API boundary, so that the error names the
        // variable near the user's line; the same instantiation in bindings::get then adds nothing).
        check_each_bound_once<B...>();
    }
}

/// Every variable of the list L is bound (at the API boundary; names the missing variables).
template <class L, class... B>
constexpr void check_bound() {
    if constexpr (all_true({is_binding_v<B>...})) {
        check_all_bound(static_cast<L*>(nullptr), static_cast<tlist<B...>*>(nullptr));
    }
}

// ---------------------------------------------------------------------------------------------
// The value store of a sweep: one number per graph node, and one mask per node when the graph
// has conditions (x > 0, ...). Plain arrays, on the stack.
template <class T>
using mask_t = decltype(std::declval<T>() < std::declval<T>());

template <class T, std::size_t N, bool HasConditions>
struct store {
    // Not zero-initialised: the forward sweep writes every slot before it is read.
    std::array<T, N> v;
    std::array<mask_t<T>, HasConditions ? N : 0> m;
};
template <class G, class T>
using store_t = store<T, G::size, G::has_conditions>;

template <unsigned CondMask, std::size_t K, std::size_t C, class S>
ETGRAD_INLINE constexpr const auto& arg(const S& s) {
    if constexpr (((CondMask >> K) & 1u) != 0) {
        return s.m[C];
    } else {
        return s.v[C];
    }
}

/// adjoint * (the op's partial for Slot), or the op's own `vjp` when it has a cheaper form. One
/// instantiation per op, slot and number types, shared by every step of that op.
template <class Op, std::size_t Slot, class T, class... X>
ETGRAD_INLINE constexpr T contribution(const T& adj, const T& out, const X&... x) {
    if constexpr (requires { Op::template vjp<Slot>(adj, out, x...); }) {
        return static_cast<T>(Op::template vjp<Slot>(adj, out, x...));
    } else {
        return adj * static_cast<T>(Op::template partial<Slot>(out, x...));
    }
}

/// Calls an op's value and partial rules on the stored values of its children.
template <class Op, unsigned M, class Ks, std::size_t... C>
struct call_op;
template <class Op, unsigned M, std::size_t... Ks, std::size_t... C>
struct call_op<Op, M, std::index_sequence<Ks...>, C...> {
    template <class S>
    ETGRAD_INLINE static constexpr auto value(const S& s) {
        return Op::value(arg<M, Ks, C>(s)...);
    }
    template <std::size_t Slot, class S, class O>
    ETGRAD_INLINE static constexpr auto partial(const S& s, const O& out) {
        return Op::template partial<Slot>(out, arg<M, Ks, C>(s)...);
    }
    /// adjoint * partial, or the op's own `vjp` when it has a cheaper form.
    template <std::size_t Slot, class T, class S>
    ETGRAD_INLINE static constexpr T contribution(const T& adj, const S& s, const T& out) {
        return detail::contribution<Op, Slot, T>(adj, out, arg<M, Ks, C>(s)...);
    }
};
template <class Op, unsigned M, std::size_t... C>
using call_t = call_op<Op, M, std::make_index_sequence<sizeof...(C)>, C...>;

// ---------------------------------------------------------------------------------------------
// Forward sweep: one statement per step.
template <class T, std::size_t I, class Var, class S, class Ctx>
ETGRAD_INLINE constexpr void fwd(var_step<I, Var>, S& s, const Ctx& ctx) {
    s.v[I] = ctx.template get<Var>();
}
template <class T, std::size_t I, class K, class S, class Ctx>
ETGRAD_INLINE constexpr void fwd(const_step<I, K>, S& s, const Ctx&) {
    if constexpr (is_cc_c<K>::value) {
        s.v[I] = num_cast<T>(K{});
    } else {
        s.v[I] = num_cast<T>(K::value);
    }
}
template <class T, std::size_t I, std::size_t J, class S, class Ctx>
ETGRAD_INLINE constexpr void fwd(rc_step<I, J>, S& s, const Ctx& ctx) {
    s.v[I] = num_cast<T>(ctx.consts[J]);
}
template <class T, std::size_t I, class Op, unsigned M, std::size_t... C, class S, class Ctx>
ETGRAD_INLINE constexpr void fwd(op_step<I, Op, M, C...>, S& s, const Ctx&) {
    if constexpr (Condition<Op>) {
        s.m[I] = call_t<Op, M, C...>::value(s);
    } else if constexpr (M == 0) {
        // No condition among the children: the op is called on the stored values directly (one
        // function per op and number type, shared by every step of that op).
        s.v[I] = static_cast<T>(Op::value(s.v[C]...));
    } else {
        s.v[I] = static_cast<T>(call_t<Op, M, C...>::value(s));
    }
}

template <class T, class... Steps, class S, class Ctx>
ETGRAD_INLINE constexpr void forward_steps(tlist<Steps...>*, S& s, const Ctx& ctx) {
    // A braced list runs left to right (and, unlike a fold, has no operand limit in Clang).
    const int order[] = {0, (fwd<T>(Steps{}, s, ctx), 0)...};
    (void)order;
}
// Large graphs: the sweeps are cut into chunks of `sweep_chunk` steps, each a function that is
// not inlined (the steps inside it are), so that the compiler's middle end optimises many
// moderate functions instead of one huge one (whose inlining and analyses grow faster than
// linearly). Graphs up to `sweep_inline_limit` nodes stay one straight-line body.
inline constexpr std::size_t sweep_inline_limit = 160;
inline constexpr std::size_t sweep_chunk = 64;

template <std::size_t N>
inline constexpr std::size_t sweep_chunks = (N + sweep_chunk - 1) / sweep_chunk;

// A chunk is named by its own steps only (not by the whole graph), which keeps symbol names short.
template <class T, class... Steps, class S, class Ctx>
ETGRAD_NOINLINE constexpr void forward_chunk(tlist<Steps...>*, S& s, const Ctx& ctx) {
    const int order[] = {0, (fwd<T>(Steps{}, s, ctx), 0)...};
    (void)order;
}
/// The steps of a list cut into chunks (graph.hpp's split64: one class per list).
template <class L>
struct chunks_of {
    using type = typename split64<L>::type;
};
static_assert(sweep_chunk == 64, "etgrad: the sweeps' chunks are cut by graph.hpp's split64, 64 steps each");
template <class L, std::size_t B>
struct chunk_of {
    using type = at_t<typename chunks_of<L>::type, B / sweep_chunk>;
};

/// Evaluate every node of G, children first.
template <class G, class T, class S, class Ctx>
ETGRAD_INLINE constexpr void forward(S& s, const Ctx& ctx) {
    if constexpr (G::size <= sweep_inline_limit) {
        forward_steps<T>(static_cast<typename G::steps*>(nullptr), s, ctx);
    } else {
        [&]<std::size_t... Cs>(std::index_sequence<Cs...>) ETGRAD_LAMBDA_INLINE {
            const int order[] = {0, (forward_chunk<T>(static_cast<typename chunk_of<typename G::steps, Cs * sweep_chunk>::type*>(nullptr), s, ctx), 0)...};
            (void)order;
        }(std::make_index_sequence<sweep_chunks<G::size>>{});
    }
}

// ---------------------------------------------------------------------------------------------
// Backward sweep: for each node in reverse order, adjoint(child) (+)= adjoint(node) * partial.
template <class T, unsigned Contrib, unsigned Assign, class Step, class S, class A>
ETGRAD_INLINE constexpr void bwd(Step, const S&, A&) {}

template <class T, unsigned Contrib, unsigned Assign, std::size_t I, class Op, unsigned M, std::size_t... C,
          class S, class A>
ETGRAD_INLINE constexpr void bwd(op_step<I, Op, M, C...>, const S& s, A& adj) {
    if constexpr (Contrib != 0 && M == 0) {
        // One statement per differentiable slot, written out (slots 0 to 2: no op has more
        // children), with no lambda or helper instantiated per step: the compiler sees only the
        // op's own rule functions, one per op, slot and number type.
        constexpr std::size_t child[] = {C..., 0, 0};
        static_assert(sizeof...(C) <= 3, "etgrad: the backward sweep handles ops of up to 3 children");
#define ETGRAD_BWD_SLOT(K)                                                                             \
    if constexpr (((Contrib >> K) & 1u) != 0) {                                                        \
        T contrib = detail::contribution<Op, K, T>(adj[I], s.v[I], s.v[C]...);                         \
        if constexpr (((Assign >> K) & 1u) != 0) {                                                     \
            adj[child[K]] = contrib;                                                                   \
        } else {                                                                                       \
            adj[child[K]] = adj[child[K]] + contrib;                                                   \
        }                                                                                              \
    }
        ETGRAD_BWD_SLOT(0)
        ETGRAD_BWD_SLOT(1)
        ETGRAD_BWD_SLOT(2)
#undef ETGRAD_BWD_SLOT
    } else if constexpr (Contrib != 0) {
        constexpr std::size_t child[] = {C...};
        [&]<std::size_t... Ks>(std::index_sequence<Ks...>) ETGRAD_LAMBDA_INLINE {
            (
                [&]() ETGRAD_LAMBDA_INLINE {
                    if constexpr (((Contrib >> Ks) & 1u) != 0) {
                        T contrib = call_t<Op, M, C...>::template contribution<Ks>(adj[I], s, s.v[I]);
                        if constexpr (((Assign >> Ks) & 1u) != 0) {
                            adj[child[Ks]] = contrib;
                        } else {
                            adj[child[Ks]] = adj[child[Ks]] + contrib;
                        }
                    }
                }(),
                ...);
        }(std::index_sequence_for<decltype(C)...>{});
    }
}

template <class T, class Plan, class... Steps, class S, class A>
ETGRAD_INLINE constexpr void backward_steps(tlist<Steps...>*, const S& s, A& adj) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        // Steps are in reverse topological order here; the plan is indexed by topological position.
        constexpr std::size_t n = sizeof...(Steps);
        const int order[] = {0, (bwd<T, Plan::m.contrib[n - 1 - Is], Plan::m.assign[n - 1 - Is]>(Steps{}, s, adj), 0)...};
        (void)order;
    }(std::index_sequence_for<Steps...>{});
}
/// A backward step with its plan masks (for chunks, which are named by their own steps).
template <unsigned Contrib, unsigned Assign, class Step>
struct bstep {};
template <class T, unsigned... Cs, unsigned... As, class... Steps, class S, class A>
ETGRAD_NOINLINE constexpr void backward_chunk(tlist<bstep<Cs, As, Steps>...>*, const S& s, A& adj) {
    const int order[] = {0, (bwd<T, Cs, As>(Steps{}, s, adj), 0)...};
    (void)order;
}
template <class Plan, class RL, std::size_t B, class C = typename chunk_of<RL, B>::type,
          class Js = std::make_index_sequence<C::size>>
struct bchunk_of;
template <class Plan, class RL, std::size_t B, class... Steps, std::size_t... Js>
struct bchunk_of<Plan, RL, B, tlist<Steps...>, std::index_sequence<Js...>> {
    using type = tlist<bstep<Plan::m.contrib[RL::size - 1 - (B + Js)], Plan::m.assign[RL::size - 1 - (B + Js)],
                             Steps>...>;
};
/// Propagate adjoints from the roots (already seeded in adj) to the leaves.
template <class G, class T, class Plan, class S, class A>
ETGRAD_INLINE constexpr void backward(const S& s, A& adj) {
    if constexpr (G::size <= sweep_inline_limit) {
        backward_steps<T, Plan>(static_cast<typename G::rsteps*>(nullptr), s, adj);
    } else {
        [&]<std::size_t... Cs>(std::index_sequence<Cs...>) ETGRAD_LAMBDA_INLINE {
            const int order[] = {0, (backward_chunk<T>(
                static_cast<typename bchunk_of<Plan, typename G::rsteps, Cs * sweep_chunk>::type*>(nullptr), s, adj), 0)...};
            (void)order;
        }(std::make_index_sequence<sweep_chunks<G::size>>{});
    }
}

// ---------------------------------------------------------------------------------------------
// Tangent (forward-mode) sweep: tan(node) = sum over slots of partial * tan(child).
template <class T, unsigned Mask, class Step, class S, class A, class Seed>
ETGRAD_INLINE constexpr void tng(Step, const S&, A&, const Seed&) {}

template <class T, unsigned Mask, std::size_t I, class Var, class S, class A, class Seed>
ETGRAD_INLINE constexpr void tng(var_step<I, Var>, const S&, A& tan, const Seed& seed) {
    if constexpr (Mask != 0) {
        tan[I] = seed.template get<Var>();
    }
}
template <class T, unsigned Mask, std::size_t I, class Op, unsigned M, std::size_t... C, class S, class A,
          class Seed>
ETGRAD_INLINE constexpr void tng(op_step<I, Op, M, C...>, const S& s, A& tan, const Seed&) {
    if constexpr (Mask != 0 && M == 0) {
        // As in bwd: slots written out, the op's rules called directly.
        constexpr std::size_t child[] = {C..., 0, 0};
        constexpr unsigned lowest = Mask & (~Mask + 1u);
        static_assert(sizeof...(C) <= 3, "etgrad: the tangent sweep handles ops of up to 3 children");
#define ETGRAD_TNG_SLOT(K)                                                                             \
    if constexpr (((Mask >> K) & 1u) != 0) {                                                           \
        T term = static_cast<T>(Op::template partial<K>(s.v[I], s.v[C]...)) * tan[child[K]];           \
        if constexpr ((1u << K) == lowest) {                                                           \
            tan[I] = term;                                                                             \
        } else {                                                                                       \
            tan[I] = tan[I] + term;                                                                    \
        }                                                                                              \
    }
        ETGRAD_TNG_SLOT(0)
        ETGRAD_TNG_SLOT(1)
        ETGRAD_TNG_SLOT(2)
#undef ETGRAD_TNG_SLOT
    } else if constexpr (Mask != 0) {
        constexpr std::size_t child[] = {C...};
        constexpr unsigned lowest = Mask & (~Mask + 1u);
        [&]<std::size_t... Ks>(std::index_sequence<Ks...>) ETGRAD_LAMBDA_INLINE {
            (
                [&]() ETGRAD_LAMBDA_INLINE {
                    if constexpr (((Mask >> Ks) & 1u) != 0) {
                        T term = static_cast<T>(call_t<Op, M, C...>::template partial<Ks>(s, s.v[I])) * tan[child[Ks]];
                        if constexpr ((1u << Ks) == lowest) {
                            tan[I] = term;
                        } else {
                            tan[I] = tan[I] + term;
                        }
                    }
                }(),
                ...);
        }(std::index_sequence_for<decltype(C)...>{});
    }
}

template <class T, class Plan, class... Steps, class S, class A, class Seed>
ETGRAD_INLINE constexpr void tangent_steps(tlist<Steps...>*, const S& s, A& tan, const Seed& seed) {
    [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        const int order[] = {0, (tng<T, Plan::mask[Is]>(Steps{}, s, tan, seed), 0)...};
        (void)order;
    }(std::index_sequence_for<Steps...>{});
}
/// A tangent step with its plan mask (for chunks).
template <unsigned Mask, class Step>
struct tstep {};
template <class T, unsigned... Ms, class... Steps, class S, class A, class Seed>
ETGRAD_NOINLINE constexpr void tangent_chunk(tlist<tstep<Ms, Steps>...>*, const S& s, A& tan, const Seed& seed) {
    const int order[] = {0, (tng<T, Ms>(Steps{}, s, tan, seed), 0)...};
    (void)order;
}
template <class Plan, class L, std::size_t B, class C = typename chunk_of<L, B>::type,
          class Js = std::make_index_sequence<C::size>>
struct tchunk_of;
template <class Plan, class L, std::size_t B, class... Steps, std::size_t... Js>
struct tchunk_of<Plan, L, B, tlist<Steps...>, std::index_sequence<Js...>> {
    using type = tlist<tstep<Plan::mask[B + Js], Steps>...>;
};
/// Propagate tangents from the seeded variables forward (after the forward sweep filled s).
template <class G, class T, class Plan, class S, class A, class Seed>
ETGRAD_INLINE constexpr void tangent(const S& s, A& tan, const Seed& seed) {
    if constexpr (G::size <= sweep_inline_limit) {
        tangent_steps<T, Plan>(static_cast<typename G::steps*>(nullptr), s, tan, seed);
    } else {
        [&]<std::size_t... Cs>(std::index_sequence<Cs...>) ETGRAD_LAMBDA_INLINE {
            const int order[] = {0, (tangent_chunk<T>(
                static_cast<typename tchunk_of<Plan, typename G::steps, Cs * sweep_chunk>::type*>(nullptr), s, tan, seed), 0)...};
            (void)order;
        }(std::make_index_sequence<sweep_chunks<G::size>>{});
    }
}

// ---------------------------------------------------------------------------------------------
// A lowered set of roots: their graph, and the runtime constants in a flat array.
template <class... Roots>
struct lowered {
    static constexpr auto offs = child_offsets<Roots...>();
    static constexpr std::size_t nconst = offs[sizeof...(Roots)];

    template <class Seq>
    struct roots_of;
    template <std::size_t... Is>
    struct roots_of<std::index_sequence<Is...>> {
        using type = tlist<lower_t<Roots, offs[Is]>...>;
        // (each lowered root holds its own rc<I> leaves: the roots' nodes are unique together
        // when each root's are)
        static constexpr bool unique = (lower<Roots, offs[Is]>::unique && ...);
    };
    using root_list = typename roots_of<std::index_sequence_for<Roots...>>::type;

    static constexpr bool unique = roots_of<std::index_sequence_for<Roots...>>::unique;
    template <class RL>
    struct topo_of;
    template <class... Rs>
    struct topo_of<tlist<Rs...>> {
        using type = topo_walk<unique, Rs...>;
    };
    using walk = typename topo_of<root_list>::type;
    /// The distinct nodes in topological order.
    using list = typename walk::list;
    /// The roots' positions in list.
    static constexpr std::array<std::size_t, sizeof...(Roots)> root_index = walk::roots::value;
    /// The graph.
    using graph_type = graph<list>;

    std::array<double, nconst == 0 ? 1 : nconst> consts{};

    constexpr explicit lowered(const Roots&... roots) {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
            (detail::collect_rconst(roots, consts.data() + offs[Is]), ...);
        }(std::index_sequence_for<Roots...>{});
    }
};

/// The variables of a graph list, in topological order (a flat filter, no recursion).
/// The elements of the list L at the positions where Keep::keep(i) holds, in order (a flat filter,
/// no recursion).
template <class L, class Keep>
struct select_list;
template <class... Ns, class Keep>
struct select_list<tlist<Ns...>, Keep> {
    using list = tlist<Ns...>;
    static constexpr std::size_t count = [] {
        std::size_t k = 0;
        for (std::size_t i = 0; i < sizeof...(Ns); ++i) {
            k += Keep::keep(i) ? 1 : 0;
        }
        return k;
    }();
    static constexpr std::array<std::size_t, count + 1> pos = [] {
        std::array<std::size_t, count + 1> r{};
        std::size_t k = 0;
        for (std::size_t i = 0; i < sizeof...(Ns); ++i) {
            if (Keep::keep(i)) {
                r[k++] = i;
            }
        }
        return r;
    }();
    template <class Seq>
    struct pick;
    template <std::size_t... Is>
    struct pick<std::index_sequence<Is...>> {
        using type = tlist<at_t<list, pos[Is]>...>;
    };
    using type = typename pick<std::make_index_sequence<count>>::type;
};

/// The variables of a graph list, in topological order.
template <class L>
struct vars_in;
template <class... Ns>
struct vars_in<tlist<Ns...>> {
    struct is_var_at {
        static constexpr bool keep(std::size_t i) {
            constexpr bool v[] = {is_var_c<Ns>::value..., false};
            return v[i];
        }
    };
    using type = typename select_list<tlist<Ns...>, is_var_at>::type;
};

/// The variables of an expression, in topological order (specialised for loops, whose variables
/// are those of their expressions: etgrad/loop/data.hpp).
template <class E>
struct all_vars_of {
    using type = typename vars_in<typename lowered<E>::list>::type;
};
template <class E>
using all_vars_t = typename all_vars_of<E>::type;
/// Has E variables that a parameter store can be made of (an expression, or a loop)?
template <class E>
inline constexpr bool is_model_v = Expr<E>;
}  // namespace etgrad::detail

namespace etgrad {
/// The parameters of a model (etgrad/nn/parameters.hpp), and the test for one.
template <class T, class... Ps>
struct parameter_store;
template <class T>
inline constexpr bool is_parameter_store_v = false;
template <class T, class... Ps>
inline constexpr bool is_parameter_store_v<parameter_store<T, Ps...>> = true;
}  // namespace etgrad

namespace etgrad::detail {

template <class E, class... B>
ETGRAD_FLATTEN constexpr auto evaluate_scalar(const E& e, const B&... b) {
    check_bindings<B...>();
    using T = number_t<B...>;
    using Low = lowered<E>;
    using G = typename Low::graph_type;
    check_bound<typename vars_in<typename Low::list>::type, B...>();
    Low low(e);
    bindings<T, B...> ctx{tup<B...>(b...), low.consts.data()};
    store_t<G, T> s;
    forward<G, T>(s, ctx);
    using R = rm<E>;
    if constexpr (requires { typename R::op; }) {
        if constexpr (Condition<typename R::op>) {
            return s.m[Low::root_index[0]];  // a condition (x > 1): its truth value (a mask for batches)
        } else {
            return s.v[Low::root_index[0]];
        }
    } else {
        return s.v[Low::root_index[0]];
    }
}

template <class E, class... B>
ETGRAD_FLATTEN constexpr auto evaluate(const E& e, const B&... b) {
    if constexpr (!all_bindings_v<B...>) {
        check_bindings<B...>();
        return 0.0;  // after the error: no cascade
    } else if constexpr (tensor_path_v<E, B...>) {
        return tensor_entry<B...>::evaluate(e, b...);
    } else if constexpr (any_data_v<B...>) {
        return data_loops_need_etgrad_data_hpp<B...>::evaluate(e, b...);
    } else {
        return evaluate_scalar(e, b...);
    }
}

}  // namespace etgrad::detail
