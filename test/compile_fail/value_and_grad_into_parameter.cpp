// value_and_grad_into over data with tensors asks for a parameter's derivative per sample: a
// parameter has one gradient, so one error says to use value_and_grad on a reduced loss.
#include <etgrad/etgrad.hpp>
#include <vector>
namespace eg = etgrad;

constexpr auto x = eg::var<"x", eg::shape<2>>;
constexpr auto w = eg::var<"w", eg::shape<2>>;

int main() {
    const std::vector<double> X(8, 0.5);
    std::vector<double> out(4), gw(8);
    eg::value_and_grad_into(out, std::tie(gw), eg::dot(w, x), eg::wrt(w), w = std::array{1.0, 2.0}, x = eg::rows<2>(X));  // error-here
}
// expect: the variables of wrt(...) must be bound to per-sample data
