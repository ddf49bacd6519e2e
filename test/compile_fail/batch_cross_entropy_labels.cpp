// cross_entropy of a batch of logits (NxC) with a single label instead of N labels: one error
// that says what it takes.
#include <etgrad/etgrad.hpp>
#include <etgrad/nn.hpp>
namespace eg = etgrad;

constexpr auto Z = eg::var<"Z", eg::shape<8, 10>>;
constexpr auto y = eg::var<"y">;

int main() {
    constexpr auto loss = eg::mean(eg::nn::cross_entropy(Z, y));  // error-here
    (void)loss;
}
// expect: an N×C matrix of logits and a vector of N labels
