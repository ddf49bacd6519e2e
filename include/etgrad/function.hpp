// etgrad/function.hpp — user-defined operations (PyTorch's torch.autograd.Function) and detach.
// A rule is a type with `value(u)` and `derivative(u)`, each generic so that it works on numbers,
// SIMD batches and expressions (the last is what lets eg::d differentiate through it).
#pragma once

#include "ops.hpp"

namespace etgrad {
namespace detail {
template <class Rule>
constexpr std::string_view rule_name() {
    if constexpr (requires { std::string_view(Rule::name); }) {
        return std::string_view(Rule::name);
    } else {
        return "Function";
    }
}
}  // namespace detail

namespace ops {
/// The node of `eg::function<Rule>(e)`.
template <class Rule>
struct custom_op {
    static constexpr std::string_view name = detail::rule_name<Rule>();
    static constexpr std::string_view fn = name;
    template <class T>
    static constexpr T value(const T& u) {
        return static_cast<T>(Rule::value(u));
    }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& u) {
        static_assert(requires { Rule::derivative(u); },
                      "etgrad::function<Rule>: Rule needs a static `derivative(u)` generic over numbers and "
                      "expressions");
        return Rule::derivative(u);
    }
};

/// The node of `eg::detach(e)`: the value of e, and no gradient through it.
struct detach_op {
    static constexpr std::string_view name = "Detach";
    static constexpr std::string_view fn = "detach";
    static constexpr bool differentiable(std::size_t) { return false; }
    template <class T>
    static constexpr T value(const T& a) {
        return a;
    }
};
}  // namespace ops

/// A custom operation with its own derivative rule:
/// `struct Cube { static constexpr auto value(const auto& u) { return u * u * u; }
///                static constexpr auto derivative(const auto& u) { return 3.0 * u * u; } };`
/// then `eg::function<Cube>(x + y)`. Rule::name, if present, names it in grad_fn_name.
template <class Rule, class E>
constexpr auto function(const E& e) {
    static_assert(requires { Rule::value(e); } || Expr<E>,
                  "etgrad::function<Rule>(e): Rule needs a static `value(u)`");
    if constexpr (Expr<E>) {
        ETGRAD_RETURN_NODE((node<ops::custom_op<Rule>, E>), e);
    } else {
        return Rule::value(e);
    }
}

/// The value of e with no gradient flowing through it (PyTorch's `detach()`).
template <class E>
constexpr auto detach(const E& e) {
    if constexpr (Expr<E>) {
        ETGRAD_RETURN_NODE((node<ops::detach_op, E>), e);
    } else {
        return e;
    }
}
/// Same as detach (JAX's name).
template <class E>
constexpr auto stop_gradient(const E& e) {
    return detach(e);
}
}  // namespace etgrad
