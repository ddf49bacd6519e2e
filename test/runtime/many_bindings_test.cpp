// A call with 1000 bindings compiles (issue 10), quickly: the checks on a call's bindings (each
// variable bound once, every argument a binding) are sorted lists and braced lists, not one
// instantiation per pair of bindings nor fold expressions (Clang nests a fold 256 deep at most).
// The variables v0000 .. v0999 are made from their index; the expression reads a few of them.
#include <catch2/catch.hpp>
#include <etgrad/etgrad.hpp>

#include <array>
#include <cmath>
#include <utility>
#include <vector>

namespace eg = etgrad;

namespace {

// Clang nests each fold expression, at most 256 deep by default (-fbracket-depth), and the data
// loops' passes over a call's bindings are folds: with Clang a data call takes 250 bindings, more
// with -fbracket-depth=N (README, Compile time; a scalar call takes 1000).
#if defined(__clang__)
constexpr std::size_t kBindings = 250;
#else
constexpr std::size_t kBindings = 1000;
#endif

template <std::size_t I>
constexpr eg::fixed_string<6> name_of() {
    eg::fixed_string<6> s("v0000");
    s.data[1] = static_cast<char>('0' + I / 1000 % 10);
    s.data[2] = static_cast<char>('0' + I / 100 % 10);
    s.data[3] = static_cast<char>('0' + I / 10 % 10);
    s.data[4] = static_cast<char>('0' + I % 10);
    return s;
}
template <std::size_t I>
constexpr auto v = eg::var<name_of<I>()>;

static_assert(v<7>.name == "v0007" && v<999>.name == "v0999");
constexpr std::size_t kLast = kBindings - 1, kMid = kBindings / 2;

// f = v0000 * v0001 + sin(v<last>) + v<mid>^2, every variable bound to its index + 0.5.
constexpr auto f = v<0> * v<1> + eg::sin(v<kLast>) + eg::square(v<kMid>);

template <std::size_t... Is>
auto call_all(std::index_sequence<Is...>) {
    return eg::value_and_grad(f, eg::wrt(v<0>, v<1>, v<kMid>, v<kLast>), (v<Is> = static_cast<double>(Is) + 0.5)...);
}
template <std::size_t... Is>
double evaluate_all(std::index_sequence<Is...>) {
    return f((v<Is> = static_cast<double>(Is) + 0.5)...);
}
// A data call: v0001 is bound to per-sample data, the others to numbers.
template <std::size_t... Is>
auto data_call(const std::vector<double>& xs, std::index_sequence<Is...>) {
    return eg::value_and_grad(eg::mean(f), eg::wrt(v<0>), v<1> = xs, (v<Is + 2> = static_cast<double>(Is + 2) + 0.5)...,
                              v<0> = 0.5);
}

}  // namespace

TEST_CASE("a call with 1000 bindings (250 with Clang): value, gradient, evaluation, data") {
    const auto [value, g] = call_all(std::make_index_sequence<kBindings>{});
    const double last = kLast + 0.5, mid = kMid + 0.5;
    const double want = 0.5 * 1.5 + std::sin(last) + mid * mid;
    CHECK(value == Approx(want).epsilon(1e-15));
    CHECK(g[v<0>] == 1.5);
    CHECK(g[v<1>] == 0.5);
    CHECK(g[v<kMid>] == 2 * mid);
    CHECK(g[v<kLast>] == Approx(std::cos(last)).epsilon(1e-15));
    CHECK(evaluate_all(std::make_index_sequence<kBindings>{}) == value);

    // v0000 is bound last here, after all the others; x over 3 samples for v0001.
    const std::vector<double> xs{1.0, 2.0, 4.0};
    const auto [m, gd] = data_call(xs, std::make_index_sequence<kBindings - 2>{});
    const double base = std::sin(last) + mid * mid;
    CHECK(m == Approx(0.5 * (1.0 + 2.0 + 4.0) / 3 + base).epsilon(1e-15));
    CHECK(gd[v<0>] == Approx((1.0 + 2.0 + 4.0) / 3).epsilon(1e-15));
}
