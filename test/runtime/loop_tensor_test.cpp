// Loops with shaped carries (etgrad/loop.hpp): an Elman RNN h <- tanh(Wh h + Wx u_t + b) with a
// vector hidden state, matrix parameters and one input row per step (u = eg::sequence<3>(us)),
// against the same loop unrolled at compile time, against long-double central differences, every
// memory policy bit-identical, float and double, forward mode, several carries, and the errors.
#include <catch2/catch.hpp>
#include <etgrad/etgrad.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <vector>

namespace eg = etgrad;

namespace {
constexpr std::size_t I = 3;  // inputs per step

template <std::size_t H>
struct rnn {
    static constexpr auto h = eg::var<"h", eg::shape<H>>;
    static constexpr auto u = eg::var<"u", eg::shape<I>>;
    static constexpr auto Wh = eg::var<"Wh", eg::shape<H, H>>;
    static constexpr auto Wx = eg::var<"Wx", eg::shape<H, I>>;
    static constexpr auto b = eg::var<"b", eg::shape<H>>;
    static constexpr auto cell = eg::carry(h = eg::tanh(eg::matvec(Wh, h) + eg::matvec(Wx, u) + b));
    static constexpr auto loss = eg::sum(eg::square(h));

    // The parameters and inputs (in T), deterministic.
    template <class T>
    struct values {
        std::array<T, H * H> wh{};
        std::array<T, H * I> wx{};
        std::array<T, H> bb{}, h0{};
        std::vector<T> us;
        explicit values(std::size_t n) : us(n * I) {
            for (std::size_t i = 0; i < H * H; ++i) {
                wh[i] = static_cast<T>(0.6 / std::sqrt(double(H)) * std::sin(1.3 * double(i) + 0.4));
            }
            for (std::size_t i = 0; i < H * I; ++i) {
                wx[i] = static_cast<T>(0.5 * std::cos(0.7 * double(i) + 0.1));
            }
            for (std::size_t i = 0; i < H; ++i) {
                bb[i] = static_cast<T>(0.05 * double(i) - 0.1);
                h0[i] = static_cast<T>(0.2 * std::sin(double(i) + 2.0));
            }
            for (std::size_t i = 0; i < us.size(); ++i) {
                us[i] = static_cast<T>(std::sin(0.37 * double(i)));
            }
        }
    };

    // The loop in long double: the parameters flat (Wh, Wx, b, h0), the final loss plus, when
    // running, the sum of the loss after each step.
    static long double reference(const std::vector<long double>& p, const std::vector<double>& us, std::size_t n,
                                 bool final_loss, bool running) {
        const long double* wh = p.data();
        const long double* wx = wh + H * H;
        const long double* bb = wx + H * I;
        std::array<long double, H> hs{}, nx{};
        for (std::size_t i = 0; i < H; ++i) {
            hs[i] = bb[H + i];
        }
        long double s = 0;
        auto sq = [&] {
            long double r = 0;
            for (auto x : hs) {
                r += x * x;
            }
            return r;
        };
        for (std::size_t t = 0; t < n; ++t) {
            for (std::size_t i = 0; i < H; ++i) {
                long double a = bb[i];
                for (std::size_t j = 0; j < H; ++j) {
                    a += wh[i * H + j] * hs[j];
                }
                for (std::size_t j = 0; j < I; ++j) {
                    a += wx[i * I + j] * static_cast<long double>(us[t * I + j]);
                }
                nx[i] = std::tanh(a);
            }
            hs = nx;
            if (running) {
                s += sq();
            }
        }
        return s + (final_loss ? sq() : 0.0L);
    }
};

template <class G, class V>
void append(std::vector<double>& out, const G& g, V v) {
    for (auto x : g[v].values) {
        out.push_back(static_cast<double>(x));
    }
}

template <std::size_t H>
void check_against_differences(std::size_t n) {
    using R = rnn<H>;
    INFO("H = " << H << ", n = " << n);
    typename R::template values<double> p(n);
    std::vector<double> gu(p.us.size());
    for (int which = 0; which < 2; ++which) {
        const bool running = which == 1;
        auto loop = eg::scan(R::cell, static_cast<std::ptrdiff_t>(n)).final(R::loss);
        auto [L, g] = running ? eg::value_and_grad(loop.sum(R::loss), eg::wrt(R::Wh, R::Wx, R::b, R::h), R::h = p.h0,
                                                   R::Wh = p.wh, R::Wx = p.wx, R::b = p.bb,
                                                   R::u = eg::sequence<I>(p.us).grad_into(gu))
                              : eg::value_and_grad(loop, eg::wrt(R::Wh, R::Wx, R::b, R::h), R::h = p.h0, R::Wh = p.wh,
                                                   R::Wx = p.wx, R::b = p.bb, R::u = eg::sequence<I>(p.us).grad_into(gu));
        std::vector<double> got;
        append(got, g, R::Wh);
        append(got, g, R::Wx);
        append(got, g, R::b);
        append(got, g, R::h);
        std::vector<long double> th;
        for (auto x : p.wh) th.push_back(x);
        for (auto x : p.wx) th.push_back(x);
        for (auto x : p.bb) th.push_back(x);
        for (auto x : p.h0) th.push_back(x);
        REQUIRE(got.size() == th.size());
        CHECK(L == Approx(static_cast<double>(R::reference(th, p.us, n, true, running))).epsilon(1e-13));
        const long double d = 1e-6L;
        for (std::size_t i = 0; i < th.size(); ++i) {
            auto a = th, c = th;
            a[i] += d;
            c[i] -= d;
            const auto fd = static_cast<double>((R::reference(a, p.us, n, true, running) -
                                                 R::reference(c, p.us, n, true, running)) /
                                                (2 * d));
            INFO("running = " << running << ", parameter " << i);
            CHECK(got[i] == Approx(fd).epsilon(1e-7).margin(1e-9));
        }
        // The inputs' gradient: a few entries against differences of the inputs.
        for (std::size_t k : {std::size_t{0}, gu.size() / 2, gu.size() > 0 ? gu.size() - 1 : 0}) {
            if (gu.empty()) {
                break;
            }
            auto ua = p.us, uc = p.us;
            ua[k] += 1e-6;
            uc[k] -= 1e-6;
            const double hstep = ua[k] - uc[k];
            const auto fd = static_cast<double>(
                (R::reference(th, ua, n, true, running) - R::reference(th, uc, n, true, running)) / hstep);
            INFO("running = " << running << ", input " << k);
            CHECK(gu[k] == Approx(fd).epsilon(1e-6).margin(1e-9));
        }
    }
}
}  // namespace

TEST_CASE("shaped carries: an Elman RNN equals the loop unrolled at compile time") {
    using R = rnn<4>;
    constexpr auto u0 = eg::var<"u0", eg::shape<I>>;
    constexpr auto u1 = eg::var<"u1", eg::shape<I>>;
    constexpr auto u2 = eg::var<"u2", eg::shape<I>>;
    constexpr auto step = [](auto hp, auto ut) {
        return eg::tanh(eg::matvec(R::Wh, hp) + eg::matvec(R::Wx, ut) + R::b);
    };
    constexpr auto h1 = step(R::h, u0);
    constexpr auto h2 = step(h1, u1);
    constexpr auto h3 = step(h2, u2);
    R::values<double> p(3);
    std::array<double, I> r0{}, r1{}, r2{};
    for (std::size_t j = 0; j < I; ++j) {
        r0[j] = p.us[j];
        r1[j] = p.us[I + j];
        r2[j] = p.us[2 * I + j];
    }
    std::vector<double> gu(3 * I);
    const auto check = [&](const auto& scanned, const auto& unrolled) {
        const auto& [L, g] = scanned;
        const auto& [Lu, gr] = unrolled;
        CHECK(L == Approx(Lu).epsilon(1e-15));
        for (std::size_t i = 0; i < 16; ++i) {
            CHECK(g[R::Wh].values[i] == Approx(gr[R::Wh].values[i]).epsilon(1e-14).margin(1e-300));
        }
        for (std::size_t i = 0; i < 12; ++i) {
            CHECK(g[R::Wx].values[i] == Approx(gr[R::Wx].values[i]).epsilon(1e-14).margin(1e-300));
        }
        for (std::size_t i = 0; i < 4; ++i) {
            CHECK(g[R::b].values[i] == Approx(gr[R::b].values[i]).epsilon(1e-14).margin(1e-300));
            CHECK(g[R::h].values[i] == Approx(gr[R::h].values[i]).epsilon(1e-14).margin(1e-300));
        }
        for (std::size_t j = 0; j < I; ++j) {
            CHECK(gu[j] == Approx(gr[u0].values[j]).epsilon(1e-14).margin(1e-300));
            CHECK(gu[I + j] == Approx(gr[u1].values[j]).epsilon(1e-14).margin(1e-300));
            CHECK(gu[2 * I + j] == Approx(gr[u2].values[j]).epsilon(1e-14).margin(1e-300));
        }
    };
    // The final loss.
    check(eg::value_and_grad(eg::scan(R::cell, 3).final(R::loss), eg::wrt(R::Wh, R::Wx, R::b, R::h), R::h = p.h0,
                             R::Wh = p.wh, R::Wx = p.wx, R::b = p.bb, R::u = eg::sequence<I>(p.us).grad_into(gu)),
          eg::value_and_grad(eg::sum(eg::square(h3)), eg::wrt(R::Wh, R::Wx, R::b, R::h, u0, u1, u2), R::h = p.h0,
                             R::Wh = p.wh, R::Wx = p.wx, R::b = p.bb, u0 = r0, u1 = r1, u2 = r2));
    // A loss summed over the steps (and the final one).
    check(eg::value_and_grad(eg::scan(R::cell, 3).final(R::loss).sum(R::loss), eg::wrt(R::Wh, R::Wx, R::b, R::h),
                             R::h = p.h0, R::Wh = p.wh, R::Wx = p.wx, R::b = p.bb,
                             R::u = eg::sequence<I>(p.us).grad_into(gu)),
          eg::value_and_grad(eg::sum(eg::square(h1)) + eg::sum(eg::square(h2)) + 2 * eg::sum(eg::square(h3)),
                             eg::wrt(R::Wh, R::Wx, R::b, R::h, u0, u1, u2), R::h = p.h0, R::Wh = p.wh, R::Wx = p.wx,
                             R::b = p.bb, u0 = r0, u1 = r1, u2 = r2));
    // Without eg::wrt: every bound variable but the sequences, shaped entries as in tensor calls.
    auto [L, g] = eg::value_and_grad(eg::scan(R::cell, 3).final(R::loss), R::h = p.h0, R::Wh = p.wh, R::Wx = p.wx,
                                     R::b = p.bb, R::u = eg::sequence<I>(p.us));
    auto [Lu, gr] = eg::value_and_grad(eg::sum(eg::square(h3)), eg::wrt(R::Wh, R::h), R::h = p.h0, R::Wh = p.wh,
                                       R::Wx = p.wx, R::b = p.bb, u0 = r0, u1 = r1, u2 = r2);
    CHECK(L == Approx(Lu).epsilon(1e-15));
    CHECK(g[R::Wh](1, 2) == Approx(gr[R::Wh](1, 2)).epsilon(1e-14));
    CHECK(g[R::h](3) == Approx(gr[R::h](3)).epsilon(1e-14));
    // The plain value.
    CHECK(eg::scan(R::cell, 3).final(R::loss)(R::h = p.h0, R::Wh = p.wh, R::Wx = p.wx, R::b = p.bb,
                                              R::u = eg::sequence<I>(p.us)) == Approx(Lu).epsilon(1e-15));
}

TEST_CASE("shaped carries: the RNN's gradient against long-double central differences") {
    for (std::size_t n : {0, 1, 2, 37, 1000}) {
        check_against_differences<4>(n);
    }
    check_against_differences<8>(37);
}

TEST_CASE("shaped carries: every memory policy gives bit-identical values and gradients") {
    using R = rnn<8>;
    for (std::size_t n : {0, 1, 2, 37, 1000}) {
        INFO("n = " << n);
        R::values<double> p(n);
        std::vector<double> gu(n * I);
        const auto run = [&](auto policy) {
            auto r = eg::value_and_grad(
                eg::scan(R::cell, static_cast<std::ptrdiff_t>(n), policy).final(R::loss).sum(eg::c<1, 10> * R::loss),
                eg::wrt(R::Wh, R::Wx, R::b, R::h), R::h = p.h0, R::Wh = p.wh, R::Wx = p.wx, R::b = p.bb,
                R::u = eg::sequence<I>(p.us).grad_into(gu));
            return std::make_pair(r, gu);
        };
        const auto a = run(eg::store_states{});
        for (const auto& r : {run(eg::checkpoint_every<1>), run(eg::checkpoint_every<7>), run(eg::checkpoint_every<5000>)}) {
            CHECK(r.first.value == a.first.value);
            CHECK(r.first.grad[R::Wh].values == a.first.grad[R::Wh].values);
            CHECK(r.first.grad[R::Wx].values == a.first.grad[R::Wx].values);
            CHECK(r.first.grad[R::b].values == a.first.grad[R::b].values);
            CHECK(r.first.grad[R::h].values == a.first.grad[R::h].values);
            CHECK(r.second == a.second);
        }
        // A caller's workspace: the same bits; its size counts the carried elements.
        constexpr std::size_t M = decltype(R::cell)::elements();
        STATIC_REQUIRE(M == 8);
        std::vector<double> w(eg::scan_workspace_size(eg::checkpoint_every<7>, n, M));
        auto rw = eg::value_and_grad(eg::scan(R::cell, static_cast<std::ptrdiff_t>(n), eg::checkpoint_every<7>)
                                         .final(R::loss)
                                         .sum(eg::c<1, 10> * R::loss)
                                         .workspace(w),
                                     eg::wrt(R::Wh, R::Wx, R::b, R::h), R::h = p.h0, R::Wh = p.wh, R::Wx = p.wx,
                                     R::b = p.bb, R::u = eg::sequence<I>(p.us).grad_into(gu));
        CHECK(rw.value == a.first.value);
        CHECK(rw.grad[R::Wh].values == a.first.grad[R::Wh].values);
    }
}

TEST_CASE("shaped carries: float and double") {
    using R = rnn<8>;
    const std::size_t n = 37;
    R::values<double> pd(n);
    R::values<float> pf(n);
    auto d = eg::value_and_grad(eg::scan(R::cell, n).final(R::loss), eg::wrt(R::Wh, R::h), R::h = pd.h0, R::Wh = pd.wh,
                                R::Wx = pd.wx, R::b = pd.bb, R::u = eg::sequence<I>(pd.us));
    auto f = eg::value_and_grad(eg::scan(R::cell, n).final(R::loss), eg::wrt(R::Wh, R::h), R::h = pf.h0, R::Wh = pf.wh,
                                R::Wx = pf.wx, R::b = pf.bb, R::u = eg::sequence<I>(pf.us));
    STATIC_REQUIRE(std::is_same_v<decltype(f.value), float>);
    STATIC_REQUIRE(std::is_same_v<std::remove_cvref_t<decltype(f.grad[R::Wh].values[0])>, float>);
    CHECK(f.value == Approx(d.value).epsilon(1e-5));
    for (std::size_t i = 0; i < 64; ++i) {
        CHECK(f.grad[R::Wh].values[i] == Approx(d.grad[R::Wh].values[i]).epsilon(1e-4).margin(1e-5));
    }
    for (std::size_t i = 0; i < 8; ++i) {
        CHECK(f.grad[R::h].values[i] == Approx(d.grad[R::h].values[i]).epsilon(1e-4).margin(1e-5));
    }
}

TEST_CASE("shaped carries: forward mode agrees with the gradient") {
    using R = rnn<4>;
    const std::size_t n = 37;
    R::values<double> p(n);
    auto loop = eg::scan(R::cell, n).final(R::loss).sum(R::loss);
    auto [L, g] = eg::value_and_grad(loop, eg::wrt(R::Wh, R::b, R::h), R::h = p.h0, R::Wh = p.wh, R::Wx = p.wx,
                                     R::b = p.bb, R::u = eg::sequence<I>(p.us));
    std::array<double, 16> dwh{};
    std::array<double, 4> dh{}, db{};
    double want = 0;
    for (std::size_t i = 0; i < 16; ++i) {
        dwh[i] = std::cos(double(i));
        want += dwh[i] * g[R::Wh].values[i];
    }
    for (std::size_t i = 0; i < 4; ++i) {
        dh[i] = 0.5 - double(i);
        db[i] = 0.25 * double(i);
        want += dh[i] * g[R::h].values[i] + db[i] * g[R::b].values[i];
    }
    auto [v, t] = eg::jvp(loop, eg::tangent(R::Wh = dwh, R::h = dh, R::b = db), R::h = p.h0, R::Wh = p.wh,
                          R::Wx = p.wx, R::b = p.bb, R::u = eg::sequence<I>(p.us));
    CHECK(v == Approx(L).epsilon(1e-15));
    CHECK(t == Approx(want).epsilon(1e-12));
}

TEST_CASE("shaped carries: several carries, scalar and shaped, each update reads the old state") {
    // A linear oscillator in 3 dimensions (x' = x + dt v, v' = v - dt A x) and a scalar
    // accumulating the energy-like sum of x, against the same loop unrolled.
    constexpr auto x = eg::var<"x", eg::shape<3>>;
    constexpr auto v = eg::var<"v", eg::shape<3>>;
    constexpr auto s = eg::var<"s">;
    constexpr auto A = eg::var<"A", eg::shape<3, 3>>;
    constexpr auto dt = eg::var<"dt">;
    constexpr auto step = eg::carry(v = v - dt * eg::matvec(A, x), x = x + dt * v, s = s + eg::sum(eg::square(x)));
    STATIC_REQUIRE(decltype(step)::elements() == 7);
    constexpr auto v1 = v - dt * eg::matvec(A, x);
    constexpr auto x1 = x + dt * v;
    constexpr auto s1 = s + eg::sum(eg::square(x));
    constexpr auto v2 = v1 - dt * eg::matvec(A, x1);
    constexpr auto x2 = x1 + dt * v1;
    constexpr auto s2 = s1 + eg::sum(eg::square(x1));
    constexpr auto x3 = x2 + dt * v2;
    constexpr auto s3 = s2 + eg::sum(eg::square(x2));
    const std::array<double, 9> a{2.0, 0.3, 0.1, 0.3, 1.5, -0.2, 0.1, -0.2, 1.0};
    const std::array<double, 3> x0{1.0, -0.5, 0.25}, v0{0.0, 0.2, -0.1};
    auto [L, g] = eg::value_and_grad(eg::scan(step, 3).final(eg::sum(x) + s), eg::wrt(A, x, v, s, dt), x = x0, v = v0,
                                     s = 0.5, A = a, dt = 0.1);
    auto [Lu, gu] = eg::value_and_grad(eg::sum(x3) + s3, eg::wrt(A, x, v, s, dt), x = x0, v = v0, s = 0.5, A = a,
                                       dt = 0.1);
    CHECK(L == Approx(Lu).epsilon(1e-15));
    for (std::size_t i = 0; i < 9; ++i) {
        CHECK(g[A].values[i] == Approx(gu[A].values[i]).epsilon(1e-14).margin(1e-300));
    }
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(g[x].values[i] == Approx(gu[x].values[i]).epsilon(1e-14).margin(1e-300));
        CHECK(g[v].values[i] == Approx(gu[v].values[i]).epsilon(1e-14).margin(1e-300));
    }
    CHECK(g[s] == Approx(gu[s]).epsilon(1e-15));
    CHECK(g[dt] == Approx(gu[dt]).epsilon(1e-14));
    // Forward mode along dt.
    auto [vj, tj] = eg::jvp(eg::scan(step, 3).final(eg::sum(x) + s), eg::tangent(dt = 1.0), x = x0, v = v0, s = 0.5,
                            A = a, dt = 0.1);
    CHECK(vj == Approx(Lu).epsilon(1e-15));
    CHECK(tj == Approx(gu[dt]).epsilon(1e-13));
}

TEST_CASE("shaped carries: a while loop on a shaped state") {
    constexpr auto h = eg::var<"h", eg::shape<2>>;
    constexpr auto a = eg::var<"a">;
    const std::array<double, 2> h0{3.0, 4.0};  // |h| = 5, halved until |h|^2 <= 1: 3 steps
    auto [L, g] = eg::value_and_grad(eg::scan_while(eg::carry(h = a * h), eg::sum(eg::square(h)) > 1.0, 100)
                                         .final(eg::sum(eg::square(h))),
                                     eg::wrt(a, h), h = h0, a = 0.5);
    CHECK(L == Approx(25.0 / 64).epsilon(1e-15));
    CHECK(g[a] == Approx(6 * 25.0 / 32).epsilon(1e-14));  // d/da a^6 |h0|^2 = 6 a^5 |h0|^2
    CHECK(g[h](0) == Approx(2 * 3.0 / 64).epsilon(1e-14));
}

TEST_CASE("shaped carries: row sequences are checked before anything is written") {
    using R = rnn<4>;
    R::values<double> p(10);
    std::vector<double> ten(10);
    CHECK_THROWS_AS(eg::sequence<I>(ten), std::invalid_argument);  // not a multiple of 3
    std::vector<double> gu(5, 7.0);
    CHECK_THROWS_AS(eg::value_and_grad(eg::scan(R::cell, 10).final(R::loss), eg::wrt(R::Wh), R::h = p.h0,
                                       R::Wh = p.wh, R::Wx = p.wx, R::b = p.bb,
                                       R::u = eg::sequence<I>(p.us).grad_into(gu)),
                    std::invalid_argument);
    CHECK(gu[0] == 7.0);
    CHECK_THROWS_AS(eg::value_and_grad(eg::scan(R::cell, 11).final(R::loss), eg::wrt(R::Wh), R::h = p.h0,
                                       R::Wh = p.wh, R::Wx = p.wx, R::b = p.bb, R::u = eg::sequence<I>(p.us)),
                    std::invalid_argument);
    try {
        (void)eg::scan(R::cell, 11).final(R::loss)(R::h = p.h0, R::Wh = p.wh, R::Wx = p.wx, R::b = p.bb,
                                                   R::u = eg::sequence<I>(p.us));
        FAIL("no exception");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()) == "etgrad::scan: the sequence u has 10 rows, fewer than the 11 steps");
    }
}
