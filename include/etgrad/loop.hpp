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
// Memory: by default the state of every step is stored (n + 1 states) and each backward step
// recomputes its step's internals; eg::checkpoint_every<K> stores every K-th state and one
// segment of K + 1 states (one extra forward pass). The storage is allocated once per call.
#pragma once

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

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
    static constexpr std::size_t size() { return sizeof...(Us); }
    /// The next state, as one vector of expressions.
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
struct carried_shaped {
    static_assert(sizeof(V) == 0,
                  "etgrad::carry(...): loops carry scalar variables only for now (this one is shaped)");
};
template <class V>
struct carried_to_shaped {
    static_assert(sizeof(V) == 0,
                  "etgrad::carry(x = e): e is shaped but x is a scalar (x is the template argument of this message)");
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
                if constexpr (index_in<L, V>::value != Is) {
                    (void)carried_twice<V>{};
                    ok = false;
                } else if constexpr (V::shape_type::rank != 0) {
                    (void)carried_shaped<V>{};
                    ok = false;
                } else if constexpr (shape_of_t<typename U::expression>::rank != 0) {
                    (void)carried_to_shaped<V>{};
                    ok = false;
                }
            }(),
            ...);
    }(std::index_sequence_for<Us...>{});
    return ok;
}
}  // namespace detail

/// The body of a loop: `eg::carry(v = v - dt * x, x = x + dt * v)`, the next value of each carried
/// variable. A variable updated twice, or a shaped one, is a compile error naming it.
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
// Per-step inputs: u = eg::sequence(us).

/// The inputs of the steps, one value per step (`u = eg::sequence(us)`: step t reads us[t]); with
/// `.grad_into(gu)`, gu[t] receives the derivative with respect to us[t].
template <class T, bool HasGrad = false>
struct sequence_view {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "etgrad::sequence(us): the values must be float or double");
    using value_type = T;
    static constexpr bool has_grad = HasGrad;
    const T* ptr = nullptr;
    std::size_t n = 0;
    T* gptr = nullptr;
    std::size_t gn = 0;
    template <class R>
    constexpr sequence_view<T, true> grad_into(R&& out) const {
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

namespace detail {
template <class T>
inline constexpr bool is_sequence_v = false;
template <class T, bool G>
inline constexpr bool is_sequence_v<sequence_view<T, G>> = true;
template <class T, bool G>
struct bound<sequence_view<T, G>> {
    using type = sequence_view<T, G>;
};
template <class T, bool G>
struct custom_bound<sequence_view<T, G>> : std::true_type {
    static constexpr auto make(const sequence_view<T, G>& v) { return v; }
};
template <class T, bool G>
struct scalar_value<sequence_view<T, G>> {
    using type = T;
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
/// checkpoint_every<K> (m: carried variables; n: the steps, or scan_while's max_steps).
template <class Policy>
constexpr std::size_t scan_workspace_size(Policy, std::size_t n, std::size_t m) {
    constexpr std::size_t K = detail::policy_k<Policy>::k;
    if constexpr (K == 0) {
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

/// A binding as a step sees it: a number of the loop's type T (sequences: one value per step).
template <class T, class B>
struct step_binding {
    using type = B;
};
template <class T, auto N, class U>
    requires std::is_arithmetic_v<U>
struct step_binding<T, binding<N, U>> {
    using type = binding<N, T>;
};
template <class T, auto N, class U, bool G>
struct step_binding<T, binding<N, sequence_view<U, G>>> {
    using type = binding<N, T>;
};
template <class T, class B>
constexpr auto to_step_binding(const B& b) {
    using SB = typename step_binding<T, B>::type;
    if constexpr (is_sequence_v<typename B::value_type>) {
        return SB{T{}};
    } else if constexpr (std::is_arithmetic_v<typename B::value_type>) {
        return SB{static_cast<T>(b.value)};
    } else {
        return b;
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
template <class T, class L>
struct gradient_of;
template <class T, class... Vs>
struct gradient_of<T, tlist<Vs...>> {
    using type = gradient<T, Vs...>;
};

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
    using SV = typename sequence_vars<false, B...>::type;
    using SG = typename sequence_vars<true, B...>::type;
    using PW = typename list_minus<typename list_minus<W, CV>::type, SV>::type;  // differentiated parameters
    using DW = typename list_cat<typename list_cat<CV, PW>::type, SG>::type;     // each step's wrt
    using wrt_type = typename as_wrt<DW>::type;
    using cur_type = std::tuple<typename step_binding<T, B>::type...>;

    static constexpr bool initial_ok = [] {
        return [&]<class... Vs>(tlist<Vs...>*) {
            return ((binding_index<Vs, B...>() != none) && ...);
        }(static_cast<CV*>(nullptr));
    }();
    static constexpr bool wrt_ok = [] {
        return [&]<class... Vs>(tlist<Vs...>*) { return (!contains_c<SV, Vs>::value && ...); }(static_cast<W*>(nullptr));
    }();
    static constexpr bool ok = (is_binding_v<B> && ...) && (has_final || has_running) && initial_ok && wrt_ok;
    static constexpr void check() {
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

template <class Plan, class... B>
struct scan_state {
    using T = typename Plan::T;
    static constexpr std::size_t m = Plan::m;
    typename Plan::cur_type cur;
    std::tuple<const B&...> orig;

    explicit scan_state(const B&... b) : cur(to_step_binding<T>(b)...), orig(b...) {}

    /// Bind the carried variables to s[0..m) and the sequences to their values at step t.
    void set(const T* s, std::size_t t) {
        [&]<class... Vs>(tlist<Vs...>*) {
            std::size_t j = 0;
            ((std::get<binding_index<Vs, B...>()>(cur).value = s[j++]), ...);
        }(static_cast<typename Plan::CV*>(nullptr));
        [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            (
                [&] {
                    using BV = typename std::tuple_element_t<Is, std::tuple<B...>>::value_type;
                    if constexpr (is_sequence_v<BV>) {
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
    std::array<T, m> initial() const {
        std::array<T, m> s{};
        [&]<class... Vs>(tlist<Vs...>*) {
            std::size_t j = 0;
            ((s[j++] = static_cast<T>(std::get<binding_index<Vs, B...>()>(orig).value)), ...);
        }(static_cast<typename Plan::CV*>(nullptr));
        return s;
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
                    msg += " values, fewer than the ";
                    msg += std::to_string(count);
                    msg += " steps";
                    throw std::invalid_argument(msg);
                }
                if constexpr (B::value_type::has_grad) {
                    if (b.value.gn != b.value.n) {
                        std::string msg = "etgrad::scan: ";
                        msg += B::name;
                        msg += ".grad_into(out): out has ";
                        msg += std::to_string(b.value.gn);
                        msg += " values, the sequence ";
                        msg += std::to_string(b.value.n);
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
    constexpr std::size_t m = P::m;
    constexpr std::size_t K = P::K;
    constexpr std::size_t KK = K == 0 ? 1 : K;
    std::size_t n = scan_checked_count(o.n, P::is_while, b...);
    if constexpr (P::is_while) {
        const std::size_t lim = scan_sequence_limit(b...);
        n = n < lim ? n : lim;
    }
    const auto F = o.step.next();
    scan_state<P, B...> st(b...);
    std::array<T, m> s = st.initial();

    // Forward: the states (every one, or every K-th), the count (while), the running sum. Into
    // the caller's workspace when one is given (sized for n steps: a while loop's max_steps), else
    // into memory allocated here (a while loop's grows with the steps taken).
    const std::size_t states = K == 0 ? (n + 1) * m : ((n + K - 1) / K + 1) * m;
    const bool given = o.ws != nullptr;
    if (given) {
        if constexpr (!std::is_same_v<T, double>) {
            throw std::invalid_argument("etgrad::scan(...).workspace(w): w holds doubles; this loop runs in float");
        }
        const std::size_t need = scan_workspace_size(Policy{}, n, m);
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
    auto keep = [&](std::size_t t, const std::array<T, m>& x) {
        if (Grad && t % KK == 0) {
            if (given) {
                std::copy(x.begin(), x.end(), given_ws + t / KK * m);
            } else if constexpr (P::is_while) {
                own.insert(own.end(), x.begin(), x.end());
            } else {
                std::copy(x.begin(), x.end(), own.begin() + static_cast<std::ptrdiff_t>(t / KK * m));
            }
        }
    };
    T value = T(0);
    keep(0, s);
    std::size_t count = 0;
    for (; count < n; ++count) {
        st.set(s.data(), count);
        if constexpr (P::is_while) {
            if (!static_cast<bool>(st.call(o.cond))) {
                break;
            }
        }
        s = st.call(F);
        if constexpr (P::has_running) {
            st.set(s.data(), count);
            value = value + static_cast<T>(st.call(o.running_e));
        }
        keep(count + 1, s);
    }
    // The final objective (it sees the last step's inputs).
    st.set(s.data(), count == 0 ? 0 : count - 1);
    using G = typename gradient_of<T, typename P::DW>::type;
    G adj{};
    if constexpr (P::has_final) {
        if constexpr (Grad) {
            auto r = st.call([&](const auto&... cb) { return value_and_grad(o.final_e, typename P::wrt_type{}, cb...); });
            value = value + static_cast<T>(r.value);
            adj = r.grad;
        } else {
            value = value + static_cast<T>(st.call(o.final_e));
        }
    }
    if constexpr (!Grad) {
        return value;
    } else {
        // Backward. adj holds the adjoints of the carried state (first m), of the parameters
        // (next np), and of the sequences given grad_into (last), in P::DW's order.
        constexpr std::size_t np = P::PW::size;
        std::array<T, m> sbar{};
        std::array<T, np + 1> pbar{};
        for (std::size_t j = 0; j < m; ++j) {
            sbar[j] = adj.values[j];
        }
        for (std::size_t j = 0; j < np; ++j) {
            pbar[j] = adj.values[m + j];
        }
        // d/du_t: written to each grad_into output (zero where no step read it).
        auto each_seq_out = [&](auto&& f) {
            [&]<class... Us>(tlist<Us...>*) {
                std::size_t q = m + np;
                (f(std::get<binding_index<Us, B...>()>(st.orig).value.gptr, q++), ...);
            }(static_cast<typename P::SG*>(nullptr));
        };
        each_seq_out([&](auto* g, std::size_t q) {
            const std::size_t len = [&]<class... Us>(tlist<Us...>*) {
                std::size_t k = m + np, r = 0;
                ((r = (k++ == q ? std::get<binding_index<Us, B...>()>(st.orig).value.n : r)), ...);
                return r;
            }(static_cast<typename P::SG*>(nullptr));
            std::fill(g, g + len, static_cast<std::remove_pointer_t<decltype(g)>>(0));
            if (count > 0 && P::has_final) {
                g[count - 1] = static_cast<std::remove_pointer_t<decltype(g)>>(adj.values[q]);
            }
        });
        auto back = [&](std::size_t t, const T* x, const T* y) {
            if constexpr (P::has_running) {
                st.set(y, t);
                auto r = st.call(
                    [&](const auto&... cb) { return value_and_grad(o.running_e, typename P::wrt_type{}, cb...); });
                for (std::size_t j = 0; j < m; ++j) {
                    sbar[j] = sbar[j] + r.grad.values[j];
                }
                for (std::size_t j = 0; j < np; ++j) {
                    pbar[j] = pbar[j] + r.grad.values[m + j];
                }
                each_seq_out([&](auto* g, std::size_t q) { g[t] = g[t] + r.grad.values[q]; });
            }
            st.set(x, t);
            auto r = st.call([&](const auto&... cb) { return vjp(F, sbar, typename P::wrt_type{}, cb...); });
            for (std::size_t j = 0; j < m; ++j) {
                sbar[j] = r.grad.values[j];
            }
            for (std::size_t j = 0; j < np; ++j) {
                pbar[j] = pbar[j] + r.grad.values[m + j];
            }
            each_seq_out([&](auto* g, std::size_t q) { g[t] = g[t] + r.grad.values[q]; });
        };
        const T* const ws = given ? given_ws : own.data();
        if constexpr (K == 0) {
            for (std::size_t t = count; t-- > 0;) {
                back(t, ws + t * m, ws + (t + 1) * m);
            }
        } else {
            // Each segment of K steps from its checkpoint: recompute its states, then go back.
            // (The segment's states follow the checkpoints in a given workspace.)
            std::vector<T> seg_own(given ? 0 : (K + 1) * m);
            T* const seg = given ? given_ws + states : seg_own.data();
            for (std::size_t j = (count + K - 1) / K; j-- > 0;) {
                const std::size_t a = j * K, e = a + K < count ? a + K : count;
                std::copy(ws + j * m, ws + (j + 1) * m, seg);
                for (std::size_t t = a; t < e; ++t) {
                    st.set(seg + (t - a) * m, t);
                    const auto y = st.call(F);
                    std::copy(y.begin(), y.end(), seg + (t - a + 1) * m);
                }
                for (std::size_t t = e; t-- > a;) {
                    back(t, seg + (t - a) * m, seg + (t - a + 1) * m);
                }
            }
        }
        typename gradient_of<T, W>::type g{};
        [&]<class... Vs>(tlist<Vs...>*) {
            std::size_t i = 0;
            (
                [&] {
                    if constexpr (contains_c<typename P::CV, Vs>::value) {
                        g.values[i] = sbar[index_in<typename P::CV, Vs>::value];
                    } else {
                        g.values[i] = pbar[index_in<typename P::PW, Vs>::value];
                    }
                    ++i;
                }(),
                ...);
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
    constexpr std::size_t m = P::m;
    std::size_t n = scan_checked_count(o.n, P::is_while, b...);
    if constexpr (P::is_while) {
        const std::size_t lim = scan_sequence_limit(b...);
        n = n < lim ? n : lim;
    }
    const auto F = o.step.next();
    scan_state<P, B...> st(b...);
    std::array<T, m> s = st.initial();
    // The state's tangent starts as the direction's entries for the carried variables.
    using CV = typename P::CV;
    std::array<T, m> ds{};
    [&]<class... Vs>(tlist<Vs...>*) {
        std::size_t j = 0;
        (
            [&] {
                constexpr std::size_t i = binding_index<Vs, TB...>();
                if constexpr (i != none) {
                    ds[j] = static_cast<T>(tget<i>(dir.bs).value);
                }
                ++j;
            }(),
            ...);
    }(static_cast<CV*>(nullptr));
    // Each step's direction: the carried variables' tangents, then the direction's other entries.
    using others = typename list_minus<tlist<typename TB::variable...>, CV>::type;
    auto step_dir = [&]<class... Vs, class... Os>(tlist<Vs...>*, tlist<Os...>*) {
        return tangent((Vs{} = ds[index_in<CV, Vs>::value])...,
                       (Os{} = static_cast<T>(tget<binding_index<Os, TB...>()>(dir.bs).value))...);
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
        auto r = st.call([&](const auto&... cb) { return jvp(F, d, cb...); });
        for (std::size_t j = 0; j < m; ++j) {
            s[j] = r.value[j];
            ds[j] = r.tangent[j];
        }
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
auto value_and_grad(const scan_objective<Policy, C, Cond, Final, Running>& o, wrt_t<Vs...>, const B&... b) {
    static_assert(sizeof...(Vs) > 0, "etgrad: value_and_grad of a loop: say what to differentiate, eg::wrt(...)");
    return detail::scan_run<true, detail::tlist<Vs...>>(o, b...);
}
/// Without eg::wrt: every bound scalar variable that is not a sequence (the initial state and the
/// parameters), in the order of the bindings.
template <class Policy, class C, class Cond, class Final, class Running, class... B>
    requires(!detail::is_wrt_v<B> && ...)
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
