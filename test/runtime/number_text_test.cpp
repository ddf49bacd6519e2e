// The constant-evaluation path of to_string's number text (detail::number_text_cx) gives the
// same text as std::to_chars, which the run-time path uses, wherever its shortest digits can be
// verified exactly (up to 15 significant digits, 1e-5 <= |v| < 1e16: the usual constants of
// an expression); elsewhere it reads back as the same double, with at most 17 significant digits.
#include <etgrad/etgrad.hpp>

#include <catch2/catch.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

TEST_CASE("to_string: the constexpr number text equals std::to_chars", "[inspect][to_string]") {
    auto chars = [](double v) {
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        return std::string(buf, r.ptr);
    };
    std::uint64_t s = 12345;
    auto next = [&] {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        return s >> 11;
    };
    int n = 0;
    for (int i = 0; i < 400000; ++i) {
        double v = 0;
        switch (i % 4) {
            case 0: v = static_cast<double>(next() % 2000001) / 1000.0 - 1000.0; break;  // short decimals
            case 1: v = static_cast<double>(next() % 100000) * std::pow(10.0, static_cast<int>(next() % 40) - 20); break;
            case 2: v = std::ldexp(1.0 + static_cast<double>(next()) * 0x1p-53, static_cast<int>(next() % 120) - 60); break;
            default: v = static_cast<double>(next() % 1000000000); break;
        }
        if ((next() & 1u) != 0) {
            v = -v;
        }
        const std::string expect = chars(v), got = etgrad::detail::number_text_cx(v);
        INFO(expect << " and " << got);
        auto significant = [](const std::string& t) {  // digits from the first nonzero one
            std::size_t k = 0;
            bool started = false;
            for (char ch : t.substr(0, t.find('e'))) {
                started = started || (ch >= '1' && ch <= '9');
                k += started && ch >= '0' && ch <= '9' ? 1 : 0;
            }
            return k;
        };
        const std::size_t sig = significant(expect);
        const double av = std::abs(v);
        if (sig <= 15 && ((av >= 1e-5 && av < 1e16) || v == 0)) {
            REQUIRE(got == expect);
            ++n;
        } else {
            REQUIRE(std::strtod(got.c_str(), nullptr) == v);
            REQUIRE((got == expect || significant(got) <= 17));
        }
    }
    for (double v : {0.0, -0.0, 1.0, 0.1, 1e-7, 1e22, 0.3, 2.5, 1e16, 1e15, 1e-5, 1e-4, 0.001, 1e300, 1e-300}) {
        INFO(chars(v));
        CHECK(etgrad::detail::number_text_cx(v) == chars(v));
    }
    for (double v : {1e23, 123456789012345678.0, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308}) {
        INFO(chars(v) << " and " << etgrad::detail::number_text_cx(v));
        CHECK(std::strtod(etgrad::detail::number_text_cx(v).c_str(), nullptr) == v);
    }
    CHECK(n > 160000);  // about half of the samples are in the exact domain
}
