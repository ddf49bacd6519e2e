// The same variable bound twice, in grad: the message names it ("beta").
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto beta = eg::var<"beta">;

int main() {
    auto g = eg::grad(beta * beta, beta = 1.0, beta = 2.0);  // error-here
    (void)g;
}
// expect: etgrad: the same variable is bound twice
// expect: {"beta"}
