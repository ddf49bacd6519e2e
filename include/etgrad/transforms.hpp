// etgrad/transforms.hpp — what users call: value_and_grad, grad, hessian, jacobian, jvp, vjp, hvp,
// and the records they return (gradient records index by variable: g[x]).
#pragma once

#include "derivative.hpp"
#include "detail/dual.hpp"
#include "eval.hpp"

#include <tuple>

namespace etgrad {

// ---------------------------------------------------------------------------------------------
// wrt(...): the variables to differentiate (PyTorch's requires_grad).
template <class... Vs>
struct wrt_t {
    using list = detail::tlist<Vs...>;
};

namespace detail {
template <class T>
inline constexpr bool is_wrt_v = false;
template <class... Vs>
inline constexpr bool is_wrt_v<wrt_t<Vs...>> = true;
/// No argument is an eg::wrt(...) (a braced list, not a fold: Clang nests folds 256 deep; and a
/// variable template, as nvcc's front end rejects a braced list in a requires-clause).
template <class... B>
inline constexpr bool no_wrt_v = !any_true({is_wrt_v<B>...});

template <class... Vs>
constexpr bool all_distinct() {
    bool ok = true;
    [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        auto check = [&]<class V, std::size_t I>() ETGRAD_LAMBDA_INLINE {
            std::size_t j = 0;
            ((ok = ok && (j++ == I || !std::is_same_v<V, Vs>)), ...);
        };
        (check.template operator()<Vs, Is>(), ...);
    }(std::index_sequence_for<Vs...>{});
    return ok;
}
}  // namespace detail

/// The variables to differentiate: `eg::wrt(w, b)`. A variable that the expression does not use
/// gets an exact zero.
template <class... Vs>
constexpr wrt_t<Vs...> wrt(const Vs&...) {
    static_assert((detail::is_var_c<Vs>::value && ...),
                  "etgrad::wrt(...) takes variables (eg::var<\"x\">), not expressions or numbers");
    static_assert(detail::all_distinct<Vs...>(), "etgrad::wrt(...) names the same variable twice");
    return {};
}

// ---------------------------------------------------------------------------------------------
// Gradient records.

/// One value per variable: `g[x]`. Gradients are values: `acc += g` accumulates (PyTorch's `.grad`
/// accumulation) and `acc.zero()` resets (`zero_grad()`).
template <class T, class... Vs>
struct gradient {
    using value_type = T;
    using variables = detail::tlist<Vs...>;
    std::array<T, sizeof...(Vs)> values{};

    static constexpr std::size_t size() { return sizeof...(Vs); }

    template <class V>
    static constexpr std::size_t index_of() {
        static_assert(detail::is_var_c<V>::value, "etgrad: index a gradient record with a variable: g[x]");
        static_assert(detail::contains_c<variables, V>::value,
                      "etgrad: g[x]: this variable is not in the gradient record (it was not listed in wrt)");
        return detail::index_in<variables, V>::value;
    }
    template <class V>
    constexpr T& operator[](const V&) {
        return values[index_of<V>()];
    }
    template <class V>
    constexpr const T& operator[](const V&) const {
        return values[index_of<V>()];
    }
    constexpr gradient& operator+=(const gradient& o) {
        for (std::size_t i = 0; i < size(); ++i) {
            values[i] = values[i] + o.values[i];
        }
        return *this;
    }
    constexpr gradient& operator-=(const gradient& o) {
        for (std::size_t i = 0; i < size(); ++i) {
            values[i] = values[i] - o.values[i];
        }
        return *this;
    }
    constexpr gradient& operator*=(const T& s) {
        for (auto& v : values) {
            v = v * s;
        }
        return *this;
    }
    friend constexpr gradient operator+(gradient a, const gradient& b) { return a += b; }
    friend constexpr gradient operator-(gradient a, const gradient& b) { return a -= b; }
    friend constexpr gradient operator*(gradient a, const T& s) { return a *= s; }
    friend constexpr gradient operator*(const T& s, gradient a) { return a *= s; }
    /// Set every entry to zero.
    constexpr void zero() {
        for (auto& v : values) {
            v = T{};
        }
    }
    /// Call f(variable, value) for each entry, in order.
    template <class F>
    constexpr void for_each(F&& f) const {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
            (f(Vs{}, values[Is]), ...);
        }(std::index_sequence_for<Vs...>{});
    }
    /// A record with one entry converts to its value.
    constexpr operator T() const
        requires(sizeof...(Vs) == 1)
    {
        return values[0];
    }
};

/// The result of value_and_grad: `auto [value, g] = eg::value_and_grad(...)`.
template <class V, class G>
struct value_and_gradient {
    V value;
    G grad;
};

/// A symmetric matrix of second derivatives: `H(x, y)`.
template <class T, class... Vs>
struct hessian_matrix {
    using variables = detail::tlist<Vs...>;
    static constexpr std::size_t n = sizeof...(Vs);
    std::array<T, n * n> values{};
    static constexpr std::size_t size() { return n; }
    template <class A, class B>
        requires(detail::is_var_c<A>::value && detail::is_var_c<B>::value)
    constexpr const T& operator()(const A&, const B&) const {
        return values[gradient<T, Vs...>::template index_of<A>() * n +
                      gradient<T, Vs...>::template index_of<B>()];
    }
    constexpr const T& operator()(std::size_t i, std::size_t j) const { return values[i * n + j]; }
};

/// J(i, x) = d f_i / d x.
template <class T, std::size_t M, class... Vs>
struct jacobian_matrix {
    using variables = detail::tlist<Vs...>;
    static constexpr std::size_t n = sizeof...(Vs);
    std::array<T, M * n> values{};
    static constexpr std::size_t rows() { return M; }
    static constexpr std::size_t cols() { return n; }
    template <class V>
        requires detail::is_var_c<V>::value
    constexpr const T& operator()(std::size_t i, const V&) const {
        return values[i * n + gradient<T, Vs...>::template index_of<V>()];
    }
    constexpr const T& operator()(std::size_t i, std::size_t j) const { return values[i * n + j]; }
};

/// The result of jvp: the value and the directional derivative.
template <class V>
struct value_and_tangent {
    V value;
    V tangent;
};

// ---------------------------------------------------------------------------------------------
// Vectors of expressions (for jacobian, jvp and vjp).
template <class... Fs>
struct expr_vector {
    static_assert(sizeof...(Fs) > 0, "etgrad::vector(...) needs at least one expression");
    detail::tup<Fs...> items;
    static constexpr std::size_t size() { return sizeof...(Fs); }
    template <std::size_t I>
    constexpr decltype(auto) get() const {
        return detail::tget<I>(items);
    }
    template <class... B>
    constexpr auto operator()(const B&... b) const;
};

/// A vector of scalar expressions: `eg::vector(f1, f2)`.
template <class... Fs>
constexpr expr_vector<Fs...> vector(const Fs&... fs) {
    static_assert((Expr<Fs> && ...), "etgrad::vector(...) takes expressions");
    return expr_vector<Fs...>{detail::tup<Fs...>(fs...)};
}

/// A direction for jvp/hvp, written as bindings: `eg::tangent(x = 1.0, y = 0.0)`.
template <class... B>
struct tangent_t {
    detail::tup<B...> bs;
};
template <class... B>
constexpr tangent_t<B...> tangent(const B&... b) {
    static_assert(detail::all_true({detail::is_binding_v<B>...}), "etgrad::tangent(...) takes bindings: eg::tangent(x = 1.0)");
    return {detail::tup<B...>(b...)};
}

namespace detail {
template <class T>
inline constexpr bool is_vector_v = false;
template <class... Fs>
inline constexpr bool is_vector_v<expr_vector<Fs...>> = true;

template <class T>
struct scalar_only {
    static_assert(!is_vector_v<T>,
                  "etgrad: grad can be implicitly created only for scalar outputs: this is a vector of "
                  "expressions; use eg::vjp(f, cotangents, ...) or eg::jacobian");
    static_assert(is_vector_v<T> || Expr<T>, "etgrad: the first argument must be an expression");
};

/// What grad returns after its compile error (no variable, all paths detached, not an
/// expression): every use compiles, so the user's next line (`g[x]`) adds no second error.
template <class T>
struct failed_gradient {
    using value_type = T;
    static constexpr std::size_t size() { return 0; }
    template <class V>
    constexpr T operator[](const V&) const {
        return T{};
    }
    template <class O>
    constexpr failed_gradient& operator+=(const O&) {
        return *this;
    }
    template <class O>
    constexpr failed_gradient& operator-=(const O&) {
        return *this;
    }
};

template <class W>
struct wrt_nonempty {
    static_assert(W::size > 0,
                  "etgrad: the expression depends on no variable, so it has no gradient "
                  "(PyTorch: element 0 of tensors does not require grad)");
};

/// The expression requires grad (PyTorch's contagion): a path from the root (index Root of the
/// graph G) to a variable of W passes through no eg::detach. A variable of eg::wrt(...) that
/// the expression does not read at all gets an exact zero (as long as some variable is read through
/// no detach); the error is for an expression that reads the variables of W only through detach,
/// or every variable only through detach. (No variable at all: wrt_nonempty's error.)
template <class G, class W, std::size_t Root>
struct requires_grad {
    using all = typename vars_in<typename G::list>::type;
    template <class... Ws>
    static constexpr bool reads_any(tlist<Ws...>*) {
        return (contains_c<all, Ws>::value || ...);
    }
    static constexpr bool ok() {
        if constexpr (all::size == 0 || activity<G, W>::active[Root]) {
            return true;
        } else {
            return !reads_any(static_cast<W*>(nullptr)) && activity<G, all>::active[Root];
        }
    }
    static_assert(ok(),
                  "etgrad: every path from the expression to the differentiated variables goes through eg::detach, "
                  "so it has no gradient (PyTorch: element 0 of tensors does not require grad)");
};

/// Run forward and backward over Low's graph; seed each root's adjoint; return the gradient of W.
template <class W, class T, class Low, class Ctx, std::size_t R, class S>
ETGRAD_INLINE constexpr auto reverse_sweep(const Ctx& ctx, const std::array<T, R>& seeds, S& s) {
    using G = typename Low::graph_type;
    using plan = reverse_plan<G, W, Low::root_index>;
    forward<G, T>(s, ctx);
    std::array<T, G::size> adj;  // each adjoint's first write is an assignment
    [&]<std::size_t... Rs>(std::index_sequence<Rs...>) ETGRAD_LAMBDA_INLINE {
        (
            [&]() ETGRAD_LAMBDA_INLINE {
                constexpr std::size_t i = Low::root_index[Rs];
                if constexpr (plan::active[i]) {
                    constexpr bool dup = [] {
                        for (std::size_t r = 0; r != Rs; ++r) {
                            if (Low::root_index[r] == i) {
                                return true;
                            }
                        }
                        return false;
                    }();
                    if constexpr (dup) {
                        adj[i] = adj[i] + seeds[Rs];
                    } else {
                        adj[i] = seeds[Rs];
                    }
                }
            }(),
            ...);
    }(std::make_index_sequence<R>{});
    backward<G, T, plan>(s, adj);

    return [&]<class... Vs>(tlist<Vs...>*) ETGRAD_LAMBDA_INLINE {
        gradient<T, Vs...> g{};
        std::size_t k = 0;
        (
            [&]() ETGRAD_LAMBDA_INLINE {
                if constexpr (contains_c<typename G::list, Vs>::value) {
                    constexpr std::size_t i = index_in<typename G::list, Vs>::value;
                    if constexpr (plan::first[i] != none) {
                        g.values[k] = adj[i];
                    }
                }
                ++k;
            }(),
            ...);
        return g;
    }(static_cast<W*>(nullptr));
}

template <class T, class W, class E, class... B>
ETGRAD_FLATTEN constexpr auto value_and_grad_impl(const E& f, const B&... b) {
    (void)scalar_only<E>{};
    check_bindings<B...>();
    using Low = lowered<E>;
    using G = typename Low::graph_type;
    using Vars = typename vars_in<typename Low::list>::type;
    if constexpr (Vars::size == 0) {
        (void)wrt_nonempty<Vars>{};
        return value_and_gradient<T, failed_gradient<T>>{};  // after the error: g[x] adds none
    } else if constexpr (!requires_grad<typename Low::graph_type, W, Low::root_index[0]>::ok()) {
        return value_and_gradient<T, failed_gradient<T>>{};  // (requires_grad's error)
    } else {
    check_bound<Vars, B...>();
    Low low(f);
    bindings<T, B...> ctx{tup<B...>(b...), low.consts.data()};
    store_t<G, T> s;
    auto g = reverse_sweep<W, T, Low>(ctx, std::array<T, 1>{num_cast<T>(1.0)}, s);
    return value_and_gradient<T, decltype(g)>{s.v[Low::root_index[0]], g};
    }
}


/// A pack of bindings kept for a later evaluation.
template <class... B>
struct bpack {
    tup<B...> bs;
    constexpr explicit bpack(const B&... b) : bs(b...) {}
};

// Evaluate several expressions jointly (shared subexpressions once): their values in an array.
template <class T, class... B, class... Es>
ETGRAD_FLATTEN constexpr std::array<T, sizeof...(Es)> eval_many(const bpack<B...>& bp, const Es&... es) {
    using Low = lowered<Es...>;
    using G = typename Low::graph_type;
    check_bound<typename vars_in<typename Low::list>::type, B...>();
    Low low(es...);
    bindings<T, B...> ctx{bp.bs, low.consts.data()};
    store_t<G, T> s;
    forward<G, T>(s, ctx);
    return [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        return std::array<T, sizeof...(Es)>{static_cast<T>(s.v[Low::root_index[Is]])...};
    }(std::index_sequence_for<Es...>{});
}


}  // namespace detail

template <class... Fs>
template <class... B>
constexpr auto expr_vector<Fs...>::operator()(const B&... b) const {
    detail::check_bindings<B...>();
    using T = detail::number_t<B...>;
    return [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        return detail::eval_many<T>(detail::bpack<B...>(b...), get<Is>()...);
    }(std::index_sequence_for<Fs...>{});
}

// ---------------------------------------------------------------------------------------------
// Reverse mode.

/// Value and gradient in one forward and one backward sweep: `auto [v, g] = eg::value_and_grad(f,
/// x = 2.0, y = 1.0)`; differentiates every variable of f, or those of `eg::wrt(...)` given first.
template <class F, class... B>
    requires(detail::no_wrt_v<B...>)
ETGRAD_INLINE constexpr auto value_and_grad(const F& f, const B&... b) {
    if constexpr (!Expr<F>) {
        (void)detail::scalar_only<F>{};
        return value_and_gradient<double, detail::failed_gradient<double>>{};  // after the error: no cascade
    } else if constexpr (!detail::all_bindings_v<B...>) {
        detail::check_bindings<B...>();
        return value_and_gradient<double, gradient<double>>{};  // after the error: no cascade
    } else if constexpr (detail::tensor_path_v<F, B...>) {
        return detail::tensor_entry<B...>::template value_and_grad<detail::all_vars_t<F>, false>(f, b...);
    } else if constexpr (detail::any_data_v<B...>) {
        return detail::data_loops_need_etgrad_data_hpp<B...>::template value_and_grad<void>(f, b...);
    } else {
        return detail::value_and_grad_impl<detail::number_t<B...>, detail::all_vars_t<F>>(f, b...);
    }
}
template <class F, class... Vs, class... B>
ETGRAD_INLINE constexpr auto value_and_grad(const F& f, wrt_t<Vs...>, const B&... b) {
    if constexpr (!Expr<F>) {
        (void)detail::scalar_only<F>{};
        return value_and_gradient<double, detail::failed_gradient<double>>{};  // after the error: no cascade
    } else if constexpr (!detail::all_bindings_v<B...>) {
        detail::check_bindings<B...>();
        return value_and_gradient<double, gradient<double, Vs...>>{};  // after the error: no cascade
    } else if constexpr (detail::tensor_path_v<F, B...>) {
        return detail::tensor_entry<B...>::template value_and_grad<detail::tlist<Vs...>, true>(f, b...);
    } else if constexpr (detail::any_data_v<B...>) {
        return detail::data_loops_need_etgrad_data_hpp<B...>::template value_and_grad<detail::tlist<Vs...>>(f, b...);
    } else {
        return detail::value_and_grad_impl<detail::number_t<B...>, detail::tlist<Vs...>>(f, b...);
    }
}

/// The gradient record alone: `eg::grad(f, eg::wrt(x), x = 2.0, y = 1.0)[x]`.
template <class F, class... A>
ETGRAD_INLINE constexpr auto grad(const F& f, const A&... a) {
    return value_and_grad(f, a...).grad;
}

/// Vector-Jacobian product: the gradient of sum_i cotangent_i * f_i. Returns {values, gradient}.
template <class... Fs, class C, std::size_t M, class... B>
    requires(detail::no_wrt_v<B...>)
constexpr auto vjp(const expr_vector<Fs...>& fv, const std::array<C, M>& cot, const B&... b);

namespace detail {
template <class W, class... Fs, class C, std::size_t M, class... B>
ETGRAD_FLATTEN constexpr auto vjp_impl(const expr_vector<Fs...>& fv, const std::array<C, M>& cot, const B&... b) {
    static_assert(M == sizeof...(Fs), "etgrad::vjp: give one cotangent per output");
    check_bindings<B...>();
    (void)wrt_nonempty<W>{};
    using T = number_t<B...>;
    return [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        using Low = lowered<rm<decltype(fv.template get<Is>())>...>;
        using G = typename Low::graph_type;
        check_bound<typename vars_in<typename Low::list>::type, B...>();
        Low low(fv.template get<Is>()...);
        bindings<T, B...> ctx{tup<B...>(b...), low.consts.data()};
        store_t<G, T> s;
        std::array<T, M> seeds{static_cast<T>(cot[Is])...};
        auto g = reverse_sweep<W, T, Low>(ctx, seeds, s);
        std::array<T, M> vals{static_cast<T>(s.v[Low::root_index[Is]])...};
        return value_and_gradient<std::array<T, M>, decltype(g)>{vals, g};
    }(std::index_sequence_for<Fs...>{});
}
template <class... Fs>
using vector_vars_t = typename vars_in<typename lowered<Fs...>::list>::type;
}  // namespace detail

template <class... Fs, class C, std::size_t M, class... B>
    requires(detail::no_wrt_v<B...>)
constexpr auto vjp(const expr_vector<Fs...>& fv, const std::array<C, M>& cot, const B&... b) {
    return detail::vjp_impl<detail::vector_vars_t<Fs...>>(fv, cot, b...);
}
template <class... Fs, class C, std::size_t M, class... Vs, class... B>
constexpr auto vjp(const expr_vector<Fs...>& fv, const std::array<C, M>& cot, wrt_t<Vs...>, const B&... b) {
    return detail::vjp_impl<detail::tlist<Vs...>>(fv, cot, b...);
}
/// vjp of one expression (shaped or not) with a cotangent of its shape (a number, a std::array or
/// an eg::tensor): {value, gradient of <cotangent, f>}.
template <Expr F, class C, class... B>
    requires(detail::no_wrt_v<B...>)
constexpr auto vjp(const F& f, const C& cot, const B&... b) {
    return detail::tensor_entry<B...>::template vjp<detail::all_vars_t<F>>(f, cot, b...);
}
template <Expr F, class C, class... Vs, class... B>
constexpr auto vjp(const F& f, const C& cot, wrt_t<Vs...>, const B&... b) {
    return detail::tensor_entry<B...>::template vjp<detail::tlist<Vs...>>(f, cot, b...);
}

// ---------------------------------------------------------------------------------------------
// Forward mode.
namespace detail {
template <class W, class T, class Low, class Ctx, class Seed>
ETGRAD_FLATTEN constexpr auto tangent_sweep(const Ctx& ctx, const Seed& seed) {
    using G = typename Low::graph_type;
    using tab = tangent_plan<G, W>;
    store_t<G, T> s;
    forward<G, T>(s, ctx);
    std::array<T, G::size> tan;  // each tangent's first write is an assignment
    tangent<G, T, tab>(s, tan, seed);
    return [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
        std::array<T, Low::root_index.size()> v{static_cast<T>(s.v[Low::root_index[Is]])...};
        std::array<T, Low::root_index.size()> t{};
        (
            [&]() ETGRAD_LAMBDA_INLINE {
                if constexpr (tab::active[Low::root_index[Is]]) {
                    t[Is] = tan[Low::root_index[Is]];
                }
            }(),
            ...);
        return value_and_tangent<std::array<T, Low::root_index.size()>>{v, t};
    }(std::make_index_sequence<Low::root_index.size()>{});
}

template <class... TB, class... B, class... Es>
constexpr auto jvp_many(const tangent_t<TB...>& dir, const bpack<B...>& bp, const Es&... es) {
    check_bindings<B...>();
    using T = number_t<B...>;
    using Low = lowered<Es...>;
    check_bound<typename vars_in<typename Low::list>::type, B...>();
    Low low(es...);
    bindings<T, B...> ctx{bp.bs, low.consts.data()};
    bindings<T, TB...> seed{dir.bs, nullptr};
    return tangent_sweep<tlist<typename TB::variable...>, T, Low>(ctx, seed);
}
}  // namespace detail

/// Jacobian-vector product (forward mode): `auto [v, t] = eg::jvp(f, eg::tangent(x = 1.0), x = 2.0)`.
/// With a vector of expressions, value and tangent are arrays.
template <class F, class... TB, class... B>
constexpr auto jvp(const F& f, const tangent_t<TB...>& dir, const B&... b) {
    if constexpr (Expr<F> && detail::tensor_path_v<F, B...>) {
        return detail::tensor_entry<B...>::template jvp<detail::tlist<typename TB::variable...>>(f, dir, b...);
    } else if constexpr (detail::is_vector_v<F>) {
        return [&]<std::size_t... Is>(std::index_sequence<Is...>) ETGRAD_LAMBDA_INLINE {
            return detail::jvp_many(dir, detail::bpack<B...>(b...), f.template get<Is>()...);
        }(std::make_index_sequence<F::size()>{});
    } else {
        static_assert(Expr<F>, "etgrad::jvp takes an expression or eg::vector(...)");
        auto r = detail::jvp_many(dir, detail::bpack<B...>(b...), f);
        return value_and_tangent<typename decltype(r.value)::value_type>{r.value[0], r.tangent[0]};
    }
}

// ---------------------------------------------------------------------------------------------
// Second order and Jacobians (symbolic derivatives, evaluated jointly).
namespace detail {
template <class W>
struct wrt_of_list;
template <class... Vs>
struct wrt_of_list<tlist<Vs...>> {
    using type = wrt_t<Vs...>;
};

template <std::size_t N>
constexpr auto upper_triangle() {
    std::array<std::pair<std::size_t, std::size_t>, N*(N + 1) / 2> r{};
    std::size_t p = 0;
    for (std::size_t i = 0; i < N; ++i) {
        for (std::size_t j = i; j < N; ++j) {
            r[p++] = {i, j};
        }
    }
    return r;
}

/// The Hessian forward-over-reverse: value_and_grad's reverse sweep run once on dual numbers whose
/// n tangents are the directions of wrt(...); the tangents of the gradient are the Hessian's rows.
/// One sweep instantiation, where symbolic second derivatives built one graph per entry.
template <class T, class... Vs, class F, class... B>
constexpr auto hessian_forward_over_reverse(const F& f, const B&... b) {
    constexpr std::size_t n = sizeof...(Vs);
    using D = dual<T, n>;
    using vars = tlist<Vs...>;
    const auto seed = [](const auto& bi) {
        using Bi = rm<decltype(bi)>;
        constexpr std::size_t j = index_in<vars, typename Bi::variable>::value;
        if constexpr (j < n) {
            D v(static_cast<T>(bi.value));
            v.t[j] = T(1);
            return typename rebind_binding<Bi, D>::type{v};
        } else {
            return bi;
        }
    };
    const auto r = value_and_grad_impl<D, vars>(f, seed(b)...);
    hessian_matrix<T, Vs...> H{};
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = i; j < n; ++j) {
            // d/dx_j of df/dx_i, and the mirror: the upper triangle's value for both
            H.values[i * n + j] = r.grad.values[i].t[j];
            H.values[j * n + i] = r.grad.values[i].t[j];
        }
    }
    return H;
}

template <class F, class... Vs, class... B>
constexpr auto hessian_impl(const F& f, tlist<Vs...>*, const B&... b) {
    if constexpr (tensor_path_v<F, B...>) {
        (void)symbolic_of_shaped<F>{};
        return hessian_matrix<double, Vs...>{};  // after the error: no cascade
    } else {
    check_bindings<B...>();
    (void)scalar_only<F>{};
    (void)wrt_nonempty<tlist<Vs...>>{};
    using T = number_t<B...>;
    using vars = tlist<Vs...>;
    if constexpr (!(all_true({is_binding_v<B>...}) && !any_data_v<B...>)) {
        return hessian_matrix<T, Vs...>{};  // after check_bindings' error: no cascade
    } else if constexpr (std::is_floating_point_v<T>) {
        return hessian_forward_over_reverse<T, Vs...>(f, b...);
    } else {
    // SIMD batches: differentiate the lowered expression (runtime constants as rc<I> leaves, so that copies made
    // by the chain rule stay one node); gradients first, then the upper triangle, evaluated jointly.
    const auto lf = lowered_closure(f);
    auto g = std::make_tuple(etgrad::d(lf, Vs{})...);
    hessian_matrix<T, Vs...> H{};
    [&]<std::size_t... Ps>(std::index_sequence<Ps...>) ETGRAD_LAMBDA_INLINE {
        constexpr auto ij = upper_triangle<sizeof...(Vs)>();
        auto vals = eval_many<T>(bpack<B...>(b...),
                                 etgrad::d(std::get<ij[Ps].first>(g), at_t<vars, ij[Ps].second>{})...);
        ((H.values[ij[Ps].first * sizeof...(Vs) + ij[Ps].second] = vals[Ps],
          H.values[ij[Ps].second * sizeof...(Vs) + ij[Ps].first] = vals[Ps]),
         ...);
    }(std::make_index_sequence<sizeof...(Vs) * (sizeof...(Vs) + 1) / 2>{});
    return H;
    }
    }
}
}  // namespace detail

/// The Hessian: `H(x, y)` = d²f/dxdy, over eg::wrt(...) or every variable of f.
template <class F, class... B>
    requires(detail::no_wrt_v<B...>)
constexpr auto hessian(const F& f, const B&... b) {
    (void)detail::scalar_only<F>{};
    return detail::hessian_impl(f, static_cast<detail::all_vars_t<F>*>(nullptr), b...);
}
template <class F, class... Vs, class... B>
constexpr auto hessian(const F& f, wrt_t<Vs...>, const B&... b) {
    return detail::hessian_impl(f, static_cast<detail::tlist<Vs...>*>(nullptr), b...);
}

namespace detail {
template <class... Fs, class... Vs, class... B>
constexpr auto jacobian_impl(const expr_vector<Fs...>& fv, tlist<Vs...>*, const B&... b) {
    check_bindings<B...>();
    using T = number_t<B...>;
    using vars = tlist<Vs...>;
    jacobian_matrix<T, sizeof...(Fs), Vs...> J{};
    [&]<std::size_t... Ps>(std::index_sequence<Ps...>) ETGRAD_LAMBDA_INLINE {
        auto vals = eval_many<T>(bpack<B...>(b...),
                                 etgrad::d(fv.template get<Ps / sizeof...(Vs)>(), at_t<vars, Ps % sizeof...(Vs)>{})...);
        ((J.values[Ps] = vals[Ps]), ...);
    }(std::make_index_sequence<sizeof...(Fs) * sizeof...(Vs)>{});
    return J;
}
}  // namespace detail

/// The Jacobian of a vector of expressions: `J(i, x)` = d f_i / d x.
template <class... Fs, class... B>
    requires(detail::no_wrt_v<B...>)
constexpr auto jacobian(const expr_vector<Fs...>& fv, const B&... b) {
    return detail::jacobian_impl(fv, static_cast<detail::vector_vars_t<Fs...>*>(nullptr), b...);
}
template <class... Fs, class... Vs, class... B>
constexpr auto jacobian(const expr_vector<Fs...>& fv, wrt_t<Vs...>, const B&... b) {
    return detail::jacobian_impl(fv, static_cast<detail::tlist<Vs...>*>(nullptr), b...);
}

/// The result of value_and_jacobian: the values f_i and the Jacobian J(i, x).
template <class T, std::size_t M, class J>
struct value_and_jacobian_t {
    std::array<T, M> value;
    J jacobian;
};

namespace detail {
template <class... Fs, class... Vs, class... B>
constexpr auto value_and_jacobian_impl(const expr_vector<Fs...>& fv, tlist<Vs...>*, const B&... b) {
    check_bindings<B...>();
    using T = number_t<B...>;
    using vars = tlist<Vs...>;
    constexpr std::size_t M = sizeof...(Fs), n = sizeof...(Vs);
    value_and_jacobian_t<T, M, jacobian_matrix<T, M, Vs...>> r{};
    // One graph: the values and every derivative, their shared subexpressions evaluated once.
    [&]<std::size_t... Is, std::size_t... Ps>(std::index_sequence<Is...>, std::index_sequence<Ps...>)
        ETGRAD_LAMBDA_INLINE {
            auto vals = eval_many<T>(bpack<B...>(b...), fv.template get<Is>()...,
                                     etgrad::d(fv.template get<Ps / n>(), at_t<vars, Ps % n>{})...);
            ((r.value[Is] = vals[Is]), ...);
            ((r.jacobian.values[Ps] = vals[M + Ps]), ...);
        }(std::make_index_sequence<M>{}, std::make_index_sequence<M * n>{});
    return r;
}
}  // namespace detail

/// The values of a vector of expressions and its Jacobian, from one graph:
/// `auto [v, J] = eg::value_and_jacobian(eg::vector(f, g), [eg::wrt(x, y),] x = 1.0, y = 2.0);`
/// gives `v[0]` = f, `J(1, y)` = dg/dy.
template <class... Fs, class... B>
    requires(detail::no_wrt_v<B...>)
constexpr auto value_and_jacobian(const expr_vector<Fs...>& fv, const B&... b) {
    return detail::value_and_jacobian_impl(fv, static_cast<detail::vector_vars_t<Fs...>*>(nullptr), b...);
}
template <class... Fs, class... Vs, class... B>
constexpr auto value_and_jacobian(const expr_vector<Fs...>& fv, wrt_t<Vs...>, const B&... b) {
    return detail::value_and_jacobian_impl(fv, static_cast<detail::tlist<Vs...>*>(nullptr), b...);
}

namespace detail {
template <class F, class... TB, class... Vs, class... B>
constexpr auto hvp_impl(const F& f, const tangent_t<TB...>& dir, tlist<Vs...>*, const B&... b) {
    if constexpr (tensor_path_v<F, B...>) {
        return tensor_entry<B...>::template hvp<tlist<Vs...>>(f, dir, b...);
    } else {
    (void)scalar_only<F>{};
    const auto lf = lowered_closure(f);
    auto r = jvp_many(dir, bpack<B...>(b...), etgrad::d(lf, Vs{})...);
    using T = typename decltype(r.tangent)::value_type;
    gradient<T, Vs...> g{};
    g.values = r.tangent;
    return g;
    }
}
}  // namespace detail

/// Hessian-vector product H·v along `eg::tangent(...)`: a gradient record over eg::wrt(...) or
/// every variable of f (forward mode over the symbolic gradient).
template <class F, class... TB, class... B>
    requires(detail::no_wrt_v<B...>)
constexpr auto hvp(const F& f, const tangent_t<TB...>& dir, const B&... b) {
    return detail::hvp_impl(f, dir, static_cast<detail::all_vars_t<F>*>(nullptr), b...);
}
template <class F, class... TB, class... Vs, class... B>
constexpr auto hvp(const F& f, const tangent_t<TB...>& dir, wrt_t<Vs...>, const B&... b) {
    return detail::hvp_impl(f, dir, static_cast<detail::tlist<Vs...>*>(nullptr), b...);
}

}  // namespace etgrad
