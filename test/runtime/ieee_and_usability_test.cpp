// Issue 13: IEEE semantics in every mode, and the bugs that new users hit. One section per item,
// each test failing before its fix.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <etgrad/etgrad.hpp>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

namespace eg = etgrad;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto w = eg::var<"w">;

constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

template <class T>
constexpr bool is_nan(T v) {
    return v != v;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Item 6: NaN propagates through relu, max and min (torch.relu, torch.maximum, torch.minimum).

TEST_CASE("NaN: relu, max and min return NaN whatever the operand order", "[ieee][nan]") {
    CHECK(std::isnan(eg::relu(x)(x = qnan)));
    CHECK(std::isnan(eg::max(x, y)(x = 1.0, y = qnan)));
    CHECK(std::isnan(eg::max(x, y)(x = qnan, y = 1.0)));
    CHECK(std::isnan(eg::min(x, y)(x = 1.0, y = qnan)));
    CHECK(std::isnan(eg::min(x, y)(x = qnan, y = 1.0)));
    CHECK(std::isnan(eg::max(x, 1.0)(x = qnan)));
    CHECK(std::isnan(eg::min(1.0, x)(x = qnan)));
    CHECK(std::isnan(eg::relu(qnan)));
    CHECK(std::isnan(eg::max(1.0, qnan)));
    CHECK(std::isnan(eg::min(2.0f, std::numeric_limits<float>::quiet_NaN())));
    // Constant evaluation too.
    static_assert(is_nan(eg::relu(x)(x = qnan)));
    static_assert(is_nan(eg::max(x, y)(x = 1.0, y = qnan)) && is_nan(eg::min(x, y)(x = 1.0, y = qnan)));
#if !defined(__clang__)  // Clang does not constant-evaluate arithmetic that gives NaN (1 * NaN)
    static_assert(is_nan(eg::grad(eg::max(x, y), x = 1.0, y = qnan)[x]));
#endif
    // Everything else is unchanged: infinities, signed zeros, ties.
    CHECK(eg::relu(x)(x = -inf) == 0.0);
    CHECK(eg::relu(x)(x = inf) == inf);
    CHECK(!std::signbit(eg::relu(x)(x = -0.0)));
    CHECK(eg::max(x, y)(x = -inf, y = 1.0) == 1.0);
    CHECK(eg::min(x, y)(x = inf, y = 1.0) == 1.0);
    CHECK(eg::max(x, y)(x = 3.0, y = 1.0) == 3.0);
    CHECK(eg::min(x, y)(x = 3.0, y = 1.0) == 1.0);
}

TEST_CASE("NaN: the gradient is NaN where the value is, in reverse, forward and symbolic modes", "[ieee][nan]") {
    {
        const auto g = eg::grad(eg::relu(x), x = qnan);
        CHECK(std::isnan(g[x]));
        CHECK(std::isnan(eg::d(eg::relu(x), x)(x = qnan)));
        CHECK(std::isnan(eg::jvp(eg::relu(x), eg::tangent(x = 1.0), x = qnan).tangent));
        CHECK(std::isnan(eg::hessian(eg::relu(x), x = qnan)(x, x)));
    }
    const std::array<std::array<double, 2>, 3> points{{{1.0, qnan}, {qnan, 1.0}, {qnan, qnan}}};
    for (const auto& p : points) {
        const double a = p[0], b = p[1];
        INFO("a = " << a << ", b = " << b);
        for (int which = 0; which < 2; ++which) {
            const auto check = [&](const auto& f) {
                auto [v, g] = eg::value_and_grad(f, x = a, y = b);
                CHECK(std::isnan(v));
                CHECK(std::isnan(g[x]));
                CHECK(std::isnan(g[y]));
                CHECK(std::isnan(eg::d(f, x)(x = a, y = b)));
                CHECK(std::isnan(eg::d(f, y)(x = a, y = b)));
                CHECK(std::isnan(eg::jvp(f, eg::tangent(x = 1.0, y = 0.0), x = a, y = b).tangent));
                CHECK(std::isnan(eg::hessian(f, x = a, y = b)(x, y)));
            };
            if (which == 0) {
                check(eg::max(x, y));
            } else {
                check(eg::min(x, y));
            }
        }
    }
    // Finite and infinite operands keep PyTorch's gradients: the larger one gets 1, a tie 1/2.
    auto g1 = eg::grad(eg::max(x, y), x = -inf, y = 1.0);
    CHECK(g1[x] == 0.0);
    CHECK(g1[y] == 1.0);
    auto g2 = eg::grad(eg::max(x, y), x = inf, y = inf);
    CHECK(g2[x] == 0.5);
    CHECK(g2[y] == 0.5);
    auto g3 = eg::grad(eg::min(x, y), x = 2.0, y = 5.0);
    CHECK(g3[x] == 1.0);
    CHECK(g3[y] == 0.0);
    CHECK(eg::grad(eg::relu(x), x = -inf)[x] == 0.0);
    CHECK(eg::grad(eg::relu(x), x = 2.0)[x] == 1.0);
    CHECK(eg::d(eg::d(eg::relu(x), x), x)(x = -1.0) == 0.0);
    CHECK(eg::d(eg::d(eg::max(x, y), x), x)(x = 1.0, y = 1.0) == 0.0);
}

// The data loops: NaN samples in the first SIMD batch and in the scalar tail give NaN values and
// derivatives there, and every sample equals the scalar path's result.
TEMPLATE_TEST_CASE("NaN: relu, max and min in the data loops, SIMD lanes and scalar tail alike", "[ieee][nan][data]",
                   double, float) {
    using T = TestType;
    constexpr std::size_t W = eg::simd_width<T>;
    const std::size_t n = 2 * W + 3;  // two batches, then a scalar tail of 3
    const T tnan = std::numeric_limits<T>::quiet_NaN();
    std::vector<T> xs(n), ys(n);
    for (std::size_t i = 0; i < n; ++i) {
        xs[i] = static_cast<T>(0.25 * static_cast<double>(i % 5) - 0.5);
        ys[i] = static_cast<T>(0.1 * static_cast<double>(i) - 0.3);
    }
    xs[1] = tnan;      // in the first batch
    ys[W + 2] = tnan;  // in the second batch (y only)
    xs[n - 2] = tnan;  // in the tail
    ys[n - 1] = tnan;  // in the tail (y only)
    const auto same = [](T a, T b) { return (std::isnan(a) && std::isnan(b)) || a == b; };
    const auto check = [&](const auto& e, bool reads_y) {
        std::vector<T> v(n), gx(n), gy(n), v2(n);
        eg::eval_into(v2, e, x = xs, y = ys);
        eg::value_and_grad_into(v, std::tie(gx, gy), e, eg::wrt(x, y), x = xs, y = ys);
        for (std::size_t i = 0; i < n; ++i) {
            INFO("sample " << i << " of " << n << " (SIMD width " << W << ")");
            const bool nan_in = std::isnan(xs[i]) || (reads_y && std::isnan(ys[i]));
            CHECK(std::isnan(v[i]) == nan_in);
            CHECK(same(v[i], v2[i]));
            CHECK(std::isnan(gx[i]) == nan_in);
            if (reads_y) {
                CHECK(std::isnan(gy[i]) == nan_in);
            }
            auto [sv, sg] = eg::value_and_grad(e, eg::wrt(x, y), x = xs[i], y = ys[i]);
            CHECK(same(v[i], sv));
            CHECK(same(gx[i], sg[x]));
            CHECK(same(gy[i], sg[y]));
        }
        // A reduction over the samples is NaN, and so is a parameter's gradient.
        CHECK(std::isnan(eg::sum(e)(x = xs, y = ys)));
        auto [L, g] = eg::value_and_grad(eg::sum(w * e), eg::wrt(w), w = 1.5, x = xs, y = ys);
        CHECK(std::isnan(L));
        CHECK(std::isnan(g[w]));
    };
    check(eg::relu(x), false);
    check(eg::max(x, y), true);
    check(eg::max(y, x), true);
    check(eg::min(x, y), true);
    check(eg::min(y, x), true);
    check(eg::relu(x) + eg::max(x, 0.25) * eg::min(y, x), true);
    // A condition x != x holds for NaN samples in every lane (xsimd's != is ordered on AVX and
    // AVX-512: false for NaN) and in the tail.
    std::vector<T> flag(n);
    eg::eval_into(flag, eg::where(x != x, 1.0, 2.0) + eg::where(x == x, 10.0, 20.0), x = xs);
    for (std::size_t i = 0; i < n; ++i) {
        CHECK(flag[i] == (std::isnan(xs[i]) ? T(21) : T(12)));
    }
    // Without NaN samples nothing changes: max and min of the data agree with std::max/std::min.
    std::vector<T> a(n), b(n), out(n);
    for (std::size_t i = 0; i < n; ++i) {
        a[i] = static_cast<T>(0.5 * static_cast<double>(i % 4));
        b[i] = static_cast<T>(0.7 * static_cast<double>(i % 3));
    }
    eg::eval_into(out, eg::max(x, y) - eg::min(x, y) + eg::relu(x - y), x = a, y = b);
    for (std::size_t i = 0; i < n; ++i) {
        CHECK(out[i] == std::max(a[i], b[i]) - std::min(a[i], b[i]) + std::max(a[i] - b[i], T(0)));
    }
}

