#!/usr/bin/python3
# gen_torch_reference.py -- PyTorch reference values for etgrad's runtime tests.
#
# What it does
#   Evaluates a fixed list of named scalar expressions in float64 with PyTorch
#   at 1-4 points each, and prints, per (case, point), the value, the gradient
#   (torch.autograd.grad) and, for smooth cases, the full Hessian (grad twice
#   with create_graph=True, cross-checked against
#   torch.autograd.functional.hessian). The C++ test
#   test/runtime/torch_reference_test.cpp reads the output and rebuilds every
#   case in etgrad; the C++ tests never import torch.
#
# How to rerun (Debian's python3-torch; use /usr/bin/python3, not a pyenv/venv
# python that cannot see Debian packages):
#   apt-get install -y python3-torch
#   /usr/bin/python3 test/reference/gen_torch_reference.py > test/reference/torch_reference.txt
#
# Adding a case: append it to CASES below AND add the same expression, keyed by
# the same id, to the table in test/runtime/torch_reference_test.cpp (the test
# fails on an id it does not know, on a registered id the file does not
# contain, and on a line count different from its expected count).
#
# Output format: see HEADER below (it is copied into the data file).

import math
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

NAMES = ("x", "y", "z")

HEADER = """\
# etgrad PyTorch reference values. GENERATED FILE, do not edit by hand.
# Generator: test/reference/gen_torch_reference.py (PyTorch {torch_version}, float64)
# Regenerate: /usr/bin/python3 test/reference/gen_torch_reference.py > test/reference/torch_reference.txt
#
# One line per (case, point), whitespace separated:
#   <case-id> <nvars> <H|noH> <name1>=<val1> ... <name_n>=<val_n> <value> <d/dname1> ... <d/dname_n> [<hessian>]
# - nvars is 1..3; the variables are x, y, z in that order (the first nvars of them).
# - H: the line ends with the full n*n Hessian, row-major
#   (d2/dx dx, d2/dx dy, ..., d2/dy dx, ...), n*n numbers.
#   noH: no Hessian (non-smooth points: ties, kinks, domain edges); the line
#   ends after the gradient. These lines record PyTorch's conventions there.
# - Numbers are printf '%.17g' (round-trips a binary64 exactly; parse with
#   strtod); non-finite values are written inf, -inf, nan.
# - Lines starting with '#' and blank lines are comments.
# cases: {ncases}  lines: {nlines}
"""


def fmt(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return "%.17g" % v


def cbrt(t):
    # torch 1.13 has no cbrt. Valid for t != 0 only (the gradient at 0 is nan).
    return torch.sign(t) * torch.abs(t) ** (1.0 / 3.0)


softplus = F.softplus  # beta=1, threshold=20 (PyTorch's defaults)


def bce(p, t):
    return -(t * torch.log(p) + (1 - t) * torch.log(1 - p))


# (id, nvars, smooth, function of the nvars variables, points)
# The C++ side must build exactly the same expression for the same id.
CASES = []


def case(cid, nvars, smooth, fn, points):
    assert all(len(p) == nvars for p in points), cid
    assert cid not in [c[0] for c in CASES], cid
    CASES.append((cid, nvars, smooth, fn, points))


S, N = True, False  # smooth (with Hessian) / non-smooth (noH)

P1 = [(-1.25,), (0.5,), (3.0,)]
P2 = [(1.5, -0.25), (-3.0, 7.125), (0.1, 3.0)]
P3 = [(1.5, -2.0, 0.5), (0.3, 0.7, -1.1), (-1.2, 2.5, 4.0)]

# --- arithmetic -----------------------------------------------------------
case("add", 2, S, lambda x, y: x + y, P2)
case("sub", 2, S, lambda x, y: x - y, P2)
case("mul", 2, S, lambda x, y: x * y, P2)
case("div", 2, S, lambda x, y: x / y, P2)
case("neg", 2, S, lambda x, y: -x * y + (-y), P2)
case("runtime_const", 2, S, lambda x, y: 2.5 * x - (1 - y) * y / 4.0 + x * 0.5, P2)
case("ct_const", 2, S, lambda x, y: 2 * x * x + 0.5 * y, P2)

# --- elementary functions, one variable -------------------------------------
case("exp", 1, S, lambda x: torch.exp(x), P1)
case("log", 1, S, lambda x: torch.log(x), [(0.3,), (1.0,), (17.5,)])
case("log1p", 1, S, lambda x: torch.log1p(x), [(-0.5,), (1e-12,), (2.5,)])
case("expm1", 1, S, lambda x: torch.expm1(x), [(-2.0,), (1e-10,), (0.75,)])
case("sqrt", 1, S, lambda x: torch.sqrt(x), [(0.01,), (2.0,), (100.0,)])
case("cbrt", 1, S, lambda x: cbrt(x), [(-3.375,), (0.2,), (27.0,)])
case("pow_int3", 1, S, lambda x: torch.pow(x, 3), [(-1.5,), (0.0,), (0.3,), (2.0,)])
case("square", 1, S, lambda x: torch.square(x), [(-1.5,), (0.0,), (2.0,)])
case("sin", 1, S, lambda x: torch.sin(x), [(-2.0,), (0.5,), (4.0,)])
case("cos", 1, S, lambda x: torch.cos(x), [(-2.0,), (0.5,), (4.0,)])
case("tan", 1, S, lambda x: torch.tan(x), [(-1.2,), (0.3,), (1.5,)])
case("asin", 1, S, lambda x: torch.asin(x), [(-0.9,), (0.1,), (0.75,)])
case("acos", 1, S, lambda x: torch.acos(x), [(-0.9,), (0.1,), (0.75,)])
case("atan", 1, S, lambda x: torch.atan(x), [(-3.0,), (0.5,), (10.0,)])
case("sinh", 1, S, lambda x: torch.sinh(x), [(-2.0,), (0.5,), (3.0,)])
case("cosh", 1, S, lambda x: torch.cosh(x), [(-2.0,), (0.5,), (3.0,)])
case("tanh", 1, S, lambda x: torch.tanh(x), [(-2.0,), (0.5,), (3.0,)])
case("sigmoid", 1, S, lambda x: torch.sigmoid(x), [(-4.0,), (0.0,), (2.5,)])
case("softplus", 1, S, lambda x: softplus(x), [(-3.0,), (0.0,), (2.5,)])
# Far tails: PyTorch returns x above its threshold 20 (exact to 1 ulp there for
# x >= 40) and exp(x) underflows to 0 below; a naive log(1 + exp(x)) gives inf at 800.
case("softplus_tails", 1, S, lambda x: softplus(x), [(-800.0,), (40.0,), (800.0,)])
case("sigmoid_tails", 1, S, lambda x: torch.sigmoid(x), [(-800.0,), (-40.0,), (40.0,), (800.0,)])
case("relu", 1, S, lambda x: torch.relu(x), [(-1.5,), (2.25,)])
case("abs", 1, S, lambda x: torch.abs(x), [(-1.5,), (2.25,)])
case("erf", 1, S, lambda x: torch.erf(x), [(-1.5,), (0.25,), (2.0,)])

# --- elementary functions, two variables ------------------------------------
case("atan2", 2, S, lambda x, y: torch.atan2(x, y),
     [(1.0, 2.0), (-1.5, -0.5), (0.5, -3.0), (-2.0, 0.25)])
case("pow_xy", 2, S, lambda x, y: torch.pow(x, y), [(2.0, 3.0), (0.5, -1.25), (3.7, 0.5)])
case("max", 2, S, lambda x, y: torch.maximum(x, y), [(1.5, -2.0), (-1.0, 3.0)])
case("min", 2, S, lambda x, y: torch.minimum(x, y), [(1.5, -2.0), (-1.0, 3.0)])
case("where_gt", 2, S, lambda x, y: torch.where(x > y, torch.sin(x) * y, x + y * y),
     [(2.0, 1.0), (0.5, 1.5)])
case("where_lt", 2, S, lambda x, y: torch.where(x < y, x * x * y, torch.exp(y - x)),
     [(2.0, 1.0), (0.5, 1.5)])

# --- compositions -------------------------------------------------------------
case("sin_xx_exp_y_over_x", 2, S, lambda x, y: torch.sin(x * x) + torch.exp(y) / x,
     [(2.0, 1.0), (-0.7, 0.3), (1.3, -2.0)])
case("log_sigmoid_xy", 2, S, lambda x, y: torch.log(torch.sigmoid(x * y)),
     [(0.7, -1.3), (2.0, 1.5), (-3.0, 2.0)])
case("rosenbrock", 2, S, lambda x, y: torch.square(1 - x) + 100 * torch.square(y - x * x),
     [(-1.2, 1.0), (1.0, 1.0), (0.5, 2.0)])
case("rosenbrock_pow", 2, S, lambda x, y: torch.pow(1 - x, 2) + 100.0 * torch.pow(y - torch.pow(x, 2), 2),
     [(-1.2, 1.0), (1.0, 1.0), (0.5, 2.0)])
# Logistic-regression neuron, BCE loss; w = x, b = y, one data pair (xd, t) fixed in the case.
case("bce_t1", 2, S, lambda x, y: bce(torch.sigmoid(x * 1.5 + y), 1.0),
     [(0.1, 0.0), (-2.0, 0.5), (1.3, -0.4)])
case("bce_t0", 2, S, lambda x, y: bce(torch.sigmoid(x * -0.7 + y), 0.0),
     [(0.1, 0.0), (-2.0, 0.5), (1.3, -0.4)])
# Two features (0.8, -1.7), weights x, y, bias z, soft label 0.3.
case("bce_2feat", 3, S, lambda x, y, z: bce(torch.sigmoid(x * 0.8 + y * -1.7 + z), 0.3), P3)
case("xyz", 3, S, lambda x, y, z: x * y * z, P3)
case("xyz_chain", 3, S, lambda x, y, z: torch.sin(x * y * z) * (x + y + z) + torch.exp(x * y) * z, P3)
case("shared_u", 2, S, lambda x, y: (lambda u: u * u * u + torch.sin(u))(x * y),
     [(0.7, 1.3), (-1.1, 0.4), (1.5, -2.0)])
case("shared_uv", 3, S,
     lambda x, y, z: (lambda u: (lambda v: v * v + u * v + torch.log(v + z))(torch.exp(u)))(torch.sin(x) * y),
     [(0.7, 1.3, 0.5), (-1.1, 0.4, 2.0), (2.0, -0.3, 0.25)])
case("tanh_layer", 3, S, lambda x, y, z: torch.tanh(x * y + z) * 2.5 - z * z, P3)
case("gauss", 2, S, lambda x, y: torch.exp(-(x * x + y * y) * 0.5), P2)
case("norm3", 3, S, lambda x, y, z: torch.sqrt(x * x + y * y + z * z), P3)
case("normal_cdf", 2, S, lambda x, y: 0.5 * (1 + torch.erf(x / math.sqrt(2.0))) * y, P2)
case("softplus_diff", 3, S, lambda x, y, z: softplus(x - y) * z, P3)
case("expm1_div", 2, S, lambda x, y: torch.expm1(x * y) / y, P2)
case("log1p_cosh", 2, S, lambda x, y: torch.log1p(x * x) * torch.cosh(y), P2)
case("where_expr", 3, S, lambda x, y, z: torch.where(x * y > z, torch.sin(x * y), torch.cos(z) * x), P3)
case("max_min_expr", 3, S, lambda x, y, z: torch.maximum(x * y, z) + torch.minimum(x, y * z), P3)
case("abs_relu_expr", 3, S, lambda x, y, z: torch.abs(x - y) * z + torch.relu(x * y - z), P3)
case("square_sin", 2, S, lambda x, y: torch.square(torch.sin(x) + y), P2)
case("pow3_expr", 3, S, lambda x, y, z: torch.pow(x * y + 1, 3) / z, P3)
case("pow_expr", 3, S, lambda x, y, z: torch.pow(x * x + 1, torch.sin(y)) * z, P3)
case("atan2_expr", 3, S, lambda x, y, z: torch.atan2(x * y, z * z + 0.5), P3)
case("trig_mix", 2, S, lambda x, y: torch.tan(x) * torch.cos(y) + torch.asin(x / 2) * torch.acos(y / 3),
     [(0.3, -1.2), (-1.1, 2.5), (1.4, 0.0)])
case("hyper_mix", 2, S, lambda x, y: torch.sinh(x) * torch.cosh(y) - torch.tanh(x * y), P2)
case("atan_sigmoid_sqrt", 2, S, lambda x, y: torch.atan(x) * torch.sigmoid(y) + torch.sqrt(1 + x * x), P2)
case("cbrt_expr", 3, S, lambda x, y, z: cbrt(x * y + z), P3)
case("logsumexp2", 2, S, lambda x, y: torch.log(torch.exp(x) + torch.exp(y)), P2)

# --- non-smooth points: PyTorch's conventions (no Hessian) ---------------------------
case("relu_at0", 1, N, lambda x: torch.relu(x), [(0.0,)])
case("relu_tie", 2, N, lambda x, y: torch.relu(x - y), [(1.5, 1.5), (-2.0, -2.0)])
case("abs_at0", 1, N, lambda x: torch.abs(x), [(0.0,)])
case("abs_tie", 2, N, lambda x, y: torch.abs(x - y), [(1.5, 1.5), (-2.0, -2.0)])
case("max_tie", 2, N, lambda x, y: torch.maximum(x, y), [(1.5, 1.5), (-2.0, -2.0), (0.0, 0.0)])
case("min_tie", 2, N, lambda x, y: torch.minimum(x, y), [(1.5, 1.5), (-2.0, -2.0), (0.0, 0.0)])
case("max_tie_expr", 2, N, lambda x, y: torch.maximum(x * x, y), [(2.0, 4.0), (-1.5, 2.25)])
case("where_gt_tie", 2, N, lambda x, y: torch.where(x > y, x * y, x - y), [(1.5, 1.5), (0.0, 0.0)])
case("where_ge_tie", 2, N, lambda x, y: torch.where(x >= y, x * y, x - y), [(1.5, 1.5), (0.0, 0.0)])
case("sqrt_at0", 1, N, lambda x: torch.sqrt(x), [(0.0,)])
case("sqrt_neg", 1, N, lambda x: torch.sqrt(x), [(-4.0,)])
case("log_at0", 1, N, lambda x: torch.log(x), [(0.0,)])
case("log_neg", 1, N, lambda x: torch.log(x), [(-2.0,), (-0.5,)])
case("div_by0", 2, N, lambda x, y: x / y, [(1.0, 0.0), (-2.0, 0.0)])
case("pow_base0", 2, N, lambda x, y: torch.pow(x, y), [(0.0, 2.0), (0.0, 0.5), (0.0, 0.0), (0.0, -1.0)])
case("asin_edge", 1, N, lambda x: torch.asin(x), [(1.0,), (-1.0,)])
case("acos_edge", 1, N, lambda x: torch.acos(x), [(1.0,), (-1.0,)])
case("atan2_origin", 2, N, lambda x, y: torch.atan2(x, y), [(0.0, 0.0)])


def as_float(t):
    return 0.0 if t is None else float(t)


def evaluate(fn, point, smooth):
    xs = tuple(torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in point)
    out = fn(*xs)
    assert out.dim() == 0 and out.dtype == torch.float64
    n = len(xs)
    grads = torch.autograd.grad(out, xs, create_graph=smooth, allow_unused=True)
    grad = [as_float(g) for g in grads]
    hess = None
    if smooth:
        hess = []
        for g in grads:
            if g is None or not g.requires_grad:
                hess.extend([0.0] * n)
                continue
            row = torch.autograd.grad(g, xs, retain_graph=True, allow_unused=True)
            hess.extend(as_float(h) for h in row)
        # Cross-check against torch.autograd.functional.hessian.
        ref = torch.autograd.functional.hessian(
            fn, tuple(torch.tensor(v, dtype=torch.float64) for v in point))
        for i in range(n):
            for j in range(n):
                a, b = hess[i * n + j], float(ref[i][j])
                assert a == b or (math.isnan(a) and math.isnan(b)), (fn, point, i, j, a, b)
        # All reference Hessians must be finite and symmetric.
        for i in range(n):
            for j in range(n):
                a, b = hess[i * n + j], hess[j * n + i]
                assert math.isfinite(a), (point, i, j, a)
                assert abs(a - b) <= 1e-13 * max(1.0, abs(a), abs(b)), (point, i, j, a, b)
    value = float(out)
    if smooth:
        assert math.isfinite(value) and all(math.isfinite(g) for g in grad), (point, value, grad)
    return value, grad, hess


def main():
    lines = []
    for cid, nvars, smooth, fn, points in CASES:
        for point in points:
            value, grad, hess = evaluate(fn, point, smooth)
            fields = [cid, str(nvars), "H" if smooth else "noH"]
            fields += ["%s=%s" % (NAMES[i], fmt(v)) for i, v in enumerate(point)]
            fields.append(fmt(value))
            fields += [fmt(g) for g in grad]
            if smooth:
                fields += [fmt(h) for h in hess]
            lines.append(" ".join(fields))
    out = sys.stdout
    out.write(HEADER.format(torch_version=torch.__version__, ncases=len(CASES), nlines=len(lines)))
    for line in lines:
        out.write(line + "\n")


if __name__ == "__main__":
    main()
