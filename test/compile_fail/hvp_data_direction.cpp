// eg::hvp over data with a direction on a per-sample data variable (x = eg::rows<3>(X)).
#include <etgrad/etgrad.hpp>
#include <array>
#include <vector>
namespace eg = etgrad;

constexpr auto W = eg::var<"W", eg::shape<2, 3>>;
constexpr auto x = eg::var<"x", eg::shape<3>>;

int main() {
    std::vector<double> X(6, 0.5);
    std::array<double, 6> w{}, dw{};
    std::array<double, 3> dx{};
    auto h = eg::hvp(eg::mean(eg::sum(eg::tanh(eg::matvec(W, x)))), eg::tangent(W = dw, x = dx), W = w, x = eg::rows<3>(X));  // error-here
    (void)h;
}
// expect: etgrad::hvp over data: eg::tangent(...) names a per-sample data variable
