// etgrad/core.hpp — the expression core: leaves, nodes and bindings.
// An expression's type is its computation graph. Nodes hold their children by value, so an
// expression is a small literal type that can be copied, returned and stored without dangling.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <numeric>
#include <ranges>
#include <string_view>
#include <type_traits>
#include <utility>

// Compile time. An expression's type is its whole tree, so every entity named after it costs its
// size: GCC mangles each variable, static data member and function instantiated on a type, and
// its mangling is quadratic in the length of the name. So the traits over expression types are
// class templates deriving from std::integral_constant (no variable of their own, nothing to
// mangle), never variable templates, and type identity and emptiness use the compilers'
// built-ins (GCC >= 10 and Clang have __is_same, __is_empty and __is_base_of; they instantiate
// nothing). A list's length is a static member of a base named only by the number (sized<N>),
// for the same reason, and not an enumerator: Clang's argument-dependent lookup on an enumerator
// of a class template specialization walks that class's template arguments, exponentially in the
// depth of a graph with shared subexpressions.
#if defined(__GNUC__) || defined(__clang__)
#define ETGRAD_IS_SAME(...) __is_same(__VA_ARGS__)
#define ETGRAD_IS_EMPTY(...) __is_empty(__VA_ARGS__)
#define ETGRAD_IS_BASE_OF(...) __is_base_of(__VA_ARGS__)
#else
#define ETGRAD_IS_SAME(...) std::is_same_v<__VA_ARGS__>
#define ETGRAD_IS_EMPTY(...) std::is_empty_v<__VA_ARGS__>
#define ETGRAD_IS_BASE_OF(...) std::is_base_of_v<__VA_ARGS__>
#endif

// CUDA (nvcc): every etgrad function used in device code is constexpr, and so are the std:: and
// Boost.Hana functions they call, so etgrad needs nvcc's --expt-relaxed-constexpr (the
// etgrad::etgrad CMake target adds it for CUDA sources). ETGRAD_HD marks the few functions that are
// not constexpr but run in device code; it is empty for other compilers.
#if defined(__CUDACC__) && !defined(__CUDACC_RELAXED_CONSTEXPR__)
#error "etgrad in CUDA code needs nvcc's --expt-relaxed-constexpr (etgrad's functions are constexpr and run on the device through it); the etgrad::etgrad CMake target adds it"
#endif
#if defined(__CUDACC__)
#define ETGRAD_HD __host__ __device__
#else
#define ETGRAD_HD
#endif

// The sweeps are many tiny functions that must disappear into one straight-line body.
#if defined(__GNUC__) || defined(__clang__)
#define ETGRAD_INLINE [[gnu::always_inline]] inline
#define ETGRAD_FLATTEN [[gnu::flatten, gnu::always_inline]] inline
#define ETGRAD_LAMBDA_INLINE __attribute__((always_inline))
// A data loop: its own function, with everything it calls inlined into it (a flattened function
// that is itself inlined elsewhere loses the flattening).
#define ETGRAD_LOOP [[gnu::flatten, gnu::noinline]] inline
#define ETGRAD_NOINLINE [[gnu::noinline]] inline
#else
#define ETGRAD_LOOP inline
#define ETGRAD_NOINLINE inline
#define ETGRAD_INLINE inline
#define ETGRAD_FLATTEN inline
#define ETGRAD_LAMBDA_INLINE
#endif

namespace etgrad {

// ---------------------------------------------------------------------------------------------
// Type lists. Look-ups in both directions are overload resolutions against the list's map (a class
// deriving from tentry<I, T> for each element), which the compilers resolve by walking the bases,
// without expanding the list. The operations are member templates of the list, so that using them
// never deduces the list's elements again: matching a partial specialization such as
// `index_in<tlist<Ts...>, T>` costs GCC time in every element (each is a deep type). The fallback
// scan is a braced list (not a fold: Clang limits a fold expression to 256 operands; GCC is also
// slower on long folds than on a constexpr loop).

namespace detail {
constexpr std::size_t first_true(std::initializer_list<bool> m) {
    std::size_t i = 0;
    for (bool b : m) {
        if (b) {
            return i;
        }
        ++i;
    }
    return i;
}

/// All, any or none of a pack's conditions, as braced lists (not folds: see above).
constexpr bool all_true(std::initializer_list<bool> m) {
    for (bool b : m) {
        if (!b) {
            return false;
        }
    }
    return true;
}
constexpr bool any_true(std::initializer_list<bool> m) { return first_true(m) != m.size(); }
template <std::size_t I, class T>
struct tentry {};
template <class Seq, class... Ts>
struct tmap_impl;
template <std::size_t... Is, class... Ts>
struct tmap_impl<std::index_sequence<Is...>, Ts...> : tentry<Is, Ts>... {};
template <std::size_t I, class T>
T type_lookup(const tentry<I, T>*);
// Position of T: deduced from the list's map (one overload resolution, the compiler's walk over
// the bases); when T is absent, or present twice (deduction is then ambiguous), Scan: a scan of the
// list, instantiated only then.
template <class T, std::size_t I, class Scan>
std::integral_constant<std::size_t, I> index_lookup(const tentry<I, T>*, Scan*);
template <class T, class Scan>
Scan index_lookup(const void*, Scan*);
template <class T, class L>
struct scan_index;

/// A length, as the static member `size` of a base named only by the number (see "Compile time").
template <std::size_t N>
struct sized {
    static constexpr std::size_t size = N;
};

template <class... Ts>
struct tlist : sized<sizeof...(Ts)> {
    using map = tmap_impl<std::index_sequence_for<Ts...>, Ts...>;
    /// The position of T in the list (size when absent).
    template <class T>
    using index_of = decltype(detail::index_lookup<T>(static_cast<const map*>(nullptr),
                                                      static_cast<scan_index<T, tlist>*>(nullptr)));
    template <class T>
    using push_back = tlist<Ts..., T>;
};
template <class T, class... Ts>
struct scan_index<T, tlist<Ts...>>
    : std::integral_constant<std::size_t, first_true({ETGRAD_IS_SAME(T, Ts)..., true})> {};

/// The position of T in the list L (L::size when absent), as an integral constant.
template <class L, class T>
using index_in = typename L::template index_of<T>;
/// Is T in the list L?
template <class L, class T>
using contains_c = std::bool_constant<L::template index_of<T>::value != L::size>;
/// The I-th type of the list L.
template <class L, std::size_t I>
using at_t = decltype(detail::type_lookup<I>(static_cast<const typename L::map*>(nullptr)));
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// fixed_string: a string usable as a template argument (variable names, op names).
template <std::size_t N>
struct fixed_string {
    char data[N]{};
    constexpr fixed_string() = default;
    constexpr fixed_string(const char (&s)[N]) { std::copy_n(s, N, data); }
    static constexpr std::size_t size() { return N - 1; }
    constexpr std::string_view view() const { return {data, N - 1}; }
    constexpr operator std::string_view() const { return view(); }
    template <std::size_t M>
    constexpr fixed_string<N + M - 1> operator+(const fixed_string<M>& o) const {
        fixed_string<N + M - 1> r;
        std::copy_n(data, N - 1, r.data);
        std::copy_n(o.data, M, r.data + N - 1);
        return r;
    }
    auto operator<=>(const fixed_string&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Expressions. Every expression type derives from expr<Derived>, which marks it with the member
// type `etgrad_expression` (a marker, not a common base: a common empty base would force padding
// between nested nodes, which must share no subobject type).

/// Expr: an etgrad expression (a variable, a constant or an operation node).
template <class T>
concept Expr = requires { typename std::remove_cvref_t<T>::etgrad_expression; } &&
               ETGRAD_IS_SAME(typename std::remove_cvref_t<T>::etgrad_expression, std::remove_cvref_t<T>);

namespace detail {
template <class E, class... B>
ETGRAD_FLATTEN constexpr auto evaluate(const E& e, const B&... bindings);
struct var_tag {};
/// The shape of an expression node (etgrad/tensor/value.hpp), and whether a tree holds a shaped one.
template <class E>
struct shape_of;
template <class E>
struct has_shaped_c;
}  // namespace detail

/// CRTP base that gives every expression its call operator: f(x = 1.0, y = 2.0).
template <long long N, long long D>
struct cconst;

template <class D>
struct expr {
    using etgrad_expression = D;
    /// t[eg::c<I>]: row I of a shaped expression along its first axis (etgrad/tensor/ops.hpp).
    template <long long N>
    constexpr auto operator[](cconst<N, 1>) const;
    template <class... B>
    ETGRAD_INLINE constexpr auto operator()(const B&... bindings) const {
        return detail::evaluate(static_cast<const D&>(*this), bindings...);
    }
};

template <auto Name, class V>
struct binding;

template <class T>
struct is_simd_batch : std::false_type {};  // specialised by etgrad/simd.hpp

/// Per-sample data bound to a variable: a view of contiguous values (float or double), and
/// optionally a caller-provided output for the variable's per-sample gradient. Made by `x = xs`
/// (any contiguous range) or `x = eg::data(xs)`, `x = eg::data(xs).grad_into(gx)`.
template <class T, bool HasGrad = false>
struct data_ref {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "etgrad: data must be float or double");
    using value_type = T;
    static constexpr bool has_grad = HasGrad;
    const T* ptr = nullptr;
    std::size_t n = 0;
    T* gptr = nullptr;  ///< where the per-sample gradient goes (grad_into), or null
    std::size_t gn = 0;

    /// The per-sample gradient of this variable is written to `out` (same length as the data;
    /// checked, std::invalid_argument otherwise, before anything is computed).
    template <class R>
    constexpr data_ref<T, true> grad_into(R&& out) const {
        static_assert(std::ranges::contiguous_range<R> && std::ranges::sized_range<R>,
                      "etgrad: grad_into(out) needs a contiguous output range (std::vector, std::span, ...)");
        static_assert(std::is_same_v<std::remove_cv_t<std::ranges::range_value_t<R>>, T> &&
                          !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>,
                      "etgrad: grad_into(out) needs a writable range of the data's element type");
        return {ptr, n, std::ranges::data(out), std::ranges::size(out)};
    }
};

namespace detail {
template <class V>
inline constexpr bool is_data_ref_v = false;
template <class T, bool G>
inline constexpr bool is_data_ref_v<data_ref<T, G>> = true;
}  // namespace detail

namespace detail {
template <class V>
concept Bindable = std::is_arithmetic_v<V> || is_simd_batch<V>::value || is_data_ref_v<V>;
/// Contiguous float or double data, bound as a data_ref.
template <class V>
concept DataRange = !Bindable<std::decay_t<V>> && std::ranges::contiguous_range<V> &&
                    std::ranges::sized_range<V> &&
                    (std::is_same_v<std::remove_cv_t<std::ranges::range_value_t<V>>, float> ||
                     std::is_same_v<std::remove_cv_t<std::ranges::range_value_t<V>>, double>);
/// A range of floating-point values (contiguous or not).
template <class V>
concept FloatRange = std::ranges::range<V> && std::is_floating_point_v<std::remove_cv_t<std::ranges::range_value_t<V>>>;
template <class V>
struct bound {
    using type = double;  // after a failed static_assert (so that the assertion is the only error)
};
template <class V>
    requires(Bindable<std::decay_t<V>> && !Expr<V>)
struct bound<V> {
    using type = std::decay_t<V>;
};
template <class V>
    requires DataRange<V>
struct bound<V> {
    using type = data_ref<std::remove_cv_t<std::ranges::range_value_t<V>>>;
};
/// Other values a scalar variable binds (integer labels: etgrad/tensor/value.hpp).
template <class V>
struct custom_bound : std::false_type {};
/// The value type stored by `x = v`: V, a data_ref for contiguous data, or double after an error.
template <class V>
using bound_t = typename bound<V>::type;
}  // namespace detail

/// View a contiguous range of float or double as per-sample data: `x = eg::data(xs)`; add
/// `.grad_into(gx)` to receive the per-sample gradient of x.
template <class R>
constexpr auto data(R&& r) {
    static_assert(std::ranges::contiguous_range<R> && std::ranges::sized_range<R>,
                  "etgrad::data(r): r must be a contiguous sized range (std::vector, std::span, std::array, ...)");
    using T = std::remove_cv_t<std::ranges::range_value_t<R>>;
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "etgrad::data(r): the elements must be float or double");
    return data_ref<T>{std::ranges::data(r), std::ranges::size(r)};
}


/// The shape of a tensor, its extents in row-major order: `eg::shape<32, 64>` is 32 rows of 64.
/// `shape<>` is a scalar. The shape is part of a variable's type; the sample axis of data never is.
template <std::size_t... D>
struct shape {
    static_assert(((D > 0) && ...), "etgrad: every extent of a shape must be positive");
    static constexpr std::size_t rank = sizeof...(D);
    static constexpr std::size_t size = (std::size_t{1} * ... * D);  ///< the number of elements
    static constexpr std::array<std::size_t, sizeof...(D)> dims{D...};
};

namespace detail {
template <class S>
struct is_shape_c : std::false_type {};
template <std::size_t... D>
struct is_shape_c<shape<D...>> : std::true_type {};
/// The value stored by `x = v` for a variable of shape S (defined in etgrad/tensor/value.hpp for
/// shaped variables).
template <class V, class S>
struct shaped_bound;
template <class V, class S>
using shaped_bound_t = typename shaped_bound<V, S>::type;
}  // namespace detail

/// A variable identified by its name, of shape S: `constexpr auto x = eg::var<"x">;` (a scalar),
/// `constexpr auto W = eg::var<"W", eg::shape<32, 64>>;` (a 32×64 matrix).
///
/// The class template is `var_node<Name, S>`, whose Name is a `fixed_string` value taken as `auto`
/// (partial specialisations on a class-type placeholder parameter do not match under nvcc's EDG
/// front end); users spell the type `eg::var_t<"x", S>`, an alias that accepts a string literal.
template <auto Name, class S = shape<>>
struct var_node : expr<var_node<Name, S>> {
    static_assert(detail::is_shape_c<S>::value, "etgrad: var<\"name\", S>: S must be an eg::shape<...>");
    using hana_tag = detail::var_tag;
    using shape_type = S;
    static constexpr std::string_view name = Name.view();
    /// `x = 2.0` builds a binding (the operator is const: variables are constants).
    /// `x = xs` with a contiguous range (std::vector, std::span, std::array) binds per-sample data.
    /// A shaped variable binds a std::array, an eg::tensor or a span of exactly S::size elements,
    /// or per-sample rows (`x = eg::rows<64>(X)`).
    template <class V>
    constexpr auto operator=(V&& v) const;

  private:
    template <class V>
    constexpr binding<Name, detail::bound_t<V>> bind_scalar(V&& v) const;
};

/// The type of `eg::var<Name, S>`: `eg::var_t<"x">`, `eg::var_t<"W", eg::shape<3, 4>>`.
template <fixed_string Name, class S = shape<>>
using var_t = var_node<Name, S>;

/// The variable named Name, of shape S (a scalar by default).
template <fixed_string Name, class S = shape<>>
inline constexpr var_node<Name, S> var{};

/// A compile-time rational constant N/D (normalised: D > 0, gcd(N, D) = 1).
template <long long N, long long D = 1>
struct cconst : expr<cconst<N, D>> {
    static_assert(D > 0, "etgrad: cconst<N, D> needs a positive, normalised denominator");
    static constexpr long long num = N;
    static constexpr long long den = D;
    static constexpr double value = static_cast<double>(N) / static_cast<double>(D);
};

namespace detail {
constexpr long long gcd_(long long a, long long b) {
    a = a < 0 ? -a : a;
    b = b < 0 ? -b : b;
    while (b != 0) {
        long long t = a % b;
        a = b;
        b = t;
    }
    return a == 0 ? 1 : a;
}
template <long long N, long long D>
struct make_cconst {
    static_assert(D != 0, "etgrad: c<N, D> with D == 0 is not a number");
    static constexpr long long s = D < 0 ? -1 : 1;
    static constexpr long long g = gcd_(N, D);
    using type = cconst<s * N / g, s * D / g>;
};
}  // namespace detail

/// Compile-time constant N/D: `eg::c<2>`, `eg::c<1, 2>`. The simplifier folds these.
template <long long N, long long D = 1>
inline constexpr typename detail::make_cconst<N, D>::type c{};

/// A runtime constant (`2.5 * x`): the value is stored in the node.
struct rconst : expr<rconst> {
    double v = 0;
    constexpr rconst() = default;
    constexpr explicit rconst(double value) : v(value) {}
};

/// A named irrational constant (2/sqrt(pi), ...): empty, the value is in Tag.
template <class Tag>
struct nconst : expr<nconst<Tag>> {
    static constexpr double value = Tag::value;
};

namespace detail {
/// The I-th runtime constant of a lowered expression (see graph.hpp).
template <std::size_t I>
struct rc : expr<rc<I>> {};

// A minimal tuple of children. Empty children (variables, compile-time constants, and nodes made
// only of those) are not stored at all: they are rebuilt on access. So an expression without
// runtime constants is an empty type, whatever its size, and copying it costs nothing. (Storing
// them as [[no_unique_address]] members instead is miscompiled by GCC 12 in constant evaluation.)
template <class Owner, std::size_t I, class T, bool = ETGRAD_IS_EMPTY(T)>
struct tup_leaf {
    T v;
    constexpr const T& get() const { return v; }
};
template <class Owner, std::size_t I, class T>
struct tup_leaf<Owner, I, T, true> {
    constexpr tup_leaf() = default;
    constexpr explicit tup_leaf(const T&) {}
    constexpr T get() const { return T{}; }
};
// Owner makes the leaves of nested tuples distinct types, so that empty leaves never collide
// (which would force padding).
template <class Owner, class Seq, class... Ts>
struct tup_impl;
template <class Owner, std::size_t... Is, class... Ts>
struct tup_impl<Owner, std::index_sequence<Is...>, Ts...> : tup_leaf<Owner, Is, Ts>... {
    constexpr tup_impl() = default;
    constexpr explicit tup_impl(const Ts&... ts) : tup_leaf<Owner, Is, Ts>{ts}... {}
};
template <class... Ts>
using tup = tup_impl<void, std::index_sequence_for<Ts...>, Ts...>;
template <class Owner, class... Ts>
using owned_tup = tup_impl<Owner, std::index_sequence_for<Ts...>, Ts...>;

template <std::size_t I, class Owner, class T, bool E>
constexpr decltype(auto) tget(const tup_leaf<Owner, I, T, E>& l) {
    return l.get();
}

/// A node whose children are all empty stores nothing and has no tuple base: it is built
/// without calling a constructor of the tuple and its leaves, each of which would be a function
/// named after the node's whole tree (see ETGRAD_IS_SAME).
struct no_children {};
template <class Owner, bool Empty, class... Cs>
struct children_of {
    using type = owned_tup<Owner, Cs...>;
};
template <class Owner, class... Cs>
struct children_of<Owner, true, Cs...> {
    using type = no_children;
};
}  // namespace detail

/// A lowered expression E (its runtime constants replaced by the leaves rc<0> ... rc<K-1>) together
/// with the constants' values. eg::d returns one when f holds runtime constants, so that the copies
/// the chain rule makes of a subexpression stay one type, hence one graph node.
template <class E, std::size_t K>
struct closure : expr<closure<E, K>> {
    using inner = E;
    // (c first: the object then holds its runtime constants in their lowering order, which lets
    // graph.hpp's collect_rconst copy them as one block)
    std::array<double, K> c{};  ///< the values of rc<0> ... rc<K-1>
    E e{};                    ///< the expression (it may hold runtime constants of its own too)
};

// ETGRAD_BOX_CHILDREN: whether a node's template arguments wrap its children (see basic_node). On
// by default with Clang, off with GCC, where boxing only lengthens the names (GCC remembers the
// classes it has visited) and costs it about half again the time on an 800-node graph. Define it
// to 0 or 1 before including etgrad to choose; translation units that pass expression types to
// each other must agree on it.
#ifndef ETGRAD_BOX_CHILDREN
#if defined(__clang__)
#define ETGRAD_BOX_CHILDREN 1
#else
#define ETGRAD_BOX_CHILDREN 0
#endif
#endif

namespace detail {
/// A child type wrapped in a class that is not a template specialization (see basic_node).
template <class C>
struct boxed {
    struct type {
        using inner = C;
    };
};
#if ETGRAD_BOX_CHILDREN
template <class C>
using box_t = typename boxed<C>::type;
template <class B>
using unbox_t = typename B::inner;
#else
template <class C>
using box_t = C;
template <class B>
using unbox_t = B;
#endif
}  // namespace detail

template <class Op, class... Bs>
struct basic_node;

namespace detail {
template <class F>
struct paren_type;
template <class T>
struct paren_type<void(T)> {
    using type = T;
};
}  // namespace detail
/// `return R(args...);` for a node type R (written in parentheses: `ETGRAD_RETURN_NODE((node<Op, A,
/// B>), a, b)`), without calling a constructor when R stores nothing: `R{}` then instantiates no
/// function, where R's constructor would be one more function named after the node's whole tree,
/// whose name the compiler builds (and GCC's mangler does so in time quadratic in its depth).
#define ETGRAD_RETURN_NODE(R, ...)                                                   \
    do {                                                                             \
        using etgrad_node_type_ = typename ::etgrad::detail::paren_type<void R>::type; \
        if constexpr (ETGRAD_IS_EMPTY(etgrad_node_type_)) {                          \
            return etgrad_node_type_{};                                              \
        } else {                                                                     \
            return etgrad_node_type_(__VA_ARGS__);                                   \
        }                                                                            \
    } while (false)

namespace detail {
template <class E>
struct count_rconst_c;
template <class E>
struct key_c;
}  // namespace detail

/// An operation node: Op is the operation (name, value, derivative rule), Cs its children.
/// `node<Op, Cs...>` names the class basic_node<Op, box_t<Cs>...>.
template <class Op, class... Cs>
using node = basic_node<Op, detail::box_t<Cs>...>;

/// The class of an operation node; its children types are `detail::unbox_t<Bs>...`. Why boxed:
/// every operator in user code (`u * v`) makes the compiler collect the classes associated with its
/// operands, which for a class template specialization include those of its template arguments,
/// recursively. Clang 16 walks a specialization's arguments before it checks whether it has seen
/// the class, so an expression type that is a DAG of depth d (shared subexpressions) cost it up to
/// 2^d steps (the 800-node graph of bench/compile_time: 149 s, 7 s boxed). boxed<C>::type is a
/// member class, not a specialization: the walk stops there. See ETGRAD_BOX_CHILDREN.
template <class Op, class... Bs>
struct basic_node
    : expr<basic_node<Op, Bs...>>,
      private detail::children_of<basic_node<Op, Bs...>, (ETGRAD_IS_EMPTY(detail::unbox_t<Bs>) && ...),
                                  detail::unbox_t<Bs>...>::type {
  private:
    // (A type, not a static data member: that would be a symbol named after the node's whole tree;
    // see "Compile time" above.)
    using stores_nothing = std::bool_constant<(ETGRAD_IS_EMPTY(detail::unbox_t<Bs>) && ...)>;
    using children = typename detail::children_of<basic_node, stores_nothing::value, detail::unbox_t<Bs>...>::type;

    // Per-node facts that recurse over the tree are computed here, when the node class is
    // instantiated: its children are complete by then, so each costs one template level, and an
    // expression of any depth never recurses through them later (at its first evaluation).
    static_assert(detail::count_rconst_c<basic_node>::value != static_cast<std::size_t>(-1));
    static_assert(detail::key_c<basic_node>::value != 0 || true);  // (its key, for graph.hpp's walk)

  public:
    using op = Op;
    /// The number of children. (etgrad itself uses detail::arity_c, so that this member, whose
    /// symbol is named after the node's whole tree, is not instantiated: see "Compile time".)
    static constexpr std::size_t arity = sizeof...(Bs);
    constexpr basic_node() = default;
    constexpr explicit basic_node(const detail::unbox_t<Bs>&... cs)
        requires(!stores_nothing::value)
        : children(cs...) {}
    constexpr explicit basic_node(const detail::unbox_t<Bs>&...)
        requires(stores_nothing::value)
    {}
    /// The I-th child (a copy for empty children, which are not stored).
    template <std::size_t I>
    constexpr decltype(auto) child() const {
        if constexpr (stores_nothing::value) {
            return detail::unbox_t<detail::at_t<detail::tlist<Bs...>, I>>{};
        } else {
            return detail::tget<I>(static_cast<const children&>(*this));
        }
    }
};

// ---------------------------------------------------------------------------------------------
// Traits.
namespace detail {
// (Class templates, not variable templates: see ETGRAD_IS_SAME above.)
/// The number of children of a node (0 for a leaf).
template <class E>
struct arity_c : std::integral_constant<std::size_t, 0> {};
template <class Op, class... Bs>
struct arity_c<basic_node<Op, Bs...>> : std::integral_constant<std::size_t, sizeof...(Bs)> {};
template <class T>
struct is_var_c : std::false_type {};
template <auto N, class S>
struct is_var_c<var_node<N, S>> : std::true_type {};

template <class T>
struct is_cc_c : std::false_type {};
template <long long N, long long D>
struct is_cc_c<cconst<N, D>> : std::true_type {};

template <class T>
struct is_closure_c : std::false_type {};
template <class E, std::size_t K>
struct is_closure_c<closure<E, K>> : std::true_type {};

template <class T>
struct is_node_c : std::false_type {};
template <class Op, class... Bs>
struct is_node_c<basic_node<Op, Bs...>> : std::true_type {};

template <class T, long long N, long long D = 1>
struct is_cc_eq_c : std::bool_constant<ETGRAD_IS_SAME(T, cconst<N, D>)> {};

template <std::size_t N>
using size_c = std::integral_constant<std::size_t, N>;

/// Number of runtime constants in the tree of E (memoised per type).
template <class E>
struct count_rconst_c : size_c<0> {};
template <>
struct count_rconst_c<rconst> : size_c<1> {};
template <class Op, class... Bs>
struct count_rconst_c<basic_node<Op, Bs...>>
    : size_c<(std::size_t{0} + ... + count_rconst_c<unbox_t<Bs>>::value)> {};
template <class E, std::size_t K>
struct count_rconst_c<closure<E, K>> : size_c<K + count_rconst_c<E>::value> {};

/// Does E hold rc<I> leaves (a lowered expression)? (memoised per type)
template <class E>
struct has_rc_c : std::false_type {};
template <std::size_t I>
struct has_rc_c<rc<I>> : std::true_type {};
template <class Op, class... Bs>
struct has_rc_c<basic_node<Op, Bs...>> : std::bool_constant<(has_rc_c<unbox_t<Bs>>::value || ...)> {};

template <class E>
struct has_rconst_c : std::bool_constant<count_rconst_c<E>::value != 0> {};

// A 64-bit key per expression type, a hash of its tree: a node's key is mixed from its op's and its
// children's keys (a class per type, nothing named after the tree is mangled; computed when a node
// class is completed, or lowered by graph.hpp, children first: one template level each). Leaves and ops are small
// types, keyed by the hash of their name as the compiler prints it. Keys let graph.hpp find a
// node's position by a binary search over sorted integers instead of matching deep types (GCC's
// deduction compares two expression types level by level); equal keys of different types are
// detected there, and the graph falls back to matching types.
constexpr std::uint64_t key_of_text(std::string_view v) {
    std::uint64_t h = 14695981039346656037ull;
    for (char ch : v) {
        h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
    }
    return h;
}
constexpr std::uint64_t key_mix(std::uint64_t h, std::uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}
constexpr std::uint64_t key_of_node(std::uint64_t op, std::initializer_list<std::uint64_t> children) {
    std::uint64_t h = key_mix(op, children.size());
    for (std::uint64_t k : children) {
        h = key_mix(h, k);
    }
    return h;
}
template <class T>
constexpr std::uint64_t key_of_name() {
#if defined(__GNUC__) || defined(__clang__)
    return key_of_text(__PRETTY_FUNCTION__);
#else
    return 0;  // every key equal: graph.hpp matches types
#endif
}
template <class E>
struct key_c : std::integral_constant<std::uint64_t, key_of_name<E>()> {};
template <class Op, class... Bs>
struct key_c<basic_node<Op, Bs...>>
    : std::integral_constant<std::uint64_t, key_of_node(key_of_name<Op>(), {key_c<unbox_t<Bs>>::value...})> {};
template <class E, std::size_t K>
struct key_c<closure<E, K>> : std::integral_constant<std::uint64_t, key_mix(key_mix(0x636c6f73ull, K), key_c<E>::value)> {};

template <class T>
using rm = std::remove_cvref_t<T>;

template <class T>
struct is_zero_c : is_cc_eq_c<rm<T>, 0> {};
template <class T>
struct is_one_c : is_cc_eq_c<rm<T>, 1> {};
}  // namespace detail

/// True when T is a structural zero (the compile-time constant 0).
template <class T>
inline constexpr bool is_zero = detail::is_zero_c<T>::value;

/// True when T is the compile-time constant 1.
template <class T>
inline constexpr bool is_one = detail::is_one_c<T>::value;

// ---------------------------------------------------------------------------------------------
// Bindings: `x = 2.0`.
namespace detail {
/// The shape of the variable a bound value belongs to: shape<> unless the value says otherwise.
template <class V>
struct value_shape {
    using type = shape<>;
};
template <class V>
    requires requires { typename V::etgrad_shape; }
struct value_shape<V> {
    using type = typename V::etgrad_shape;
};
}  // namespace detail

/// A value bound to the variable Name for one evaluation.
template <auto Name, class V>
struct binding {
    static constexpr std::string_view name = Name.view();
    using variable = var_node<Name, typename detail::value_shape<V>::type>;
    using value_type = V;
    V value;
};

namespace detail {
/// `x = e` with an expression e: "the next value of x is e", one update of a loop's carried state
/// (inside eg::carry(...), etgrad/loop.hpp); not a binding.
template <class Var, class E>
struct update {
    using variable = Var;
    using expression = E;
    using value_type = double;  // (misused as a binding: one error, from check_bindings)
    E next;
};
template <class T>
inline constexpr bool is_update_v = false;
template <class Var, class E>
inline constexpr bool is_update_v<update<Var, E>> = true;
}  // namespace detail

template <auto Name, class S>
template <class V>
constexpr auto var_node<Name, S>::operator=(V&& v) const {
    if constexpr (Expr<V>) {
        return detail::update<var_node, std::remove_cvref_t<V>>{static_cast<V&&>(v)};
    } else if constexpr (S::rank != 0) {
        return binding<Name, detail::shaped_bound_t<V, S>>{
            detail::shaped_bound<V, S>::make(static_cast<V&&>(v), name)};
    } else {
        return bind_scalar(static_cast<V&&>(v));
    }
}

template <auto Name, class S>
template <class V>
constexpr binding<Name, detail::bound_t<V>> var_node<Name, S>::bind_scalar(V&& v) const {
    if constexpr (Expr<V>) {
        static_assert(!Expr<V>, "etgrad: `x = e` binds a value to x; bind a number, not an expression");
        return {};
    } else if constexpr (detail::Bindable<std::decay_t<V>>) {
        return {static_cast<V&&>(v)};
    } else if constexpr (detail::DataRange<V>) {
        return {etgrad::data(v)};
    } else if constexpr (detail::custom_bound<V>::value) {
        return {detail::custom_bound<V>::make(v)};
    } else if constexpr (detail::FloatRange<V>) {
        static_assert(std::ranges::contiguous_range<V> && std::ranges::sized_range<V>,
                      "etgrad: a variable can be bound to data only through a contiguous range "
                      "(std::vector, std::span, std::array, a C array); this range is not contiguous");
        static_assert(!std::is_same_v<std::remove_cv_t<std::ranges::range_value_t<V>>, long double>,
                      "etgrad: data bound to a variable must be float or double");
        return {};
    } else {
        static_assert(detail::Bindable<std::decay_t<V>>,
                      "etgrad: a variable can only be bound to an arithmetic value (float, double, ...),"
                      " to contiguous data of float or double (std::vector, std::span, ...) or to an xsimd batch");
        return {};
    }
}

namespace detail {
template <class T>
inline constexpr bool is_binding_v = false;
template <auto N, class V>
inline constexpr bool is_binding_v<binding<N, V>> = true;
}  // namespace detail

/// Spread one data call over several threads: pass `eg::par` (all hardware threads) or
/// `eg::par(n)` first (etgrad/data.hpp). Work is split into fixed blocks whose partial results are
/// combined in block order, so results are bit-identical for any number of threads (and to the
/// sequential call). The threads are started by the first parallel call and kept for later ones
/// (detail/thread_pool.hpp); a call made while another thread's parallel call runs uses its own
/// thread alone.
struct par_t {
    unsigned threads = 0;  ///< 0: std::thread::hardware_concurrency()
    constexpr par_t operator()(unsigned n) const { return par_t{n}; }
};
inline constexpr par_t par{};

}  // namespace etgrad
