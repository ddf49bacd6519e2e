// eg::hessian of an expression of a shaped variable: one error that says what to use instead.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto v = eg::var<"v", eg::shape<3>>;

int main() {
    auto H = eg::hessian(eg::sum(eg::square(v)), v = std::array{1.0, 2.0, 3.0});  // error-here
    (void)H;
}
// expect: etgrad: eg::d and eg::hessian do not take shaped variables yet
// expect: eg::hvp (Hessian-vector products)
