// loop_tensor_reference_test.cpp -- etgrad's loops with a shaped carried state (include/etgrad/
// loop.hpp, eg::scan) against PyTorch reference values: an Elman RNN h' = tanh(Wh h + Wx u_t + b)
// with 4 hidden units, matrix parameters and one input row of 3 per step
// (eg::sequence<3>(us).grad_into), n in {0, 1, 2, 37, 1000}: (h_n^2).sum() (.final) and the sum
// over the steps of (h_t^2).sum() (.sum), each with its gradient with respect to Wh, Wx, b, h0
// and the first input row, to a relative 1e-12; eg::checkpoint_every<16> and the values alone
// must give the same bits.
//
// Reads the rnn records of test/reference/torch_loop_reference.txt (ETGRAD_TORCH_LOOP_REFERENCE_FILE,
// as loop_reference_test.cpp; written by test/reference/gen_torch_loop_reference.py with PyTorch
// 1.13 in float64, a Python loop over the steps with torch.tanh(Wh @ h + Wx @ u + b)). (A file
// of its own: in loop_reference_test.cpp its code changes GCC's inlining of the scalar loops
// there, and with FMA contraction the bits of their value-alone checks.)

#include <catch2/catch.hpp>

#include <etgrad/etgrad.hpp>

#include <array>
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
// ------------------------------------------------------------------------------------------------
// The Elman RNN: a shaped carried state.
constexpr std::size_t rnn_h = 4, rnn_i = 3;
constexpr auto hs = eg::var<"h", eg::shape<rnn_h>>;
constexpr auto us = eg::var<"u", eg::shape<rnn_i>>;
constexpr auto Wh = eg::var<"Wh", eg::shape<rnn_h, rnn_h>>;
constexpr auto Wx = eg::var<"Wx", eg::shape<rnn_h, rnn_i>>;
constexpr auto bs = eg::var<"b", eg::shape<rnn_h>>;
constexpr auto elman = eg::carry(hs = eg::tanh(eg::matvec(Wh, hs) + eg::matvec(Wx, us) + bs));

/// L, dL/d(Wh, Wx, b, h0, u_0), S, dS/d(the same), then L and S alone: the record's layout.
template <class Policy>
std::vector<double> run_rnn(std::ptrdiff_t n, Policy policy, const std::vector<double>& p,
                            const std::vector<double>& u) {
    std::array<double, rnn_h * rnn_h> wh{};
    std::array<double, rnn_h * rnn_i> wx{};
    std::array<double, rnn_h> b{}, h0{};
    std::size_t q = 0;
    for (auto& e : wh) e = p.at(q++);
    for (auto& e : wx) e = p.at(q++);
    for (auto& e : b) e = p.at(q++);
    for (auto& e : h0) e = p.at(q++);
    const std::span<const double> rows(u.data(), static_cast<std::size_t>(n) * rnn_i);
    std::vector<double> gu(rows.size());
    std::vector<double> out;
    const auto fin = eg::scan(elman, n, policy).final(eg::sum(eg::square(hs)));
    const auto run = eg::scan(elman, n, policy).sum(eg::sum(eg::square(hs)));
    const auto one = [&](const auto& loop) {
        const auto r = eg::value_and_grad(loop, eg::wrt(Wh, Wx, bs, hs), hs = h0, Wh = wh, Wx = wx, bs = b,
                                          us = eg::sequence<rnn_i>(rows).grad_into(gu));
        out.push_back(r.value);
        for (double e : r.grad[Wh].values) out.push_back(e);
        for (double e : r.grad[Wx].values) out.push_back(e);
        for (double e : r.grad[bs].values) out.push_back(e);
        for (double e : r.grad[hs].values) out.push_back(e);
        for (std::size_t j = 0; j < rnn_i; ++j) out.push_back(n > 0 ? gu[j] : 0.0);
    };
    one(fin);
    one(run);
    out.push_back(fin(hs = h0, Wh = wh, Wx = wx, bs = b, us = eg::sequence<rnn_i>(rows)));
    out.push_back(run(hs = h0, Wh = wh, Wx = wx, bs = b, us = eg::sequence<rnn_i>(rows)));
    return out;
}

TEST_CASE("loop reference: an Elman RNN with a shaped hidden state against PyTorch", "[loop][torch]") {
    const std::vector<double> p = record("rnn_params");
    REQUIRE(p.size() == 2 + rnn_h * rnn_h + rnn_h * rnn_i + 2 * rnn_h);
    REQUIRE(p[0] == double(rnn_h));
    REQUIRE(p[1] == double(rnn_i));
    const std::vector<double> params(p.begin() + 2, p.end());
    std::vector<double> u = record("rnn_inputs");
    REQUIRE(u.size() >= 2);
    REQUIRE(u[1] == double(rnn_i));
    u.erase(u.begin(), u.begin() + 2);
    constexpr std::size_t half = 1 + rnn_h * rnn_h + rnn_h * rnn_i + 2 * rnn_h + rnn_i;
    for (std::ptrdiff_t n : {0, 1, 2, 37, 1000}) {
        const std::vector<double> want = record("rnn", std::to_string(n));
        REQUIRE(want.size() == 2 * half);
        REQUIRE(u.size() >= static_cast<std::size_t>(n) * rnn_i);
        const std::vector<double> got = run_rnn(n, eg::store_states{}, params, u);
        const std::vector<double> ck = run_rnn(n, eg::checkpoint_every<16>, params, u);
        INFO("rnn, n = " << n);
        for (std::size_t i = 0; i < 2 * half; ++i) {
            INFO("entry " << i << " (" << (i < half ? "L" : "S") << ")");
            CHECK_CLOSE("rnn", got[i], want[i], 1e-12);
        }
        // The tensor path's steps are one compiled function in both passes: bits, on every
        // compiler.
        REQUIRE(got.size() == ck.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            INFO("entry " << i << ": store_states " << eg_fmt(got[i]) << ", checkpoint_every<16> " << eg_fmt(ck[i]));
            CHECK(same_bits(got[i], ck[i]));
        }
        CHECK(same_bits(got[2 * half], got[0]));  // the values alone
        CHECK(same_bits(got[2 * half + 1], got[half]));
    }
}

}  // namespace
