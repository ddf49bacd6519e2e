// A variable of the expression is not bound, in value_and_grad: the message names it ("rate").
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;
constexpr auto rate = eg::var<"rate">;

int main() {
    auto g = eg::grad(eg::sin(x) * rate, eg::wrt(x), x = 1.0);  // error-here
    (void)g;
}
// expect: etgrad: a variable of the expression is not bound
// expect: {"rate"}
