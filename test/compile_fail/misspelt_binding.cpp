// A misspelt binding: lambda is not bound and the binding of "lamda" is not used; the one error
// names both (the second in its instantiation context).
#include <etgrad/etgrad.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;
constexpr auto lambda = eg::var<"lambda">;

int main() {
    auto r = eg::value_and_grad(x * x + lambda * x, x = 1.0, eg::var<"lamda"> = 0.1);  // error-here
    (void)r;
}
// expect: etgrad: a variable of the expression is not bound
// expect: missing_binding_beside_unused
// expect: {"lambda"}
// expect: {"lamda"}
