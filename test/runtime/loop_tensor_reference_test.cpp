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

#ifdef ETGRAD_TORCH_LOOP_REFERENCE_FILE
constexpr const char* reference_file = ETGRAD_TORCH_LOOP_REFERENCE_FILE;
#else
constexpr const char* reference_file = nullptr;  // fails below: the build must define the macro
#endif

/// The records of the file: the first word of each line -> the lines' other words.
using records = std::multimap<std::string, std::vector<std::string>>;

records read_reference() {
    INFO("ETGRAD_TORCH_LOOP_REFERENCE_FILE must name test/reference/torch_loop_reference.txt");
    REQUIRE(reference_file != nullptr);
    std::ifstream f(reference_file);
    INFO("reference file " << reference_file);
    REQUIRE(f.good());
    records r;
    std::string line;
    bool complete = false;
    while (std::getline(f, line)) {
        if (line.rfind("# records ", 0) == 0) {
            complete = true;
        }
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream ls(line);
        std::string tag, word;
        ls >> tag;
        std::vector<std::string> words;
        while (ls >> word) {
            words.push_back(word);
        }
        r.emplace(tag, words);
    }
    REQUIRE(complete);  // the last line is written last: a truncated file lacks it
    return r;
}
const records& reference() {
    static const records r = read_reference();
    return r;
}
double num(const std::string& s) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    REQUIRE(end == s.c_str() + s.size());
    return v;
}
/// The numbers of the one record `tag` whose first word is `first` (every record when first is "").
std::vector<double> record(const std::string& tag, const std::string& first = "") {
    const auto [lo, hi] = reference().equal_range(tag);
    std::vector<double> out;
    int found = 0;
    for (auto it = lo; it != hi; ++it) {
        if (first.empty() || (!it->second.empty() && it->second[0] == first)) {
            ++found;
            out.clear();
            for (std::size_t i = first.empty() ? 0 : 1; i < it->second.size(); ++i) {
                out.push_back(num(it->second[i]));
            }
        }
    }
    INFO("record " << tag << " " << first);
    REQUIRE(found == 1);
    return out;
}

bool close(double got, double want, double rel) { return std::abs(got - want) <= rel * std::abs(want); }
#define CHECK_CLOSE(what, got, want, rel)                                                               \
    do {                                                                                                \
        const double got_ = (got), want_ = (want);                                                      \
        INFO(what << ": etgrad " << eg_fmt(got_) << ", torch " << eg_fmt(want_) << " (rel " << (rel) << ")"); \
        CHECK(close(got_, want_, (rel)));                                                               \
    } while (0)
std::string eg_fmt(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}
bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }
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
