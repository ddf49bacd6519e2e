// eg::hvp over data of a loss that is not linear in its reduction over samples (log of a mean).
#include <etgrad/etgrad.hpp>
#include <array>
#include <vector>
namespace eg = etgrad;

constexpr auto W = eg::var<"W", eg::shape<2, 3>>;
constexpr auto x = eg::var<"x", eg::shape<3>>;

int main() {
    std::vector<double> X(6, 0.5);
    std::array<double, 6> w{}, dw{};
    auto h = eg::hvp(eg::log(eg::mean(eg::sum(eg::exp(eg::matvec(W, x))))), eg::tangent(W = dw), W = w, x = eg::rows<3>(X));  // error-here
    (void)h;
}
// expect: etgrad::hvp over data: the loss must be linear in its reductions over samples
