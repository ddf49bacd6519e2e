// tensor_test.cpp -- shaped variables: the seed's tensor examples, bindings and their checks,
// gradient records, vjp/jvp, and the data loops with per-sample vectors and labels (against
// per-sample scalar calls, lengths 0..67, float and double, errors before any write).

#include <catch2/catch.hpp>

#include <etgrad/etgrad.hpp>

#include <cmath>
#include <cstring>
#include <numeric>
#include <span>
#include <vector>

namespace {
namespace eg = etgrad;
using Catch::Matchers::WithinRel;

constexpr auto W = eg::var<"W", eg::shape<3, 5>>;
constexpr auto b = eg::var<"b", eg::shape<3>>;
constexpr auto x = eg::var<"x", eg::shape<5>>;
constexpr auto label = eg::var<"label">;
constexpr auto z = eg::matvec(W, eg::tanh(x)) + b;
constexpr auto ce = eg::logsumexp(z) - eg::pick(z, label);
constexpr auto loss = eg::mean(ce) + 0.01 * eg::sum(W * W);
}  // namespace

TEST_CASE("the seed's tensor examples", "[tensor]") {
    // y = (x**2).mean() with x = (1, 2, 3): dy/dx = 2x/3.
    constexpr auto v = eg::var<"x", eg::shape<3>>;
    auto [y, g] = eg::value_and_grad(eg::mean(eg::square(v)), v = std::array{1.0, 2.0, 3.0});
    CHECK_THAT(y, WithinRel(14.0 / 3, 1e-15));
    CHECK_THAT(g[v](0), WithinRel(2.0 / 3, 1e-15));
    CHECK_THAT(g[v](1), WithinRel(4.0 / 3, 1e-15));
    CHECK_THAT(g[v](2), WithinRel(2.0, 1e-15));
    // Q = 3a^3 - b^2 on a = (2, 3), b = (6, 4); the gradient of Q.sum() is 9a^2 and -2b.
    constexpr auto a = eg::var<"a", eg::shape<2>>;
    constexpr auto bb = eg::var<"b", eg::shape<2>>;
    constexpr auto Q = 3 * eg::pow(a, eg::c<3>) - eg::square(bb);
    auto q = Q(a = std::array{2.0, 3.0}, bb = std::array{6.0, 4.0});
    CHECK(q(0) == -12.0);
    CHECK(q(1) == 65.0);
    auto [s, gq] = eg::value_and_grad(eg::sum(Q), a = std::array{2.0, 3.0}, bb = std::array{6.0, 4.0});
    CHECK(s == 53.0);
    CHECK(gq[a](0) == 36.0);
    CHECK(gq[a](1) == 81.0);
    CHECK(gq[bb](0) == -12.0);
    CHECK(gq[bb](1) == -8.0);
    // The same as a vjp with a cotangent of ones (PyTorch's Q.backward(gradient=ones)).
    auto [qv, gv] = eg::vjp(Q, std::array{1.0, 1.0}, a = std::array{2.0, 3.0}, bb = std::array{6.0, 4.0});
    CHECK(qv(1) == 65.0);
    CHECK(gv[a](1) == 81.0);
    CHECK(gv[bb](0) == -12.0);
}

TEST_CASE("shaped bindings: arrays, tensors, spans of exactly the size", "[tensor]") {
    constexpr auto f = eg::sum(eg::matvec(W, x) * b);
    std::array<double, 15> w{};
    std::iota(w.begin(), w.end(), 1.0);
    eg::tensor<double, eg::shape<3>> bt{1.0, -1.0, 2.0};
    std::vector<double> xv{1, 0, 0, 0, 1};
    const double v = f(W = w, x = xv, b = bt);
    CHECK(v == (1 + 5) * 1.0 - (6 + 10) + 2.0 * (11 + 15));
    std::vector<double> short_x{1, 2, 3};
    CHECK_THROWS_AS(x = short_x, std::invalid_argument);
    CHECK_THROWS_WITH(x = short_x, Catch::Contains("x") && Catch::Contains("5 elements") && Catch::Contains("3 values"));
    // The gradient record: shaped entries, +=, * s, zero().
    auto g = eg::grad(f, W = w, x = xv, b = bt);
    CHECK(g[W](1, 4) == -1.0);
    CHECK(g[x](4) == 5 - 10 + 2 * 15);
    auto acc = g;
    acc += g;
    CHECK(acc[W](2, 0) == 4.0);
    acc = acc * 0.5;
    CHECK(acc[W](2, 0) == 2.0);
    acc.zero();
    CHECK(acc[W](2, 0) == 0.0);
    CHECK(acc[b](0) == 0.0);
}

TEST_CASE("jvp along a shaped direction equals the gradient's inner product", "[tensor]") {
    std::array<double, 15> w{};
    for (std::size_t i = 0; i < w.size(); ++i) {
        w[i] = std::sin(1.0 + i);
    }
    const std::array<double, 5> xv{0.1, -0.2, 0.3, 0.4, -0.5};
    const std::array<double, 3> bv{0.5, 0.1, -0.3};
    std::array<double, 15> dir{};
    for (std::size_t i = 0; i < dir.size(); ++i) {
        dir[i] = std::cos(2.0 * i);
    }
    auto [v, t] = eg::jvp(ce, eg::tangent(W = dir), W = w, x = xv, b = bv, label = 2.0);
    auto g = eg::grad(ce, W = w, x = xv, b = bv, label = 2.0);
    double dot = 0;
    for (std::size_t i = 0; i < dir.size(); ++i) {
        dot += g[W][i] * dir[i];
    }
    CHECK_THAT(t, WithinRel(dot, 1e-13));
    CHECK(v == ce(W = w, x = xv, b = bv, label = 2.0));
}

namespace {
template <class T>
void check_data_loop(std::size_t n, std::size_t offset) {
    INFO("n = " << n << ", offset = " << offset << (std::is_same_v<T, float> ? " float" : " double"));
    std::array<T, 15> w{};
    for (std::size_t i = 0; i < w.size(); ++i) {
        w[i] = static_cast<T>(0.1 * i - 0.7);
    }
    const std::array<T, 3> bv{T(0.1), T(-0.2), T(0.3)};
    std::vector<T> Xs(offset + 5 * n);
    for (std::size_t i = 0; i < Xs.size(); ++i) {
        Xs[i] = static_cast<T>(std::sin(0.37 * i));
    }
    std::span<const T> X(Xs.data() + offset, 5 * n);
    std::vector<int> ys(n);
    for (std::size_t s = 0; s < n; ++s) {
        ys[s] = static_cast<int>((s * 7) % 3);
    }
    std::vector<T> gX(5 * n, T(-99));
    auto [L, g] = eg::value_and_grad(loss, eg::wrt(W, b, x), W = w, b = bv, x = eg::rows<5>(X).grad_into(gX),
                                     label = ys);
    // The reference: one scalar call per sample, in double.
    double Lr = 0;
    eg::tensor<double, eg::shape<3, 5>> gW{};
    eg::tensor<double, eg::shape<3>> gb{};
    std::array<double, 15> wd{};
    std::copy(w.begin(), w.end(), wd.begin());
    const std::array<double, 3> bd{bv[0], bv[1], bv[2]};
    double worst_x = 0;
    for (std::size_t s = 0; s < n; ++s) {
        std::array<double, 5> xs{};
        std::copy(X.begin() + 5 * s, X.begin() + 5 * s + 5, xs.begin());
        auto [l, gs] = eg::value_and_grad(ce, W = wd, b = bd, x = xs, label = double(ys[s]));
        Lr += l / n;
        gW += gs[W] * (1.0 / n);
        gb += gs[b] * (1.0 / n);
        for (std::size_t j = 0; j < 5; ++j) {
            worst_x = std::max(worst_x, std::abs(gs[x](j) / n - gX[5 * s + j]));
        }
    }
    auto reg = eg::grad(0.01 * eg::sum(W * W), W = wd);
    Lr += 0.01 * std::inner_product(wd.begin(), wd.end(), wd.begin(), 0.0);
    gW += reg[W];
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-14;
    CHECK(std::abs(L - Lr) <= tol * (1 + std::abs(Lr)));
    for (std::size_t i = 0; i < 15; ++i) {
        CHECK(std::abs(g[W][i] - gW[i]) <= tol);
    }
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(std::abs(g[b][i] - gb[i]) <= tol);
    }
    CHECK(worst_x <= tol);
    // Evaluation alone gives the same value.
    const T v = loss(W = w, b = bv, x = eg::rows<5>(X), label = ys);
    CHECK(v == L);
}
}  // namespace

TEST_CASE("data loops with per-sample vectors and labels agree with per-sample calls", "[tensor][data]") {
    for (std::size_t n = 1; n <= 67; ++n) {
        check_data_loop<double>(n, n % 3);
        check_data_loop<float>(n, n % 2);
    }
    check_data_loop<double>(1000, 1);
}

TEST_CASE("a long data loop over a million samples", "[tensor][data]") {
    constexpr auto u = eg::var<"u", eg::shape<2>>;
    constexpr auto p = eg::var<"p", eg::shape<2>>;
    constexpr auto f = eg::mean(eg::square(eg::dot(u, p) - 1.0));
    const std::size_t n = 1'000'003;
    std::vector<double> U(2 * n);
    for (std::size_t i = 0; i < U.size(); ++i) {
        U[i] = (i % 2 == 0) ? 1.0 : 0.5;
    }
    auto [v, g] = eg::value_and_grad(f, p = std::array{0.5, 1.0}, u = eg::rows<2>(U));
    // Every sample is (1, 0.5): dot = 1, so the loss and its gradient vanish exactly; at p = (1, 1):
    // r = 0.5, loss 0.25, gradient 2 r u = (1, 0.5).
    CHECK(v == 0.0);
    auto [v2, g2] = eg::value_and_grad(f, p = std::array{1.0, 1.0}, u = eg::rows<2>(U));
    CHECK_THAT(v2, WithinRel(0.25, 1e-12));
    CHECK_THAT(g2[p](0), WithinRel(1.0, 1e-9));
    CHECK_THAT(g2[p](1), WithinRel(0.5, 1e-9));
    (void)g;
}

TEST_CASE("data errors are reported before anything is written", "[tensor][data]") {
    const std::array<double, 15> w{};
    const std::array<double, 3> bv{};
    std::vector<double> X(5 * 4, 0.5);
    std::vector<int> ys{0, 1, 2, 1};
    std::vector<double> gX(X.size(), 7.0);
    const std::vector<double> before = gX;
    // A label out of range.
    std::vector<int> bad{0, 1, 3, 1};
    CHECK_THROWS_WITH(eg::value_and_grad(loss, eg::wrt(W, x), W = w, b = bv, x = eg::rows<5>(X).grad_into(gX), label = bad),
                      Catch::Contains("label 3 of sample 2"));
    CHECK(gX == before);
    // Labels and rows of different lengths.
    std::vector<int> three{0, 1, 2};
    CHECK_THROWS_WITH(eg::value_and_grad(loss, eg::wrt(W, x), W = w, b = bv, x = eg::rows<5>(X).grad_into(gX), label = three),
                      Catch::Contains("x has 4") && Catch::Contains("label has 3"));
    CHECK(gX == before);
    // A gradient output of the wrong size.
    std::vector<double> small(3);
    CHECK_THROWS_AS(eg::value_and_grad(loss, eg::wrt(W, x), W = w, b = bv, x = eg::rows<5>(X).grad_into(small), label = ys),
                    std::invalid_argument);
    // Rows that are not a multiple of the width; a mean over zero samples.
    std::vector<double> ragged(7);
    CHECK_THROWS_WITH(eg::rows<5>(ragged), Catch::Contains("not a multiple"));
    std::vector<double> none;
    std::vector<int> no_labels;
    CHECK_THROWS_WITH(loss(W = w, b = bv, x = eg::rows<5>(none), label = no_labels), Catch::Contains("zero samples"));
}

TEST_CASE("inspection of shaped graphs", "[tensor][inspect]") {
    constexpr auto mv = eg::matvec(W, x);
    static_assert(eg::grad_fn_name(mv) == "MvBackward");
    static_assert(eg::grad_fn_name(eg::matmul(W, eg::transpose(W))) == "MmBackward");
    static_assert(eg::grad_fn_name(eg::softmax(z)) == "SoftmaxBackward");
    static_assert(eg::grad_fn_name(eg::sum(z)) == "SumBackward");
    static_assert(std::is_same_v<eg::shape_of_t<decltype(mv)>, eg::shape<3>>);
    static_assert(std::is_same_v<eg::shape_of_t<decltype(eg::outer(b, x))>, eg::shape<3, 5>>);
    static_assert(std::is_same_v<eg::shape_of_t<decltype(W + x)>, eg::shape<3, 5>>);
    static_assert(std::is_same_v<eg::shape_of_t<decltype(eg::sum(W))>, eg::shape<>>);
    static_assert(eg::depends_on(loss, W));
    static_assert(!eg::depends_on(mv, b));
    CHECK(eg::to_string(mv) == "matvec(W, x)");
    // to_dot writes each shaped node's shape under its name, and a structured operation's operand
    // shapes with its result's.
    const std::string dot = eg::to_dot(eg::sum(eg::tanh(mv)));
    CHECK(dot.find("[label=\"W\\n3\u00d75\"") != std::string::npos);
    CHECK(dot.find("[label=\"matvec\\n3\u00d75 \u00b7 5 \u2192 3\"") != std::string::npos);
    CHECK(dot.find("[label=\"tanh\\n3\"") != std::string::npos);
    CHECK(dot.find("[label=\"sum\\n3 \u2192 scalar\"") != std::string::npos);
}

TEST_CASE("a weight used by a matvec and elementwise per sample: both contributions, from zero") {
    constexpr auto Wm = eg::var<"Wm", eg::shape<3, 4>>;
    constexpr auto xs = eg::var<"xs", eg::shape<4>>;
    // matvec(Wm, xs) defers its weight gradient to a chunk; Wm * outer(...) (a per-sample
    // product) adds to the same lane accumulators directly, so they must start at zero.
    constexpr auto f = eg::mean(eg::sum(eg::tanh(eg::matvec(Wm, xs))) + eg::sum(Wm * eg::outer(eg::tanh(eg::matvec(Wm, xs)), xs)));
    std::array<double, 12> w{};
    for (std::size_t i = 0; i < 12; ++i) {
        w[i] = 0.05 * static_cast<double>(i) - 0.3;
    }
    std::vector<double> X(4 * 29);
    for (std::size_t i = 0; i < X.size(); ++i) {
        X[i] = std::cos(0.7 * static_cast<double>(i));
    }
    // Repeated calls reuse the stack: stale accumulators would show as a difference.
    auto [L, g] = eg::value_and_grad(f, eg::wrt(Wm), Wm = w, xs = eg::rows<4>(X));
    auto [L2, g2] = eg::value_and_grad(f, eg::wrt(Wm), Wm = w, xs = eg::rows<4>(X));
    CHECK(L == L2);
    CHECK(g[Wm] == g2[Wm]);
    eg::tensor<double, eg::shape<3, 4>> ref{};
    for (std::size_t s = 0; s < 29; ++s) {
        std::array<double, 4> x1{};
        std::copy(X.begin() + 4 * s, X.begin() + 4 * s + 4, x1.begin());
        auto [l1, gs] = eg::value_and_grad(eg::sum(eg::tanh(eg::matvec(Wm, xs))) + eg::sum(Wm * eg::outer(eg::tanh(eg::matvec(Wm, xs)), xs)),
                                           eg::wrt(Wm), Wm = w, xs = x1);
        (void)l1;
        ref += gs[Wm] * (1.0 / 29);
    }
    for (std::size_t i = 0; i < 12; ++i) {
        CHECK(g[Wm][i] == Approx(ref[i]).epsilon(1e-12).margin(1e-14));
    }
}
