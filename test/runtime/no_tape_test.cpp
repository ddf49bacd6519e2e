// No tape: no heap allocation in the sweeps, every distinct subexpression evaluated exactly once
// forward and once backward, and no shared state (threads get bit-identical results).
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <etgrad/etgrad.hpp>
#include <new>
#include <thread>
#include <tuple>
#include <vector>

namespace eg = etgrad;

// Counting allocations with a replaced global operator new. AddressSanitizer owns operator new,
// so the sanitizer build of the suite leaves this one test out (the GCC and Clang builds run it).
#if defined(__SANITIZE_ADDRESS__)
#define ETGRAD_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ETGRAD_TEST_ASAN 1
#endif
#endif

#ifndef ETGRAD_TEST_ASAN
namespace {
std::atomic<long> g_allocations{0};
}
// (GCC cannot see that the replaced operator new is malloc-based, and warns about the free.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
    ++g_allocations;
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto z = eg::var<"z">;

// Counts its calls: value once per forward sweep, derivative once per backward sweep.
std::atomic<int> g_value_calls{0};
std::atomic<int> g_derivative_calls{0};
struct Counted {
    static constexpr std::string_view name = "Counted";
    template <class U>
    static U value(const U& u) {
        ++g_value_calls;
        return u;
    }
    template <class U>
    static U derivative(const U& u) {
        ++g_derivative_calls;
        return u / u;  // 1, in u's number type
    }
};

// A nontrivial expression (Black-Scholes-like, 20+ distinct nodes, shared subexpressions).
constexpr auto sst = z * eg::sqrt(y);
constexpr auto d1 = (eg::log(x / 100.0) + (0.03 + 0.5 * z * z) * y) / sst;
constexpr auto d2 = d1 - sst;
constexpr auto price = x * 0.5 * (1 + eg::erf(d1 / 1.4142135623730951)) -
                       100.0 * eg::exp(-0.03 * y) * 0.5 * (1 + eg::erf(d2 / 1.4142135623730951));
}  // namespace

#ifndef ETGRAD_TEST_ASAN
TEST_CASE("no heap allocation in a loop given its workspace", "[no-tape][loop]") {
    constexpr auto vv = eg::var<"vv">;
    constexpr auto k = eg::var<"k">;
    constexpr auto step = eg::carry(vv = vv - 0.01 * k * x, x = x + 0.01 * vv);
    std::vector<double> w(eg::scan_workspace_size(eg::checkpoint_every<16>, 1000, 2));
    const auto loop = eg::scan(step, 1000, eg::checkpoint_every<16>).final(x * x).workspace(w);
    const long before = g_allocations.load();
    auto [val, g] = eg::value_and_grad(loop, eg::wrt(k, x), x = 1.0, vv = 0.0, k = 4.0);
    const double value_only = loop(x = 1.0, vv = 0.0, k = 4.0);
    CHECK(g_allocations.load() == before);
    CHECK(std::isfinite(val));
    CHECK(std::isfinite(g[k]));
    // (equal up to rounding: with FMA contraction, GCC's default under -march=native, the value-only
    // pass and the recomputed segments may contract differently; README, Loops)
    CHECK(value_only == Approx(val).epsilon(1e-14));
}

TEST_CASE("no heap allocation in grad, value_and_grad, hessian, jvp, vjp, jacobian", "[no-tape]") {
    constexpr auto f = eg::sin(x * y) + eg::exp(y) / x + eg::sigmoid(x * z) * 2.5;
    // the counter works: a std::vector allocates
    const long probe = g_allocations.load();
    std::vector<int>* heap = new std::vector<int>(100);
    REQUIRE(g_allocations.load() > probe);
    delete heap;

    const long before = g_allocations.load();
    auto [v, g] = eg::value_and_grad(f, x = 1.5, y = 0.5, z = -0.25);
    auto g2 = eg::grad(f, eg::wrt(x), x = 1.5, y = 0.5, z = -0.25);
    auto H = eg::hessian(f, eg::wrt(x, y, z), x = 1.5, y = 0.5, z = -0.25);
    auto t = eg::jvp(f, eg::tangent(x = 1.0, y = 2.0), x = 1.5, y = 0.5, z = -0.25);
    auto [vals, gv] = eg::vjp(eg::vector(f, x * y), std::array{1.0, 2.0}, x = 1.5, y = 0.5, z = -0.25);
    auto J = eg::jacobian(eg::vector(f, x * y), eg::wrt(x, y), x = 1.5, y = 0.5, z = -0.25);
    auto hv = eg::hvp(f, eg::tangent(x = 1.0), x = 1.5, y = 0.5, z = -0.25);
    auto dv = eg::d(price, x)(x = 105.0, y = 0.5, z = 0.2);
    auto pg = eg::value_and_grad(price, x = 105.0, y = 0.5, z = 0.2);
    const long after = g_allocations.load();
    REQUIRE(after == before);
    // and the results are the real ones
    REQUIRE(g[x] == Approx(0.5 * std::cos(0.75) - std::exp(0.5) / 2.25 +
                           2.5 * -0.25 * (1 / (1 + std::exp(0.375))) * (1 - 1 / (1 + std::exp(0.375)))));
    REQUIRE(static_cast<double>(g2) == g[x]);
    REQUIRE(H(x, y) == H(y, x));
    REQUIRE(t.tangent == Approx(g[x] + 2 * g[y]));
    REQUIRE(gv[y] == Approx(g[y] + 2 * 1.5));
    REQUIRE(vals[1] == 0.75);
    REQUIRE(J(0, x) == Approx(g[x]));
    REQUIRE(hv[x] == Approx(H(x, x)));
    REQUIRE(dv == Approx(pg.grad[x]).epsilon(1e-12));
    REQUIRE(v == f(x = 1.5, y = 0.5, z = -0.25));
}

TEST_CASE("no heap allocation in the data loops", "[no-tape][data]") {
    // Data and outputs allocated first; the calls themselves allocate nothing.
    constexpr std::size_t n = 10'007;  // several blocks and a tail
    std::vector<double> xs(n), ys(n), gx(n), out(n), d1(n), d2(n);
    std::vector<float> xf(n), gf(n);
    for (std::size_t i = 0; i < n; ++i) {
        xs[i] = 0.5 + 0.0001 * static_cast<double>(i);
        ys[i] = (i % 3 == 0) ? 1.0 : 0.0;
        xf[i] = static_cast<float>(xs[i]);
    }
    const auto p = eg::sigmoid(x * z + y);
    const auto bce = -(eg::var<"t"> * eg::log(p) + (1 - eg::var<"t">) * eg::log(1 - p));
    const long before = g_allocations.load();
    auto [l, g] = eg::value_and_grad(eg::mean(bce) + 0.01 * z * z, eg::wrt(y, z), y = -1.0, z = 0.5, x = xs,
                                     eg::var<"t"> = ys);
    auto [v2, g2] = eg::value_and_grad(eg::log(eg::sum(eg::exp(x * z))), eg::wrt(z, x), z = 0.5,
                                       x = eg::data(xs).grad_into(gx));
    auto [v3, g3] = eg::value_and_grad(eg::prod(x), eg::wrt(x), x = eg::data(xf).grad_into(gf));
    double v4 = eg::logsumexp(x * z)(x = xs, z = 2.0);
    eg::eval_into(out, eg::exp(x - eg::logsumexp(x)), x = xs);
    eg::value_and_grad_into(out, std::tie(d1, d2), eg::sin(x * z), eg::wrt(x, z), x = xs, z = 0.5);
    const long after = g_allocations.load();
    REQUIRE(after == before);
    REQUIRE(std::isfinite(l));
    REQUIRE(std::isfinite(g[z]));
    REQUIRE(std::isfinite(v2 + g2[z] + v3 + v4));
    REQUIRE(d2[7] == Approx(xs[7] * std::cos(xs[7] * 0.5)));
}

TEST_CASE("no heap allocation in tensor data loops, parameter stores and optimizer steps", "[no-tape][nn]") {
    constexpr auto xv = eg::var<"x", eg::shape<8>>;
    constexpr auto label = eg::var<"label">;
    constexpr auto fc1 = eg::nn::linear<"fc1", 8, 5>;
    constexpr auto fc2 = eg::nn::linear<"fc2", 5, 3>;
    constexpr auto logits = fc2(eg::tanh(fc1(xv)));
    constexpr auto loss = eg::mean(eg::nn::cross_entropy(logits, label));
    constexpr std::size_t n = 301;
    std::vector<float> X(8 * n);
    std::vector<int> labels(n);
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < X.size(); ++i) {
        X[i] = static_cast<float>(std::sin(0.1 * static_cast<double>(i)));
    }
    for (std::size_t s = 0; s < n; ++s) {
        labels[s] = static_cast<int>(s % 3);
        order[s] = (s * 7) % n;
    }
    auto params = eg::parameters<float>(loss, eg::inputs(xv, label), 3);  // the store: no heap either
    eg::optim::adam adam(params, {.lr = 1e-2});
    eg::optim::sgd sgd(params, {.lr = 0.1, .momentum = 0.9});
    const long before = g_allocations.load();
    auto [L, g] = eg::value_and_grad(loss, params, xv = eg::rows<8>(X), label = labels);
    adam.step(g);
    auto g2 = eg::grad(loss, params, xv = eg::rows<8>(X, order), label = eg::select(labels, order));
    sgd.step(g2);
    const auto z = eg::evaluate(logits, params, xv = std::span<const float>(X).first(8));
    const long after = g_allocations.load();
    REQUIRE(after == before);
    REQUIRE(std::isfinite(L));
    REQUIRE(std::isfinite(z(0)));
}
#endif

TEST_CASE("each distinct subexpression is evaluated once forward and once backward", "[no-tape]") {
    auto u = eg::function<Counted>(x * x);
    auto zz = u * u * u;
    g_value_calls = 0;
    g_derivative_calls = 0;
    auto [v, g] = eg::value_and_grad(zz, x = 1.5);
    REQUIRE(g_value_calls == 1);
    REQUIRE(g_derivative_calls == 1);
    REQUIRE(v == Approx(std::pow(1.5, 6)).epsilon(1e-15));
    REQUIRE(g[x] == Approx(6 * std::pow(1.5, 5)).epsilon(1e-15));
    REQUIRE(eg::grad_fn_name(u) == "CountedBackward");

    g_value_calls = 0;
    (void)zz(x = 2.0);  // plain evaluation: forward only
    REQUIRE(g_value_calls == 1);
    REQUIRE(g_derivative_calls == 1);
}

TEST_CASE("8 threads computing gradients at once get bit-identical results", "[no-tape]") {
    constexpr int n = 1000;
    std::vector<std::array<double, 4>> reference(n);
    auto point = [](int i) { return std::array<double, 3>{80.0 + 0.04 * i, 0.25 + 0.0015 * i, 0.15 + 0.0002 * i}; };
    for (int i = 0; i < n; ++i) {
        const auto p = point(i);
        auto [v, g] = eg::value_and_grad(price, x = p[0], y = p[1], z = p[2]);
        reference[i] = {v, g[x], g[y], g[z]};
    }
    std::vector<std::vector<std::array<double, 4>>> results(8, std::vector<std::array<double, 4>>(n));
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < n; ++i) {
                const auto p = point(i);
                auto [v, g] = eg::value_and_grad(price, x = p[0], y = p[1], z = p[2]);
                results[t][i] = {v, g[x], g[y], g[z]};
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    for (int t = 0; t < 8; ++t) {
        REQUIRE(std::memcmp(results[t].data(), reference.data(), n * sizeof(reference[0])) == 0);
    }
    REQUIRE(std::isfinite(reference[500][1]));
}

namespace {
// Built from temporaries, returned by value: nothing can dangle.
auto make_expression(double k) {
    auto u = x * x;
    return eg::sin(u) + k * u;
}
template <class E>
struct Model {
    E loss;
};
}  // namespace

TEST_CASE("expressions are values: returned, stored, copied, never dangling", "[no-tape]") {
    auto f = make_expression(2.5);
    REQUIRE(f(x = 1.5) == Approx(std::sin(2.25) + 2.5 * 2.25).epsilon(1e-15));
    REQUIRE(eg::grad(f, x = 1.5)[x] == Approx(3 * std::cos(2.25) + 5 * 1.5).epsilon(1e-15));
    Model<decltype(f)> m{f};
    std::vector<decltype(f)> many(3, make_expression(1.0));
    many[1] = make_expression(-1.0);
    REQUIRE(m.loss(x = 1.5) == f(x = 1.5));
    REQUIRE(many[1](x = 2.0) == Approx(std::sin(4.0) - 4.0).epsilon(1e-15));
    REQUIRE(many[2](x = 2.0) == Approx(std::sin(4.0) + 4.0).epsilon(1e-15));
    // constant-free expressions are empty types: the graph is all in the type
    static_assert(std::is_empty_v<decltype(eg::sin(x * x) + eg::exp(y) / x)>);
    constexpr auto g = eg::sin(x * x) + eg::exp(y) / x;
    static_assert(std::is_trivially_copyable_v<decltype(g)>);
}

TEST_CASE("runtime constants are kept apart: same type, different values", "[no-tape]") {
    auto f = 2.5 * x + 3.5 * x;
    static_assert(std::is_same_v<decltype(2.5 * x), decltype(3.5 * x)>);
    REQUIRE(f(x = 2.0) == 12.0);
    REQUIRE(eg::grad(f, x = 2.0)[x] == 6.0);
    auto u = 2.0 * x;
    auto v = 3.0 * x;
    auto h = u * u + v * v;  // 13 x^2
    REQUIRE(h(x = 1.0) == 13.0);
    REQUIRE(eg::grad(h, x = 1.0)[x] == 26.0);
    REQUIRE(eg::d(h, x)(x = 1.0) == 26.0);
    REQUIRE(eg::hessian(h, x = 1.0)(x, x) == 26.0);
}
