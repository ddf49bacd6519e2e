// Positive control: with the same compiler, flags and include directories as the compile-fail
// tests, correct uses of everything they misuse compile (a broken include path cannot make the
// compile-fail tests pass).
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;

int main() {
    double v = (x * y)(x = 1.0, y = 2.0);
    auto g = eg::grad(x * y, eg::wrt(x), x = 1.0, y = 2.0);
    auto [vals, gv] = eg::vjp(eg::vector(x * y, x), std::array{1.0, 1.0}, x = 1.0, y = 2.0);
    auto gy = eg::grad(x * y, eg::wrt(y), x = 1.0f, y = 2);
    auto H = eg::hessian(x * y + eg::c<3>, x = 1.0, y = 2.0);
    return static_cast<int>(v + g[x] + vals[0] + gv[x] + gy[y] + H(x, y)) == 0;
}
