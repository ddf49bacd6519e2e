// etgrad/check.hpp — gradient checks (PyTorch's torch.autograd.gradcheck): central finite
// differences against reverse mode, in double, for every variable of the expression.
#pragma once

#include "transforms.hpp"

namespace etgrad {

/// The outcome of check_grad; converts to bool (usable in `static_assert` / `REQUIRE`).
struct grad_check_result {
    bool ok = true;
    double max_abs_error = 0;  ///< the largest |finite difference - reverse mode|
    constexpr explicit operator bool() const { return ok; }
};

/// Tolerances of check_grad (PyTorch gradcheck's defaults).
struct grad_check_options {
    double eps = 1e-6;   ///< finite-difference step
    double atol = 1e-5;  ///< absolute tolerance
    double rtol = 1e-3;  ///< relative tolerance
};

namespace detail {
template <fixed_string N, class V>
constexpr binding<N, double> as_double(const binding<N, V>& b, double delta = 0) {
    return {static_cast<double>(b.value) + delta};
}

template <class F, class... Vs, class... B>
constexpr grad_check_result check_grad_impl(const F& f, tlist<Vs...>*, const grad_check_options& o,
                                            const B&... b) {
    check_bindings<B...>();
    (void)scalar_only<F>{};
    auto g = value_and_grad(f, wrt_t<Vs...>{}, as_double(b)...).grad;
    grad_check_result r{};
    std::size_t k = 0;
    auto one = [&]<class V>() {
            auto at = [&](double delta) {
                return f(as_double(b, std::is_same_v<typename B::variable, V> ? delta : 0.0)...);
            };
            double fd = (at(o.eps) - at(-o.eps)) / (2 * o.eps);
            double an = g.values[k++];
            double err = fd - an;
            err = err < 0 ? -err : err;
            double lim = o.atol + o.rtol * (fd < 0 ? -fd : fd);
            if (!(err <= lim)) {
                r.ok = false;
            }
            if (err > r.max_abs_error || err != err) {
                r.max_abs_error = err;
            }
    };
    (one.template operator()<Vs>(), ...);
    return r;
}
}  // namespace detail

/// Compare reverse-mode gradients with central finite differences at the bound point, for every
/// variable of f: `REQUIRE(eg::check_grad(f, x = 0.7, y = -1.3))`.
template <class F, class... B>
    requires(!std::is_same_v<B, grad_check_options> && ...)
constexpr grad_check_result check_grad(const F& f, const B&... b) {
    return detail::check_grad_impl(f, static_cast<detail::all_vars_t<F>*>(nullptr), grad_check_options{}, b...);
}
/// check_grad with explicit step and tolerances.
template <class F, class... B>
constexpr grad_check_result check_grad(const F& f, const grad_check_options& o, const B&... b) {
    return detail::check_grad_impl(f, static_cast<detail::all_vars_t<F>*>(nullptr), o, b...);
}

}  // namespace etgrad
