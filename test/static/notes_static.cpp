// Compile-time checks: this file is made only of static_asserts (compiling it is the test).
#include <etgrad/etgrad.hpp>

namespace eg = etgrad;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto a = eg::var<"a">;
constexpr auto b = eg::var<"b">;

// The autograd notes: y = x^2 gives 4 and 6; Q = 3a^3 - b^2 gives 36 and -12.
static_assert(eg::d(x * x, x)(x = 2.0) == 4.0);
static_assert(eg::d(x * x, x)(x = 3.0) == 6.0);
static_assert(eg::grad(x * x, x = 3.0)[x] == 6.0);
constexpr auto Q = 3 * eg::pow(a, eg::c<3>) - b * b;
static_assert(eg::grad(Q, a = 2.0, b = 6.0)[a] == 36.0);
static_assert(eg::grad(Q, a = 2.0, b = 6.0)[b] == -12.0);

// Transcendental functions in constant expressions.
static_assert(eg::grad(eg::sin(x), x = 0.0)[x] == 1.0);
static_assert(eg::d(eg::exp(x), x)(x = 0.0) == 1.0);
static_assert(eg::check_grad(eg::log(eg::sigmoid(x * y)), x = 0.7, y = -1.3));
static_assert(eg::check_grad(eg::sin(x * y) + eg::exp(y) / x, x = 2.0, y = 1.0));

// Structural facts.
static_assert(eg::is_zero<decltype(eg::d(eg::exp(y), x))>);
static_assert(std::is_same_v<decltype(eg::d(x * x, x)), decltype(eg::c<2> * x)>);
static_assert(eg::grad_fn_name(x * y) == "MulBackward");
static_assert(eg::grad_fn_name(eg::sin(x)) == "SinBackward");
static_assert(eg::depends_on(eg::sin(x) * 2.0, x) && !eg::depends_on(eg::sin(x), y));
static_assert(eg::is_leaf(x) && !eg::is_leaf(x + y));
static_assert(eg::hessian(x * x * y, x = 2.0, y = 3.0)(x, y) == 4.0);
}  // namespace
