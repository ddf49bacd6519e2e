// A data loop: the parameter w is read only through eg::detach, and the data x is not differentiated.
#include <etgrad/etgrad.hpp>
#include <vector>
namespace eg = etgrad;

constexpr auto w = eg::var<"w">;
constexpr auto x = eg::var<"x">;

int main() {
    std::vector<double> xs{1.0, 2.0, 3.0};
    auto g = eg::grad(eg::sum(eg::detach(w * x)), w = 2.0, x = xs);  // error-here
    (void)g;
}
// expect: etgrad: every path from the expression to the differentiated variables goes through eg::detach
