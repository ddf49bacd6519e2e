// A loop whose carried variable v is given no initial value.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;
constexpr auto v = eg::var<"v">;

int main() {
    constexpr auto step = eg::carry(v = v - 0.1 * x, x = x + 0.1 * v);
    auto [xn, g] = eg::value_and_grad(eg::scan(step, 10).final(x), eg::wrt(x), x = 1.0);  // error-here
    (void)xn;
    (void)g;
}
// expect: etgrad::scan: a carried variable needs its initial value as a binding
