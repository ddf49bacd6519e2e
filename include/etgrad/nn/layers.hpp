// etgrad/nn/layers.hpp — layers that name their parameters, PyTorch's names and layouts:
//
//     constexpr auto fc1 = eg::nn::linear<"fc1", 64, 32>;   // fc1.weight: 32×64, fc1.bias: 32
//     constexpr auto fc2 = eg::nn::linear<"fc2", 32, 10>;
//     constexpr auto logits = fc2(eg::tanh(fc1(x)));
//
// A layer is a constant object; calling it on an expression builds the layer's nodes with its
// variables, so a model is an ordinary constexpr expression (or C++ function) of its input.
#pragma once

#include "../tensor/ops.hpp"

namespace etgrad::nn {

/// y = W x + b, PyTorch's torch.nn.Linear(In, Out): the variables "<Name>.weight" (shape
/// Out×In, row-major [out][in]) and "<Name>.bias" (shape Out). On a matrix x of shape N×In (N
/// rows in one sample) it is x Wᵀ + b, N×Out.
template <fixed_string Name, std::size_t In, std::size_t Out>
struct linear_t {
    static_assert(In > 0 && Out > 0, "etgrad: nn::linear<Name, In, Out>: In and Out must be positive");
    static constexpr auto weight = var<Name + fixed_string(".weight"), shape<Out, In>>;
    static constexpr auto bias = var<Name + fixed_string(".bias"), shape<Out>>;
    template <class X>
    constexpr auto operator()(const X& x) const {
        static_assert(Expr<X>, "etgrad: nn::linear: call it on an etgrad expression: fc1(x)");
        using S = detail::shape_of_t<X>;
        static_assert(S::rank == 1 || S::rank == 2,
                      "etgrad: nn::linear<Name, In, Out>(x): x must be a vector of In elements (or an N×In matrix)");
        static_assert(S::rank == 0 || S::dims[S::rank - 1] == In,
                      "etgrad: nn::linear<Name, In, Out>(x): x's last dimension is not In");
        if constexpr (S::rank == 1) {
            return matvec(weight, x) + bias;
        } else {
            return matmul(x, transpose(weight)) + bias;
        }
    }
};
/// `eg::nn::linear<"fc1", 64, 32>`: a linear layer object; `eg::nn::linear<"fc1", 64, 32>(x)` applies it.
template <fixed_string Name, std::size_t In, std::size_t Out>
inline constexpr linear_t<Name, In, Out> linear{};

/// PyTorch's torch.nn.LayerNorm(F) over one sample's vector of F elements: (x − mean) /
/// √(var + eps) · weight + bias, with the biased variance, eps = 1e-5 (PyTorch's default), the
/// variables "<Name>.weight" (ones at init) and "<Name>.bias" (zeros), both of shape F. Per sample:
/// the means are over the vector's elements, never over the samples.
template <fixed_string Name, std::size_t F>
struct layer_norm_t {
    static_assert(F > 0, "etgrad: nn::layer_norm<Name, F>: F must be positive");
    static constexpr auto weight = var<Name + fixed_string(".weight"), shape<F>>;
    static constexpr auto bias = var<Name + fixed_string(".bias"), shape<F>>;
    template <class X>
    constexpr auto operator()(const X& x) const {
        static_assert(Expr<X>, "etgrad: nn::layer_norm: call it on an etgrad expression: ln(x)");
        static_assert(std::is_same_v<detail::shape_of_t<X>, shape<F>>,
                      "etgrad: nn::layer_norm<Name, F>(x): x must be a vector of F elements");
        const auto xc = x - mean(x);
        return xc / sqrt(mean(square(xc)) + c<1, 100000>) * weight + bias;
    }
};
template <fixed_string Name, std::size_t F>
inline constexpr layer_norm_t<Name, F> layer_norm{};

/// PyTorch's torch.nn.BatchNorm1d(F) in training mode, on a batch: an N×F matrix X whose rows are
/// the samples (bind the minibatch as one variable, `eg::var<"X", eg::shape<32, 64>>`, to a span
/// of 32·64 values). Each feature is normalised with the batch's mean and biased variance
/// (eg::batch_standardize, eps = 1e-5), then scaled and shifted by the variables
/// "<Name>.weight" (ones at init) and "<Name>.bias" (zeros), both of shape F. The samples are
/// coupled: every output row depends on every input row, and so does the gradient. Costs two
/// passes over the batch forward and four backward (see eg::batch_standardize). The running
/// statistics of PyTorch's module (for evaluation mode) are not kept: an expression has no state.
/// Over eg::rows data, where one sample is one vector, a batch norm is a compile error: it needs
/// the batch as a matrix.
template <fixed_string Name, std::size_t F>
struct batch_norm_t {
    static_assert(F > 0, "etgrad: nn::batch_norm<Name, F>: F must be positive");
    static constexpr auto weight = var<Name + fixed_string(".weight"), shape<F>>;
    static constexpr auto bias = var<Name + fixed_string(".bias"), shape<F>>;
    template <class X>
    constexpr auto operator()(const X& x) const {
        static_assert(Expr<X>, "etgrad: nn::batch_norm: call it on an etgrad expression: bn(X)");
        using S = detail::shape_of_t<X>;
        static_assert(S::rank == 2 && S::dims[S::rank == 2 ? 1 : 0] == F,
                      "etgrad: nn::batch_norm<Name, F>(X): X must be an N×F matrix, one sample per row (a batch "
                      "norm normalises over the batch; one sample's vector cannot be)");
        if constexpr (S::rank == 2) {
            return batch_standardize(x) * weight + bias;
        } else {
            return x;
        }
    }
};
template <fixed_string Name, std::size_t F>
inline constexpr batch_norm_t<Name, F> batch_norm{};

}  // namespace etgrad::nn
