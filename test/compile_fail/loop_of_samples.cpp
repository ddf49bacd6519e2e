// A loop given per-sample data without a reduction over the samples: one error, which says to
// write eg::mean(loop) or eg::sum(loop).
#include <etgrad/etgrad.hpp>

#include <vector>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;
constexpr auto k = eg::var<"k">;

int main() {
    std::vector<double> x0{1.0, 2.0, 3.0};
    const auto loop = eg::scan(eg::carry(x = x - 0.1 * k * x), 10).final(x);
    auto [v, g] = eg::value_and_grad(loop, eg::wrt(k), x = x0, k = 2.0);  // error-here
    (void)v;
    (void)g[k];
}
// expect: reduce it over the samples, eg::mean(loop) or eg::sum(loop)
