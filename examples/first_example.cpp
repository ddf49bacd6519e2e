// The README's first example (kept identical to it).
#include <etgrad/etgrad.hpp>
#include <cstdio>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;                       // leaves: variables, identified by name
constexpr auto y = eg::var<"y">;
constexpr auto f = eg::sin(x * x) + eg::exp(y) / x;    // decltype(f) is the graph

int main() {
    double v = f(x = 2.0, y = 1.0);                            // evaluate ("no_grad")
    auto [val, g] = eg::value_and_grad(f, x = 2.0, y = 1.0);   // one forward + one backward sweep
    std::printf("f = %g  df/dx = %g  df/dy = %g\n", val, g[x], g[y]);

    constexpr auto dfdx = eg::d(f, x);                         // symbolic: another expression type
    static_assert(eg::d(x * x, x)(x = 3.0) == 6.0);            // checked by the compiler
    static_assert(eg::is_zero<decltype(eg::d(eg::exp(y), x))>);
    auto H = eg::hessian(f, eg::wrt(x, y), x = 2.0, y = 1.0);  // H(x, y), H(y, y), ...
    std::printf("%s = %g, d2f/dxdy = %g, %g\n", eg::to_string(dfdx).c_str(), dfdx(x = 2.0, y = 1.0),
                H(x, y), v);
}
