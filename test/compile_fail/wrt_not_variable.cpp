// eg::wrt(...) naming something that is not a variable.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;

int main() {
    auto g = eg::grad(x * x, eg::wrt(x * x), x = 1.0);  // error-here
    (void)g;
}
// expect: etgrad::wrt(...) takes variables
