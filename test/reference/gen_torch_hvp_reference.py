#!/usr/bin/python3
# gen_torch_hvp_reference.py -- PyTorch reference Hessian-vector products for etgrad's eg::hvp with
# shaped variables (test/runtime/tensor_hvp_test.cpp).
#
# Each case is a scalar function of a few tensors, evaluated in float64 at inputs and along a
# direction generated here (a torch.Generator seeded from crc32(<id>), values on a grid of
# multiples of 1/1024), with torch.autograd.functional.hvp: the value and H·v for every input.
# Inputs named in NO_DIRECTION have direction 0 (and, being labels, no H·v line: they are not
# differentiable).
#
# Rerun (Debian's python3-torch; the reference BLAS, as for the other reference files):
#   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack \
#     /usr/bin/python3 test/reference/gen_torch_hvp_reference.py > test/reference/torch_hvp_reference.txt
#
# Format, one record per line: `case <id>`; `in <name> <count> v...`; `dir <name> <count> v...`;
# `value <v>`; `hvp <name> <count> v...`; `end`. Numbers are '%.17g'. Last line: `# cases <n>`.
import sys
import zlib

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
GRID = 1024


def grid(g, shape, lo=-1.0, hi=1.0):
    k = torch.randint(int(lo * GRID) + 1, int(hi * GRID), shape, generator=g, dtype=torch.int64)
    return k.to(torch.float64) / GRID


def mlp(W, x, s):
    return torch.logsumexp(torch.tanh(W @ x) * s, 0) + (x * x).sum() * s


def softmax_net(x, W1, b1, W2, b2, label):
    z = W2 @ torch.tanh(W1 @ x + b1) + b2
    return torch.logsumexp(z, 0) - z[int(label)]


def bn_net(X, labels, W1, b1, gamma, beta, W2, b2):
    h = F.batch_norm(F.linear(X, W1, b1), None, None, gamma, beta, training=True, eps=1e-5)
    return F.cross_entropy(F.linear(torch.tanh(h), W2, b2), labels.long())


def data_ce(X, labels, W1, b1, W2, b2):
    # Per-sample softmax cross-entropy of a 5 -> 4 -> 3 tanh MLP over the rows of X (etgrad: x =
    # eg::rows<5>(X), y = labels, eg::logsumexp(z) - eg::pick(z, y) per sample).
    z = torch.tanh(X @ W1.T + b1) @ W2.T + b2
    return torch.logsumexp(z, 1) - z.gather(1, labels.long()[:, None])[:, 0]


def data_net(X, labels, W1, b1, W2, b2):
    return data_ce(X, labels, W1, b1, W2, b2).mean()


def data_reg(X, labels, W1, b1, W2, b2):
    return 2 * data_ce(X, labels, W1, b1, W2, b2).mean() - 0.25 * data_ce(X, labels, W1, b1, W2, b2).sum() \
        + 0.01 * (W1 * W1).sum()


def data_specs(n):
    # The data (rows and labels) are not differentiated: direction 0, no H·v line.
    return ([("X", (n, 5)), ("labels", (n,)), ("W1", (4, 5)), ("b1", (4,)), ("W2", (3, 4)), ("b2", (3,))],
            {"X": lambda g: grid(g, (n, 5)),
             "labels": lambda g: torch.randint(0, 3, (n,), generator=g).to(torch.float64)})


CASES = [
    ("mlp", mlp, [("W", (2, 3)), ("x", (3,)), ("s", ())], {}),
    ("softmax_net", softmax_net, [("x", (5,)), ("W1", (4, 5)), ("b1", (4,)), ("W2", (3, 4)), ("b2", (3,)),
                                  ("label", ())], {"label": lambda g: torch.tensor(2.0)}),
    ("bn_net", bn_net, [("X", (6, 5)), ("labels", (6,)), ("W1", (4, 5)), ("b1", (4,)), ("gamma", (4,)),
                        ("beta", (4,)), ("W2", (3, 4)), ("b2", (3,))],
     {"labels": lambda g: torch.randint(0, 3, (6,), generator=g).to(torch.float64)}),
    # hvp over data: the loss reduced over n samples (rows), H·v with respect to the parameters.
    ("data_net_1", data_net) + data_specs(1),
    ("data_net_7", data_net) + data_specs(7),
    ("data_net_37", data_net) + data_specs(37),
    ("data_reg_7", data_reg) + data_specs(7),
]


def fmt(v):
    return "%.17g" % float(v)


def main():
    out = ["# etgrad PyTorch Hessian-vector products. GENERATED FILE, do not edit by hand.",
           "# Generator: test/reference/gen_torch_hvp_reference.py (PyTorch %s, float64)" % torch.__version__]
    for cid, fn, specs, fixed in CASES:
        g = torch.Generator()
        g.manual_seed(zlib.crc32(cid.encode()))
        ins = [fixed[n](g) if n in fixed else grid(g, shape) for n, shape in specs]
        dirs = [torch.zeros_like(t) if n in fixed else grid(g, t.shape) for (n, _), t in zip(specs, ins)]
        diff = [i for i, (n, _) in enumerate(specs) if n not in fixed]

        def f(*d):
            a = list(ins)
            for k, i in enumerate(diff):
                a[i] = d[k]
            return fn(*a)
        value, hv = torch.autograd.functional.hvp(f, tuple(ins[i] for i in diff), tuple(dirs[i] for i in diff))
        out.append("case %s" % cid)
        for (n, _), t in zip(specs, ins):
            out.append("in %s %d %s" % (n, t.numel(), " ".join(fmt(v) for v in t.reshape(-1).tolist())))
        for (n, _), t in zip(specs, dirs):
            out.append("dir %s %d %s" % (n, t.numel(), " ".join(fmt(v) for v in t.reshape(-1).tolist())))
        out.append("value %s" % fmt(value))
        for k, i in enumerate(diff):
            t = hv[k]
            out.append("hvp %s %d %s" % (specs[i][0], t.numel(), " ".join(fmt(v) for v in t.reshape(-1).tolist())))
        out.append("end")
    out.append("# cases %d" % len(CASES))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
