// With eg::wrt(x): y's path is live, but x, the variable asked for, is read only through eg::detach.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;

int main() {
    auto g = eg::grad(eg::detach(x * x) + y, eg::wrt(x), x = 1.0, y = 2.0);  // error-here
    double v = g[x];  // the user's next line: no second error
    (void)v;
}
// expect: etgrad: every path from the expression to the differentiated variables goes through eg::detach
