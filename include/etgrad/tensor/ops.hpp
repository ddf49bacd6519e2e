// etgrad/tensor/ops.hpp — the structured tensor operations: dot, matvec, matmul, outer, transpose,
// element access, reductions over elements (sum, mean, max, logsumexp), softmax, log_softmax and
// pick. Each is one graph node whatever its size: a shape rule (checked when the node is built), a
// forward kernel, a vector-Jacobian kernel per child and a Jacobian-vector kernel per child, all
// loops over compile-time bounds (never a Jacobian, never unrolled per element). The kernels are
// generic over the element types of their operands (float, double, SIMD batches with one sample
// per lane), so the same code runs in scalar calls and in the data loops.
#pragma once

#include "value.hpp"

namespace etgrad {
namespace detail {
/// The element type of a value slot (an array or a view).
template <class A>
using elem_t = rm<decltype(std::declval<const A&>()[0])>;

/// x converted to the element type E (a scalar broadcast to a batch, float to double, ...).
template <class E, class X>
ETGRAD_INLINE constexpr E cv(const X& x) {
    if constexpr (std::is_same_v<E, X>) {
        return x;
    } else if constexpr (is_simd_batch<E>::value && !is_simd_batch<X>::value) {
        return E(static_cast<typename scalar_of<E>::type>(x));
    } else {
        return static_cast<E>(x);
    }
}

}  // namespace detail

namespace ops {
// Messages for shape errors (one static_assert per operation, naming it; the shapes are the
// template arguments of the op's shape_rule in the compiler's note).
#define ETGRAD_SHAPE_CHECK(COND, MSG) static_assert(COND, "etgrad: " MSG " (the shapes are the template arguments of shape_rule below)")

/// dot(a, b): the inner product of two vectors of the same length.
struct dot_op {
    static constexpr fixed_string name = "Dot";
    static constexpr fixed_string fn = "dot";
    static constexpr bool structured = true;
    template <class SA, class SB>
    struct shape_rule {
        ETGRAD_SHAPE_CHECK(SA::rank == 1 && SB::rank == 1, "dot(a, b) takes two vectors");
        ETGRAD_SHAPE_CHECK(SA::size == SB::size, "dot(a, b): the vectors have different lengths");
        using type = shape<>;
    };
    template <class SO, class SA, class SB, class O, class A, class B>
    ETGRAD_INLINE static constexpr void forward(O& out, const A& a, const B& b) {
        using E = detail::elem_t<O>;
        E acc = detail::cv<E>(a[0]) * detail::cv<E>(b[0]);
        for (std::size_t i = 1; i < SA::size; ++i) {
            acc = acc + detail::cv<E>(a[i]) * detail::cv<E>(b[i]);
        }
        out[0] = acc;
    }
    template <std::size_t K, class SO, class SA, class SB, class G, class O, class A, class B, class GK>
    ETGRAD_INLINE static constexpr void backward(const G& g, const O&, const A& a, const B& b, GK& gk) {
        using E = detail::elem_t<GK>;
        const E g0 = detail::cv<E>(g[0]);
        for (std::size_t i = 0; i < SA::size; ++i) {
            gk[i] = gk[i] + g0 * detail::cv<E>(K == 0 ? b[i] : a[i]);
        }
    }
    template <std::size_t K, class SO, class SA, class SB, class TK, class O, class A, class B, class TO>
    ETGRAD_INLINE static constexpr void tangent(const TK& tk, const O&, const A& a, const B& b, TO& to) {
        using E = detail::elem_t<TO>;
        for (std::size_t i = 0; i < SA::size; ++i) {
            to[0] = to[0] + detail::cv<E>(tk[i]) * detail::cv<E>(K == 0 ? b[i] : a[i]);
        }
    }
};

/// matvec(W, x): W (m×n) times x (n), a vector of m.
struct matvec_op {
    static constexpr fixed_string name = "Mv";
    static constexpr fixed_string fn = "matvec";
    static constexpr bool structured = true;
    template <class SA, class SB>
    struct shape_rule {
        ETGRAD_SHAPE_CHECK(SA::rank == 2 && SB::rank == 1, "matvec(W, x) takes a matrix and a vector");
        ETGRAD_SHAPE_CHECK(SA::rank != 2 || SB::rank != 1 || SA::dims[1] == SB::dims[0],
                           "matvec(W, x): W's number of columns differs from x's length");
        using type = shape<SA::dims[0]>;
    };
    template <class SO, class SA, class SB, class O, class A, class B>
    ETGRAD_INLINE static constexpr void forward(O& out, const A& W, const B& x) {
        using E = detail::elem_t<O>;
        constexpr std::size_t m = SA::dims[0], n = SA::dims[1];
        // Rows at a time: independent accumulation chains (two FMA units of latency 4 need 8);
        // the rows left over as one more group, so that they too run side by side.
        constexpr std::size_t R = 8, full = m - m % R;
        const auto rows = [&]<std::size_t Q>(std::size_t i) ETGRAD_LAMBDA_INLINE {
            E acc[Q];
            for (std::size_t r = 0; r < Q; ++r) {
                acc[r] = detail::cv<E>(W[(i + r) * n]) * detail::cv<E>(x[0]);
            }
            for (std::size_t j = 1; j < n; ++j) {
                const E xj = detail::cv<E>(x[j]);
                for (std::size_t r = 0; r < Q; ++r) {
                    acc[r] = acc[r] + detail::cv<E>(W[(i + r) * n + j]) * xj;
                }
            }
            for (std::size_t r = 0; r < Q; ++r) {
                out[i + r] = acc[r];
            }
        };
        for (std::size_t i = 0; i < full; i += R) {
            rows.template operator()<R>(i);
        }
        if constexpr (m % R != 0) {
            rows.template operator()<m % R>(full);
        }
    }
    // W̄ += ȳ xᵀ; x̄ += Wᵀ ȳ.
    template <std::size_t K, class SO, class SA, class SB, class G, class O, class A, class B, class GK>
    ETGRAD_INLINE static constexpr void backward(const G& g, const O&, const A& W, const B& x, GK& gk) {
        using E = detail::elem_t<GK>;
        constexpr std::size_t m = SA::dims[0], n = SA::dims[1];
        if constexpr (K == 0) {
            for (std::size_t i = 0; i < m; ++i) {
                const E gi = detail::cv<E>(g[i]);
                for (std::size_t j = 0; j < n; ++j) {
                    gk[i * n + j] = gk[i * n + j] + gi * detail::cv<E>(x[j]);
                }
            }
        } else {
            // Columns at a time, held in registers over the rows.
            constexpr std::size_t R = 8, full = n - n % R;
            for (std::size_t j = 0; j < full; j += R) {
                E acc[R];
                for (std::size_t r = 0; r < R; ++r) {
                    acc[r] = gk[j + r];
                }
                for (std::size_t i = 0; i < m; ++i) {
                    const E gi = detail::cv<E>(g[i]);
                    for (std::size_t r = 0; r < R; ++r) {
                        acc[r] = acc[r] + detail::cv<E>(W[i * n + j + r]) * gi;
                    }
                }
                for (std::size_t r = 0; r < R; ++r) {
                    gk[j + r] = acc[r];
                }
            }
            if constexpr (n % R != 0) {
                constexpr std::size_t Q = n % R;
                E acc[Q];
                for (std::size_t r = 0; r < Q; ++r) {
                    acc[r] = gk[full + r];
                }
                for (std::size_t i = 0; i < m; ++i) {
                    const E gi = detail::cv<E>(g[i]);
                    for (std::size_t r = 0; r < Q; ++r) {
                        acc[r] = acc[r] + detail::cv<E>(W[i * n + full + r]) * gi;
                    }
                }
                for (std::size_t r = 0; r < Q; ++r) {
                    gk[full + r] = acc[r];
                }
            }
        }
    }
    template <std::size_t K, class SO, class SA, class SB, class TK, class O, class A, class B, class TO>
    ETGRAD_INLINE static constexpr void tangent(const TK& tk, const O&, const A& W, const B& x, TO& to) {
        using E = detail::elem_t<TO>;
        constexpr std::size_t m = SA::dims[0], n = SA::dims[1];
        for (std::size_t i = 0; i < m; ++i) {
            E acc = to[i];
            for (std::size_t j = 0; j < n; ++j) {
                acc = acc + (K == 0 ? detail::cv<E>(tk[i * n + j]) * detail::cv<E>(x[j]) : detail::cv<E>(W[i * n + j]) * detail::cv<E>(tk[j]));
            }
            to[i] = acc;
        }
    }
};

/// matmul(A, B): A (m×k) times B (k×n), an m×n matrix.
struct matmul_op {
    static constexpr fixed_string name = "Mm";
    static constexpr fixed_string fn = "matmul";
    static constexpr bool structured = true;
    template <class SA, class SB>
    struct shape_rule {
        ETGRAD_SHAPE_CHECK(SA::rank == 2 && SB::rank == 2,
                           "matmul(A, B) takes two matrices (use matvec for a matrix and a vector)");
        ETGRAD_SHAPE_CHECK(SA::rank != 2 || SB::rank != 2 || SA::dims[1] == SB::dims[0],
                           "matmul(A, B): A's number of columns differs from B's number of rows");
        using type = shape<SA::dims[0], SB::rank == 2 ? SB::dims[1] : 1>;
    };
    template <class SO, class SA, class SB, class O, class A, class B>
    ETGRAD_INLINE static constexpr void forward(O& out, const A& a, const B& b) {
        using E = detail::elem_t<O>;
        constexpr std::size_t m = SA::dims[0], k = SA::dims[1], n = SB::dims[1];
        for (std::size_t i = 0; i < m; ++i) {
            for (std::size_t j = 0; j < n; ++j) {
                out[i * n + j] = detail::cv<E>(a[i * k]) * detail::cv<E>(b[j]);
            }
            for (std::size_t p = 1; p < k; ++p) {
                const E aip = detail::cv<E>(a[i * k + p]);
                for (std::size_t j = 0; j < n; ++j) {
                    out[i * n + j] = out[i * n + j] + aip * detail::cv<E>(b[p * n + j]);
                }
            }
        }
    }
    // Ā += Ḡ Bᵀ; B̄ += Aᵀ Ḡ.
    template <std::size_t K, class SO, class SA, class SB, class G, class O, class A, class B, class GK>
    ETGRAD_INLINE static constexpr void backward(const G& g, const O&, const A& a, const B& b, GK& gk) {
        using E = detail::elem_t<GK>;
        constexpr std::size_t m = SA::dims[0], k = SA::dims[1], n = SB::dims[1];
        for (std::size_t i = 0; i < m; ++i) {
            for (std::size_t p = 0; p < k; ++p) {
                if constexpr (K == 0) {
                    E acc = gk[i * k + p];
                    for (std::size_t j = 0; j < n; ++j) {
                        acc = acc + detail::cv<E>(g[i * n + j]) * detail::cv<E>(b[p * n + j]);
                    }
                    gk[i * k + p] = acc;
                } else {
                    const E aip = detail::cv<E>(a[i * k + p]);
                    for (std::size_t j = 0; j < n; ++j) {
                        gk[p * n + j] = gk[p * n + j] + aip * detail::cv<E>(g[i * n + j]);
                    }
                }
            }
        }
    }
    template <std::size_t K, class SO, class SA, class SB, class TK, class O, class A, class B, class TO>
    ETGRAD_INLINE static constexpr void tangent(const TK& tk, const O&, const A& a, const B& b, TO& to) {
        using E = detail::elem_t<TO>;
        constexpr std::size_t m = SA::dims[0], k = SA::dims[1], n = SB::dims[1];
        for (std::size_t i = 0; i < m; ++i) {
            for (std::size_t p = 0; p < k; ++p) {
                const E l = K == 0 ? detail::cv<E>(tk[i * k + p]) : detail::cv<E>(a[i * k + p]);
                for (std::size_t j = 0; j < n; ++j) {
                    to[i * n + j] = to[i * n + j] + l * (K == 0 ? detail::cv<E>(b[p * n + j]) : detail::cv<E>(tk[p * n + j]));
                }
            }
        }
    }
};

/// outer(a, b): the m×n matrix a bᵀ.
struct outer_op {
    static constexpr fixed_string name = "Outer";
    static constexpr fixed_string fn = "outer";
    static constexpr bool structured = true;
    template <class SA, class SB>
    struct shape_rule {
        ETGRAD_SHAPE_CHECK(SA::rank == 1 && SB::rank == 1, "outer(a, b) takes two vectors");
        using type = shape<SA::size, SB::size>;
    };
    template <class SO, class SA, class SB, class O, class A, class B>
    ETGRAD_INLINE static constexpr void forward(O& out, const A& a, const B& b) {
        using E = detail::elem_t<O>;
        for (std::size_t i = 0; i < SA::size; ++i) {
            const E ai = detail::cv<E>(a[i]);
            for (std::size_t j = 0; j < SB::size; ++j) {
                out[i * SB::size + j] = ai * detail::cv<E>(b[j]);
            }
        }
    }
    template <std::size_t K, class SO, class SA, class SB, class G, class O, class A, class B, class GK>
    ETGRAD_INLINE static constexpr void backward(const G& g, const O&, const A& a, const B& b, GK& gk) {
        using E = detail::elem_t<GK>;
        for (std::size_t i = 0; i < SA::size; ++i) {
            for (std::size_t j = 0; j < SB::size; ++j) {
                const E gij = detail::cv<E>(g[i * SB::size + j]);
                if constexpr (K == 0) {
                    gk[i] = gk[i] + gij * detail::cv<E>(b[j]);
                } else {
                    gk[j] = gk[j] + gij * detail::cv<E>(a[i]);
                }
            }
        }
    }
    template <std::size_t K, class SO, class SA, class SB, class TK, class O, class A, class B, class TO>
    ETGRAD_INLINE static constexpr void tangent(const TK& tk, const O&, const A& a, const B& b, TO& to) {
        using E = detail::elem_t<TO>;
        for (std::size_t i = 0; i < SA::size; ++i) {
            for (std::size_t j = 0; j < SB::size; ++j) {
                to[i * SB::size + j] = to[i * SB::size + j] +
                    (K == 0 ? detail::cv<E>(tk[i]) * detail::cv<E>(b[j]) : detail::cv<E>(a[i]) * detail::cv<E>(tk[j]));
            }
        }
    }
};

/// transpose(A): the n×m matrix Aᵀ of an m×n matrix (a vector is its own transpose).
struct transpose_op {
    static constexpr fixed_string name = "Transpose";
    static constexpr fixed_string fn = "transpose";
    static constexpr bool structured = true;
    template <class SA>
    struct shape_rule {
        ETGRAD_SHAPE_CHECK(SA::rank == 2, "transpose(A) takes a matrix");
        using type = shape<SA::dims[SA::rank == 2 ? 1 : 0], SA::dims[0]>;
    };
    template <class SO, class SA, class O, class A>
    ETGRAD_INLINE static constexpr void forward(O& out, const A& a) {
        using E = detail::elem_t<O>;
        constexpr std::size_t m = SA::dims[0], n = SA::dims[1];
        for (std::size_t i = 0; i < m; ++i) {
            for (std::size_t j = 0; j < n; ++j) {
                out[j * m + i] = detail::cv<E>(a[i * n + j]);
            }
        }
    }
    template <std::size_t K, class SO, class SA, class G, class O, class A, class GK>
    ETGRAD_INLINE static constexpr void backward(const G& g, const O&, const A&, GK& gk) {
        using E = detail::elem_t<GK>;
        constexpr std::size_t m = SA::dims[0], n = SA::dims[1];
        for (std::size_t i = 0; i < m; ++i) {
            for (std::size_t j = 0; j < n; ++j) {
                gk[i * n + j] = gk[i * n + j] + detail::cv<E>(g[j * m + i]);
            }
        }
    }
    template <std::size_t K, class SO, class SA, class TK, class O, class A, class TO>
    ETGRAD_INLINE static constexpr void tangent(const TK& tk, const O&, const A&, TO& to) {
        using E = detail::elem_t<TO>;
        constexpr std::size_t m = SA::dims[0], n = SA::dims[1];
        for (std::size_t i = 0; i < m; ++i) {
            for (std::size_t j = 0; j < n; ++j) {
                to[j * m + i] = to[j * m + i] + detail::cv<E>(tk[i * n + j]);
            }
        }
    }
};

/// at<I>(t): row I of t along its first axis (an element of a vector, a row of a matrix).
template <std::size_t I>
struct at_op {
    static constexpr fixed_string name = "Select";
    static constexpr fixed_string fn = "at";
    static constexpr std::size_t index = I;
    static constexpr bool structured = true;
    template <class Seq, class SA>
    struct rest;
    template <std::size_t... Ks, class SA>
    struct rest<std::index_sequence<Ks...>, SA> {
        using type = shape<SA::dims[Ks + 1]...>;
    };
    template <class SA>
    struct shape_rule {
        ETGRAD_SHAPE_CHECK(SA::rank >= 1, "t[eg::c<I>] (eg::at<I>(t)) takes a tensor, not a scalar");
        ETGRAD_SHAPE_CHECK(SA::rank == 0 || I < SA::dims[0], "t[eg::c<I>]: the index is out of range");
        using type = typename rest<std::make_index_sequence<SA::rank == 0 ? 0 : SA::rank - 1>, SA>::type;
    };
    template <class SO, class SA, class O, class A>
    ETGRAD_INLINE static constexpr void forward(O& out, const A& a) {
        using E = detail::elem_t<O>;
        for (std::size_t e = 0; e < SO::size; ++e) {
            out[e] = detail::cv<E>(a[I * SO::size + e]);
        }
    }
    template <std::size_t K, class SO, class SA, class G, class O, class A, class GK>
    ETGRAD_INLINE static constexpr void backward(const G& g, const O&, const A&, GK& gk) {
        using E = detail::elem_t<GK>;
        for (std::size_t e = 0; e < SO::size; ++e) {
            gk[I * SO::size + e] = gk[I * SO::size + e] + detail::cv<E>(g[e]);
        }
    }
    template <std::size_t K, class SO, class SA, class TK, class O, class A, class TO>
    ETGRAD_INLINE static constexpr void tangent(const TK& tk, const O&, const A&, TO& to) {
        using E = detail::elem_t<TO>;
        for (std::size_t e = 0; e < SO::size; ++e) {
            to[e] = to[e] + detail::cv<E>(tk[I * SO::size + e]);
        }
    }
};

/// Reductions over the elements of a tensor (to a scalar). Mean divides by the number of elements.
template <bool Mean>
struct esum_op_t {
    static constexpr auto name = [] {
        if constexpr (Mean) {
            return fixed_string("Mean");
        } else {
            return fixed_string("Sum");
        }
    }();
    static constexpr auto fn = [] {
        if constexpr (Mean) {
            return fixed_string("mean");
        } else {
            return fixed_string("sum");
        }
    }();
    static constexpr bool structured = true;
    template <class SA>
    struct shape_rule {
        using type = shape<>;
    };
    template <class SO, class SA, class O, class A>
    ETGRAD_INLINE static constexpr void forward(O& out, const A& a) {
        using E = detail::elem_t<O>;
        E acc = detail::cv<E>(a[0]);
        for (std::size_t i = 1; i < SA::size; ++i) {
            acc = acc + detail::cv<E>(a[i]);
        }
        if constexpr (Mean) {
            acc = acc / detail::num_cast<E>(static_cast<double>(SA::size));
        }
        out[0] = acc;
    }
    template <std::size_t K, class SO, class SA, class G, class O, class A, class GK>
    ETGRAD_INLINE static constexpr void backward(const G& g, const O&, const A&, GK& gk) {
        using E = detail::elem_t<GK>;
        E g0 = detail::cv<E>(g[0]);
        if constexpr (Mean) {
            g0 = g0 / detail::num_cast<E>(static_cast<double>(SA::size));
        }
        for (std::size_t i = 0; i < SA::size; ++i) {
            gk[i] = gk[i] + g0;
        }
    }
    template <std::size_t K, class SO, class SA, class TK, class O, class A, class TO>
    ETGRAD_INLINE static constexpr void tangent(const TK& tk, const O&, const A&, TO& to) {
        using E = detail::elem_t<TO>;
        E acc = detail::cv<E>(tk[0]);
        for (std::size_t i = 1; i < SA::size; ++i) {
            acc = acc + detail::cv<E>(tk[i]);
        }
        if constexpr (Mean) {
            acc = acc / detail::num_cast<E>(static_cast<double>(SA::size));
        }
        to[0] = to[0] + acc;
    }
};
using esum_op = esum_op_t<false>;
using emean_op = esum_op_t<true>;

/// The largest element; ties share the gradient evenly (as PyTorch's max() over all elements).
struct emax_op {
    static constexpr fixed_string name = "Max";
    static constexpr fixed_string fn = "max";
    static constexpr bool structured = true;
    template <class SA>
    struct shape_rule {
        using type = shape<>;
    };
    template <class SO, class SA, class O, class A>
    ETGRAD_INLINE static constexpr void forward(O& out, const A& a) {
        using E = detail::elem_t<O>;
        E m = detail::cv<E>(a[0]);
        for (std::size_t i = 1; i < SA::size; ++i) {
            const E x = detail::cv<E>(a[i]);
            m = detail::num::select(detail::num::lor(m < x, x != x), x, m);  // NaN wins, as in PyTorch
        }
        out[0] = m;
    }
    template <std::size_t K, class SO, class SA, class G, class O, class A, class GK>
    ETGRAD_INLINE static constexpr void backward(const G& g, const O& out, const A& a, GK& gk) {
        using E = detail::elem_t<GK>;
        const E m = detail::cv<E>(out[0]);
        E count = detail::num_cast<E>(0.0);
        for (std::size_t i = 0; i < SA::size; ++i) {
            count = count + detail::num::select(detail::cv<E>(a[i]) == m, detail::num_cast<E>(1.0), detail::num_cast<E>(0.0));
        }
        const E share = detail::cv<E>(g[0]) / count;
        for (std::size_t i = 0; i < SA::size; ++i) {
            gk[i] = gk[i] + detail::num::select(detail::cv<E>(a[i]) == m, share, detail::num_cast<E>(0.0));
        }
    }
    template <std::size_t K, class SO, class SA, class TK, class O, class A, class TO>
    ETGRAD_INLINE static constexpr void tangent(const TK& tk, const O& out, const A& a, TO& to) {
        using E = detail::elem_t<TO>;
        const E m = detail::cv<E>(out[0]);
        E count = detail::num_cast<E>(0.0), acc = detail::num_cast<E>(0.0);
        for (std::size_t i = 0; i < SA::size; ++i) {
            const auto hit = detail::cv<E>(a[i]) == m;
            count = count + detail::num::select(hit, detail::num_cast<E>(1.0), detail::num_cast<E>(0.0));
            acc = acc + detail::num::select(hit, detail::cv<E>(tk[i]), detail::num_cast<E>(0.0));
        }
        to[0] = to[0] + acc / count;
    }
};

namespace lse {
/// The maximum of n elements starting at a[off], and a finite shift (0 when the maximum is ±inf).
template <class E, class A>
ETGRAD_INLINE constexpr E shift(const A& a, std::size_t off, std::size_t n) {
    E m = detail::cv<E>(a[off]);
    for (std::size_t i = 1; i < n; ++i) {
        const E x = detail::cv<E>(a[off + i]);
        m = detail::num::select(m < x, x, m);
    }
    const E inf = detail::num_cast<E>(std::numeric_limits<double>::infinity());
    return detail::num::select(m == inf || m == -inf, detail::num_cast<E>(0.0), m);
}
}  // namespace lse

/// logsumexp over all elements, computed stably: m + log(sum(exp(x - m))).
struct elogsumexp_op {
    static constexpr fixed_string name = "Logsumexp";
    static constexpr fixed_string fn = "logsumexp";
    static constexpr bool structured = true;
    template <class SA>
    struct shape_rule {
        using type = shape<>;
    };
    /// The softmax, kept after the value (out[1 + i]) for the backward pass: one exp per element
    /// in all, as a hand-written cross-entropy has.
    template <class SA>
    static constexpr std::size_t saved = SA::size;
    template <class SO, class SA, class O, class A>
    ETGRAD_INLINE static constexpr void forward(O& out, const A& a) {
        using E = detail::elem_t<O>;
        const E m = lse::shift<E>(a, 0, SA::size);
        E s = detail::num::exp(detail::cv<E>(a[0]) - m);
        out[1] = s;
        for (std::size_t i = 1; i < SA::size; ++i) {
            const E e = detail::num::exp(detail::cv<E>(a[i]) - m);
            out[1 + i] = e;
            s = s + e;
        }
        out[0] = m + detail::num::log(s);
        const E r = detail::num_cast<E>(1.0) / s;
        for (std::size_t i = 0; i < SA::size; ++i) {
            out[1 + i] = out[1 + i] * r;
        }
    }
    // x̄ += ȳ softmax(x)
    template <std::size_t K, class SO, class SA, class G, class O, class A, class GK>
    ETGRAD_INLINE static constexpr void backward(const G& g, const O& out, const A&, GK& gk) {
        using E = detail::elem_t<GK>;
        const E g0 = detail::cv<E>(g[0]);
        for (std::size_t i = 0; i < SA::size; ++i) {
            gk[i] = gk[i] + g0 * detail::cv<E>(out[1 + i]);
        }
    }
    template <std::size_t K, class SO, class SA, class TK, class O, class A, class TO>
    ETGRAD_INLINE static constexpr void tangent(const TK& tk, const O& out, const A&, TO& to) {
        using E = detail::elem_t<TO>;
        E acc = to[0];
        for (std::size_t i = 0; i < SA::size; ++i) {
            acc = acc + detail::cv<E>(tk[i]) * detail::cv<E>(out[1 + i]);
        }
        to[0] = acc;
    }
};

/// softmax and log_softmax over the last axis (the whole vector for a vector), computed stably.
template <bool Log>
struct softmax_op_t {
    static constexpr auto name = [] {
        if constexpr (Log) {
            return fixed_string("LogSoftmax");
        } else {
            return fixed_string("Softmax");
        }
    }();
    static constexpr auto fn = [] {
        if constexpr (Log) {
            return fixed_string("log_softmax");
        } else {
            return fixed_string("softmax");
        }
    }();
    static constexpr bool structured = true;
    template <class SA>
    struct shape_rule {
        ETGRAD_SHAPE_CHECK(SA::rank >= 1, "softmax(t) and log_softmax(t) take a tensor, not a scalar");
        using type = SA;
    };
    template <class SA>
    static constexpr std::size_t last = SA::dims[SA::rank - 1];
    template <class SO, class SA, class O, class A>
    ETGRAD_INLINE static constexpr void forward(O& out, const A& a) {
        using E = detail::elem_t<O>;
        constexpr std::size_t n = last<SA>;
        for (std::size_t r = 0; r < SA::size; r += n) {
            const E m = lse::shift<E>(a, r, n);
            E s = detail::num_cast<E>(0.0);
            for (std::size_t i = 0; i < n; ++i) {
                const E e = detail::num::exp(detail::cv<E>(a[r + i]) - m);
                s = s + e;
                if constexpr (!Log) {
                    out[r + i] = e;
                }
            }
            if constexpr (Log) {
                const E ls = m + detail::num::log(s);
                for (std::size_t i = 0; i < n; ++i) {
                    out[r + i] = detail::cv<E>(a[r + i]) - ls;
                }
            } else {
                const E inv = detail::num_cast<E>(1.0) / s;
                for (std::size_t i = 0; i < n; ++i) {
                    out[r + i] = out[r + i] * inv;
                }
            }
        }
    }
    // softmax: x̄ += y (ȳ - <ȳ, y>); log_softmax: x̄ += ȳ - exp(y) sum(ȳ).
    template <std::size_t K, class SO, class SA, class G, class O, class A, class GK>
    ETGRAD_INLINE static constexpr void backward(const G& g, const O& out, const A&, GK& gk) {
        using E = detail::elem_t<GK>;
        constexpr std::size_t n = last<SA>;
        for (std::size_t r = 0; r < SA::size; r += n) {
            E dotg = detail::num_cast<E>(0.0);
            for (std::size_t i = 0; i < n; ++i) {
                dotg = dotg + (Log ? detail::cv<E>(g[r + i]) : detail::cv<E>(g[r + i]) * detail::cv<E>(out[r + i]));
            }
            for (std::size_t i = 0; i < n; ++i) {
                if constexpr (Log) {
                    gk[r + i] = gk[r + i] + detail::cv<E>(g[r + i]) - detail::num::exp(detail::cv<E>(out[r + i])) * dotg;
                } else {
                    gk[r + i] = gk[r + i] + detail::cv<E>(out[r + i]) * (detail::cv<E>(g[r + i]) - dotg);
                }
            }
        }
    }
    template <std::size_t K, class SO, class SA, class TK, class O, class A, class TO>
    ETGRAD_INLINE static constexpr void tangent(const TK& tk, const O& out, const A&, TO& to) {
        using E = detail::elem_t<TO>;
        constexpr std::size_t n = last<SA>;
        for (std::size_t r = 0; r < SA::size; r += n) {
            // softmax: ẏ = y (ẋ - <y, ẋ>); log_softmax: ẏ = ẋ - <softmax, ẋ>.
            E dot = detail::num_cast<E>(0.0);
            for (std::size_t i = 0; i < n; ++i) {
                const E p = Log ? detail::num::exp(detail::cv<E>(out[r + i])) : detail::cv<E>(out[r + i]);
                dot = dot + p * detail::cv<E>(tk[r + i]);
            }
            for (std::size_t i = 0; i < n; ++i) {
                if constexpr (Log) {
                    to[r + i] = to[r + i] + detail::cv<E>(tk[r + i]) - dot;
                } else {
                    to[r + i] = to[r + i] + detail::cv<E>(out[r + i]) * (detail::cv<E>(tk[r + i]) - dot);
                }
            }
        }
    }
};
using softmax_op = softmax_op_t<false>;
using log_softmax_op = softmax_op_t<true>;

/// Batch standardisation over the rows of an N×F matrix (a batch of N samples of F features), as
/// torch.nn.functional.batch_norm in training mode without the affine part: column j becomes
/// (x − mean_j) / √(var_j + 1e-5), with the batch's mean and biased variance of the column.
/// Passes over the batch: 2 forward (means, then variances); 4 backward and 4 tangent (the
/// statistics again, the sums of ȳ and ȳ·x̂, then x̄ = (ȳ − mean(ȳ) − x̂ mean(ȳ x̂)) / σ; the
/// Jacobian is symmetric, so the tangent is the same map applied to ẋ).
struct batch_norm_op {
    static constexpr fixed_string name = "BatchNorm";
    static constexpr fixed_string fn = "batch_standardize";
    static constexpr bool structured = true;
    template <class SA>
    struct shape_rule {
        ETGRAD_SHAPE_CHECK(SA::rank == 2, "batch_standardize(X) takes an N×F matrix: a batch of N samples of F features");
        ETGRAD_SHAPE_CHECK(SA::rank != 2 || SA::dims[0] >= 2,
                           "batch_standardize(X): a batch of one sample has no variance (PyTorch: expected more than 1 value per channel when training)");
        using type = SA;
    };
    /// The columns' means and 1/σ, in E.
    template <class SA, class E, class A>
    ETGRAD_INLINE static constexpr void stats(const A& a, E* mean, E* inv) {
        constexpr std::size_t n = SA::dims[0], f = SA::dims[1];
        const E scale = detail::num_cast<E>(1.0 / static_cast<double>(n));
        for (std::size_t j = 0; j < f; ++j) {
            mean[j] = detail::cv<E>(a[j]);
        }
        for (std::size_t i = 1; i < n; ++i) {
            for (std::size_t j = 0; j < f; ++j) {
                mean[j] = mean[j] + detail::cv<E>(a[i * f + j]);
            }
        }
        for (std::size_t j = 0; j < f; ++j) {
            mean[j] = mean[j] * scale;
            inv[j] = detail::num_cast<E>(0.0);
        }
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < f; ++j) {
                const E d = detail::cv<E>(a[i * f + j]) - mean[j];
                inv[j] = inv[j] + d * d;
            }
        }
        for (std::size_t j = 0; j < f; ++j) {
            inv[j] = detail::num_cast<E>(1.0) / detail::num::sqrt(inv[j] * scale + detail::num_cast<E>(1e-5));
        }
    }
    template <class SO, class SA, class O, class A>
    ETGRAD_INLINE static constexpr void forward(O& out, const A& a) {
        using E = detail::elem_t<O>;
        constexpr std::size_t n = SA::dims[0], f = SA::dims[1];
        E mean[f], inv[f];
        stats<SA>(a, mean, inv);
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < f; ++j) {
                out[i * f + j] = (detail::cv<E>(a[i * f + j]) - mean[j]) * inv[j];
            }
        }
    }
    // The map v ↦ (v − mean(v) − x̂ mean(v x̂)) / σ per column, added into r.
    template <class SA, class E, class V, class O, class A, class R>
    ETGRAD_INLINE static constexpr void project(const V& v, const O& out, const A& a, R& r) {
        constexpr std::size_t n = SA::dims[0], f = SA::dims[1];
        const E scale = detail::num_cast<E>(1.0 / static_cast<double>(n));
        E mean[f], inv[f], sv[f], svx[f];
        stats<SA>(a, mean, inv);
        for (std::size_t j = 0; j < f; ++j) {
            sv[j] = detail::num_cast<E>(0.0);
            svx[j] = detail::num_cast<E>(0.0);
        }
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < f; ++j) {
                const E vi = detail::cv<E>(v[i * f + j]);
                sv[j] = sv[j] + vi;
                svx[j] = svx[j] + vi * detail::cv<E>(out[i * f + j]);
            }
        }
        for (std::size_t j = 0; j < f; ++j) {
            sv[j] = sv[j] * scale;
            svx[j] = svx[j] * scale;
        }
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < f; ++j) {
                const E vi = detail::cv<E>(v[i * f + j]);
                r[i * f + j] = r[i * f + j] + (vi - sv[j] - detail::cv<E>(out[i * f + j]) * svx[j]) * inv[j];
            }
        }
    }
    template <std::size_t K, class SO, class SA, class G, class O, class A, class GK>
    ETGRAD_INLINE static constexpr void backward(const G& g, const O& out, const A& a, GK& gk) {
        project<SA, detail::elem_t<GK>>(g, out, a, gk);
    }
    template <std::size_t K, class SO, class SA, class TK, class O, class A, class TO>
    ETGRAD_INLINE static constexpr void tangent(const TK& tk, const O& out, const A& a, TO& to) {
        project<SA, detail::elem_t<TO>>(tk, out, a, to);
    }
};

/// pick(z, label): the element of the vector z at the integer position label (a scalar; per
/// sample in a data loop). On an N×C matrix Z and a vector of N labels, the vector of
/// Z[r][label_r] (torch.gather along the last axis). The labels are not differentiable.
struct pick_op {
    static constexpr fixed_string name = "Gather";
    static constexpr fixed_string fn = "pick";
    static constexpr bool structured = true;
    static constexpr bool differentiable(std::size_t i) { return i == 0; }
    template <class SA, class SB>
    struct shape_rule {
        ETGRAD_SHAPE_CHECK((SA::rank == 1 && SB::rank == 0) || (SA::rank == 2 && SB::rank == 1),
                           "pick(z, label) takes a vector z and a scalar label, or an N×C matrix and a vector of N labels");
        ETGRAD_SHAPE_CHECK(SA::rank != 2 || SB::rank != 1 || SA::dims[0] == SB::dims[0],
                           "pick(Z, labels): Z has N rows and labels must have N elements");
        using type = std::conditional_t<SA::rank == 2, shape<SA::dims[0]>, shape<>>;
    };
    /// The number of rows and of classes.
    template <class SA>
    static constexpr std::size_t rows = SA::rank == 2 ? SA::dims[0] : 1;
    template <class SA>
    static constexpr std::size_t cols = SA::dims[SA::rank - 1];
    template <class SO, class SA, class SB, class O, class A, class B>
    ETGRAD_INLINE static constexpr void forward(O& out, const A& z, const B& label) {
        using E = detail::elem_t<O>;
        constexpr std::size_t m = cols<SA>;
        for (std::size_t q = 0; q < rows<SA>; ++q) {
            const E y = detail::cv<E>(label[q]);
            if constexpr (std::is_arithmetic_v<E>) {
                if (!(y >= 0 && y < static_cast<E>(m)) || y != static_cast<E>(static_cast<std::size_t>(y))) {
                    throw std::invalid_argument("etgrad: pick(z, label): a label is not an integer in 0..C-1 (C = "
                                                + std::to_string(m) + ")");
                }
            }
            E r = detail::cv<E>(z[q * m]);
            for (std::size_t c = 1; c < m; ++c) {
                r = detail::num::select(y == detail::num_cast<E>(static_cast<double>(c)), detail::cv<E>(z[q * m + c]), r);
            }
            out[q] = r;
        }
    }
    template <std::size_t K, class SO, class SA, class SB, class G, class O, class A, class B, class GK>
    ETGRAD_INLINE static constexpr void backward(const G& g, const O&, const A&, const B& label, GK& gk) {
        using E = detail::elem_t<GK>;
        constexpr std::size_t m = cols<SA>;
        const E zero = detail::num_cast<E>(0.0);
        for (std::size_t q = 0; q < rows<SA>; ++q) {
            const E y = detail::cv<E>(label[q]), g0 = detail::cv<E>(g[q]);
            for (std::size_t c = 0; c < m; ++c) {
                gk[q * m + c] = gk[q * m + c] + detail::num::select(y == detail::num_cast<E>(static_cast<double>(c)), g0, zero);
            }
        }
    }
    template <std::size_t K, class SO, class SA, class SB, class TK, class O, class A, class B, class TO>
    ETGRAD_INLINE static constexpr void tangent(const TK& tk, const O&, const A&, const B& label, TO& to) {
        using E = detail::elem_t<TO>;
        constexpr std::size_t m = cols<SA>;
        const E zero = detail::num_cast<E>(0.0);
        for (std::size_t q = 0; q < rows<SA>; ++q) {
            const E y = detail::cv<E>(label[q]);
            for (std::size_t c = 0; c < m; ++c) {
                to[q] = to[q] + detail::num::select(y == detail::num_cast<E>(static_cast<double>(c)), detail::cv<E>(tk[q * m + c]), zero);
            }
        }
    }
};
#undef ETGRAD_SHAPE_CHECK
}  // namespace ops

namespace detail {
/// Builds a structured node from expression operands (numbers are not accepted: a tensor
/// operation needs its operands' shapes). The shape rule runs here, at the user's call.
template <class Op>
struct tensor_fn {
    template <class... A>
    constexpr auto operator()(const A&... a) const {
        static_assert((Expr<A> && ...), "etgrad: this tensor operation takes expressions (variables of a shape)");
        if constexpr ((Expr<A> && ...)) {
            using N = node<Op, A...>;
            using S [[maybe_unused]] = shape_of_t<N>;  // the shape check
            return N(a...);
        } else {
            return c<0>;
        }
    }
};
}  // namespace detail

/// Inner product of two vectors of the same length.
inline constexpr detail::tensor_fn<ops::dot_op> dot{};
/// Matrix (m×n) times vector (n): a vector of m. Its backward: W̄ += ȳxᵀ, x̄ += Wᵀȳ.
inline constexpr detail::tensor_fn<ops::matvec_op> matvec{};
/// Matrix (m×k) times matrix (k×n).
inline constexpr detail::tensor_fn<ops::matmul_op> matmul{};
/// Outer product a bᵀ of two vectors.
inline constexpr detail::tensor_fn<ops::outer_op> outer{};
/// Transpose of a matrix.
inline constexpr detail::tensor_fn<ops::transpose_op> transpose{};
/// softmax over the last axis.
inline constexpr detail::tensor_fn<ops::softmax_op> softmax{};
/// log(softmax) over the last axis, computed stably (never log of a softmax).
inline constexpr detail::tensor_fn<ops::log_softmax_op> log_softmax{};
/// Standardise each column of an N×F batch over its N rows (batch mean, biased variance, eps
/// 1e-5): the normalisation of torch.nn.BatchNorm1d in training mode; eg::nn::batch_norm adds
/// its weight and bias.
inline constexpr detail::tensor_fn<ops::batch_norm_op> batch_standardize{};
/// pick(z, label): z[label] for an integer label (per sample in data loops); not differentiable
/// in the label. Labels out of range are an error in data loops (std::invalid_argument).
inline constexpr detail::tensor_fn<ops::pick_op> pick{};

/// at<I>(t) == t[eg::c<I>]: row I along the first axis (an element of a vector); at<I, J>(W) is
/// the element (I, J) of a matrix.
template <std::size_t I, std::size_t... J, class E>
constexpr auto at(const E& t) {
    static_assert(Expr<E>, "etgrad::at<I>(t) takes an expression");
    auto r = detail::tensor_fn<ops::at_op<I>>{}(t);
    if constexpr (sizeof...(J) == 0) {
        return r;
    } else {
        return at<J...>(r);
    }
}

template <class D>
template <long long N>
constexpr auto expr<D>::operator[](cconst<N, 1>) const {
    static_assert(N >= 0, "etgrad: t[eg::c<I>] needs a non-negative index");
    return etgrad::at<static_cast<std::size_t>(N < 0 ? 0 : N)>(static_cast<const D&>(*this));
}

}  // namespace etgrad
