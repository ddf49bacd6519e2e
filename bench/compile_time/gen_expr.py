#!/usr/bin/env python3
"""Generates a C++ file whose gradient is the compile-time benchmark of etgrad.

usage: gen_expr.py nodes N   -> an expression of about N distinct nodes with shared subexpressions
       gen_expr.py deriv K   -> the K-th derivative of a 10-node expression
       gen_expr.py chain D  -> a chain of depth D in named steps, e_k = sin(e_{k-1}) (issue 14 item 2)
       gen_expr.py step K   -> K steps u_{k+1} = tanh(u_k) * x_{k mod 10} + u_k over 10 variables
       gen_expr.py sum N    -> sin(x*1) + sin(x*2) + ... + sin(x*N) as one left-nested expression
       gen_expr.py tree N   -> the same N terms summed as a balanced tree (one expression)
       gen_expr.py loop N   -> a damped oscillator's eg::scan of N steps (N a literal in the
                                source), value_and_grad (issue 12: compile time independent of N)
       gen_expr.py mlp I     -> an I -> H -> O tanh network's cross-entropy over per-sample rows
                                (I = 16: 16-8-3, 64: 64-32-10, 256: 256-128-10), its gradient
                                with a parameter store and eg::rows, as examples/digits.cpp
The program computes value_and_grad (or the K-th symbolic derivative) and prints it.
"""
import sys

OPS_BIN = ["+", "*", "-", "*"]
# Bounded or slowly growing functions: with exp and log1p the 800-node values overflowed to inf/nan
# (products of products); these keep every node finite up to thousands of nodes.
OPS_UN = ["eg::sin", "eg::tanh", "eg::cos", "eg::softplus", "eg::sigmoid"]

def nodes_program(n):
    lines = ["#include <cstdio>", "#include <etgrad/etgrad.hpp>", "namespace eg = etgrad;",
             "constexpr auto x = eg::var<\"x\">;", "constexpr auto y = eg::var<\"y\">;",
             "constexpr auto z = eg::var<\"z\">;", "constexpr auto u0 = x;", "constexpr auto u1 = y;",
             "constexpr auto u2 = z;"]
    count, i = 3, 3
    width = max(3, int(round(n ** 0.5)))
    while count < n:
        # a layered DAG about sqrt(n) wide and deep: each node combines two nodes of the previous
        # layer (so every node is shared by two parents); every third step adds a unary node
        a = max(0, i - width)
        b = max(0, i - width + 1) if i - width + 1 < i else i - 1
        op = OPS_BIN[i % len(OPS_BIN)]
        expr = f"(u{a} {op} u{b})"
        count += 1
        if i % 3 == 0:
            expr = f"{OPS_UN[i % len(OPS_UN)]}({expr})"
            count += 1
        lines.append(f"constexpr auto u{i} = {expr};")
        i += 1
    # the root sums the last layer so that every node is reachable
    last = " + ".join(f"u{j}" for j in range(max(3, i - width), i))
    lines.append(f"constexpr auto root = {last};")
    count += width - 1
    lines += ["int main() {",
              "    auto [v, g] = eg::value_and_grad(root, x = 0.3, y = 0.2, z = 0.1);",
              "    std::printf(\"%g %g %g %g\\n\", v, g[x], g[y], g[z]);",
              "}"]
    return "\n".join(lines) + "\n", count

def deriv_program(k):
    lines = ["#include <cstdio>", "#include <etgrad/etgrad.hpp>", "namespace eg = etgrad;",
             "constexpr auto x = eg::var<\"x\">;", "constexpr auto y = eg::var<\"y\">;",
             # 10 nodes: x, y, x*y, sin, exp(y), /, +, tanh, *, + (counting distinct subexpressions)
             "constexpr auto f = eg::tanh(eg::sin(x * y) + eg::exp(y) / x) * x + y;",
             "constexpr auto d0 = f;"]
    for j in range(1, k + 1):
        lines.append(f"constexpr auto d{j} = eg::d(d{j - 1}, x);")
    lines += ["int main() {", f"    std::printf(\"%.17g\\n\", d{k}(x = 0.7, y = 0.4));", "}"]
    return "\n".join(lines) + "\n", 10

def chain_program(d):
    """e_k = sin(e_{k-1}), e_0 = x, as d named steps; value_and_grad of e_d."""
    lines = ["#include <cstdio>", "#include <etgrad/etgrad.hpp>", "namespace eg = etgrad;",
             "constexpr auto x = eg::var<\"x\">;", "constexpr auto e0 = x;"]
    lines += [f"constexpr auto e{k} = eg::sin(e{k - 1});" for k in range(1, d + 1)]
    lines += ["int main() {",
              f"    auto [v, g] = eg::value_and_grad(e{d}, x = 0.5);",
              "    std::printf(\"%.17g %.17g\\n\", v, g[x]);",
              "}"]
    return "\n".join(lines) + "\n", d + 1


def step_program(k):
    """u_{j+1} = tanh(u_j) * x_{j mod 10} + u_j, u_0 = x0, k steps; value_and_grad in x0..x9."""
    lines = ["#include <cstdio>", "#include <etgrad/etgrad.hpp>", "namespace eg = etgrad;"]
    lines += [f"constexpr auto x{i} = eg::var<\"x{i}\">;" for i in range(10)]
    lines += ["constexpr auto u0 = x0;"]
    lines += [f"constexpr auto u{j + 1} = eg::tanh(u{j}) * x{j % 10} + u{j};" for j in range(k)]
    at = ", ".join(f"x{i} = {0.01 * (i + 1):g}" for i in range(10))
    lines += ["int main() {",
              f"    auto [v, g] = eg::value_and_grad(u{k}, {at});",
              "    std::printf(\"%.17g %.17g %.17g\\n\", v, g[x0], g[x9]);",
              "}"]
    return "\n".join(lines) + "\n", 3 * k + 10


def _sum_program(n, text):
    lines = ["#include <cstdio>", "#include <etgrad/etgrad.hpp>", "namespace eg = etgrad;",
             "constexpr auto x = eg::var<\"x\">;", f"constexpr auto f = {text};",
             "int main() {",
             "    auto [v, g] = eg::value_and_grad(f, x = 0.5);",
             "    std::printf(\"%.17g %.17g\\n\", v, g[x]);",
             "}"]
    return "\n".join(lines) + "\n", 3 * n


def sum_program(n):
    """sin(x*1) + sin(x*2) + ... + sin(x*n) written as one expression (left-nested, depth n)."""
    return _sum_program(n, " + ".join(f"eg::sin(x * {j})" for j in range(1, n + 1)))


def tree_program(n):
    """The same n terms summed as a balanced tree (depth log2 n), one expression."""
    def tree(lo, hi):
        if hi - lo == 1:
            return f"eg::sin(x * {lo + 1})"
        mid = (lo + hi) // 2
        return f"({tree(lo, mid)} + {tree(mid, hi)})"
    return _sum_program(n, tree(0, n))


def loop_program(n):
    """The damped oscillator of examples/loops.cpp, eg::scan(step, n) with n written in the source:
    the loop is one node whatever n, so the compile time must not change with it."""
    lines = ["#include <cstdio>", "#include <etgrad/etgrad.hpp>", "namespace eg = etgrad;"]
    lines += [f"constexpr auto {v} = eg::var<\"{v}\">;" for v in ("x", "v", "k", "c", "dt")]
    lines += ["constexpr auto step = eg::carry(v = v - dt * (k * x + c * v), x = x + dt * v);",
              "int main() {",
              f"    auto [xn, g] = eg::value_and_grad(eg::scan(step, {n}).final(x), eg::wrt(k, c, x), x = 1.0, v = 0.0,",
              "                                      k = 4.0, c = 0.3, dt = 0.01);",
              "    std::printf(\"%.17g %.17g %.17g %.17g\\n\", xn, g[k], g[c], g[x]);",
              "}"]
    return "\n".join(lines) + "\n", 5


MLP_SIZES = {16: (16, 8, 3), 64: (64, 32, 10), 256: (256, 128, 10)}


def mlp_program(i):
    n_in, hid, out = MLP_SIZES[i]
    lines = ["#include <cstdio>", "#include <vector>", "#include <etgrad/etgrad.hpp>", "namespace eg = etgrad;",
             f"constexpr auto x = eg::var<\"x\", eg::shape<{n_in}>>;", "constexpr auto y = eg::var<\"y\">;",
             f"constexpr auto fc1 = eg::nn::linear<\"fc1\", {n_in}, {hid}>;",
             f"constexpr auto fc2 = eg::nn::linear<\"fc2\", {hid}, {out}>;",
             "constexpr auto loss = eg::mean(eg::nn::cross_entropy(fc2(eg::tanh(fc1(x))), y));",
             "int main() {",
             "    auto params = eg::parameters<float>(loss, eg::inputs(x, y), 1);",
             f"    std::vector<float> X({n_in} * 100);",
             "    std::vector<int> labels(100);",
             "    for (std::size_t k = 0; k < X.size(); ++k) X[k] = float(k % 17) / 16;",
             f"    for (std::size_t k = 0; k < labels.size(); ++k) labels[k] = int(k % {out});",
             f"    auto [L, g] = eg::value_and_grad(loss, params, x = eg::rows<{n_in}>(X), y = labels);",
             "    std::printf(\"%g %g\\n\", L, g[fc1.weight](0, 0));",
             "}"]
    return "\n".join(lines) + "\n", n_in * hid + hid + hid * out + out


BS_WRT = {0: None, 2: "S, sigma", 5: "S, K, sigma, r, T"}


def bs_program(k):
    """One Black-Scholes call from (S, K, sigma, r, T), N(d) = (1 + erf(d/sqrt 2))/2: k = 0 its
    value_and_grad, k = 2 the 2x2 Hessian in (S, sigma), k = 5 the full 5x5 Hessian."""
    lines = ["#include <cstdio>", "#include <etgrad/etgrad.hpp>", "namespace eg = etgrad;"]
    lines += [f"constexpr auto {v} = eg::var<\"{v}\">;" for v in ("S", "K", "sigma", "r", "T")]
    lines += ["constexpr auto N = [](const auto& z) { return 0.5 * (1.0 + eg::erf(z * 0.70710678118654752)); };",
              "constexpr auto srt = sigma * eg::sqrt(T);",
              "constexpr auto d1 = (eg::log(S / K) + (r + 0.5 * sigma * sigma) * T) / srt;",
              "constexpr auto call = S * N(d1) - K * eg::exp(-r * T) * N(d1 - srt);",
              "int main() {"]
    at = "S = 100.0, K = 95.0, sigma = 0.2, r = 0.03, T = 1.0"
    if k == 0:
        lines += [f"    auto [v, g] = eg::value_and_grad(call, {at});",
                  "    std::printf(\"%.17g %.17g\\n\", v, g[sigma]);"]
    else:
        lines += [f"    auto H = eg::hessian(call, eg::wrt({BS_WRT[k]}), {at});",
                  "    std::printf(\"%.17g %.17g\\n\", H(S, S), H(sigma, sigma));"]
    lines += ["}"]
    return "\n".join(lines) + "\n", k


if __name__ == "__main__":
    kind, n = sys.argv[1], int(sys.argv[2])
    text, count = {"nodes": nodes_program, "deriv": deriv_program, "mlp": mlp_program, "bs": bs_program,
                   "chain": chain_program, "step": step_program, "sum": sum_program, "tree": tree_program,
                   "loop": loop_program}[kind](n)
    sys.stdout.write(text)
