// opt.step(g) with a gradient record that holds a variable the optimizer's store does not.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto W = eg::var<"W", eg::shape<2, 2>>;
constexpr auto b = eg::var<"b", eg::shape<2>>;
constexpr auto x = eg::var<"x", eg::shape<2>>;
constexpr auto other = eg::var<"other", eg::shape<2>>;

int main() {
    auto params = eg::parameters(eg::sum(eg::matvec(W, x) + b), eg::inputs(x), 0);
    eg::optim::sgd opt(params, {.lr = 0.1});
    eg::tensor_gradient<double, decltype(W), decltype(other)> g{};
    opt.step(g);  // error-here
}
// expect: the gradient record holds a variable that is not in the optimizer's parameter store
