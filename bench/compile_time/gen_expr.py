#!/usr/bin/env python3
"""Generates a C++ file whose gradient is the compile-time benchmark of etgrad.

usage: gen_expr.py nodes N   -> an expression of about N distinct nodes with shared subexpressions
       gen_expr.py deriv K   -> the K-th derivative of a 10-node expression
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

if __name__ == "__main__":
    kind, n = sys.argv[1], int(sys.argv[2])
    text, count = nodes_program(n) if kind == "nodes" else deriv_program(n)
    sys.stdout.write(text)
