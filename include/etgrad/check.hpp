// etgrad/check.hpp — gradient checks (PyTorch's torch.autograd.gradcheck): central finite
// differences against reverse mode, in double, for every variable of the expression.
#pragma once

#include <tuple>

#include "tensor/value.hpp"
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
template <auto N, class V>
constexpr binding<N, double> as_double(const binding<N, V>& b, double delta = 0) {
    return {static_cast<double>(b.value) + delta};
}

/// check_grad with shaped variables: the bound values copied into double (eg::tensor for a shaped
/// variable), every element of every variable perturbed in turn.
template <class B>
struct check_copy {
    static_assert(!is_tensor_binding_c<B>::value || requires { B::value.ptr; },
                  "etgrad::check_grad: check one sample: data bindings (eg::rows, labels) are not supported");
    using type = double;
};
template <auto N, class T, class S>
struct check_copy<binding<N, param_ref<T, S>>> {
    using type = tensor<double, S>;
};
template <class C, class B>
constexpr C make_check_copy(const B& b) {
    if constexpr (std::is_same_v<C, double>) {
        return static_cast<double>(b.value);
    } else {
        C c{};
        for (std::size_t i = 0; i < C::size(); ++i) {
            c[i] = static_cast<double>(b.value.ptr[i]);
        }
        return c;
    }
}

template <class F, class... Vs, class... B>
grad_check_result check_grad_tensor(const F& f, tlist<Vs...>*, const grad_check_options& o, const B&... b) {
    std::tuple<typename check_copy<B>::type...> copies{make_check_copy<typename check_copy<B>::type>(b)...};
    auto with = [&](auto&& fn) {
        return std::apply([&](auto&... c) { return fn((typename B::variable{} = c)...); }, copies);
    };
    const auto g = with([&](const auto&... bs) { return value_and_grad(f, wrt_t<Vs...>{}, bs...).grad; });
    grad_check_result r{};
    auto one = [&]<class V>() {
        constexpr std::size_t i = binding_index<V, B...>();
        auto& c = std::get<i>(copies);
        auto* p = [&] {
            if constexpr (std::is_same_v<rm<decltype(c)>, double>) {
                return &c;
            } else {
                return c.data();
            }
        }();
        for (std::size_t e = 0; e < V::shape_type::size; ++e) {
            const double x0 = p[e];
            p[e] = x0 + o.eps;
            const double up = static_cast<double>(with([&](const auto&... bs) { return f(bs...); }));
            p[e] = x0 - o.eps;
            const double down = static_cast<double>(with([&](const auto&... bs) { return f(bs...); }));
            p[e] = x0;
            const double fd = (up - down) / (2 * o.eps);
            double an = 0;
            if constexpr (V::shape_type::rank == 0) {
                an = static_cast<double>(g[V{}]);
            } else {
                an = static_cast<double>(g[V{}][e]);
            }
            double err = fd - an;
            err = err < 0 ? -err : err;
            const double lim = o.atol + o.rtol * (fd < 0 ? -fd : fd);
            if (!(err <= lim)) {
                r.ok = false;
            }
            if (err > r.max_abs_error || err != err) {
                r.max_abs_error = err;
            }
        }
    };
    (one.template operator()<Vs>(), ...);
    return r;
}

template <class F, class... Vs, class... B>
constexpr grad_check_result check_grad_impl(const F& f, tlist<Vs...>*, const grad_check_options& o,
                                            const B&... b) {
    if constexpr (tensor_path_v<F, B...>) {
        check_bindings<B...>();
        return check_grad_tensor(f, static_cast<tlist<Vs...>*>(nullptr), o, b...);
    } else {
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
