// A gradient of an expression that depends on no variable (PyTorch: "element 0 of tensors does
// not require grad and does not have a grad_fn").
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;

int main() {
    auto g = eg::grad(eg::c<2> * eg::c<3> + 1.5, x = 1.0);  // error-here
    double v = g[x];  // the user's next line: no second error
    (void)v;
}
// expect: etgrad: the expression depends on no variable, so it has no gradient
