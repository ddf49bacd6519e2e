// Static tests of the compile-time machinery under the graphs: type lists (look-ups in both
// directions, duplicates, absence) and the topological order of shared subexpressions.
#include <etgrad/etgrad.hpp>

#include <type_traits>

namespace {
namespace eg = etgrad;
namespace d = etgrad::detail;

// -- type lists --------------------------------------------------------------------------------
static_assert(d::tlist<>::size == 0 && d::tlist<int, char>::size == 2);
static_assert(d::index_in<d::tlist<int, char, long>, long>::value == 2);
static_assert(d::index_in<d::tlist<int, char>, long>::value == 2);  // absent: the length
static_assert(d::index_in<d::tlist<>, long>::value == 0);
// a type present twice: the first position (the map's deduction is ambiguous, the scan decides)
static_assert(d::index_in<d::tlist<int, int, char>, int>::value == 0);
static_assert(d::index_in<d::tlist<char, int, int>, int>::value == 1);
static_assert(d::contains_c<d::tlist<long, long>, long>::value);
static_assert(!d::contains_c<d::tlist<int, char>, long>::value);
static_assert(std::is_same_v<d::at_t<d::tlist<int, int, char>, 1>, int>);
static_assert(std::is_same_v<d::at_t<d::tlist<int, int, char>, 2>, char>);
static_assert(std::is_same_v<d::tlist<int>::push_back<char>, d::tlist<int, char>>);

// -- topological order -------------------------------------------------------------------------
constexpr auto x = eg::var<"x">;
constexpr auto y = eg::var<"y">;
constexpr auto u = x * y;
constexpr auto v = eg::sin(u);
constexpr auto f = v * u + v;  // u and v are shared
using X = std::remove_cv_t<decltype(x)>;
using Y = std::remove_cv_t<decltype(y)>;
using U = std::remove_cv_t<decltype(u)>;
using V = std::remove_cv_t<decltype(v)>;
using VU = std::remove_cv_t<decltype(v * u)>;
using F = std::remove_cv_t<decltype(f)>;
// each distinct subexpression once, children before parents, depth-first from the left
static_assert(std::is_same_v<d::topo_t<F>, d::tlist<X, Y, U, V, VU, F>>);
// several roots share one order; a root already listed adds nothing
static_assert(std::is_same_v<d::topo_t<V, U, F>, d::tlist<X, Y, U, V, VU, F>>);
static_assert(std::is_same_v<d::topo_t<X>, d::tlist<X>>);
static_assert(d::graph<d::topo_t<F>>::size == 6);
}  // namespace
