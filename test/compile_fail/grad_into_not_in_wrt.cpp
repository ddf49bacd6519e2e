// x is bound with .grad_into(gx) but left out of eg::wrt(...): its gradient would not be computed
// (gx was silently overwritten with zeros).
#include <etgrad/etgrad.hpp>
#include <vector>
namespace eg = etgrad;

constexpr auto w = eg::var<"w">;
constexpr auto x = eg::var<"x">;

int main() {
    std::vector<double> xs{1.0, 2.0, 3.0}, gx(3);
    auto g = eg::grad(eg::sum(w * x * x), eg::wrt(w), w = 2.0, x = eg::data(xs).grad_into(gx));  // error-here
    (void)g;
}
// expect: etgrad: a variable bound as `x = eg::data(xs).grad_into(gx)` is not in wrt(...)
// expect: add it to eg::wrt(...), or bind it without .grad_into
