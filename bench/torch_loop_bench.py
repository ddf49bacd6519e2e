#!/usr/bin/python3
"""PyTorch's side of the run-time-length loop benchmark (bench/loop_bench.cpp is etgrad's side).

    /usr/bin/python3 bench/torch_loop_bench.py [--steps 10000] [--repetitions 7] [--quick]

The problem: a damped oscillator, n steps of

    v' = v - dt (k x + c v),   x' = x + dt v      (both updates read the old state)

from (x0, v0) = (1, 0) with k = 4, c = 0.3, dt = 0.01, in float64 on the CPU with one thread
(torch.set_num_threads(1)), written as users write a dynamic loop in PyTorch: scalar tensors
x0, v0, k, c with requires_grad=True, a Python for loop of n steps building the graph, then
x_n.backward(). One measured call is that whole thing (making the leaves, the forward loop, the
backward pass) and yields x_n and its gradient with respect to k, c, x0 and v0; they are
reported under "check" (loop_bench.cpp checks the same figures).

Timing: after a warm-up, each repetition times enough calls back to back (at least
--min-rep-time seconds; one call at the defaults) with time.perf_counter, and time.process_time
(CPU time) beside it; the medians over the repetitions are reported, per call and per step. The
result is one JSON object on stdout; progress goes to stderr. Needs PyTorch (1.x) and the standard
library; without PyTorch it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

X0, V0, K, C, DT = 1.0, 0.0, 4.0, 0.3, 0.01


def measure(fn, repetitions: int, min_rep_time: float, warmup_time: float) -> dict:
    """Median seconds per call of fn() over the repetitions (wall and CPU time)."""
    t0 = time.perf_counter()
    calls = 0
    while calls < 1 or time.perf_counter() - t0 < warmup_time:
        fn()
        calls += 1
    per_call = (time.perf_counter() - t0) / calls
    k = max(1, math.ceil(min_rep_time / per_call))
    wall, cpu = [], []
    for _ in range(repetitions):
        c0 = time.process_time()
        w0 = time.perf_counter()
        for _ in range(k):
            fn()
        w1 = time.perf_counter()
        c1 = time.process_time()
        wall.append((w1 - w0) / k)
        cpu.append((c1 - c0) / k)
    mean = statistics.fmean(wall)
    return {
        "wall_ns": 1e9 * statistics.median(wall),
        "cpu_ns": 1e9 * statistics.median(cpu),
        "cv": statistics.stdev(wall) / mean if len(wall) > 1 and mean > 0 else None,
        "calls_per_repetition": k,
        "repetitions": repetitions,
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10000, help="loop steps n (default 10000)")
    p.add_argument("--repetitions", type=int, default=7, help="repetitions (default 7)")
    p.add_argument("--min-rep-time", type=float, default=0.0,
                   help="seconds of calls per repetition, at least (default 0: one call)")
    p.add_argument("--warmup-time", type=float, default=0.5, help="seconds of warm-up (default 0.5)")
    p.add_argument("--quick", action="store_true", help="3 repetitions, short warm-up: a smoke test")
    args = p.parse_args(argv)
    if args.quick:
        args.repetitions, args.warmup_time = 3, 0.0
    if args.steps < 0 or args.repetitions < 1:
        p.error("--steps must be >= 0 and --repetitions >= 1")

    try:
        import torch
    except ImportError:
        print(f"torch_loop_bench.py: PyTorch is not installed for {sys.executable}; run this script "
              "with an interpreter that has it (on this machine: /usr/bin/python3)", file=sys.stderr)
        return 2

    torch.set_num_threads(1)
    n = args.steps

    def value_and_grad():
        k = torch.tensor(K, dtype=torch.float64, requires_grad=True)
        c = torch.tensor(C, dtype=torch.float64, requires_grad=True)
        x0 = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
        v0 = torch.tensor(V0, dtype=torch.float64, requires_grad=True)
        x, v = x0, v0
        for _ in range(n):
            x, v = x + DT * v, v - DT * (k * x + c * v)
        if x.requires_grad:  # n = 0: x is the leaf x0 itself, still differentiable
            x.backward()
        grads = [t.grad.item() if t.grad is not None else 0.0 for t in (k, c, x0, v0)]
        return x.item(), grads

    xn, (gk, gc, gx0, gv0) = value_and_grad()
    print(f"torch_loop_bench.py: oscillator value_and_grad, n = {n}", file=sys.stderr, flush=True)
    res = measure(value_and_grad, args.repetitions, args.min_rep_time, args.warmup_time)
    if n > 0:
        res["wall_ns_per_step"] = res["wall_ns"] / n
        res["cpu_ns_per_step"] = res["cpu_ns"] / n

    out = {
        "torch_version": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "dtype": "float64",
        "python": sys.version.split()[0],
        "timer": "time.perf_counter (wall); process_time beside it",
        "steps": n,
        "results": {"oscillator_value_and_grad": res},
        "check": {"x_n": xn, "dx_n/dk": gk, "dx_n/dc": gc, "dx_n/dx0": gx0, "dx_n/dv0": gv0},
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
