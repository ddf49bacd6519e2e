// matvec of a 32x64 matrix and a vector of 60: one static_assert naming the operation; the shapes
// are the template arguments in the compiler's note.
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto W1 = eg::var<"W1", eg::shape<32, 64>>;
constexpr auto x = eg::var<"x", eg::shape<60>>;

int main() {
    auto h = eg::matvec(W1, x);  // error-here
    (void)h;
}
// expect: etgrad: matvec(W, x): W's number of columns differs from x's length
// expect: shape<32, 64>
