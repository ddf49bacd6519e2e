// etgrad/nn/optim.hpp — optimizers over a parameter store, with the arithmetic of torch.optim's
// single-tensor (foreach=False) CPU implementation, operation by operation (PyTorch 1.13):
//
//     auto params = eg::parameters(loss, eg::inputs(x, y), 42);
//     eg::optim::adam opt(params, {.lr = 1e-2});
//     for (...) { auto [L, g] = eg::value_and_grad(loss, params, x = ..., y = ...); opt.step(g); }
//
// Per element, in the parameter's number type T (every option converted to T where torch passes
// it to a tensor operation; the bias corrections and step size are computed in double, as torch
// computes them in Python floats). fma(a, b, c) is a·b + c rounded once: torch's CPU kernels
// compute `x.add(y, alpha=a)` as fma(a, y, x) and `x.addcmul(y, z, value=a)` as fma(a·y, z, x).
//
//   SGD:   d = g;  if wd ≠ 0: d = fma(wd, p, d)
//          if momentum ≠ 0: buf = d on the parameter's first step, else buf = fma(1 − dampening, d, buf·momentum);
//                           d = nesterov ? fma(momentum, buf, d) : buf
//          p = fma(−lr, d, p)
//   Adam:  t += 1 (a float counter, as torch's state['step']);  if wd ≠ 0: g = fma(wd, p, g)
//          m = fma(1 − β1, g, m·β1);  v = fma((1 − β2)·g, g, v·β2)
//          bc1 = 1 − β1^t, bc2 = 1 − β2^t, step_size = lr / bc1   (double)
//          denom = √v / √bc2 + eps;  p = p + (−step_size·m) / denom
//   AdamW: as Adam with no wd term in g, after p = p·(1 − lr·wd).
//
// A step updates the parameters that the gradient record holds and leaves the others, and their
// state, untouched (torch skips a parameter whose .grad is None). All state lives in the optimizer
// (stores of the parameters' shapes): step() allocates nothing.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "parameters.hpp"

namespace etgrad::optim {

namespace detail {
using etgrad::detail::contains_c;

/// The number type and size of a parameter store (anything else is a compile-time error).
template <class Store>
struct store_traits {
    static_assert(sizeof(Store) == 0,
                  "etgrad::optim: an optimizer takes a parameter store (made by eg::parameters)");
};
template <class T, class... Ps>
struct store_traits<parameter_store<T, Ps...>> {
    using value_type = T;
    static constexpr std::size_t size = sizeof...(Ps);
};

/// Instantiated for a gradient variable V that the store lacks: the error names V.
template <class V>
struct gradient_variable_not_in_store {
    static_assert(sizeof(V) == 0,
                  "etgrad::optim: step(g): the gradient record holds a variable that is not in the optimizer's "
                  "parameter store (its type is the template argument of this message)");
};

/// The elements of a store or gradient entry: an eg::tensor, or one number for a scalar variable.
template <class X>
constexpr auto* elements(X& x) {
    if constexpr (std::is_arithmetic_v<std::remove_const_t<X>>) {
        return &x;
    } else {
        return x.data();
    }
}

/// The number of elements of an entry.
template <class X>
constexpr std::size_t count_of(const X&) {
    if constexpr (std::is_arithmetic_v<X>) {
        return 1;
    } else {
        return X::size();
    }
}

/// Calls f(index in the store, parameter entry, gradient entry) for each variable of the record g.
template <class Store, class G, class F>
void for_each_gradient(Store& params, const G& g, F&& f) {
    g.for_each([&](auto v, const auto& grad) {
        using V = decltype(v);
        if constexpr (!contains_c<typename Store::variables, V>::value) {
            (void)gradient_variable_not_in_store<V>{};
        } else {
            constexpr std::size_t i = Store::template index_of<V>();
            f(std::integral_constant<std::size_t, i>{}, params.template get<i>(), grad);
        }
    });
}

/// std::invalid_argument("etgrad::optim::<optimizer>: <what...>") unless ok (the message is made
/// only then).
template <class... A>
void require(bool ok, const char* optimizer, const A&... what) {
    if (!ok) {
        throw std::invalid_argument(etgrad::detail::text("etgrad::optim::", optimizer, ": ", what...));
    }
}

/// torch's option checks of Adam and AdamW.
inline void check_adam(const char* who, double lr, const std::array<double, 2>& betas, double eps, double wd) {
    require(lr >= 0, who, "invalid learning rate lr = ", lr, " (must be >= 0)");
    require(eps >= 0, who, "invalid epsilon eps = ", eps, " (must be >= 0)");
    require(betas[0] >= 0 && betas[0] < 1, who,
            "invalid beta parameter at index 0: betas[0] = ", betas[0], " (must be in [0, 1))");
    require(betas[1] >= 0 && betas[1] < 1, who,
            "invalid beta parameter at index 1: betas[1] = ", betas[1], " (must be in [0, 1))");
    require(wd >= 0, who, "invalid weight_decay = ", wd, " (must be >= 0)");
}

/// Adam's and AdamW's state and step; Decoupled: AdamW (p·(1 − lr·wd) first, no wd in the gradient).
template <class Store, bool Decoupled>
class adam_core {
  public:
    using T = typename store_traits<Store>::value_type;
    static constexpr std::size_t n = store_traits<Store>::size;

    template <class G>
    void step(Store& params, const G& grads, double lr, const std::array<double, 2>& betas, double eps,
              double wd) {
        const double beta1 = betas[0], beta2 = betas[1];
        for_each_gradient(params, grads, [&](auto index, auto& param, const auto& grad) {
            constexpr std::size_t i = decltype(index)::value;
            steps_[i] += 1.0f;
            const double t = steps_[i];
            const double step_size = lr / (1 - std::pow(beta1, t));
            const double bc2_sqrt = std::sqrt(1 - std::pow(beta2, t));
            const T decay = static_cast<T>(1 - lr * wd), wdt = static_cast<T>(wd);
            const T b1 = static_cast<T>(beta1), one_b1 = static_cast<T>(1 - beta1);
            const T b2 = static_cast<T>(beta2), one_b2 = static_cast<T>(1 - beta2);
            const T bc2s = static_cast<T>(bc2_sqrt), e = static_cast<T>(eps), neg_ss = static_cast<T>(-step_size);
            T* p = elements(param);
            const auto* gp = elements(grad);
            T* m = elements(exp_avg_.template get<i>());
            T* v = elements(exp_avg_sq_.template get<i>());
            for (std::size_t k = 0; k < count_of(param); ++k) {
                T g = static_cast<T>(gp[k]);
                if constexpr (Decoupled) {
                    p[k] = p[k] * decay;
                } else if (wd != 0) {
                    g = std::fma(wdt, p[k], g);
                }
                m[k] = std::fma(one_b1, g, m[k] * b1);
                v[k] = std::fma(one_b2 * g, g, v[k] * b2);
                const T denom = std::sqrt(v[k]) / bc2s + e;
                p[k] = p[k] + (neg_ss * m[k]) / denom;
            }
        });
    }
    /// Per parameter: the first and second moment averages, and the step count, a float as
    /// torch's state['step'] (torch.tensor(0.)).
    Store exp_avg_{};
    Store exp_avg_sq_{};
    std::array<float, n> steps_{};
};
}  // namespace detail

/// torch.optim.SGD's options (torch requires lr; here it defaults to 1e-3).
struct sgd_options {
    /// The learning rate (>= 0).
    double lr = 1e-3;
    /// The momentum factor (>= 0; 0: no momentum buffer).
    double momentum = 0;
    /// The dampening of the momentum (the buffer adds (1 - dampening)·d).
    double dampening = 0;
    /// L2 penalty (>= 0): the gradient gets weight_decay·p added.
    double weight_decay = 0;
    /// Nesterov momentum (needs momentum > 0 and dampening == 0).
    bool nesterov = false;
};

/// Stochastic gradient descent with momentum, torch.optim.SGD: `eg::optim::sgd opt(params, {.lr = 0.1,
/// .momentum = 0.9}); opt.step(g);`. Holds a reference to the store and one momentum buffer per
/// parameter (created, as torch does, on the parameter's first step with a gradient).
template <class Store>
class sgd {
  public:
    /// The parameters' number type.
    using value_type = typename detail::store_traits<Store>::value_type;

    /// Binds the optimizer to `params` (which must outlive it); std::invalid_argument on invalid options.
    explicit sgd(Store& params, sgd_options o = {}) : params_(&params), o_(o) {
        detail::require(o.lr >= 0, "sgd", "invalid learning rate lr = ", o.lr, " (must be >= 0)");
        detail::require(o.momentum >= 0, "sgd",
                        "invalid momentum = ", o.momentum, " (must be >= 0)");
        detail::require(o.weight_decay >= 0, "sgd",
                        "invalid weight_decay = ", o.weight_decay, " (must be >= 0)");
        detail::require(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "sgd",
                        "nesterov momentum requires a momentum > 0 and dampening == 0");
    }

    /// One step with the gradient record `grads` (eg::value_and_grad's): updates each parameter
    /// the record holds; the others, and their momentum buffers, are left as they are.
    template <class G>
    void step(const G& grads) {
        using T = value_type;
        const T wd = static_cast<T>(o_.weight_decay), mom = static_cast<T>(o_.momentum);
        const T one_damp = static_cast<T>(1 - o_.dampening), neg_lr = static_cast<T>(-o_.lr);
        detail::for_each_gradient(*params_, grads, [&](auto index, auto& param, const auto& grad) {
            constexpr std::size_t i = decltype(index)::value;
            T* p = detail::elements(param);
            const auto* gp = detail::elements(grad);
            T* buf = detail::elements(buf_.template get<i>());
            const bool first = !has_buf_[i];
            if (o_.momentum != 0) {
                has_buf_[i] = true;
            }
            for (std::size_t k = 0; k < detail::count_of(param); ++k) {
                T d = static_cast<T>(gp[k]);
                if (o_.weight_decay != 0) {
                    d = std::fma(wd, p[k], d);
                }
                if (o_.momentum != 0) {
                    buf[k] = first ? d : std::fma(one_damp, d, buf[k] * mom);
                    d = o_.nesterov ? std::fma(mom, buf[k], d) : buf[k];
                }
                p[k] = std::fma(neg_lr, d, p[k]);
            }
        });
    }

    /// The options.
    const sgd_options& options() const { return o_; }
    /// The momentum buffer of parameter `var` (zeros before its first step with momentum).
    template <class V>
    const auto& momentum_buffer(const V& var) const {
        return buf_[var];
    }
    /// Whether parameter `var` has a momentum buffer (torch's 'momentum_buffer' in state[p]).
    template <class V>
    bool has_momentum_buffer(const V&) const {
        return has_buf_[Store::template index_of<V>()];
    }

  private:
    Store* params_;
    sgd_options o_;
    Store buf_{};
    std::array<bool, detail::store_traits<Store>::size> has_buf_{};
};

/// torch.optim.Adam's options (amsgrad, maximize, foreach, capturable are not offered).
struct adam_options {
    /// The learning rate (>= 0).
    double lr = 1e-3;
    /// The decay rates of the first and second moment averages (each in [0, 1)).
    std::array<double, 2> betas{0.9, 0.999};
    /// Added to the denominator (>= 0).
    double eps = 1e-8;
    /// L2 penalty (>= 0): the gradient gets weight_decay·p added.
    double weight_decay = 0;
};

namespace detail {
/// What adam and adamw share: a reference to the store, the options, and per parameter its
/// moment averages and its step count (adam_core; Decoupled: AdamW's weight decay).
template <class Store, class Options, bool Decoupled>
class adam_optimizer {
  public:
    /// The parameters' number type.
    using value_type = typename store_traits<Store>::value_type;

    /// One step with the gradient record `grads`: updates each parameter the record holds; the
    /// others, and their state, are left as they are.
    template <class G>
    void step(const G& grads) {
        core_.step(*params_, grads, o_.lr, o_.betas, o_.eps, o_.weight_decay);
    }
    /// The options.
    const Options& options() const { return o_; }
    /// The number of steps parameter `var` has taken (torch's state[p]['step']).
    template <class V>
    double steps(const V&) const {
        return core_.steps_[Store::template index_of<V>()];
    }
    /// The first moment average of parameter `var` (torch's state[p]['exp_avg']).
    template <class V>
    const auto& exp_avg(const V& var) const {
        return core_.exp_avg_[var];
    }
    /// The second moment average of parameter `var` (torch's state[p]['exp_avg_sq']).
    template <class V>
    const auto& exp_avg_sq(const V& var) const {
        return core_.exp_avg_sq_[var];
    }

  protected:
    /// Binds to `params` (which must outlive the optimizer); std::invalid_argument, naming the
    /// optimizer `who`, on invalid options.
    adam_optimizer(Store& params, Options o, const char* who) : params_(&params), o_(o) {
        check_adam(who, o.lr, o.betas, o.eps, o.weight_decay);
    }

  private:
    Store* params_;
    Options o_;
    adam_core<Store, Decoupled> core_{};
};
}  // namespace detail

/// Adam, torch.optim.Adam: `eg::optim::adam opt(params, {.lr = 1e-2}); opt.step(g);`. Holds a
/// reference to the store, and per parameter its moment averages and its step count; step,
/// options, steps, exp_avg and exp_avg_sq as in detail::adam_optimizer.
template <class Store>
class adam : public detail::adam_optimizer<Store, adam_options, false> {
  public:
    /// Binds the optimizer to `params` (which must outlive it); std::invalid_argument on invalid options.
    explicit adam(Store& params, adam_options o = {})
        : detail::adam_optimizer<Store, adam_options, false>(params, o, "adam") {}
};

/// torch.optim.AdamW's options (amsgrad, maximize, foreach, capturable are not offered).
struct adamw_options {
    /// The learning rate (>= 0).
    double lr = 1e-3;
    /// The decay rates of the first and second moment averages (each in [0, 1)).
    std::array<double, 2> betas{0.9, 0.999};
    /// Added to the denominator (>= 0).
    double eps = 1e-8;
    /// Decoupled weight decay (>= 0): each step first multiplies p by 1 - lr·weight_decay.
    double weight_decay = 1e-2;
};

/// AdamW, torch.optim.AdamW: Adam with decoupled weight decay. As eg::optim::adam.
template <class Store>
class adamw : public detail::adam_optimizer<Store, adamw_options, true> {
  public:
    /// Binds the optimizer to `params` (which must outlive it); std::invalid_argument on invalid options.
    explicit adamw(Store& params, adamw_options o = {})
        : detail::adam_optimizer<Store, adamw_options, true>(params, o, "adamw") {}
};

}  // namespace etgrad::optim
