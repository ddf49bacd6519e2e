// A binding of a non-arithmetic type (a pointer), in grad.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;

int main() {
    double d = 1.0;
    auto g = eg::grad(x * x, x = &d);  // error-here
    (void)g;
}
// expect: etgrad: a variable can only be bound to an arithmetic value
