// eg::d of a shaped expression: one error that says what to use instead.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto W = eg::var<"W", eg::shape<3, 4>>;

int main() {
    auto h = eg::d(eg::sum(eg::tanh(W)), W);  // error-here
    (void)h(W = std::array<double, 12>{});
}
// expect: etgrad: eg::d and eg::hessian do not take shaped variables yet
