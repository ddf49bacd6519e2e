// value_and_grad of a per-sample expression (no reduction): one value per sample, no single
// gradient (PyTorch: grad can be implicitly created only for scalar outputs).
#include <etgrad/etgrad.hpp>
#include <vector>
namespace eg = etgrad;

constexpr auto w = eg::var<"w">;
constexpr auto x = eg::var<"x">;

int main() {
    std::vector<double> xs{1.0, 2.0, 3.0};
    auto r = eg::value_and_grad(w * x, eg::wrt(w), w = 2.0, x = xs);  // error-here
    (void)r;
}
// expect: etgrad: this expression is per-sample
// expect: eg::mean
