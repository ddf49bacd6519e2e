// grad of a vector of expressions (PyTorch: "grad can be implicitly created only for scalar
// outputs").
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;

int main() {
    auto g = eg::grad(eg::vector(x * x, eg::sin(x)), x = 1.0);  // error-here
    (void)g;
}
// expect: etgrad: grad can be implicitly created only for scalar outputs
