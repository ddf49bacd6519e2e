// tensors.cpp -- shaped variables: the autograd notes' tensor examples, a matrix variable, and a
// per-sample vector in a fused data loop, with gradients shaped like their variables.
#include <etgrad/etgrad.hpp>

#include <cstdio>
#include <vector>

namespace eg = etgrad;

int main() {
    // y = (x**2).mean() on a 3-vector: a mean over its elements. dy/dx = 2x/3.
    constexpr auto x = eg::var<"x", eg::shape<3>>;
    auto [y, gy] = eg::value_and_grad(eg::mean(eg::square(x)), x = std::array{1.0, 2.0, 3.0});
    std::printf("y = %g, dy/dx = (%g, %g, %g)\n", y, gy[x](0), gy[x](1), gy[x](2));  // 4.66667, (0.667, 1.33, 2)

    // Q = 3a^3 - b^2 on vectors; Q.sum().backward() gives dQ/da = 9a^2, dQ/db = -2b.
    constexpr auto a = eg::var<"a", eg::shape<2>>;
    constexpr auto b = eg::var<"b", eg::shape<2>>;
    constexpr auto Q = 3 * eg::pow(a, eg::c<3>) - eg::square(b);
    auto [q, gq] = eg::value_and_grad(eg::sum(Q), a = std::array{2.0, 3.0}, b = std::array{6.0, 4.0});
    std::printf("Q.sum() = %g, a.grad = (%g, %g), b.grad = (%g, %g)\n", q, gq[a](0), gq[a](1), gq[b](0),
                gq[b](1));  // 53, (36, 81), (-12, -8)

    // A matrix variable: one node per tensor operation, whatever its size.
    constexpr auto W = eg::var<"W", eg::shape<3, 4>>;
    constexpr auto v = eg::var<"v", eg::shape<4>>;
    constexpr auto s = eg::var<"s">;
    constexpr auto f = eg::sum(eg::tanh(eg::matvec(W, v) + s));
    std::array<double, 12> w{};
    for (std::size_t i = 0; i < w.size(); ++i) {
        w[i] = 0.1 * static_cast<double>(i) - 0.5;
    }
    auto [fv, g] = eg::value_and_grad(f, W = w, v = std::array{1.0, -1.0, 0.5, 2.0}, s = 0.5);
    std::printf("f = %.6f, dW(1, 2) = %.6f, dv(3) = %.6f, ds = %.6f\n", fv, g[W](1, 2), g[v](3), g[s]);

    // Per-sample vectors: N rows of 4 features are N samples of v; labels pick a class per sample.
    constexpr auto label = eg::var<"label">;
    constexpr auto logits = eg::matvec(W, v);
    constexpr auto loss = eg::mean(eg::logsumexp(logits) - eg::pick(logits, label));
    const std::vector<double> X = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0.5, 0.5, 0.5, 0.5, 1, 1, 0, 0};
    const std::vector<int> labels = {0, 1, 2, 0, 1};
    auto [L, gl] = eg::value_and_grad(loss, eg::wrt(W), W = w, v = eg::rows<4>(X), label = labels);
    std::printf("cross-entropy over %zu samples = %.6f, dL/dW(0, 0) = %.6f\n", labels.size(), L, gl[W](0, 0));
    const bool ok = y > 4.66 && y < 4.67 && q == 53.0 && gq[a](1) == 81.0 && L > 0;
    return ok ? 0 : 1;
}
