// etgrad/loop/data.hpp — loops inside data loops: one loop per sample, the samples in SIMD lanes.
//
//     constexpr auto cell = eg::carry(h = eg::tanh(eg::matvec(Wh, h) + eg::matvec(Wx, u) + b));
//     const auto rnn = eg::scan(cell, L).final(eg::nn::cross_entropy(eg::matvec(Wo, h) + bo, y));
//     auto [loss, g] = eg::value_and_grad(eg::mean(rnn), eg::wrt(Wh, Wx, b, Wo, bo),
//                                         h = h0, Wh = wh, Wx = wx, b = bb, Wo = wo, bo = c,
//                                         u = eg::sequences<3>(U, L),   // N samples × L steps × 3
//                                         y = labels);                  // N labels
//
// eg::mean(loop) and eg::sum(loop) reduce a loop objective over the samples of per-sample data:
// scalar data (`x0 = xs`), rows (`h = eg::rows<8>(H0)`: each sample's initial state), labels and
// per-sample sequences (`u = eg::sequences<F>(U, L)`: sample i's step t reads the row
// U[(i·L + t)·F .. + F)). Everything else (parameters, shared initial states, shared sequences
// `eg::sequence(us)`) is the same for every sample.
//
// How: the samples are taken W at a time (W: the lanes of the data's SIMD batch, 8 doubles with
// AVX-512); the loop runs once on batches, each lane one sample's loop (etgrad/loop.hpp with the
// batch as its number type: each step's forward and vector-Jacobian product are the body's
// compiled sweeps on batches). Parameters' adjoints are accumulated across the steps in batches,
// each lane a sample's; at the end of a block the lanes of the samples present are added in double.
// The last block is padded with its last sample, masked out of every sum and output. Blocks form
// chunks fixed by the number of samples alone, summed in chunk order: eg::par(n) gives the same
// bits for every n.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "../detail/thread_pool.hpp"
#include "../loop.hpp"
#include "../simd.hpp"
#include "../tensor/data.hpp"

namespace etgrad {

/// Per-sample sequences: N samples' sequences of L steps of F values (N×L×F row-major; F = 0 or
/// 1: one value per step for a scalar variable). Made by eg::sequences; `.grad_into(gU)` (as long
/// as U) receives the derivative with respect to each value.
template <class T, std::size_t F = 0, bool HasGrad = false>
struct sequences_view {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "etgrad::sequences(U, L): the values must be float or double");
    using value_type = T;
    static constexpr bool has_grad = HasGrad;
    static constexpr std::size_t width = F == 0 ? 1 : F;  ///< values per step
    const T* ptr = nullptr;
    std::size_t n = 0;    ///< the number of samples
    std::size_t len = 0;  ///< the steps of each sample's sequence
    T* gptr = nullptr;
    std::size_t gn = 0;  ///< the gradient output's length in values

    /// Each value's derivative goes to `out` (as long as U; the values of steps no loop read are
    /// set to zero).
    template <class R>
    constexpr sequences_view<T, F, true> grad_into(R&& out) const {
        static_assert(std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
                          std::is_same_v<std::remove_cv_t<std::ranges::range_value_t<R>>, T> &&
                          !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>,
                      "etgrad::sequences(U, L).grad_into(out): out must be a writable contiguous range of U's "
                      "element type");
        return {ptr, n, len, std::ranges::data(out), std::ranges::size(out)};
    }
};

/// `u = eg::sequences<F>(U, L)`: per sample, a sequence of L rows of F values, for the per-step
/// input u (F elements; eg::sequences(U, L) for a scalar u) of a loop reduced over the samples.
/// U holds N·L·F values (N samples, row-major). std::invalid_argument when L is 0 or U's length
/// is not a multiple of L·F.
template <std::size_t F = 0, class R>
constexpr auto sequences(R&& r, std::size_t len) {
    static_assert(std::ranges::contiguous_range<R> && std::ranges::sized_range<R>,
                  "etgrad::sequences(U, L): U must be a contiguous sized range (std::vector, std::span, ...)");
    using T = std::remove_cv_t<std::ranges::range_value_t<R>>;
    constexpr std::size_t w = F == 0 ? 1 : F;
    const std::size_t size = std::ranges::size(r);
    if (len == 0 || size % (len * w) != 0) {
        std::string m = "etgrad::sequences(U, L): ";
        if (len == 0) {
            m += "L = 0 (the number of samples would be unknown)";
        } else {
            m += "U has ";
            m += std::to_string(size);
            m += " values, not a multiple of L";
            m += w == 1 ? "" : " times the row width";
            m += " = ";
            m += std::to_string(len * w);
        }
        throw std::invalid_argument(m);
    }
    return sequences_view<T, F>{std::ranges::data(r), size / (len * w), len};
}

namespace detail {
/// Per-sample sequences bound to a variable of shape S (shape<> for a scalar one).
template <class T, bool HasGrad, class S>
struct sample_sequences {
    using etgrad_shape = S;
    using value_type = T;
    static constexpr bool has_grad = HasGrad;
    static constexpr std::size_t width = S::size;
    const T* ptr = nullptr;
    std::size_t n = 0;
    std::size_t len = 0;
    T* gptr = nullptr;
    std::size_t gn = 0;
};
template <class V>
inline constexpr bool is_sequences_view_v = false;
template <class T, std::size_t F, bool G>
inline constexpr bool is_sequences_view_v<sequences_view<T, F, G>> = true;
template <class V>
inline constexpr bool is_sample_sequences_v = false;
template <class T, bool G, class S>
inline constexpr bool is_sample_sequences_v<sample_sequences<T, G, S>> = true;

template <class T, std::size_t F, bool G>
struct bound<sequences_view<T, F, G>> {
    using type = sample_sequences<T, G, shape<>>;
};
template <class T, std::size_t F, bool G>
struct custom_bound<sequences_view<T, F, G>> : std::true_type {
    static constexpr sample_sequences<T, G, shape<>> make(const sequences_view<T, F, G>& v) {
        static_assert(F <= 1,
                      "etgrad: u = eg::sequences<F>(U, L) binds a shaped variable of F elements (eg::var<\"u\", "
                      "eg::shape<F>>); a scalar variable takes eg::sequences(U, L)");
        return {v.ptr, v.n, v.len, v.gptr, v.gn};
    }
};
template <class V, class S>
    requires is_sequences_view_v<std::remove_cvref_t<V>>
struct shaped_bound<V, S> {
    using D = std::remove_cvref_t<V>;
    static_assert(D::width == S::size,
                  "etgrad: a shaped variable u takes per-sample sequences of rows, u = eg::sequences<F>(U, L), F the "
                  "number of elements of u's shape");
    using type = sample_sequences<typename D::value_type, D::has_grad, S>;
    static constexpr type make(const D& v, std::string_view) { return {v.ptr, v.n, v.len, v.gptr, v.gn}; }
};
template <class T, bool G, class S>
struct scalar_value<sample_sequences<T, G, S>> {
    using type = T;
};
template <class T, bool G, class S>
inline constexpr bool loop_per_sample_v<sample_sequences<T, G, S>> = true;

/// A loop objective reduced over the samples (eg::mean(loop), eg::sum(loop)).
template <bool Mean, class O>
struct sample_scan {
    O loop;
    template <class... B>
    auto operator()(const B&... b) const;
};
template <class T>
inline constexpr bool is_sample_scan_v = false;
template <bool M, class O>
inline constexpr bool is_sample_scan_v<sample_scan<M, O>> = true;

/// The parts of a loop objective's type.
template <class O>
struct scan_parts;
template <class P, class C, class Cd, class F, class R>
struct scan_parts<scan_objective<P, C, Cd, F, R>> {
    template <class W, class... B>
    using plan = scan_plan<P, C, Cd, F, R, W, B...>;
    /// The expressions a step evaluates: the body's updates, the condition and the objectives.
    using expressions = typename list_cat<typename C::expressions, tlist<Cd, F, R>>::type;
};


template <>
struct fn1_extension<ops::mean_op> {
    template <class O>
        requires is_scan_objective_v<O>
    static constexpr sample_scan<true, O> apply(const O& o) {
        return {o};
    }
};
template <>
struct fn1_extension<ops::sum_op> {
    template <class O>
        requires is_scan_objective_v<O>
    static constexpr sample_scan<false, O> apply(const O& o) {
        return {o};
    }
};

/// The variables of a loop: those of its body's updates, condition and objectives, in that order
/// (a parameter store can be made of a loop, and bound to it).
template <class P, class C, class Cd, class F, class R>
struct all_vars_of<scan_objective<P, C, Cd, F, R>> {
    template <class L, class... Es>
    struct of;
    template <class... Ls>
    struct of<tlist<Ls...>> {
        using type = typename vars_in<typename lowered<Ls...>::list>::type;
    };
    template <class... Ls, class E0, class... Es>
    struct of<tlist<Ls...>, E0, Es...> {
        using type = typename of<std::conditional_t<std::is_same_v<E0, no_objective>, tlist<Ls...>, tlist<Ls..., E0>>,
                                 Es...>::type;
    };
    template <class L>
    struct from;
    template <class... Us>
    struct from<tlist<Us...>> {
        using type = typename of<tlist<>, Us..., Cd, F, R>::type;
    };
    using type = typename from<typename C::expressions>::type;
};
template <bool M, class O>
struct all_vars_of<sample_scan<M, O>> : all_vars_of<O> {};
template <class P, class C, class Cd, class F, class R>
inline constexpr bool is_model_v<scan_objective<P, C, Cd, F, R>> = true;
template <bool M, class O>
inline constexpr bool is_model_v<sample_scan<M, O>> = true;

/// The kinds of bound values in a loop over samples.
enum class sample_kind { shared, scalar_data, rows, labels, sequences };
template <class V>
constexpr sample_kind kind_of() {
    if constexpr (is_data_ref_v<V>) {
        return sample_kind::scalar_data;
    } else if constexpr (is_rows_ref_v<V>) {
        return sample_kind::rows;
    } else if constexpr (is_label_ref_v<V>) {
        return sample_kind::labels;
    } else if constexpr (is_sample_sequences_v<V>) {
        return sample_kind::sequences;
    } else {
        return sample_kind::shared;
    }
}
template <class B>
inline constexpr bool per_sample_v = kind_of<typename B::value_type>() != sample_kind::shared;
/// Per-sample bindings whose derivative is asked for (grad_into): scalar data and rows (the
/// sequences' derivatives come through the loop's own sequence outputs).
template <class B>
inline constexpr bool sample_grad_v = [] {
    using V = typename B::value_type;
    if constexpr (kind_of<V>() == sample_kind::scalar_data || kind_of<V>() == sample_kind::rows) {
        return V::has_grad;
    } else {
        return false;
    }
}();

/// The element type of the samples' batches: float when every per-sample value is float, else
/// double.
template <class... B>
constexpr bool all_float_samples() {
    bool any = false, all = true;
    (
        [&] {
            if constexpr (per_sample_v<B> && kind_of<typename B::value_type>() != sample_kind::labels) {
                any = true;
                all = all && std::is_same_v<typename B::value_type::value_type, float>;
            }
        }(),
        ...);
    return any && all;
}

template <bool Keep, class L, class... B>
struct filter_vars;
template <bool Keep, class... Ls>
struct filter_vars<Keep, tlist<Ls...>> {
    using type = tlist<Ls...>;
};
template <bool Keep, class... Ls, class B0, class... B>
struct filter_vars<Keep, tlist<Ls...>, B0, B...> {
    static constexpr bool take = Keep ? sample_grad_v<B0> : per_sample_v<B0>;
    using type = typename filter_vars<
        Keep, std::conditional_t<take, tlist<Ls..., typename B0::variable>, tlist<Ls...>>, B...>::type;
};
/// The per-sample variables, and those of them whose derivative goes to a grad_into output.
template <class... B>
using sample_vars_t = typename filter_vars<false, tlist<>, B...>::type;
template <class... B>
using sample_grad_vars_t = typename filter_vars<true, tlist<>, B...>::type;

/// A binding as one block of W samples sees it: per-sample values in the lanes of a Bt (rows: a
/// view of S::size batches; sequences: a view of L·F batches, step-major); shared ones unchanged.
template <class Bt, class B, sample_kind K = kind_of<typename B::value_type>()>
struct block_binding {
    using type = B;
    static constexpr std::size_t buffer = 0;  // batches of storage per block
    static constexpr std::size_t gbuffer = 0;
    static type make(const B& b, std::size_t, std::size_t, Bt*, Bt*) { return b; }
};
template <class Bt, auto N, class V>
struct block_binding<Bt, binding<N, V>, sample_kind::scalar_data> {
    using type = binding<N, Bt>;
    static constexpr std::size_t buffer = 0;
    static constexpr std::size_t gbuffer = 0;
    static type make(const binding<N, V>& b, std::size_t s0, std::size_t valid, Bt*, Bt*) {
        using E = typename Bt::value_type;
        alignas(Bt::arch_type::alignment()) E lanes[Bt::size];
        for (std::size_t l = 0; l < Bt::size; ++l) {
            lanes[l] = static_cast<E>(b.value.ptr[s0 + (l < valid ? l : valid - 1)]);
        }
        return {Bt::load_aligned(lanes)};
    }
};
template <class Bt, auto N, class V>
struct block_binding<Bt, binding<N, V>, sample_kind::labels> {
    using type = binding<N, Bt>;
    static constexpr std::size_t buffer = 0;
    static constexpr std::size_t gbuffer = 0;
    static type make(const binding<N, V>& b, std::size_t s0, std::size_t valid, Bt*, Bt*) {
        using E = typename Bt::value_type;
        alignas(Bt::arch_type::alignment()) E lanes[Bt::size];
        for (std::size_t l = 0; l < Bt::size; ++l) {
            lanes[l] = static_cast<E>(b.value.ptr[sample_row(b.value, s0 + (l < valid ? l : valid - 1))]);
        }
        return {Bt::load_aligned(lanes)};
    }
};
template <class Bt, auto N, class V>
struct block_binding<Bt, binding<N, V>, sample_kind::rows> {
    using S = typename V::etgrad_shape;
    using type = binding<N, param_ref<Bt, S>>;
    static constexpr std::size_t buffer = S::size;
    static constexpr std::size_t gbuffer = 0;
    static type make(const binding<N, V>& b, std::size_t s0, std::size_t valid, Bt* buf, Bt*) {
        using E = typename Bt::value_type;
        alignas(Bt::arch_type::alignment()) E lanes[Bt::size];
        for (std::size_t e = 0; e < S::size; ++e) {
            for (std::size_t l = 0; l < Bt::size; ++l) {
                const std::size_t row = sample_row(b.value, s0 + (l < valid ? l : valid - 1));
                lanes[l] = static_cast<E>(b.value.ptr[row * S::size + e]);
            }
            buf[e] = Bt::load_aligned(lanes);
        }
        return {param_ref<Bt, S>{buf}};
    }
};
template <class Bt, auto N, class V>
struct block_binding<Bt, binding<N, V>, sample_kind::sequences> {
    using S = typename V::etgrad_shape;
    static constexpr std::size_t w = S::size;
    using seq = std::conditional_t<S::rank == 0, sequence_view<Bt, V::has_grad>, shaped_sequence<Bt, V::has_grad, S>>;
    using type = binding<N, seq>;
    // (per step: w batches; the length is a run-time number, see the driver)
    static constexpr std::size_t buffer = w;
    static constexpr std::size_t gbuffer = V::has_grad ? w : 0;
    static type make(const binding<N, V>& b, std::size_t s0, std::size_t valid, Bt* buf, Bt* gbuf) {
        using E = typename Bt::value_type;
        const auto& v = b.value;
        alignas(Bt::arch_type::alignment()) E lanes[Bt::size];
        for (std::size_t t = 0; t < v.len; ++t) {
            for (std::size_t e = 0; e < w; ++e) {
                for (std::size_t l = 0; l < Bt::size; ++l) {
                    const std::size_t i = s0 + (l < valid ? l : valid - 1);
                    lanes[l] = static_cast<E>(v.ptr[(i * v.len + t) * w + e]);
                }
                buf[t * w + e] = Bt::load_aligned(lanes);
            }
        }
        return {seq{buf, v.len, gbuf, V::has_grad ? v.len * w : 0}};
    }
};

/// The number of samples: every per-sample value's, checked equal (and every grad_into output's
/// length): std::invalid_argument naming the variables otherwise, before anything is written.
template <class... B>
std::size_t loop_sample_count(const B&... b) {
    std::size_t n = 0;
    const char* first = nullptr;
    auto fail = [](std::string m) { throw std::invalid_argument("etgrad: a loop over samples: " + m); };
    (
        [&] {
            if constexpr (per_sample_v<B>) {
                const auto& v = b.value;
                if (first == nullptr) {
                    n = v.n;
                    first = B::name.data();
                } else if (v.n != n) {
                    fail(std::string(B::name) + " has " + std::to_string(v.n) + " samples, " + first + " " +
                         std::to_string(n));
                }
                constexpr sample_kind K = kind_of<typename B::value_type>();
                if constexpr (K == sample_kind::scalar_data || K == sample_kind::rows || K == sample_kind::sequences) {
                    if constexpr (B::value_type::has_grad) {
                        const std::size_t want = [&] {
                            if constexpr (K == sample_kind::scalar_data) {
                                return v.n;
                            } else if constexpr (K == sample_kind::rows) {
                                return v.total * B::value_type::etgrad_shape::size;
                            } else {
                                return v.n * v.len * B::value_type::width;
                            }
                        }();
                        if (v.gn != want) {
                            fail(std::string(B::name) + ".grad_into(out): out has " + std::to_string(v.gn) +
                                 " values, not " + std::to_string(want));
                        }
                    }
                }
            }
        }(),
        ...);
    return n;
}

template <class L>
struct sample_all_vars;
template <class... Vs>
struct sample_all_vars<tlist<Vs...>> {
    using type = tlist<Vs...>;
};

/// A flat double gradient (over L) into a record.
template <class L, class G>
void unflatten_gradient(const double* in, G& g) {
    if constexpr (requires { g.values; }) {
        for (std::size_t i = 0; i < g.values.size(); ++i) {
            g.values[i] = static_cast<rm<decltype(g.values[i])>>(in[i]);
        }
    } else {
        [&]<class... Vs>(tlist<Vs...>*) {
            [&]<std::size_t... Is>(std::index_sequence<Is...>) {
                (
                    [&] {
                        auto& e = g.template get<Is>();
                        constexpr std::size_t o = flat_layout<L>::off[Is];
                        if constexpr (Vs::shape_type::rank == 0) {
                            e = static_cast<rm<decltype(e)>>(in[o]);
                        } else {
                            for (std::size_t k = 0; k < Vs::shape_type::size; ++k) {
                                e.values[k] = static_cast<rm<decltype(e.values[k])>>(in[o + k]);
                            }
                        }
                    }(),
                    ...);
            }(std::index_sequence_for<Vs...>{});
        }(static_cast<L*>(nullptr));
    }
}

template <class V>
struct sample_scan_no_data {
    static_assert(sizeof(V) == 0,
                  "etgrad: eg::mean(loop) / eg::sum(loop) reduce a loop over samples: bind per-sample data (x = xs, "
                  "eg::rows<F>(X), labels, eg::sequences<F>(U, L)); without any, call the loop itself");
};

/// Every pick(z, label) of the loop's expressions with labels in range, the count not negative,
/// every per-sample sequence at least as long as the count (a while loop stops at their end):
/// std::invalid_argument before anything is computed or written.
template <class O, bool IsWhile, class... B>
void check_sample_loop(const O& loop, const B&... b) {
    if (loop.n < 0) {
        std::string m = IsWhile ? "etgrad::scan_while: max_steps = " : "etgrad::scan: n = ";
        m += std::to_string(loop.n);
        m += " is negative";
        throw std::invalid_argument(m);
    }
    const tup<B...> bs(b...);
    [&]<class... Es>(tlist<Es...>*) {
        (
            [&] {
                if constexpr (!std::is_same_v<Es, no_objective>) {
                    check_labels<typename lowered<Es>::list, B...>(bs);
                }
            }(),
            ...);
    }(static_cast<typename scan_parts<O>::expressions*>(nullptr));
    if constexpr (!IsWhile) {
        (
            [&] {
                if constexpr (kind_of<typename B::value_type>() == sample_kind::sequences) {
                    if (b.value.len < static_cast<std::size_t>(loop.n)) {
                        std::string m = "etgrad::scan: the per-sample sequences ";
                        m += B::name;
                        m += " have ";
                        m += std::to_string(b.value.len);
                        m += " steps, fewer than the loop's ";
                        m += std::to_string(loop.n);
                        throw std::invalid_argument(m);
                    }
                }
            }(),
            ...);
    }
}

/// The types of a loop over samples, and one block of W samples.
template <bool Grad, class W, class O, class... B>
struct sample_plan {
    using E = std::conditional_t<all_float_samples<B...>(), float, double>;
    using Bt = xsimd::batch<E>;
    static constexpr std::size_t lanes = Bt::size;
    using SV = sample_vars_t<B...>;
    using SGV = sample_grad_vars_t<B...>;
    using WR = typename list_minus<W, SV>::type;  // the record's variables
    using WB = typename list_cat<WR, SGV>::type;  // each block's
    using Plan = typename scan_parts<O>::template plan<WB, typename block_binding<Bt, B>::type...>;
    using G = typename gradient_of<E, WR, Plan::tensor>::type;
    using DL = flat_layout<WB>;
    static constexpr std::size_t ND = DL::size;
    static constexpr std::size_t NR = flat_layout<WR>::size;

    /// The batches of storage a block needs (rows, and the sequences' steps), and for the
    /// sequences' derivatives.
    static std::array<std::size_t, 2> buffers(const B&... b) {
        std::array<std::size_t, 2> r{};
        (
            [&] {
                using BB = block_binding<Bt, B>;
                if constexpr (kind_of<typename B::value_type>() == sample_kind::sequences) {
                    r[0] += BB::buffer * b.value.len;
                    r[1] += BB::gbuffer * b.value.len;
                } else {
                    r[0] += BB::buffer;
                }
            }(),
            ...);
        return r;
    }

    /// The samples present's sum of a batch, in double, lane by lane.
    static double lane_sum(const Bt& x, std::size_t valid) {
        alignas(Bt::arch_type::alignment()) E ln[lanes];
        x.store_aligned(ln);
        double s = 0.0;
        for (std::size_t l = 0; l < valid; ++l) {
            s += static_cast<double>(ln[l]);
        }
        return s;
    }

    /// One block: samples s0 .. s0 + valid (the rest of the lanes repeat the last one). Adds the
    /// value and the record's derivatives to acc (NR + 1 doubles, the value last); writes the
    /// per-sample derivatives (times scale) to the grad_into outputs.
    static void block(const O& loop, std::size_t s0, std::size_t valid, Bt* buf, Bt* gbuf, double* acc, double scale,
                      const B&... b) {
        Bt* bp = buf;
        Bt* gp = gbuf;
        auto make = [&](const auto& bi) {
            using BI = rm<decltype(bi)>;
            using BB = block_binding<Bt, BI>;
            Bt* mine = bp;
            Bt* gmine = gp;
            if constexpr (kind_of<typename BI::value_type>() == sample_kind::sequences) {
                bp += BB::buffer * bi.value.len;
                gp += BB::gbuffer * bi.value.len;
            } else {
                bp += BB::buffer;
            }
            return BB::make(bi, s0, valid, mine, gmine);
        };
        // (Braced: made in order.)
        const btup<typename block_binding<Bt, B>::type...> bb{make(b)...};
        if constexpr (!Grad) {
            const Bt v = [&]<std::size_t... Is>(std::index_sequence<Is...>) {
                return scan_run<false, tlist<>>(loop, tget<Is>(bb)...);
            }(std::index_sequence_for<B...>{});
            acc[NR] += lane_sum(v, valid);
        } else {
            const auto r = [&]<std::size_t... Is>(std::index_sequence<Is...>) {
                return scan_run<true, WB>(loop, tget<Is>(bb)...);
            }(std::index_sequence_for<B...>{});
            acc[NR] += lane_sum(r.value, valid);
            std::array<Bt, ND + 1> flat{};
            flatten_gradient<WB>(r.grad, flat.data());
            for (std::size_t j = 0; j < NR; ++j) {
                acc[j] += lane_sum(flat[j], valid);
            }
            scatter_samples(flat.data(), s0, valid, scale, std::tuple<const B&...>(b...),
                            static_cast<SGV*>(nullptr));
            Bt* gq = gbuf;
            (scatter_sequence(b, gq, s0, valid, scale), ...);
        }
    }
    /// Rows and scalar data given grad_into: their lanes to the outputs.
    template <class Tup, class... Vs>
    static void scatter_samples(const Bt* flat, std::size_t s0, std::size_t valid, double scale, const Tup& orig,
                                tlist<Vs...>*) {
        [[maybe_unused]] alignas(Bt::arch_type::alignment()) E ln[lanes];
        (void)flat, (void)s0, (void)valid, (void)scale, (void)orig;
        (
            [&] {
                const auto& v = std::get<binding_index<Vs, B...>()>(orig).value;
                const std::size_t o = DL::off[WR::size + index_in<SGV, Vs>::value];
                const std::size_t w = Vs::shape_type::size;
                for (std::size_t e = 0; e < w; ++e) {
                    flat[o + e].store_aligned(ln);
                    for (std::size_t l = 0; l < valid; ++l) {
                        v.gptr[sample_row(v, s0 + l) * w + e] =
                            static_cast<rm<decltype(v.gptr[0])>>(static_cast<double>(ln[l]) * scale);
                    }
                }
            }(),
            ...);
    }
    /// A per-sample sequence given grad_into: its block's derivatives to the output.
    template <class BI>
    static void scatter_sequence(const BI& bi, Bt*& gq, std::size_t s0, std::size_t valid, double scale) {
        if constexpr (kind_of<typename BI::value_type>() == sample_kind::sequences) {
            if constexpr (BI::value_type::has_grad) {
                alignas(Bt::arch_type::alignment()) E ln[lanes];
                const auto& v = bi.value;
                constexpr std::size_t w = BI::value_type::width;
                for (std::size_t t = 0; t < v.len; ++t) {
                    for (std::size_t e = 0; e < w; ++e) {
                        gq[t * w + e].store_aligned(ln);
                        for (std::size_t l = 0; l < valid; ++l) {
                            v.gptr[((s0 + l) * v.len + t) * w + e] =
                                static_cast<rm<decltype(v.gptr[0])>>(static_cast<double>(ln[l]) * scale);
                        }
                    }
                }
                gq += v.len * w;
            }
        }
    }
};

/// Value (and, when Grad, the gradient over W) of a loop reduced over the samples, on `threads`
/// threads.
template <bool Grad, class W, bool Mean, class O, class... B>
auto sample_scan_run(unsigned threads, const sample_scan<Mean, O>& ss, const B&... b) {
    using SP = sample_plan<Grad, W, O, B...>;
    using E = typename SP::E;
    using G = typename SP::G;
    using Bt = typename SP::Bt;
    constexpr std::size_t NR = SP::NR;
    static_assert(!SP::Plan::is_while,
                  "etgrad: eg::mean(eg::scan_while(...)) over samples is not provided (each sample would stop at its "
                  "own count); run a fixed count with eg::where in the body");
    if constexpr (SP::SV::size == 0) {
        (void)sample_scan_no_data<O>{};
        if constexpr (Grad) {
            return value_and_gradient<E, G>{};
        } else {
            return E(0);
        }
    } else {
        if (ss.loop.ws != nullptr) {
            throw std::invalid_argument(
                "etgrad: a loop over samples stores its states per chunk of samples; .workspace(w) is for one loop");
        }
        const std::size_t N = loop_sample_count(b...);
        check_sample_loop<O, SP::Plan::is_while>(ss.loop, b...);
        const std::size_t nb = (N + SP::lanes - 1) / SP::lanes;
        // Chunks of blocks fixed by N alone (at most 64), summed in order: the same bits on any
        // number of threads.
        const std::size_t per_chunk = nb <= 64 ? 1 : (nb + 63) / 64;
        const std::size_t nchunks = nb == 0 ? 0 : (nb + per_chunk - 1) / per_chunk;
        const auto sizes = SP::buffers(b...);
        std::vector<double> sums(nchunks * (NR + 1), 0.0);
        const double scale = Mean ? 1.0 / static_cast<double>(N) : 1.0;
        auto chunk = [&](std::size_t c) {
            std::vector<Bt> buf(sizes[0]), gbuf(sizes[1]);
            double* acc = sums.data() + c * (NR + 1);
            const std::size_t b1 = std::min(nb, (c + 1) * per_chunk);
            for (std::size_t blk = c * per_chunk; blk < b1; ++blk) {
                const std::size_t s0 = blk * SP::lanes;
                SP::block(ss.loop, s0, std::min(SP::lanes, N - s0), buf.data(), gbuf.data(), acc, scale, b...);
            }
        };
        if (threads <= 1 || nchunks <= 1) {
            for (std::size_t c = 0; c < nchunks; ++c) {
                chunk(c);
            }
        } else {
            parallel_blocks(threads, nchunks, chunk);
        }
        std::array<double, NR + 1> tot{};
        for (std::size_t c = 0; c < nchunks; ++c) {
            for (std::size_t j = 0; j <= NR; ++j) {
                tot[j] += sums[c * (NR + 1) + j];
            }
        }
        if constexpr (Mean) {
            // (The mean of no samples is 0 / 0: NaN, as in PyTorch.)
            for (std::size_t j = 0; j <= NR; ++j) {
                tot[j] /= static_cast<double>(N);
            }
        }
        if constexpr (!Grad) {
            return static_cast<E>(tot[NR]);
        } else {
            G g{};
            unflatten_gradient<typename SP::WR>(tot.data(), g);
            return value_and_gradient<E, G>{static_cast<E>(tot[NR]), g};
        }
    }
}

template <bool Mean, class O, class... B>
    requires(sizeof...(B) > 0)
struct sample_scan_default_wrt {
    using type = typename list_minus<
        typename list_minus<tlist<typename B::variable...>, typename sequence_vars<false, B...>::type>::type,
        sample_vars_t<B...>>::type;
};
}  // namespace detail

template <bool Mean, class O>
template <class... B>
auto detail::sample_scan<Mean, O>::operator()(const B&... b) const {
    return detail::sample_scan_run<false, detail::tlist<>>(1, *this, b...);
}

/// Value and gradient of a loop reduced over samples (eg::mean(loop), eg::sum(loop)) with respect
/// to eg::wrt(...): parameters and shared initial states (the per-sample values' derivatives go
/// to their grad_into outputs).
template <bool Mean, class O, class... Vs, class... B>
    requires(detail::is_binding_v<B> && ...)
auto value_and_grad(const detail::sample_scan<Mean, O>& s, wrt_t<Vs...>, const B&... b) {
    return detail::sample_scan_run<true, detail::tlist<Vs...>>(1, s, b...);
}
/// Without eg::wrt: every bound variable that is neither per-sample nor a sequence. (A parameter
/// store in place of the bindings: etgrad/nn/parameters.hpp's overloads, which come here.)
template <bool Mean, class O, class... B>
    requires(detail::is_binding_v<B> && ...)
auto value_and_grad(const detail::sample_scan<Mean, O>& s, const B&... b) {
    return detail::sample_scan_run<true, typename detail::sample_scan_default_wrt<Mean, O, B...>::type>(1, s, b...);
}
/// On threads: `eg::value_and_grad(eg::par, eg::mean(loop), ...)`, the same bits for any number.
template <bool Mean, class O, class... Vs, class... B>
    requires(detail::is_binding_v<B> && ...)
auto value_and_grad(par_t p, const detail::sample_scan<Mean, O>& s, wrt_t<Vs...>, const B&... b) {
    return detail::sample_scan_run<true, detail::tlist<Vs...>>(detail::thread_count(p), s, b...);
}
template <bool Mean, class O, class... B>
    requires(detail::is_binding_v<B> && ...)
auto value_and_grad(par_t p, const detail::sample_scan<Mean, O>& s, const B&... b) {
    return detail::sample_scan_run<true, typename detail::sample_scan_default_wrt<Mean, O, B...>::type>(
        detail::thread_count(p), s, b...);
}
}  // namespace etgrad
