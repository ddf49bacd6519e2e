// grad of a shaped expression (PyTorch: "grad can be implicitly created only for scalar outputs").
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto v = eg::var<"v", eg::shape<3>>;

int main() {
    auto g = eg::grad(eg::exp(v), v = std::array{1.0, 2.0, 3.0});  // error-here
    (void)g;
}
// expect: etgrad: grad of a shaped expression: reduce it to a scalar first
