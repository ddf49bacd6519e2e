// loop_reference_test.cpp -- etgrad's run-time-length loops (include/etgrad/loop.hpp, eg::scan)
// against PyTorch reference values.
//
// Reads test/reference/torch_loop_reference.txt (ETGRAD_TORCH_LOOP_REFERENCE_FILE, a string
// literal), produced by test/reference/gen_torch_loop_reference.py with PyTorch 1.13 in float64
// (dynamic Python loops, torch.autograd.grad). Three loops here (the fourth, an Elman RNN with a
// shaped carry, is checked by loop_tensor_reference_test.cpp):
//  - the damped oscillator v' = v - dt (k x + c v), x' = x + dt v, n in {0, 1, 2, 37, 1000,
//    100000}: x_n and d x_n / d(k, c, x0, v0) (.final(x)); S = sum_{t=1..n} x_t^2 and
//    dS / d(k, c) (.sum(x * x));
//  - compound interest b' = b (1 + r_t) - w with per-step rates (eg::sequence(rates).grad_into),
//    n in {0, 1, 37, 1000}: b_n, d b_n / d(b0, w) and d b_n / d r_t at t in {0, n/2, n-1};
//  - a pendulum, classic RK4 steps on (theta, omega) written as one eg::carry whose right-hand
//    sides are the RK4 combination of the sub-expressions k1..k4, n in {1, 100, 1000}: theta_n
//    and d theta_n / d(L, theta0).
// Each is checked to a relative 1e-12 (1e-10 for n = 100000) with the default policy
// (store_states) and with eg::checkpoint_every<16>, which must give bit-identical values and
// gradients; the value alone (the loop's call operator) must equal value_and_grad's value.
// A missing or incomplete reference file fails the test, and so does a build that does not define
// ETGRAD_TORCH_LOOP_REFERENCE_FILE (every test case here then fails, naming the macro).

#include <catch2/catch.hpp>

#include <etgrad/etgrad.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace {
namespace eg = etgrad;
#include "loop_reference_reader.hpp"
// GCC with FMA contraction (-march=native) may contract the recomputed segments' arithmetic
// differently from the first pass (see eg::checkpoint_every_t): a few ulp, not bits, there.
#if defined(__FMA__) && !defined(__clang__)
constexpr bool exact_policies = false;
#else
constexpr bool exact_policies = true;
#endif
void check_identical(const std::vector<double>& a, const std::vector<double>& b) {
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        INFO("entry " << i << ": store_states " << eg_fmt(a[i]) << ", checkpoint_every<16> " << eg_fmt(b[i]));
        if (exact_policies) {
            CHECK(same_bits(a[i], b[i]));
        } else {
            CHECK(close(a[i], b[i], 1e-13));
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The damped oscillator.
constexpr auto x = eg::var<"x">;
constexpr auto v = eg::var<"v">;
constexpr auto k = eg::var<"k">;
constexpr auto c = eg::var<"c">;
constexpr auto dt = eg::var<"dt">;
constexpr auto oscillator = eg::carry(v = v - dt * (k * x + c * v), x = x + dt * v);

/// x_n, dx_n/d(k, c, x0, v0), S, dS/d(k, c), and the two values alone.
template <class Policy>
std::vector<double> run_oscillator(std::ptrdiff_t n, Policy policy, const std::vector<double>& p) {
    const double x0 = p.at(0), v0 = p.at(1), kk = p.at(2), cc = p.at(3), h = p.at(4);
    const auto fin = eg::scan(oscillator, n, policy).final(x);
    const auto run = eg::scan(oscillator, n, policy).sum(x * x);
    const auto a = eg::value_and_grad(fin, eg::wrt(k, c, x, v), x = x0, v = v0, k = kk, c = cc, dt = h);
    const auto s = eg::value_and_grad(run, eg::wrt(k, c), x = x0, v = v0, k = kk, c = cc, dt = h);
    return {a.value,    a.grad[k], a.grad[c], a.grad[x], a.grad[v], s.value, s.grad[k], s.grad[c],
            fin(x = x0, v = v0, k = kk, c = cc, dt = h), run(x = x0, v = v0, k = kk, c = cc, dt = h)};
}

TEST_CASE("loop reference: damped oscillator against PyTorch", "[loop][torch]") {
    const std::vector<double> p = record("oscillator_params");
    REQUIRE(p.size() == 5);
    for (std::ptrdiff_t n : {0, 1, 2, 37, 1000, 100000}) {
        const std::vector<double> want = record("oscillator", std::to_string(n));
        REQUIRE(want.size() == 8);
        const std::vector<double> got = run_oscillator(n, eg::store_states{}, p);
        const std::vector<double> ck = run_oscillator(n, eg::checkpoint_every<16>, p);
        const double rel = n >= 100000 ? 1e-10 : 1e-12;
        INFO("oscillator, n = " << n);
        const char* what[] = {"x_n", "dx_n/dk", "dx_n/dc", "dx_n/dx0", "dx_n/dv0", "S", "dS/dk", "dS/dc"};
        for (std::size_t i = 0; i < 8; ++i) {
            CHECK_CLOSE(what[i], got[i], want[i], rel);
        }
        check_identical(got, ck);
        CHECK(same_bits(got[8], got[0]));  // the value alone
        CHECK(same_bits(got[9], got[5]));
    }
}

// ------------------------------------------------------------------------------------------------
// Compound interest with per-step rates.
constexpr auto bal = eg::var<"b">;
constexpr auto rate = eg::var<"r">;
constexpr auto wd = eg::var<"w">;
constexpr auto interest = eg::carry(bal = bal * (1.0 + rate) - wd);

/// b_n, db_n/db0, db_n/dw, then db_n/dr_t for every t of the sequence, then b_n alone.
template <class Policy>
std::vector<double> run_interest(std::ptrdiff_t n, Policy policy, double b0, double w, std::span<const double> rs) {
    std::vector<double> gr(rs.size(), -1.0);  // every entry is written (zero where no step read it)
    const auto loop = eg::scan(interest, n, policy).final(bal);
    const auto a = eg::value_and_grad(loop, eg::wrt(bal, wd), bal = b0, wd = w, rate = eg::sequence(rs).grad_into(gr));
    std::vector<double> out = {a.value, a.grad[bal], a.grad[wd]};
    out.insert(out.end(), gr.begin(), gr.end());
    out.push_back(loop(bal = b0, wd = w, rate = eg::sequence(rs)));
    return out;
}

TEST_CASE("loop reference: compound interest with per-step rates against PyTorch", "[loop][torch]") {
    const std::vector<double> p = record("interest_params");
    REQUIRE(p.size() == 2);
    std::vector<double> rates = record("rates");
    REQUIRE(!rates.empty());
    REQUIRE(rates[0] == static_cast<double>(rates.size() - 1));
    rates.erase(rates.begin());
    for (std::ptrdiff_t n : {0, 1, 37, 1000}) {
        const auto nn = static_cast<std::size_t>(n);
        const std::vector<double> want = record("interest", std::to_string(n));
        INFO("interest, n = " << n);
        REQUIRE(want.size() >= 4);
        const auto pairs = static_cast<std::size_t>(want[3]);
        REQUIRE(want.size() == 4 + 2 * pairs);
        CHECK(pairs == (n == 0 ? 0u : n == 1 ? 1u : 3u));
        REQUIRE(nn <= rates.size());
        // The whole sequence (longer than the loop: the rates after step n - 1 get a zero
        // derivative) and, for n > 0, exactly the n rates the loop reads.
        const std::vector<double> got = run_interest(n, eg::store_states{}, p[0], p[1], rates);
        const std::vector<double> ck = run_interest(n, eg::checkpoint_every<16>, p[0], p[1], rates);
        CHECK_CLOSE("b_n", got[0], want[0], 1e-12);
        CHECK_CLOSE("db_n/db0", got[1], want[1], 1e-12);
        CHECK_CLOSE("db_n/dw", got[2], want[2], 1e-12);
        for (std::size_t j = 0; j < pairs; ++j) {
            const auto t = static_cast<std::size_t>(want[4 + 2 * j]);
            REQUIRE(t < nn);
            INFO("t = " << t);
            CHECK_CLOSE("db_n/dr_t", got[3 + t], want[5 + 2 * j], 1e-12);
        }
        for (std::size_t t = nn; t < rates.size(); ++t) {
            INFO("rate " << t << " after the last step");
            CHECK(got[3 + t] == 0.0);
        }
        check_identical(got, ck);
        CHECK(same_bits(got.back(), got[0]));  // the value alone
        if (n > 0) {
            const std::span<const double> exact(rates.data(), nn);
            std::vector<double> e = run_interest(n, eg::store_states{}, p[0], p[1], exact);
            std::vector<double> whole(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(3 + nn));
            whole.push_back(got.back());
            check_identical(whole, e);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The pendulum theta'' = -(g/L) sin(theta), classic RK4 on (theta, omega). Every k reads the
// state before the step (theta, omega); the updates are the RK4 combination.
constexpr auto theta = eg::var<"theta">;
constexpr auto omega = eg::var<"omega">;
constexpr auto g = eg::var<"g">;
constexpr auto L = eg::var<"L">;
constexpr auto h = eg::var<"h">;
constexpr auto k1_theta = omega;
constexpr auto k1_omega = -(g / L) * eg::sin(theta);
constexpr auto k2_theta = omega + (h / 2.0) * k1_omega;
constexpr auto k2_omega = -(g / L) * eg::sin(theta + (h / 2.0) * k1_theta);
constexpr auto k3_theta = omega + (h / 2.0) * k2_omega;
constexpr auto k3_omega = -(g / L) * eg::sin(theta + (h / 2.0) * k2_theta);
constexpr auto k4_theta = omega + h * k3_omega;
constexpr auto k4_omega = -(g / L) * eg::sin(theta + h * k3_theta);
constexpr auto rk4 = eg::carry(theta = theta + (h / 6.0) * (k1_theta + 2.0 * k2_theta + 2.0 * k3_theta + k4_theta),
                               omega = omega + (h / 6.0) * (k1_omega + 2.0 * k2_omega + 2.0 * k3_omega + k4_omega));

/// theta_n, dtheta_n/dL, dtheta_n/dtheta0, then theta_n alone.
template <class Policy>
std::vector<double> run_pendulum(std::ptrdiff_t n, Policy policy, const std::vector<double>& p) {
    const double gv = p.at(0), lv = p.at(1), th0 = p.at(2), om0 = p.at(3), hv = p.at(4);
    const auto loop = eg::scan(rk4, n, policy).final(theta);
    const auto a = eg::value_and_grad(loop, eg::wrt(L, theta), theta = th0, omega = om0, g = gv, L = lv, h = hv);
    return {a.value, a.grad[L], a.grad[theta], loop(theta = th0, omega = om0, g = gv, L = lv, h = hv)};
}

TEST_CASE("loop reference: RK4 pendulum against PyTorch", "[loop][torch]") {
    const std::vector<double> p = record("pendulum_params");
    REQUIRE(p.size() == 5);
    for (std::ptrdiff_t n : {1, 100, 1000}) {
        const std::vector<double> want = record("pendulum", std::to_string(n));
        REQUIRE(want.size() == 3);
        const std::vector<double> got = run_pendulum(n, eg::store_states{}, p);
        const std::vector<double> ck = run_pendulum(n, eg::checkpoint_every<16>, p);
        INFO("pendulum, n = " << n);
        CHECK_CLOSE("theta_n", got[0], want[0], 1e-12);
        CHECK_CLOSE("dtheta_n/dL", got[1], want[1], 1e-12);
        CHECK_CLOSE("dtheta_n/dtheta0", got[2], want[2], 1e-12);
        check_identical(got, ck);
        CHECK(same_bits(got[3], got[0]));  // the value alone
    }
}

TEST_CASE("loop reference: the file names the PyTorch version and every record", "[loop][torch]") {
    const auto it = reference().find("torch_version");
    REQUIRE(it != reference().end());
    REQUIRE(it->second.size() == 1);
    CHECK(reference().count("oscillator") == 6);
    CHECK(reference().count("interest") == 4);
    CHECK(reference().count("pendulum") == 3);
    CHECK(reference().count("rnn") == 5);
}

}  // namespace
