// etgrad/literals.hpp — `using namespace etgrad::literals; 2_c` is the compile-time constant eg::c<2>.
#pragma once

#include "core.hpp"

namespace etgrad::literals {
/// An integer literal as a compile-time constant: `3_c * x` has the type of `eg::c<3> * x`.
template <char... Cs>
constexpr auto operator""_c() {
    constexpr long long v = [] {
        long long r = 0;
        for (char ch : {Cs...}) {
            if (ch != '\'') {
                r = r * 10 + (ch - '0');
            }
        }
        return r;
    }();
    static_assert((((Cs >= '0' && Cs <= '9') || Cs == '\'') && ...),
                  "etgrad: _c takes a decimal integer literal (use eg::c<N, D> for fractions)");
    return c<v>;
}
}  // namespace etgrad::literals
