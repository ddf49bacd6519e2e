// Loops inside data loops (etgrad/loop/data.hpp): eg::mean(loop) and eg::sum(loop) over samples,
// one loop per SIMD lane, against the same loop called once per sample: a forced oscillator (scalar
// carries, a per-sample initial position and forcing sequence) and an Elman RNN classifier (a
// vector hidden state, per-sample initial states, input sequences and labels); sample counts around
// the batch width, rows in a chosen order, float data, threads bit for bit, and the errors.
#include <catch2/catch.hpp>
#include <etgrad/etgrad.hpp>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <span>
#include <stdexcept>
#include <vector>

namespace eg = etgrad;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto v = eg::var<"v">;
constexpr auto k = eg::var<"k">;
constexpr auto c = eg::var<"c">;
constexpr auto dt = eg::var<"dt">;
constexpr auto f = eg::var<"f">;  // the forcing at each step
constexpr auto osc = eg::carry(v = v - dt * (k * x + c * v) + dt * f, x = x + dt * v);

constexpr std::size_t H = 4, I = 3, C = 3;
constexpr auto h = eg::var<"h", eg::shape<H>>;
constexpr auto u = eg::var<"u", eg::shape<I>>;
constexpr auto Wh = eg::var<"Wh", eg::shape<H, H>>;
constexpr auto Wx = eg::var<"Wx", eg::shape<H, I>>;
constexpr auto b = eg::var<"b", eg::shape<H>>;
constexpr auto Wo = eg::var<"Wo", eg::shape<C, H>>;
constexpr auto y = eg::var<"y">;
constexpr auto cell = eg::carry(h = eg::tanh(eg::matvec(Wh, h) + eg::matvec(Wx, u) + b));
constexpr auto ce = eg::logsumexp(eg::matvec(Wo, h)) - eg::pick(eg::matvec(Wo, h), y);

bool close(double a, double e, double rel = 1e-13) { return std::fabs(a - e) <= rel * (1 + std::fabs(e)); }

struct osc_data {
    std::vector<double> x0, fs;
    osc_data(std::size_t n, std::size_t len) : x0(n), fs(n * len) {
        for (std::size_t i = 0; i < n; ++i) {
            x0[i] = 1.0 + 0.1 * double(i);
        }
        for (std::size_t i = 0; i < fs.size(); ++i) {
            fs[i] = std::sin(0.3 * double(i));
        }
    }
};

void check_oscillator(std::size_t n, std::size_t len, std::ptrdiff_t steps) {
    INFO("samples " << n << ", sequence length " << len << ", steps " << steps);
    osc_data d(n, len);
    std::vector<double> gx0(n, -1.0), gf(n * len, -1.0);
    const auto loop = eg::scan(osc, steps).final(x * x).sum(0.1 * v * v);
    auto [L, g] = eg::value_and_grad(eg::mean(loop), eg::wrt(k, c), x = eg::data(d.x0).grad_into(gx0), v = 0.0,
                                     k = 4.0, c = 0.3, dt = 0.1, f = eg::sequences(d.fs, len).grad_into(gf));
    double sv = 0, sk = 0, sc = 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<double> gfi(len);
        const auto q = eg::value_and_grad(loop, eg::wrt(k, c, x), x = d.x0[i], v = 0.0, k = 4.0, c = 0.3, dt = 0.1,
                                          f = eg::sequence(std::span(d.fs).subspan(i * len, len)).grad_into(gfi));
        sv += q.value;
        sk += q.grad[k];
        sc += q.grad[c];
        INFO("sample " << i);
        CHECK(close(gx0[i], q.grad[x] / double(n)));
        for (std::size_t t = 0; t < len; ++t) {
            CHECK(close(gf[i * len + t], gfi[t] / double(n)));
        }
    }
    CHECK(close(L, sv / double(n)));
    CHECK(close(g[k], sk / double(n)));
    CHECK(close(g[c], sc / double(n)));
    // The value alone, the sum, and the default wrt (every shared variable).
    const double L2 = eg::mean(loop)(x = d.x0, v = 0.0, k = 4.0, c = 0.3, dt = 0.1, f = eg::sequences(d.fs, len));
    CHECK(L2 == L);
    auto [S, gs] = eg::value_and_grad(eg::sum(loop), x = d.x0, v = 0.0, k = 4.0, c = 0.3, dt = 0.1,
                                      f = eg::sequences(d.fs, len));
    CHECK(close(S, sv));
    CHECK(close(gs[k], sk));
    CHECK(close(gs[c], sc));
    CHECK(gs[v] == Approx(0.0).margin(1e300));  // v is in the record (shared initial state)
}

struct rnn_data {
    std::vector<double> wh, wx, bb, wo, U, H0;
    std::vector<int> labels;
    rnn_data(std::size_t n, std::size_t len)
        : wh(H * H), wx(H * I), bb(H), wo(C * H), U(n * len * I), H0(n * H), labels(n) {
        for (std::size_t i = 0; i < wh.size(); ++i) {
            wh[i] = 0.4 * std::sin(1.3 * double(i) + 0.4);
        }
        for (std::size_t i = 0; i < wx.size(); ++i) {
            wx[i] = 0.5 * std::cos(0.7 * double(i));
        }
        for (std::size_t i = 0; i < bb.size(); ++i) {
            bb[i] = 0.05 * double(i) - 0.1;
        }
        for (std::size_t i = 0; i < wo.size(); ++i) {
            wo[i] = 0.6 * std::sin(double(i) + 1.0);
        }
        for (std::size_t i = 0; i < U.size(); ++i) {
            U[i] = std::sin(0.37 * double(i));
        }
        for (std::size_t i = 0; i < H0.size(); ++i) {
            H0[i] = 0.2 * std::cos(double(i));
        }
        for (std::size_t i = 0; i < n; ++i) {
            labels[i] = int((i * 7) % C);
        }
    }
};

template <class G, class Var>
void check_entry(const G& g, Var var, const std::vector<double>& want, double n) {
    const auto& t = g[var];
    REQUIRE(t.values.size() == want.size());
    for (std::size_t j = 0; j < want.size(); ++j) {
        INFO("element " << j);
        CHECK(close(t.values[j], want[j] / n, 1e-12));
    }
}

void check_rnn(std::size_t n, std::size_t len, unsigned threads) {
    INFO("samples " << n << ", steps " << len << ", threads " << threads);
    rnn_data d(n, len);
    std::vector<double> gH0(d.H0.size(), -1.0), gU(d.U.size(), -1.0);
    const auto rnn = eg::scan(cell, static_cast<std::ptrdiff_t>(len)).final(ce);
    auto [L, g] = eg::value_and_grad(eg::par(threads), eg::mean(rnn), eg::wrt(Wh, Wx, b, Wo),
                                     h = eg::rows<H>(d.H0).grad_into(gH0), Wh = d.wh, Wx = d.wx, b = d.bb, Wo = d.wo,
                                     u = eg::sequences<I>(d.U, len).grad_into(gU), y = d.labels);
    double sv = 0;
    std::vector<double> swh(H * H), swx(H * I), sb(H), swo(C * H);
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<double> gu(len * I);
        const auto q = eg::value_and_grad(rnn, eg::wrt(Wh, Wx, b, Wo, h), h = std::span(d.H0).subspan(H * i, H),
                                          Wh = d.wh, Wx = d.wx, b = d.bb, Wo = d.wo,
                                          u = eg::sequence<I>(std::span(d.U).subspan(i * len * I, len * I)).grad_into(gu),
                                          y = d.labels[i]);
        sv += q.value;
        auto add = [](std::vector<double>& s, const auto& t) {
            for (std::size_t j = 0; j < s.size(); ++j) {
                s[j] += t.values[j];
            }
        };
        add(swh, q.grad[Wh]);
        add(swx, q.grad[Wx]);
        add(sb, q.grad[b]);
        add(swo, q.grad[Wo]);
        INFO("sample " << i);
        for (std::size_t j = 0; j < H; ++j) {
            CHECK(close(gH0[i * H + j], q.grad[h].values[j] / double(n), 1e-12));
        }
        for (std::size_t j = 0; j < len * I; ++j) {
            CHECK(close(gU[i * len * I + j], gu[j] / double(n), 1e-12));
        }
    }
    CHECK(close(L, sv / double(n), 1e-12));
    check_entry(g, Wh, swh, double(n));
    check_entry(g, Wx, swx, double(n));
    check_entry(g, b, sb, double(n));
    check_entry(g, Wo, swo, double(n));
}
}  // namespace

TEST_CASE("a loop per sample: the oscillator against one loop per sample", "[loop][data]") {
    for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9}, std::size_t{37}}) {
        check_oscillator(n, 6, 6);
    }
    check_oscillator(10, 12, 5);  // fewer steps than the sequences' length
    check_oscillator(3, 1, 0);    // no step
}

TEST_CASE("a loop per sample: an RNN classifier against one loop per sample", "[loop][data]") {
    for (std::size_t n : {std::size_t{1}, std::size_t{5}, std::size_t{17}}) {
        check_rnn(n, 4, 1);
    }
    check_rnn(3, 1, 1);
    check_rnn(70, 3, 2);  // several chunks of blocks
}

TEST_CASE("a loop per sample: threads give the same bits", "[loop][data][par]") {
    const std::size_t n = 1000, len = 3;  // 1000 samples: 16 chunks of blocks at most 64 wide
    rnn_data d(n, len);
    const auto rnn = eg::scan(cell, static_cast<std::ptrdiff_t>(len)).final(ce);
    auto run = [&](unsigned t) {
        return eg::value_and_grad(eg::par(t), eg::mean(rnn), eg::wrt(Wh, Wx, b, Wo), h = eg::rows<H>(d.H0), Wh = d.wh,
                                  Wx = d.wx, b = d.bb, Wo = d.wo, u = eg::sequences<I>(d.U, len), y = d.labels);
    };
    const auto r1 = run(1);
    for (unsigned t : {2u, 3u, 8u}) {
        const auto r = run(t);
        CHECK(std::memcmp(&r.value, &r1.value, sizeof r.value) == 0);
        CHECK(r.grad[Wh].values == r1.grad[Wh].values);
        CHECK(r.grad[Wo].values == r1.grad[Wo].values);
        CHECK(r.grad[b].values == r1.grad[b].values);
    }
    // The value alone agrees with value_and_grad's.
    const double L = eg::mean(rnn)(h = eg::rows<H>(d.H0), Wh = d.wh, Wx = d.wx, b = d.bb, Wo = d.wo,
                                   u = eg::sequences<I>(d.U, len), y = d.labels);
    CHECK(L == r1.value);
}

TEST_CASE("a loop per sample: rows and labels in a chosen order, a shared initial state", "[loop][data]") {
    const std::size_t n = 11, len = 3;
    rnn_data d(n, len);
    const std::vector<std::size_t> order{4, 9, 0, 2, 10};
    // Sequences have no order: those of the chosen samples, copied.
    std::vector<double> U2;
    for (std::size_t s : order) {
        U2.insert(U2.end(), d.U.begin() + std::ptrdiff_t(s * len * I), d.U.begin() + std::ptrdiff_t((s + 1) * len * I));
    }
    std::vector<double> gH0(d.H0.size(), 7.0);
    const auto rnn = eg::scan(cell, static_cast<std::ptrdiff_t>(len)).final(ce);
    auto [L, g] = eg::value_and_grad(eg::sum(rnn), eg::wrt(Wo), h = eg::rows<H>(d.H0, order).grad_into(gH0), Wh = d.wh,
                                     Wx = d.wx, b = d.bb, Wo = d.wo, u = eg::sequences<I>(U2, len),
                                     y = eg::select(d.labels, order));
    double sv = 0;
    std::vector<double> swo(C * H);
    for (std::size_t j = 0; j < order.size(); ++j) {
        const std::size_t s = order[j];
        const auto q = eg::value_and_grad(rnn, eg::wrt(Wo, h), h = std::span(d.H0).subspan(H * s, H), Wh = d.wh,
                                          Wx = d.wx, b = d.bb, Wo = d.wo,
                                          u = eg::sequence<I>(std::span(U2).subspan(j * len * I, len * I)),
                                          y = d.labels[s]);
        sv += q.value;
        for (std::size_t e = 0; e < C * H; ++e) {
            swo[e] += q.grad[Wo].values[e];
        }
        for (std::size_t e = 0; e < H; ++e) {
            CHECK(close(gH0[s * H + e], q.grad[h].values[e], 1e-12));
        }
    }
    CHECK(close(L, sv, 1e-12));
    check_entry(g, Wo, swo, 1.0);
    CHECK(gH0[1 * H] == 7.0);  // rows not chosen are left as they are
    // One initial state for every sample (a parameter, in the record).
    std::vector<double> h0(d.H0.begin(), d.H0.begin() + H);
    auto [L2, g2] = eg::value_and_grad(eg::mean(rnn), eg::wrt(h, Wo), h = h0, Wh = d.wh, Wx = d.wx, b = d.bb,
                                       Wo = d.wo, u = eg::sequences<I>(d.U, len), y = d.labels);
    double sv2 = 0;
    std::vector<double> sh(H);
    for (std::size_t i = 0; i < n; ++i) {
        const auto q = eg::value_and_grad(rnn, eg::wrt(h), h = h0, Wh = d.wh, Wx = d.wx, b = d.bb, Wo = d.wo,
                                          u = eg::sequence<I>(std::span(d.U).subspan(i * len * I, len * I)),
                                          y = d.labels[i]);
        sv2 += q.value;
        for (std::size_t e = 0; e < H; ++e) {
            sh[e] += q.grad[h].values[e];
        }
    }
    CHECK(close(L2, sv2 / double(n), 1e-12));
    check_entry(g2, h, sh, double(n));
}

TEST_CASE("a loop per sample: float data", "[loop][data]") {
    const std::size_t n = 21, len = 5;
    osc_data d(n, len);
    std::vector<float> x0(d.x0.begin(), d.x0.end()), fs(d.fs.begin(), d.fs.end());
    const auto loop = eg::scan(osc, static_cast<std::ptrdiff_t>(len)).final(x * x);
    auto [L, g] = eg::value_and_grad(eg::mean(loop), eg::wrt(k, c), x = x0, v = 0.0, k = 4.0, c = 0.3, dt = 0.1,
                                     f = eg::sequences(fs, len));
    static_assert(std::is_same_v<decltype(L), float>);
    auto [Ld, gd] = eg::value_and_grad(eg::mean(loop), eg::wrt(k, c), x = d.x0, v = 0.0, k = 4.0, c = 0.3, dt = 0.1,
                                       f = eg::sequences(d.fs, len));
    CHECK(double(L) == Approx(Ld).epsilon(1e-5));
    CHECK(double(g[k]) == Approx(gd[k]).epsilon(1e-4));
    CHECK(double(g[c]) == Approx(gd[c]).epsilon(1e-4));
}

TEST_CASE("a loop per sample: errors before anything is written", "[loop][data][errors]") {
    const std::size_t n = 6, len = 4;
    osc_data d(n, len);
    const auto loop = eg::scan(osc, static_cast<std::ptrdiff_t>(len)).final(x);
    std::vector<double> gx0(n, 5.0), short_x(n - 1, 1.0), gbad(n + 1);
    // Samples of different counts.
    CHECK_THROWS_AS(eg::value_and_grad(eg::mean(loop), eg::wrt(k), x = eg::data(short_x), v = 0.0, k = 4.0, c = 0.3,
                                       dt = 0.1, f = eg::sequences(d.fs, len)),
                    std::invalid_argument);
    // A grad_into output of another length.
    CHECK_THROWS_AS(eg::value_and_grad(eg::mean(loop), eg::wrt(k), x = eg::data(d.x0).grad_into(gbad), v = 0.0,
                                       k = 4.0, c = 0.3, dt = 0.1, f = eg::sequences(d.fs, len)),
                    std::invalid_argument);
    // More steps than the sequences have (the loop's own check), and n < 0.
    const auto longer = eg::scan(osc, static_cast<std::ptrdiff_t>(len + 1)).final(x);
    CHECK_THROWS_AS(eg::value_and_grad(eg::mean(longer), eg::wrt(k), x = eg::data(d.x0).grad_into(gx0), v = 0.0,
                                       k = 4.0, c = 0.3, dt = 0.1, f = eg::sequences(d.fs, len)),
                    std::invalid_argument);
    const auto negative = eg::scan(osc, -1).final(x);
    CHECK_THROWS_AS(eg::value_and_grad(eg::mean(negative), eg::wrt(k), x = eg::data(d.x0).grad_into(gx0), v = 0.0,
                                       k = 4.0, c = 0.3, dt = 0.1, f = eg::sequences(d.fs, len)),
                    std::invalid_argument);
    for (double e : gx0) {
        CHECK(e == 5.0);
    }
    // Sequences whose length is not a multiple of L (times the row width), and L = 0.
    CHECK_THROWS_AS(eg::sequences(d.fs, 5), std::invalid_argument);
    CHECK_THROWS_AS(eg::sequences<5>(d.fs, 4), std::invalid_argument);
    CHECK_THROWS_AS(eg::sequences(d.fs, 0), std::invalid_argument);
}

#ifndef ETGRAD_TORCH_RNN_BATCH_REFERENCE_FILE
#error "define ETGRAD_TORCH_RNN_BATCH_REFERENCE_FILE as a string literal naming test/reference/torch_rnn_batch_reference.txt"
#endif

#include <fstream>
#include <map>
#include <sstream>
#include <string>

TEST_CASE("a loop per sample: an RNN classifier over a batch against PyTorch 1.13", "[loop][data][torch]") {
    // test/reference/gen_torch_rnn_batch_reference.py: F.cross_entropy of an Elman RNN's last state
    // over 13 sequences of 6 steps, a dynamic loop over the whole batch, in double.
    std::ifstream in(ETGRAD_TORCH_RNN_BATCH_REFERENCE_FILE);
    REQUIRE(in.good());
    std::map<std::string, std::vector<double>> r;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream ls(line);
        std::string name;
        ls >> name;
        for (double x; ls >> x;) {
            r[name].push_back(x);
        }
    }
    constexpr std::size_t Hr = 5, Ir = 3, Cr = 4;
    REQUIRE(r["dims"] == std::vector<double>{13, 6, double(Hr), double(Ir), double(Cr)});
    const auto n = static_cast<std::size_t>(r["dims"][0]), len = static_cast<std::size_t>(r["dims"][1]);
    constexpr auto hr = eg::var<"h", eg::shape<Hr>>;
    constexpr auto ur = eg::var<"u", eg::shape<Ir>>;
    constexpr auto Whr = eg::var<"Wh", eg::shape<Hr, Hr>>;
    constexpr auto Wxr = eg::var<"Wx", eg::shape<Hr, Ir>>;
    constexpr auto br = eg::var<"b", eg::shape<Hr>>;
    constexpr auto Wor = eg::var<"Wo", eg::shape<Cr, Hr>>;
    constexpr auto bor = eg::var<"bo", eg::shape<Cr>>;
    constexpr auto cell_r = eg::carry(hr = eg::tanh(eg::matvec(Whr, hr) + eg::matvec(Wxr, ur) + br));
    const auto rnn = eg::scan(cell_r, static_cast<std::ptrdiff_t>(len))
                         .final(eg::nn::cross_entropy(eg::matvec(Wor, hr) + bor, y));
    std::vector<int> labels(r["labels"].begin(), r["labels"].end());
    std::vector<double> gH0(n * Hr), gU(n * len * Ir);
    auto [L, g] = eg::value_and_grad(eg::mean(rnn), eg::wrt(Whr, Wxr, br, Wor, bor),
                                     hr = eg::rows<Hr>(r["H0"]).grad_into(gH0), Whr = r["Wh"], Wxr = r["Wx"],
                                     br = r["b"], Wor = r["Wo"], bor = r["bo"],
                                     ur = eg::sequences<Ir>(r["U"], len).grad_into(gU), y = labels);
    CHECK(L == Approx(r["loss"][0]).epsilon(1e-13));
    auto same = [](const auto& got, const std::vector<double>& want) {
        REQUIRE(got.size() == want.size());
        for (std::size_t j = 0; j < want.size(); ++j) {
            INFO("element " << j);
            CHECK(got[j] == Approx(want[j]).epsilon(1e-12).margin(1e-15));
        }
    };
    same(g[Whr].values, r["dWh"]);
    same(g[Wxr].values, r["dWx"]);
    same(g[br].values, r["db"]);
    same(g[Wor].values, r["dWo"]);
    same(g[bor].values, r["dbo"]);
    same(gH0, r["dH0"]);
    same(gU, r["dU"]);
}
