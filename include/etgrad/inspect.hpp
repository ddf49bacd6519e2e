// etgrad/inspect.hpp — looking at graphs: grad_fn_name, is_leaf, children, variables, depends_on,
// to_string and to_dot (Graphviz text of the forward graph and of the backward graph).
#pragma once

#include <boost/hana/bool.hpp>
#include <boost/hana/core/when.hpp>
#include <boost/hana/equal.hpp>
#include <boost/hana/hash.hpp>
#include <boost/hana/set.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>
#include <bit>
#include <charconv>
#include <cstdint>
#include <string>

#include "derivative.hpp"
#include "eval.hpp"
#include "function.hpp"
#include "tensor/value.hpp"
#include "text.hpp"

// Variables are Hana-hashable, so that eg::variables(f) is a hana::set of variables.
namespace boost::hana {
template <>
struct hash_impl<etgrad::detail::var_tag> {
    template <class V>
    static constexpr auto apply(const V&) {
        return hana::type_c<V>;
    }
};
template <>
struct equal_impl<etgrad::detail::var_tag, etgrad::detail::var_tag> {
    template <class A, class B>
    static constexpr auto apply(const A&, const B&) {
        return hana::bool_c<std::is_same_v<A, B>>;
    }
};
}  // namespace boost::hana

namespace etgrad {
namespace detail {
template <class Op>
struct backward_name {
    static constexpr std::string_view base = Op::name;
    static constexpr std::string_view suffix = "Backward";
    static constexpr auto chars = [] {
        std::array<char, base.size() + suffix.size()> r{};
        std::copy(base.begin(), base.end(), r.begin());
        std::copy(suffix.begin(), suffix.end(), r.begin() + base.size());
        return r;
    }();
    static constexpr std::string_view value{chars.data(), chars.size()};
};

template <class E>
struct is_leaf_c : std::bool_constant<!is_node_c<E>::value> {};
template <class E>
struct is_leaf_c<basic_node<ops::detach_op, E>> : std::true_type {};
}  // namespace detail

/// PyTorch's grad_fn name of f's root: "MulBackward", "SinBackward", ...; "" for a leaf (a variable,
/// a constant, a detached value) and for a condition, which have no grad_fn.
template <Expr F>
constexpr std::string_view grad_fn_name([[maybe_unused]] const F& f) {
    if constexpr (detail::is_closure_c<F>::value) {
        return grad_fn_name(f.e);
    } else if constexpr (detail::is_leaf_c<F>::value || detail::is_condition_c<F>::value) {
        return {};
    } else {
        return detail::backward_name<typename F::op>::value;
    }
}

/// True for variables, constants and detached values (PyTorch's is_leaf).
template <Expr F>
constexpr bool is_leaf(const F&) {
    if constexpr (detail::is_closure_c<F>::value) {
        return detail::is_leaf_c<typename F::inner>::value;
    } else {
        return detail::is_leaf_c<F>::value;
    }
}

/// The children of f's root as a hana::tuple (PyTorch's next_functions, as expressions).
template <Expr F>
constexpr auto children(const F& f) {
    if constexpr (detail::is_closure_c<F>::value) {
        return [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            return boost::hana::make_tuple(detail::close_over(f.e.template child<Is>(), f.c)...);
        }(std::make_index_sequence<detail::arity_c<typename F::inner>::value>{});
    } else if constexpr (detail::is_node_c<F>::value) {
        return [&]<std::size_t... Is>(std::index_sequence<Is...>) {
            return boost::hana::make_tuple(f.template child<Is>()...);
        }(std::make_index_sequence<detail::arity_c<F>::value>{});
    } else {
        return boost::hana::make_tuple();
    }
}

/// The variables f reads, as a hana::set of variables.
template <Expr F>
constexpr auto variables(const F&) {
    return []<class... Vs>(detail::tlist<Vs...>*) {
        return boost::hana::make_set(Vs{}...);
    }(static_cast<detail::all_vars_t<F>*>(nullptr));
}

/// Does f depend on the variable x? (PyTorch's requires_grad contagion, at compile time.)
template <Expr F, class X>
constexpr bool depends_on(const F&, const X&) {
    static_assert(detail::is_var_c<X>::value, "etgrad::depends_on(f, x) requires x to be a variable");
    return detail::contains_c<detail::all_vars_t<F>, X>::value;
}

// ---------------------------------------------------------------------------------------------
namespace detail {
/// Decimal digits of v into buf (no terminator); returns the length. (Character buffers: libstdc++
/// 12's std::string supports few operations in constant expressions.)
constexpr int put_int(char* buf, unsigned long long v) {
    char tmp[24]{};
    int n = 0;
    do {
        tmp[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (int i = 0; i < n; ++i) {
        buf[i] = tmp[n - 1 - i];
    }
    return n;
}
constexpr text int_text(long long v) {
    char buf[24]{};
    int n = 0;
    if (v < 0) {
        buf[n++] = '-';
    }
    n += put_int(buf + n, v < 0 ? 0ull - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v));
    return text(std::string_view(buf, static_cast<std::size_t>(n)));
}

/// std::to_chars(v) (the shortest text that reads back as v; fixed or scientific, whichever is
/// shorter, fixed on a tie) in a constant expression. The shortest digits N 10^j are verified
/// exactly where N < 2^53 and |j| <= 22 (N and 10^j are exact doubles and one IEEE operation rounds
/// N 10^j correctly), elsewhere in long double with a margin: then the text reads back as v but
/// may have more digits than std::to_chars's (at most 17; a test compares the two).
constexpr text number_text_cx(double v) {
    if (v != v) {
        return text("nan");
    }
    char out[64]{};
    int len = 0;
    const bool neg = (std::bit_cast<std::uint64_t>(v) >> 63) != 0;
    const double a = neg ? -v : v;
    if (neg) {
        out[len++] = '-';
    }
    if (a == std::numeric_limits<double>::infinity() || a == 0) {
        for (char c : std::string_view(a == 0 ? "0" : "inf")) {
            out[len++] = c;
        }
        return text(std::string_view(out, static_cast<std::size_t>(len)));
    }
    auto p10 = [](int e) {  // 10^e by squaring: exact for 0 <= e <= 27, else a few roundings
        long double r = 1, b = 10;
        for (int k = e < 0 ? -e : e; k != 0; k >>= 1) {
            if ((k & 1) != 0) {
                r *= b;
            }
            b *= b;
        }
        return e < 0 ? 1 / r : r;
    };
    int e10 = 0;  // a in [10^e10, 10^(e10+1))
    while (p10(e10 + 1) <= a) {
        ++e10;
    }
    while (p10(e10) > a) {
        --e10;
    }
    unsigned long long n = 0;
    int j = 0;
    for (int p = 1; p <= 17; ++p) {
        j = e10 - p + 1;
        const long double scaled = static_cast<long double>(a) / p10(j);
        n = static_cast<unsigned long long>(scaled);
        const long double frac = scaled - static_cast<long double>(n);
        if (frac > 0.5L || (frac == 0.5L && n % 2 != 0)) {  // nearest, ties to even
            ++n;
        }
        if (n < (1ull << 53) && j >= -22 && j <= 22) {
            const double back = j >= 0 ? static_cast<double>(n) * static_cast<double>(p10(j))
                                       : static_cast<double>(n) / static_cast<double>(p10(-j));
            if (back == a) {
                break;
            }
        } else {
            // Checked in long double (10^j by squaring: relative error below 2^-60), with a
            // margin for that rounding: within 15/32 ulp of a (a round trip needs 1/2).
            const long double back = static_cast<long double>(n) * p10(j);
            const long double err = back > a ? back - a : a - back;
            const double down = std::bit_cast<double>(std::bit_cast<std::uint64_t>(a) - 1);
            if (err <= (a - static_cast<long double>(down)) * 15 / 32) {
                break;
            }
        }
    }
    while (n >= 10 && n % 10 == 0) {  // a carry of the rounding, or the 17-digit fallback
        n /= 10;
        ++j;
    }
    char d[24]{};
    const int nd = put_int(d, n);
    // fixed
    char fx[400]{};
    int fl = 0;
    if (j >= 0) {
        for (int i = 0; i < nd; ++i) {
            fx[fl++] = d[i];
        }
        for (int i = 0; i < j && fl < 399; ++i) {
            fx[fl++] = '0';
        }
    } else if (nd > -j) {
        for (int i = 0; i < nd; ++i) {
            if (i == nd + j) {
                fx[fl++] = '.';
            }
            fx[fl++] = d[i];
        }
    } else {
        fx[fl++] = '0';
        fx[fl++] = '.';
        for (int i = 0; i < -j - nd && fl < 390; ++i) {
            fx[fl++] = '0';
        }
        for (int i = 0; i < nd; ++i) {
            fx[fl++] = d[i];
        }
    }
    // scientific
    char sc[40]{};
    int sl = 0;
    const int exp10 = j + nd - 1;
    sc[sl++] = d[0];
    if (nd > 1) {
        sc[sl++] = '.';
        for (int i = 1; i < nd; ++i) {
            sc[sl++] = d[i];
        }
    }
    sc[sl++] = 'e';
    sc[sl++] = exp10 < 0 ? '-' : '+';
    const int ae = exp10 < 0 ? -exp10 : exp10;
    if (ae < 10) {
        sc[sl++] = '0';
    }
    sl += put_int(sc + sl, static_cast<unsigned long long>(ae));
    const bool use_sci = sl < fl;
    if (!use_sci && j > 0) {
        // An integer printed in fixed notation: std::to_chars writes its exact digits, not the
        // shortest ones padded with zeros. a = m 2^e (e >= 0 here); digits by repeated doubling.
        const std::uint64_t bits = std::bit_cast<std::uint64_t>(a);
        std::uint64_t m = (bits & ((std::uint64_t{1} << 52) - 1)) | (std::uint64_t{1} << 52);
        int e = static_cast<int>(bits >> 52) - 1075;
        while (e < 0) {  // an integer: the low bits of m are zeros
            m >>= 1;
            ++e;
        }
        char dig[400]{};  // little-endian decimal digits
        int nd2 = 0;
        for (; m != 0; m /= 10) {
            dig[nd2++] = static_cast<char>(m % 10);
        }
        for (; e > 0; --e) {
            int carry = 0;
            for (int i = 0; i < nd2; ++i) {
                const int t = dig[i] * 2 + carry;
                dig[i] = static_cast<char>(t % 10);
                carry = t / 10;
            }
            if (carry != 0) {
                dig[nd2++] = static_cast<char>(carry);
            }
        }
        fl = 0;
        for (int i = nd2 - 1; i >= 0; --i) {
            fx[fl++] = static_cast<char>('0' + dig[i]);
        }
    }
    for (int i = 0; i < (use_sci ? sl : fl); ++i) {
        out[len++] = use_sci ? sc[i] : fx[i];
    }
    return text(std::string_view(out, static_cast<std::size_t>(len)));
}

constexpr text number_text(double v) {
    if (std::is_constant_evaluated()) {
        return number_text_cx(v);
    }
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    return text(std::string_view(buf, static_cast<std::size_t>(res.ptr - buf)));
}

/// A named constant's name ("2/sqrt(pi)"), for to_string and to_dot.
template <class T>
struct nconst_name_c {
    static constexpr bool value = false;
};
template <class Tag>
struct nconst_name_c<nconst<Tag>> {
    static constexpr bool value = true;
    static constexpr std::string_view name = Tag::name;
};

template <class Op>
constexpr int prec_of() {
    if constexpr (requires { Op::prec; }) {
        return Op::prec;
    } else {
        return 10;
    }
}
template <class E>
constexpr int expr_prec() {
    if constexpr (is_node_c<E>::value) {
        if constexpr (std::is_same_v<typename E::op, ops::neg_op>) {
            return 3;
        } else {
            return prec_of<typename E::op>();
        }
    } else if constexpr (is_cc_c<E>::value) {
        return E::den == 1 && E::num >= 0 ? 10 : 2;
    } else if constexpr (nconst_name_c<E>::value) {
        return 2;  // "2/sqrt(pi)" reads as a quotient: x / (2/sqrt(pi))
    } else {
        return 10;
    }
}

/// Concatenate by appending.
template <class... P>
constexpr text cat(const P&... parts) {
    text r;
    ((r += std::string_view(parts)), ...);
    return r;
}

/// The number of children to_string shows: all but an op's hidden helpers (ops::bce_logits_op's
/// shared e^-|z|).
template <class Op, std::size_t N>
constexpr std::size_t shown_arity() {
    if constexpr (requires { Op::shown_arity; }) {
        return Op::shown_arity;
    } else {
        return N;
    }
}

template <class E>
constexpr text to_string_impl(const E& e, const double* consts = nullptr) {
    if constexpr (is_closure_c<E>::value) {
        return to_string_impl(e.e, e.c.data());
    } else if constexpr (is_var_c<E>::value) {
        return text(E::name);
    } else if constexpr (is_cc_c<E>::value) {
        if constexpr (E::den != 1) {
            return cat(int_text(E::num), "/", int_text(E::den));
        } else {
            return int_text(E::num);
        }
    } else if constexpr (std::is_same_v<E, rconst>) {
        return number_text(e.v);
    } else if constexpr (is_node_c<E>::value) {
        using Op = typename E::op;
        auto arg = [&]<std::size_t I>(std::integral_constant<std::size_t, I>, int min_prec) {
            using C = rm<decltype(e.template child<I>())>;
            text s = to_string_impl(e.template child<I>(), consts);
            if (expr_prec<C>() < min_prec) {
                return cat("(", s, ")");
            }
            return s;
        };
        using I0 = std::integral_constant<std::size_t, 0>;
        using I1 = std::integral_constant<std::size_t, 1>;
        if constexpr (std::is_same_v<Op, ops::neg_op>) {
            return cat("-", arg(I0{}, 3));
        } else if constexpr (requires { Op::exponent; }) {
            return cat("pow(", arg(I0{}, 0), ", ", int_text(Op::exponent), ")");
        } else if constexpr (requires { Op::sym; }) {
            constexpr int p = Op::prec;
            // left-associative: the right operand needs parentheses at equal precedence
            return cat(arg(I0{}, p), " ", std::string_view(Op::sym), " ", arg(I1{}, p + 1));
        } else {
            text s = cat(std::string_view(Op::fn), "(");
            [&]<std::size_t... Is>(std::index_sequence<Is...>) {
                ((s += (Is == 0 ? "" : ", "), s += arg(std::integral_constant<std::size_t, Is>{}, 0)), ...);
            }(std::make_index_sequence<shown_arity<Op, arity_c<E>::value>()>{});
            s += ")";
            return s;
        }
    } else if constexpr (nconst_name_c<E>::value) {
        return text(nconst_name_c<E>::name);
    } else {
        return [&]<std::size_t J>(rc<J>*) {
            return consts != nullptr ? number_text(consts[J]) : cat("c", int_text(J));
        }(static_cast<E*>(nullptr));
    }
}
}  // namespace detail

/// f in infix notation, e.g. "sin(x * x) + exp(y) / x"; usable in constant expressions on GCC and
/// Clang (`static_assert(eg::to_string(x * x) == "x * x")`). The result is an eg::text, which
/// converts to std::string and std::string_view (see text.hpp for why it is not a std::string).
template <Expr F>
constexpr text to_string(const F& f) {
    return detail::to_string_impl(f);
}

namespace detail {
template <class N>
std::string dot_label(const double* consts) {
    if constexpr (is_var_c<N>::value) {
        return std::string(N::name);
    } else if constexpr (is_cc_c<N>::value) {
        return to_string_impl(N{});
    } else if constexpr (is_node_c<N>::value) {
        using Op = typename N::op;
        if constexpr (std::is_same_v<Op, ops::neg_op>) {
            return "neg";
        } else if constexpr (requires { Op::exponent; }) {
            return cat("pow ", std::to_string(Op::exponent));
        } else if constexpr (requires { Op::sym; }) {
            return std::string(std::string_view(Op::sym));
        } else {
            return std::string(std::string_view(Op::fn));
        }
    } else if constexpr (nconst_name_c<N>::value) {
        return std::string(nconst_name_c<N>::name);
    } else {
        return [&]<std::size_t J>(rc<J>*) { return number_text(consts[J]); }(static_cast<N*>(nullptr));
    }
}
/// The shapes of a node, for its label: a structured operation's operands and result
/// ("\n32×64 · 64 → 32", as matvec W x; "scalar" for a scalar), another shaped node's shape
/// ("\n32×64"); empty for a scalar elementwise node or leaf.
template <class N>
struct dot_shapes {
    static std::string get() {
        using S = shape_of_t<N>;
        return S::rank == 0 ? std::string() : "\\n" + shape_text<S>();
    }
};
template <class Op, class... Bs>
    requires requires { Op::structured; }
struct dot_shapes<basic_node<Op, Bs...>> {
    static std::string get() {
        std::string r = "\\n";
        std::size_t k = 0;
        ((r += (k++ ? " · " : "") + shape_text<shape_of_t<unbox_t<Bs>>>()), ...);
        return r + " → " + shape_text<shape_of_t<basic_node<Op, Bs...>>>();
    }
};
template <class N>
std::string dot_shape() {
    return dot_shapes<N>::get();
}
}  // namespace detail

/// Graphviz text of f: the forward graph (one node per distinct subexpression, edges from inputs
/// to operations) and the backward graph (grad_fn nodes, edges towards the variables' AccumulateGrad),
/// like the diagrams of autograd lecture notes. `dot -Tpng` renders it.
template <Expr F>
std::string to_dot(const F& f, std::string_view title = "etgrad") {
    using Low = detail::lowered<F>;
    using L = typename Low::list;
    using G = detail::graph<L>;
    Low low(f);
    std::string out = detail::cat("digraph \"", title, "\" {\n  rankdir=BT;\n  node [fontname=\"Helvetica\"];\n");
    out += "  subgraph cluster_forward {\n    label=\"forward graph\";\n";
    [&]<class... Ns>(detail::tlist<Ns...>*) {
        std::size_t i = 0;
        const int order[] = {0, (
            [&] {
                const bool leaf = detail::is_leaf_c<Ns>::value && !detail::is_node_c<Ns>::value;
                out += detail::cat("    f", std::to_string(i), " [label=\"", detail::dot_label<Ns>(low.consts.data()) + detail::dot_shape<Ns>(),
                                   "\", shape=", leaf ? (detail::is_var_c<Ns>::value ? "ellipse" : "plaintext") : "box", "];\n");
                ++i;
            }(),
            0)...};
        (void)order;
    }(static_cast<L*>(nullptr));
    for (std::size_t i = 0; i < G::size; ++i) {
        for (std::size_t s = 0; s < G::info[i].arity; ++s) {
            out += detail::cat("    f", std::to_string(G::info[i].child[s]), " -> f", std::to_string(i), ";\n");
        }
    }
    out += "  }\n  subgraph cluster_backward {\n    label=\"backward graph\";\n";
    using W = typename detail::vars_in<L>::type;
    // Only the nodes an adjoint reaches from the root (not, e.g., what sits under a detach).
    using plan = detail::reverse_plan<G, W, Low::root_index>;
    constexpr auto active = [] {
        std::array<bool, G::size> a{};
        for (std::size_t i = 0; i < G::size; ++i) {
            a[i] = plan::active[i] && plan::first[i] != detail::none;
        }
        return a;
    }();
    [&]<class... Ns>(detail::tlist<Ns...>*) {
        std::size_t i = 0;
        const int order[] = {0, (
            [&] {
                if (active[i]) {
                    std::string label;
                    if constexpr (detail::is_var_c<Ns>::value) {
                        label = detail::cat("AccumulateGrad\\n", Ns::name);
                    } else if constexpr (detail::is_node_c<Ns>::value) {
                        label = std::string(detail::backward_name<typename Ns::op>::value);
                    }
                    out += detail::cat("    b", std::to_string(i), " [label=\"", label, "\", shape=",
                                       detail::is_var_c<Ns>::value ? "note" : "box", "];\n");
                }
                ++i;
            }(),
            0)...};
        (void)order;
    }(static_cast<L*>(nullptr));
    for (std::size_t i = G::size; i-- > 0;) {
        if (!active[i]) {
            continue;
        }
        for (std::size_t s = 0; s < G::info[i].arity; ++s) {
            std::size_t ch = G::info[i].child[s];
            if (G::info[i].diff[s] && active[ch]) {
                out += detail::cat("    b", std::to_string(i), " -> b", std::to_string(ch), ";\n");
            }
        }
    }
    out += "  }\n}\n";
    return out;
}

}  // namespace etgrad
