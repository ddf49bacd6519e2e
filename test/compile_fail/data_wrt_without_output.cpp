// A data variable in wrt(...) without a place for its per-sample gradient.
#include <etgrad/etgrad.hpp>
#include <vector>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;

int main() {
    std::vector<double> xs{1.0, 2.0, 3.0};
    auto r = eg::value_and_grad(eg::prod(x), eg::wrt(x), x = xs);  // error-here
    (void)r;
}
// expect: etgrad: a variable bound to data is in wrt(...) but has no gradient output
// expect: grad_into
