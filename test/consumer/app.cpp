// A consumer of etgrad: builds through find_package(etgrad) or add_subdirectory(etgrad).
#include <etgrad/etgrad.hpp>

namespace eg = etgrad;

int main() {
    constexpr auto x = eg::var<"x">;
    constexpr auto y = eg::var<"y">;
    auto [v, g] = eg::value_and_grad(eg::sin(x * y) + y, x = 0.0, y = 2.0);
    return (v == 2.0 && g[x] == 2.0 && g[y] == 1.0) ? 0 : 1;
}
