// tensor_par_test.cpp -- eg::par with the per-sample data calls of tensors: eval_into and
// value_and_grad_into on 1, 2, 3 and 8 threads give the bytes of the call without eg::par (n = 0,
// 1, 37, 1437, 5003; float and double; rows in order and in a chosen order), and their errors come
// before anything is written.

#include <catch2/catch.hpp>

#include <etgrad/etgrad.hpp>

#include <cmath>
#include <cstring>
#include <span>
#include <stdexcept>
#include <vector>

namespace {
namespace eg = etgrad;

constexpr auto W1 = eg::var<"W1", eg::shape<4, 5>>;
constexpr auto b1 = eg::var<"b1", eg::shape<4>>;
constexpr auto W2 = eg::var<"W2", eg::shape<3, 4>>;
constexpr auto b2 = eg::var<"b2", eg::shape<3>>;
constexpr auto x = eg::var<"x", eg::shape<5>>;
constexpr auto y = eg::var<"y">;
constexpr auto z = eg::matvec(W2, eg::tanh(eg::matvec(W1, x) + b1)) + b2;
constexpr auto ce = eg::logsumexp(z) - eg::pick(z, y);

constexpr unsigned thread_counts[] = {1, 2, 3, 8};

/// The same bytes (an empty vector's data() may be null: no memcmp then).
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <class T>
struct problem {
    std::array<T, 20> w1{};
    std::array<T, 4> c1{};
    std::array<T, 12> w2{};
    std::array<T, 3> c2{};
    std::vector<T> X;
    std::vector<int> ys;
    std::vector<std::size_t> order;  // a permutation of the samples

    explicit problem(std::size_t n) : X(5 * n), ys(n), order(n) {
        for (std::size_t i = 0; i < w1.size(); ++i) {
            w1[i] = static_cast<T>(0.3 * std::sin(1.3 * static_cast<double>(i)));
        }
        for (std::size_t i = 0; i < w2.size(); ++i) {
            w2[i] = static_cast<T>(0.5 * std::cos(0.7 * static_cast<double>(i)));
        }
        c1 = {T(0.1), T(-0.2), T(0.05), T(0.3)};
        c2 = {T(-0.1), T(0.2), T(0.0)};
        for (std::size_t i = 0; i < X.size(); ++i) {
            X[i] = static_cast<T>(std::sin(0.37 * static_cast<double>(i)) + 0.1 * static_cast<double>(i % 7));
        }
        for (std::size_t s = 0; s < n; ++s) {
            ys[s] = static_cast<int>((s * 5 + s / 3) % 3);
            order[s] = (s * 7 + 3) % n;  // 7 is prime to every n tested
        }
    }
    auto params() const { return std::tuple{W1 = w1, b1 = c1, W2 = w2, b2 = c2}; }
};

template <class T>
void check_eval_into(std::size_t n) {
    INFO("n = " << n << (std::is_same_v<T, float> ? ", float" : ", double"));
    const problem<T> p(n);
    const auto [w1, c1, w2, c2] = p.params();
    const T sentinel = T(-12345);
    // Shaped per-sample output (3 logits a sample), rows in order.
    std::vector<T> plain(3 * n, sentinel);
    eg::eval_into(plain, z, w1, c1, w2, c2, x = eg::rows<5>(p.X));
    // What a per-sample call gives (first, last, and the samples around a chunk boundary).
    for (const std::size_t s : {std::size_t{0}, n / 2, n - 1, std::size_t{1023}, std::size_t{1024}, std::size_t{2047}}) {
        if (s >= n) {
            continue;
        }
        const auto r = z(w1, c1, w2, c2, x = std::span<const T>(p.X).subspan(5 * s, 5));
        for (std::size_t k = 0; k < 3; ++k) {
            CHECK(plain[3 * s + k] == Approx(r(k)).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-12).margin(1e-6));
        }
    }
    std::vector<T> one(3 * n, sentinel);
    eg::eval_into(eg::par(1), one, z, w1, c1, w2, c2, x = eg::rows<5>(p.X));
    CHECK(same_bits(one, plain));
    // A per-sample scalar with labels, rows in a chosen order.
    std::vector<T> plain_ce(n, sentinel);
    eg::eval_into(plain_ce, ce, w1, c1, w2, c2, x = eg::rows<5>(p.X, p.order), y = eg::select(p.ys, p.order));
    for (const unsigned t : thread_counts) {
        INFO("threads = " << t);
        std::vector<T> out(3 * n, sentinel);
        eg::eval_into(eg::par(t), out, z, w1, c1, w2, c2, x = eg::rows<5>(p.X));
        CHECK(same_bits(out, plain));
        CHECK(same_bits(out, one));
        std::vector<T> out_ce(n, sentinel);
        eg::eval_into(eg::par(t), out_ce, ce, w1, c1, w2, c2, x = eg::rows<5>(p.X, p.order),
                      y = eg::select(p.ys, p.order));
        CHECK(same_bits(out_ce, plain_ce));
    }
}

template <class T>
void check_value_and_grad_into(std::size_t n) {
    INFO("n = " << n << (std::is_same_v<T, float> ? ", float" : ", double"));
    const problem<T> p(n);
    const auto [w1, c1, w2, c2] = p.params();
    const T sentinel = T(-12345);
    std::vector<T> plain(n, sentinel), plain_gx(5 * n, sentinel);
    eg::value_and_grad_into(plain, std::tie(plain_gx), ce, eg::wrt(x), w1, c1, w2, c2, x = eg::rows<5>(p.X), y = p.ys);
    // What a per-sample call gives (first, last, and the samples around a chunk boundary).
    for (const std::size_t s : {std::size_t{0}, n / 2, n - 1, std::size_t{1023}, std::size_t{1024}, std::size_t{2047}}) {
        if (s >= n) {
            continue;
        }
        std::array<double, 5> xs{};
        for (std::size_t j = 0; j < 5; ++j) {
            xs[j] = static_cast<double>(p.X[5 * s + j]);
        }
        const auto cast = [](const auto& a) {
            std::array<double, std::tuple_size_v<std::remove_cvref_t<decltype(a)>>> r{};
            for (std::size_t i = 0; i < r.size(); ++i) {
                r[i] = static_cast<double>(a[i]);
            }
            return r;
        };
        const auto vg = eg::value_and_grad(ce, eg::wrt(x), W1 = cast(p.w1), b1 = cast(p.c1), W2 = cast(p.w2),
                                           b2 = cast(p.c2), x = xs, y = static_cast<double>(p.ys[s]));
        const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
        CHECK(static_cast<double>(plain[s]) == Approx(vg.value).epsilon(tol).margin(1e-6));
        for (std::size_t j = 0; j < 5; ++j) {
            CHECK(static_cast<double>(plain_gx[5 * s + j]) == Approx(vg.grad[x](j)).epsilon(tol).margin(1e-6));
        }
    }
    // Rows in a chosen order: each sample's gradient goes to its row.
    std::vector<T> plain_o(n, sentinel), plain_ogx(5 * n, sentinel);
    eg::value_and_grad_into(plain_o, std::tie(plain_ogx), ce, eg::wrt(x), w1, c1, w2, c2,
                            x = eg::rows<5>(p.X, p.order), y = eg::select(p.ys, p.order));
    for (const unsigned t : thread_counts) {
        INFO("threads = " << t);
        std::vector<T> out(n, sentinel), gx(5 * n, sentinel);
        eg::value_and_grad_into(eg::par(t), out, std::tie(gx), ce, eg::wrt(x), w1, c1, w2, c2, x = eg::rows<5>(p.X),
                                y = p.ys);
        CHECK(same_bits(out, plain));
        CHECK(same_bits(gx, plain_gx));
        std::vector<T> out_o(n, sentinel), ogx(5 * n, sentinel);
        eg::value_and_grad_into(eg::par(t), out_o, std::tie(ogx), ce, eg::wrt(x), w1, c1, w2, c2,
                                x = eg::rows<5>(p.X, p.order), y = eg::select(p.ys, p.order));
        CHECK(same_bits(out_o, plain_o));
        CHECK(same_bits(ogx, plain_ogx));
    }
}
}  // namespace

TEST_CASE("eg::par with tensor eval_into: the bytes of the call without it, for any thread count",
          "[tensor][data][par]") {
    for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{37}, std::size_t{1437}, std::size_t{5003}}) {
        check_eval_into<double>(n);
        check_eval_into<float>(n);
    }
}

TEST_CASE("eg::par with tensor value_and_grad_into: the bytes of the call without it, for any thread count",
          "[tensor][data][par]") {
    for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{37}, std::size_t{1437}, std::size_t{5003}}) {
        check_value_and_grad_into<double>(n);
        check_value_and_grad_into<float>(n);
    }
}

TEST_CASE("eg::par with tensor eval_into and value_and_grad_into: errors before anything is written",
          "[tensor][data][par]") {
    const std::size_t n = 1437;
    const problem<double> p(n);
    const auto [w1, c1, w2, c2] = p.params();
    const double sentinel = -12345.0;
    for (const unsigned t : thread_counts) {
        INFO("threads = " << t);
        // An output of the wrong size.
        std::vector<double> wrong(3 * n - 1, sentinel);
        CHECK_THROWS_AS(eg::eval_into(eg::par(t), wrong, z, w1, c1, w2, c2, x = eg::rows<5>(p.X)),
                        std::invalid_argument);
        CHECK(wrong == std::vector<double>(3 * n - 1, sentinel));
        std::vector<double> out(n, sentinel), gx(5 * n, sentinel), small(5 * n - 1, sentinel), short_out(n - 1, sentinel);
        CHECK_THROWS_WITH(eg::value_and_grad_into(eg::par(t), out, std::tie(small), ce, eg::wrt(x), w1, c1, w2, c2,
                                                  x = eg::rows<5>(p.X), y = p.ys),
                          Catch::Contains("the gradient output of 'x' has 7184 elements"));
        CHECK(out == std::vector<double>(n, sentinel));
        CHECK(small == std::vector<double>(5 * n - 1, sentinel));
        CHECK_THROWS_AS(eg::value_and_grad_into(eg::par(t), short_out, std::tie(gx), ce, eg::wrt(x), w1, c1, w2, c2,
                                                x = eg::rows<5>(p.X), y = p.ys),
                        std::invalid_argument);
        CHECK(short_out == std::vector<double>(n - 1, sentinel));
        CHECK(gx == std::vector<double>(5 * n, sentinel));
        // A label out of range, in the last chunk.
        std::vector<int> bad = p.ys;
        bad[1300] = 3;
        std::vector<double> ls(n, sentinel);
        CHECK_THROWS_WITH(eg::eval_into(eg::par(t), ls, ce, w1, c1, w2, c2, x = eg::rows<5>(p.X), y = bad),
                          Catch::Contains("label 3 of sample 1300"));
        CHECK(ls == std::vector<double>(n, sentinel));
        CHECK_THROWS_WITH(eg::value_and_grad_into(eg::par(t), out, std::tie(gx), ce, eg::wrt(x), w1, c1, w2, c2,
                                                  x = eg::rows<5>(p.X), y = bad),
                          Catch::Contains("label 3 of sample 1300"));
        CHECK(out == std::vector<double>(n, sentinel));
        CHECK(gx == std::vector<double>(5 * n, sentinel));
    }
}
