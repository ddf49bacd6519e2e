// A binding of a non-arithmetic type (a std::string).
#include <etgrad/etgrad.hpp>
#include <string>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;

int main() {
    double v = (x * x)(x = std::string("a"));  // error-here
    (void)v;
}
// expect: etgrad: a variable can only be bound to an arithmetic value
