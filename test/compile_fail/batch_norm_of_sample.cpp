// A batch norm on one sample's vector (x = eg::rows<4>(X) makes x one sample): it normalises over
// a batch, so it needs the batch as an NxF matrix. One error, at the call.
#include <etgrad/etgrad.hpp>
#include <etgrad/nn.hpp>
namespace eg = etgrad;

constexpr auto x = eg::var<"x", eg::shape<4>>;
constexpr auto bn = eg::nn::batch_norm<"bn", 4>;

int main() {
    constexpr auto h = bn(x);  // error-here
    (void)h;
}
// expect: nn::batch_norm<Name, F>(X): X must be an N×F matrix
