// Compile-time gradient checks for every operation of API.md section 1, and compile-time
// inspection (grad_fn_name, to_string, variables, depends_on). Only static_asserts: compiling this
// file with GCC and with Clang is the test. Values are exact where the arithmetic is exact, and
// within a few ulp (near) where a transcendental function is rounded.
#include <etgrad/etgrad.hpp>

#include <boost/hana/contains.hpp>
#include <boost/hana/length.hpp>

namespace eg = etgrad;
namespace hana = boost::hana;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto z = eg::var<"z">;

/// |a - b| <= 4 ulp of b (and a few ulp of 1 near 0).
constexpr bool near(double a, double b) {
    const double d = a > b ? a - b : b - a;
    const double m = b < 0 ? -b : b;
    return d <= 4 * 2.220446049250313e-16 * (m > 1e-300 ? m : 1) || d <= 1e-300;
}

// -- operators --------------------------------------------------------------------------------
static_assert(eg::grad(x + y, x = 1.0, y = 2.0)[x] == 1.0);
static_assert(eg::grad(x + y, x = 1.0, y = 2.0)[y] == 1.0);
static_assert(eg::grad(x - y, x = 1.0, y = 2.0)[y] == -1.0);
static_assert(eg::grad(x * y, x = 3.0, y = 5.0)[x] == 5.0);
static_assert(eg::grad(x / y, x = 3.0, y = 2.0)[x] == 0.5);
static_assert(eg::grad(x / y, x = 3.0, y = 2.0)[y] == -0.75);
static_assert(eg::grad(-x, x = 3.0)[x] == -1.0);
static_assert(eg::d(2.5 * x - 1, x)(x = 7.0) == 2.5);  // runtime constants
static_assert(eg::d(x * x, x)(x = 3.0) == 6.0);
static_assert(eg::is_zero<decltype(eg::d(eg::exp(y), x))>);
static_assert(eg::is_one<decltype(eg::d(x, x))>);

// -- elementwise functions: d/dx at a point, reverse mode and symbolic --------------------------
static_assert(near(eg::grad(eg::exp(x), x = 1.0)[x], 2.718281828459045));
static_assert(near(eg::d(eg::exp(x), x)(x = -2.0), 0.1353352832366127));
static_assert(near(eg::grad(eg::log(x), x = 4.0)[x], 0.25));
static_assert(near(eg::grad(eg::log1p(x), x = 1.0)[x], 0.5));
static_assert(near(eg::grad(eg::expm1(x), x = 0.5)[x], 1.6487212707001282));
static_assert(near(eg::grad(eg::sqrt(x), x = 4.0)[x], 0.25));
static_assert(near(eg::grad(eg::cbrt(x), x = 8.0)[x], 1.0 / 12.0));
static_assert(eg::grad(eg::pow(x, eg::c<3>), x = 2.0)[x] == 12.0);  // exact integer power
static_assert(eg::d(eg::pow(x, eg::c<3>), x)(x = -1.5) == 6.75);
static_assert(near(eg::grad(eg::pow(x, y), x = 2.0, y = 3.0)[x], 12.0));
static_assert(near(eg::grad(eg::pow(x, y), x = 2.0, y = 3.0)[y], 8.0 * 0.6931471805599453));
static_assert(eg::grad(eg::sin(x), x = 0.0)[x] == 1.0);
static_assert(near(eg::grad(eg::sin(x), x = 1.0)[x], 0.5403023058681398));
static_assert(near(eg::grad(eg::cos(x), x = 1.0)[x], -0.8414709848078965));
static_assert(near(eg::grad(eg::tan(x), x = 0.5)[x], 1.2984464104095248));
static_assert(near(eg::grad(eg::asin(x), x = 0.5)[x], 1.1547005383792517));
static_assert(near(eg::grad(eg::acos(x), x = 0.5)[x], -1.1547005383792517));
static_assert(near(eg::grad(eg::atan(x), x = 2.0)[x], 0.2));
static_assert(near(eg::grad(eg::atan2(y, x), x = 1.0, y = 1.0)[x], -0.5));
static_assert(near(eg::grad(eg::atan2(y, x), x = 1.0, y = 1.0)[y], 0.5));
static_assert(near(eg::grad(eg::sinh(x), x = 1.0)[x], 1.5430806348152437));
static_assert(near(eg::grad(eg::cosh(x), x = 1.0)[x], 1.1752011936438014));
static_assert(near(eg::grad(eg::tanh(x), x = 0.5)[x], 0.7864477329659274));
static_assert(eg::grad(eg::sigmoid(x), x = 0.0)[x] == 0.25);
static_assert(near(eg::grad(eg::sigmoid(x), x = 1.0)[x], 0.19661193324148185));
static_assert(eg::grad(eg::softplus(x), x = 0.0)[x] == 0.5);
static_assert(eg::grad(eg::relu(x), x = 2.0)[x] == 1.0);
static_assert(eg::grad(eg::relu(x), x = -2.0)[x] == 0.0);
static_assert(eg::grad(eg::relu(x), x = 0.0)[x] == 0.0);  // relu'(0) = 0
static_assert(eg::grad(eg::abs(x), x = -3.0)[x] == -1.0);
static_assert(eg::grad(eg::abs(x), x = 0.0)[x] == 0.0);  // abs'(0) = 0
static_assert(near(eg::grad(eg::erf(x), x = 0.0)[x], 1.1283791670955126));
static_assert(near(eg::grad(eg::erf(x), x = 1.0)[x], 0.41510749742059472));
static_assert(eg::grad(eg::square(x), x = 3.0)[x] == 6.0);
static_assert(eg::grad(eg::max(x, y), x = 3.0, y = 1.0)[x] == 1.0);
static_assert(eg::grad(eg::max(x, y), x = 2.0, y = 2.0)[y] == 0.5);  // a tie splits the gradient
static_assert(eg::grad(eg::min(x, y), x = 3.0, y = 1.0)[y] == 1.0);
static_assert(eg::grad(eg::min(x, y), x = 3.0, y = 1.0)[x] == 0.0);

// -- conditions and where ---------------------------------------------------------------------
static_assert(eg::grad(eg::where(x > 0, x * x, -x), x = 3.0)[x] == 6.0);
static_assert(eg::grad(eg::where(x > 0, x * x, -x), x = -3.0)[x] == -1.0);
static_assert(eg::grad(eg::where(x < y, x, y), x = 1.0, y = 2.0)[x] == 1.0);
static_assert(eg::grad(eg::where(x <= y, x, y), x = 2.0, y = 2.0)[x] == 1.0);
static_assert(eg::grad(eg::where(x >= y, x, 2 * y), x = 1.0, y = 2.0)[y] == 2.0);
static_assert(eg::grad(eg::where(x == y, x, y), x = 1.0, y = 2.0)[y] == 1.0);
static_assert(eg::grad(eg::where(x != y, 3 * x, y), x = 1.0, y = 2.0)[x] == 3.0);
static_assert(eg::grad(eg::where(x > 0 && y > 0, x * y, x), x = 2.0, y = 3.0)[x] == 3.0);
static_assert(eg::grad(eg::where(x > 0 || y > 0, x * y, x), x = -2.0, y = -3.0)[x] == 1.0);
static_assert(eg::grad(eg::where(!(x > 0), x * y, x), x = -2.0, y = 3.0)[x] == 3.0);
static_assert(eg::grad(eg::detach(x) * y + x, x = 3.0, y = 2.0)[x] == 1.0);  // detach

// -- composites, check_grad, higher order -------------------------------------------------------
static_assert(eg::check_grad(eg::log(eg::sigmoid(x * y)), x = 0.7, y = -1.3));
static_assert(eg::check_grad(eg::sin(x * x) + eg::exp(y) / x, x = 2.0, y = 1.0));
static_assert(eg::check_grad(eg::sqrt(x * x + y * y) * eg::atan2(y, x), x = 0.3, y = -0.8));
static_assert(eg::check_grad(eg::tanh(eg::erf(x) * eg::softplus(y)) + eg::cbrt(x + 2), x = 0.4, y = 0.9));
static_assert(near(eg::d(eg::d(eg::sin(x), x), x)(x = 1.0), -0.8414709848078965));
static_assert(eg::hessian(x * x * y, x = 2.0, y = 3.0)(x, y) == 4.0);

// -- inspection at compile time ---------------------------------------------------------------
constexpr auto f = eg::sin(x * x) + eg::exp(y) / x;
static_assert(eg::grad_fn_name(f) == "AddBackward");
static_assert(eg::grad_fn_name(x * y) == "MulBackward");
static_assert(eg::grad_fn_name(eg::sigmoid(x)) == "SigmoidBackward");
static_assert(eg::grad_fn_name(x).empty());
// to_string returns an eg::text (not a std::string: Clang cannot build a libstdc++ 12 std::string in
// a constant expression), so these hold on GCC and Clang alike.
static_assert(eg::to_string(f) == "sin(x * x) + exp(y) / x");
static_assert(eg::to_string(eg::d(x * x, x)) == "2 * x");
static_assert(eg::to_string(2.5 * x - eg::c<1, 3>) == "2.5 * x - 1/3");
static_assert(eg::to_string(eg::pow(x, eg::c<3>) * 0.001 + 1e-7 * y) == "pow(x, 3) * 0.001 + 1e-07 * y");
static_assert(eg::to_string((x + y) * 12345678.0) == "(x + y) * 12345678");
static_assert(eg::to_string(x * 1e300 + 123.25 / y) == "x * 1e+300 + 123.25 / y");
static_assert(eg::to_string(eg::where(x > 0, x, 0.1 * x)) == "where(x > 0, x, 0.1 * x)");
// log(sigmoid(u)) is built as the stable -softplus(-u) (README "Numerically stable forms").
static_assert(eg::to_string(eg::log(eg::sigmoid(x * y))) == "-softplus(-(x * y))");
static_assert(eg::to_string(x * x) + " at 3" == "x * x at 3");
static_assert("d/dx: " + eg::to_string(eg::d(x * x, x)) == std::string_view("d/dx: 2 * x"));
static_assert(eg::to_string(eg::d(eg::sin(x), x)).size() == 6);
static_assert(eg::to_string(f).contains("exp(y)") && eg::to_string(f).starts_with("sin("));
static_assert(eg::to_string(x * y) != eg::to_string(y * x));
static_assert(hana::length(eg::variables(f)) == hana::size_c<2>);
static_assert(hana::contains(eg::variables(f), x));
static_assert(!hana::contains(eg::variables(f), z));
static_assert(eg::depends_on(f, y));
static_assert(!eg::depends_on(f, z));
static_assert(!eg::depends_on(eg::d(eg::exp(y) + x, x), y));
}  // namespace
