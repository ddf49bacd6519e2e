// The same variable bound twice: the message names it ("alpha").
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto alpha = eg::var<"alpha">;
constexpr auto y = eg::var<"y">;

int main() {
    double v = (alpha * y)(alpha = 1.0, y = 2.0, alpha = 3.0);  // error-here
    (void)v;
}
// expect: etgrad: the same variable is bound twice
// expect: {"alpha"}
