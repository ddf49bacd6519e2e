// The worked examples of the autograd lecture notes, with their exact expected values.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <etgrad/etgrad.hpp>
#include <string>

namespace eg = etgrad;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto a = eg::var<"a">;
constexpr auto b = eg::var<"b">;
constexpr auto c = eg::var<"c">;
constexpr auto d = eg::var<"d">;

std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) {
        ++n;
    }
    return n;
}
}  // namespace

TEST_CASE("y = x^2: dy/dx = 4 at x = 2 and 6 at x = 3", "[notes]") {
    constexpr auto y = x * x;
    REQUIRE(eg::grad(y, x = 2.0)[x] == 4.0);
    REQUIRE(eg::grad(y, x = 3.0)[x] == 6.0);
    REQUIRE(eg::d(y, x)(x = 2.0) == 4.0);
    REQUIRE(eg::d(y, x)(x = 3.0) == 6.0);
    static_assert(eg::d(x * x, x)(x = 3.0) == 6.0);
    static_assert(eg::grad(x * x, x = 2.0)[x] == 4.0);
    REQUIRE(eg::grad_fn_name(y) == "MulBackward");
    REQUIRE(eg::grad(eg::square(x), x = 3.0)[x] == 6.0);
}

TEST_CASE("z = sin(x^2): dz/dx = 2x cos(x^2)", "[notes]") {
    constexpr auto z = eg::sin(x * x);
    for (double xv : {-2.0, -0.5, 0.0, 0.3, 1.0, 2.0, 3.0}) {
        auto [v, g] = eg::value_and_grad(z, x = xv);
        REQUIRE(v == std::sin(xv * xv));
        REQUIRE(g[x] == Approx(2 * xv * std::cos(xv * xv)).epsilon(1e-15).margin(1e-300));
    }
    REQUIRE(eg::grad_fn_name(z) == "SinBackward");
}

TEST_CASE("u = exp(sin(x^2)) and its chain of local derivatives", "[notes]") {
    // w = x^2, v = sin(w), u = exp(v): du/dx = du/dv * dv/dw * dw/dx = exp(v) * cos(w) * 2x.
    constexpr auto w = x * x;
    constexpr auto v = eg::sin(w);
    constexpr auto u = eg::exp(v);
    constexpr auto W = eg::var<"w">;
    constexpr auto V = eg::var<"v">;
    const double xv = 1.3, wv = xv * xv, vv = std::sin(wv);
    const double du_dv = eg::grad(eg::exp(V), V = vv)[V];
    const double dv_dw = eg::grad(eg::sin(W), W = wv)[W];
    const double dw_dx = eg::grad(w, x = xv)[x];
    REQUIRE(du_dv == Approx(std::exp(vv)).epsilon(1e-15));
    REQUIRE(dv_dw == Approx(std::cos(wv)).epsilon(1e-15));
    REQUIRE(dw_dx == 2 * xv);
    auto [uv, g] = eg::value_and_grad(u, x = xv);
    REQUIRE(uv == Approx(std::exp(vv)).epsilon(1e-15));
    REQUIRE(g[x] == Approx(du_dv * dv_dw * dw_dx).epsilon(1e-14));
    REQUIRE(eg::grad_fn_name(u) == "ExpBackward");
    REQUIRE(eg::to_string(u) == "exp(sin(x * x))");
}

TEST_CASE("Q = 3a^3 - b^2 elementwise: dQ/da = 9a^2, dQ/db = -2b", "[notes]") {
    constexpr auto Q = 3 * eg::pow(a, eg::c<3>) - b * b;
    const std::array<double, 2> av{2, 3}, bv{6, 4};
    const std::array<double, 2> dQda{36, 81}, dQdb{-12, -8};
    for (std::size_t i = 0; i < 2; ++i) {
        auto [q, g] = eg::value_and_grad(Q, a = av[i], b = bv[i]);
        REQUIRE(q == 3 * av[i] * av[i] * av[i] - bv[i] * bv[i]);
        REQUIRE(g[a] == dQda[i]);
        REQUIRE(g[b] == dQdb[i]);
    }
    // Summing the elements (PyTorch's Q.backward(gradient=ones)) is a vjp with cotangent (1, 1).
    auto [vals, g] = eg::vjp(eg::vector(Q, Q), std::array{1.0, 1.0}, a = 2.0, b = 6.0);
    REQUIRE(vals[0] == 24 - 36);
    REQUIRE(g[a] == 72.0);
    REQUIRE(g[b] == -24.0);
}

TEST_CASE("y = mean(x^2) over (1, 2, 3) written out: dy/dx_i = 2 x_i / 3", "[notes]") {
    constexpr auto x1 = eg::var<"x1">;
    constexpr auto x2 = eg::var<"x2">;
    constexpr auto x3 = eg::var<"x3">;
    constexpr auto y = (x1 * x1 + x2 * x2 + x3 * x3) / 3;
    auto [v, g] = eg::value_and_grad(y, x1 = 1.0, x2 = 2.0, x3 = 3.0);
    REQUIRE(v == Approx(14.0 / 3.0).epsilon(1e-15));
    REQUIRE(g[x1] == Approx(2.0 / 3.0).epsilon(1e-15));
    REQUIRE(g[x2] == Approx(4.0 / 3.0).epsilon(1e-15));
    REQUIRE(g[x3] == Approx(6.0 / 3.0).epsilon(1e-15));
}

TEST_CASE("e = ((a + b) * b^2) + ((c - d) * d^2): graph and four partial derivatives", "[notes]") {
    constexpr auto e = ((a + b) * (b * b)) + ((c - d) * (d * d));
    const double av = 1.5, bv = -2.0, cv = 0.25, dv = 3.0;
    auto [v, g] = eg::value_and_grad(e, a = av, b = bv, c = cv, d = dv);
    REQUIRE(v == (av + bv) * (bv * bv) + (cv - dv) * (dv * dv));
    REQUIRE(g[a] == bv * bv);
    REQUIRE(g[b] == bv * bv + 2 * bv * (av + bv));
    REQUIRE(g[c] == dv * dv);
    REQUIRE(g[d] == -dv * dv + 2 * dv * (cv - dv));

    REQUIRE(eg::to_string(e) == "(a + b) * (b * b) + (c - d) * (d * d)");
    const std::string dot = eg::to_dot(e);
    // forward graph: 4 variables + a+b, b*b, c-d, d*d, two products, the sum = 11 distinct nodes
    REQUIRE(count(dot, "[label=\"b\"") == 1);
    REQUIRE(count(dot, "    f") >= 11);
    REQUIRE(count(dot, "MulBackward") == 4);
    REQUIRE(count(dot, "AddBackward") == 2);
    REQUIRE(count(dot, "SubBackward") == 1);
    REQUIRE(count(dot, "AccumulateGrad") == 4);
    REQUIRE(dot.find("digraph") == 0);
}

TEST_CASE("logistic-regression neuron: dL/dw = (yhat - y) x and dL/db = yhat - y on every row", "[notes]") {
    constexpr auto w = eg::var<"w">;
    constexpr auto bias = eg::var<"b">;
    constexpr auto cgpa = eg::var<"cgpa">;
    constexpr auto placed = eg::var<"placed">;
    constexpr auto z = w * cgpa + bias;
    constexpr auto yhat = eg::sigmoid(z);
    constexpr auto loss = -(placed * eg::log(yhat) + (1 - placed) * eg::log(1 - yhat));

    const double xs[] = {9.11, 8.9, 7.0, 6.56, 4.56};
    const double ys[] = {1, 1, 0, 1, 0};
    for (double wv : {0.0, 0.3, -0.7}) {
        for (double bv : {0.0, -1.5}) {
            for (int i = 0; i < 5; ++i) {
                auto [L, g] = eg::value_and_grad(loss, eg::wrt(w, bias), w = wv, bias = bv, cgpa = xs[i],
                                                 placed = ys[i]);
                const double p = 1 / (1 + std::exp(-(wv * xs[i] + bv)));
                REQUIRE(L == Approx(-(ys[i] * std::log(p) + (1 - ys[i]) * std::log(1 - p))).epsilon(1e-14));
                REQUIRE(g[w] == Approx((p - ys[i]) * xs[i]).epsilon(1e-12));
                REQUIRE(g[bias] == Approx(p - ys[i]).epsilon(1e-12).margin(1e-15));
            }
        }
    }
}
