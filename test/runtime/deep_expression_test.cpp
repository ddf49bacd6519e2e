// Deep and long expressions compile with the compilers' default limits (issue 14 items 2 and 3):
// no template recursion of etgrad follows the depth of an expression (GCC stops at 900 levels,
// Clang at 1024). A chain of 1200 nested sines, a sum of 301 terms written left to right (each
// holding a runtime constant: lowered, collected and evaluated), and a DAG of 120 steps that
// reuse the previous one twice, each against the same arithmetic written as a loop.
// (Expressions of 2000 levels and 1000 terms are bench/compile_time's cases: their compile times
// are recorded in bench/compile_time/results.json, not spent in the suite.)
#include <catch2/catch.hpp>
#include <etgrad/etgrad.hpp>

#include <array>
#include <cmath>

namespace eg = etgrad;

namespace {

constexpr auto x = eg::var<"x">;

// 100 nested sines: 100 parentheses deep (Clang's limit on nested brackets is 256).
#define ETGRAD_T_S2(e) eg::sin(eg::sin(e))
#define ETGRAD_T_S10(e) ETGRAD_T_S2(ETGRAD_T_S2(ETGRAD_T_S2(ETGRAD_T_S2(ETGRAD_T_S2(e)))))
#define ETGRAD_T_S100(e) \
    ETGRAD_T_S10(ETGRAD_T_S10(ETGRAD_T_S10(ETGRAD_T_S10(ETGRAD_T_S10(ETGRAD_T_S10(ETGRAD_T_S10(ETGRAD_T_S10(ETGRAD_T_S10(ETGRAD_T_S10(e))))))))))
constexpr auto c1 = ETGRAD_T_S100(x);
constexpr auto c2 = ETGRAD_T_S100(c1);
constexpr auto c3 = ETGRAD_T_S100(c2);
constexpr auto c4 = ETGRAD_T_S100(c3);
constexpr auto c5 = ETGRAD_T_S100(c4);
constexpr auto c6 = ETGRAD_T_S100(c5);
constexpr auto c7 = ETGRAD_T_S100(c6);
constexpr auto c8 = ETGRAD_T_S100(c7);
constexpr auto c9 = ETGRAD_T_S100(c8);
constexpr auto c10 = ETGRAD_T_S100(c9);
constexpr auto c11 = ETGRAD_T_S100(c10);
constexpr auto chain1200 = ETGRAD_T_S100(c11);

// The coefficients of the long sum: runtime constants (doubles), 0.01 k for term k.
constexpr std::size_t kTerms = 301;
constexpr double coef(std::size_t k) { return 0.01 * static_cast<double>(k); }
#define ETGRAD_T_TERM(k) +eg::sin(x * coef(k))
#define ETGRAD_T_T10(b)                                                                          \
    ETGRAD_T_TERM(b + 0) ETGRAD_T_TERM(b + 1) ETGRAD_T_TERM(b + 2) ETGRAD_T_TERM(b + 3)            \
    ETGRAD_T_TERM(b + 4) ETGRAD_T_TERM(b + 5) ETGRAD_T_TERM(b + 6) ETGRAD_T_TERM(b + 7)            \
    ETGRAD_T_TERM(b + 8) ETGRAD_T_TERM(b + 9)
#define ETGRAD_T_T100(b)                                                                          \
    ETGRAD_T_T10(b + 0) ETGRAD_T_T10(b + 10) ETGRAD_T_T10(b + 20) ETGRAD_T_T10(b + 30)             \
    ETGRAD_T_T10(b + 40) ETGRAD_T_T10(b + 50) ETGRAD_T_T10(b + 60) ETGRAD_T_T10(b + 70)            \
    ETGRAD_T_T10(b + 80) ETGRAD_T_T10(b + 90)
// ((sin(x * 0) + sin(x * 0.01)) + sin(x * 0.02)) + ...: a left spine 300 nodes deep
constexpr auto sum301 = eg::sin(x * coef(0)) ETGRAD_T_T100(1) ETGRAD_T_T100(101) ETGRAD_T_T100(201);

// u_{k+1} = tanh(u_k) * w_{k mod 3} + u_k: each step reads the previous one twice (a DAG whose
// tree would have 2^120 leaves).
constexpr auto w0 = eg::var<"w0">;
constexpr auto w1 = eg::var<"w1">;
constexpr auto w2 = eg::var<"w2">;
// (named steps: a macro that repeats its argument would repeat the text, 2^k times)
constexpr auto u0 = x;
constexpr auto u1 = eg::tanh(u0) * w0 + u0;
constexpr auto u2 = eg::tanh(u1) * w1 + u1;
constexpr auto u3 = eg::tanh(u2) * w2 + u2;
constexpr auto u4 = eg::tanh(u3) * w0 + u3;
constexpr auto u5 = eg::tanh(u4) * w1 + u4;
constexpr auto u6 = eg::tanh(u5) * w2 + u5;
constexpr auto u7 = eg::tanh(u6) * w0 + u6;
constexpr auto u8 = eg::tanh(u7) * w1 + u7;
constexpr auto u9 = eg::tanh(u8) * w2 + u8;
constexpr auto u10 = eg::tanh(u9) * w0 + u9;
constexpr auto u11 = eg::tanh(u10) * w1 + u10;
constexpr auto u12 = eg::tanh(u11) * w2 + u11;
constexpr auto u13 = eg::tanh(u12) * w0 + u12;
constexpr auto u14 = eg::tanh(u13) * w1 + u13;
constexpr auto u15 = eg::tanh(u14) * w2 + u14;
constexpr auto u16 = eg::tanh(u15) * w0 + u15;
constexpr auto u17 = eg::tanh(u16) * w1 + u16;
constexpr auto u18 = eg::tanh(u17) * w2 + u17;
constexpr auto u19 = eg::tanh(u18) * w0 + u18;
constexpr auto u20 = eg::tanh(u19) * w1 + u19;
constexpr auto u21 = eg::tanh(u20) * w2 + u20;
constexpr auto u22 = eg::tanh(u21) * w0 + u21;
constexpr auto u23 = eg::tanh(u22) * w1 + u22;
constexpr auto u24 = eg::tanh(u23) * w2 + u23;
constexpr auto u25 = eg::tanh(u24) * w0 + u24;
constexpr auto u26 = eg::tanh(u25) * w1 + u25;
constexpr auto u27 = eg::tanh(u26) * w2 + u26;
constexpr auto u28 = eg::tanh(u27) * w0 + u27;
constexpr auto u29 = eg::tanh(u28) * w1 + u28;
constexpr auto u30 = eg::tanh(u29) * w2 + u29;
constexpr auto u31 = eg::tanh(u30) * w0 + u30;
constexpr auto u32 = eg::tanh(u31) * w1 + u31;
constexpr auto u33 = eg::tanh(u32) * w2 + u32;
constexpr auto u34 = eg::tanh(u33) * w0 + u33;
constexpr auto u35 = eg::tanh(u34) * w1 + u34;
constexpr auto u36 = eg::tanh(u35) * w2 + u35;
constexpr auto u37 = eg::tanh(u36) * w0 + u36;
constexpr auto u38 = eg::tanh(u37) * w1 + u37;
constexpr auto u39 = eg::tanh(u38) * w2 + u38;
constexpr auto u40 = eg::tanh(u39) * w0 + u39;
constexpr auto u41 = eg::tanh(u40) * w1 + u40;
constexpr auto u42 = eg::tanh(u41) * w2 + u41;
constexpr auto u43 = eg::tanh(u42) * w0 + u42;
constexpr auto u44 = eg::tanh(u43) * w1 + u43;
constexpr auto u45 = eg::tanh(u44) * w2 + u44;
constexpr auto u46 = eg::tanh(u45) * w0 + u45;
constexpr auto u47 = eg::tanh(u46) * w1 + u46;
constexpr auto u48 = eg::tanh(u47) * w2 + u47;
constexpr auto u49 = eg::tanh(u48) * w0 + u48;
constexpr auto u50 = eg::tanh(u49) * w1 + u49;
constexpr auto u51 = eg::tanh(u50) * w2 + u50;
constexpr auto u52 = eg::tanh(u51) * w0 + u51;
constexpr auto u53 = eg::tanh(u52) * w1 + u52;
constexpr auto u54 = eg::tanh(u53) * w2 + u53;
constexpr auto u55 = eg::tanh(u54) * w0 + u54;
constexpr auto u56 = eg::tanh(u55) * w1 + u55;
constexpr auto u57 = eg::tanh(u56) * w2 + u56;
constexpr auto u58 = eg::tanh(u57) * w0 + u57;
constexpr auto u59 = eg::tanh(u58) * w1 + u58;
constexpr auto u60 = eg::tanh(u59) * w2 + u59;
constexpr auto u61 = eg::tanh(u60) * w0 + u60;
constexpr auto u62 = eg::tanh(u61) * w1 + u61;
constexpr auto u63 = eg::tanh(u62) * w2 + u62;
constexpr auto u64 = eg::tanh(u63) * w0 + u63;
constexpr auto u65 = eg::tanh(u64) * w1 + u64;
constexpr auto u66 = eg::tanh(u65) * w2 + u65;
constexpr auto u67 = eg::tanh(u66) * w0 + u66;
constexpr auto u68 = eg::tanh(u67) * w1 + u67;
constexpr auto u69 = eg::tanh(u68) * w2 + u68;
constexpr auto u70 = eg::tanh(u69) * w0 + u69;
constexpr auto u71 = eg::tanh(u70) * w1 + u70;
constexpr auto u72 = eg::tanh(u71) * w2 + u71;
constexpr auto u73 = eg::tanh(u72) * w0 + u72;
constexpr auto u74 = eg::tanh(u73) * w1 + u73;
constexpr auto u75 = eg::tanh(u74) * w2 + u74;
constexpr auto u76 = eg::tanh(u75) * w0 + u75;
constexpr auto u77 = eg::tanh(u76) * w1 + u76;
constexpr auto u78 = eg::tanh(u77) * w2 + u77;
constexpr auto u79 = eg::tanh(u78) * w0 + u78;
constexpr auto u80 = eg::tanh(u79) * w1 + u79;
constexpr auto u81 = eg::tanh(u80) * w2 + u80;
constexpr auto u82 = eg::tanh(u81) * w0 + u81;
constexpr auto u83 = eg::tanh(u82) * w1 + u82;
constexpr auto u84 = eg::tanh(u83) * w2 + u83;
constexpr auto u85 = eg::tanh(u84) * w0 + u84;
constexpr auto u86 = eg::tanh(u85) * w1 + u85;
constexpr auto u87 = eg::tanh(u86) * w2 + u86;
constexpr auto u88 = eg::tanh(u87) * w0 + u87;
constexpr auto u89 = eg::tanh(u88) * w1 + u88;
constexpr auto u90 = eg::tanh(u89) * w2 + u89;
constexpr auto u91 = eg::tanh(u90) * w0 + u90;
constexpr auto u92 = eg::tanh(u91) * w1 + u91;
constexpr auto u93 = eg::tanh(u92) * w2 + u92;
constexpr auto u94 = eg::tanh(u93) * w0 + u93;
constexpr auto u95 = eg::tanh(u94) * w1 + u94;
constexpr auto u96 = eg::tanh(u95) * w2 + u95;
constexpr auto u97 = eg::tanh(u96) * w0 + u96;
constexpr auto u98 = eg::tanh(u97) * w1 + u97;
constexpr auto u99 = eg::tanh(u98) * w2 + u98;
constexpr auto u100 = eg::tanh(u99) * w0 + u99;
constexpr auto u101 = eg::tanh(u100) * w1 + u100;
constexpr auto u102 = eg::tanh(u101) * w2 + u101;
constexpr auto u103 = eg::tanh(u102) * w0 + u102;
constexpr auto u104 = eg::tanh(u103) * w1 + u103;
constexpr auto u105 = eg::tanh(u104) * w2 + u104;
constexpr auto u106 = eg::tanh(u105) * w0 + u105;
constexpr auto u107 = eg::tanh(u106) * w1 + u106;
constexpr auto u108 = eg::tanh(u107) * w2 + u107;
constexpr auto u109 = eg::tanh(u108) * w0 + u108;
constexpr auto u110 = eg::tanh(u109) * w1 + u109;
constexpr auto u111 = eg::tanh(u110) * w2 + u110;
constexpr auto u112 = eg::tanh(u111) * w0 + u111;
constexpr auto u113 = eg::tanh(u112) * w1 + u112;
constexpr auto u114 = eg::tanh(u113) * w2 + u113;
constexpr auto u115 = eg::tanh(u114) * w0 + u114;
constexpr auto u116 = eg::tanh(u115) * w1 + u115;
constexpr auto u117 = eg::tanh(u116) * w2 + u116;
constexpr auto u118 = eg::tanh(u117) * w0 + u117;
constexpr auto u119 = eg::tanh(u118) * w1 + u118;
constexpr auto u120 = eg::tanh(u119) * w2 + u119;
constexpr auto step120 = u120;

}  // namespace

TEST_CASE("a chain of 1200 nested operations: value and gradient as the loop", "[deep]") {
    const double x0 = 0.5;
    double v = x0, dv = 1.0;
    for (int k = 0; k < 1200; ++k) {
        dv *= std::cos(v);
        v = std::sin(v);
    }
    auto [val, g] = eg::value_and_grad(chain1200, x = x0);
    CHECK(val == Approx(v).epsilon(1e-13));
    CHECK(g[x] == Approx(dv).epsilon(1e-12));
    CHECK(chain1200(x = x0) == val);
}

TEST_CASE("a sum of 301 terms written left to right: its runtime constants in order", "[deep]") {
    const double x0 = 0.7;
    double v = 0.0, dv = 0.0;
    for (std::size_t k = 0; k < kTerms; ++k) {
        v += std::sin(x0 * coef(k));
        dv += coef(k) * std::cos(x0 * coef(k));
    }
    auto [val, g] = eg::value_and_grad(sum301, x = x0);
    CHECK(val == Approx(v).epsilon(1e-13));
    CHECK(g[x] == Approx(dv).epsilon(1e-13));
    // constants through a closure: a derivative holds them, collected in their order (a shorter
    // sum: the symbolic derivative of 301 terms would double the compile time of this file)
    constexpr auto sum41 = eg::sin(x * coef(0)) ETGRAD_T_T10(1) ETGRAD_T_T10(11) ETGRAD_T_T10(21) ETGRAD_T_T10(31);
    constexpr auto d = eg::d(sum41, x);
    double d41 = 0.0;
    for (std::size_t k = 0; k <= 40; ++k) {
        d41 += coef(k) * std::cos(x0 * coef(k));
    }
    CHECK(d(x = x0) == Approx(d41).epsilon(1e-13));
    // in constant evaluation too
    constexpr double folded = sum301(x = 0.25);
    double expect = 0.0;
    for (std::size_t k = 0; k < kTerms; ++k) {
        expect += std::sin(0.25 * coef(k));
    }
    CHECK(folded == Approx(expect).epsilon(1e-13));
}

TEST_CASE("120 steps that each read the previous one twice: value and gradient as the loop", "[deep]") {
    const std::array<double, 3> ys{0.3, -0.2, 0.1};
    const double x0 = 0.4;
    // forward mode by hand: u and du/d(x, w0, w1, w2)
    double u = x0;
    std::array<double, 4> du{1.0, 0.0, 0.0, 0.0};
    for (int k = 0; k < 120; ++k) {
        const double t = std::tanh(u), y = ys[static_cast<std::size_t>(k % 3)];
        const double dt = 1.0 - t * t;
        for (std::size_t j = 0; j < 4; ++j) {
            du[j] = dt * du[j] * y + du[j] + (j == static_cast<std::size_t>(k % 3) + 1 ? t : 0.0);
        }
        u = t * y + u;
    }
    auto [val, g] = eg::value_and_grad(step120, x = x0, w0 = ys[0], w1 = ys[1], w2 = ys[2]);
    CHECK(val == Approx(u).epsilon(1e-13));
    CHECK(g[x] == Approx(du[0]).epsilon(1e-12));
    CHECK(g[w0] == Approx(du[1]).epsilon(1e-12));
    CHECK(g[w1] == Approx(du[2]).epsilon(1e-12));
    CHECK(g[w2] == Approx(du[3]).epsilon(1e-12));
}

TEST_CASE("runtime constants in repeated subexpressions and in closures: each copy its own node", "[deep]") {
    // w's two copies hold different constants after lowering (the topological walk lists such
    // nodes without looking them up); a closure may repeat a node, and is walked with look-ups.
    constexpr auto w = eg::sin(2.5 * x);
    constexpr auto f = w * w + x * 3.0;
    const double x0 = 0.3;
    auto [v, g] = eg::value_and_grad(f, x = x0);
    CHECK(v == Approx(std::sin(2.5 * x0) * std::sin(2.5 * x0) + 3.0 * x0).epsilon(1e-14));
    CHECK(g[x] == Approx(5.0 * std::sin(2.5 * x0) * std::cos(2.5 * x0) + 3.0).epsilon(1e-14));
    constexpr auto h = eg::d(w * w, x) + 1.5 * x;  // 2.5 sin(5x) + 1.5 x
    auto [hv, hg] = eg::value_and_grad(h, x = x0);
    CHECK(hv == Approx(2.5 * std::sin(5.0 * x0) + 1.5 * x0).epsilon(1e-14));
    CHECK(hg[x] == Approx(12.5 * std::cos(5.0 * x0) + 1.5).epsilon(1e-13));
}
