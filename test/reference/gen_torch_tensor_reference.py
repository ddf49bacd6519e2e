#!/usr/bin/python3
# gen_torch_tensor_reference.py -- PyTorch reference values for etgrad's tensor tests.
#
# What it does
#   Evaluates a fixed list of named scalar-valued functions of tensors (dot,
#   matrix products, softmax, broadcasting, element access, elementwise unary
#   and binary functions, ...) in float64 with PyTorch, each at the sizes
#   n in SIZES, and prints, per (case, n), the inputs, the value and the
#   gradient with respect to every input (torch.autograd.grad). Every gradient
#   is cross-checked against central finite differences
#   (torch.autograd.gradcheck) before it is written.
#   The inputs are generated here, deterministically (a torch.Generator seeded
#   from crc32("<id>:<n>"), values on a grid of multiples of 1/1024 so they are
#   short and exact), and are written to the output: the C++ test reads them
#   from the file and never regenerates them. The C++ tests never import torch.
#
# How to rerun (Debian's python3-torch; use /usr/bin/python3, not a pyenv/venv
# python that cannot see Debian packages):
#   apt-get install -y python3-torch
#   /usr/bin/python3 test/reference/gen_torch_tensor_reference.py > test/reference/torch_tensor_reference.txt
# with the reference BLAS (Debian's default; where OpenBLAS is installed, prefix
#   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack
# since OpenBLAS's matrix products round the last bits differently).
# Check an existing file (structure, counts, and that it matches a fresh run):
#   /usr/bin/python3 test/reference/gen_torch_tensor_reference.py --check test/reference/torch_tensor_reference.txt
#
# Adding a case: append it to CASES below AND add the same function, keyed by
# the same id and with the same input names and shapes, to the C++ tensor
# reference test (it must reject an id it does not know and a registered id
# the file does not contain).
#
# Output format: see HEADER below (it is copied into the data file).

import math
import sys
import zlib

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

SIZES = (1, 3, 8, 17, 64)
GRID = 1024  # inputs are integers / GRID

HEADER = """\
# etgrad PyTorch tensor reference values. GENERATED FILE, do not edit by hand.
# Generator: test/reference/gen_torch_tensor_reference.py (PyTorch {torch_version}, float64)
# Regenerate: /usr/bin/python3 test/reference/gen_torch_tensor_reference.py > test/reference/torch_tensor_reference.txt
#
# One block per (case, n), whitespace separated, one record per line:
#   case <id> <n>
#   in <name> <count> v1 ... v_count        (one line per input, in input order)
#   value <v>                               (the scalar f(inputs))
#   grad <name> <count> g1 ... g_count      (one line per input, same order, name and count)
#   end
# - n is the size parameter of the case (sizes: {sizes}); shapes are given per
#   case below. Tensors are flattened row-major (C order); a scalar has count 1.
# - Integer label inputs ("label" in pick, cross_entropy) have an in line
#   (the index, written as an integer) and no grad line.
# - Numbers are printf '%.17g' (round-trips a binary64 exactly; parse with
#   strtod); non-finite values would be written inf, -inf, nan (none occur).
# - Lines starting with '#' and blank lines are comments. The last line is
#   '# cases <number of case blocks>'.
#
# Case list (id: inputs; f):
{case_docs}
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


# --- deterministic inputs ------------------------------------------------------
def uniform(g, shape, lo, hi):
    # Uniform on the grid k / GRID, strictly inside (lo, hi).
    klo = math.floor(lo * GRID) + 1
    khi = math.ceil(hi * GRID) - 1
    k = torch.randint(klo, khi + 1, shape, generator=g, dtype=torch.int64)
    return k.to(torch.float64) / GRID


def gen_general(g, shape):
    return uniform(g, shape, -1.0, 1.0)


def gen_unit(g, shape):
    return uniform(g, shape, 0.1, 0.9)


def gen_signed(g, shape):
    # (-0.9, 0.9) without |x| < 0.05 (relu, abs: away from the kink): values
    # that fall inside are redrawn from 0.05 < |x| < 0.9, keeping their sign.
    x = uniform(g, shape, -0.9, 0.9)
    bad = x.abs() < 0.05
    if bad.any():
        sign = torch.where(x[bad] < 0, -1.0, 1.0)
        x[bad] = sign * uniform(g, (int(bad.sum()),), 0.05, 0.9)
    assert (x.abs() > 0.05).all()
    return x


def gen_distinct(g, shape):
    # A random permutation of 0..N-1, centred and scaled: distinct values.
    numel = math.prod(shape)
    p = torch.randperm(numel, generator=g).to(torch.float64)
    return ((p - (numel - 1) / 2.0) / 8.0).reshape(shape)


def gen_pair_apart(g, shape):
    # (x, y) in (0.1, 0.9), |x - y| >= 0.05 elementwise (max, min: no ties).
    x = gen_unit(g, shape)
    y = gen_unit(g, shape)
    while True:
        bad = (x - y).abs() < 0.05
        if not bad.any():
            return x, y
        y[bad] = uniform(g, (int(bad.sum()),), 0.1, 0.9)


def label_for(n):
    return min(n // 2, n - 1)


# --- cases ------------------------------------------------------------------------
# A case: id, doc line, make(g, n) -> list of (name, tensor, is_label), fn(*inputs).
CASES = []


def case(cid, doc, make, fn):
    assert cid not in [c[0] for c in CASES], cid
    CASES.append((cid, doc, make, fn))


def inputs(*specs):
    # specs: (name, shape_of_n, generator); returns a make(g, n).
    def make(g, n):
        return [(name, gen(g, shape(n)), False) for name, shape, gen in specs]
    return make


def with_label(*specs):
    base = inputs(*specs)

    def make(g, n):
        return base(g, n) + [("label", torch.tensor(float(label_for(n))), True)]
    return make


G = gen_general
V = lambda n: (n,)  # noqa: E731

case("dot", "a (n), b (n); f = dot(a, b)",
     inputs(("a", V, G), ("b", V, G)),
     lambda a, b: torch.dot(a, b))
case("matvec", "W (n,5), x (5), b (n); f = sum(tanh(W @ x + b))",
     inputs(("W", lambda n: (n, 5), G), ("x", lambda n: (5,), G), ("b", V, G)),
     lambda W, x, b: torch.tanh(W @ x + b).sum())
case("matvec_t", "W (4,n), x (n); f = sum(sin(W @ x))",
     inputs(("W", lambda n: (4, n), G), ("x", V, G)),
     lambda W, x: torch.sin(W @ x).sum())
case("matmul", "A (n,3), B (3,n); f = sum(sin(A @ B))",
     inputs(("A", lambda n: (n, 3), G), ("B", lambda n: (3, n), G)),
     lambda A, B: torch.sin(A @ B).sum())
case("outer", "a (n), b (4); f = sum(square(outer(a, b)) * 0.5)",
     inputs(("a", V, G), ("b", lambda n: (4,), G)),
     lambda a, b: (torch.outer(a, b) ** 2 * 0.5).sum())
case("transpose", "A (n,2), B (2,n); f = sum(A^T * B)",
     inputs(("A", lambda n: (n, 2), G), ("B", lambda n: (2, n), G)),
     lambda A, B: (A.T * B).sum())
case("softmax", "z (n), w (n); f = sum(softmax(z) * w)",
     inputs(("z", V, G), ("w", V, G)),
     lambda z, w: (torch.softmax(z, dim=-1) * w).sum())
case("log_softmax", "z (n), w (n); f = sum(log_softmax(z) * w)",
     inputs(("z", V, G), ("w", V, G)),
     lambda z, w: (torch.log_softmax(z, dim=-1) * w).sum())
case("softmax_rows", "Z (3,n), w (3,n); f = sum(softmax(Z, last axis) * w)",
     inputs(("Z", lambda n: (3, n), G), ("w", lambda n: (3, n), G)),
     lambda Z, w: (torch.softmax(Z, dim=-1) * w).sum())
case("logsumexp", "z (n); f = logsumexp(z)",
     inputs(("z", V, G)),
     lambda z: torch.logsumexp(z, dim=0))
case("max", "z (n), distinct values; f = max(z)",
     inputs(("z", V, gen_distinct)),
     lambda z: z.max())
case("mean_sq", "x (n); f = mean(x^2)",
     inputs(("x", V, G)),
     lambda x: (x ** 2).mean())
case("sum_cube", "x (n); f = sum(x^3)",
     inputs(("x", V, G)),
     lambda x: (x ** 3).sum())
case("broadcast_row", "M (3,n), r (n); f = sum(exp(0.1 * (M + r)))  (r broadcast over rows)",
     inputs(("M", lambda n: (3, n), G), ("r", V, G)),
     lambda M, r: torch.exp(0.1 * (M + r)).sum())
case("broadcast_col", "M (n,3), c (n,1); f = sum(M * c + c)  (c broadcast along the last axis)",
     inputs(("M", lambda n: (n, 3), G), ("c", lambda n: (n, 1), G)),
     lambda M, c: (M * c + c).sum())
case("broadcast_scalar", "s (scalar, count 1), v (n); f = sum(s * v + s * s)",
     inputs(("s", lambda n: (), G), ("v", V, G)),
     lambda s, v: (s * v + s * s).sum())
case("at", "v (n); f = v[n-1] * v[0] + v[n/2]  (n=1: all index 0)",
     inputs(("v", V, G)),
     lambda v: v[v.shape[0] - 1] * v[0] + v[v.shape[0] // 2])
case("pick", "z (n), label = min(n/2, n-1) (no grad line); f = z[label]",
     with_label(("z", V, G)),
     lambda z, label: z[int(label)])
case("cross_entropy", "z (n), label = min(n/2, n-1) (no grad line); f = logsumexp(z) - z[label]",
     with_label(("z", V, G)),
     lambda z, label: torch.logsumexp(z, dim=0) - z[int(label)])



def bn_net_inputs(g, n):
    m = n + 1  # a batch norm needs two samples at least
    ins = [("X", gen_general(g, (m, 5)), False)]
    ins.append(("labels", torch.randint(0, 3, (m,), generator=g).to(torch.float64), True))
    for name, shape in (("W1", (6, 5)), ("b1", (6,)), ("gamma", (6,)), ("beta", (6,)),
                        ("W2", (3, 6)), ("b2", (3,))):
        ins.append((name, gen_general(g, shape), False))
    return ins


case("batch_norm", "X (n+1,4), w (4), b (4), c (n+1,4); f = sum(batch_norm(X, training, eps 1e-5) * w + b) * c)",
     inputs(("X", lambda n: (n + 1, 4), G), ("w", lambda n: (4,), G), ("b", lambda n: (4,), G),
            ("c", lambda n: (n + 1, 4), G)),
     lambda X, w, b, c: (F.batch_norm(X, None, None, w, b, training=True, eps=1e-5) * c).sum())
case("bn_net", "X (n+1,5), labels (n+1) in 0..2 (no grad line), W1 (6,5), b1, gamma, beta (6), W2 (3,6), "
     "b2 (3); f = cross_entropy(linear(tanh(batch_norm(linear(X, W1, b1), gamma, beta)), W2, b2), labels), "
     "the mean over the batch",
     bn_net_inputs,
     lambda X, labels, W1, b1, gamma, beta, W2, b2: F.cross_entropy(
         F.linear(torch.tanh(F.batch_norm(F.linear(X, W1, b1), None, None, gamma, beta, training=True,
                                          eps=1e-5)), W2, b2), labels.long()))

UNARY = [
    ("exp", torch.exp),
    ("log", torch.log),
    ("log1p", torch.log1p),
    ("expm1", torch.expm1),
    ("sqrt", torch.sqrt),
    ("cbrt", cbrt),
    ("sin", torch.sin),
    ("cos", torch.cos),
    ("tan", torch.tan),
    ("asin", torch.asin),
    ("acos", torch.acos),
    ("atan", torch.atan),
    ("sinh", torch.sinh),
    ("cosh", torch.cosh),
    ("tanh", torch.tanh),
    ("sigmoid", torch.sigmoid),
    ("softplus", softplus),
    ("relu", torch.relu),
    ("abs", torch.abs),
    ("erf", torch.erf),
    ("square", lambda x: x ** 2),
]
for name, fn in UNARY:
    signed = name in ("relu", "abs")
    rng = "(-0.9,0.9), |x| >= 0.05" if signed else "(0.1,0.9)"
    case("ew_" + name, "x (n) in %s; f = sum(%s(x))" % (rng, name),
         inputs(("x", V, gen_signed if signed else gen_unit)),
         (lambda f: lambda x: f(x).sum())(fn))


def pair_inputs(apart):
    def make(g, n):
        if apart:
            x, y = gen_pair_apart(g, (n,))
        else:
            x, y = gen_unit(g, (n,)), gen_unit(g, (n,))
        return [("x", x, False), ("y", y, False)]
    return make


BINARY = [
    ("add", "x + y", lambda x, y: x + y),
    ("sub", "x - y", lambda x, y: x - y),
    ("mul", "x * y", lambda x, y: x * y),
    ("div", "x / y", lambda x, y: x / y),
    ("pow", "pow(x, y)", torch.pow),
    ("atan2", "atan2(x, y)", torch.atan2),
    ("max", "maximum(x, y)", torch.maximum),
    ("min", "minimum(x, y)", torch.minimum),
]
for name, expr, fn in BINARY:
    apart = name in ("max", "min")
    case("ew_" + name, "x (n), y (n) in (0.1,0.9)%s; f = sum(%s)"
         % (", |x - y| >= 0.05" if apart else "", expr),
         pair_inputs(apart),
         (lambda f: lambda x, y: f(x, y).sum())(fn))


# --- evaluation ------------------------------------------------------------------
def evaluate(cid, make, fn, n):
    g = torch.Generator()
    g.manual_seed(zlib.crc32(("%s:%d" % (cid, n)).encode()))
    ins = make(g, n)
    for name, t, is_label in ins:
        assert t.dtype == torch.float64, (cid, name)
    diff = [t.clone().requires_grad_(True) for _, t, is_label in ins if not is_label]
    args, k = [], 0
    for _, t, is_label in ins:
        if is_label:
            args.append(t)
        else:
            args.append(diff[k])
            k += 1
    out = fn(*args)
    assert out.dim() == 0 and out.dtype == torch.float64, cid
    grads = torch.autograd.grad(out, diff, allow_unused=True)
    grads = [torch.zeros_like(d) if gr is None else gr.detach() for d, gr in zip(diff, grads)]
    value = float(out)
    assert math.isfinite(value), (cid, n, value)
    for gr in grads:
        assert torch.isfinite(gr).all(), (cid, n)

    # Cross-check the gradient against finite differences.
    def fdiff(*ds):
        a, k = [], 0
        for _, t, is_label in ins:
            if is_label:
                a.append(t)
            else:
                a.append(ds[k])
                k += 1
        return fn(*a)
    assert torch.autograd.gradcheck(
        fdiff, tuple(d.detach().clone().requires_grad_(True) for d in diff),
        eps=1e-6, atol=1e-7, rtol=1e-6), (cid, n)

    lines = ["case %s %d" % (cid, n)]
    for name, t, _ in ins:
        flat = t.detach().contiguous().reshape(-1)
        lines.append("in %s %d %s" % (name, flat.numel(), " ".join(fmt(v) for v in flat.tolist())))
    lines.append("value %s" % fmt(value))
    k = 0
    for name, t, is_label in ins:
        if is_label:
            continue
        flat = grads[k].contiguous().reshape(-1)
        assert flat.numel() == t.numel(), (cid, name)
        lines.append("grad %s %d %s" % (name, flat.numel(), " ".join(fmt(v) for v in flat.tolist())))
        k += 1
    lines.append("end")
    return lines


def generate():
    docs = "\n".join("#   %s: %s" % (cid, doc) for cid, doc, _, _ in CASES)
    text = [HEADER.format(torch_version=torch.__version__,
                          sizes=", ".join(str(s) for s in SIZES), case_docs=docs)]
    nblocks = 0
    for cid, _, make, fn in CASES:
        for n in SIZES:
            text.append("\n".join(evaluate(cid, make, fn, n)) + "\n")
            nblocks += 1
    text.append("# cases %d\n" % nblocks)
    return "".join(text)


# --- parse check (the structure the C++ test relies on) -------------------------------
def check(path):
    with open(path) as f:
        text = f.read()
    lines = text.splitlines()
    assert lines and lines[-1].startswith("# cases "), "last line must be '# cases N'"
    declared = int(lines[-1].split()[2])
    blocks, cur, seen = [], None, set()
    for lineno, line in enumerate(lines, 1):
        where = "%s:%d" % (path, lineno)
        if not line.strip() or line.startswith("#"):
            continue
        tok = line.split()
        if tok[0] == "case":
            assert cur is None and len(tok) == 3, where
            cur = {"id": tok[1], "n": int(tok[2]), "in": [], "value": None, "grad": []}
        elif tok[0] in ("in", "grad"):
            assert cur is not None and len(tok) >= 3, where
            cnt = int(tok[2])
            assert cnt >= 1 and len(tok) == 3 + cnt, where
            vals = [float(v) for v in tok[3:]]
            if tok[0] == "in":
                assert cur["value"] is None and not cur["grad"], where
            else:
                assert cur["value"] is not None, where
            cur[tok[0]].append((tok[1], cnt, vals))
        elif tok[0] == "value":
            assert cur is not None and cur["value"] is None and len(tok) == 2, where
            cur["value"] = float(tok[1])
        elif tok[0] == "end":
            assert cur is not None and cur["value"] is not None and len(tok) == 1, where
            ins = [(nm, c) for nm, c, _ in cur["in"] if nm != "label"]
            grads = [(nm, c) for nm, c, _ in cur["grad"]]
            assert ins == grads, (where, ins, grads)
            key = (cur["id"], cur["n"])
            assert key not in seen, (where, key)
            seen.add(key)
            blocks.append(cur)
            cur = None
        else:
            raise AssertionError("%s: unknown record %r" % (where, tok[0]))
    assert cur is None, "unterminated block"
    assert len(blocks) == declared, (len(blocks), declared)
    ids = [c[0] for c in CASES]
    assert seen == {(i, n) for i in ids for n in SIZES}, "case/size set differs from CASES"
    assert text == generate(), "file differs from a fresh run"
    sys.stderr.write("%s: OK, %d blocks, %d ids, %d bytes\n"
                     % (path, len(blocks), len(ids), len(text.encode())))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
        return
    assert len(sys.argv) == 1, "usage: gen_torch_tensor_reference.py [--check FILE]"
    sys.stdout.write(generate())


if __name__ == "__main__":
    main()
