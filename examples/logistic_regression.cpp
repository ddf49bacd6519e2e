// Logistic regression of "placed" on "cgpa" trained with plain gradient descent: the PyTorch training
// loop (forward, loss, backward, optimizer step, zero_grad) with etgrad doing the backward pass.
#include <cstdio>
#include <etgrad/etgrad.hpp>

namespace eg = etgrad;

int main() {
    constexpr auto w = eg::var<"w">;
    constexpr auto b = eg::var<"b">;
    constexpr auto cgpa = eg::var<"cgpa">;
    constexpr auto placed = eg::var<"placed">;

    // The model and its loss, for one row: the type of `loss` is its computation graph.
    constexpr auto yhat = eg::sigmoid(w * cgpa + b);
    constexpr auto loss = -(placed * eg::log(yhat) + (1 - placed) * eg::log(1 - yhat));

    const double xs[] = {9.11, 8.9, 7.0, 6.56, 4.56};
    const double ys[] = {1, 1, 0, 1, 0};
    constexpr int n = 5;

    double wv = 0.0, bv = 0.0;       // the parameters
    const double lr = 0.1;           // learning rate
    eg::gradient<double, eg::var_t<"w">, eg::var_t<"b">> grad{};  // like .grad, accumulated per epoch

    std::printf("epoch   loss       w          b\n");
    for (int epoch = 0; epoch <= 5000; ++epoch) {
        grad.zero();                                            // optimizer.zero_grad()
        double total = 0;
        for (int i = 0; i < n; ++i) {                           // forward + backward, row by row
            auto [L, g] = eg::value_and_grad(loss, eg::wrt(w, b), w = wv, b = bv, cgpa = xs[i], placed = ys[i]);
            total += L;
            grad += g;                                          // gradients accumulate, as in PyTorch
        }
        if (epoch % 500 == 0) {
            std::printf("%5d   %.6f   %.6f   %.6f\n", epoch, total / n, wv, bv);
        }
        wv -= lr * grad[w] / n;                                 // optimizer.step() on the mean loss
        bv -= lr * grad[b] / n;
    }
    std::printf("\nfitted: w = %.4f, b = %.4f\n", wv, bv);
    std::printf("cgpa   placed  P(placed)\n");
    for (int i = 0; i < n; ++i) {
        std::printf("%-6.2f %-7g %.3f\n", xs[i], ys[i], yhat(w = wv, b = bv, cgpa = xs[i]));
    }
    return 0;
}
