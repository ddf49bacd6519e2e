// A loop body whose update of a shaped carried variable has another shape (a 4-vector h given a
// 3-vector). (Written `const`: with `constexpr` Clang adds a second error, that the variable is
// not initialised by a constant expression.)
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto h = eg::var<"h", eg::shape<4>>;
constexpr auto W = eg::var<"W", eg::shape<3, 4>>;

int main() {
    const auto step = eg::carry(h = eg::tanh(eg::matvec(W, h)));  // error-here
    (void)step;
}
// expect: etgrad::carry(x = e): e's shape is not the shape of x
