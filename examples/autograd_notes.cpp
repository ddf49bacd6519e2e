// The autograd lecture notes' worked examples, in etgrad: values, gradients and graphs.
// Each graph is written as a Graphviz file (<name>.dot) and rendered to <name>.png when `dot` is
// installed. Run from any directory; files go to the current one.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <etgrad/etgrad.hpp>
#include <fstream>
#include <string>

namespace eg = etgrad;

namespace {
constexpr auto x = eg::var<"x">;
constexpr auto a = eg::var<"a">;
constexpr auto b = eg::var<"b">;
constexpr auto c = eg::var<"c">;
constexpr auto d = eg::var<"d">;

bool have_dot() { return std::system("command -v dot >/dev/null 2>&1") == 0; }

template <class E>
void save_graph(const E& e, const std::string& name) {
    std::ofstream(name + ".dot") << eg::to_dot(e, name);
    std::string note = name + ".dot";
    if (have_dot() && std::system(("dot -Tpng " + name + ".dot -o " + name + ".png").c_str()) == 0) {
        note += ", " + name + ".png";
    }
    std::printf("   graph: %s\n", note.c_str());
}

void title(const char* t) { std::printf("\n== %s\n", t); }
}  // namespace

int main() {
    title("y = x^2");
    constexpr auto y = x * x;
    for (double xv : {2.0, 3.0}) {
        auto [v, g] = eg::value_and_grad(y, x = xv);
        std::printf("   x = %g: y = %g, dy/dx = %g   (grad_fn = %s)\n", xv, v, g[x],
                    std::string(eg::grad_fn_name(y)).c_str());
    }
    std::printf("   symbolic dy/dx = %s   (checked at compile time: d(x*x)(3) == 6)\n",
                eg::to_string(eg::d(y, x)).c_str());
    static_assert(eg::d(x * x, x)(x = 3.0) == 6.0);
    save_graph(y, "square");

    title("z = sin(x^2)");
    constexpr auto z = eg::sin(x * x);
    auto [zv, zg] = eg::value_and_grad(z, x = 1.5);
    std::printf("   x = 1.5: z = %.6f, dz/dx = %.6f = 2x cos(x^2)\n", zv, zg[x]);
    std::printf("   dz/dx = %s\n", eg::to_string(eg::d(z, x)).c_str());
    save_graph(z, "sin_square");

    title("u = exp(sin(x^2)): the chain of local derivatives");
    constexpr auto u = eg::exp(eg::sin(x * x));
    auto [uv, ug] = eg::value_and_grad(u, x = 1.5);
    std::printf("   du/dx = exp(sin(x^2)) * cos(x^2) * 2x; at x = 1.5: u = %.6f, du/dx = %.6f\n", uv, ug[x]);
    std::printf("   du/dx = %s\n", eg::to_string(eg::d(u, x)).c_str());
    save_graph(u, "exp_sin_square");

    title("Q = 3a^3 - b^2, elementwise over a = (2, 3), b = (6, 4)");
    constexpr auto Q = 3 * eg::pow(a, eg::c<3>) - b * b;
    const std::array<double, 2> av{2, 3}, bv{6, 4};
    for (std::size_t i = 0; i < 2; ++i) {
        auto [q, g] = eg::value_and_grad(Q, a = av[i], b = bv[i]);
        std::printf("   a = %g, b = %g: Q = %g, dQ/da = 9a^2 = %g, dQ/db = -2b = %g\n", av[i], bv[i], q, g[a], g[b]);
    }
    save_graph(Q, "Q");

    title("y = mean(x^2) over x = (1, 2, 3)");
    constexpr auto x1 = eg::var<"x1">;
    constexpr auto x2 = eg::var<"x2">;
    constexpr auto x3 = eg::var<"x3">;
    constexpr auto m = (x1 * x1 + x2 * x2 + x3 * x3) / 3;
    auto [mv, mg] = eg::value_and_grad(m, x1 = 1.0, x2 = 2.0, x3 = 3.0);
    std::printf("   y = %.6f; dy/dx_i = 2 x_i / 3 = %.6f %.6f %.6f\n", mv, mg[x1], mg[x2], mg[x3]);
    save_graph(m, "mean_square");

    title("e = ((a + b) * b^2) + ((c - d) * d^2)");
    constexpr auto e = ((a + b) * (b * b)) + ((c - d) * (d * d));
    auto [ev, eg_] = eg::value_and_grad(e, a = 1.0, b = 2.0, c = 3.0, d = 4.0);
    std::printf("   at a=1, b=2, c=3, d=4: e = %g\n", ev);
    std::printf("   de/da = b^2 = %g, de/db = b^2 + 2b(a+b) = %g, de/dc = d^2 = %g, de/dd = -d^2 + 2d(c-d) = %g\n",
                eg_[a], eg_[b], eg_[c], eg_[d]);
    std::printf("   %s\n", eg::to_string(e).c_str());
    save_graph(e, "seed_expression");
    std::printf("%s", eg::to_dot(e, "seed_expression").c_str());

    title("the logistic-regression neuron: z = w x + b, yhat = sigmoid(z), binary cross-entropy");
    constexpr auto w = eg::var<"w">;
    constexpr auto bias = eg::var<"b">;
    constexpr auto cgpa = eg::var<"cgpa">;
    constexpr auto placed = eg::var<"placed">;
    constexpr auto yhat = eg::sigmoid(w * cgpa + bias);
    constexpr auto loss = -(placed * eg::log(yhat) + (1 - placed) * eg::log(1 - yhat));
    const double xs[] = {9.11, 8.9, 7.0, 6.56, 4.56};
    const double ys[] = {1, 1, 0, 1, 0};
    std::printf("   at w = 0.3, b = -2:\n   cgpa  placed  yhat     loss     dL/dw    (yhat-y)x  dL/db    yhat-y\n");
    for (int i = 0; i < 5; ++i) {
        auto [L, g] = eg::value_and_grad(loss, eg::wrt(w, bias), w = 0.3, bias = -2.0, cgpa = xs[i], placed = ys[i]);
        const double p = yhat(w = 0.3, bias = -2.0, cgpa = xs[i]);
        std::printf("   %-5.2f %-7g %-8.5f %-8.5f %-8.5f %-10.5f %-8.5f %-8.5f\n", xs[i], ys[i], p, L, g[w],
                    (p - ys[i]) * xs[i], g[bias], p - ys[i]);
    }
    save_graph(loss, "logistic_neuron");
    return 0;
}
