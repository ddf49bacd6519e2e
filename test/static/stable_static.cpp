// The numerically stable rewrites at compile time (README "Numerically stable forms"): the types
// they build, their to_string forms and their derivatives' types. Compiling this file is the test
// (also with the other node representation, ETGRAD_BOX_CHILDREN, as every static test).
#include <etgrad/etgrad.hpp>

#include <type_traits>

namespace {
namespace eg = etgrad;
using namespace eg::literals;

constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto z = eg::var<"z">;
constexpr auto k = eg::var<"k">;

template <class A, class B>
constexpr bool same = std::is_same_v<std::remove_cvref_t<A>, std::remove_cvref_t<B>>;

// log(sigmoid(z)) -> -softplus(-z), log(1 - sigmoid(z)) -> -softplus(z), also log1p(-sigmoid(z)).
static_assert(same<decltype(eg::log(eg::sigmoid(z))), decltype(-eg::softplus(-z))>);
static_assert(same<decltype(eg::log(1_c - eg::sigmoid(z))), decltype(-eg::softplus(z))>);
static_assert(same<decltype(eg::log1p(-eg::sigmoid(z))), decltype(-eg::softplus(z))>);
static_assert(eg::to_string(eg::log(eg::sigmoid(x * y + z))) == "-softplus(-(x * y + z))");
static_assert(eg::to_string(eg::log(eg::c<1> - eg::sigmoid(2_c * x))) == "-softplus(2 * x)");
static_assert(eg::to_string(eg::log(eg::sigmoid(-x))) == "-softplus(x)");
static_assert(eg::to_string(eg::d(eg::log(eg::c<1> - eg::sigmoid(x)), x)) == "-sigmoid(x)");
// Not rewritten: a runtime 1 (its value is not in the type), and other compositions.
static_assert(eg::to_string(eg::log(1 - eg::sigmoid(z))) == "log(1 - sigmoid(z))");
static_assert(eg::to_string(eg::log(eg::c<2> - eg::sigmoid(z))) == "log(2 - sigmoid(z))");
static_assert(eg::to_string(eg::log(eg::sigmoid(z) * y)) == "log(sigmoid(z) * y)");

// Binary cross-entropy of sigmoid(z): one fused node, gradient sigmoid(z) - y.
constexpr auto p = eg::sigmoid(x * k + z);
constexpr auto bce = -(y * eg::log(p) + (1_c - y) * eg::log(1_c - p));
static_assert(eg::to_string(bce) == "bce_with_logits(x * k + z, y)");
static_assert(eg::to_string(eg::d(bce, z)) == "sigmoid(x * k + z) - y");
static_assert(same<decltype(eg::d(bce, z)), decltype(eg::sigmoid(x * k + z) - y)>);
static_assert(eg::to_string(eg::d(bce, k)) == "(sigmoid(x * k + z) - y) * x");
static_assert(eg::to_string(eg::d(bce, y)) == "-(x * k + z)");
static_assert(eg::grad_fn_name(bce) == "BinaryCrossEntropyWithLogitsBackward");
static_assert(eg::depends_on(bce, x) && eg::depends_on(bce, y));
static_assert(same<decltype(bce), decltype(y * eg::softplus(-(x * k + z)) + (1_c - y) * eg::softplus(x * k + z))>);
static_assert(same<decltype(bce), decltype(-y * eg::log(p) - (1_c - y) * eg::log(1_c - p))>);
static_assert(same<decltype(bce), decltype(-((1_c - y) * eg::log(1_c - p) + y * eg::log(p)))>);
// Not fused: the label terms do not match, or a runtime constant (two copies of one type may
// hold different values).
static_assert(eg::to_string(-(y * eg::log(p) + (1_c - x) * eg::log(1_c - p))) ==
              "y * softplus(-(x * k + z)) + (1 - x) * softplus(x * k + z)");
static_assert(!eg::to_string(-(y * eg::log(eg::sigmoid(0.5 * x)) + (1_c - y) * eg::log(1_c - eg::sigmoid(0.5 * x))))
                   .contains("bce"));

// log(sum(exp(e))) -> logsumexp(e), over samples and over a tensor's elements.
constexpr auto t = eg::var<"t", eg::shape<3>>;
static_assert(same<decltype(eg::log(eg::sum(eg::exp(x * y)))), decltype(eg::logsumexp(x * y))>);
static_assert(same<decltype(eg::log(eg::sum(eg::exp(t)))), decltype(eg::logsumexp(t))>);
static_assert(eg::to_string(eg::log(eg::sum(eg::exp(t)))) == "logsumexp(t)");
static_assert(eg::to_string(eg::log(eg::mean(eg::exp(x)))) == "log(mean(exp(x)))");

// Constant collection in products.
static_assert(same<decltype(eg::d(eg::c<1, 2> * k * x * x, x)), decltype(k * x)>);
static_assert(same<decltype(eg::d(eg::c<1, 2> * k * eg::square(x), x)), decltype(k * x)>);
static_assert(same<decltype(eg::d(eg::c<1, 3> * eg::pow(x, eg::c<3>), x)), decltype(eg::pow(x, eg::c<2>))>);
static_assert(eg::to_string((2_c * x) * (3_c * y)) == "6 * x * y");
static_assert(eg::to_string(eg::c<4> * (eg::c<1, 4> * x * y)) == "x * y");
static_assert(eg::to_string(x * y + y * x) == "2 * (y * x)");
static_assert(eg::to_string(x * y + x * y) == "2 * (x * y)");
static_assert(eg::to_string(-(-x - y)) == "x + y");
static_assert(eg::to_string(x * (2.5 * y) + 2.5 * y * x) == "x * (2.5 * y) + 2.5 * y * x");  // runtime constants: kept
}  // namespace
