// The same without eg::wrt (every variable differentiated): each is read only through eg::detach.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;

int main() {
    auto [v, g] = eg::value_and_grad(eg::detach(x) * eg::detach(y) + 1.5, x = 1.0, y = 2.0);  // error-here
    (void)v;
    double d = g[x] + g[y];  // the user's next line: no second error
    (void)d;
}
// expect: etgrad: every path from the expression to the differentiated variables goes through eg::detach
