// value_and_grad of a vector of expressions, with wrt.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;

int main() {
    auto r = eg::value_and_grad(eg::vector(x * y, y), eg::wrt(x, y), x = 1.0, y = 2.0);  // error-here
    double v = r.grad[x] + r.grad[y];  // the user's next line: no second error
    (void)v;
}
// expect: etgrad: grad can be implicitly created only for scalar outputs
