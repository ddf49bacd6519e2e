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

// -- lowered trees: runtime constants numbered, constant-holding nodes listed without look-up ------
// (w = sin(2.5 x) twice: lowered, its copies hold rc<0> and rc<1>, two distinct nodes; x is shared)
constexpr auto w = eg::sin(2.5 * x);
constexpr auto g = w * w + x * 3.0;
using G = std::remove_cv_t<decltype(g)>;
using LG = d::lower<G, 0>;
static_assert(LG::unique);
using LGL = d::lowered<G>::list;
static_assert(std::is_same_v<LGL, d::topo_t<LG::type>>);  // the walk that looks every node up agrees
static_assert(LGL::size == 11);  // rc0, x, 2.5 x, sin, rc1, 2.5 x, sin, w w, rc2, 3 x, the sum
// a closure (eg::d of an expression with runtime constants) may hold one lowered node twice: not unique
constexpr auto dg = eg::d(w * w, x) + 1.5 * x;
using DG = std::remove_cv_t<decltype(dg)>;
static_assert(!d::lower<DG, 0>::unique);
static_assert(std::is_same_v<d::lowered<DG>::list, d::topo_t<d::lower<DG, 0>::type>>);

// -- steps: those the walk writes are those found by looking each child up ------------------------
static_assert(std::is_same_v<d::topo_walk<false, F>::steps, d::steps_t<d::topo_t<F>>>);
static_assert(std::is_same_v<d::lowered<G>::walk::steps, d::steps_t<LGL>>);
static_assert(std::is_same_v<d::lowered<DG>::graph_type, d::graph<d::lowered<DG>::list>>);
// the roots' positions, in the order given (a root listed twice, or inside another, included)
static_assert(d::topo_walk<false, V, U, F, U>::roots::value == std::array<std::size_t, 4>{3, 2, 5, 2});
static_assert(d::lowered<G>::root_index[0] == LGL::size - 1);
}  // namespace
