// etgrad/loop.hpp — loops whose trip count is known only at run time. The body is written once,
// as compile-time expressions of a carried state; the count is a number; the reverse pass replays
// the body's compile-time derivative (a vector-Jacobian product) once per step, backwards.
//
//     constexpr auto x = eg::var<"x">;                                   // the carried state
//     constexpr auto v = eg::var<"v">;
//     constexpr auto k = eg::var<"k">;                                   // parameters
//     constexpr auto c = eg::var<"c">;
//     constexpr auto dt = eg::var<"dt">;
//     constexpr auto step = eg::carry(v = v - dt * (k * x + c * v),      // every update reads
//                                     x = x + dt * v);                   // the old state
//     auto [xn, g] = eg::value_and_grad(eg::scan(step, n).final(x), eg::wrt(k, c, x),
//                                       x = 1.0, v = 0.0, k = 4.0, c = 0.3, dt = 0.01);
//     // xn: x after n steps; g[k], g[c]: its derivatives; g[x]: with respect to the initial x.
//
// Carried variables can be shaped (an Elman RNN's hidden vector, h = eg::var<"h", eg::shape<8>>):
//
//     constexpr auto cell = eg::carry(h = eg::tanh(eg::matvec(Wh, h) + eg::matvec(Wx, u) + b));
//     auto [L, g] = eg::value_and_grad(eg::scan(cell, n).sum(eg::sum(eg::square(h))),
//                                      eg::wrt(Wh, Wx, b, h), h = h0, Wh = wh, Wx = wx, b = bb,
//                                      u = eg::sequence<3>(us));   // one row of 3 per step
//     // g[Wh]: an eg::tensor shaped like Wh; g[h]: with respect to the initial state.
//
// Then each step runs the tensor sweeps (etgrad/tensor/eval.hpp) over the updates as the roots of
// one graph: forward for the next state, one reverse sweep seeded with the state's adjoint for the
// step's vjp, a tangent sweep for jvp. Loops of scalars alone run the scalar sweeps.
//
// Memory: by default the state of every step is stored (n + 1 states) and each backward step
// recomputes its step's internals; eg::checkpoint_every<K> stores every K-th state and one
// segment of K + 1 states (one extra forward pass); eg::revolve<S> stores S states at most and
// takes the fewest steps again that S allow (binomial checkpointing, Griewank and Walther's
// schedule: each step forward r times at most, the first pass's included, r the least with
// C(S + r, S) ≥ n: 4 for n = 1000 and S = 10). The storage is allocated once per call. A state is
// the carried variables' elements (step.elements() values).
#pragma once

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "tensor/eval.hpp"
#include "transforms.hpp"

namespace etgrad {

// ---------------------------------------------------------------------------------------------
// The body: eg::carry(x = e, ...).

/// One step of a loop: the next value of each carried variable (every right-hand side reads the
/// state before the step). Made by eg::carry.
template <class... Us>
struct carry_t {
    detail::tup<Us...> updates;
    using variables = detail::tlist<typename Us::variable...>;
    /// The number of carried variables.
    static constexpr std::size_t size() { return sizeof...(Us); }
    /// The number of carried values (the elements of the carried variables): a state's size.
    static constexpr std::size_t elements() { return (std::size_t{0} + ... + Us::variable::shape_type::size); }
    using expressions = detail::tlist<typename Us::expression...>;
    /// Is a carried variable or an update shaped (then each step runs the tensor sweeps)?
    static constexpr bool has_shaped =
        ((Us::variable::shape_type::rank != 0 || detail::has_shaped_c<typename Us::expression>::value) || ...);
    /// The next state, as one vector of expressions (scalar updates).
    constexpr auto next() const {
        return [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            return vector(detail::tget<Is>(updates).next...);
        }(std::index_sequence_for<Us...>{});
    }
};

namespace detail {
template <class V>
struct carried_twice {
    static_assert(sizeof(V) == 0,
                  "etgrad::carry(...): a variable is updated twice (it is the template argument of this message)");
};
template <class V>
struct carried_to_shaped {
    static_assert(sizeof(V) == 0,
                  "etgrad::carry(x = e): e is shaped but x is a scalar (x is the template argument of this message)");
};
template <class V, class S>
struct carried_shape_mismatch {
    static_assert(sizeof(V) == 0,
                  "etgrad::carry(x = e): e's shape is not the shape of x (x and e's shape are the template arguments "
                  "of this message)");
};
template <class... Us>
constexpr bool check_carry() {
    using L = tlist<typename Us::variable...>;
    bool ok = true;
    [&]<std::size_t... Is>(std::index_sequence<Is...>) {
        (
            [&] {
                using U = at_t<tlist<Us...>, Is>;
                using V = typename U::variable;
                using SE = shape_of_t<typename U::expression>;
                if constexpr (index_in<L, V>::value != Is) {
                    (void)carried_twice<V>{};
                    ok = false;
                } else if constexpr (V::shape_type::rank == 0 && SE::rank != 0) {
                    (void)carried_to_shaped<V>{};
                    ok = false;
                } else if constexpr (V::shape_type::rank != 0 && !std::is_same_v<SE, typename V::shape_type>) {
                    (void)carried_shape_mismatch<V, SE>{};
                    ok = false;
                }
            }(),
            ...);
    }(std::index_sequence_for<Us...>{});
    return ok;
}
}  // namespace detail

/// The body of a loop: `eg::carry(v = v - dt * x, x = x + dt * v)`, the next value of each carried
/// variable (a scalar, or shaped: `h = eg::tanh(eg::matvec(Wh, h) + b)` for a `shape<8>` h). A
/// variable updated twice, or given a value of another shape, is a compile error naming it.
template <class... Us>
constexpr carry_t<Us...> carry(const Us&... u) {
    static_assert(sizeof...(Us) > 0, "etgrad::carry(...) needs at least one update `x = e`");
    static_assert((detail::is_update_v<Us> && ...),
                  "etgrad::carry(...) takes updates `x = e` (a variable and the expression of its next value)");
    if constexpr ((detail::is_update_v<Us> && ...)) {
        (void)detail::check_carry<Us...>();
    }
    return {detail::tup<Us...>(u...)};
}

// ---------------------------------------------------------------------------------------------
// Per-step inputs: u = eg::sequence(us), u = eg::sequence<F>(us).

/// The inputs of the steps (`u = eg::sequence(us)`: step t reads us[t]; `u = eg::sequence<F>(us)`
/// for a variable u of F elements: step t reads the row us[t·F .. t·F + F), as eg::rows<F>(X)
/// reads samples); with `.grad_into(gu)`, gu (as long as us) receives the derivative with
/// respect to each value.
template <class T, bool HasGrad = false, std::size_t F = 0>
struct sequence_view {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || is_simd_batch<T>::value,
                  "etgrad::sequence(us): the values must be float or double");
    using value_type = T;
    static constexpr bool has_grad = HasGrad;
    static constexpr std::size_t width = F == 0 ? 1 : F;  ///< values per step
    const T* ptr = nullptr;
    std::size_t n = 0;  ///< the number of steps it has values for
    T* gptr = nullptr;
    std::size_t gn = 0;  ///< the gradient output's length in values
    template <class R>
    constexpr sequence_view<T, true, F> grad_into(R&& out) const {
        static_assert(std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
                          std::is_same_v<std::remove_cv_t<std::ranges::range_value_t<R>>, T>,
                      "etgrad::sequence(us).grad_into(out): out must be a contiguous range of us's element type");
        return {ptr, n, std::ranges::data(out), std::ranges::size(out)};
    }
};
/// `u = eg::sequence(us)`: one input per step of a loop.
template <class R>
constexpr auto sequence(R&& r) {
    static_assert(std::ranges::contiguous_range<R> && std::ranges::sized_range<R>,
                  "etgrad::sequence(us): us must be a contiguous sized range (std::vector, std::span, ...)");
    using T = std::remove_cv_t<std::ranges::range_value_t<R>>;
    return sequence_view<T>{std::ranges::data(r), std::ranges::size(r)};
}
/// `u = eg::sequence<F>(us)`: one row of F values per step (row-major, n×F values) for a shaped
/// variable u of F elements. std::invalid_argument when the length is not a multiple of F.
template <std::size_t F, class R>
constexpr auto sequence(R&& r) {
    static_assert(F > 0, "etgrad::sequence<F>(us): F must be positive");
    static_assert(std::ranges::contiguous_range<R> && std::ranges::sized_range<R>,
                  "etgrad::sequence<F>(us): us must be a contiguous sized range (std::vector, std::span, ...)");
    using T = std::remove_cv_t<std::ranges::range_value_t<R>>;
    const std::size_t len = std::ranges::size(r);
    if (len % F != 0) {
        std::string m = "etgrad::sequence<";
        m += std::to_string(F);
        m += ">(us): us has ";
        m += std::to_string(len);
        m += " values, not a multiple of the row width ";
        m += std::to_string(F);
        throw std::invalid_argument(m);
    }
    return sequence_view<T, false, F>{std::ranges::data(r), len / F};
}

namespace detail {
/// A sequence of rows bound to a shaped variable of shape S (`u = eg::sequence<F>(us)`).
template <class T, bool HasGrad, class S>
struct shaped_sequence {
    using etgrad_shape = S;
    using value_type = T;
    static constexpr bool has_grad = HasGrad;
    static constexpr std::size_t width = S::size;
    const T* ptr = nullptr;
    std::size_t n = 0;
    T* gptr = nullptr;
    std::size_t gn = 0;
};
template <class T>
inline constexpr bool is_sequence_v = false;
template <class T, bool G, std::size_t F>
inline constexpr bool is_sequence_v<sequence_view<T, G, F>> = true;
template <class T, bool G, class S>
inline constexpr bool is_sequence_v<shaped_sequence<T, G, S>> = true;
template <class T>
inline constexpr bool is_shaped_sequence_v = false;
template <class T, bool G, class S>
inline constexpr bool is_shaped_sequence_v<shaped_sequence<T, G, S>> = true;
template <class T, bool G, std::size_t F>
struct bound<sequence_view<T, G, F>> {
    using type = sequence_view<T, G, F>;
};
template <class T, bool G, std::size_t F>
struct custom_bound<sequence_view<T, G, F>> : std::true_type {
    static constexpr auto make(const sequence_view<T, G, F>& v) {
        static_assert(F <= 1,
                      "etgrad: u = eg::sequence<F>(us) binds a shaped variable of F elements (eg::var<\"u\", "
                      "eg::shape<F>>); a scalar variable takes eg::sequence(us)");
        return v;
    }
};
template <class T, bool G, std::size_t F>
struct scalar_value<sequence_view<T, G, F>> {
    using type = T;
};
template <class T, bool G, class S>
struct scalar_value<shaped_sequence<T, G, S>> {
    using type = T;
};
/// `u = eg::sequence<F>(us)` for a shaped u: F must be its number of elements.
template <class V, class S>
    requires is_sequence_v<std::remove_cvref_t<V>>
struct shaped_bound<V, S> {
    using D = std::remove_cvref_t<V>;
    static constexpr std::size_t F = D::width;
    static_assert(!std::is_same_v<D, sequence_view<typename D::value_type, D::has_grad>> && F == S::size,
                  "etgrad: a shaped variable u takes one row per step, u = eg::sequence<F>(us), F the number of "
                  "elements of u's shape (the sequence and the shape are the template arguments below)");
    using type = shaped_sequence<typename D::value_type, D::has_grad, S>;
    static constexpr type make(const D& v, std::string_view) { return {v.ptr, v.n, v.gptr, v.gn}; }
};
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// The loop and its objective.

/// Memory policy: store the state of every step (n + 1 states; the default).
struct store_states {};
/// Memory policy: store every K-th state, recompute a segment of K steps before its backward
/// steps (about n/K + K + 2 states, one extra forward pass). The recomputed states are the first
/// pass's bit for bit, except where the compiler contracts a·b + c into FMAs differently in the
/// two places (GCC with -march=native on an FMA machine): there they can differ in the last bits.
template <std::size_t K>
struct checkpoint_every_t {
    static_assert(K > 0, "etgrad::checkpoint_every<K>: K must be positive");
};
template <std::size_t K>
inline constexpr checkpoint_every_t<K> checkpoint_every{};
/// Memory policy: binomial checkpointing (Griewank and Walther's "revolve"): S stored states at
/// most (min(S, n), the initial one included) and the fewest forward steps that allows. n steps
/// take r·n − C(S + r, r − 1) forward steps in all, r the least with C(S + r, S) ≥ n; the first
/// pass stores its states where the schedule does and gives n − 1 of them, the rest are taken
/// again going back (n = 1000, S = 10: r = 4, 2637 steps again; S = 1: n(n − 1)/2 − (n − 1)).
/// scan_while stores none going forward (the count is not known yet): that sweep runs again.
/// The recomputed states are the first pass's bit for bit, with checkpoint_every's exception.
template <std::size_t S>
struct revolve_t {
    static_assert(S > 0, "etgrad::revolve<S>: S (the number of stored states) must be at least 1");
};
template <std::size_t S>
inline constexpr revolve_t<S> revolve{};

namespace detail {
struct no_objective {};
template <class P>
struct policy_k {
    static constexpr std::size_t k = 0;
};
template <std::size_t K>
struct policy_k<checkpoint_every_t<K>> {
    static constexpr std::size_t k = K;
};
/// The stored states of eg::revolve<S> (0: another policy).
template <class P>
struct policy_slots {
    static constexpr std::size_t s = 0;
};
template <std::size_t S>
struct policy_slots<revolve_t<S>> {
    static constexpr std::size_t s = S;
};
/// x·a/d for a whole quotient, without the product's overflow (saturated where the quotient
/// itself does not fit).
constexpr std::size_t revolve_mul_div(std::size_t x, std::size_t a, std::size_t d) {
    std::size_t g = x, h = d;
    while (h != 0) {
        const std::size_t t = g % h;
        g = h;
        h = t;
    }
    x /= g;  // d/g divides a
    a /= d / g;
    return a != 0 && x > static_cast<std::size_t>(-1) / a ? static_cast<std::size_t>(-1) : x * a;
}
/// Where revolve splits l >= 2 steps with s >= 2 states (the first holding the range's start):
/// j steps forward, the state there stored, the last l − j steps reversed with s − 1 states,
/// then the first j with s. With r the least with beta(s, r) = C(s + r, s) >= l, the split
/// j = min(beta(s, r − 1), l − beta(s − 1, r − 1)) is optimal: the left part takes r − 1
/// repetitions with s states at most, the right part r with s − 1.
constexpr std::size_t revolve_split(std::size_t l, std::size_t s) {
    std::size_t r = 0, b = 1, prev = 0;  // b = beta(s, r), prev = beta(s, r − 1)
    while (b < l) {
        ++r;
        prev = b;
        b = revolve_mul_div(b, s + r, r);
    }
    const std::size_t left = prev;                                  // beta(s, r − 1) < l
    const std::size_t right = revolve_mul_div(prev, s, s + r - 1);  // beta(s − 1, r − 1) <= left
    return left < l - right ? left : l - right;
}
}  // namespace detail

/// A scalar objective of a loop: Final at the state after the last step plus the sum of Running
/// over the states after each step (Running at step t also sees that step's inputs). Made by
/// eg::scan(...).final(e) and .sum(e); differentiated by value_and_grad, grad and jvp, and
/// evaluated by its call operator.
template <class Policy, class C, class Cond, class Final, class Running>
struct scan_objective {
    C step;
    Cond cond;
    std::ptrdiff_t n;
    Final final_e;
    Running running_e;
    double* ws = nullptr;  ///< the caller's workspace (.workspace(w)), or none: allocated per call
    std::size_t ws_size = 0;

    template <class... B>
    auto operator()(const B&... b) const;
    /// Store the loop's states in w (at least eg::scan_workspace_size(policy, n, m) doubles; for
    /// scan_while, n = max_steps) instead of memory allocated per call: a call then allocates
    /// nothing. A smaller w throws std::invalid_argument when called, before anything is written.
    constexpr auto workspace(std::span<double> w) const {
        auto r = *this;
        r.ws = w.data();
        r.ws_size = w.size();
        return r;
    }
    /// Also add e, evaluated at the final state.
    template <class E>
    constexpr auto final(const E& e) const {
        static_assert(std::is_same_v<Final, detail::no_objective>, "etgrad::scan(...): .final(e) is given twice");
        static_assert(Expr<E>, "etgrad::scan(...).final(e): e must be an etgrad expression");
        return scan_objective<Policy, C, Cond, E, Running>{step, cond, n, e, running_e, ws, ws_size};
    }
    /// Also add the sum over the steps of e, evaluated at the state after each step.
    template <class E>
    constexpr auto sum(const E& e) const {
        static_assert(std::is_same_v<Running, detail::no_objective>, "etgrad::scan(...): .sum(e) is given twice");
        static_assert(Expr<E>, "etgrad::scan(...).sum(e): e must be an etgrad expression");
        return scan_objective<Policy, C, Cond, Final, E>{step, cond, n, final_e, e, ws, ws_size};
    }
};

/// A loop of n steps (n known at run time): `eg::scan(step, n).final(x)`; with a memory policy,
/// `eg::scan(step, n, eg::checkpoint_every<32>)`. n < 0 throws std::invalid_argument when called.
template <class... Us, class Policy = store_states>
constexpr auto scan(const carry_t<Us...>& step, std::ptrdiff_t n, Policy = {}) {
    return scan_objective<Policy, carry_t<Us...>, detail::no_objective, detail::no_objective, detail::no_objective>{
        step, {}, n, {}, {}};
}
/// A loop that runs while `cond` (an expression of the state, e.g. `x > 0`) holds before a step,
/// at most max_steps steps: the count is found going forward and replayed backward.
template <class... Us, class Cond, class Policy = store_states>
constexpr auto scan_while(const carry_t<Us...>& step, const Cond& cond, std::ptrdiff_t max_steps, Policy = {}) {
    static_assert(Expr<Cond>, "etgrad::scan_while(step, cond, max_steps): cond must be an etgrad expression");
    return scan_objective<Policy, carry_t<Us...>, Cond, detail::no_objective, detail::no_objective>{
        step, cond, max_steps, {}, {}};
}

template <class T>
inline constexpr bool is_scan_objective_v = false;
template <class P, class C, class Cd, class F, class R>
inline constexpr bool is_scan_objective_v<scan_objective<P, C, Cd, F, R>> = true;

/// The number of values a loop call stores (its workspace: allocated once per call, or the
/// caller's, `.workspace(w)`): (n + 1)·m with store_states; (⌈n/K⌉ + 1)·m + (K + 1)·m with
/// checkpoint_every<K>; min(S, n)·m with revolve<S> (m: the carried values, step.elements(): the
/// number of carried variables when they are scalars, their elements when shaped; n: the steps,
/// or scan_while's max_steps).
template <class Policy>
constexpr std::size_t scan_workspace_size(Policy, std::size_t n, std::size_t m) {
    constexpr std::size_t K = detail::policy_k<Policy>::k;
    constexpr std::size_t S = detail::policy_slots<Policy>::s;
    if constexpr (S != 0) {
        return (S < n ? S : n) * m;
    } else if constexpr (K == 0) {
        return (n + 1) * m;
    } else {
        return ((n + K - 1) / K + 1) * m + (K + 1) * m;
    }
}

namespace detail {

template <class V>
struct scan_initial_missing {
    static_assert(sizeof(V) == 0,
                  "etgrad::scan: a carried variable needs its initial value as a binding (x = 1.0); it is the "
                  "template argument of this message");
};
template <class V>
struct scan_sequence_wrt {
    static_assert(sizeof(V) == 0,
                  "etgrad::scan: the gradient of a per-step input goes into eg::sequence(us).grad_into(gu), "
                  "not into the gradient record (the variable is the template argument of this message)");
};
template <class V>
struct scan_initial_not_array {
    static_assert(sizeof(V) == 0,
                  "etgrad::scan: a shaped carried variable's initial value is its elements (h = a std::array, an "
                  "eg::tensor or a contiguous range); the variable is the template argument of this message");
};

/// A binding as a step sees it: a number of the loop's type T (sequences: one value per step; a
/// row sequence: a view of the row of the step).
template <class T, class B>
struct step_binding {
    using type = B;
};
template <class T, auto N, class U>
    requires std::is_arithmetic_v<U>
struct step_binding<T, binding<N, U>> {
    using type = binding<N, T>;
};
template <class T, auto N, class U, bool G, std::size_t F>
struct step_binding<T, binding<N, sequence_view<U, G, F>>> {
    using type = binding<N, T>;
};
template <class T, auto N, class U, bool G, class S>
struct step_binding<T, binding<N, shaped_sequence<U, G, S>>> {
    using type = binding<N, param_ref<T, S>>;
};
/// A shaped carried variable: a view of the state (of the loop's type T).
template <class T, class CV, class B>
struct state_binding : step_binding<T, B> {};
template <class T, class CV, auto N, class V>
    requires(contains_c<CV, typename binding<N, V>::variable>::value &&
             binding<N, V>::variable::shape_type::rank != 0)
struct state_binding<T, CV, binding<N, V>> {
    using type = binding<N, param_ref<T, typename binding<N, V>::variable::shape_type>>;
};
template <class SB, class B>
constexpr SB to_step_binding(const B& b) {
    if constexpr (std::is_same_v<SB, B>) {
        return b;
    } else if constexpr (std::is_arithmetic_v<typename B::value_type>) {
        return SB{static_cast<typename SB::value_type>(b.value)};
    } else {
        return SB{};  // sequences and views of the state: set at each step
    }
}

/// The elements of L that are not in Drop.
template <class L, class Drop>
struct list_minus;
template <class... Ls, class Drop>
struct list_minus<tlist<Ls...>, Drop> {
    struct keep_c {
        static constexpr bool keep(std::size_t i) {
            constexpr bool in[] = {contains_c<Drop, Ls>::value..., false};
            return !in[i];
        }
    };
    using type = typename select_list<tlist<Ls...>, keep_c>::type;
};
template <class A, class B>
struct list_cat;
template <class... As, class... Bs>
struct list_cat<tlist<As...>, tlist<Bs...>> {
    using type = tlist<As..., Bs...>;
};
/// The variables bound to sequences (with_grad: only those given grad_into).
template <bool WithGrad, class... B>
struct sequence_vars {
    struct keep_c {
        static constexpr bool keep(std::size_t i) {
            constexpr bool sq[] = {[] {
                if constexpr (is_sequence_v<typename B::value_type>) {
                    return !WithGrad || B::value_type::has_grad;
                } else {
                    return false;
                }
            }()...,
                                   false};
            return sq[i];
        }
    };
    using type = typename select_list<tlist<typename B::variable...>, keep_c>::type;
};
template <class L>
struct as_wrt;
template <class... Vs>
struct as_wrt<tlist<Vs...>> {
    using type = wrt_t<Vs...>;
};
template <class T, class L, bool Shaped = false>
struct gradient_of;
template <class T, class... Vs>
struct gradient_of<T, tlist<Vs...>, false> {
    using type = gradient<T, Vs...>;
};
template <class T, class... Vs>
struct gradient_of<T, tlist<Vs...>, true> {
    using type = tensor_gradient<T, Vs...>;
};
/// The variables of L laid out one after the other (their elements, row-major): off[i] is where
/// the i-th starts, size the total.
template <class L>
struct flat_layout;
template <class... Vs>
struct flat_layout<tlist<Vs...>> {
    static constexpr std::array<std::size_t, sizeof...(Vs) + 1> off = [] {
        std::array<std::size_t, sizeof...(Vs) + 1> o{};
        std::size_t k = 0, i = 0;
        ((o[i++] = k, k += Vs::shape_type::size), ...);
        o[i] = k;
        return o;
    }();
    static constexpr std::size_t size = off[sizeof...(Vs)];
};
/// A gradient record over the variables L (scalar or with shaped entries) into flat values.
template <class L, class T, class G>
constexpr void flatten_gradient(const G& g, T* out) {
    if constexpr (requires { g.values; }) {
        for (std::size_t i = 0; i < g.values.size(); ++i) {
            out[i] = static_cast<T>(g.values[i]);
        }
    } else {
        [&]<class... Vs>(tlist<Vs...>*) {
            [&]<std::size_t... Is>(std::index_sequence<Is...>) {
                (
                    [&] {
                        const auto& e = g.template get<Is>();
                        constexpr std::size_t o = flat_layout<L>::off[Is];
                        if constexpr (Vs::shape_type::rank == 0) {
                            out[o] = static_cast<T>(e);
                        } else {
                            for (std::size_t k = 0; k < Vs::shape_type::size; ++k) {
                                out[o + k] = static_cast<T>(e.values[k]);
                            }
                        }
                    }(),
                    ...);
            }(std::index_sequence_for<Vs...>{});
        }(static_cast<L*>(nullptr));
    }
}
template <class L>
struct lowered_of;
template <class... Es>
struct lowered_of<tlist<Es...>> {
    using type = lowered<Es...>;
};
template <class V>
constexpr std::size_t row_width() {
    if constexpr (is_shaped_sequence_v<V>) {
        return V::width;
    } else {
        return 0;
    }
}
/// A binding of the variable V to a view of n = V's elements at p.
template <class T, auto N, class S>
constexpr binding<N, param_ref<T, S>> view_binding(var_node<N, S>, const T* p) {
    return {param_ref<T, S>{p}};
}

/// Per-sample values (data calls' and etgrad/loop/data.hpp's sequences of samples): a loop over
/// them is eg::mean(loop) or eg::sum(loop).
template <class V>
inline constexpr bool loop_per_sample_v = is_data_ref_v<V> || is_rows_ref_v<V> || is_label_ref_v<V>;
template <class B>
struct binding_value_or_void_c {
    using type = void;
};
template <class B>
    requires requires { typename B::value_type; }
struct binding_value_or_void_c<B> {
    using type = typename B::value_type;
};
template <class B>
using binding_value_or_void = typename binding_value_or_void_c<B>::type;

/// One loop call: the plan (types) and the passes.
template <class Policy, class C, class Cond, class Final, class Running, class W, class... B>
struct scan_plan {
    using CV = typename C::variables;  // carried
    static constexpr std::size_t m = C::size();
    using T = number_t<B...>;
    static constexpr std::size_t K = policy_k<Policy>::k;
    static constexpr bool has_final = !std::is_same_v<Final, no_objective>;
    static constexpr bool has_running = !std::is_same_v<Running, no_objective>;
    static constexpr bool is_while = !std::is_same_v<Cond, no_objective>;
    /// Shaped carries, shaped parameters or inputs, or shaped nodes: each step runs the tensor
    /// sweeps (etgrad/tensor/eval.hpp); else the scalar ones.
    static constexpr bool tensor = C::has_shaped || has_shaped_c<Final>::value || has_shaped_c<Running>::value ||
                                   has_shaped_c<Cond>::value || any_true({is_tensor_binding_c<B>::value...});
    using SV = typename sequence_vars<false, B...>::type;
    using SG = typename sequence_vars<true, B...>::type;
    using PW = typename list_minus<typename list_minus<W, CV>::type, SV>::type;  // differentiated parameters
    using DW = typename list_cat<typename list_cat<CV, PW>::type, SG>::type;     // each step's wrt
    using wrt_type = typename as_wrt<DW>::type;
    using cur_type = std::tuple<typename state_binding<T, CV, B>::type...>;
    using CL = flat_layout<CV>;  // the state: the carried variables' elements
    using PL = flat_layout<PW>;
    using DL = flat_layout<DW>;
    static constexpr std::size_t M = CL::size;   // values in a state
    static constexpr std::size_t NP = PL::size;  // parameter values
    static constexpr std::size_t ND = DL::size;  // a step's gradient values
    using low_type = std::conditional_t<tensor, typename lowered_of<typename C::expressions>::type, no_objective>;

    static constexpr bool initial_ok = [] {
        return [&]<class... Vs>(tlist<Vs...>*) {
            return ((binding_index<Vs, B...>() != none) && ...);
        }(static_cast<CV*>(nullptr));
    }();
    static constexpr bool wrt_ok = [] {
        return [&]<class... Vs>(tlist<Vs...>*) { return (!contains_c<SV, Vs>::value && ...); }(static_cast<W*>(nullptr));
    }();
    static constexpr bool per_sample = any_true({loop_per_sample_v<binding_value_or_void<B>>...});
    static constexpr bool ok =
        (is_binding_v<B> && ...) && (has_final || has_running) && initial_ok && wrt_ok && !per_sample;
    static constexpr void check() {
        static_assert(!per_sample,
                      "etgrad::scan: per-sample data (x = xs, eg::rows<F>(X), labels, eg::sequences<F>(U, L)) "
                      "is bound to a loop: reduce it over the samples, eg::mean(loop) or eg::sum(loop)");
        static_assert((is_binding_v<B> && ...),
                      "etgrad::scan: after the loop (and an optional eg::wrt(...)), pass bindings: the initial "
                      "state, the parameters and the per-step sequences");
        static_assert(has_final || has_running,
                      "etgrad::scan(...): say what the loop computes: .final(e) (e at the last state) and/or .sum(e)");
        [&]<class... Vs>(tlist<Vs...>*) {
            (
                [&] {
                    if constexpr (binding_index<Vs, B...>() == none) {
                        (void)scan_initial_missing<Vs>{};
                    }
                }(),
                ...);
        }(static_cast<CV*>(nullptr));
        [&]<class... Vs>(tlist<Vs...>*) {
            (
                [&] {
                    if constexpr (contains_c<SV, Vs>::value) {
                        (void)scan_sequence_wrt<Vs>{};
                    }
                }(),
                ...);
        }(static_cast<W*>(nullptr));
    }
};

// The tensor path's passes of one step, each one compiled function (not inlined) whatever the
// memory policy or the pass that calls it: the recomputed states of eg::checkpoint_every<K>, the
// values alone and value_and_grad's are then the same bits, FMA contraction or not.

/// The next state y (the roots of the lowered body, laid out as CL) at the bindings sb.
template <class T, class CL, class Low, class... SB>
ETGRAD_NOINLINE void tensor_step(const Low& low, T* y, const SB&... sb) {
    tbindings<T, SB...> ctx{tup<SB...>(sb...), low.consts.data()};
    tcall<T, Low, SB...> c{};
    c.forward(ctx);
    [&]<std::size_t... Rs>(std::index_sequence<Rs...>) {
        (
            [&] {
                const auto& v = c.template value<Rs>();
                constexpr std::size_t o = CL::off[Rs], w = CL::off[Rs + 1] - o;
                for (std::size_t e = 0; e < w; ++e) {
                    y[o + e] = static_cast<T>(v[e]);
                }
            }(),
            ...);
    }(std::make_index_sequence<Low::root_index.size()>{});
}
/// The step's vjp: out (flat over DW) = the gradient of <sbar, next state>.
template <class T, class CL, class DW, class Low, class... SB>
ETGRAD_NOINLINE void tensor_step_back(const Low& low, const T* sbar, T* out, const SB&... sb) {
    tbindings<T, SB...> ctx{tup<SB...>(sb...), low.consts.data()};
    tcall<T, Low, SB...> c{};
    c.forward(ctx);
    constexpr std::size_t R = Low::root_index.size();
    const auto seeds = [&]<std::size_t... Rs>(std::index_sequence<Rs...>) {
        return std::array<const T*, R>{(sbar + CL::off[Rs])...};
    }(std::make_index_sequence<R>{});
    const auto g = tensor_backward<T, DW, Low>(c, seeds);
    flatten_gradient<DW>(g, out);
}
/// The next state y and its tangent dy along the tangent bindings d.
template <class T, class CL, class Low, class... TB, class... SB>
ETGRAD_NOINLINE void tensor_step_jvp(const Low& low, const tangent_t<TB...>& d, T* y, T* dy, const SB&... sb) {
    tbindings<T, SB...> ctx{tup<SB...>(sb...), low.consts.data()};
    tcall<T, Low, SB...> c{};
    c.forward(ctx);
    using L = typename Low::list;
    using G = graph<L>;
    using tab = tangent_plan<G, tlist<typename TB::variable...>>;
    struct keep_active {
        static constexpr bool keep(std::size_t i) { return tab::active[i]; }
    };
    using TS = typename astore_of<L, T, keep_active, std::make_index_sequence<L::size>>::type;
    TS ts{};
    tbindings<T, TB...> seed{d.bs, nullptr};
    [&]<class... Steps>(tlist<Steps...>*) {
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            (ttng<L, T, tab::mask[Is]>(Steps{}, c.u, ts, seed), ...);
        }(std::index_sequence_for<Steps...>{});
    }(static_cast<typename G::steps*>(nullptr));
    [&]<std::size_t... Rs>(std::index_sequence<Rs...>) {
        (
            [&] {
                constexpr std::size_t r = Low::root_index[Rs];
                constexpr std::size_t o = CL::off[Rs], w = CL::off[Rs + 1] - o;
                const auto& v = c.template value<Rs>();
                for (std::size_t e = 0; e < w; ++e) {
                    y[o + e] = static_cast<T>(v[e]);
                    if constexpr (keep_active::keep(r)) {
                        dy[o + e] = static_cast<T>(sget<r>(ts)[e]);
                    } else {
                        dy[o + e] = T(0);
                    }
                }
            }(),
            ...);
    }(std::make_index_sequence<Low::root_index.size()>{});
}
/// A scalar objective's value at the bindings sb.
template <class T, class E, class... SB>
ETGRAD_NOINLINE T tensor_objective_value(const E& e, const SB&... sb) {
    return static_cast<T>(e(sb...));
}
/// A scalar objective's gradient over DW (flat) at the bindings sb.
template <class T, class DW, class E, class... SB>
ETGRAD_NOINLINE void tensor_objective_grad(const E& e, T* out, const SB&... sb) {
    const auto r = value_and_grad(e, typename as_wrt<DW>::type{}, sb...);
    flatten_gradient<DW>(r.grad, out);
}

template <class Plan, class C, class... B>
struct scan_state {
    using T = typename Plan::T;
    using CV = typename Plan::CV;
    static constexpr std::size_t m = Plan::m;
    static constexpr std::size_t M = Plan::M;
    static constexpr std::size_t ND = Plan::ND;
    using Low = typename Plan::low_type;
    /// Where each row sequence's row of the step is copied (in the loop's type).
    static constexpr auto roff = [] {
        std::array<std::size_t, sizeof...(B) + 1> o{};
        std::size_t k = 0, i = 0;
        ((o[i++] = k, k += row_width<typename B::value_type>()), ...);
        o[i] = k;
        return o;
    }();
    typename Plan::cur_type cur;
    std::tuple<const B&...> orig;
    Low low;
    std::array<T, roff[sizeof...(B)] + 1> rows{};

    static constexpr Low lower(const C& step) {
        if constexpr (Plan::tensor) {
            return [&]<std::size_t... Is>(std::index_sequence<Is...>) {
                return Low(tget<Is>(step.updates).next...);
            }(std::make_index_sequence<m>{});
        } else {
            return {};
        }
    }
    explicit scan_state(const C& step, const B&... b)
        : cur(to_step_binding<typename state_binding<T, CV, B>::type>(b)...), orig(b...), low(lower(step)) {}

    /// Bind the carried variables to the state s (M values) and the sequences to their values at
    /// step t.
    void set(const T* s, std::size_t t) {
        [&]<class... Vs>(tlist<Vs...>*) {
            (
                [&] {
                    constexpr std::size_t o = Plan::CL::off[index_in<CV, Vs>::value];
                    auto& cb = std::get<binding_index<Vs, B...>()>(cur);
                    if constexpr (Vs::shape_type::rank == 0) {
                        cb.value = s[o];
                    } else {
                        cb.value.ptr = s + o;
                    }
                }(),
                ...);
        }(static_cast<CV*>(nullptr));
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            (
                [&] {
                    using BV = typename std::tuple_element_t<Is, std::tuple<B...>>::value_type;
                    if constexpr (is_shaped_sequence_v<BV>) {
                        const auto& sv = std::get<Is>(orig).value;
                        constexpr std::size_t w = BV::width;
                        T* r = rows.data() + roff[Is];
                        for (std::size_t e = 0; e < w; ++e) {
                            r[e] = t < sv.n ? static_cast<T>(sv.ptr[t * w + e]) : T(0);
                        }
                        std::get<Is>(cur).value.ptr = r;
                    } else if constexpr (is_sequence_v<BV>) {
                        const auto& sv = std::get<Is>(orig).value;
                        std::get<Is>(cur).value = t < sv.n ? static_cast<T>(sv.ptr[t]) : T(0);
                    }
                }(),
                ...);
        }(std::index_sequence_for<B...>{});
    }
    template <class F>
    decltype(auto) call(F&& f) const {
        return std::apply([&](const auto&... cb) -> decltype(auto) { return f(cb...); }, cur);
    }
    /// The initial state.
    std::array<T, M> initial() const {
        std::array<T, M> s{};
        [&]<class... Vs>(tlist<Vs...>*) {
            (
                [&] {
                    constexpr std::size_t o = Plan::CL::off[index_in<CV, Vs>::value];
                    const auto& v = std::get<binding_index<Vs, B...>()>(orig).value;
                    if constexpr (Vs::shape_type::rank == 0) {
                        s[o] = static_cast<T>(v);
                    } else if constexpr (is_param_ref_v<rm<decltype(v)>>) {
                        for (std::size_t e = 0; e < Vs::shape_type::size; ++e) {
                            s[o + e] = static_cast<T>(v.ptr[e]);
                        }
                    } else {
                        (void)scan_initial_not_array<Vs>{};
                    }
                }(),
                ...);
        }(static_cast<CV*>(nullptr));
        return s;
    }

    // The passes of one step at the bound state (after set). The scalar path evaluates the body
    // as a vector F of scalar expressions; the tensor path runs the tensor sweeps over the body's
    // updates as the roots of one graph.

    /// The next state.
    template <class F>
    std::array<T, M> next(const F& f) const {
        if constexpr (!Plan::tensor) {
            return call(f);
        } else {
            std::array<T, M> y{};
            call([&](const auto&... cb) { tensor_step<T, typename Plan::CL>(low, y.data(), cb...); });
            return y;
        }
    }
    /// The step's vjp: the gradient of <sbar, next state> over Plan::DW, flat.
    template <class F>
    std::array<T, ND> back(const F& f, const std::array<T, M>& sbar) const {
        if constexpr (!Plan::tensor) {
            return call([&](const auto&... cb) { return vjp(f, sbar, typename Plan::wrt_type{}, cb...); }).grad.values;
        } else {
            std::array<T, ND> out{};
            call([&](const auto&... cb) {
                tensor_step_back<T, typename Plan::CL, typename Plan::DW>(low, sbar.data(), out.data(), cb...);
            });
            return out;
        }
    }
    /// A scalar objective's value.
    template <class E>
    T value_of(const E& e) const {
        if constexpr (!Plan::tensor) {
            return static_cast<T>(call(e));
        } else {
            return call([&](const auto&... cb) { return tensor_objective_value<T>(e, cb...); });
        }
    }
    /// A scalar objective's value, and its gradient over Plan::DW into g (flat).
    template <class E>
    T objective(const E& e, std::array<T, ND>& g) const {
        if constexpr (!Plan::tensor) {
            auto r = call([&](const auto&... cb) { return value_and_grad(e, typename Plan::wrt_type{}, cb...); });
            flatten_gradient<typename Plan::DW>(r.grad, g.data());
            return static_cast<T>(r.value);
        } else {
            call([&](const auto&... cb) { tensor_objective_grad<T, typename Plan::DW>(e, g.data(), cb...); });
            return value_of(e);
        }
    }
    /// The next state and its tangent along the direction d (bindings: the state's tangents, then
    /// the others).
    template <class F, class... TB>
    void next_jvp(const F& f, const tangent_t<TB...>& d, std::array<T, M>& s, std::array<T, M>& ds) const {
        if constexpr (!Plan::tensor) {
            auto r = call([&](const auto&... cb) { return jvp(f, d, cb...); });
            for (std::size_t j = 0; j < m; ++j) {
                s[j] = r.value[j];
                ds[j] = r.tangent[j];
            }
        } else {
            std::array<T, M> y{}, dy{};  // (s and ds are bound: a root may be a view of them)
            call([&](const auto&... cb) { tensor_step_jvp<T, typename Plan::CL>(low, d, y.data(), dy.data(), cb...); });
            s = y;
            ds = dy;
        }
    }
};

/// The number of steps, checked: n >= 0, sequences at least n long (and their gradient outputs):
/// std::invalid_argument before anything is computed or written.
template <class... B>
std::size_t scan_checked_count(std::ptrdiff_t n, bool is_while, const B&... b) {
    if (n < 0) {
        std::string msg = is_while ? "etgrad::scan_while: max_steps = " : "etgrad::scan: n = ";
        msg += std::to_string(n);
        msg += " is negative";
        throw std::invalid_argument(msg);
    }
    const auto count = static_cast<std::size_t>(n);
    (
        [&] {
            if constexpr (is_sequence_v<typename B::value_type>) {
                if (b.value.n < count && !is_while) {
                    std::string msg = "etgrad::scan: the sequence ";
                    msg += B::name;
                    msg += " has ";
                    msg += std::to_string(b.value.n);
                    msg += B::value_type::width == 1 ? " values" : " rows";
                    msg += ", fewer than the ";
                    msg += std::to_string(count);
                    msg += " steps";
                    throw std::invalid_argument(msg);
                }
                if constexpr (B::value_type::has_grad) {
                    if (b.value.gn != b.value.n * B::value_type::width) {
                        std::string msg = "etgrad::scan: ";
                        msg += B::name;
                        msg += ".grad_into(out): out has ";
                        msg += std::to_string(b.value.gn);
                        msg += " values, the sequence ";
                        msg += std::to_string(b.value.n * B::value_type::width);
                        throw std::invalid_argument(msg);
                    }
                }
            }
        }(),
        ...);
    return count;
}

/// The smallest sequence length (a while loop stops there too).
template <class... B>
std::size_t scan_sequence_limit(const B&... b) {
    std::size_t lim = static_cast<std::size_t>(-1);
    (
        [&] {
            if constexpr (is_sequence_v<typename B::value_type>) {
                lim = b.value.n < lim ? b.value.n : lim;
            }
        }(),
        ...);
    return lim;
}

/// The body as the scalar path evaluates it (a vector of scalar expressions); nothing for the
/// tensor path (which lowers the updates itself).
template <bool Tensor, class C>
constexpr auto scan_body(const C& step) {
    if constexpr (Tensor) {
        return no_objective{};
    } else {
        return step.next();
    }
}

/// Value (and, when Grad, the gradient over W) of a loop objective.
template <bool Grad, class W, class Policy, class C, class Cond, class Final, class Running, class... B>
auto scan_run(const scan_objective<Policy, C, Cond, Final, Running>& o, const B&... b) {
    using P = scan_plan<Policy, C, Cond, Final, Running, W, B...>;
    if constexpr (!P::ok) {
        P::check();  // one error; then a result of the right type, so that nothing else is reported
        if constexpr (Grad) {
            return value_and_gradient<double, typename gradient_of<double, W>::type>{};
        } else {
            return 0.0;
        }
    } else {
    using T = typename P::T;
    constexpr std::size_t M = P::M;
    constexpr std::size_t ND = P::ND;
    constexpr std::size_t K = P::K;
    constexpr std::size_t KK = K == 0 ? 1 : K;
    constexpr std::size_t RS = policy_slots<Policy>::s;  // revolve's stored states (0: another policy)
    std::size_t n = scan_checked_count(o.n, P::is_while, b...);
    if constexpr (P::is_while) {
        const std::size_t lim = scan_sequence_limit(b...);
        n = n < lim ? n : lim;
    }
    const auto F = scan_body<P::tensor>(o.step);
    scan_state<P, C, B...> st(o.step, b...);
    std::array<T, M> s = st.initial();

    // Forward: the states (every one, or every K-th), the count (while), the running sum. Into
    // the caller's workspace when one is given (sized for n steps: a while loop's max_steps), else
    // into memory allocated here (a while loop's grows with the steps taken). revolve stores the
    // states where its schedule's first sweep does (none in a while loop: the count is unknown).
    const std::size_t states = RS != 0  ? (RS < n ? RS : n) * M
                               : K == 0 ? (n + 1) * M
                                        : ((n + K - 1) / K + 1) * M;
    const bool given = o.ws != nullptr;
    if (given) {
        if constexpr (!std::is_same_v<T, double>) {
            throw std::invalid_argument("etgrad::scan(...).workspace(w): w holds doubles; this loop runs in float");
        }
        const std::size_t need = scan_workspace_size(Policy{}, n, M);
        if (o.ws_size < need) {
            throw std::invalid_argument("etgrad::scan(...).workspace(w): w has " + std::to_string(o.ws_size) +
                                        " values; this call needs " + std::to_string(need) +
                                        " (eg::scan_workspace_size)");
        }
    }
    std::vector<T> own;  // (the value alone keeps no states)
    if (Grad && !given && !P::is_while) {
        own.resize(states);
    }
    T* given_ws = nullptr;
    if constexpr (std::is_same_v<T, double>) {
        given_ws = o.ws;
    }
    std::size_t rv_next = 0, rv_slot = 0;  // revolve: where the next state is stored, and its slot
    auto keep = [&](std::size_t t, const std::array<T, M>& x) {
        if constexpr (RS != 0) {
            if (Grad && !P::is_while && t == rv_next && t < n) {
                T* const w = given ? given_ws : own.data();
                std::copy(x.begin(), x.end(), w + rv_slot * M);
                ++rv_slot;
                const std::size_t l = n - t, sl = RS - rv_slot + 1;
                rv_next = l >= 2 && sl >= 2 ? t + revolve_split(l, sl) : n;
            }
        } else if (Grad && t % KK == 0) {
            if (given) {
                std::copy(x.begin(), x.end(), given_ws + t / KK * M);
            } else if constexpr (P::is_while) {
                own.insert(own.end(), x.begin(), x.end());
            } else {
                std::copy(x.begin(), x.end(), own.begin() + static_cast<std::ptrdiff_t>(t / KK * M));
            }
        }
    };
    T value = T(0);
    keep(0, s);
    [[maybe_unused]] std::array<T, M> last{};  // revolve: the state before the last step
    std::size_t count = 0;
    for (; count < n; ++count) {
        st.set(s.data(), count);
        if constexpr (P::is_while) {
            if (!static_cast<bool>(st.call(o.cond))) {
                break;
            }
        }
        if constexpr (Grad && RS != 0) {
            if (P::is_while || count + 1 == n) {
                last = s;
            }
        }
        s = st.next(F);
        if constexpr (P::has_running) {
            st.set(s.data(), count);
            value = value + st.value_of(o.running_e);
        }
        keep(count + 1, s);
    }
    // The final objective (it sees the last step's inputs).
    st.set(s.data(), count == 0 ? 0 : count - 1);
    std::array<T, ND> adj{};
    if constexpr (P::has_final) {
        if constexpr (Grad) {
            value = value + st.objective(o.final_e, adj);
        } else {
            value = value + st.value_of(o.final_e);
        }
    }
    if constexpr (!Grad) {
        return value;
    } else {
        // Backward. adj holds the adjoints of the carried state (first M values), of the
        // parameters (next NP), and of the sequences given grad_into (last), in P::DW's order.
        constexpr std::size_t NP = P::NP;
        std::array<T, M> sbar{};
        std::array<T, NP + 1> pbar{};
        for (std::size_t j = 0; j < M; ++j) {
            sbar[j] = adj[j];
        }
        for (std::size_t j = 0; j < NP; ++j) {
            pbar[j] = adj[M + j];
        }
        // d/du_t: written to each grad_into output (zero where no step read it); f(g, w, q): the
        // output, the values per step, where the sequence's entries start in a step's gradient.
        auto each_seq_out = [&](auto&& f) {
            [&]<class... Us>(tlist<Us...>*) {
                (
                    [&] {
                        const auto& sv = std::get<binding_index<Us, B...>()>(st.orig).value;
                        constexpr std::size_t q = P::DL::off[P::CV::size + P::PW::size + index_in<typename P::SG, Us>::value];
                        f(sv.gptr, sv.gn, rm<decltype(sv)>::width, q);
                    }(),
                    ...);
            }(static_cast<typename P::SG*>(nullptr));
        };
        each_seq_out([&](auto* g, std::size_t len, std::size_t w, std::size_t q) {
            using G = std::remove_pointer_t<decltype(g)>;
            std::fill(g, g + len, static_cast<G>(0));
            if (count > 0 && P::has_final) {
                for (std::size_t e = 0; e < w; ++e) {
                    g[(count - 1) * w + e] = static_cast<G>(adj[q + e]);
                }
            }
        });
        auto add_seq = [&](std::size_t t, const std::array<T, ND>& r) {
            each_seq_out([&](auto* g, std::size_t, std::size_t w, std::size_t q) {
                for (std::size_t e = 0; e < w; ++e) {
                    g[t * w + e] = g[t * w + e] + r[q + e];
                }
            });
        };
        auto back = [&](std::size_t t, const T* x, const T* y) {
            if constexpr (P::has_running) {
                st.set(y, t);
                std::array<T, ND> r{};
                (void)st.objective(o.running_e, r);
                for (std::size_t j = 0; j < M; ++j) {
                    sbar[j] = sbar[j] + r[j];
                }
                for (std::size_t j = 0; j < NP; ++j) {
                    pbar[j] = pbar[j] + r[M + j];
                }
                add_seq(t, r);
            }
            st.set(x, t);
            const std::array<T, ND> r = st.back(F, sbar);
            for (std::size_t j = 0; j < M; ++j) {
                sbar[j] = r[j];
            }
            for (std::size_t j = 0; j < NP; ++j) {
                pbar[j] = pbar[j] + r[M + j];
            }
            add_seq(t, r);
        };
        const T* const ws = given ? given_ws : own.data();
        if constexpr (RS != 0) {
            // revolve: rev(a, e, k) reverses the steps [a, e) from the state at a, in slot k (the
            // slots after it free): with one slot, each step from there; else it goes forward to
            // the split m, stores the state at m in slot k + 1, reverses [m, e) with one slot fewer,
            // then [a, m) (a loop: the recursion is as deep as the slots). The first sweep's states are the forward pass's (a while loop's count was
            // unknown there: it stored none, and the sweep runs again), and the state before the
            // last step is the one it kept.
            if constexpr (P::is_while) {
                if (!given) {
                    own.resize((RS < count ? RS : count) * M);
                }
                if (count > 0) {
                    const std::array<T, M> s0 = st.initial();
                    std::copy(s0.begin(), s0.end(), given ? given_ws : own.data());
                }
            }
            T* const snap = given ? given_ws : own.data();
            std::array<T, M> cur{};
            std::array<T, M>& y = s;  // the state after the step going back
            auto state_at = [&](std::size_t a, std::size_t k, std::size_t t) {  // into cur
                if (t + 1 == count) {
                    cur = last;
                    return;
                }
                std::copy(snap + k * M, snap + (k + 1) * M, cur.begin());
                for (std::size_t i = a; i < t; ++i) {
                    st.set(cur.data(), i);
                    cur = st.next(F);
                }
            };
            auto back_at = [&](std::size_t t, const T* x) {
                back(t, x, y.data());
                if constexpr (P::has_running) {
                    std::copy(x, x + M, y.begin());
                }
            };
            auto rev = [&](auto& self, std::size_t a, std::size_t e, std::size_t k, bool stored) -> void {
                while (e > a) {
                    const std::size_t l = e - a, sl = RS - k;
                    if (l == 1) {
                        back_at(a, snap + k * M);
                        return;
                    }
                    if (sl == 1) {
                        for (std::size_t t = e; t-- > a;) {
                            state_at(a, k, t);
                            back_at(t, cur.data());
                        }
                        return;
                    }
                    const std::size_t mid = a + revolve_split(l, sl);
                    if (!stored) {
                        state_at(a, k, mid);
                        std::copy(cur.begin(), cur.end(), snap + (k + 1) * M);
                    }
                    self(self, mid, e, k + 1, stored);
                    stored = false;
                    e = mid;
                }
            };
            if (count > 0) {
                rev(rev, 0, count, 0, !P::is_while);
            }
        } else if constexpr (K == 0) {
            for (std::size_t t = count; t-- > 0;) {
                back(t, ws + t * M, ws + (t + 1) * M);
            }
        } else {
            // Each segment of K steps from its checkpoint: recompute its states, then go back.
            // (The segment's states follow the checkpoints in a given workspace.)
            std::vector<T> seg_own(given ? 0 : (K + 1) * M);
            T* const seg = given ? given_ws + states : seg_own.data();
            for (std::size_t j = (count + K - 1) / K; j-- > 0;) {
                const std::size_t a = j * K, e = a + K < count ? a + K : count;
                std::copy(ws + j * M, ws + (j + 1) * M, seg);
                for (std::size_t t = a; t < e; ++t) {
                    st.set(seg + (t - a) * M, t);
                    const auto y = st.next(F);
                    std::copy(y.begin(), y.end(), seg + (t - a + 1) * M);
                }
                for (std::size_t t = e; t-- > a;) {
                    back(t, seg + (t - a) * M, seg + (t - a + 1) * M);
                }
            }
        }
        typename gradient_of<T, W, P::tensor>::type g{};
        [&]<class... Vs>(tlist<Vs...>*) {
            [&]<std::size_t... Is>(std::index_sequence<Is...>) {
                (
                    [&] {
                        using V = at_t<tlist<Vs...>, Is>;
                        const T* src = [&] {
                            if constexpr (contains_c<typename P::CV, V>::value) {
                                return sbar.data() + P::CL::off[index_in<typename P::CV, V>::value];
                            } else {
                                return pbar.data() + P::PL::off[index_in<typename P::PW, V>::value];
                            }
                        }();
                        if constexpr (!P::tensor) {
                            g.values[Is] = src[0];
                        } else if constexpr (V::shape_type::rank == 0) {
                            g.template get<Is>() = src[0];
                        } else {
                            std::copy(src, src + V::shape_type::size, g.template get<Is>().values.begin());
                        }
                    }(),
                    ...);
            }(std::index_sequence_for<Vs...>{});
        }(static_cast<W*>(nullptr));
        return value_and_gradient<T, decltype(g)>{value, g};
    }
    }
}

/// Value and tangent of a loop objective along a direction (forward mode, step by step).
template <class Policy, class C, class Cond, class Final, class Running, class... TB, class... B>
auto scan_jvp(const scan_objective<Policy, C, Cond, Final, Running>& o, const tangent_t<TB...>& dir, const B&... b) {
    using P = scan_plan<Policy, C, Cond, Final, Running, tlist<>, B...>;
    if constexpr (!P::ok) {
        P::check();
        return value_and_tangent<double>{};
    } else {
    using T = typename P::T;
    constexpr std::size_t M = P::M;
    std::size_t n = scan_checked_count(o.n, P::is_while, b...);
    if constexpr (P::is_while) {
        const std::size_t lim = scan_sequence_limit(b...);
        n = n < lim ? n : lim;
    }
    const auto F = scan_body<P::tensor>(o.step);
    scan_state<P, C, B...> st(o.step, b...);
    std::array<T, M> s = st.initial();
    // The state's tangent starts as the direction's entries for the carried variables.
    using CV = typename P::CV;
    std::array<T, M> ds{};
    [&]<class... Vs>(tlist<Vs...>*) {
        (
            [&] {
                constexpr std::size_t i = binding_index<Vs, TB...>();
                constexpr std::size_t off = P::CL::off[index_in<CV, Vs>::value];
                if constexpr (i != none) {
                    const auto& v = tget<i>(dir.bs).value;
                    if constexpr (Vs::shape_type::rank == 0) {
                        ds[off] = static_cast<T>(v);
                    } else {
                        for (std::size_t e = 0; e < Vs::shape_type::size; ++e) {
                            ds[off + e] = static_cast<T>(v.ptr[e]);
                        }
                    }
                }
            }(),
            ...);
    }(static_cast<CV*>(nullptr));
    // Each step's direction: the carried variables' tangents, then the direction's other entries.
    using others = typename list_minus<tlist<typename TB::variable...>, CV>::type;
    auto step_dir = [&]<class... Vs, class... Os>(tlist<Vs...>*, tlist<Os...>*) {
        const auto carried = [&](auto v) {
            using V = decltype(v);
            constexpr std::size_t off = P::CL::off[index_in<CV, V>::value];
            if constexpr (V::shape_type::rank == 0) {
                return V{} = ds[off];
            } else {
                return view_binding(V{}, ds.data() + off);
            }
        };
        const auto other = [&](auto v) {
            using V = decltype(v);
            const auto& e = tget<binding_index<V, TB...>()>(dir.bs);
            if constexpr (V::shape_type::rank == 0) {
                return V{} = static_cast<T>(e.value);
            } else {
                return e;
            }
        };
        return tangent(carried(Vs{})..., other(Os{})...);
    };
    T value = T(0), tan = T(0);
    std::size_t count = 0;
    for (; count < n; ++count) {
        st.set(s.data(), count);
        if constexpr (P::is_while) {
            if (!static_cast<bool>(st.call(o.cond))) {
                break;
            }
        }
        const auto d = step_dir(static_cast<CV*>(nullptr), static_cast<others*>(nullptr));
        st.next_jvp(F, d, s, ds);
        if constexpr (P::has_running) {
            st.set(s.data(), count);
            const auto d2 = step_dir(static_cast<CV*>(nullptr), static_cast<others*>(nullptr));
            auto q = st.call([&](const auto&... cb) { return jvp(o.running_e, d2, cb...); });
            value = value + static_cast<T>(q.value);
            tan = tan + static_cast<T>(q.tangent);
        }
    }
    if constexpr (P::has_final) {
        st.set(s.data(), count == 0 ? 0 : count - 1);
        const auto d = step_dir(static_cast<CV*>(nullptr), static_cast<others*>(nullptr));
        auto q = st.call([&](const auto&... cb) { return jvp(o.final_e, d, cb...); });
        value = value + static_cast<T>(q.value);
        tan = tan + static_cast<T>(q.tangent);
    }
    return value_and_tangent<T>{value, tan};
    }
}

template <class L>
struct scan_all_vars;
}  // namespace detail

template <class Policy, class C, class Cond, class Final, class Running>
template <class... B>
auto scan_objective<Policy, C, Cond, Final, Running>::operator()(const B&... b) const {
    return detail::scan_run<false, detail::tlist<>>(*this, b...);
}

/// Value and gradient of a loop objective with respect to eg::wrt(...): parameters, and carried
/// variables (the derivative with respect to their initial values).
template <class Policy, class C, class Cond, class Final, class Running, class... Vs, class... B>
    requires(!is_parameter_store_v<B> && ...)  // (a store: etgrad/nn/parameters.hpp, which comes here)
auto value_and_grad(const scan_objective<Policy, C, Cond, Final, Running>& o, wrt_t<Vs...>, const B&... b) {
    static_assert(sizeof...(Vs) > 0, "etgrad: value_and_grad of a loop: say what to differentiate, eg::wrt(...)");
    return detail::scan_run<true, detail::tlist<Vs...>>(o, b...);
}
/// Without eg::wrt: every bound scalar variable that is not a sequence (the initial state and the
/// parameters), in the order of the bindings.
template <class Policy, class C, class Cond, class Final, class Running, class... B>
    requires((!detail::is_wrt_v<B> && !is_parameter_store_v<B>) && ...)
auto value_and_grad(const scan_objective<Policy, C, Cond, Final, Running>& o, const B&... b) {
    using W = typename detail::list_minus<detail::tlist<typename B::variable...>,
                                          typename detail::sequence_vars<false, B...>::type>::type;
    return detail::scan_run<true, W>(o, b...);
}
/// Forward mode through the loop: the objective's value and its derivative along the direction
/// (entries for carried variables: a change of their initial values).
template <class Policy, class C, class Cond, class Final, class Running, class... TB, class... B>
auto jvp(const scan_objective<Policy, C, Cond, Final, Running>& o, const tangent_t<TB...>& dir, const B&... b) {
    return detail::scan_jvp(o, dir, b...);
}
}  // namespace etgrad
