// Something that is not a binding passed where bindings go (here a gradient record): one error,
// which names the type passed.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;

int main() {
    auto g = eg::grad(x * x, x = 1.0);
    auto r = eg::value_and_grad(x * x, g);  // error-here
    (void)r;
}
// expect: etgrad: after the expression (and an optional eg::wrt(...)), pass bindings
// expect: not_a_binding<
// expect: gradient<
