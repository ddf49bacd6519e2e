// check_grad over float data: finite differences in float are too coarse to check anything, so
// one error says to bind double data.
#include <etgrad/etgrad.hpp>
#include <vector>
namespace eg = etgrad;

constexpr auto x = eg::var<"x", eg::shape<2>>;
constexpr auto w = eg::var<"w", eg::shape<2>>;

int main() {
    const std::vector<float> X(8, 0.5f);
    const bool ok = eg::check_grad(eg::mean(eg::dot(w, x)), w = std::array{1.0, 2.0}, x = eg::rows<2>(X));  // error-here
    (void)ok;
}
// expect: etgrad::check_grad over data checks in double
