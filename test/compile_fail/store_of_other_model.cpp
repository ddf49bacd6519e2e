// A parameter store bound to an expression that does not use one of its parameters: the store of
// a two-layer model given to a one-layer loss.
#include <etgrad/etgrad.hpp>
#include <etgrad/nn.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x", eg::shape<4>>;
constexpr auto y = eg::var<"y">;
constexpr auto fc1 = eg::nn::linear<"fc1", 4, 3>;
constexpr auto fc2 = eg::nn::linear<"fc2", 3, 3>;

int main() {
    const auto params = eg::parameters(eg::nn::cross_entropy(fc2(eg::tanh(fc1(x))), y), eg::inputs(x, y), 0);
    auto [L, g] = eg::value_and_grad(eg::nn::cross_entropy(fc1(x), y), params, x = std::array{1.0, 2.0, 3.0, 4.0}, y = 1.0);  // error-here
    (void)L;
    (void)g;
}
// expect: etgrad: the parameter store holds a variable that this expression does not use
// expect: fc2.weight
