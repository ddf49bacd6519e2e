// grad of a vector of expressions (PyTorch: "grad can be implicitly created only for scalar
// outputs").
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;

int main() {
    auto g = eg::grad(eg::vector(x * x, eg::sin(x)), x = 1.0);  // error-here
    double v = g[x];  // the user's next line: no second error
    (void)v;
}
// expect: etgrad: grad can be implicitly created only for scalar outputs
