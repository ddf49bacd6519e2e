// etgrad/tensor/shape.hpp — the shape of every expression node: a variable's own, a tensor
// operation's from its shape rule, and for elementwise operations NumPy's broadcast of the
// children's shapes. Computed once per node type; checked when a node is built (etgrad/ops.hpp).
#pragma once

#include "../core.hpp"

namespace etgrad {
namespace detail {
// ---------------------------------------------------------------------------------------------
// Shapes of nodes. An operation without a shape rule is elementwise: its shape is the NumPy
// broadcast of its children's shapes (trailing extents equal, or one of them 1 or absent).

/// Names both shapes in the compiler's message when an elementwise operation cannot broadcast them.
template <class Op, class SA, class SB>
struct shapes_do_not_broadcast {
    static_assert(sizeof(SA) == 0,
                  "etgrad: elementwise operation on shapes that do not broadcast (NumPy's rule: the trailing "
                  "extents must be equal or 1); the operation and both shapes are the template arguments of "
                  "this message");
    using type = SA;
};

template <class SA, class SB>
constexpr bool broadcastable() {
    constexpr std::size_t ra = SA::rank, rb = SB::rank;
    for (std::size_t k = 0; k < (ra < rb ? ra : rb); ++k) {
        const std::size_t a = SA::dims[ra - 1 - k], b = SB::dims[rb - 1 - k];
        if (a != b && a != 1 && b != 1) {
            return false;
        }
    }
    return true;
}
template <class SA, class SB>
struct broadcast_dims {
    static constexpr std::size_t rank = SA::rank > SB::rank ? SA::rank : SB::rank;
    static constexpr std::array<std::size_t, rank> dims = [] {
        std::array<std::size_t, rank> r{};
        for (std::size_t k = 0; k < rank; ++k) {
            const std::size_t a = k < SA::rank ? SA::dims[SA::rank - 1 - k] : 1;
            const std::size_t b = k < SB::rank ? SB::dims[SB::rank - 1 - k] : 1;
            r[rank - 1 - k] = a > b ? a : b;
        }
        return r;
    }();
    template <class Seq>
    struct make;
    template <std::size_t... Ks>
    struct make<std::index_sequence<Ks...>> {
        using type = shape<dims[Ks]...>;
    };
    using type = typename make<std::make_index_sequence<rank>>::type;
};
template <class Op, class SA, class SB>
struct broadcast2 {
    using type = typename std::conditional_t<
        std::is_same_v<SA, SB> || SB::rank == 0, std::type_identity<SA>,
        std::conditional_t<SA::rank == 0, std::type_identity<SB>,
                           std::conditional_t<broadcastable<SA, SB>(), broadcast_dims<SA, SB>,
                                              shapes_do_not_broadcast<Op, SA, SB>>>>::type;
};
template <class Op, class... S>
struct broadcast_all {
    using type = shape<>;
};
template <class Op, class S0, class... S>
struct broadcast_all<Op, S0, S...> {
    using type = typename broadcast2<Op, S0, typename broadcast_all<Op, S...>::type>::type;
};

template <class Op>
concept ShapeRule = requires { Op::structured; };
template <class Op, class... S>
struct op_shape {
    using type = typename broadcast_all<Op, S...>::type;
};
template <class Op, class... S>
    requires ShapeRule<Op>
struct op_shape<Op, S...> {
    using type = typename Op::template shape_rule<S...>::type;
};

template <class E>
struct shape_of {
    using type = shape<>;
};
template <auto N, class S>
struct shape_of<var_node<N, S>> {
    using type = S;
};
template <class Op, class... Bs>
struct shape_of<basic_node<Op, Bs...>> {
    using type = typename op_shape<Op, typename shape_of<unbox_t<Bs>>::type...>::type;
};
template <class E, std::size_t K>
struct shape_of<closure<E, K>> {
    using type = typename shape_of<E>::type;
};
/// The shape of an expression (shape<> for scalars).
template <class E>
using shape_of_t = typename shape_of<rm<E>>::type;

/// Does the expression hold a shaped node (memoised per type)?
template <class E>
struct has_shaped_c : std::false_type {};
template <auto N, class S>
struct has_shaped_c<var_node<N, S>> : std::bool_constant<S::rank != 0> {};
template <class Op, class... Bs>
struct has_shaped_c<basic_node<Op, Bs...>>
    : std::bool_constant<ShapeRule<Op> || (has_shaped_c<unbox_t<Bs>>::value || ...)> {};
template <class E, std::size_t K>
struct has_shaped_c<closure<E, K>> : has_shaped_c<E> {};
}  // namespace detail

/// The shape of an expression's value: `eg::shape_of_t<decltype(f)>`.
template <class E>
using shape_of_t = detail::shape_of_t<E>;

}  // namespace etgrad
