// etgrad/graph.hpp — from an expression type to its graph: the distinct nodes in topological order
// (children first), computed once per type at compile time. Runtime constants are first numbered by
// their position in the tree ("lowering"), so that identity by type is sound: two subtrees share a
// graph node only when they are the same type and hold no runtime constant.
#pragma once

#include <bit>

#include "ops.hpp"

namespace etgrad::detail {

inline constexpr std::size_t max_arity = 3;
inline constexpr std::size_t none = static_cast<std::size_t>(-1);

// ---------------------------------------------------------------------------------------------
// Loops at compile time. A walk over an expression is a loop over a state (a work stack and what
// the walk has built), not a recursion over the expression, so that no template recursion follows
// the depth of the expression (a chain of 2000 nested nodes compiles within the compilers'
// default limits): loop_run applies Step (Step<St>::type: the next state) up to N times, halving
// N at each level (template depth log2 N, whatever the expression), and stops at a state for which
// loop_done holds.
template <class St>
struct loop_done : std::false_type {};
template <template <class> class Step, class St, std::size_t N, bool = loop_done<St>::value>
struct loop_run {
    using type = typename loop_run<Step, typename loop_run<Step, St, N / 2>::type, N - N / 2>::type;
};
template <template <class> class Step, class St>
struct loop_run<Step, St, 1, false> {
    using type = typename Step<St>::type;
};
template <template <class> class Step, class St, std::size_t N>
struct loop_run<Step, St, N, true> {
    using type = St;
};
/// The step budget of a walk: each node is entered once per parent and left once (2^28 steps, far
/// above what a compiler can hold).
inline constexpr std::size_t walk_budget = std::size_t{1} << 28;

/// A work stack: a linked list of items.
struct wnil {};
template <class H, class T>
struct wcons {};
template <class R, class... Items>
struct wprepend {
    using type = R;
};
template <class R, class I, class... Items>
struct wprepend<R, I, Items...> {
    using type = wcons<I, typename wprepend<R, Items...>::type>;
};

// ---------------------------------------------------------------------------------------------
// Lowering: rconst -> rc<I>, I = the constant's index in a depth-first walk of the tree. A loop
// (above): lenter<E> lowers E (pushes its lowered type on Out, or, for a node holding runtime
// constants, schedules its children and then lbuild), lbuild<Op, A> makes the node of the A
// lowered types on top of Out; J counts the constants met.
// `unique`: whether every node of the lowered type that holds an rc<I> leaf occurs once in it (no
// closure was met), so that the topological walk lists them without looking them up.
template <class E, std::size_t Off, bool = has_rconst_c<E>::value>
struct lower {
    using type = E;
    static constexpr bool unique = false;  // (nothing lowered: the walk looks every node up)
};
template <std::size_t Off>
struct lower<rconst, Off, true> {
    using type = rc<Off>;
    static constexpr bool unique = true;
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

// (C: whether the walk has met a closure, whose expression may hold one lowered subexpression
// twice; without closures, every lowered node that holds an rc<I> leaf occurs once in the tree.)
template <std::size_t J, class W, class Out, bool C = false>
struct lstate {};
template <std::size_t J, class Out, bool C>
struct loop_done<lstate<J, wnil, Out, C>> : std::true_type {};
template <class E>
struct lenter {};
template <class Op, std::size_t A>
struct lbuild {};

template <std::size_t J, class E, class R, class Out, bool C, bool = has_rconst_c<E>::value>
struct lenter_step {
    using type = lstate<J, R, wcons<E, Out>, C>;  // nothing to lower
};
template <std::size_t J, class R, class Out, bool C>
struct lenter_step<J, rconst, R, Out, C, true> {
    using type = lstate<J + 1, R, wcons<rc<J>, Out>, C>;
};
template <std::size_t J, class E, std::size_t K, class R, class Out, bool C>
struct lenter_step<J, closure<E, K>, R, Out, C, true> {
    using type = lstate<J + count_rconst_c<closure<E, K>>::value, R, wcons<typename lower<closure<E, K>, J>::type, Out>, true>;
};
template <std::size_t J, class Op, class... Bs, class R, class Out, bool C>
struct lenter_step<J, basic_node<Op, Bs...>, R, Out, C, true> {
    using type = lstate<J, typename wprepend<R, lenter<unbox_t<Bs>>..., lbuild<Op, sizeof...(Bs)>>::type, Out, C>;
};
// (each lowered node's key is computed as it is made, its children's being known: the topological
// walk asks for keys parents first)
template <class N>
struct keyed {
    static_assert(key_c<N>::value != 0 || true);
    static_assert(has_rc_c<N>::value || true);  // (asked by the walk when there is no closure)
    using type = N;
};
template <class St>
struct lstep;
template <std::size_t J, class E, class R, class Out, bool Cl>
struct lstep<lstate<J, wcons<lenter<E>, R>, Out, Cl>> : lenter_step<J, E, R, Out, Cl> {};
template <std::size_t J, class Op, class R, class A, class Out, bool Cl>
struct lstep<lstate<J, wcons<lbuild<Op, 1>, R>, wcons<A, Out>, Cl>> {
    using type = lstate<J, R, wcons<typename keyed<node<Op, A>>::type, Out>, Cl>;
};
template <std::size_t J, class Op, class R, class A, class B, class Out, bool Cl>
struct lstep<lstate<J, wcons<lbuild<Op, 2>, R>, wcons<B, wcons<A, Out>>, Cl>> {
    using type = lstate<J, R, wcons<typename keyed<node<Op, A, B>>::type, Out>, Cl>;
};
template <std::size_t J, class Op, class R, class A, class B, class C, class Out, bool Cl>
struct lstep<lstate<J, wcons<lbuild<Op, 3>, R>, wcons<C, wcons<B, wcons<A, Out>>>, Cl>> {
    using type = lstate<J, R, wcons<typename keyed<node<Op, A, B, C>>::type, Out>, Cl>;
};
template <class St>
struct lowered_type;
template <std::size_t J, class T, bool Cl>
struct lowered_type<lstate<J, wnil, wcons<T, wnil>, Cl>> {
    using type = T;
    static constexpr bool unique = !Cl;
};
template <class Op, class... Bs, std::size_t Off>
struct lower<basic_node<Op, Bs...>, Off, true>
    : lowered_type<typename loop_run<lstep, lstate<Off, wcons<lenter<basic_node<Op, Bs...>>, wnil>, wnil>, walk_budget>::type> {};
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
    static constexpr bool unique = false;
};

template <class E, std::size_t Off = 0>
using lower_t = typename lower<E, Off>::type;

/// Does an object of E hold exactly its runtime constants, in lowering order (nothing else stored,
/// no padding: children are laid out in order, closures hold their constants before their
/// expression)?
template <class E>
inline constexpr bool holds_only_rconst_v =
    std::is_trivially_copyable_v<E> && sizeof(E) == sizeof(double) * count_rconst_c<E>::value;

/// Write the runtime constants of e, in lowering order, to out. Where the object holds only them,
/// one copy of its bytes (no function per subexpression, whose names would grow with the tree and
/// whose recursion would follow its depth).
template <class E>
constexpr void collect_rconst(const E& e, double* out) {
    if constexpr (has_rconst_c<E>::value && holds_only_rconst_v<E>) {
        const auto vals = std::bit_cast<std::array<double, count_rconst_c<E>::value>>(e);
        for (std::size_t i = 0; i < vals.size(); ++i) {
            out[i] = vals[i];
        }
    } else if constexpr (std::is_same_v<E, rconst>) {
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
// Steps: one per graph node, naming only the operation and the positions of its children (small
// template arguments keep symbol names and compile time linear in the graph's size).

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

/// The step of a leaf N at position I.
template <class N, std::size_t I>
struct leaf_step {
    using type = const_step<I, N>;
};
template <auto Name, class S, std::size_t I>
struct leaf_step<var_node<Name, S>, I> {
    using type = var_step<I, var_node<Name, S>>;
};
template <std::size_t J, std::size_t I>
struct leaf_step<rc<J>, I> {
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
/// The step of the operation node N at position I, its children at the positions C...
template <class N, std::size_t I, std::size_t... C>
struct node_step;
template <class Op, class... Bs, std::size_t I, std::size_t... C>
struct node_step<basic_node<Op, Bs...>, I, C...> {
    static_assert(sizeof...(Bs) <= max_arity, "etgrad: nodes have at most three children");
    using type = op_step<I, Op, bit_mask({is_condition_c<unbox_t<Bs>>::value...}), C...>;
};

// ---------------------------------------------------------------------------------------------
// Topological order: depth-first, children before parents, each distinct type once: a loop (see
// loop_run above) over a work stack, until the stack is empty. The walk also writes each node's
// step (its children's positions, which it knows: see wstate), so that no node is looked up again
// after the walk.
//
// "Already listed?" must not cost a walk over everything listed so far, nor a class whose size grows
// with it (a chain of classes deriving from one another makes GCC copy the whole base hierarchy at
// every step: quadratic memory, 2 GiB at 2000 nodes), nor constant evaluation over large arrays
// (GCC 12 reads an element of a constexpr array in time that grows with the array: a look-up per
// node in a table of n nodes cost it n^2). The listed nodes are kept in a persistent binary search
// tree of types with their positions, ordered by their keys (core.hpp's key_c, a 64-bit hash:
// random, so the tree is balanced on average, depth about 2 ln n): a lookup or an insertion is a
// path of a few dozen small instantiations; equal keys are compared as types (a hash collision
// costs a longer path, never a wrong graph). The listing order is kept apart, in batches of
// `topo_batch` nodes (and their steps) joined at the end.
inline constexpr std::size_t topo_batch = 64;

struct bst_nil {};
template <std::uint64_t K, class N, std::size_t P, class L, class R>
struct bst {};

/// The position of N (key K) in the tree, `none` when absent.
template <class T, std::uint64_t K, class N>
struct bst_find : std::integral_constant<std::size_t, none> {};
template <std::uint64_t K2, class N2, std::size_t P, class L, class R, std::uint64_t K, class N>
struct bst_find<bst<K2, N2, P, L, R>, K, N>
    : std::conditional_t<(K < K2), bst_find<L, K, N>,
                         std::conditional_t<K == K2 && ETGRAD_IS_SAME(N, N2), std::integral_constant<std::size_t, P>,
                                            bst_find<R, K, N>>> {};

template <class T, std::uint64_t K, class N, std::size_t P, int Side = 0>
struct bst_insert {
    using type = bst<K, N, P, bst_nil, bst_nil>;
};
template <std::uint64_t K2, class N2, std::size_t P2, class L, class R, std::uint64_t K, class N, std::size_t P>
struct bst_insert<bst<K2, N2, P2, L, R>, K, N, P, 0> : bst_insert<bst<K2, N2, P2, L, R>, K, N, P, (K < K2 ? -1 : 1)> {};
template <std::uint64_t K2, class N2, std::size_t P2, class L, class R, std::uint64_t K, class N, std::size_t P>
struct bst_insert<bst<K2, N2, P2, L, R>, K, N, P, -1> {
    using type = bst<K2, N2, P2, typename bst_insert<L, K, N, P>::type, R>;
};
template <std::uint64_t K2, class N2, std::size_t P2, class L, class R, std::uint64_t K, class N, std::size_t P>
struct bst_insert<bst<K2, N2, P2, L, R>, K, N, P, 1> {
    using type = bst<K2, N2, P2, L, typename bst_insert<R, K, N, P>::type>;
};

/// A list of lists joined, four at a time.
template <class... Ls>
struct tjoin {
    using type = tlist<>;
};
template <class... A>
struct tjoin<tlist<A...>> {
    using type = tlist<A...>;
};
template <class... A, class... B>
struct tjoin<tlist<A...>, tlist<B...>> {
    using type = tlist<A..., B...>;
};
template <class... A, class... B, class... C>
struct tjoin<tlist<A...>, tlist<B...>, tlist<C...>> {
    using type = tlist<A..., B..., C...>;
};
template <class... A, class... B, class... C, class... D, class... Rest>
struct tjoin<tlist<A...>, tlist<B...>, tlist<C...>, tlist<D...>, Rest...> {
    using type = typename tjoin<tlist<A..., B..., C..., D...>, Rest...>::type;
};

/// The search tree of a walk over a lowered tree without closures (lower<>::unique): the nodes
/// that hold an rc<I> leaf occur once, so they are listed without being looked up or inserted
/// (for a sum of 500 terms, whose nodes but x all hold one, that is a quarter of GCC's time).
template <class Tree>
struct unique_rc {};
template <class Tree, class N>
struct tree_find : bst_find<Tree, key_c<N>::value, N> {};
template <class Tree, class N, bool = has_rc_c<N>::value>
struct tree_find_u : bst_find<Tree, key_c<N>::value, N> {};
template <class Tree, class N>
struct tree_find_u<Tree, N, true> : std::integral_constant<std::size_t, none> {};
template <class Tree, class N>
struct tree_find<unique_rc<Tree>, N> : tree_find_u<Tree, N> {};
template <class Tree, class N, std::size_t P>
struct tree_insert {
    using type = typename bst_insert<Tree, key_c<N>::value, N, P>::type;
};
template <class Tree, class N, std::size_t P, bool = has_rc_c<N>::value>
struct tree_insert_u {
    using type = unique_rc<typename bst_insert<Tree, key_c<N>::value, N, P>::type>;
};
template <class Tree, class N, std::size_t P>
struct tree_insert_u<Tree, N, P, true> {
    using type = unique_rc<Tree>;
};
template <class Tree, class N, std::size_t P>
struct tree_insert<unique_rc<Tree>, N, P> : tree_insert_u<Tree, N, P> {};

/// The listed nodes: Tree, their search tree; Batches, a tlist of full batches (tlists of
/// topo_batch nodes), then Cur, the current batch, in listing order; SBatches and SCur, their
/// steps likewise; Count, how many are listed.
template <class Tree, class Batches, class Cur, class SBatches, class SCur, std::size_t Count>
struct tseen;
/// (Its parts are read by partial specializations, never by instantiating a tseen, whose members
/// would be instantiated with it at every step of the walk.)
template <class S>
struct tseen_parts;
template <class Tree, class... Bs, class Cur, class... SBs, class SCur, std::size_t Count>
struct tseen_parts<tseen<Tree, tlist<Bs...>, Cur, tlist<SBs...>, SCur, Count>> : std::integral_constant<std::size_t, Count> {
    using tree = Tree;
    using list = typename tjoin<Bs..., Cur>::type;
    using steps = typename tjoin<SBs..., SCur>::type;
};
template <class S>
struct tseen_tree;
template <class Tree, class Batches, class Cur, class SBatches, class SCur, std::size_t Count>
struct tseen_tree<tseen<Tree, Batches, Cur, SBatches, SCur, Count>> {
    using type = Tree;
};

template <class Tree, class Batches, class Cur, class SBatches, class SCur, std::size_t Count, bool Full>
struct tseen_next {
    using type = tseen<Tree, Batches, Cur, SBatches, SCur, Count>;
};
template <class Tree, class Batches, class Cur, class SBatches, class SCur, std::size_t Count>
struct tseen_next<Tree, Batches, Cur, SBatches, SCur, Count, true> {  // the batch is full
    using type = tseen<Tree, typename Batches::template push_back<Cur>, tlist<>,
                       typename SBatches::template push_back<SCur>, tlist<>, Count>;
};
/// List N (its step St) at the next position.
template <class S, class N, class St>
struct tseen_push;
template <class Tree, class Batches, class... Cur, class SBatches, class... SCur, std::size_t Count, class N, class St>
struct tseen_push<tseen<Tree, Batches, tlist<Cur...>, SBatches, tlist<SCur...>, Count>, N, St> {
    using type = typename tseen_next<typename tree_insert<Tree, N, Count>::type, Batches, tlist<Cur..., N>, SBatches,
                                     tlist<SCur..., St>, Count + 1, sizeof...(Cur) + 1 == topo_batch>::type;
};

/// The walk's work items: enter<N> (list N's subgraph) and leave<N> (list N, whose children are
/// listed).
template <class N>
struct wenter {};
template <class N>
struct wleave {};
/// The walk's state: S, what is listed; W, the work stack; P, a stack of positions (size_c<p>):
/// entering a node pushes its position once it is known, leaving a node pops its children's
/// (children are entered in order, so the last child's is on top) and pushes its own. At the end,
/// P holds the roots' positions, the last root's on top.
template <class S, class W, class P>
struct wstate {};
template <class St>
struct wdone;
template <class S, class W, class P>
struct wdone<wstate<S, W, P>> {
    using seen = tseen_parts<S>;
    using positions = P;
};
template <class S>
struct wcount;
template <class Tree, class Batches, class Cur, class SBatches, class SCur, std::size_t Count>
struct wcount<tseen<Tree, Batches, Cur, SBatches, SCur, Count>> : std::integral_constant<std::size_t, Count> {};

template <class S, class N, class R, class P, std::size_t Pos = tree_find<typename tseen_tree<S>::type, N>::value>
struct wvisit {
    using type = wstate<S, R, wcons<size_c<Pos>, P>>;  // already listed
};
template <class S, class N, class R, class P>
struct wvisit<S, N, R, P, none> {  // a leaf
    using type = wstate<typename tseen_push<S, N, typename leaf_step<N, wcount<S>::value>::type>::type, R,
                        wcons<size_c<wcount<S>::value>, P>>;
};
template <class S, class Op, class... Bs, class R, class P>
struct wvisit<S, basic_node<Op, Bs...>, R, P, none> {
    // its children, in order, then itself
    using type = wstate<S, typename wprepend<R, wenter<unbox_t<Bs>>..., wleave<basic_node<Op, Bs...>>>::type, P>;
};
/// Leaving N: its children's positions popped from P, its step, and P without them.
template <class N, std::size_t I, class P>
struct wpop;
template <class Op, std::size_t I, class P>
struct wpop<basic_node<Op>, I, P> {
    using step = typename node_step<basic_node<Op>, I>::type;
    using rest = P;
};
template <class Op, class B0, std::size_t I, std::size_t C0, class P>
struct wpop<basic_node<Op, B0>, I, wcons<size_c<C0>, P>> {
    using step = typename node_step<basic_node<Op, B0>, I, C0>::type;
    using rest = P;
};
template <class Op, class B0, class B1, std::size_t I, std::size_t C0, std::size_t C1, class P>
struct wpop<basic_node<Op, B0, B1>, I, wcons<size_c<C1>, wcons<size_c<C0>, P>>> {
    using step = typename node_step<basic_node<Op, B0, B1>, I, C0, C1>::type;
    using rest = P;
};
template <class Op, class B0, class B1, class B2, std::size_t I, std::size_t C0, std::size_t C1, std::size_t C2, class P>
struct wpop<basic_node<Op, B0, B1, B2>, I, wcons<size_c<C2>, wcons<size_c<C1>, wcons<size_c<C0>, P>>>> {
    using step = typename node_step<basic_node<Op, B0, B1, B2>, I, C0, C1, C2>::type;
    using rest = P;
};
template <class St>
struct wstep;
template <class S, class N, class R, class P>
struct wstep<wstate<S, wcons<wenter<N>, R>, P>> {
    using type = typename wvisit<S, N, R, P>::type;
};
template <class S, class N, class R, class P>
struct wstep<wstate<S, wcons<wleave<N>, R>, P>> {
    // (N is not listed yet: in a DAG no node is entered again between its enter and its leave.
    // No static data member here, nor anywhere in the walk: GCC names each one after its class,
    // the whole state of the walk, at a cost that grows with it.)
    using pop = wpop<N, wcount<S>::value, P>;
    using type = wstate<typename tseen_push<S, N, typename pop::step>::type, R,
                        wcons<size_c<wcount<S>::value>, typename pop::rest>>;
};
template <class S, class P>
struct loop_done<wstate<S, wnil, P>> : std::true_type {};

/// The positions on a stack, bottom first.
template <class P, std::size_t... Ps>
struct wpositions {
    static constexpr std::array<std::size_t, sizeof...(Ps)> value{Ps...};
};
template <std::size_t Q, class P, std::size_t... Ps>
struct wpositions<wcons<size_c<Q>, P>, Ps...> : wpositions<P, Q, Ps...> {};

/// The walk from the roots (Unique: the roots are lowered trees without closures, see unique_rc):
/// `list`, the distinct nodes in topological order; `steps`, their steps; `roots::value`, the
/// roots' positions in the list.
template <bool Unique, class... Roots>
struct topo_walk {
    using tree = std::conditional_t<Unique, unique_rc<bst_nil>, bst_nil>;
    using done = typename loop_run<wstep, wstate<tseen<tree, tlist<>, tlist<>, tlist<>, tlist<>, 0>,
                                                 typename wprepend<wnil, wenter<Roots>...>::type, wnil>,
                                   walk_budget>::type;
    static_assert(loop_done<done>::value, "etgrad: the graph is too large to be walked");
    using list = typename wdone<done>::seen::list;
    using steps = typename wdone<done>::seen::steps;
    using roots = wpositions<typename wdone<done>::positions>;
};

/// The distinct nodes of the roots' graph in topological order (Unique: see topo_walk).
template <bool Unique, class... Roots>
using topo_with_t = typename topo_walk<Unique, Roots...>::list;
template <class... Roots>
using topo_t = topo_with_t<false, Roots...>;

// ---------------------------------------------------------------------------------------------
// Positions by key: a graph's nodes' keys (core.hpp's key_c, computed children first, so that no
// key recurses), sorted with their positions; a node's position is a binary search. When two nodes
// of a graph share a key (a collision of the hash), `unique` is false and callers match types.
struct key_entry {
    std::uint64_t key;
    std::size_t pos;
};
/// Sorts r[0..n) by key (stable: equal keys keep their order), tmp a scratch array of n entries. A
/// merge sort over plain arrays, in a function that is not a template: GCC 12 evaluated std::sort
/// instantiated in key_index<L> several times slower than the same sort alone (a balanced sum of
/// 1000 terms, 4000 nodes: 13.6 s to its key index with std::sort, 11.1 s with this one).
constexpr void sort_keys(key_entry* r, key_entry* tmp, std::size_t n) {
    key_entry* from = r;
    key_entry* to = tmp;
    for (std::size_t w = 1; w < n; w *= 2) {
        for (std::size_t lo = 0; lo < n; lo += 2 * w) {
            const std::size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            std::size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                to[k++] = from[j].key < from[i].key ? from[j++] : from[i++];
            }
            while (i < mid) {
                to[k++] = from[i++];
            }
            while (j < hi) {
                to[k++] = from[j++];
            }
        }
        key_entry* t = from;
        from = to;
        to = t;
    }
    if (from != r) {
        for (std::size_t i = 0; i < n; ++i) {
            r[i] = from[i];
        }
    }
}
template <class L>
struct key_index;
template <class... Ns>
struct key_index<tlist<Ns...>> {
    static constexpr std::size_t n = sizeof...(Ns);
    using entry = key_entry;
    static constexpr std::array<entry, n> sorted = [] {
        std::array<entry, n> r{};
        std::size_t i = 0;
        for (std::uint64_t k : {key_c<Ns>::value..., std::uint64_t{0}}) {
            if (i < n) {
                r[i] = {k, i};
            }
            ++i;
        }
        std::array<entry, n> tmp{};
        sort_keys(r.data(), tmp.data(), n);
        return r;
    }();
    static constexpr bool unique = [] {
        for (std::size_t i = 1; i < n; ++i) {
            if (sorted[i].key == sorted[i - 1].key) {
                return false;
            }
        }
        return true;
    }();
    /// The position of the node whose key is k (n when absent).
    static constexpr std::size_t find(std::uint64_t k) {
        std::size_t lo = 0, hi = n;
        while (lo < hi) {
            std::size_t mid = lo + (hi - lo) / 2;
            if (sorted[mid].key < k) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo < n && sorted[lo].key == k ? sorted[lo].pos : n;
    }
};
/// The position of T in the graph list L, by key (by type after a collision).
template <class L, class T, bool = key_index<L>::unique>
struct position_in : std::integral_constant<std::size_t, key_index<L>::find(key_c<T>::value)> {};
template <class L, class T>
struct position_in<L, T, false> : index_in<L, T> {};

// ---------------------------------------------------------------------------------------------
// The steps of a node list that did not come from the walk (topo_walk writes its own): each
// child's position looked up by key.
template <class L, class N, std::size_t I>
struct step_of : leaf_step<N, I> {};
template <class L, class Op, class... Bs, std::size_t I>
struct step_of<L, basic_node<Op, Bs...>, I> : node_step<basic_node<Op, Bs...>, I, position_in<L, unbox_t<Bs>>::value...> {};

// (L is passed whole beside its elements: spelling it tlist<Ns...> inside the expansion would
// make the compiler build and hash the whole list again for each element, quadratic in its size.)
template <class L, class Ns, class Seq>
struct steps_impl;
template <class L, class... Ns, std::size_t... Is>
struct steps_impl<L, tlist<Ns...>, std::index_sequence<Is...>> {
    using type = tlist<typename step_of<L, Ns, Is>::type...>;
};
/// The steps of a topologically ordered node list.
template <class L>
using steps_t = typename steps_impl<L, L, std::make_index_sequence<L::size>>::type;

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

// A list reversed 64 elements per template level (no at_t: finding the I-th of n types is a walk
// over n bases, so n of them cost n^2): a graph of 2000 nodes takes 32 levels.
#define ETGRAD_R8(M, p) M(p##0) M(p##1) M(p##2) M(p##3) M(p##4) M(p##5) M(p##6) M(p##7)
#define ETGRAD_R64(M) ETGRAD_R8(M, A) ETGRAD_R8(M, B) ETGRAD_R8(M, C) ETGRAD_R8(M, D) \
    ETGRAD_R8(M, E) ETGRAD_R8(M, F) ETGRAD_R8(M, G) ETGRAD_R8(M, H)
#define ETGRAD_CLASS_PARAM(X) class X,
#define ETGRAD_ARG(X) X,
template <class L, class Acc>
struct reverse_small;
template <class... Ts, class... Acc>
struct reverse_small<tlist<Ts...>, tlist<Acc...>> {
    template <class Seq>
    struct go;
    template <std::size_t... Is>
    struct go<std::index_sequence<Is...>> {
        using type = tlist<at_t<tlist<Ts...>, sizeof...(Ts) - 1 - Is>..., Acc...>;
    };
    using type = typename go<std::index_sequence_for<Ts...>>::type;
};
template <class L, class... Acc>
struct reverse_big {
    using type = typename reverse_small<L, tlist<Acc...>>::type;
};
template <ETGRAD_R64(ETGRAD_CLASS_PARAM) class... Rest, class... Acc>
struct reverse_big<tlist<ETGRAD_R64(ETGRAD_ARG) Rest...>, Acc...> {
  private:
    template <class... Rev>
    struct with {
        using type = typename reverse_big<tlist<Rest...>, Rev..., Acc...>::type;
    };
    // the 64 elements reversed, in front of what the later elements give
    using first = typename reverse_small<tlist<ETGRAD_R64(ETGRAD_ARG) void>, tlist<>>::type;
    template <class V, class... Rev>
    static with<Rev...> pick(tlist<V, Rev...>*);

  public:
    using type = typename decltype(pick(static_cast<first*>(nullptr)))::type;
};
/// A list cut into lists of 64 elements (the last one shorter), 64 elements per template level: the
/// chunks of the sweeps (eval.hpp), taken without looking up each element by its index.
template <class L>
struct drop_front;
template <class T, class... Ts>
struct drop_front<tlist<T, Ts...>> {
    using type = tlist<Ts...>;
};
template <class L, class... Done>
struct split64 {
    using type = tlist<Done..., L>;
};
template <class... Done>
struct split64<tlist<>, Done...> {
    using type = tlist<Done...>;
};
#define ETGRAD_CARG(X) , X
template <ETGRAD_R64(ETGRAD_CLASS_PARAM) class... Rest, class... Done>
struct split64<tlist<ETGRAD_R64(ETGRAD_ARG) Rest...>, Done...>
    : split64<tlist<Rest...>, Done..., typename drop_front<tlist<void ETGRAD_R64(ETGRAD_CARG)>>::type> {};
#undef ETGRAD_CARG
#undef ETGRAD_ARG
#undef ETGRAD_CLASS_PARAM
#undef ETGRAD_R64
#undef ETGRAD_R8

/// The steps of a node list: those the walk wrote, when L is the list of the walk from its last
/// node (a lowered<> graph of one root, whose walk is then already done: the walk without look-ups
/// of the constant-holding nodes when L holds rc<I> leaves, see unique_rc, else the one that looks
/// every node up); else each child's position looked up by key.
template <class L>
struct walk_root {
    using type = at_t<L, L::size - 1>;
};
template <>
struct walk_root<tlist<>> {
    using type = void;
};
template <class T>
struct is_rc_c : std::false_type {};
template <std::size_t I>
struct is_rc_c<rc<I>> : std::true_type {};
template <class L>
struct holds_rc;
template <class... Ns>
struct holds_rc<tlist<Ns...>> : std::bool_constant<any_true({is_rc_c<Ns>::value..., false})> {};
template <class L, class R, bool Unique>
struct walk_matches : std::bool_constant<ETGRAD_IS_SAME(typename topo_walk<Unique, R>::list, L)> {};
template <class L, bool Unique>
struct walk_matches<L, void, Unique> : std::false_type {};
template <class L, class R = typename walk_root<L>::type, bool Unique = holds_rc<L>::value,
          bool = walk_matches<L, R, Unique>::value>
struct walk_steps {
    using type = typename topo_walk<Unique, R>::steps;
};
template <class L, class R>
struct walk_steps<L, R, true, false> : walk_steps<L, R, false> {};  // (a closure: the other walk)
template <class L, class R>
struct walk_steps<L, R, false, false> {
    using type = steps_t<L>;
};

/// The graph of the topologically ordered node list L.
template <class L>
struct graph;
template <class... Ns>
struct graph<tlist<Ns...>> : sized<sizeof...(Ns)> {  // size: the number of nodes
    using list = tlist<Ns...>;
    using steps = typename walk_steps<list>::type;
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
    using rsteps = typename reverse_big<steps>::type;
    static constexpr std::array<node_info, sizeof...(Ns)> info = []<class... Ss>(tlist<Ss...>*) {
        return std::array<node_info, sizeof...(Ns)>{step_info<Ss>::value...};
    }(static_cast<steps*>(nullptr));
};

/// Which nodes of the graph G carry a derivative: those that reach a variable of W through
/// differentiable edges.
template <class G, class W, class L = typename G::list>
struct activity;
template <class G, class... Ws, class... Ns>
struct activity<G, tlist<Ws...>, tlist<Ns...>> {
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
    static constexpr auto active = activity<G, W>::active;
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
    static constexpr auto active = activity<G, W>::active;
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
