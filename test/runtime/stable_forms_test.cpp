// The numerically stable rewrites (README "Numerically stable forms"): log(sigmoid(z)) is built as
// -softplus(-z), log(1 - sigmoid(z)) as -softplus(z), the binary cross-entropy of sigmoid(z) as one
// fused node whose z-gradient is sigmoid(z) - y, log(sum(exp(e))) as logsumexp(e), and constants in
// products are collected. Reference values: PyTorch's stable kernels in float64
// (test/reference/gen_torch_stable_reference.py -> torch_stable_reference.txt, file named by the
// compile definition ETGRAD_TORCH_STABLE_REFERENCE_FILE). Every mode is checked: evaluation,
// reverse mode, the symbolic derivative (first and second), the Hessian (forward-over-reverse)
// and the data loops (SIMD lanes and the scalar tail).

#include <catch2/catch.hpp>

#include <etgrad/etgrad.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <limits>
#include <span>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#ifndef ETGRAD_TORCH_STABLE_REFERENCE_FILE
#error "define ETGRAD_TORCH_STABLE_REFERENCE_FILE as a string literal naming test/reference/torch_stable_reference.txt"
#endif

namespace {

namespace eg = etgrad;

constexpr auto z = eg::var<"z">;
constexpr auto y = eg::var<"y">;
constexpr auto k = eg::var<"k">;
constexpr auto x = eg::var<"x">;

struct Line {
    std::string kind;
    std::vector<double> v;
};

std::vector<Line> reference(const std::string& kind) {
    std::ifstream in(ETGRAD_TORCH_STABLE_REFERENCE_FILE);
    REQUIRE(in.good());
    std::vector<Line> r;
    std::string s;
    while (std::getline(in, s)) {
        if (s.empty() || s[0] == '#') {
            continue;
        }
        std::istringstream ls(s);
        Line l;
        ls >> l.kind;
        std::string t;
        while (ls >> t) {
            l.v.push_back(std::strtod(t.c_str(), nullptr));  // strtod reads inf, -inf, nan
        }
        if (l.kind == kind) {
            r.push_back(l);
        }
    }
    return r;
}

/// Finite and within rel of want (absolute abs near zero); infinities and NaN never pass.
bool close(double got, double want, double rel = 1e-13, double abs = 1e-300) {
    return std::isfinite(got) && std::fabs(got - want) <= rel * std::fabs(want) + abs;
}

constexpr double eps = std::numeric_limits<double>::epsilon();

/// The spelling users write, with the 1 a compile-time constant (a runtime 1 is not recognised:
/// its value is not in the type).
template <class P, class Y>
constexpr auto bce_of(const P& p, const Y& t) {
    return -(t * eg::log(p) + (eg::c<1> - t) * eg::log(eg::c<1> - p));
}

}  // namespace

TEST_CASE("stable forms: log(sigmoid(z)) and log(1 - sigmoid(z)) in every mode, finite at -+800", "[stable]") {
    constexpr auto ls = eg::log(eg::sigmoid(z));
    constexpr auto l1ms = eg::log(eg::c<1> - eg::sigmoid(z));
    static_assert(eg::to_string(ls) == "-softplus(-z)");
    static_assert(eg::to_string(l1ms) == "-softplus(z)");
    static_assert(eg::to_string(eg::log1p(-eg::sigmoid(z))) == "-softplus(z)");
    static_assert(eg::to_string(eg::d(ls, z)) == "sigmoid(-z)");
    const auto check = [](const auto& f, const std::vector<Line>& ref, auto naive, const char* what) {
        REQUIRE(ref.size() == 10);
        std::vector<double> zs, gz(ref.size()), out(ref.size());
        for (const Line& r : ref) {
            const double zv = r.v[0];
            zs.push_back(zv);
            INFO(what << " at z = " << zv);
            CHECK(close(f(z = zv), r.v[1]));
            const auto [v, g] = eg::value_and_grad(f, z = zv);
            CHECK(close(v, r.v[1]));
            CHECK(close(g[z], r.v[2]));
            CHECK(close(eg::d(f, z)(z = zv), r.v[2]));
            // Second derivatives: sigmoid' = s (1 - s), which cancels for |z| large (in PyTorch
            // too): to an absolute 2.5e-16, two roundings of 1 - s.
            CHECK(close(eg::d(eg::d(f, z), z)(z = zv), r.v[3], 1e-12, 2.5e-16));
            CHECK(close(eg::hessian(f, z = zv)(z, z), r.v[3], 1e-12, 2.5e-16));
            // Where the naive composition is well conditioned, the two agree to rounding.
            if (std::fabs(zv) <= 5) {
                CHECK(close(v, naive(zv), 1e-14, 1e-16));
            }
        }
        // The data loop (SIMD lanes and the scalar tail): each sample's value and gradient.
        eg::value_and_grad_into(out, std::tie(gz), f, eg::wrt(z), z = zs);
        for (std::size_t i = 0; i < ref.size(); ++i) {
            INFO(what << " over data at z = " << ref[i].v[0]);
            CHECK(close(out[i], ref[i].v[1]));
            CHECK(close(gz[i], ref[i].v[2]));
        }
    };
    check(ls, reference("logsig"), [](double zv) { return std::log(1 / (1 + std::exp(-zv))); }, "log(sigmoid(z))");
    check(l1ms, reference("log1msig"), [](double zv) { return std::log(1 - 1 / (1 + std::exp(-zv))); },
          "log(1 - sigmoid(z))");
    // Forward-over-reverse Hessians read softplus's value as a dual number: its tangent at 0 is
    // sigmoid(0) = 1/2 (f'' of log(sigmoid(z)) z at 0 is 2 sigmoid(0) = 1), as d(d(f)) says.
    constexpr auto lz = ls * z;
    CHECK(eg::hessian(lz, z = 0.0)(z, z) == 1.0);
    CHECK(eg::d(eg::d(lz, z), z)(z = 0.0) == 1.0);
    CHECK(eg::hessian(eg::softplus(z) * z, z = 0.0)(z, z) == 1.0);
    CHECK(close(eg::hessian(lz, z = 0.3)(z, z), eg::d(eg::d(lz, z), z)(z = 0.3), 1e-15));
    // The naive form is -inf there, with a NaN gradient.
    CHECK(ls(z = -800.0) == -800.0);
    CHECK(eg::grad(ls, z = -800.0)[z] == 1.0);
    CHECK(l1ms(z = 800.0) == -800.0);
    CHECK(eg::grad(l1ms, z = 800.0)[z] == -1.0);
}

TEST_CASE("stable forms: binary cross-entropy of sigmoid(z) is fused, its gradient sigmoid(z) - y", "[stable]") {
    constexpr auto L = bce_of(eg::sigmoid(z), y);
    static_assert(eg::to_string(L) == "bce_with_logits(z, y)");
    static_assert(eg::grad_fn_name(L) == "BinaryCrossEntropyWithLogitsBackward");
    // The symbolic gradient is exactly the closed form; in y it is -z.
    static_assert(eg::to_string(eg::d(L, z)) == "sigmoid(z) - y");
    static_assert(std::is_same_v<decltype(eg::d(L, z)), decltype(eg::sigmoid(z) - y)>);
    static_assert(eg::to_string(eg::d(L, y)) == "-z");
    // The same node whichever term comes first, and through -y log p - (1 - y) log(1 - p).
    static_assert(std::is_same_v<std::remove_const_t<decltype(L)>, decltype(-((eg::c<1> - y) * eg::log(eg::c<1> - eg::sigmoid(z)) +
                                                        y * eg::log(eg::sigmoid(z))))>);
    static_assert(std::is_same_v<std::remove_const_t<decltype(L)>, decltype(-y * eg::log(eg::sigmoid(z)) -
                                                       (eg::c<1> - y) * eg::log(eg::c<1> - eg::sigmoid(z)))>);
    const std::vector<Line> ref = reference("bce");
    REQUIRE(ref.size() == 30);
    std::vector<double> zs, ys, out(ref.size()), gz(ref.size()), gy(ref.size());
    for (const Line& r : ref) {
        const double zv = r.v[0], yv = r.v[1];
        zs.push_back(zv);
        ys.push_back(yv);
        INFO("z = " << zv << ", y = " << yv);
        const double value = r.v[2], dz = r.v[3], dy = r.v[4], dzz = r.v[5], closed = r.v[6];
        CHECK(close(L(z = zv, y = yv), value));
        const auto [v, g] = eg::value_and_grad(L, z = zv, y = yv);
        CHECK(close(v, value));
        // Reverse mode: sigmoid(z) from the value's e^-|z| (bit-identical to sigmoid(z) for z >= 0,
        // within an ulp of it below), minus y.
        const double s = eg::sigmoid(zv);
        CHECK(std::fabs(g[z] - (s - yv)) <= 2 * eps * std::fmax(s, std::fabs(yv)) + 1e-300);
        if (zv >= 0) {
            CHECK(g[z] == s - yv);
        }
        CHECK(std::fabs(g[z] - closed) <= 4 * eps * std::fmax(s, std::fabs(yv)) + 1e-300);
        CHECK(std::fabs(g[z] - dz) <= 4 * eps * std::fmax(s, std::fabs(yv)) + 1e-300);
        CHECK(g[y] == dy);  // -z exactly
        // Symbolic: exactly etgrad's sigmoid(z) - y.
        CHECK(eg::d(L, z)(z = zv, y = yv) == s - yv);
        CHECK(close(eg::d(eg::d(L, z), z)(z = zv, y = yv), dzz, 1e-12, 2.5e-16));
        const auto H = eg::hessian(L, eg::wrt(z, y), z = zv, y = yv);
        CHECK(close(H(z, z), dzz, 1e-12, 2.5e-16));
        CHECK(H(z, y) == -1.0);
        CHECK(H(y, y) == 0.0);
        // Where the naive composition is well conditioned, the two agree to rounding.
        if (std::fabs(zv) <= 5) {
            const double p = 1 / (1 + std::exp(-zv));
            CHECK(close(v, -(yv * std::log(p) + (1 - yv) * std::log(1 - p)), 1e-14, 1e-16));
        }
    }
    // The naive form: NaN at z = 800, y = 1 (0 * log 0), and its gradient NaN; the fused one 0 and 0.
    CHECK(L(z = 800.0, y = 1.0) == 0.0);
    CHECK(eg::grad(L, z = 800.0, y = 1.0)[z] == 0.0);
    CHECK(L(z = -800.0, y = 0.0) == 0.0);
    // The data loop, per sample (SIMD lanes and the scalar tail), and the mean over samples.
    eg::value_and_grad_into(out, std::tie(gz, gy), L, eg::wrt(z, y), z = zs, y = ys);
    double sum = 0, sumg = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        INFO("over data at z = " << zs[i] << ", y = " << ys[i]);
        const double s = eg::sigmoid(zs[i]);
        CHECK(close(out[i], ref[i].v[2]));
        CHECK(std::fabs(gz[i] - ref[i].v[6]) <= 4 * eps * std::fmax(s, std::fabs(ys[i])) + 1e-300);
        CHECK(gy[i] == -zs[i]);
        sum += out[i];
        sumg += gz[i];
    }
    constexpr auto w = eg::var<"w">;
    constexpr auto mL = eg::mean(bce_of(eg::sigmoid(w * z), y));
    static_assert(eg::to_string(mL) == "mean(bce_with_logits(w * z, y))");
    const auto [mv, mg] = eg::value_and_grad(mL, eg::wrt(w), w = 1.0, z = zs, y = ys);
    CHECK(close(mv, sum / 30, 1e-13));
    double want = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        want += gz[i] * zs[i];
    }
    CHECK(close(mg[w], want / 30, 1e-13, 1e-15));
    (void)sumg;
}

TEST_CASE("stable forms: log(sum(exp(e))) is logsumexp(e), over samples and over a tensor's elements", "[stable]") {
    constexpr auto f = eg::log(eg::sum(eg::exp(x)));
    static_assert(std::is_same_v<decltype(f), decltype(eg::logsumexp(x)) const>);
    static_assert(eg::to_string(f) == "logsumexp(x)");
    static_assert(eg::to_string(eg::log(eg::sum(eg::exp(2 * x)))) == "logsumexp(2 * x)");
    const std::vector<Line> ref = reference("lse");
    REQUIRE(ref.size() == 6);
    for (const Line& r : ref) {
        const auto n = static_cast<std::size_t>(r.v[0]);
        std::vector<double> xs(r.v.begin() + 1, r.v.begin() + 1 + static_cast<std::ptrdiff_t>(n)), gx(n);
        INFO("n = " << n << ", x[0] = " << xs[0]);
        const auto [v, g] = eg::value_and_grad(f, eg::wrt(x), x = eg::data(xs).grad_into(gx));
        CHECK(close(v, r.v[1 + n]));
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(close(gx[i], r.v[2 + n + i], 1e-12, 1e-300));
        }
    }
    // One sample: sum is the identity, so log(exp(x)) is x, finite at 1000 (naively inf).
    CHECK(f(x = 1000.0) == 1000.0);
    CHECK(eg::grad(f, x = 1000.0)[x] == 1.0);
    // Over the elements of a tensor.
    constexpr auto t = eg::var<"t", eg::shape<4>>;
    constexpr auto ft = eg::log(eg::sum(eg::exp(t)));
    static_assert(eg::to_string(ft) == "logsumexp(t)");
    const Line& r4 = ref[3];
    REQUIRE(r4.v[0] == 4);
    const std::array<double, 4> tv{r4.v[1], r4.v[2], r4.v[3], r4.v[4]};
    const auto [vt, gt] = eg::value_and_grad(ft, t = tv);
    CHECK(close(vt, r4.v[5]));
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(close(gt[t][i], r4.v[6 + i], 1e-12, 1e-300));
    }
}

TEST_CASE("stable forms: constants in products are collected", "[stable]") {
    // d(1/2 k x x, x): the two terms x (1/2 k) and (1/2 k) x are one, 2 (1/2 k x), then k x.
    static_assert(eg::to_string(eg::d(eg::c<1, 2> * k * x * x, x)) == "k * x");
    static_assert(std::is_same_v<decltype(eg::d(eg::c<1, 2> * k * x * x, x)), decltype(k * x)>);
    static_assert(eg::to_string(eg::d(eg::c<1, 2> * k * eg::square(x), x)) == "k * x");
    static_assert(eg::to_string((eg::c<2> * x) * (eg::c<3> * y)) == "6 * x * y");
    static_assert(eg::to_string(eg::c<4> * (eg::c<1, 4> * x * y)) == "x * y");
    static_assert(eg::to_string(x * y + y * x) == "2 * (y * x)");
    static_assert(eg::to_string(-(-x - y)) == "x + y");
    // A runtime constant's value is not in the type: it is kept.
    CHECK(std::string(eg::to_string(eg::d(0.5 * k * x * x, x))) == "2 * (0.5 * k * x)");
    // The values are those of the written forms, to rounding (here exactly: powers of two).
    for (double xv : {-3.0, 0.0, 0.7, 1e10}) {
        for (double kv : {-2.0, 0.3, 5.0}) {
            CHECK(eg::d(eg::c<1, 2> * k * x * x, x)(k = kv, x = xv) == kv * xv);
            CHECK(eg::d(0.5 * k * x * x, x)(k = kv, x = xv) == kv * xv);
            CHECK(eg::grad(eg::c<1, 2> * k * x * x, eg::wrt(x), k = kv, x = xv)[x] == kv * xv);
        }
    }
}
