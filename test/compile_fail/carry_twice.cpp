// A loop body that updates the same carried variable twice. (Written `const`: with `constexpr`
// Clang adds a second error, that the variable is not initialised by a constant expression.)
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;
constexpr auto a = eg::var<"a">;

int main() {
    const auto step = eg::carry(x = x * a, x = x + 1.0);  // error-here
    (void)step;
}
// expect: etgrad::carry(...): a variable is updated twice
