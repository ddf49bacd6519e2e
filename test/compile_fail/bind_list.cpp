// Data bound through a range that is not contiguous (std::list): the data loops read batches.
#include <etgrad/etgrad.hpp>
#include <list>
namespace eg = etgrad;

constexpr auto x = eg::var<"x">;

int main() {
    std::list<double> xs{1.0, 2.0, 3.0};
    double v = eg::sum(x * x)(x = xs);  // error-here
    (void)v;
}
// expect: etgrad: a variable can be bound to data only through a contiguous range
