// etgrad/ops.hpp — every operation, defined once: its name, its value and its local derivative
// rule side by side. Rules are generic: the same code runs on numbers, on SIMD batches and on
// expressions (which is how the symbolic derivative eg::d is built). Also the user-facing function
// objects (eg::sin, ...), the operators, and the compile-time simplifier used when building nodes.
#pragma once

#include <cmath>
#include <limits>

#include "core.hpp"
#include "detail/cmath.hpp"
#include "tensor/shape.hpp"

namespace etgrad {

namespace detail {
/// Forward-mode numbers (detail/dual.hpp, used by hessian).
template <class T>
struct is_dual_c : std::false_type {};
// Number-like values: arithmetic types, SIMD batches and dual numbers (never expressions).
template <class T>
concept Number = std::is_arithmetic_v<rm<T>> || is_simd_batch<rm<T>>::value || is_dual_c<rm<T>>::value;

template <class T>
struct scalar_of {
    using type = T;
};
template <class T>
    requires requires { typename T::value_type; }
struct scalar_of<T> {
    using type = typename T::value_type;
};

/// Convert a double (a constant's value) to the number type T.
template <class T>
constexpr T num_cast(double v) {
    if constexpr (std::is_arithmetic_v<T>) {
        return static_cast<T>(v);
    } else {
        return T(static_cast<typename scalar_of<T>::type>(v));
    }
}
template <class T, long long N, long long D>
constexpr T num_cast(cconst<N, D>) {
    using S = typename scalar_of<T>::type;
    if constexpr (D == 1) {
        return num_cast<T>(static_cast<double>(N));
    } else {
        // N/D rounded once in the target precision, as a user writing 1.0f/3.0f would get.
        S v = static_cast<S>(N) / static_cast<S>(D);
        if constexpr (std::is_arithmetic_v<T>) {
            return v;
        } else {
            return T(v);
        }
    }
}

/// The constant N/D in the domain of `like`: a compile-time constant for expressions, a
/// number of like's type for numbers. Rules build their constants with it.
template <long long N, long long D = 1, class L>
constexpr auto k(const L&) {
    if constexpr (Expr<L>) {
        return c<N, D>;
    } else {
        return num_cast<L>(typename make_cconst<N, D>::type{});
    }
}
template <class Tag, class L>
constexpr auto k_named(const L&) {
    if constexpr (Expr<L>) {
        return nconst<Tag>{};
    } else {
        return num_cast<L>(Tag::value);
    }
}

struct two_over_sqrt_pi {
    static constexpr double value = 1.12837916709551257389615890312154517;
    static constexpr std::string_view name = "2/sqrt(pi)";
};

// Lift an operand to an expression: arithmetic values become runtime constants.
template <class A>
constexpr auto lift(const A& a) {
    if constexpr (Expr<A>) {
        return a;
    } else {
        static_assert(std::is_arithmetic_v<A>,
                      "etgrad: an expression can only be combined with arithmetic values or expressions");
        return rconst(static_cast<double>(a));
    }
}

// Numeric kernels: <cmath> (or etgrad's constexpr math while constant-evaluating) on arithmetic
// types, etgrad/simd.hpp's batch kernels (batch_math) on SIMD batches, the number type's own
// functions (found by ADL) on others (dual numbers).
namespace num {
/// Specialised by etgrad/simd.hpp for xsimd batches (enabled = true, and one static function per
/// kernel below): the batch kernels that give <cmath>'s answers at the edges.
template <class T>
struct batch_math {
    static constexpr bool enabled = false;
};
}  // namespace num
#define ETGRAD_NUM_UNARY(NAME)                           \
    template <class T>                                   \
    constexpr T NAME(const T& a) {                       \
        if constexpr (std::is_arithmetic_v<T>) {         \
            if (std::is_constant_evaluated()) {          \
                return cx::NAME(a);                      \
            }                                            \
            return std::NAME(a);                         \
        } else if constexpr (batch_math<T>::enabled) {   \
            return batch_math<T>::NAME(a);               \
        } else {                                         \
            using std::NAME;                             \
            return NAME(a);                              \
        }                                                \
    }
namespace num {
ETGRAD_NUM_UNARY(exp)
ETGRAD_NUM_UNARY(log)
ETGRAD_NUM_UNARY(log1p)
ETGRAD_NUM_UNARY(expm1)
ETGRAD_NUM_UNARY(sqrt)
ETGRAD_NUM_UNARY(cbrt)
ETGRAD_NUM_UNARY(sin)
ETGRAD_NUM_UNARY(cos)
ETGRAD_NUM_UNARY(tan)
ETGRAD_NUM_UNARY(asin)
ETGRAD_NUM_UNARY(acos)
ETGRAD_NUM_UNARY(atan)
ETGRAD_NUM_UNARY(sinh)
ETGRAD_NUM_UNARY(cosh)
ETGRAD_NUM_UNARY(tanh)
ETGRAD_NUM_UNARY(erf)
ETGRAD_NUM_UNARY(abs)

template <class T>
constexpr T atan2(const T& y, const T& x) {
    if constexpr (std::is_arithmetic_v<T>) {
        if (std::is_constant_evaluated()) {
            return cx::atan2(y, x);
        }
        return std::atan2(y, x);
    } else if constexpr (batch_math<T>::enabled) {
        return batch_math<T>::atan2(y, x);
    } else {
        using std::atan2;
        return atan2(y, x);
    }
}
template <class T>
constexpr T pow(const T& a, const T& b) {
    if constexpr (std::is_arithmetic_v<T>) {
        if (std::is_constant_evaluated()) {
            return cx::pow(a, b);
        }
        return std::pow(a, b);
    } else if constexpr (batch_math<T>::enabled) {
        return batch_math<T>::pow(a, b);
    } else {
        using std::pow;
        return pow(a, b);
    }
}
/// a^N by repeated squaring (exact for small N, like hand-written a*a*a).
template <long long N, class T>
constexpr T ipow(const T& a) {
    if constexpr (N < 0) {
        return num_cast<T>(1.0) / ipow<-N>(a);
    } else if constexpr (N == 0) {
        return num_cast<T>(1.0);
    } else if constexpr (N == 1) {
        return a;
    } else if constexpr (N % 2 == 0) {
        T h = ipow<N / 2>(a);
        return h * h;
    } else {
        return ipow<N - 1>(a) * a;
    }
}
/// where(c, a, b) on numbers: a ternary on bool, xsimd::select on batch masks.
template <class C, class A, class B>
constexpr auto select(const C& cnd, const A& a, const B& b) {
    if constexpr (std::is_same_v<C, bool>) {
        using R = std::common_type_t<A, B>;
        return cnd ? R(a) : R(b);
    } else {
        return select(cnd, a, b);  // ADL: xsimd::select
    }
}
/// a is NaN: a != a on arithmetic types, xsimd::isnan on batches (whose != is an ordered
/// comparison on AVX and AVX-512, false for NaN).
template <class T>
constexpr auto isnan(const T& a) {
    if constexpr (std::is_arithmetic_v<T>) {
        return a != a;
    } else {
        return isnan(a);  // ADL: xsimd::isnan
    }
}
template <class A, class B>
constexpr auto land(const A& a, const B& b) {
    if constexpr (std::is_same_v<A, bool>) {
        return a && b;
    } else {
        return a & b;
    }
}
template <class A, class B>
constexpr auto lor(const A& a, const B& b) {
    if constexpr (std::is_same_v<A, bool>) {
        return a || b;
    } else {
        return a | b;
    }
}
template <class A>
constexpr auto lnot(const A& a) {
    return !a;
}
}  // namespace num
#undef ETGRAD_NUM_UNARY

template <class Op, class... A>
constexpr auto make(const A&... a);

// Detect optional parts of an op.
template <class Op>
concept HasMake = requires { Op::has_make; };
template <class Op>
constexpr bool differentiable(std::size_t i) {
    if constexpr (requires { Op::differentiable(i); }) {
        return Op::differentiable(i);
    } else {
        return true;
    }
}
template <class Op>
concept Condition = requires { Op::is_condition; };
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Function objects: on expressions they build (simplified) nodes, on numbers they compute.
namespace detail {
/// Instantiating it checks the shapes of a node's operands (the tensor operations' shape rules, or
/// NumPy's broadcast for elementwise ones), so that a mismatch is reported at the user's line.
template <class R, bool = has_shaped_c<R>::value>
struct shape_checked : std::true_type {};
template <class R>
struct shape_checked<R, true> : std::true_type {
    using checked = typename shape_of<R>::type;
};

/// Other arguments a function object takes: a specialisation for Op with a static apply(a)
/// (etgrad/loop/data.hpp: eg::mean and eg::sum of a loop objective, a loop per sample).
template <class Op>
struct fn1_extension {};

template <class Op>
struct fn1 {
    template <class A>
    constexpr auto operator()(const A& a) const {
        if constexpr (Expr<A> && requires { typename Op::element_op; }) {
            // A reduction: over the elements of a shaped operand, over the samples of a scalar one.
            if constexpr (has_shaped_c<A>::value) {
                if constexpr (shape_of<A>::type::rank != 0) {
                    static_assert(!std::is_void_v<typename Op::element_op>,
                                  "etgrad: this reduction is not provided over the elements of a tensor");
                    ETGRAD_RETURN_NODE((node<std::conditional_t<std::is_void_v<typename Op::element_op>, Op, typename Op::element_op>, A>), a);
                } else {
                    return detail::make<Op>(a);
                }
            } else {
                return detail::make<Op>(a);
            }
        } else if constexpr (Expr<A>) {
            // (make's steps written out: each function called with `a` would be one more named
            // after its whole tree, which the compiler mangles)
            if constexpr (HasMake<Op>) {
                using R = decltype(Op::make(a));
                static_assert(shape_checked<R>::value);
                return Op::make(a);
            } else {
                static_assert(shape_checked<node<Op, A>>::value);
                ETGRAD_RETURN_NODE((node<Op, A>), a);
            }
        } else if constexpr (requires { fn1_extension<Op>::apply(a); }) {
            return fn1_extension<Op>::apply(a);
        } else {
            static_assert(Number<A>, "etgrad: this function takes an expression or a number");
            using T = std::conditional_t<std::is_integral_v<A>, double, A>;
            return Op::value(T(a));
        }
    }
};
template <class Op>
struct fn2 {
    template <class A, class B>
    constexpr auto operator()(const A& a, const B& b) const {
        if constexpr (Expr<A> || Expr<B>) {
            auto r = detail::make<Op>(detail::lift(a), detail::lift(b));
            static_assert(shape_checked<decltype(r)>::value);
            return r;
        } else {
            static_assert(Number<A> && Number<B>, "etgrad: this function takes expressions or numbers");
            if constexpr (std::is_arithmetic_v<A> && std::is_arithmetic_v<B>) {
                using T = std::common_type_t<double, A, B>;
                using U = std::conditional_t<std::is_floating_point_v<std::common_type_t<A, B>>,
                                             std::common_type_t<A, B>, T>;
                return Op::value(U(a), U(b));
            } else if constexpr (std::is_arithmetic_v<A>) {
                return Op::value(num_cast<B>(static_cast<double>(a)), b);
            } else if constexpr (std::is_arithmetic_v<B>) {
                return Op::value(a, num_cast<A>(static_cast<double>(b)));
            } else {
                return Op::value(a, b);
            }
        }
    }
};
}  // namespace detail

#define ETGRAD_DECLARE_OP(NAME) struct NAME##_op;
namespace ops {
ETGRAD_DECLARE_OP(add)
ETGRAD_DECLARE_OP(sub)
ETGRAD_DECLARE_OP(mul)
ETGRAD_DECLARE_OP(div)
ETGRAD_DECLARE_OP(neg)
ETGRAD_DECLARE_OP(exp)
ETGRAD_DECLARE_OP(log)
ETGRAD_DECLARE_OP(log1p)
ETGRAD_DECLARE_OP(expm1)
ETGRAD_DECLARE_OP(sqrt)
ETGRAD_DECLARE_OP(cbrt)
ETGRAD_DECLARE_OP(pow)
ETGRAD_DECLARE_OP(sin)
ETGRAD_DECLARE_OP(cos)
ETGRAD_DECLARE_OP(tan)
ETGRAD_DECLARE_OP(asin)
ETGRAD_DECLARE_OP(acos)
ETGRAD_DECLARE_OP(atan)
ETGRAD_DECLARE_OP(atan2)
ETGRAD_DECLARE_OP(sinh)
ETGRAD_DECLARE_OP(cosh)
ETGRAD_DECLARE_OP(tanh)
ETGRAD_DECLARE_OP(sigmoid)
ETGRAD_DECLARE_OP(softplus)
ETGRAD_DECLARE_OP(relu)
ETGRAD_DECLARE_OP(abs)
ETGRAD_DECLARE_OP(erf)
ETGRAD_DECLARE_OP(max)
ETGRAD_DECLARE_OP(min)
ETGRAD_DECLARE_OP(where)
ETGRAD_DECLARE_OP(land)
ETGRAD_DECLARE_OP(lor)
ETGRAD_DECLARE_OP(lnot)
ETGRAD_DECLARE_OP(bce_logits)
ETGRAD_DECLARE_OP(sum)
ETGRAD_DECLARE_OP(logsumexp)
template <long long N>
struct ipow_op;
template <class Cmp>
struct cmp_op;
template <bool Mean>
struct esum_op_t;
struct emax_op;
struct elogsumexp_op;
}  // namespace ops
#undef ETGRAD_DECLARE_OP

// The public functions (documented in README "API at a glance").
inline constexpr detail::fn1<ops::exp_op> exp{};           ///< e^x
inline constexpr detail::fn1<ops::log_op> log{};           ///< natural log (NaN below 0)
inline constexpr detail::fn1<ops::log1p_op> log1p{};       ///< log(1 + x)
inline constexpr detail::fn1<ops::expm1_op> expm1{};       ///< e^x - 1
inline constexpr detail::fn1<ops::sqrt_op> sqrt{};         ///< square root (derivative +inf at 0)
inline constexpr detail::fn1<ops::cbrt_op> cbrt{};         ///< cube root
inline constexpr detail::fn1<ops::sin_op> sin{};           ///< sine
inline constexpr detail::fn1<ops::cos_op> cos{};           ///< cosine
inline constexpr detail::fn1<ops::tan_op> tan{};           ///< tangent
inline constexpr detail::fn1<ops::asin_op> asin{};         ///< arc sine
inline constexpr detail::fn1<ops::acos_op> acos{};         ///< arc cosine
inline constexpr detail::fn1<ops::atan_op> atan{};         ///< arc tangent
inline constexpr detail::fn2<ops::atan2_op> atan2{};       ///< atan2(y, x)
inline constexpr detail::fn1<ops::sinh_op> sinh{};         ///< hyperbolic sine
inline constexpr detail::fn1<ops::cosh_op> cosh{};         ///< hyperbolic cosine
inline constexpr detail::fn1<ops::tanh_op> tanh{};         ///< hyperbolic tangent
inline constexpr detail::fn1<ops::sigmoid_op> sigmoid{};   ///< 1 / (1 + e^-x)
inline constexpr detail::fn1<ops::softplus_op> softplus{}; ///< log(1 + e^x), computed stably
inline constexpr detail::fn1<ops::relu_op> relu{};         ///< max(x, 0); relu'(0) = 0
inline constexpr detail::fn1<ops::abs_op> abs{};           ///< |x|; abs'(0) = 0
inline constexpr detail::fn1<ops::erf_op> erf{};           ///< error function
namespace detail {
struct max_fn : fn2<ops::max_op> {
    using fn2<ops::max_op>::operator();
    /// max(t): the largest element of a tensor (ties share the gradient evenly).
    template <class A>
    constexpr auto operator()(const A& a) const {
        static_assert(Expr<A>, "etgrad::max(t) takes a shaped expression (max(a, b) takes two operands)");
        if constexpr (Expr<A>) {
            static_assert(has_shaped_c<A>::value && shape_of<A>::type::rank != 0,
                          "etgrad::max(t) reduces the elements of a tensor; this operand is a scalar");
            ETGRAD_RETURN_NODE((node<ops::emax_op, A>), a);
        } else {
            return a;
        }
    }
};
}  // namespace detail
/// max(a, b): the maximum, a tie splits the gradient 1/2, 1/2; max(t): a tensor's largest element.
inline constexpr detail::max_fn max{};
inline constexpr detail::fn2<ops::min_op> min{};           ///< minimum; a tie splits the gradient 1/2, 1/2

namespace detail {
struct pow_fn {
    template <class A, class B>
    constexpr auto operator()(const A& a, const B& b) const;
};
struct square_fn {
    template <class A>
    constexpr auto operator()(const A& a) const;
};
struct where_fn {
    template <class C, class A, class B>
    constexpr auto operator()(const C& cnd, const A& a, const B& b) const;
};
}  // namespace detail
/// pow(a, b); pow(e, c<N>) with an integer compile-time exponent is an exact integer power.
inline constexpr detail::pow_fn pow{};
/// square(e) == pow(e, c<2>).
inline constexpr detail::square_fn square{};
/// where(cond, a, b): a when cond holds, else b; the derivative follows the branch taken.
inline constexpr detail::where_fn where{};

// ---------------------------------------------------------------------------------------------
// Operators on expressions (an arithmetic operand becomes a runtime constant).
namespace detail {
/// Op, as a type that depends on T (delays the look-up of Op's members to instantiation).
template <class Op, class T>
struct op_of {
    using type = Op;
};
template <class A, class B>
concept ExprOperands = (Expr<A> && (Expr<B> || std::is_arithmetic_v<rm<B>>)) ||
                       (Expr<B> && std::is_arithmetic_v<rm<A>>);
}
// Each operator calls its op's `make` directly (through op_of, which only delays the look-up of
// the op, declared below): every helper called on an expression operand would be one more
// function named after its whole tree, which the compiler mangles (see "Compile time" in
// core.hpp); lift is called on the number operand only.
#define ETGRAD_BINARY_OPERATOR(SYM, OP)                                                        \
    template <class A, class B>                                                                \
        requires detail::ExprOperands<A, B>                                                    \
    constexpr auto operator SYM(const A& a, const B& b) {                                      \
        using Op = typename detail::op_of<ops::OP, A>::type;                                   \
        if constexpr (Expr<A> && Expr<B>) {                                                    \
            using R = decltype(Op::make(a, b));                                                \
            static_assert(detail::shape_checked<R>::value);                                    \
            return Op::make(a, b);                                                             \
        } else if constexpr (Expr<A>) {                                                        \
            return Op::make(a, detail::lift(b));                                               \
        } else {                                                                               \
            return Op::make(detail::lift(a), b);                                               \
        }                                                                                      \
    }
ETGRAD_BINARY_OPERATOR(+, add_op)
ETGRAD_BINARY_OPERATOR(-, sub_op)
ETGRAD_BINARY_OPERATOR(*, mul_op)
ETGRAD_BINARY_OPERATOR(/, div_op)
#undef ETGRAD_BINARY_OPERATOR
template <Expr A>
constexpr auto operator-(const A& a) {
    return detail::make<ops::neg_op>(a);
}
template <Expr A>
constexpr auto operator+(const A& a) {
    return a;
}

namespace ops {
struct lt {
    static constexpr fixed_string sym = "<";
    template <class A, class B>
    static constexpr auto apply(const A& a, const B& b) { return a < b; }
};
struct le {
    static constexpr fixed_string sym = "<=";
    template <class A, class B>
    static constexpr auto apply(const A& a, const B& b) { return a <= b; }
};
struct gt {
    static constexpr fixed_string sym = ">";
    template <class A, class B>
    static constexpr auto apply(const A& a, const B& b) { return a > b; }
};
struct ge {
    static constexpr fixed_string sym = ">=";
    template <class A, class B>
    static constexpr auto apply(const A& a, const B& b) { return a >= b; }
};
struct eq {
    static constexpr fixed_string sym = "==";
    template <class A, class B>
    static constexpr auto apply(const A& a, const B& b) { return a == b; }
};
struct ne {
    static constexpr fixed_string sym = "!=";
    // On batches !(a == b): xsimd's != is ordered on AVX and AVX-512 (false for NaN), unordered on
    // SSE2 and in C++ (true for NaN).
    template <class A, class B>
    static constexpr auto apply(const A& a, const B& b) {
        if constexpr (std::is_arithmetic_v<A> && std::is_arithmetic_v<B>) {
            return a != b;
        } else {
            return !(a == b);
        }
    }
};
}  // namespace ops

#define ETGRAD_CMP_OPERATOR(OP, CMP)                                                           \
    template <class A, class B>                                                                \
        requires detail::ExprOperands<A, B>                                                    \
    constexpr auto operator OP(const A& a, const B& b) {                                       \
        return node<ops::cmp_op<ops::CMP>, decltype(detail::lift(a)), decltype(detail::lift(b))>( \
            detail::lift(a), detail::lift(b));                                                 \
    }
ETGRAD_CMP_OPERATOR(<, lt)
ETGRAD_CMP_OPERATOR(<=, le)
ETGRAD_CMP_OPERATOR(>, gt)
ETGRAD_CMP_OPERATOR(>=, ge)
ETGRAD_CMP_OPERATOR(==, eq)
ETGRAD_CMP_OPERATOR(!=, ne)
#undef ETGRAD_CMP_OPERATOR

namespace detail {
template <class T>
struct is_condition_c : std::false_type {};
template <class Op, class... Bs>
struct is_condition_c<basic_node<Op, Bs...>> : std::bool_constant<Condition<Op>> {};
}  // namespace detail

/// Conditions combine with &&, || and ! (both operands are evaluated: these are masks).
template <Expr A, Expr B>
    requires(detail::is_condition_c<A>::value && detail::is_condition_c<B>::value)
constexpr auto operator&&(const A& a, const B& b) {
    ETGRAD_RETURN_NODE((node<ops::land_op, A, B>), a, b);
}
template <Expr A, Expr B>
    requires(detail::is_condition_c<A>::value && detail::is_condition_c<B>::value)
constexpr auto operator||(const A& a, const B& b) {
    ETGRAD_RETURN_NODE((node<ops::lor_op, A, B>), a, b);
}
template <Expr A>
    requires detail::is_condition_c<A>::value
constexpr auto operator!(const A& a) {
    ETGRAD_RETURN_NODE((node<ops::lnot_op, A>), a);
}

namespace detail {
/// c1 && c2 on conditions of any kind (bool, SIMD masks, condition expressions).
template <class C1, class C2>
constexpr auto both(const C1& c1, const C2& c2) {
    if constexpr (Expr<C1>) {
        return c1 && c2;
    } else {
        return num::land(c1, c2);
    }
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// The operations. `name` gives grad_fn_name ("Mul" -> "MulBackward"); `fn` or `sym`/`prec` give
// to_string; `value` computes on numbers; `partial<I>(out, args...)` is the local derivative of
// the output with respect to argument I, written generically; `make` (optional) simplifies at
// construction. Non-differentiable argument slots say so in `differentiable(i)`.
namespace detail {
template <class T, class U>
struct same_pure_c : std::bool_constant<ETGRAD_IS_SAME(T, U) && !has_rconst_c<T>::value> {};

template <class T>
struct is_neg_c : std::false_type {};
template <class T>
struct is_mul_cc_c : std::false_type {};  // node<mul_op, cconst, X>
template <class T>
struct cc_nonzero_c : std::false_type {};
template <long long N, long long D>
struct cc_nonzero_c<cconst<N, D>> : std::bool_constant<N != 0> {};

// Patterns of the stable rewrites (README "Numerically stable forms"): each a partial
// specialisation on the operand's node type, matched once when a node is built (no search).
/// node<Op, E>: `type` is E.
template <class Op, class T>
struct unary_of_c : std::false_type {};
template <class Op, class B>
struct unary_of_c<Op, basic_node<Op, B>> : std::true_type {
    using type = unbox_t<B>;
};
/// 1 - sigmoid(z), the 1 a compile-time constant.
template <class T>
struct one_minus_sigmoid_c : std::false_type {};
template <class B>
struct one_minus_sigmoid_c<basic_node<ops::sub_op, box_t<cconst<1, 1>>, B>> : unary_of_c<ops::sigmoid_op, unbox_t<B>> {};
/// sum(exp(e)) over samples (Elem false) or over a tensor's elements (Elem true).
template <class T>
struct sum_of_exp_c : std::false_type {};
template <class B>
struct sum_of_exp_c<basic_node<ops::sum_op, B>> : unary_of_c<ops::exp_op, unbox_t<B>> {
    static constexpr bool elem = false;
};
template <class B>
struct sum_of_exp_c<basic_node<ops::esum_op_t<false>, B>> : unary_of_c<ops::exp_op, unbox_t<B>> {
    static constexpr bool elem = true;
};
/// -(-a - b), which is a + b exactly.
template <class T>
struct neg_sub_neg_c : std::false_type {};
template <class B0, class B1>
struct neg_sub_neg_c<basic_node<ops::sub_op, B0, B1>> : unary_of_c<ops::neg_op, unbox_t<B0>> {};
/// a * b + b * a (no runtime constant: two copies of one type may hold different values).
template <class A, class B>
struct commuted_products_c : std::false_type {};
template <class A0, class A1, class B0, class B1>
struct commuted_products_c<basic_node<ops::mul_op, A0, A1>, basic_node<ops::mul_op, B0, B1>>
    : std::bool_constant<ETGRAD_IS_SAME(unbox_t<A0>, unbox_t<B1>) && ETGRAD_IS_SAME(unbox_t<A1>, unbox_t<B0>) &&
                         !has_rconst_c<unbox_t<A0>>::value && !has_rconst_c<unbox_t<A1>>::value> {};
/// (c * a) * b, c a compile-time constant: `cc` is c, `rest` is a.
template <class T>
struct cc_times_c : std::false_type {};
template <class C, class B>
struct cc_times_c<basic_node<ops::mul_op, C, B>> : is_cc_c<unbox_t<C>> {
    using cc = unbox_t<C>;
    using rest = unbox_t<B>;
};
/// x * y whose left factor is a product with a compile-time constant ((c * a) * b).
template <class T>
struct cc_left_product_c : std::false_type {};
template <class L, class R>
struct cc_left_product_c<basic_node<ops::mul_op, L, R>>
    : std::bool_constant<cc_times_c<unbox_t<L>>::value && !is_cc_c<unbox_t<L>>::value> {};
/// Binary cross-entropy of sigmoid(z) once its logs are rewritten: y * softplus(-z) + (1 - y) *
/// softplus(z), scalar, no runtime constant in y or z. `z` and `y` are the operand types.
template <class A, class B>
struct bce_terms_c : std::false_type {};
template <class Y, class SPN, class OMY, class SP>
struct bce_match_c : std::false_type {};
template <class Y, class NZ, class Y2, class Z>
struct bce_match_c<Y, basic_node<ops::softplus_op, NZ>, basic_node<ops::sub_op, box_t<cconst<1, 1>>, Y2>,
                   basic_node<ops::softplus_op, Z>>
    : std::bool_constant<ETGRAD_IS_SAME(Y, unbox_t<Y2>) &&
                         ETGRAD_IS_SAME(unbox_t<NZ>, decltype(detail::make<ops::neg_op>(std::declval<const unbox_t<Z>&>()))) &&
                         !has_rconst_c<Y>::value && !has_rconst_c<unbox_t<Z>>::value &&
                         !has_shaped_c<Y>::value && !has_shaped_c<unbox_t<Z>>::value> {
    using z = unbox_t<Z>;
    using y = Y;
};
template <class A0, class A1, class B0, class B1>
struct bce_terms_c<basic_node<ops::mul_op, A0, A1>, basic_node<ops::mul_op, B0, B1>>
    : bce_match_c<unbox_t<A0>, unbox_t<A1>, unbox_t<B0>, unbox_t<B1>> {};
template <class Z, class Y>
constexpr auto make_bce(const Z& z, const Y& y);
}  // namespace detail

namespace ops {


// Rational arithmetic on compile-time constants.
template <class A, class B>
using cc_add = typename detail::make_cconst<A::num * B::den + B::num * A::den, A::den * B::den>::type;
template <class A, class B>
using cc_sub = typename detail::make_cconst<A::num * B::den - B::num * A::den, A::den * B::den>::type;
template <class A, class B>
using cc_mul = typename detail::make_cconst<A::num * B::num, A::den * B::den>::type;
template <class A, class B>
using cc_div = typename detail::make_cconst<A::num * B::den, A::den * B::num>::type;
template <class A>
using cc_neg = cconst<-A::num, A::den>;

struct neg_op {
    static constexpr fixed_string name = "Neg";
    static constexpr bool has_make = true;
    static constexpr unsigned partial_uses(std::size_t) { return 0; }
    template <class T>
    static constexpr T value(const T& a) { return -a; }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) { return detail::k<-1>(a); }
    template <class A>
    static constexpr auto make(const A& a) {
        if constexpr (detail::is_cc_c<A>::value) {
            return cc_neg<A>{};
        } else if constexpr (detail::is_neg_c<A>::value) {
            return a.template child<0>();
        } else if constexpr (detail::is_mul_cc_c<A>::value) {
            return detail::make<mul_op>(cc_neg<detail::rm<decltype(a.template child<0>())>>{},
                                        a.template child<1>());
        } else if constexpr (detail::neg_sub_neg_c<A>::value) {
            // -(-u - v) is u + v exactly (negation is exact, rounding symmetric).
            return detail::make<add_op>(a.template child<0>().template child<0>(), a.template child<1>());
        } else {
            ETGRAD_RETURN_NODE((node<neg_op, A>), a);
        }
    }
};

struct add_op {
    static constexpr fixed_string name = "Add";
    static constexpr fixed_string sym = "+";
    static constexpr int prec = 1;
    static constexpr bool has_make = true;
    static constexpr unsigned partial_uses(std::size_t) { return 0; }
    template <class T>
    static constexpr T value(const T& a, const T& b) { return a + b; }
    template <std::size_t I, class O, class A, class B>
    static constexpr auto partial(const O&, const A& a, const B&) { return detail::k<1>(a); }
    template <class A, class B>
    static constexpr auto make(const A& a, const B& b) {
        if constexpr (detail::is_cc_c<A>::value && detail::is_cc_c<B>::value) {
            return cc_add<A, B>{};
        } else if constexpr (detail::is_zero_c<A>::value) {
            return b;
        } else if constexpr (detail::is_zero_c<B>::value) {
            return a;
        } else if constexpr (detail::same_pure_c<A, B>::value) {
            return detail::make<mul_op>(c<2>, a);
        } else if constexpr (detail::is_neg_c<B>::value) {
            return detail::make<sub_op>(a, b.template child<0>());
        } else if constexpr (detail::is_neg_c<A>::value) {
            return detail::make<sub_op>(b, a.template child<0>());
        } else if constexpr (detail::commuted_products_c<A, B>::value) {
            return detail::make<mul_op>(c<2>, b);  // u * v + v * u is 2 * (v * u) exactly
        } else if constexpr (detail::bce_terms_c<A, B>::value) {
            return detail::make_bce(b.template child<1>().template child<0>(), a.template child<0>());
        } else if constexpr (detail::bce_terms_c<B, A>::value) {
            return detail::make_bce(a.template child<1>().template child<0>(), b.template child<0>());
        } else {
            ETGRAD_RETURN_NODE((node<add_op, A, B>), a, b);
        }
    }
};

struct sub_op {
    static constexpr fixed_string name = "Sub";
    static constexpr fixed_string sym = "-";
    static constexpr int prec = 1;
    static constexpr bool has_make = true;
    static constexpr unsigned partial_uses(std::size_t) { return 0; }
    template <class T>
    static constexpr T value(const T& a, const T& b) { return a - b; }
    template <std::size_t I, class O, class A, class B>
    static constexpr auto partial(const O&, const A& a, const B&) {
        if constexpr (I == 0) {
            return detail::k<1>(a);
        } else {
            return detail::k<-1>(a);
        }
    }
    // e - e is kept, not folded to 0: it is NaN for e = inf or NaN, in every mode alike.
    template <class A, class B>
    static constexpr auto make(const A& a, const B& b) {
        if constexpr (detail::is_cc_c<A>::value && detail::is_cc_c<B>::value) {
            return cc_sub<A, B>{};
        } else if constexpr (detail::is_zero_c<B>::value) {
            return a;
        } else if constexpr (detail::is_zero_c<A>::value) {
            return detail::make<neg_op>(b);
        } else if constexpr (detail::is_neg_c<B>::value) {
            return detail::make<add_op>(a, b.template child<0>());
        } else {
            ETGRAD_RETURN_NODE((node<sub_op, A, B>), a, b);
        }
    }
};

struct mul_op {
    static constexpr fixed_string name = "Mul";
    static constexpr fixed_string sym = "*";
    static constexpr int prec = 2;
    static constexpr bool has_make = true;
    /// The partial for slot i reads only the other operand (bit k: child k).
    static constexpr unsigned partial_uses(std::size_t i) { return i == 0 ? 2u : 1u; }
    template <class T>
    static constexpr T value(const T& a, const T& b) { return a * b; }
    template <std::size_t I, class O, class A, class B>
    static constexpr auto partial(const O&, const A& a, const B& b) {
        if constexpr (I == 0) {
            return b;
        } else {
            return a;
        }
    }
    template <class A, class B>
    static constexpr auto make(const A& a, const B& b) {
        if constexpr (detail::is_cc_c<A>::value && detail::is_cc_c<B>::value) {
            return cc_mul<A, B>{};
        } else if constexpr (detail::is_zero_c<A>::value || detail::is_zero_c<B>::value) {
            return c<0>;
        } else if constexpr (detail::is_one_c<A>::value) {
            return b;
        } else if constexpr (detail::is_one_c<B>::value) {
            return a;
        } else if constexpr (detail::is_cc_eq_c<A, -1>::value) {
            return detail::make<neg_op>(b);
        } else if constexpr (detail::is_cc_eq_c<B, -1>::value) {
            return detail::make<neg_op>(a);
        } else if constexpr (detail::is_cc_c<B>::value) {
            return make(b, a);  // constants first
        } else if constexpr (detail::is_cc_c<A>::value && detail::is_mul_cc_c<B>::value) {
            return detail::make<mul_op>(cc_mul<A, detail::rm<decltype(b.template child<0>())>>{},
                                        b.template child<1>());
        } else if constexpr (detail::is_cc_c<A>::value && detail::cc_left_product_c<B>::value) {
            // c * ((d * u) * v) is (c d) * u * v: the constants meet and fold.
            using L = detail::rm<decltype(b.template child<0>())>;
            return detail::make<mul_op>(
                detail::make<mul_op>(cc_mul<A, typename detail::cc_times_c<L>::cc>{}, b.template child<0>().template child<1>()),
                b.template child<1>());
        } else if constexpr (detail::is_mul_cc_c<A>::value && detail::is_mul_cc_c<B>::value) {
            // (c * u) * (d * v) is (c d) * u * v.
            using CA = detail::rm<decltype(a.template child<0>())>;
            using CB = detail::rm<decltype(b.template child<0>())>;
            return detail::make<mul_op>(detail::make<mul_op>(cc_mul<CA, CB>{}, a.template child<1>()), b.template child<1>());
        } else if constexpr (detail::is_neg_c<A>::value && detail::is_neg_c<B>::value) {
            return detail::make<mul_op>(a.template child<0>(), b.template child<0>());
        } else if constexpr (detail::is_neg_c<A>::value) {
            return detail::make<neg_op>(detail::make<mul_op>(a.template child<0>(), b));
        } else if constexpr (detail::is_neg_c<B>::value) {
            return detail::make<neg_op>(detail::make<mul_op>(a, b.template child<0>()));
        } else {
            ETGRAD_RETURN_NODE((node<mul_op, A, B>), a, b);
        }
    }
};

struct div_op {
    static constexpr fixed_string name = "Div";
    static constexpr fixed_string sym = "/";
    static constexpr int prec = 2;
    static constexpr bool has_make = true;
    static constexpr unsigned partial_uses(std::size_t i) { return i == 0 ? 2u : ~0u; }
    template <class T>
    static constexpr T value(const T& a, const T& b) { return a / b; }
    template <std::size_t I, class O, class A, class B>
    static constexpr auto partial(const O& out, const A& a, const B& b) {
        // -(a/b)/b as -(a/b) * (1/b): one division shared by both partials (and none per sample
        // in a data loop when b is a parameter: its reciprocal is loop-invariant).
        if constexpr (I == 0) {
            return detail::k<1>(a) / b;
        } else {
            return -(out * (detail::k<1>(a) / b));
        }
    }
    template <class A, class B>
    static constexpr auto make(const A& a, const B& b) {
        if constexpr (detail::is_cc_c<A>::value && detail::cc_nonzero_c<B>::value) {
            return cc_div<A, B>{};
        } else if constexpr (detail::is_zero_c<A>::value && !detail::is_zero_c<B>::value) {
            return c<0>;
        } else if constexpr (detail::is_one_c<B>::value) {
            return a;
        } else if constexpr (detail::is_cc_eq_c<B, -1>::value) {
            return detail::make<neg_op>(a);
        } else {
            ETGRAD_RETURN_NODE((node<div_op, A, B>), a, b);
        }
    }
};

struct exp_op {
    static constexpr fixed_string name = "Exp";
    static constexpr fixed_string fn = "exp";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::exp(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O& out, const A&) { return out; }
};
struct log_op {
    static constexpr fixed_string name = "Log";
    static constexpr fixed_string fn = "log";
    static constexpr bool has_make = true;
    template <class T>
    static constexpr T value(const T& a) { return detail::num::log(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) { return detail::k<1>(a) / a; }
    // The stable forms (README "Numerically stable forms"): log(sigmoid(z)) is -softplus(-z),
    // log(1 - sigmoid(z)) is -softplus(z), log(sum(exp(e))) is logsumexp(e).
    template <class A>
    static constexpr auto make(const A& a) {
        if constexpr (detail::unary_of_c<sigmoid_op, A>::value) {
            return detail::make<neg_op>(
                node<softplus_op, decltype(detail::make<neg_op>(a.template child<0>()))>(detail::make<neg_op>(a.template child<0>())));
        } else if constexpr (detail::one_minus_sigmoid_c<A>::value) {
            using Z = typename detail::one_minus_sigmoid_c<A>::type;
            return detail::make<neg_op>(node<softplus_op, Z>(a.template child<1>().template child<0>()));
        } else if constexpr (detail::sum_of_exp_c<A>::value) {
            using E = typename detail::sum_of_exp_c<A>::type;
            using R = std::conditional_t<detail::sum_of_exp_c<A>::elem, elogsumexp_op, logsumexp_op>;
            ETGRAD_RETURN_NODE((node<R, E>), a.template child<0>().template child<0>());
        } else {
            ETGRAD_RETURN_NODE((node<log_op, A>), a);
        }
    }
};
struct log1p_op {
    static constexpr fixed_string name = "Log1P";
    static constexpr fixed_string fn = "log1p";
    static constexpr bool has_make = true;
    template <class T>
    static constexpr T value(const T& a) { return detail::num::log1p(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) { return detail::k<1>(a) / (detail::k<1>(a) + a); }
    // log1p(-sigmoid(z)) is -softplus(z).
    template <class A>
    static constexpr auto make(const A& a) {
        if constexpr (detail::is_neg_c<A>::value) {
            using N = detail::rm<decltype(a.template child<0>())>;
            if constexpr (detail::unary_of_c<sigmoid_op, N>::value) {
                using Z = typename detail::unary_of_c<sigmoid_op, N>::type;
                return detail::make<neg_op>(node<softplus_op, Z>(a.template child<0>().template child<0>()));
            } else {
                ETGRAD_RETURN_NODE((node<log1p_op, A>), a);
            }
        } else {
            ETGRAD_RETURN_NODE((node<log1p_op, A>), a);
        }
    }
};
struct expm1_op {
    static constexpr fixed_string name = "Expm1";
    static constexpr fixed_string fn = "expm1";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::expm1(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O& out, const A& a) { return out + detail::k<1>(a); }
};
struct sqrt_op {
    static constexpr fixed_string name = "Sqrt";
    static constexpr fixed_string fn = "sqrt";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::sqrt(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O& out, const A& a) { return detail::k<1, 2>(a) / out; }
};
struct cbrt_op {
    static constexpr fixed_string name = "Cbrt";
    static constexpr fixed_string fn = "cbrt";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::cbrt(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O& out, const A& a) { return detail::k<1, 3>(a) / (out * out); }
};
struct pow_op {
    static constexpr fixed_string name = "Pow";
    static constexpr fixed_string fn = "pow";
    template <class T>
    static constexpr T value(const T& a, const T& b) { return detail::num::pow(a, b); }
    // As PyTorch: d/da is 0 where b == 0; d/db is 0 where a == 0 and b >= 0 (not 0 * -inf).
    template <std::size_t I, class O, class A, class B>
    static constexpr auto partial(const O& out, const A& a, const B& b) {
        if constexpr (I == 0) {
            return etgrad::where(b == detail::k<0>(b), detail::k<0>(a), b * etgrad::pow(a, b - detail::k<1>(b)));
        } else {
            return etgrad::where(detail::both(a == detail::k<0>(a), b >= detail::k<0>(b)), detail::k<0>(a), out * etgrad::log(a));
        }
    }
};
template <long long N>
struct ipow_op {
    static constexpr fixed_string name = "Pow";
    static constexpr long long exponent = N;
    static constexpr bool has_make = true;
    template <class T>
    static constexpr T value(const T& a) { return detail::num::ipow<N>(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) {
        return detail::k<N>(a) * etgrad::pow(a, c<N - 1>);
    }
    // Reverse mode: (adjoint * N) * a^(N-1), the constant meeting the adjoint first so that it
    // folds when the adjoint is a constant (c * square(e) gives (2c) * e, as written by hand).
    template <std::size_t I, class G, class O, class A>
    static constexpr auto vjp(const G& adj, const O&, const A& a) {
        return (adj * detail::k<N>(a)) * etgrad::pow(a, c<N - 1>);
    }
    template <class A>
    static constexpr auto make(const A& a) {
        if constexpr (N == 0) {
            return c<1>;
        } else if constexpr (N == 1) {
            return a;
        } else if constexpr (detail::is_zero_c<A>::value && N > 0) {
            return c<0>;
        } else if constexpr (detail::is_one_c<A>::value) {
            return c<1>;
        } else {
            ETGRAD_RETURN_NODE((node<ipow_op<N>, A>), a);
        }
    }
};
struct sin_op {
    static constexpr fixed_string name = "Sin";
    static constexpr fixed_string fn = "sin";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::sin(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) { return etgrad::cos(a); }
};
struct cos_op {
    static constexpr fixed_string name = "Cos";
    static constexpr fixed_string fn = "cos";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::cos(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) { return -etgrad::sin(a); }
};
struct tan_op {
    static constexpr fixed_string name = "Tan";
    static constexpr fixed_string fn = "tan";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::tan(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O& out, const A& a) { return detail::k<1>(a) + out * out; }
};
struct asin_op {
    static constexpr fixed_string name = "Asin";
    static constexpr fixed_string fn = "asin";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::asin(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) {
        return detail::k<1>(a) / etgrad::sqrt(detail::k<1>(a) - a * a);
    }
};
struct acos_op {
    static constexpr fixed_string name = "Acos";
    static constexpr fixed_string fn = "acos";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::acos(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) {
        return detail::k<-1>(a) / etgrad::sqrt(detail::k<1>(a) - a * a);
    }
};
struct atan_op {
    static constexpr fixed_string name = "Atan";
    static constexpr fixed_string fn = "atan";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::atan(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) { return detail::k<1>(a) / (detail::k<1>(a) + a * a); }
};
struct atan2_op {
    static constexpr fixed_string name = "Atan2";
    static constexpr fixed_string fn = "atan2";
    template <class T>
    static constexpr T value(const T& y, const T& x) { return detail::num::atan2(y, x); }
    template <std::size_t I, class O, class A, class B>
    static constexpr auto partial(const O&, const A& y, const B& x) {
        if constexpr (I == 0) {
            return x / (x * x + y * y);
        } else {
            return -(y / (x * x + y * y));
        }
    }
};
struct sinh_op {
    static constexpr fixed_string name = "Sinh";
    static constexpr fixed_string fn = "sinh";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::sinh(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) { return etgrad::cosh(a); }
};
struct cosh_op {
    static constexpr fixed_string name = "Cosh";
    static constexpr fixed_string fn = "cosh";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::cosh(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) { return etgrad::sinh(a); }
};
struct tanh_op {
    static constexpr fixed_string name = "Tanh";
    static constexpr fixed_string fn = "tanh";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::tanh(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O& out, const A& a) { return detail::k<1>(a) - out * out; }
};
struct sigmoid_op {
    static constexpr fixed_string name = "Sigmoid";
    static constexpr fixed_string fn = "sigmoid";
    template <class T>
    static constexpr T value(const T& a) {
        const T one = detail::num_cast<T>(1.0);
        if constexpr (detail::is_dual_c<T>::value) {
            // Forward-over-reverse Hessians: e^a / (1 + e^a) below 0, whose tangent stays finite
            // where 1 / (1 + e^-a) divides by an infinite e^-a.
            const T e = detail::num::exp(a);
            return detail::num::select(a >= detail::num_cast<T>(0.0), one / (one + detail::num::exp(-a)),
                                       e / (one + e));
        } else {
            return one / (one + detail::num::exp(-a));
        }
    }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O& out, const A& a) { return out * (detail::k<1>(a) - out); }
};
struct softplus_op {
    static constexpr fixed_string name = "Softplus";
    static constexpr fixed_string fn = "softplus";
    // max(a, 0) + log1p(exp(-|a|)): no overflow for large a.
    template <class T>
    static constexpr T value(const T& a) {
        const T zero = detail::num_cast<T>(0.0);
        if constexpr (detail::is_dual_c<T>::value) {
            // Dual numbers (forward-over-reverse): two analytic branches, so that the tangent at 0
            // is sigmoid(0) = 1/2 (that of max(a, 0) and |a| there is 0).
            return detail::num::select(a >= zero, a + detail::num::log1p(detail::num::exp(-a)),
                                       detail::num::log1p(detail::num::exp(a)));
        } else {
            const T pos = detail::num::select(a > zero, a, zero);
            return pos + detail::num::log1p(detail::num::exp(-detail::num::abs(a)));
        }
    }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) { return etgrad::sigmoid(a); }
};
struct relu_op {
    static constexpr fixed_string name = "Relu";
    static constexpr fixed_string fn = "relu";
    // NaN propagates (as torch.relu): a NaN fails `a <= 0` and is returned.
    template <class T>
    static constexpr T value(const T& a) {
        const T zero = detail::num_cast<T>(0.0);
        return detail::num::select(a <= zero, zero, a);
    }
    // 1 above 0; elsewhere the output: 0 for a <= 0, NaN for a NaN (no extra work per sample).
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O& out, const A& a) {
        return etgrad::where(a > detail::k<0>(a), detail::k<1>(a), out);
    }
};
struct abs_op {
    static constexpr fixed_string name = "Abs";
    static constexpr fixed_string fn = "abs";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::abs(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) {
        return etgrad::where(a > detail::k<0>(a), detail::k<1>(a), etgrad::where(a < detail::k<0>(a), detail::k<-1>(a), detail::k<0>(a)));
    }
};
struct erf_op {
    static constexpr fixed_string name = "Erf";
    static constexpr fixed_string fn = "erf";
    template <class T>
    static constexpr T value(const T& a) { return detail::num::erf(a); }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) {
        return detail::k_named<detail::two_over_sqrt_pi>(a) * etgrad::exp(-(a * a));
    }
};
struct max_op {
    static constexpr fixed_string name = "Maximum";
    static constexpr fixed_string fn = "max";
    // NaN in either operand gives NaN (torch.maximum): `a < b` keeps a NaN a, isnan(b) a NaN b.
    template <class T>
    static constexpr T value(const T& a, const T& b) {
        return detail::num::select(detail::num::isnan(b), b, detail::num::select(a < b, b, a));
    }
    // Unordered operands (a NaN) fall through to the output, NaN: both partials are NaN then.
    template <std::size_t I, class O, class A, class B>
    static constexpr auto partial(const O& out, const A& a, const B& b) {
        const auto tie = etgrad::where(a == b, detail::k<1, 2>(a), out);
        if constexpr (I == 0) {
            return etgrad::where(a > b, detail::k<1>(a), etgrad::where(a < b, detail::k<0>(a), tie));
        } else {
            return etgrad::where(a < b, detail::k<1>(a), etgrad::where(a > b, detail::k<0>(a), tie));
        }
    }
};
struct min_op {
    static constexpr fixed_string name = "Minimum";
    static constexpr fixed_string fn = "min";
    // NaN in either operand gives NaN (torch.minimum), as max_op.
    template <class T>
    static constexpr T value(const T& a, const T& b) {
        return detail::num::select(detail::num::isnan(b), b, detail::num::select(b < a, b, a));
    }
    template <std::size_t I, class O, class A, class B>
    static constexpr auto partial(const O& out, const A& a, const B& b) {
        const auto tie = etgrad::where(a == b, detail::k<1, 2>(a), out);
        if constexpr (I == 0) {
            return etgrad::where(a < b, detail::k<1>(a), etgrad::where(a > b, detail::k<0>(a), tie));
        } else {
            return etgrad::where(a > b, detail::k<1>(a), etgrad::where(a < b, detail::k<0>(a), tie));
        }
    }
};
struct where_op {
    static constexpr fixed_string name = "Where";
    static constexpr fixed_string fn = "where";
    static constexpr bool has_make = true;
    static constexpr bool differentiable(std::size_t i) { return i != 0; }
    template <class C, class T>
    static constexpr T value(const C& cnd, const T& a, const T& b) { return detail::num::select(cnd, a, b); }
    template <std::size_t I, class O, class C, class A, class B>
    static constexpr auto partial(const O&, const C& cnd, const A& a, const B&) {
        if constexpr (I == 1) {
            return etgrad::where(cnd, detail::k<1>(a), detail::k<0>(a));
        } else {
            return etgrad::where(cnd, detail::k<0>(a), detail::k<1>(a));
        }
    }
    template <class C, class A, class B>
    static constexpr auto make(const C& cnd, const A& a, const B& b) {
        if constexpr (detail::same_pure_c<A, B>::value) {
            return a;
        } else {
            ETGRAD_RETURN_NODE((node<where_op, C, A, B>), cnd, a, b);
        }
    }
};

/// Binary cross-entropy of sigmoid(z) against a label y, fused (what -(y log sigmoid(z) + (1 - y)
/// log(1 - sigmoid(z))) is rewritten to; README "Numerically stable forms"): log1p(e^-|z|) + (1 -
/// y) z for z > 0, log1p(e^-|z|) - y z otherwise, every term >= 0 for y in [0, 1] (no cancellation,
/// finite for every finite z). The gradient in z is sigmoid(z) - y, in y -z. The third child is
/// e^-|z|, shared by the value and the gradient (one exp per sample, as by hand); it carries no
/// derivative of its own (its slot is not differentiable) and to_string does not show it.
struct bce_logits_op {
    static constexpr fixed_string name = "BinaryCrossEntropyWithLogits";
    static constexpr fixed_string fn = "bce_with_logits";
    static constexpr std::size_t shown_arity = 2;
    static constexpr bool differentiable(std::size_t i) { return i != 2; }
    template <class T>
    static constexpr T value(const T& z, const T& y, const T& a) {
        const T zero = detail::num_cast<T>(0.0);
        const T one = detail::num_cast<T>(1.0);
        if constexpr (detail::is_dual_c<T>::value) {
            // Dual numbers (forward-over-reverse): two analytic branches, so that the tangent at
            // z = 0 is right (|z|'s tangent there is 0).
            return detail::num::select(z >= zero, detail::num::log1p(detail::num::exp(-z)) + (one - y) * z,
                                       detail::num::log1p(detail::num::exp(z)) - y * z);
        } else {
            return detail::num::log1p(a) + detail::num::select(z > zero, (one - y) * z, -(y * z));
        }
    }
    template <std::size_t I, class O, class Z, class Y, class A>
    static constexpr auto partial(const O&, const Z& z, const Y& y, const A& a) {
        if constexpr (I == 0) {
            if constexpr (Expr<Z> || detail::is_dual_c<Z>::value) {
                return etgrad::sigmoid(z) - y;
            } else {
                // sigmoid(z) from a = e^-|z|: 1 / (1 + a) for z >= 0 (sigmoid's own formula), a / (1 + a)
                // below.
                const Z r = detail::num_cast<Z>(1.0) / (detail::num_cast<Z>(1.0) + a);
                return detail::num::select(z >= detail::num_cast<Z>(0.0), r, a * r) - y;
            }
        } else if constexpr (I == 1) {
            return -z;
        } else {
            return detail::k<0>(z);
        }
    }
};

// Reductions over samples. On numbers (one sample) each is the identity; over data bound to a
// variable (etgrad/data.hpp) the value is the reduction over every sample and the partials below
// are each sample's. `derive` gives the symbolic derivative of the whole reduction.
struct sum_op {
    static constexpr fixed_string name = "Sum";
    static constexpr fixed_string fn = "sum";
    using element_op = esum_op_t<false>;  // over the elements of a shaped operand
    static constexpr int reduction = 1;
    static constexpr unsigned partial_uses(std::size_t) { return 0; }
    template <class T>
    static constexpr T value(const T& a) { return a; }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) { return detail::k<1>(a); }
    template <class N, class DC>
    static constexpr auto derive(const N&, const DC& dc);
};
struct mean_op {
    static constexpr fixed_string name = "Mean";
    static constexpr fixed_string fn = "mean";
    using element_op = esum_op_t<true>;  // over the elements of a shaped operand
    static constexpr int reduction = 2;
    static constexpr unsigned partial_uses(std::size_t) { return 0; }
    template <class T>
    static constexpr T value(const T& a) { return a; }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) { return detail::k<1>(a); }  // 1/N over N samples
    template <class N, class DC>
    static constexpr auto derive(const N&, const DC& dc);
};
struct prod_op {
    static constexpr fixed_string name = "Prod";
    static constexpr fixed_string fn = "prod";
    using element_op = void;  // over the elements of a shaped operand
    static constexpr int reduction = 3;
    template <class T>
    static constexpr T value(const T& a) { return a; }
    // The product of the other samples; the data loop computes it exactly when a sample is 0.
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O&, const A& a) { return detail::k<1>(a); }
    template <class N, class DC>
    static constexpr auto derive(const N& n, const DC& dc);
};
struct logsumexp_op {
    static constexpr fixed_string name = "Logsumexp";
    static constexpr fixed_string fn = "logsumexp";
    using element_op = elogsumexp_op;  // over the elements of a shaped operand
    static constexpr int reduction = 4;
    template <class T>
    static constexpr T value(const T& a) { return a; }
    template <std::size_t I, class O, class A>
    static constexpr auto partial(const O& out, const A& a) { return etgrad::exp(a - out); }  // softmax
    template <class N, class DC>
    static constexpr auto derive(const N& n, const DC& dc);
};
}  // namespace ops

/// Sum over samples (the identity on a single number).
inline constexpr detail::fn1<ops::sum_op> sum{};
/// Mean over samples (std::invalid_argument over zero samples).
inline constexpr detail::fn1<ops::mean_op> mean{};
/// Product over samples; its gradient stays exact when a sample is 0.
inline constexpr detail::fn1<ops::prod_op> prod{};
/// log(sum(exp(e))) over samples, computed stably (std::invalid_argument over zero samples).
inline constexpr detail::fn1<ops::logsumexp_op> logsumexp{};

namespace ops {
template <class N, class DC>
constexpr auto sum_op::derive(const N&, const DC& dc) { return etgrad::sum(dc); }
template <class N, class DC>
constexpr auto mean_op::derive(const N&, const DC& dc) { return etgrad::mean(dc); }
template <class N, class DC>
constexpr auto prod_op::derive(const N& n, const DC& dc) {
    return n * etgrad::sum(dc / n.template child<0>());
}
template <class N, class DC>
constexpr auto logsumexp_op::derive(const N& n, const DC& dc) {
    return etgrad::sum(etgrad::exp(n.template child<0>() - n) * dc);
}
}  // namespace ops

namespace detail {
template <class Op>
concept Reduction = requires { Op::reduction; };
template <class Op>
constexpr unsigned partial_uses(std::size_t i) {
    if constexpr (requires { Op::partial_uses(i); }) {
        return Op::partial_uses(i);
    } else {
        return ~0u;  // the children and the output (bit 31)
    }
}
}  // namespace detail
namespace ops {
template <class Cmp>
struct cmp_op {
    static constexpr fixed_string name = "Compare";
    static constexpr fixed_string sym = Cmp::sym;
    static constexpr int prec = 0;
    static constexpr bool is_condition = true;
    static constexpr bool differentiable(std::size_t) { return false; }
    template <class A, class B>
    static constexpr auto value(const A& a, const B& b) { return Cmp::apply(a, b); }
};
struct land_op {
    static constexpr fixed_string name = "And";
    static constexpr fixed_string sym = "&&";
    static constexpr int prec = -1;
    static constexpr bool is_condition = true;
    static constexpr bool differentiable(std::size_t) { return false; }
    template <class A, class B>
    static constexpr auto value(const A& a, const B& b) { return detail::num::land(a, b); }
};
struct lor_op {
    static constexpr fixed_string name = "Or";
    static constexpr fixed_string sym = "||";
    static constexpr int prec = -2;
    static constexpr bool is_condition = true;
    static constexpr bool differentiable(std::size_t) { return false; }
    template <class A, class B>
    static constexpr auto value(const A& a, const B& b) { return detail::num::lor(a, b); }
};
struct lnot_op {
    static constexpr fixed_string name = "Not";
    static constexpr fixed_string fn = "!";
    static constexpr bool is_condition = true;
    static constexpr bool differentiable(std::size_t) { return false; }
    template <class A>
    static constexpr auto value(const A& a) { return detail::num::lnot(a); }
};
}  // namespace ops

namespace detail {
template <class B>
struct is_neg_c<basic_node<ops::neg_op, B>> : std::true_type {};
template <class B0, class B1>
struct is_mul_cc_c<basic_node<ops::mul_op, B0, B1>> : is_cc_c<unbox_t<B0>> {};

/// The fused binary cross-entropy node of logits z and labels y (see ops::bce_logits_op).
template <class Z, class Y>
constexpr auto make_bce(const Z& z, const Y& y) {
    auto a = detail::make<ops::exp_op>(detail::make<ops::neg_op>(node<ops::abs_op, Z>(z)));
    ETGRAD_RETURN_NODE((node<ops::bce_logits_op, Z, Y, decltype(a)>), z, y, a);
}

/// Build a node of Op from expression operands, simplifying when Op knows how.
template <class Op, class... A>
constexpr auto make(const A&... a) {
    if constexpr (HasMake<Op>) {
        return Op::make(a...);
    } else {
        ETGRAD_RETURN_NODE((node<Op, A...>), a...);
    }
}

template <class T>
struct is_int_cc_c : std::false_type {};
template <long long N>
struct is_int_cc_c<cconst<N, 1>> : std::true_type {};

template <class A, class B>
constexpr auto pow_fn::operator()(const A& a, const B& b) const {
    if constexpr (is_int_cc_c<B>::value) {
        if constexpr (Expr<A>) {
            return detail::make<ops::ipow_op<B::num>>(a);
        } else {
            static_assert(Number<A>, "etgrad::pow takes expressions or numbers");
            using T = std::conditional_t<std::is_integral_v<A>, double, A>;
            return num::ipow<B::num>(T(a));
        }
    } else if constexpr (is_cc_c<B>::value && !Expr<A>) {
        using T = std::conditional_t<std::is_integral_v<A>, double, A>;
        return num::pow(T(a), num_cast<T>(B::value));
    } else {
        return fn2<ops::pow_op>{}(a, b);
    }
}
template <class A>
constexpr auto square_fn::operator()(const A& a) const {
    return pow_fn{}(a, c<2>);
}
template <class C, class A, class B>
constexpr auto where_fn::operator()(const C& cnd, const A& a, const B& b) const {
    if constexpr (Expr<C>) {
        static_assert(is_condition_c<C>::value, "etgrad::where(cond, a, b) needs a condition such as x > 0 as cond");
        return detail::make<ops::where_op>(cnd, detail::lift(a), detail::lift(b));
    } else {
        static_assert(!Expr<A> && !Expr<B>,
                      "etgrad::where: with expression branches, the condition must be an expression");
        return num::select(cnd, a, b);
    }
}
}  // namespace detail

}  // namespace etgrad
