// An elementwise operation on shapes that do not broadcast (NumPy's trailing rule): one error.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto W = eg::var<"W", eg::shape<3, 4>>;
constexpr auto v = eg::var<"v", eg::shape<3>>;

int main() {
    auto e = W + v;  // error-here
    (void)e;
}
// expect: etgrad: elementwise operation on shapes that do not broadcast
