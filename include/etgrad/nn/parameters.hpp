// etgrad/nn/parameters.hpp — a parameter store: every parameter variable of a model with storage
// for all of them (PyTorch's `model.parameters()`), initialised as torch.nn.Linear does, bound to
// a call in one argument, saved to and loaded from a file.
//
//     auto params = eg::parameters(loss, eg::inputs(x, y), 42);   // all variables but x and y
//     auto [L, g] = eg::value_and_grad(loss, params, x = eg::rows<64>(X), y = labels);
//     params.save("model.txt");
//
// The store is an aggregate of eg::tensor values, one per variable, in the expression's order: it
// lives where the user puts it (no heap allocation), and `params[W]` reads or writes one tensor.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../check.hpp"
#include "../tensor/eval.hpp"

namespace etgrad {

/// The input variables of a model (the data it is called on): what eg::parameters leaves out.
template <class... Vs>
struct inputs_t {};
/// `eg::inputs(x, y)`: the variables a parameter store does not hold.
template <class... Vs>
constexpr inputs_t<Vs...> inputs(const Vs&...) {
    static_assert((detail::is_var_c<Vs>::value && ...), "etgrad: eg::inputs(...) takes variables");
    return {};
}

namespace detail {
/// splitmix64: the same stream on every platform (std::uniform_real_distribution is not).
struct init_rng {
    std::uint64_t s;
    constexpr std::uint64_t next() {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    /// Uniform in [-bound, bound).
    double uniform(double bound) { return bound * (2.0 * static_cast<double>(next() >> 11) * 0x1.0p-53 - 1.0); }
};

/// A message made by appending its pieces (strings, or numbers written with std::to_string):
/// GCC 12 warns falsely (-Wrestrict) about `"text" + std::string` at -O3.
template <class... A>
std::string text(const A&... a) {
    std::string m;
    (
        [&] {
            if constexpr (std::is_arithmetic_v<A>) {
                m += std::to_string(a);
            } else {
                m += std::string_view(a);
            }
        }(),
        ...);
    return m;
}

constexpr bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

template <class V>
struct store_entry {
    static constexpr bool ok = is_var_c<V>::value;
};

template <class P>
struct store_unused_parameter {
    static_assert(sizeof(P) == 0,
                  "etgrad: the parameter store holds a variable that this expression does not use (its name is "
                  "the template argument of this message): make the store from this expression");
};
}  // namespace detail

/// The parameters of a model: one value per variable Ps, shaped like it (an eg::tensor<T, S>, or
/// a T for a scalar variable). Made by eg::parameters; an aggregate that owns its values.
template <class T, class... Ps>
struct parameter_store {
    static_assert((detail::is_var_c<Ps>::value && ...), "etgrad: a parameter store holds variables");
    using value_type = T;
    using variables = detail::tlist<Ps...>;
    detail::sstore<typename detail::grad_entry<T, Ps>::type...> entries{};

    /// The number of parameter variables.
    static constexpr std::size_t size() { return sizeof...(Ps); }
    /// The number of values, over all parameters.
    static constexpr std::size_t numel() { return (std::size_t{0} + ... + Ps::shape_type::size); }
    template <class V>
    static constexpr std::size_t index_of() {
        static_assert(detail::is_var_c<V>::value, "etgrad: index a parameter store with a variable: params[W]");
        static_assert(detail::contains_c<variables, V>::value,
                      "etgrad: params[v]: this variable is not in the parameter store");
        return detail::index_in<variables, V>::value;
    }
    /// The value of one parameter: `params[W](i, j)`.
    template <class V>
    constexpr auto& operator[](const V&) {
        return detail::sget<index_of<V>()>(entries);
    }
    template <class V>
    constexpr const auto& operator[](const V&) const {
        return detail::sget<index_of<V>()>(entries);
    }
    template <std::size_t I>
    constexpr auto& get() {
        return detail::sget<I>(entries);
    }
    template <std::size_t I>
    constexpr const auto& get() const {
        return detail::sget<I>(entries);
    }
    /// f(variable, value&) for each parameter, in order.
    template <class F>
    constexpr void for_each(F&& f) {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) { (f(Ps{}, detail::sget<Is>(entries)), ...); }(
            std::index_sequence_for<Ps...>{});
    }
    template <class F>
    constexpr void for_each(F&& f) const {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) { (f(Ps{}, detail::sget<Is>(entries)), ...); }(
            std::index_sequence_for<Ps...>{});
    }
    /// Calls f with one binding per parameter (`W = params[W]`, views of this store).
    template <class F>
    constexpr decltype(auto) with_bindings(F&& f) const {
        return [&]<std::size_t... Is>(std::index_sequence<Is...>) -> decltype(auto) {
            return f((Ps{} = detail::sget<Is>(entries))...);
        }(std::index_sequence_for<Ps...>{});
    }

    /// Set every parameter as PyTorch initialises its layers, from `seed`:
    /// - "<layer>.weight" of shape (out, in): uniform in ±1/√in (torch.nn.Linear);
    /// - "<layer>.bias" beside a matrix "<layer>.weight" of `in` columns: uniform in ±1/√in;
    /// - "<layer>.weight" of rank 1 (a norm layer's scale): ones; its "<layer>.bias": zeros;
    /// - any other variable: zero.
    /// The values come from splitmix64 (the same on every platform, not PyTorch's generator),
    /// parameter by parameter in the store's order, each in row-major order.
    void init(std::uint64_t seed) {
        detail::init_rng rng{seed};
        for_each([&](auto v, auto& value) {
            using V = decltype(v);
            const double bound = init_bound<V>();
            auto* p = data_of(value);
            for (std::size_t i = 0; i < V::shape_type::size; ++i) {
                p[i] = bound > 0 ? static_cast<T>(rng.uniform(bound)) : static_cast<T>(bound < 0 ? 1.0 : 0.0);
            }
        });
    }

    /// Write every parameter to `path`, in the text format below; std::runtime_error if the file
    /// cannot be written. The format, one line per parameter after a header line:
    ///     etgrad-parameters 1 <number of parameters>
    ///     <name> <rank> <dim 0> ... <dim rank-1> <value> <value> ...
    /// values in row-major order, as C's "%a" hexadecimal floats (exact in both directions).
    void save(const std::string& path) const {
        std::ofstream out(path);
        if (!out) {
            throw std::runtime_error(detail::text("etgrad: cannot write the parameter file ", path));
        }
        out << "etgrad-parameters 1 " << size() << '\n';
        for_each([&](auto v, const auto& value) {
            using V = decltype(v);
            out << V::name << ' ' << V::shape_type::rank;
            for (std::size_t k = 0; k < V::shape_type::rank; ++k) {
                out << ' ' << V::shape_type::dims[k];
            }
            const auto* p = data_of(value);
            char buf[64];
            for (std::size_t i = 0; i < V::shape_type::size; ++i) {
                std::snprintf(buf, sizeof buf, " %a", static_cast<double>(p[i]));
                out << buf;
            }
            out << '\n';
        });
        if (!out) {
            throw std::runtime_error(detail::text("etgrad: writing the parameter file ", path, " failed"));
        }
    }

    /// Read every parameter from a file written by save(). The file must hold exactly this store's
    /// parameters, names and shapes, in order; otherwise std::runtime_error names the first
    /// parameter that differs, and the store is left unchanged.
    void load(const std::string& path) {
        std::ifstream in(path);
        if (!in) {
            throw std::runtime_error(detail::text("etgrad: cannot read the parameter file ", path));
        }
        std::string magic;
        int version = 0;
        std::size_t count = 0;
        in >> magic >> version >> count;
        if (!in || magic != "etgrad-parameters" || version != 1) {
            throw std::runtime_error(detail::text("etgrad: ", path, " is not an etgrad parameter file"));
        }
        if (count != size()) {
            throw std::runtime_error(
                detail::text("etgrad: ", path, " holds ", count, " parameters, this store ", size()));
        }
        std::vector<double> values;
        values.reserve(numel());
        for_each([&](auto v, const auto&) {
            using V = decltype(v);
            using S = typename V::shape_type;
            std::string name;
            std::size_t rank = 0;
            in >> name >> rank;
            const std::string want = detail::text(V::name, " of shape ", shape_words<S>());
            if (!in) {
                throw std::runtime_error(detail::text("etgrad: ", path, " ends before the parameter ", want));
            }
            std::vector<std::size_t> dims(rank);
            for (auto& d : dims) {
                in >> d;
            }
            bool same = in && name == V::name && rank == S::rank;
            for (std::size_t k = 0; same && k < rank; ++k) {
                same = dims[k] == S::dims[k];
            }
            if (!same) {
                std::string got = detail::text(name, " of shape ");
                for (std::size_t k = 0; k < rank; ++k) {
                    got += detail::text(k ? "x" : "", dims[k]);
                }
                if (rank == 0) {
                    got += "scalar";
                }
                throw std::runtime_error(detail::text("etgrad: ", path, " holds ", got, " where this store has ", want));
            }
            for (std::size_t i = 0; i < S::size; ++i) {
                std::string tok;
                in >> tok;
                char* end = nullptr;
                const double x = std::strtod(tok.c_str(), &end);
                if (tok.empty() || *end != '\0') {
                    throw std::runtime_error(detail::text("etgrad: ", path, ": a bad value for the parameter ", want));
                }
                values.push_back(x);
            }
        });
        std::size_t k = 0;
        for_each([&](auto v, auto& value) {
            auto* p = data_of(value);
            for (std::size_t i = 0; i < decltype(v)::shape_type::size; ++i) {
                p[i] = static_cast<T>(values[k++]);
            }
        });
    }

  private:
    template <class X>
    static constexpr auto* data_of(X& value) {
        if constexpr (std::is_arithmetic_v<std::remove_const_t<X>>) {
            return &value;
        } else {
            return value.data();
        }
    }
    template <class S>
    static std::string shape_words() {
        if constexpr (S::rank == 0) {
            return "scalar";
        } else {
            std::string r;
            for (std::size_t k = 0; k < S::rank; ++k) {
                r += detail::text(k ? "x" : "", S::dims[k]);
            }
            return r;
        }
    }
    // > 0: uniform bound; < 0: ones; 0: zeros.
    template <class V>
    static double init_bound() {
        constexpr std::string_view n = V::name;
        using S = typename V::shape_type;
        if constexpr (detail::ends_with(n, ".weight")) {
            if constexpr (S::rank == 2) {
                return 1.0 / std::sqrt(static_cast<double>(S::dims[1]));
            } else if constexpr (S::rank == 1) {
                return -1.0;
            } else {
                return 0.0;
            }
        } else if (detail::ends_with(n, ".bias")) {
            const std::string_view layer = n.substr(0, n.size() - 5);
            std::size_t in = 0;
            (
                [&] {
                    constexpr std::string_view m = Ps::name;
                    if constexpr (Ps::shape_type::rank == 2 && detail::ends_with(m, ".weight")) {
                        if (m.substr(0, m.size() - 7) == layer) {
                            in = Ps::shape_type::dims[1];
                        }
                    }
                }(),
                ...);
            return in ? 1.0 / std::sqrt(static_cast<double>(in)) : 0.0;
        } else {
            return 0.0;
        }
    }
};

namespace detail {
template <class T, class L, class In>
struct store_of;
template <class T, class... Vs, class... In>
struct store_of<T, tlist<Vs...>, inputs_t<In...>> {
    struct keep_param {
        static constexpr bool keep(std::size_t i) {
            constexpr bool input[] = {contains_c<tlist<In...>, Vs>::value..., false};
            return !input[i];
        }
    };
    template <class P>
    struct make;
    template <class... Ps>
    struct make<tlist<Ps...>> {
        using type = parameter_store<T, Ps...>;
    };
    using type = typename make<typename select_list<tlist<Vs...>, keep_param>::type>::type;
};

template <class E, class... In>
struct inputs_in_expression {
    static constexpr bool ok = (contains_c<all_vars_t<E>, In>::value && ...);
};
}  // namespace detail

/// The parameter store of a model or loss `e`: every variable of e except its inputs, in the
/// order they appear in e, initialised from `seed` (see parameter_store::init). T: the number
/// type (double by default): `eg::parameters<float>(loss, eg::inputs(x, y), 0)`.
template <class T = double, class E, class... In>
auto parameters(const E&, inputs_t<In...>, std::uint64_t seed) {
    static_assert(detail::is_model_v<E>,
                  "etgrad: eg::parameters(e, eg::inputs(...), seed): e must be an etgrad expression or a loop");
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "etgrad: eg::parameters<T>: T is float or double");
    static_assert(detail::inputs_in_expression<E, In...>::ok,
                  "etgrad: eg::parameters(e, eg::inputs(...)): an input is not a variable of e");
    typename detail::store_of<T, detail::all_vars_t<E>, inputs_t<In...>>::type p{};
    p.init(seed);
    return p;
}

// (is_parameter_store_v: etgrad/eval.hpp, so that the loops' entry points can step aside for a store.)

namespace detail {
template <class P>
struct store_lacks_parameter {
    static_assert(sizeof(P) == 0,
                  "etgrad: the expression needs a variable that neither the parameter store nor the other "
                  "bindings provide (its name is the template argument of this message): make the store from "
                  "this expression, or bind the variable");
};
/// The position of the first false (the size when none).
template <std::size_t N>
constexpr std::size_t first_false(const std::array<bool, N>& a) {
    std::size_t i = 0;
    while (i < N && a[i]) {
        ++i;
    }
    return i;
}
constexpr std::size_t first_false(const std::array<bool, 0>&) { return 0; }
/// The first of Ps that F does not use (sizeof...(Ps) when none).
template <class F, class... Ps>
constexpr std::size_t first_unused() {
    return first_false(std::array<bool, sizeof...(Ps)>{contains_c<all_vars_t<F>, Ps>::value...});
}
/// The first variable of F that neither the store (Ps) nor the bindings B provide.
template <class F, class Ps, class... B>
struct first_lacking;
template <class F, class... Ps, class... B>
struct first_lacking<F, tlist<Ps...>, B...> {
    template <class L>
    struct scan;
    template <class... Vs>
    struct scan<tlist<Vs...>> {
        static constexpr std::size_t index =
            first_false(std::array<bool, sizeof...(Vs)>{
                (contains_c<tlist<Ps...>, Vs>::value || binding_index<Vs, B...>() != none)...});
        using type = at_t<tlist<Vs..., void>, index>;
    };
    using type = typename scan<all_vars_t<F>>::type;
};
/// A store fits an expression when the expression uses every parameter of it and every variable
/// of the expression is in the store or bound: else one error naming the first variable at fault
/// (and the call is not made, so that no second error follows).
template <class F, class Ps, class... B>
struct store_fits;
template <class F, class... Ps, class... B>
struct store_fits<F, tlist<Ps...>, B...> {
    static constexpr std::size_t unused = first_unused<F, Ps...>();
    using lacking = typename first_lacking<F, tlist<Ps...>, B...>::type;
    static constexpr bool value = unused == sizeof...(Ps) && std::is_void_v<lacking>;
    /// The one error, in the branch not taken when the store fits.
    static constexpr void report() {
        if constexpr (unused < sizeof...(Ps)) {
            (void)store_unused_parameter<at_t<tlist<Ps...>, unused>>{};
        } else if constexpr (!std::is_void_v<lacking>) {
            (void)store_lacks_parameter<lacking>{};
        }
    }
};
template <class... B>
constexpr bool bindings_only = all_true({is_binding_v<B>...});
}  // namespace detail

/// A whole store binds in one argument, before the other bindings, and is what is
/// differentiated: `eg::value_and_grad(loss, params, x = eg::rows<64>(X), y = labels)`.
template <class F, class T, class... Ps, class... B>
auto value_and_grad(const F& f, const parameter_store<T, Ps...>& p, const B&... b) {
    static_assert(detail::bindings_only<B...>,
                  "etgrad: value_and_grad(f, params, ...): after the parameter store come bindings (x = ...)");
    using fits = detail::store_fits<F, detail::tlist<Ps...>, B...>;
    if constexpr (fits::value) {
        return p.with_bindings([&](const auto&... pb) { return value_and_grad(f, wrt(Ps{}...), pb..., b...); });
    } else {
        fits::report();
        return value_and_gradient<T, tensor_gradient<T, Ps...>>{};  // after the error: no cascade
    }
}
/// With `eg::wrt(...)` first: only those variables learn (freezing the rest of the store).
template <class F, class... Vs, class T, class... Ps, class... B>
auto value_and_grad(const F& f, wrt_t<Vs...> w, const parameter_store<T, Ps...>& p, const B&... b) {
    static_assert(detail::bindings_only<B...>,
                  "etgrad: value_and_grad(f, eg::wrt(...), params, ...): after the store come bindings (x = ...)");
    using fits = detail::store_fits<F, detail::tlist<Ps...>, B...>;
    if constexpr (fits::value) {
        return p.with_bindings([&](const auto&... pb) { return value_and_grad(f, w, pb..., b...); });
    } else {
        fits::report();
        return value_and_gradient<T, tensor_gradient<T, Vs...>>{};
    }
}
/// The same spread over threads: `eg::value_and_grad(eg::par(2), loss, params, x = eg::rows<64>(X), ...)`
/// (with or without `eg::wrt(...)` before the store); the same bits for any number of threads.
template <class F, class T, class... Ps, class... B>
auto value_and_grad(par_t t, const F& f, const parameter_store<T, Ps...>& p, const B&... b) {
    static_assert(detail::bindings_only<B...>,
                  "etgrad: value_and_grad(eg::par, f, params, ...): after the parameter store come bindings (x = ...)");
    using fits = detail::store_fits<F, detail::tlist<Ps...>, B...>;
    if constexpr (fits::value) {
        return p.with_bindings([&](const auto&... pb) { return value_and_grad(t, f, wrt(Ps{}...), pb..., b...); });
    } else {
        fits::report();
        return value_and_gradient<T, tensor_gradient<T, Ps...>>{};
    }
}
template <class F, class... Vs, class T, class... Ps, class... B>
auto value_and_grad(par_t t, const F& f, wrt_t<Vs...> w, const parameter_store<T, Ps...>& p, const B&... b) {
    static_assert(detail::bindings_only<B...>,
                  "etgrad: value_and_grad(eg::par, f, eg::wrt(...), params, ...): after the store come bindings (x = ...)");
    using fits = detail::store_fits<F, detail::tlist<Ps...>, B...>;
    if constexpr (fits::value) {
        return p.with_bindings([&](const auto&... pb) { return value_and_grad(t, f, w, pb..., b...); });
    } else {
        fits::report();
        return value_and_gradient<T, tensor_gradient<T, Vs...>>{};
    }
}
/// The per-sample value of e with a store's parameters, for every sample, into out (n rows of
/// e's elements): `eg::eval_into(out, logits, params, x = eg::rows<64>(X))`, PyTorch's
/// `model(X)` in inference.
template <class Out, class E, class T, class... Ps, class... B>
void eval_into(Out&& out, const E& e, const parameter_store<T, Ps...>& p, const B&... b) {
    static_assert(detail::bindings_only<B...>,
                  "etgrad: eval_into(out, e, params, ...): after the parameter store come bindings (x = ...)");
    using fits = detail::store_fits<E, detail::tlist<Ps...>, B...>;
    if constexpr (fits::value) {
        p.with_bindings([&](const auto&... pb) { eval_into(static_cast<Out&&>(out), e, pb..., b...); });
    } else {
        fits::report();
    }
}
/// Finite differences against reverse mode for every parameter of the store, at one sample:
/// `REQUIRE(eg::check_grad(eg::nn::cross_entropy(logits, y), params, x = pixels, y = 3.0))`.
/// An eg::grad_check_options may come anywhere among the bindings.
template <class F, class T, class... Ps, class... A>
grad_check_result check_grad(const F& f, const parameter_store<T, Ps...>& p, const A&... a) {
    return detail::with_check_options(
        [&]<class... B>(const grad_check_options& o, const B&... b) {
            static_assert(detail::bindings_only<B...>,
                          "etgrad: check_grad(f, params, ...): after the parameter store come bindings (x = ...) "
                          "and at most one eg::grad_check_options");
            using fits = detail::store_fits<F, detail::tlist<Ps...>, B...>;
            if constexpr (fits::value) {
                return p.with_bindings([&](const auto&... pb) {
                    return detail::check_grad_impl(f, static_cast<detail::tlist<Ps...>*>(nullptr), o, pb..., b...);
                });
            } else {
                fits::report();
                return grad_check_result{};
            }
        },
        a...);
}
/// Forward mode with a store's parameters (their tangents are 0 unless eg::tangent names them):
/// `eg::jvp(loss, eg::tangent(X = dX), params, X = xs, labels = ys)`.
template <class F, class... TB, class T, class... Ps, class... B>
auto jvp(const F& f, const tangent_t<TB...>& dir, const parameter_store<T, Ps...>& p, const B&... b) {
    static_assert(detail::bindings_only<B...>,
                  "etgrad: jvp(f, eg::tangent(...), params, ...): after the parameter store come bindings (x = ...)");
    using fits = detail::store_fits<F, detail::tlist<Ps...>, B...>;
    if constexpr (fits::value) {
        return p.with_bindings([&](const auto&... pb) { return jvp(f, dir, pb..., b...); });
    } else {
        fits::report();
        return value_and_tangent<T>{};
    }
}
/// The value of e with a store's parameters: `eg::evaluate(logits, params, x = xs)` (an
/// eg::tensor for a shaped e).
template <class E, class T, class... Ps, class... B>
auto evaluate(const E& e, const parameter_store<T, Ps...>& p, const B&... b) {
    static_assert(detail::bindings_only<B...>,
                  "etgrad: evaluate(e, params, ...): after the parameter store come bindings (x = ...)");
    using fits = detail::store_fits<E, detail::tlist<Ps...>, B...>;
    if constexpr (fits::value) {
        return p.with_bindings([&](const auto&... pb) { return e(pb..., b...); });
    } else {
        fits::report();
        return T{};
    }
}
}  // namespace etgrad
