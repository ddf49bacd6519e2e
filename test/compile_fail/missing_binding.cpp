// A variable of the expression is not bound: the message names it ("speed").
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;
constexpr auto speed = eg::var<"speed">;

int main() {
    double v = (x * speed + x)(x = 1.0);  // error-here
    (void)v;
}
// expect: etgrad: a variable of the expression is not bound
// expect: {"speed"}
