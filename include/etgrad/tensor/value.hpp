// etgrad/tensor/value.hpp — tensor values and shaped bindings: eg::tensor<T, eg::shape<...>> (an
// owned, row-major value, used for shaped gradients), what `W = v` stores for a shaped variable
// (a view of the caller's storage, checked), per-sample rows (`x = eg::rows<64>(X)`) and integer
// labels (`label = ys`), and the shape of every expression node.
#pragma once

#include <span>
#include <stdexcept>
#include <string>

#include "../eval.hpp"

namespace etgrad {

/// A tensor value of shape S, owned, row-major (PyTorch's layout: `W(i, j)` is row i, column j).
/// An aggregate: `eg::tensor<double, eg::shape<3>> t{1.0, 2.0, 3.0};`.
template <class T, class S>
struct tensor {
    static_assert(detail::is_shape_c<S>::value, "etgrad::tensor<T, S>: S must be an eg::shape<...>");
    using value_type = T;
    using shape_type = S;
    std::array<T, S::size> values;

    static constexpr std::size_t size() { return S::size; }
    static constexpr std::size_t rank() { return S::rank; }
    /// The extents, e.g. {32, 64}.
    static constexpr auto dims() { return S::dims; }
    constexpr T* data() { return values.data(); }
    constexpr const T* data() const { return values.data(); }
    constexpr T* begin() { return values.data(); }
    constexpr T* end() { return values.data() + S::size; }
    constexpr const T* begin() const { return values.data(); }
    constexpr const T* end() const { return values.data() + S::size; }
    /// The i-th element in row-major order.
    constexpr T& operator[](std::size_t i) { return values[i]; }
    constexpr const T& operator[](std::size_t i) const { return values[i]; }
    /// Element access by coordinates: `t(i)` for a vector, `t(i, j)` for a matrix (not checked).
    template <class... I>
        requires(sizeof...(I) == S::rank && (std::is_integral_v<I> && ...))
    constexpr T& operator()(I... i) {
        return values[offset(i...)];
    }
    template <class... I>
        requires(sizeof...(I) == S::rank && (std::is_integral_v<I> && ...))
    constexpr const T& operator()(I... i) const {
        return values[offset(i...)];
    }
    constexpr tensor& operator+=(const tensor& o) {
        for (std::size_t i = 0; i < S::size; ++i) {
            values[i] += o.values[i];
        }
        return *this;
    }
    constexpr tensor& operator-=(const tensor& o) {
        for (std::size_t i = 0; i < S::size; ++i) {
            values[i] -= o.values[i];
        }
        return *this;
    }
    constexpr tensor& operator*=(const T& s) {
        for (auto& v : values) {
            v *= s;
        }
        return *this;
    }
    friend constexpr tensor operator+(tensor a, const tensor& b) { return a += b; }
    friend constexpr tensor operator-(tensor a, const tensor& b) { return a -= b; }
    friend constexpr tensor operator*(tensor a, const T& s) { return a *= s; }
    friend constexpr tensor operator*(const T& s, tensor a) { return a *= s; }
    friend constexpr bool operator==(const tensor&, const tensor&) = default;
    /// Set every element to zero.
    constexpr void zero() {
        for (auto& v : values) {
            v = T{};
        }
    }

  private:
    template <class... I>
    static constexpr std::size_t offset(I... i) {
        std::size_t idx[] = {static_cast<std::size_t>(i)..., 0};
        std::size_t o = 0;
        for (std::size_t k = 0; k < S::rank; ++k) {
            o = o * S::dims[k] + idx[k];
        }
        return o;
    }
};

namespace detail {
/// "3×4", "64", "scalar": a shape in messages, to_string and to_dot.
template <class S>
std::string shape_text() {
    if constexpr (S::rank == 0) {
        return "scalar";
    } else {
        std::string r;
        for (std::size_t k = 0; k < S::rank; ++k) {
            r += k ? "\u00d7" : "";
            r += std::to_string(S::dims[k]);
        }
        return r;
    }
}

template <class T>
concept Real = std::is_same_v<T, float> || std::is_same_v<T, double>;

/// A shaped parameter bound to the caller's storage (a view: the storage must outlive the call,
/// as it does when the binding is written in the call's arguments).
template <class T, class S>
struct param_ref {
    using etgrad_shape = S;
    using value_type = T;
    const T* ptr = nullptr;
};
}  // namespace detail

/// Per-sample rows: a row-major range of N×F values is N samples of a shaped variable of F
/// elements (`x = eg::rows<64>(X)`). Made by eg::rows; `.grad_into(gX)` asks for each sample's
/// gradient (N×F values, row-major).
template <class T, std::size_t F, bool HasGrad = false>
struct rows_view {
    static_assert(detail::Real<T>, "etgrad::rows<F>(X): the elements must be float or double");
    using value_type = T;
    static constexpr std::size_t width = F;
    const T* ptr = nullptr;
    std::size_t n = 0;  ///< the number of samples
    T* gptr = nullptr;
    std::size_t gn = 0;  ///< the gradient output's length in elements
    const std::size_t* order = nullptr;  ///< sample s is row order[s] (eg::rows<F>(X, order)), or row s
    std::size_t total = 0;               ///< the number of rows of X

    /// Each sample's gradient goes to `out`, shaped like X (row order[s] for sample s when an
    /// order is given; the other rows are left as they are).
    template <class R>
    constexpr rows_view<T, F, true> grad_into(R&& out) const {
        static_assert(std::ranges::contiguous_range<R> && std::ranges::sized_range<R>,
                      "etgrad: rows<F>(X).grad_into(out) needs a contiguous output range");
        static_assert(std::is_same_v<std::remove_cv_t<std::ranges::range_value_t<R>>, T> &&
                          !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>,
                      "etgrad: rows<F>(X).grad_into(out) needs a writable range of the rows' element type");
        return {ptr, n, std::ranges::data(out), std::ranges::size(out), order, total};
    }
};

/// View a row-major range of N×F float or double values as N samples of F elements each, for a
/// variable of F elements: `x = eg::rows<64>(X)`. std::invalid_argument when the length is not a
/// multiple of F.
template <std::size_t F, class R>
constexpr auto rows(R&& r) {
    static_assert(F > 0, "etgrad::rows<F>(X): F must be positive");
    static_assert(std::ranges::contiguous_range<R> && std::ranges::sized_range<R>,
                  "etgrad::rows<F>(X): X must be a contiguous sized range (std::vector, std::span, ...)");
    using T = std::remove_cv_t<std::ranges::range_value_t<R>>;
    static_assert(detail::Real<T>, "etgrad::rows<F>(X): the elements must be float or double");
    const std::size_t len = std::ranges::size(r);
    if (len % F != 0) {
        // (Appended, not `"a" + s`: GCC 12 warns falsely about the latter at -O3.)
        std::string m = "etgrad::rows<";
        m += std::to_string(F);
        m += ">(X): X has ";
        m += std::to_string(len);
        m += " elements, not a multiple of the row width ";
        m += std::to_string(F);
        throw std::invalid_argument(m);
    }
    return rows_view<T, F>{std::ranges::data(r), len / F, nullptr, 0, nullptr, len / F};
}

/// The rows of X in a chosen order, without copying them: sample s is row order[s]
/// (`x = eg::rows<64>(X, batch)` with `batch` a span of row indices, e.g. a minibatch of a
/// shuffled permutation). Pass the same order to the labels: `y = eg::select(labels, batch)`.
/// std::invalid_argument when an index is not a row of X.
template <std::size_t F, class R>
constexpr auto rows(R&& r, std::span<const std::size_t> order) {
    auto v = rows<F>(std::forward<R>(r));
    for (std::size_t s = 0; s < order.size(); ++s) {
        if (order[s] >= v.total) {
            std::string m = "etgrad::rows<";
            m += std::to_string(F);
            m += ">(X, order): order[";
            m += std::to_string(s);
            m += "] = ";
            m += std::to_string(order[s]);
            m += " is not a row of X (it has ";
            m += std::to_string(v.total);
            m += " rows)";
            throw std::invalid_argument(m);
        }
    }
    v.n = order.size();
    v.order = order.data();
    return v;
}

/// Integer labels in a chosen order: sample s has label labels[order[s]] (with
/// `x = eg::rows<F>(X, order)`). std::invalid_argument when an index is out of range.
template <class I>
struct selected_labels {
    static_assert(std::is_integral_v<I>, "etgrad::select(labels, order): labels must be integers");
    const I* ptr = nullptr;
    std::size_t n = 0;
    const std::size_t* order = nullptr;
};
template <class R>
constexpr auto select(R&& labels, std::span<const std::size_t> order) {
    static_assert(std::ranges::contiguous_range<R> && std::ranges::sized_range<R>,
                  "etgrad::select(labels, order): labels must be a contiguous sized range of integers");
    using I = std::remove_cv_t<std::ranges::range_value_t<R>>;
    const std::size_t len = std::ranges::size(labels);
    for (std::size_t s = 0; s < order.size(); ++s) {
        if (order[s] >= len) {
            std::string m = "etgrad::select(labels, order): order[";
            m += std::to_string(s);
            m += "] = ";
            m += std::to_string(order[s]);
            m += " is not an index of the labels (there are ";
            m += std::to_string(len);
            m += ")";
            throw std::invalid_argument(m);
        }
    }
    return selected_labels<I>{std::ranges::data(labels), order.size(), order.data()};
}

namespace detail {
/// Per-sample rows bound to a shaped variable.
template <class T, class S, bool HasGrad>
struct rows_ref {
    using etgrad_shape = S;
    using value_type = T;
    static constexpr bool has_grad = HasGrad;
    const T* ptr = nullptr;
    std::size_t n = 0;
    T* gptr = nullptr;
    std::size_t gn = 0;
    const std::size_t* order = nullptr;
    std::size_t total = 0;
};
/// Integer class labels, one per sample (`label = ys` with a range of integers): per-sample data.
template <class I>
struct label_ref {
    static constexpr bool etgrad_label = true;
    using value_type = I;
    const I* ptr = nullptr;
    std::size_t n = 0;
    const std::size_t* order = nullptr;
    std::size_t total = 0;
};

template <class V>
inline constexpr bool is_rows_ref_v = false;
template <class T, class S, bool G>
inline constexpr bool is_rows_ref_v<rows_ref<T, S, G>> = true;
template <class V>
inline constexpr bool is_label_ref_v = false;
template <class I>
inline constexpr bool is_label_ref_v<label_ref<I>> = true;
template <class V>
inline constexpr bool is_param_ref_v = false;
template <class T, class S>
inline constexpr bool is_param_ref_v<param_ref<T, S>> = true;

template <class V>
struct std_array_of : std::false_type {};
template <class U, std::size_t N>
struct std_array_of<std::array<U, N>> : std::true_type {
    using elem = U;
    static constexpr std::size_t n = N;
};
template <class V>
struct tensor_of : std::false_type {};
template <class U, class S>
struct tensor_of<tensor<U, S>> : std::true_type {
    using elem = U;
    using shape = S;
};
template <class V>
struct rows_of : std::false_type {};
template <class U, std::size_t F, bool G>
struct rows_of<rows_view<U, F, G>> : std::true_type {
    using elem = U;
    static constexpr std::size_t width = F;
    static constexpr bool grad = G;
};

template <class V, class S>
struct shaped_bound {
    using D = std::remove_cvref_t<V>;
    static constexpr auto pick() {
        if constexpr (std_array_of<D>::value) {
            using U = typename std_array_of<D>::elem;
            static_assert(Real<U>, "etgrad: a shaped variable binds float or double values");
            static_assert(std_array_of<D>::n == S::size,
                          "etgrad: a shaped variable bound to a std::array needs exactly as many elements as "
                          "its shape has (the array and the shape are the template arguments below)");
            return static_cast<param_ref<U, S>*>(nullptr);
        } else if constexpr (tensor_of<D>::value) {
            using U = typename tensor_of<D>::elem;
            static_assert(Real<U>, "etgrad: a shaped variable binds float or double values");
            static_assert(tensor_of<D>::shape::size == S::size,
                          "etgrad: a shaped variable bound to an eg::tensor of another size");
            return static_cast<param_ref<U, S>*>(nullptr);
        } else if constexpr (rows_of<D>::value) {
            static_assert(rows_of<D>::width == S::size,
                          "etgrad: x = eg::rows<F>(X): F must be the number of elements of x's shape");
            return static_cast<rows_ref<typename rows_of<D>::elem, S, rows_of<D>::grad>*>(nullptr);
        } else if constexpr (std::ranges::contiguous_range<D> && std::ranges::sized_range<D>) {
            using U = std::remove_cv_t<std::ranges::range_value_t<D>>;
            static_assert(Real<U>, "etgrad: a shaped variable binds float or double values");
            return static_cast<param_ref<U, S>*>(nullptr);
        } else {
            static_assert(std::ranges::contiguous_range<D>,
                          "etgrad: a shaped variable binds a std::array, an eg::tensor, a contiguous range of "
                          "exactly its number of elements, or per-sample rows (eg::rows<F>(X))");
            return static_cast<param_ref<double, S>*>(nullptr);
        }
    }
    using type = std::remove_pointer_t<decltype(pick())>;

    static constexpr type make(const D& v, std::string_view name) {
        if constexpr (rows_of<D>::value) {
            if constexpr (rows_of<D>::value && rows_of<D>::grad) {
                return {v.ptr, v.n, v.gptr, v.gn, v.order, v.total};
            } else {
                return {v.ptr, v.n, nullptr, 0, v.order, v.total};
            }
        } else if constexpr (std_array_of<D>::value || tensor_of<D>::value) {
            return {v.data()};
        } else if constexpr (std::ranges::contiguous_range<D> && std::ranges::sized_range<D>) {
            const std::size_t n = std::ranges::size(v);
            if (n != S::size) {
                std::string m = "etgrad: ";
                m += name;
                m += " has shape ";
                m += shape_text<S>();
                m += " (";
                m += std::to_string(S::size);
                m += " elements) but is bound to ";
                m += std::to_string(n);
                m += " values";
                throw std::invalid_argument(m);
            }
            return {std::ranges::data(v)};
        } else {
            return {};
        }
    }
};

/// Integer ranges bound to a scalar variable are labels (per-sample data).
template <class V>
concept LabelRange = std::ranges::contiguous_range<V> && std::ranges::sized_range<V> &&
                     std::is_integral_v<std::remove_cv_t<std::ranges::range_value_t<V>>> &&
                     !std::is_same_v<std::remove_cv_t<std::ranges::range_value_t<V>>, bool> &&
                     sizeof(std::ranges::range_value_t<V>) >= sizeof(short);  // not text: char, char8_t, ...
template <class V>
    requires LabelRange<V>
struct bound<V> {
    using type = label_ref<std::remove_cv_t<std::ranges::range_value_t<V>>>;
};
template <class V>
    requires LabelRange<V>
struct custom_bound<V> : std::true_type {
    static constexpr auto make(const V& v) {
        return label_ref<std::remove_cv_t<std::ranges::range_value_t<V>>>{std::ranges::data(v), std::ranges::size(v),
                                                                          nullptr, std::ranges::size(v)};
    }
};
template <class I>
struct bound<selected_labels<I>> {
    using type = label_ref<I>;
};
template <class I>
struct custom_bound<selected_labels<I>> : std::true_type {
    static constexpr auto make(const selected_labels<I>& v) { return label_ref<I>{v.ptr, v.n, v.order, v.n}; }
};

template <class T, class S>
struct scalar_value<param_ref<T, S>> {
    using type = T;
};
template <class T, class S, bool G>
struct scalar_value<rows_ref<T, S, G>> {
    using type = T;
};
template <class I>
struct scalar_value<label_ref<I>> {
    using type = float;  // labels do not widen the number type
};

}  // namespace detail

}  // namespace etgrad
