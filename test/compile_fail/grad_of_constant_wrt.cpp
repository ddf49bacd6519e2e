// The same with eg::wrt(x): x is differentiated, but the expression depends on no variable.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;

int main() {
    auto [v, g] = eg::value_and_grad(eg::exp(eg::c<2>), eg::wrt(x), x = 1.0);  // error-here
    (void)v;
    double d = g[x];  // the user's next line: no second error
    (void)d;
}
// expect: etgrad: the expression depends on no variable, so it has no gradient
