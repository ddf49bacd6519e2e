#!/usr/bin/python3
# gen_torch_loop_reference.py -- PyTorch reference values for etgrad's run-time-length loops
# (include/etgrad/loop.hpp: eg::scan, tested by test/runtime/loop_reference_test.cpp).
#
# What it does
#   Runs four loops in float64 with PyTorch, each written as users write a dynamic loop
#   (scalar tensors with requires_grad, a Python for loop, torch.autograd.grad), and writes
#   the values and gradients to test/reference/torch_loop_reference.txt:
#     oscillator  v' = v - dt (k x + c v),  x' = x + dt v   (both read the old state), from
#                 (x0, v0) = (1, 0), k = 4, c = 0.3, dt = 0.01, n in OSC_STEPS: x_n and
#                 d x_n / d(k, c, x0, v0); S = sum_{t=1..n} x_t^2 and dS / d(k, c).
#     interest    b_{t+1} = b_t (1 + r_t) - w, b0 = 100, w = 0.5, per-step rates
#                 r_t = 0.01 + 0.001 sin(t) (t = 0 .. n-1), n in INTEREST_STEPS: b_n,
#                 d b_n / d(b0, w) and d b_n / d r_t for t in {0, n//2, n-1} (n > 0).
#     pendulum    theta'' = -(g/L) sin(theta), g = 9.81, L = 1.3, (theta0, omega0) = (0.5, 0),
#                 classic RK4 steps of h = 0.01 on (theta, omega), n in PENDULUM_STEPS:
#                 theta_n and d theta_n / d(L, theta0).
#     rnn         an Elman RNN h' = tanh(Wh @ h + Wx @ u_t + b) with H = 4 hidden units and
#                 I = 3 inputs per step (tensors with requires_grad, u_t row t of an n x I
#                 input tensor), n in RNN_STEPS: L = (h_n**2).sum() and S = the sum over
#                 t = 1..n of (h_t**2).sum(), each with its gradient with respect to Wh, Wx,
#                 b, h0 and the first input row u_0.
#   Every gradient is cross-checked against central finite differences of the same loop in
#   plain Python floats before anything is written. The rates are written to the file (the
#   C++ test reads every input from the file and never recomputes sin).
#
# How to rerun (Debian's python3-torch; use /usr/bin/python3):
#   /usr/bin/python3 test/reference/gen_torch_loop_reference.py [--out FILE]
# (default FILE: torch_loop_reference.txt beside this script; takes a minute: n = 100000).
#
# Output format: see HEADER below (it is copied into the data file).

import argparse
import math
import os
import sys

import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

OSC = dict(x0=1.0, v0=0.0, k=4.0, c=0.3, dt=0.01)
OSC_STEPS = (0, 1, 2, 37, 1000, 100000)
INTEREST = dict(b0=100.0, w=0.5)
INTEREST_STEPS = (0, 1, 37, 1000)
PENDULUM = dict(g=9.81, L=1.3, theta0=0.5, omega0=0.0, h=0.01)
PENDULUM_STEPS = (1, 100, 1000)
RNN_H, RNN_I = 4, 3
RNN_STEPS = (0, 1, 2, 37, 1000)

HEADER = """\
# etgrad PyTorch loop reference values. GENERATED FILE, do not edit by hand.
# Generator: test/reference/gen_torch_loop_reference.py (PyTorch {torch_version}, float64, one thread)
# Regenerate: /usr/bin/python3 test/reference/gen_torch_loop_reference.py
#
# Records, whitespace separated, one per line (the first word names the record):
#   torch_version <version>
#   oscillator_params <x0> <v0> <k> <c> <dt>
#       the loop v' = v - dt*(k*x + c*v), x' = x + dt*v (both read the old state).
#   oscillator <n> <x_n> <dx_n/dk> <dx_n/dc> <dx_n/dx0> <dx_n/dv0> <S> <dS/dk> <dS/dc>
#       after n steps; S = sum over t = 1..n of x_t^2 (x_t: x after step t; S = 0 for n = 0).
#   interest_params <b0> <w>
#       the loop b' = b*(1 + r_t) - w, r_t the rate of step t (t = 0 .. n-1).
#   rates <count> <r_0> ... <r_{{count-1}}>
#       r_t = 0.01 + 0.001*sin(t) in float64; a case of n steps uses the first n.
#   interest <n> <b_n> <db_n/db0> <db_n/dw> <m> <t_1> <db_n/dr_t_1> ... <t_m> <db_n/dr_t_m>
#       m pairs, t in the set {{0, n//2, n-1}} in increasing order (m = 0 for n = 0).
#   pendulum_params <g> <L> <theta0> <omega0> <h>
#       classic RK4 on theta' = omega, omega' = -(g/L)*sin(theta), step h:
#         k1 = f(theta, omega), k2 = f(theta + h/2*k1_theta, omega + h/2*k1_omega),
#         k3 = f(theta + h/2*k2_theta, omega + h/2*k2_omega), k4 = f(theta + h*k3_theta, omega + h*k3_omega),
#         theta' = theta + h/6*(k1_theta + 2*k2_theta + 2*k3_theta + k4_theta), omega' likewise.
#   pendulum <n> <theta_n> <dtheta_n/dL> <dtheta_n/dtheta0>
#   rnn_params <H> <I> <Wh: H*H> <Wx: H*I> <b: H> <h0: H>
#       the loop h' = tanh(Wh @ h + Wx @ u_t + b); matrices row-major:
#         Wh[i][j] = 0.6/sqrt(H)*sin(1.3*(i*H+j) + 0.4), Wx[i][j] = 0.5*cos(0.7*(i*I+j) + 0.1),
#         b[i] = 0.05*i - 0.1, h0[i] = 0.2*sin(i + 2).
#   rnn_inputs <count> <I> <u: count*I values, row-major>
#       u[k] = sin(0.37*k); a case of n steps uses the first n rows (row t at step t).
#   rnn <n> <L> <dL/dWh: H*H> <dL/dWx: H*I> <dL/db: H> <dL/dh0: H> <dL/du_0: I>
#           <S> <dS/dWh: H*H> <dS/dWx: H*I> <dS/db: H> <dS/dh0: H> <dS/du_0: I>
#       L = sum of h_n**2; S = sum over t = 1..n of sum of h_t**2 (S = 0 for n = 0); d/du_0:
#       the gradient with respect to the first input row (0 for n = 0).
# - n (and t, m) are integers; every other number is printf '%.17g' (17 significant digits:
#   round-trips a binary64 exactly; parse with strtod).
# - Lines starting with '#' and blank lines are comments. The last line is
#   '# records oscillator <count> interest <count> pendulum <count> rnn <count>'.
"""


def fmt(v):
    return "%.17g" % float(v)


def grads(out, inputs):
    """d out / d inputs (0 for an input out does not depend on, e.g. after 0 steps)."""
    gs = torch.autograd.grad(out, inputs, retain_graph=True, allow_unused=True)
    return [0.0 if g is None else g.item() for g in gs]


def leaf(v):
    return torch.tensor(v, dtype=torch.float64, requires_grad=True)


# ---------------------------------------------------------------------------------------------
# The loops in PyTorch (the reference) and in plain Python floats (for the finite differences).

def oscillator_torch(n):
    k, c, x0, v0 = leaf(OSC["k"]), leaf(OSC["c"]), leaf(OSC["x0"]), leaf(OSC["v0"])
    dt = OSC["dt"]
    x, v = x0, v0
    s = torch.zeros(())
    for _ in range(n):
        x, v = x + dt * v, v - dt * (k * x + c * v)
        s = s + x * x
    gx = grads(x, [k, c, x0, v0])
    gs = grads(s, [k, c]) if n > 0 else [0.0, 0.0]
    return [x.item()] + gx + [s.item()] + gs


def oscillator_float(n, k, c, x0, v0):
    dt = OSC["dt"]
    x, v, s = x0, v0, 0.0
    for _ in range(n):
        x, v = x + dt * v, v - dt * (k * x + c * v)
        s += x * x
    return x, s


def rates(count):
    return [0.01 + 0.001 * math.sin(t) for t in range(count)]


def interest_torch(n, rs):
    b0, w = leaf(INTEREST["b0"]), leaf(INTEREST["w"])
    r = torch.tensor(rs[:n], dtype=torch.float64, requires_grad=True)
    b = b0
    for t in range(n):
        b = b * (1 + r[t]) - w
    ts = sorted({0, n // 2, n - 1}) if n > 0 else []
    gb = grads(b, [b0, w])
    gr = torch.autograd.grad(b, r, retain_graph=True)[0].tolist() if n > 0 else []
    return b.item(), gb, [(t, gr[t]) for t in ts], gr


def interest_float(n, b0, w, rs):
    b = b0
    for t in range(n):
        b = b * (1 + rs[t]) - w
    return b


def pendulum_step(th, om, g, L, h, sin):
    """One classic RK4 step of theta' = omega, omega' = -(g/L) sin(theta)."""
    k1t = om
    k1w = -(g / L) * sin(th)
    k2t = om + (h / 2) * k1w
    k2w = -(g / L) * sin(th + (h / 2) * k1t)
    k3t = om + (h / 2) * k2w
    k3w = -(g / L) * sin(th + (h / 2) * k2t)
    k4t = om + h * k3w
    k4w = -(g / L) * sin(th + h * k3t)
    return (th + (h / 6) * (k1t + 2 * k2t + 2 * k3t + k4t),
            om + (h / 6) * (k1w + 2 * k2w + 2 * k3w + k4w))


def pendulum_torch(n):
    L, th0 = leaf(PENDULUM["L"]), leaf(PENDULUM["theta0"])
    g, h = PENDULUM["g"], PENDULUM["h"]
    th, om = th0, torch.tensor(PENDULUM["omega0"])
    for _ in range(n):
        th, om = pendulum_step(th, om, g, L, h, torch.sin)
    return [th.item()] + grads(th, [L, th0])


def pendulum_float(n, L, th0):
    th, om = th0, PENDULUM["omega0"]
    for _ in range(n):
        th, om = pendulum_step(th, om, PENDULUM["g"], L, PENDULUM["h"], math.sin)
    return th


def rnn_params():
    H, I = RNN_H, RNN_I
    wh = [0.6 / math.sqrt(H) * math.sin(1.3 * k + 0.4) for k in range(H * H)]
    wx = [0.5 * math.cos(0.7 * k + 0.1) for k in range(H * I)]
    b = [0.05 * i - 0.1 for i in range(H)]
    h0 = [0.2 * math.sin(i + 2.0) for i in range(H)]
    return wh, wx, b, h0


def rnn_inputs(count):
    return [math.sin(0.37 * k) for k in range(count * RNN_I)]


def rnn_torch(n, us):
    H, I = RNN_H, RNN_I
    wh, wx, b, h0 = rnn_params()
    Wh = torch.tensor(wh).reshape(H, H).requires_grad_(True)
    Wx = torch.tensor(wx).reshape(H, I).requires_grad_(True)
    bb = torch.tensor(b, requires_grad=True)
    hh0 = torch.tensor(h0, requires_grad=True)
    U = torch.tensor(us[:max(n, 1) * I]).reshape(max(n, 1), I).requires_grad_(True)
    h = hh0
    s = torch.zeros(())
    for t in range(n):
        h = torch.tanh(Wh @ h + Wx @ U[t] + bb)
        s = s + (h ** 2).sum()
    loss = (h ** 2).sum()

    def flat(out):
        gs = torch.autograd.grad(out, [Wh, Wx, bb, hh0, U], retain_graph=True, allow_unused=True)
        r = []
        for g, shape in zip(gs, [(H * H,), (H * I,), (H,), (H,), (max(n, 1) * I,)]):
            r.append([0.0] * shape[0] if g is None else g.reshape(-1).tolist())
        return r[0] + r[1] + r[2] + r[3] + r[4][:I]

    return [loss.item()] + flat(loss) + [s.item()] + (flat(s) if n > 0 else [0.0] * (H * H + H * I + 2 * H + I))


def rnn_float(n, p, us):
    """L and S from the flat parameters p = Wh, Wx, b, h0 (plain floats)."""
    H, I = RNN_H, RNN_I
    wh, wx, b, h = p[:H * H], p[H * H:H * H + H * I], p[H * H + H * I:H * H + H * I + H], p[-H:]
    s = 0.0
    for t in range(n):
        h = [math.tanh(sum(wh[i * H + j] * h[j] for j in range(H)) + sum(wx[i * I + j] * us[t * I + j] for j in range(I))
                       + b[i]) for i in range(H)]
        s += sum(x * x for x in h)
    return sum(x * x for x in h), s


# ---------------------------------------------------------------------------------------------
# Finite-difference cross-check (central differences, relative step 1e-6).

def fd(f, x0):
    h = 1e-6 * max(1.0, abs(x0))
    return (f(x0 + h) - f(x0 - h)) / (2 * h)


def check(what, got, want, scale):
    # Central differences in float64 agree to about 1e-7 of the function's scale.
    if not abs(got - want) <= 1e-6 * scale + 1e-7 * abs(want):
        sys.exit(f"gen_torch_loop_reference.py: {what}: torch {got!r} vs finite differences {want!r}")


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description="PyTorch reference values for etgrad's loops")
    p.add_argument("--out", default=os.path.join(here, "torch_loop_reference.txt"))
    args = p.parse_args(argv)

    lines = [HEADER.format(torch_version=torch.__version__).rstrip("\n"), ""]
    lines.append(f"torch_version {torch.__version__}")

    o = OSC
    lines.append("oscillator_params " + " ".join(fmt(o[key]) for key in ("x0", "v0", "k", "c", "dt")))
    for n in OSC_STEPS:
        print(f"gen_torch_loop_reference.py: oscillator n = {n}", file=sys.stderr, flush=True)
        r = oscillator_torch(n)
        xf, sf = oscillator_float(n, o["k"], o["c"], o["x0"], o["v0"])
        check(f"oscillator {n} x_n", r[0], xf, abs(xf))
        check(f"oscillator {n} S", r[5], sf, abs(sf))
        sx, ss = abs(xf) + 1e-300, abs(sf) + 1e-300
        fx = {
            "k": lambda q: oscillator_float(n, q, o["c"], o["x0"], o["v0"]),
            "c": lambda q: oscillator_float(n, o["k"], q, o["x0"], o["v0"]),
            "x0": lambda q: oscillator_float(n, o["k"], o["c"], q, o["v0"]),
            "v0": lambda q: oscillator_float(n, o["k"], o["c"], o["x0"], q),
        }
        for i, key in enumerate(("k", "c", "x0", "v0")):
            check(f"oscillator {n} dx_n/d{key}", r[1 + i], fd(lambda q: fx[key](q)[0], o[key]),
                  max(sx, abs(r[1 + i])))
        for i, key in enumerate(("k", "c")):
            check(f"oscillator {n} dS/d{key}", r[6 + i], fd(lambda q: fx[key](q)[1], o[key]), max(ss, abs(r[6 + i])))
        lines.append(f"oscillator {n} " + " ".join(fmt(v) for v in r))

    rs = rates(max(INTEREST_STEPS))
    lines.append("interest_params " + fmt(INTEREST["b0"]) + " " + fmt(INTEREST["w"]))
    lines.append(f"rates {len(rs)} " + " ".join(fmt(v) for v in rs))
    for n in INTEREST_STEPS:
        print(f"gen_torch_loop_reference.py: interest n = {n}", file=sys.stderr, flush=True)
        b, gb, pairs, gr = interest_torch(n, rs)
        b0, w = INTEREST["b0"], INTEREST["w"]
        bf = interest_float(n, b0, w, rs)
        check(f"interest {n} b_n", b, bf, abs(bf))
        check(f"interest {n} db_n/db0", gb[0], fd(lambda q: interest_float(n, q, w, rs), b0), abs(gb[0]))
        check(f"interest {n} db_n/dw", gb[1], fd(lambda q: interest_float(n, b0, q, rs), w), abs(gb[1]))
        for t, g in pairs:
            def f_r(q, t=t):
                rr = list(rs)
                rr[t] = q
                return interest_float(n, b0, w, rr)
            check(f"interest {n} db_n/dr_{t}", g, fd(f_r, rs[t]), abs(bf) + abs(g))
        rec = [str(n), fmt(b), fmt(gb[0]), fmt(gb[1]), str(len(pairs))]
        for t, g in pairs:
            rec += [str(t), fmt(g)]
        lines.append("interest " + " ".join(rec))

    pp = PENDULUM
    lines.append("pendulum_params " + " ".join(fmt(pp[key]) for key in ("g", "L", "theta0", "omega0", "h")))
    for n in PENDULUM_STEPS:
        print(f"gen_torch_loop_reference.py: pendulum n = {n}", file=sys.stderr, flush=True)
        r = pendulum_torch(n)
        tf = pendulum_float(n, pp["L"], pp["theta0"])
        check(f"pendulum {n} theta_n", r[0], tf, abs(tf))
        check(f"pendulum {n} dtheta_n/dL", r[1], fd(lambda q: pendulum_float(n, q, pp["theta0"]), pp["L"]),
              abs(tf) + abs(r[1]))
        check(f"pendulum {n} dtheta_n/dtheta0", r[2], fd(lambda q: pendulum_float(n, pp["L"], q), pp["theta0"]),
              abs(tf) + abs(r[2]))
        lines.append(f"pendulum {n} " + " ".join(fmt(v) for v in r))

    H, I = RNN_H, RNN_I
    wh, wx, b, h0 = rnn_params()
    p0 = wh + wx + b + h0
    us = rnn_inputs(max(RNN_STEPS))
    lines.append(f"rnn_params {H} {I} " + " ".join(fmt(v) for v in p0))
    lines.append(f"rnn_inputs {max(RNN_STEPS)} {I} " + " ".join(fmt(v) for v in us))
    npar = len(p0)
    for n in RNN_STEPS:
        print(f"gen_torch_loop_reference.py: rnn n = {n}", file=sys.stderr, flush=True)
        r = rnn_torch(n, us)
        lf, sf = rnn_float(n, p0, us)
        half = 1 + npar + I
        check(f"rnn {n} L", r[0], lf, abs(lf))
        check(f"rnn {n} S", r[half], sf, abs(sf))
        for k in range(npar):
            def f_p(q, k=k):
                pp = list(p0)
                pp[k] = q
                return rnn_float(n, pp, us)
            check(f"rnn {n} dL/dp{k}", r[1 + k], fd(lambda q: f_p(q)[0], p0[k]), abs(lf) + abs(r[1 + k]))
            check(f"rnn {n} dS/dp{k}", r[half + 1 + k], fd(lambda q: f_p(q)[1], p0[k]), abs(sf) + abs(r[half + 1 + k]))
        for j in range(I if n > 0 else 0):
            def f_u(q, j=j):
                uu = list(us)
                uu[j] = q
                return rnn_float(n, p0, uu)
            check(f"rnn {n} dL/du0_{j}", r[1 + npar + j], fd(lambda q: f_u(q)[0], us[j]), abs(lf) + abs(r[1 + npar + j]))
            check(f"rnn {n} dS/du0_{j}", r[half + 1 + npar + j], fd(lambda q: f_u(q)[1], us[j]),
                  abs(sf) + abs(r[half + 1 + npar + j]))
        lines.append(f"rnn {n} " + " ".join(fmt(v) for v in r))

    lines.append(f"# records oscillator {len(OSC_STEPS)} interest {len(INTEREST_STEPS)} pendulum {len(PENDULUM_STEPS)}"
                 f" rnn {len(RNN_STEPS)}")
    with open(args.out, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    print(f"gen_torch_loop_reference.py: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
