// The gradient of an expression whose every path to the differentiated variable passes through
// eg::detach (PyTorch: "element 0 of tensors does not require grad and does not have a grad_fn").
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;

int main() {
    auto g = eg::grad(eg::detach(x * x), eg::wrt(x), x = 1.0);  // error-here
    double v = g[x];  // the user's next line: no second error
    (void)v;
}
// expect: etgrad: every path from the expression to the differentiated variables goes through eg::detach
// expect: element 0 of tensors does not require grad
