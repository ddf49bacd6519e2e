// etgrad/nn/losses.hpp — losses of one sample, numerically stable; reduce them over the samples
// with eg::mean (PyTorch's reduction="mean") or eg::sum:
//
//     constexpr auto loss = eg::mean(eg::nn::cross_entropy(logits, y));
//
// Each is a composition of etgrad operations chosen so that no intermediate overflows: logits of
// ±1000 give finite losses and the closed-form gradients (softmax − onehot; sigmoid(z) − y).
#pragma once

#include "../tensor/ops.hpp"

namespace etgrad::nn {

/// PyTorch's cross_entropy for one sample: logsumexp(z) − z[label] = −log_softmax(z)[label], for
/// a vector of logits z and an integer class label (a scalar variable bound to integer labels).
/// Through the max-shifted log-sum-exp, never log(softmax). Gradient: softmax(z) − onehot(label).
/// On a batch, an N×C matrix of logits (one sample per row) and a vector of N labels, it is the
/// vector of the N samples' losses (PyTorch's reduction="none"): reduce it with eg::mean, as for
/// samples of data, `eg::mean(eg::nn::cross_entropy(Z, labels))`. A label that is not an integer
/// in 0..C−1 throws std::invalid_argument in a scalar call (data loops check all labels first).
template <class Z, class Y>
constexpr auto cross_entropy(const Z& z, const Y& label) {
    static_assert(Expr<Z> && Expr<Y>, "etgrad: nn::cross_entropy(logits, label) takes etgrad expressions");
    constexpr std::size_t rz = shape_of_t<Z>::rank, ry = shape_of_t<Y>::rank;
    static_assert((rz == 1 && ry == 0) || (rz == 2 && ry == 1),
                  "etgrad: nn::cross_entropy(logits, label): a vector of logits and a scalar label, or an N×C "
                  "matrix of logits and a vector of N labels");
    if constexpr (rz == 2 && ry == 1) {
        return -pick(log_softmax(z), label);
    } else if constexpr (rz == 1 && ry == 0) {
        return logsumexp(z) - pick(z, label);
    } else {
        return c<0>;  // the static_assert above has fired
    }
}

/// PyTorch's binary_cross_entropy_with_logits for one sample (elementwise, then the mean over
/// the elements for a shaped z): softplus(z) − y·z, which is −y·log σ(z) − (1−y)·log(1−σ(z))
/// computed without σ (finite at z = ±1000). Gradient: σ(z) − y.
template <class Z, class Y>
constexpr auto bce_with_logits(const Z& z, const Y& y) {
    static_assert(Expr<Z> || Expr<Y>, "etgrad: nn::bce_with_logits(z, y) takes etgrad expressions");
    if constexpr (shape_of_t<decltype(z * y)>::rank == 0) {
        return softplus(z) - y * z;
    } else {
        return mean(softplus(z) - y * z);
    }
}

/// PyTorch's mse_loss for one sample: (p − y)², averaged over the elements for shaped operands.
template <class P, class Y>
constexpr auto mse(const P& p, const Y& y) {
    static_assert(Expr<P> || Expr<Y>, "etgrad: nn::mse(p, y) takes etgrad expressions");
    if constexpr (shape_of_t<decltype(p - y)>::rank == 0) {
        return square(p - y);
    } else {
        return mean(square(p - y));
    }
}

}  // namespace etgrad::nn
