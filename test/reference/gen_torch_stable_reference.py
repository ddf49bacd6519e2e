#!/usr/bin/python3
# gen_torch_stable_reference.py -- PyTorch reference values for the numerically stable rewrites
# (README "Numerically stable forms"; test/runtime/stable_forms_test.cpp reads the output).
#
# What it does
#   Evaluates, in float64 with PyTorch's stable kernels (F.logsigmoid, torch.logsumexp, never the
#   naive compositions), the values, gradients and second derivatives of
#     logsig    log(sigmoid(z))                 at z in ZS
#     log1msig  log(1 - sigmoid(z))             at z in ZS  (= logsigmoid(-z))
#     bce       -(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z)))  at z in ZS, y in YS
#               (also the closed form sigmoid(z) - y of its z-gradient, torch.sigmoid(z) - y)
#     lse       log(sum(exp(v))) over the samples/elements of v, with its gradient softmax(v)
#   The C++ test never imports torch.
#
# How to rerun (Debian's python3-torch, through /usr/bin/python3):
#   /usr/bin/python3 test/reference/gen_torch_stable_reference.py > test/reference/torch_stable_reference.txt
#
# Output format: see HEADER below (copied into the data file).

import math

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

ZS = [-800.0, -30.0, -5.0, -1.0, 0.0, 0.5, 1.0, 5.0, 30.0, 800.0]
YS = [0.0, 1.0, 0.3]
LSE = [
    [0.1, -0.4, 2.2],
    [1.5],
    [-3.0, 0.0, 3.0, 0.25, -1.0, 2.0, 1.0, -2.5, 0.75],
    [1000.0, 999.5, -2.0, 3.0],
    [-1000.0, -1000.5, -999.0],
    [800.0, 800.0, 800.0, 800.0, 800.0, 800.0, 800.0, 800.0, 800.0, 800.0, 800.0],
]

HEADER = """\
# etgrad PyTorch reference values for the stable rewrites. GENERATED FILE, do not edit by hand.
# Generator: test/reference/gen_torch_stable_reference.py (PyTorch {torch_version}, float64)
# Regenerate: /usr/bin/python3 test/reference/gen_torch_stable_reference.py > test/reference/torch_stable_reference.txt
#
# One line per case, whitespace separated; numbers are printf '%.17g' (inf, -inf, nan spelt so):
#   logsig   <z> <value> <d/dz> <d2/dz2>            log(sigmoid(z)) = F.logsigmoid(z)
#   log1msig <z> <value> <d/dz> <d2/dz2>            log(1 - sigmoid(z)) = F.logsigmoid(-z)
#   bce <z> <y> <value> <d/dz> <d/dy> <d2/dz2> <sigmoid(z) - y>
#                                                    -(y logsigmoid(z) + (1 - y) logsigmoid(-z))
#   lse <n> <v_1> ... <v_n> <value> <g_1> ... <g_n>  torch.logsumexp(v) and its gradient
# lines: {nlines}
"""


def fmt(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return "%.17g" % v


def d1d2(f, z0):
    z = torch.tensor(z0, requires_grad=True)
    v = f(z)
    (g,) = torch.autograd.grad(v, z, create_graph=True)
    (h,) = torch.autograd.grad(g, z)
    return v.item(), g.item(), h.item()


def main():
    lines = []
    for z0 in ZS:
        v, g, h = d1d2(F.logsigmoid, z0)
        lines.append(["logsig", z0, v, g, h])
        v, g, h = d1d2(lambda z: F.logsigmoid(-z), z0)
        lines.append(["log1msig", z0, v, g, h])
    for z0 in ZS:
        for y0 in YS:
            z = torch.tensor(z0, requires_grad=True)
            y = torch.tensor(y0, requires_grad=True)
            v = -(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z))
            gz, gy = torch.autograd.grad(v, (z, y), create_graph=True)
            (hzz,) = torch.autograd.grad(gz, z)
            closed = (torch.sigmoid(torch.tensor(z0)) - y0).item()
            lines.append(["bce", z0, y0, v.item(), gz.item(), gy.item(), hzz.item(), closed])
    for vs in LSE:
        v = torch.tensor(vs, requires_grad=True)
        out = torch.logsumexp(v, 0)
        (g,) = torch.autograd.grad(out, v)
        lines.append(["lse", len(vs)] + vs + [out.item()] + g.tolist())
    print(HEADER.format(torch_version=torch.__version__, nlines=len(lines)), end="")
    for ln in lines:
        print(" ".join(s if isinstance(s, str) else (str(s) if isinstance(s, int) else fmt(s)) for s in ln))


if __name__ == "__main__":
    main()
