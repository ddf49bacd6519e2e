// The checks of the generated fuzz tests (test/fuzz/gen_fuzz.py): one random expression f of x, y,
// z, every mode against the others at a few points, and the data loop against the scalar calls.
#pragma once

#include <catch2/catch.hpp>
#include <etgrad/etgrad.hpp>

#include <array>
#include <cmath>
#include <tuple>
#include <vector>

namespace etgrad_fuzz {
namespace eg = etgrad;
inline constexpr auto x = eg::var<"x">;
inline constexpr auto y = eg::var<"y">;
inline constexpr auto z = eg::var<"z">;

/// e at (a, b, c) (e may have folded to a number).
template <class E>
double at(const E& e, double a, double b, double c) {
    if constexpr (eg::Expr<E>) {
        return static_cast<double>(e(x = a, y = b, z = c));
    } else {
        return static_cast<double>(e);
    }
}

inline bool close(double a, double b, double rel, double abs) {
    if (std::isnan(a) || std::isnan(b)) {
        return std::isnan(a) && std::isnan(b);
    }
    return std::fabs(a - b) <= rel * std::fmax(std::fabs(a), std::fabs(b)) + abs;
}

template <class Kinks>
bool near_kink(const Kinks& kinks, double a, double b, double c) {
    bool near = false;
    std::apply([&](const auto&... k) { ((near = near || std::fabs(k(a, b, c)) < 1e-3), ...); }, kinks);
    return near;
}

#define ETGRAD_FUZZ_CHECK(cond, what) \
    do {                              \
        INFO(what);                   \
        CHECK(cond);                  \
    } while (0)

template <class F, class Kinks>
void check(const F& f, const std::array<std::array<double, 3>, 3>& points, const Kinks& kinks) {
    if constexpr (!eg::Expr<F>) {
        SUCCEED("the expression folded to a number");
    } else {
        const auto fx = eg::d(f, x);
        const auto fy = eg::d(f, y);
        const auto fz = eg::d(f, z);
        const auto fxx = eg::d(fx, x);
        const auto fxy = eg::d(fx, y);
        int checked = 0;
        for (const auto& p : points) {
            const double a = p[0], b = p[1], c = p[2];
            if (near_kink(kinks, a, b, c)) {
                continue;
            }
            ++checked;
            INFO("at x = " << a << ", y = " << b << ", z = " << c << ": " << eg::to_string(f));
            const double v0 = f(x = a, y = b, z = c);
            auto [v, g] = eg::value_and_grad(f, eg::wrt(x, y, z), x = a, y = b, z = c);
            ETGRAD_FUZZ_CHECK(close(v, v0, 1e-15, 0), "value_and_grad's value");
            // forward mode along (1, 2, -1)
            auto [vj, t] = eg::jvp(f, eg::tangent(x = 1.0, y = 2.0, z = -1.0), x = a, y = b, z = c);
            const double scale = 1 + std::fabs(g[x]) + std::fabs(g[y]) + std::fabs(g[z]);
            ETGRAD_FUZZ_CHECK(close(vj, v0, 1e-15, 0), "jvp's value");
            ETGRAD_FUZZ_CHECK(close(t, g[x] + 2 * g[y] - g[z], 1e-12, 1e-13 * scale), "jvp = <grad, (1, 2, -1)>");
            // symbolic first derivatives
            ETGRAD_FUZZ_CHECK(close(fx(x = a, y = b, z = c), g[x], 1e-12, 1e-13 * scale), "d(f, x)");
            ETGRAD_FUZZ_CHECK(close(fy(x = a, y = b, z = c), g[y], 1e-12, 1e-13 * scale), "d(f, y)");
            ETGRAD_FUZZ_CHECK(close(fz(x = a, y = b, z = c), g[z], 1e-12, 1e-13 * scale), "d(f, z)");
            // the Hessian (forward-over-reverse) against symbolic second derivatives
            const auto H = eg::hessian(f, eg::wrt(x, y, z), x = a, y = b, z = c);
            double hs = 1;
            for (double h : H.values) {
                hs += std::fabs(h);
            }
            ETGRAD_FUZZ_CHECK(close(H(x, x), fxx(x = a, y = b, z = c), 1e-10, 1e-12 * hs), "H(x, x) vs d(d(f, x), x)");
            ETGRAD_FUZZ_CHECK(close(H(x, y), fxy(x = a, y = b, z = c), 1e-10, 1e-12 * hs), "H(x, y) vs d(d(f, x), y)");
            ETGRAD_FUZZ_CHECK(H(x, y) == H(y, x), "H symmetric");
            // central differences: loose, they catch a wrong rule, not rounding
            const double h = 1e-5;
            const double dx = (at(f, a + h, b, c) - at(f, a - h, b, c)) / (2 * h);
            const double dy = (at(f, a, b + h, c) - at(f, a, b - h, c)) / (2 * h);
            const bool smooth = !near_kink(kinks, a + h, b, c) && !near_kink(kinks, a - h, b, c) &&
                                !near_kink(kinks, a, b + h, c) && !near_kink(kinks, a, b - h, c);
            if (smooth) {
                ETGRAD_FUZZ_CHECK(close(dx, g[x], 1e-5, 1e-6 * scale), "central difference in x");
                ETGRAD_FUZZ_CHECK(close(dy, g[y], 1e-5, 1e-6 * scale), "central difference in y");
            }
        }
        // The data loop over 37 points (SIMD lanes and the scalar tail) against the scalar calls.
        std::vector<double> xs, ys, zs;
        for (int i = 0; i < 37; ++i) {
            const auto& p = points[static_cast<std::size_t>(i % 3)];
            const double a = p[0] + 0.013 * i, b = p[1] - 0.007 * i, c = p[2] + 0.011 * i;
            if (!near_kink(kinks, a, b, c)) {
                xs.push_back(a);
                ys.push_back(b);
                zs.push_back(c);
            }
        }
        std::vector<double> out(xs.size()), gx(xs.size()), gy(xs.size()), gz(xs.size());
        eg::value_and_grad_into(out, std::tie(gx, gy, gz), f, eg::wrt(x, y, z), x = xs, y = ys, z = zs);
        for (std::size_t i = 0; i < xs.size(); ++i) {
            INFO("data point " << i << " of " << xs.size() << ": " << eg::to_string(f));
            auto [v, g] = eg::value_and_grad(f, eg::wrt(x, y, z), x = xs[i], y = ys[i], z = zs[i]);
            const double scale = 1 + std::fabs(g[x]) + std::fabs(g[y]) + std::fabs(g[z]);
            ETGRAD_FUZZ_CHECK(close(out[i], v, 1e-12, 1e-13 * (1 + std::fabs(v))), "data loop value");
            ETGRAD_FUZZ_CHECK(close(gx[i], g[x], 1e-10, 1e-12 * scale), "data loop d/dx");
            ETGRAD_FUZZ_CHECK(close(gy[i], g[y], 1e-10, 1e-12 * scale), "data loop d/dy");
            ETGRAD_FUZZ_CHECK(close(gz[i], g[z], 1e-10, 1e-12 * scale), "data loop d/dz");
        }
        (void)checked;
    }
}
#undef ETGRAD_FUZZ_CHECK
}  // namespace etgrad_fuzz
