// eg::wrt(...) naming a number.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;

int main() {
    auto w = eg::wrt(x, 2.0);  // error-here
    (void)w;
}
// expect: etgrad::wrt(...) takes variables
