// etgrad/derivative.hpp — the symbolic derivative eg::d(f, x): the chain rule applied to types.
// Each node contributes partial_i * d(child_i); the same partial rules as reverse mode, run on
// expressions. Nodes are built through the simplifier, so zeros vanish and constants fold, and the
// result is itself an expression (differentiate it again for higher orders).
#pragma once

#include "graph.hpp"

namespace etgrad {
namespace detail {

/// Does E depend on the variable X through differentiable edges? (memoised per type)
template <class E, class X>
struct dep_c : std::bool_constant<ETGRAD_IS_SAME(E, X)> {};
template <class E, std::size_t K, class X>
struct dep_c<closure<E, K>, X> : dep_c<E, X> {};
template <class Op>
constexpr bool any_differentiable(std::initializer_list<bool> deps) {
    std::size_t i = 0;
    for (bool d : deps) {
        if (d && differentiable<Op>(i)) {
            return true;
        }
        ++i;
    }
    return false;
}
// (No lambda: a lambda here would be a function named after the deep node type.)
template <class Op, class... Bs, class X>
struct dep_c<basic_node<Op, Bs...>, X>
    : std::bool_constant<any_differentiable<Op>({dep_c<unbox_t<Bs>, X>::value...})> {};

template <class A>
constexpr auto sum_terms(const A& a) {
    return a;
}
template <class A, class B, class... R>
constexpr auto sum_terms(const A& a, const B& b, const R&... r) {
    return detail::sum_terms(detail::make<ops::add_op>(a, b), r...);
}

/// Wrap a lowered expression with constants, unless it uses none of them.
template <class D, std::size_t K>
constexpr auto close_over(const D& d, const std::array<double, K>& consts) {
    if constexpr (has_rc_c<D>::value) {
        return closure<D, K>{{}, consts, d};
    } else {
        return d;
    }
}

/// f with its runtime constants lowered to rc<I> leaves and their values alongside (a closure), so
/// that its derivatives keep repeated subexpressions as one type; f itself when it has none.
template <class F>
constexpr auto lowered_closure(const F& f) {
    if constexpr (has_rconst_c<F>::value && !is_closure_c<F>::value) {
        closure<lower_t<F>, count_rconst_c<F>::value> cl{};  // lower_t<F> is empty: only rc<I> leaves
        detail::collect_rconst(f, cl.c.data());
        return cl;
    } else {
        return f;
    }
}

template <class X, class E>
constexpr auto derivative_impl(const E& e);

/// The derivative; when its type is empty (no runtime constant), it is determined by its type and
/// is default-constructed instead of computed: constant evaluation then never walks the DAG as a
/// tree (which, for high orders, is exponential and exceeded Clang's constexpr step limit).
template <class X, class E>
constexpr auto derivative(const E& e) {
    using R = decltype(detail::derivative_impl<X>(e));
    if constexpr (ETGRAD_IS_EMPTY(R)) {
        return R{};
    } else {
        return detail::derivative_impl<X>(e);
    }
}

template <class X, class E>
constexpr auto derivative_impl(const E& e) {
    if constexpr (!dep_c<E, X>::value) {
        return c<0>;
    } else if constexpr (is_var_c<E>::value) {
        return c<1>;
    } else if constexpr (is_closure_c<E>::value) {
        return close_over(detail::derivative<X>(e.e), e.c);
    } else if constexpr (requires { E::op::derive(e, detail::derivative<X>(e.template child<0>())); }) {
        // A reduction: its own rule (the derivative of a sum is the sum of the derivatives).
        return E::op::derive(e, detail::derivative<X>(e.template child<0>()));
    } else {
        using Op = typename E::op;
        return [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            auto term = [&]<std::size_t I>(std::integral_constant<std::size_t, I>) {
                using C = rm<decltype(e.template child<I>())>;
                if constexpr (differentiable<Op>(I) && dep_c<C, X>::value) {
                    return detail::make<ops::mul_op>(Op::template partial<I>(e, e.template child<Is>()...),
                                             detail::derivative<X>(e.template child<I>()));
                } else {
                    return c<0>;
                }
            };
            return detail::sum_terms(term(std::integral_constant<std::size_t, Is>{})...);
        }(std::make_index_sequence<arity_c<E>::value>{});
    }
}
/// Symbolic derivatives (eg::d) and Hessians are of scalar expressions only (eg::hvp takes shaped ones).
template <class F>
struct symbolic_of_shaped {
    static_assert(sizeof(F) == 0,
                  "etgrad: eg::d and eg::hessian do not take shaped variables yet: "
                  "use eg::value_and_grad, eg::vjp, eg::jvp or eg::hvp (Hessian-vector products), which do");
};
}  // namespace detail

/// The symbolic derivative of f with respect to the variable x: another expression, simplified at
/// compile time. `eg::d(x * x, x)` has the type of `2 * x`; `eg::is_zero<decltype(eg::d(f, z))>`
/// holds when f does not depend on z.
template <Expr F, class X>
constexpr auto d(const F& f, const X&) {
    static_assert(detail::is_var_c<X>::value, "etgrad::d(f, x) requires x to be a variable (eg::var<\"x\">)");
    if constexpr (detail::has_shaped_c<F>::value) {
        (void)detail::symbolic_of_shaped<F>{};
        return f;  // after the error: an expression, so that the next line adds none
    } else {
        // Lower first: runtime constants become rc<I> leaves, so that the copies the chain rule makes
        // of a subexpression are one type (one graph node); the values travel alongside.
        return detail::derivative<X>(detail::lowered_closure(f));
    }
}

}  // namespace etgrad
