#!/usr/bin/python3
# gen_torch_optim_reference.py -- PyTorch reference trajectories for etgrad's optimizers
# (include/etgrad/nn/optim.hpp, tested by test/runtime/optim_test.cpp).
#
# What it does
#   Runs torch.optim.SGD, Adam and AdamW (foreach=False: the single-tensor
#   implementation) in float64 for STEPS steps on a small fixed problem: two
#   parameters, "fc.weight" (3x4) and "fc.bias" (3), and the loss
#       L(W, b) = sum_k sum_i tanh(W @ x_k + b)_i * c_k_i    over 5 fixed samples,
#   whose gradient (torch autograd) depends on the parameters. For every step it
#   writes the parameters before the step, the loss and torch's gradient, and the
#   parameters after optimizer.step(). Configurations whose name ends in
#   "_freeze" set fc.bias's .grad to None on the steps in FROZEN_STEPS (torch
#   then skips the bias and leaves its state alone).
#   Inputs are on a grid of multiples of 1/1024 (short and exact), drawn from a
#   torch.Generator with a fixed seed, and written to the output: the C++ test
#   reads everything from the file and never imports torch.
#
# How to rerun (Debian's python3-torch; use /usr/bin/python3):
#   /usr/bin/python3 test/reference/gen_torch_optim_reference.py > test/reference/torch_optim_reference.txt
# Check an existing file (structure, and that it matches a fresh run):
#   /usr/bin/python3 test/reference/gen_torch_optim_reference.py --check test/reference/torch_optim_reference.txt
#
# Adding a configuration: append it to CONFIGS; the C++ test reads the options
# from the file, but also lists the names it expects (add the name there too).
#
# Output format: see HEADER below (it is copied into the data file).

import math
import sys

import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

STEPS = 20
SAMPLES = 5
GRID = 1024
SEED = 20240611
FROZEN_STEPS = (0, 1, 2, 8, 9, 10)

# name, optimizer, options (every option of the etgrad optimizer, in this order).
CONFIGS = [
    ("sgd_plain", "sgd", dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)),
    ("sgd_momentum", "sgd", dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False)),
    ("sgd_dampening_wd", "sgd", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01, nesterov=False)),
    ("sgd_nesterov", "sgd", dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=True)),
    ("adam_default", "adam", dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)),
    ("adam_wd_betas", "adam", dict(lr=1e-2, beta1=0.8, beta2=0.99, eps=1e-8, weight_decay=0.1)),
    ("adamw_default", "adamw", dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2)),
    ("adamw_eps", "adamw", dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-3, weight_decay=1e-2)),
    ("sgd_momentum_freeze", "sgd", dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.01, nesterov=False)),
    ("adam_freeze", "adam", dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1)),
    ("adamw_freeze", "adamw", dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2)),
]

HEADER = """\
# etgrad PyTorch optimizer reference trajectories. GENERATED FILE, do not edit by hand.
# Generator: test/reference/gen_torch_optim_reference.py (PyTorch {torch_version}, float64, foreach=False)
# Regenerate: /usr/bin/python3 test/reference/gen_torch_optim_reference.py > test/reference/torch_optim_reference.txt
#
# Problem: parameters fc.weight W (3x4, row-major) and fc.bias b (3); loss
#   L = sum_k sum_i tanh(W @ x_k + b)_i * c_k_i   over {samples} samples x_k (4), c_k (3).
# Records, whitespace separated, one per line:
#   data x <count> v1 ... v_count         the samples x_k, row-major ({samples} x 4)
#   data c <count> v1 ... v_count         the samples c_k, row-major ({samples} x 3)
#   config <name> <optimizer> <key>=<value> ...   starts a configuration; optimizer is sgd, adam
#                                         or adamw; keys: sgd: lr momentum dampening weight_decay
#                                         nesterov (0 or 1); adam, adamw: lr beta1 beta2 eps weight_decay
#   step <k>                              step k = 0 .. {steps_minus_1} of the configuration, then:
#   before <param> <count> v1 ...         each parameter before the step (fc.weight, then fc.bias)
#   loss <v>                              L at the parameters before the step
#   grad <param> <count> g1 ...           torch's gradient; "grad fc.bias none" when the bias's
#                                         .grad is None in this step (configurations *_freeze, on
#                                         steps {frozen}): torch skips it and leaves its state alone
#   after <param> <count> v1 ...          each parameter after optimizer.step()
#   end                                   closes the step
# - Every configuration starts from the same parameters (the first "before" of each).
# - Numbers are printf '%.17g' (round-trips a binary64 exactly; parse with strtod).
# - Lines starting with '#' and blank lines are comments. The last line is
#   '# configs <number of configurations> steps <steps per configuration>'.
"""


def fmt(v):
    return "%.17g" % float(v)


def vec(t):
    return " ".join(fmt(v) for v in t.reshape(-1).tolist())


def uniform(g, shape):
    k = torch.randint(-GRID + 1, GRID, shape, generator=g, dtype=torch.int64)
    return k.to(torch.float64) / GRID


def problem():
    g = torch.Generator().manual_seed(SEED)
    w0 = uniform(g, (3, 4))
    b0 = uniform(g, (3,))
    x = uniform(g, (SAMPLES, 4))
    c = uniform(g, (SAMPLES, 3))
    return w0, b0, x, c


def loss_of(w, b, x, c):
    total = torch.zeros((), dtype=torch.float64)
    for k in range(SAMPLES):
        total = total + torch.sum(torch.tanh(w @ x[k] + b) * c[k])
    return total


def make_optimizer(kind, opts, params):
    if kind == "sgd":
        return torch.optim.SGD(params, lr=opts["lr"], momentum=opts["momentum"], dampening=opts["dampening"],
                               weight_decay=opts["weight_decay"], nesterov=opts["nesterov"], foreach=False)
    betas = (opts["beta1"], opts["beta2"])
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(params, lr=opts["lr"], betas=betas, eps=opts["eps"], weight_decay=opts["weight_decay"],
               foreach=False)


def opt_words(opts):
    out = []
    for key, v in opts.items():
        out.append("%s=%s" % (key, ("1" if v else "0") if isinstance(v, bool) else repr(float(v))))
    return " ".join(out)


def generate():
    w0, b0, x, c = problem()
    lines = [HEADER.format(torch_version=torch.__version__, samples=SAMPLES, steps_minus_1=STEPS - 1,
                           frozen=", ".join(str(s) for s in FROZEN_STEPS))]
    lines.append("data x %d %s" % (x.numel(), vec(x)))
    lines.append("data c %d %s" % (c.numel(), vec(c)))
    for name, kind, opts in CONFIGS:
        w = w0.clone().requires_grad_(True)
        b = b0.clone().requires_grad_(True)
        opt = make_optimizer(kind, opts, [w, b])
        lines.append("")
        lines.append("config %s %s %s" % (name, kind, opt_words(opts)))
        for step in range(STEPS):
            opt.zero_grad(set_to_none=True)
            lines.append("step %d" % step)
            lines.append("before fc.weight %d %s" % (w.numel(), vec(w.detach())))
            lines.append("before fc.bias %d %s" % (b.numel(), vec(b.detach())))
            L = loss_of(w, b, x, c)
            L.backward()
            if name.endswith("_freeze") and step in FROZEN_STEPS:
                b.grad = None
            lines.append("loss %s" % fmt(L.item()))
            lines.append("grad fc.weight %d %s" % (w.numel(), vec(w.grad)))
            lines.append("grad fc.bias none" if b.grad is None else "grad fc.bias %d %s" % (b.numel(), vec(b.grad)))
            opt.step()
            lines.append("after fc.weight %d %s" % (w.numel(), vec(w.detach())))
            lines.append("after fc.bias %d %s" % (b.numel(), vec(b.detach())))
            lines.append("end")
    lines.append("# configs %d steps %d" % (len(CONFIGS), STEPS))
    return "\n".join(lines) + "\n"


def check(path):
    with open(path) as f:
        text = f.read()
    lines = text.splitlines()
    assert lines and lines[-1] == "# configs %d steps %d" % (len(CONFIGS), STEPS), "bad last line"
    configs, steps, in_step = [], 0, False
    for lineno, line in enumerate(lines, 1):
        where = "%s:%d" % (path, lineno)
        if not line.strip() or line.startswith("#"):
            continue
        tok = line.split()
        if tok[0] == "config":
            assert not in_step and steps in (0, STEPS), where
            configs.append(tok[1])
            steps = 0
        elif tok[0] == "step":
            assert not in_step and int(tok[1]) == steps, where
            in_step = True
        elif tok[0] in ("before", "grad", "after", "data"):
            if not (tok[0] == "grad" and tok[2:] == ["none"]):
                cnt = int(tok[2])
                assert len(tok) == 3 + cnt, where
                [float(v) for v in tok[3:]]
        elif tok[0] == "loss":
            assert in_step and len(tok) == 2, where
        elif tok[0] == "end":
            assert in_step, where
            in_step = False
            steps += 1
        else:
            raise AssertionError("%s: unknown record %r" % (where, tok[0]))
    assert not in_step and steps == STEPS, "unterminated configuration"
    assert configs == [c[0] for c in CONFIGS], configs
    assert text == generate(), "file differs from a fresh run"
    sys.stderr.write("%s: OK, %d configurations, %d bytes\n" % (path, len(configs), len(text.encode())))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
        return
    assert len(sys.argv) == 1, "usage: gen_torch_optim_reference.py [--check FILE]"
    sys.stdout.write(generate())


if __name__ == "__main__":
    main()
