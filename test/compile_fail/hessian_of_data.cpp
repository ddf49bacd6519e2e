// A function that takes scalar bindings only, given data.
#include <etgrad/etgrad.hpp>
#include <vector>
namespace eg = etgrad;

constexpr auto w = eg::var<"w">;
constexpr auto x = eg::var<"x">;

int main() {
    std::vector<double> xs{1.0, 2.0, 3.0};
    auto h = eg::hessian(eg::sum(w * w * x), eg::wrt(w), w = 2.0, x = xs);  // error-here
    (void)h;
}
// expect: etgrad: this function takes scalar bindings
