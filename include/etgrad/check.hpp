// etgrad/check.hpp — gradient checks (PyTorch's torch.autograd.gradcheck): central finite
// differences against reverse mode, in double, for every variable of the expression.
#pragma once

#include <tuple>

#include "tensor/value.hpp"
#include "transforms.hpp"

namespace etgrad {

/// The outcome of check_grad; converts implicitly to bool (`bool ok = eg::check_grad(...)`,
/// `static_assert`, `REQUIRE`).
struct grad_check_result {
    bool ok = true;
    double max_abs_error = 0;  ///< the largest |finite difference - reverse mode|
    constexpr operator bool() const { return ok; }
};

/// Tolerances of check_grad (PyTorch gradcheck's defaults).
struct grad_check_options {
    double eps = 1e-6;   ///< relative finite-difference step: a value v is stepped by eps * max(1, |v|)
    double atol = 1e-5;  ///< absolute tolerance
    double rtol = 1e-3;  ///< relative tolerance
};

namespace detail {
template <auto N, class V>
constexpr binding<N, double> as_double(const binding<N, V>& b, double delta = 0) {
    return {static_cast<double>(b.value) + delta};
}

/// The finite-difference step at the value v: eps * max(1, |v|), so that the step keeps its
/// relative size at large values (and, for eps < 1, never crosses 0 from a value beyond 1 in
/// magnitude).
constexpr double fd_step(double eps, double v) {
    const double a = v < 0 ? -v : v;
    return eps * (a > 1 ? a : 1.0);
}

/// Call fn(options, args...) with the arguments other than the options: at most one
/// eg::grad_check_options, anywhere among them (default options when there is none).
template <class Fn, class... A>
constexpr decltype(auto) with_check_options(Fn&& fn, const A&... a) {
    constexpr std::size_t n = (std::size_t{std::is_same_v<A, grad_check_options>} + ... + 0);
    static_assert(n <= 1, "etgrad::check_grad takes at most one eg::grad_check_options");
    if constexpr (n == 0) {
        return fn(grad_check_options{}, a...);
    } else {
        constexpr std::size_t at = first_true({std::is_same_v<A, grad_check_options>...});
        const auto args = std::forward_as_tuple(a...);
        return [&]<std::size_t... Is>(std::index_sequence<Is...>) -> decltype(auto) {
            return fn(std::get<at>(args), std::get<(Is < at ? Is : Is + 1)>(args)...);
        }(std::make_index_sequence<sizeof...(A) - 1>{});
    }
}

/// Per-sample data (eg::rows, labels, x = xs): passed through unchanged by check_grad, which
/// perturbs only the parameters and evaluates the whole data loss at each step.
template <class B>
struct is_check_data_c : std::false_type {};
template <auto N, class V>
    requires(is_rows_ref_v<V> || is_label_ref_v<V> || is_data_ref_v<V>)
struct is_check_data_c<binding<N, V>> : std::true_type {};
template <class V>
struct check_data_elem {
    using type = void;
};
template <class T, class S, bool G>
struct check_data_elem<rows_ref<T, S, G>> {
    using type = T;
};
template <class T, bool G>
struct check_data_elem<data_ref<T, G>> {
    using type = T;
};

/// check_grad with shaped variables: the bound values copied into double (eg::tensor for a shaped
/// variable), every element of every variable perturbed in turn; data bindings kept as they are.
template <class B>
struct check_copy {
    static_assert(!is_tensor_binding_c<B>::value || requires { B::value.ptr; },
                  "etgrad::check_grad: a shaped variable binds an array, an eg::tensor or per-sample rows");
    using type = double;
};
template <auto N, class T, class S>
struct check_copy<binding<N, param_ref<T, S>>> {
    using type = tensor<double, S>;
};
template <class B>
    requires(is_check_data_c<B>::value)
struct check_copy<B> {
    using E = typename check_data_elem<typename B::value_type>::type;
    static_assert(!std::is_same_v<E, float>,
                  "etgrad::check_grad over data checks in double: bind double data (float finite differences "
                  "are too coarse); copy float rows into a std::vector<double> for the check");
    using type = B;
};
template <class C, class B>
constexpr C make_check_copy(const B& b) {
    if constexpr (std::is_same_v<C, B>) {
        return b;
    } else if constexpr (std::is_same_v<C, double>) {
        return static_cast<double>(b.value);
    } else {
        C c{};
        for (std::size_t i = 0; i < C::size(); ++i) {
            c[i] = static_cast<double>(b.value.ptr[i]);
        }
        return c;
    }
}
/// A copy as a binding again: data as it was, values as `x = copy`.
template <class B, class C>
constexpr auto rebind_check_copy(const C& c) {
    if constexpr (std::is_same_v<C, B>) {
        return c;
    } else {
        return typename B::variable{} = c;
    }
}
/// The variables of Vs that no data binding of B binds (a parameter's gradient over data is one
/// number per element; a per-sample variable's is not checked).
template <class... Ls>
struct check_cat {
    using type = tlist<>;
};
template <class... A, class... Ls>
struct check_cat<tlist<A...>, Ls...> {
    template <class R>
    struct prepend;
    template <class... C>
    struct prepend<tlist<C...>> {
        using type = tlist<A..., C...>;
    };
    using type = typename prepend<typename check_cat<Ls...>::type>::type;
};
template <class Vs, class... B>
struct check_vars;
template <class... Vs, class... B>
struct check_vars<tlist<Vs...>, B...> {
    template <class V>
    static constexpr bool data_bound() {
        return ((std::is_same_v<typename B::variable, V> && is_check_data_c<B>::value) || ... || false);
    }
    using type = typename check_cat<std::conditional_t<data_bound<Vs>(), tlist<>, tlist<Vs>>...>::type;
};

template <class F, class... Vs, class... B>
auto check_grad_tensor(const F& f, tlist<Vs...>*, const grad_check_options& o, const B&... b) {
    std::tuple<typename check_copy<B>::type...> copies{make_check_copy<typename check_copy<B>::type>(b)...};
    auto with = [&](auto&& fn) {
        return std::apply([&](auto&... c) { return fn(rebind_check_copy<B>(c)...); }, copies);
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
            const double h = fd_step(o.eps, x0);
            const double xu = x0 + h, xd = x0 - h;
            p[e] = xu;
            const double up = static_cast<double>(with([&](const auto&... bs) { return f(bs...); }));
            p[e] = xd;
            const double down = static_cast<double>(with([&](const auto&... bs) { return f(bs...); }));
            p[e] = x0;
            const double fd = (up - down) / (xu - xd);
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
constexpr auto check_grad_impl(const F& f, tlist<Vs...>*, const grad_check_options& o, const B&... b) {
    if constexpr (tensor_path_v<F, B...>) {
        check_bindings<B...>();
        return check_grad_tensor(f, static_cast<typename check_vars<tlist<Vs...>, B...>::type*>(nullptr), o, b...);
    } else {
    check_bindings<B...>();
    (void)scalar_only<F>{};
    auto g = value_and_grad(f, wrt_t<Vs...>{}, as_double(b)...).grad;
    grad_check_result r{};
    std::size_t k = 0;
    auto one = [&]<class V>() {
            double x0 = 0;
            ((std::is_same_v<typename B::variable, V> ? (void)(x0 = static_cast<double>(b.value)) : (void)0), ...);
            const double h = fd_step(o.eps, x0);
            const double step = (x0 + h) - (x0 - h);  // the step actually taken, in double
            auto at = [&](double delta) {
                return f(as_double(b, std::is_same_v<typename B::variable, V> ? delta : 0.0)...);
            };
            double fd = (at(h) - at(-h)) / step;
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
/// variable of f: `REQUIRE(eg::check_grad(f, x = 0.7, y = -1.3))`; `bool ok = eg::check_grad(...)`.
/// Each value v is stepped by ±eps·max(1, |v|) (relative at large values, absolute near 0), one
/// variable (one element) at a time, in double; the check passes where |fd - grad| <= atol +
/// rtol·|fd| for every one. An eg::grad_check_options{eps, atol, rtol} may come anywhere among the
/// arguments (written as a braced list `{.eps = 1e-4}`, it must come right after f).
template <class F, class... A>
constexpr auto check_grad(const F& f, const A&... a) {  // (deduced: errors name the user's line)
    return detail::with_check_options(
        [&](const grad_check_options& o, const auto&... b) {
            return detail::check_grad_impl(f, static_cast<detail::all_vars_t<F>*>(nullptr), o, b...);
        },
        a...);
}
/// check_grad with explicit step and tolerances first (also as a braced list: `{.eps = 1e-4}`).
template <class F, class... B>
constexpr grad_check_result check_grad(const F& f, const grad_check_options& o, const B&... b) {
    if constexpr (sizeof...(B) == 0) {
        return detail::check_grad_impl(f, static_cast<detail::all_vars_t<F>*>(nullptr), o);
    } else {
        return check_grad(f, b..., o);  // a parameter store first goes to its overload (nn/parameters.hpp)
    }
}

}  // namespace etgrad
