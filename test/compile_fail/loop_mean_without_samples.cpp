// eg::mean of a loop reduces it over samples: with no per-sample binding (only numbers) there are
// none, which is one error at the call.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;
constexpr auto k = eg::var<"k">;

int main() {
    const auto loop = eg::scan(eg::carry(x = x - 0.1 * k * x), 10).final(x);
    auto [v, g] = eg::value_and_grad(eg::mean(loop), eg::wrt(k), x = 1.0, k = 2.0);  // error-here
    (void)v;
    (void)g[k];
}
// expect: eg::mean(loop) / eg::sum(loop) reduce a loop over samples
