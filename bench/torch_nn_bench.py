#!/usr/bin/python3
"""PyTorch's side of the neural-network benchmark (bench/nn_bench.cpp is etgrad's side).

    /usr/bin/python3 bench/torch_nn_bench.py [--repetitions 31] [--min-rep-time 0.02] [--quick]

The model: torch.nn.Sequential(Linear(64, 32), Tanh(), Linear(32, 10)) with
torch.nn.CrossEntropyLoss() (mean over the samples), on the CPU, one thread
(torch.set_num_threads(1)); ordinary PyTorch code, as users write it. Measured:

  fullbatch_float64, fullbatch_float32  zero_grad, forward, loss, backward over all 1437 samples;
  onesample_float32                     the same for one sample (a batch of 1);
  adam_epoch_float32                    one epoch of torch.optim.Adam(lr=1e-3): for each of the 45
                                        minibatches of 32 (44 full, one of 29) forward, loss,
                                        backward, step, zero_grad; the minibatches are slices of
                                        a copy of the data permuted once, before timing.

The data and the initial weights come from the same splitmix64 stream as in nn_bench.cpp (pixels
floor(U(0, 17)) / 16, labels 0..9, weights uniform in +-1/sqrt(in) as torch.nn.Linear draws them),
so both programs compute the same losses; the losses are reported under "check" for
compare_torch.py to compare.

Timing: after a warm-up, each measurement is repeated (--repetitions times), each repetition
timing enough calls back to back (at least --min-rep-time seconds) with time.perf_counter; the
median time per call is reported, with the median of time.process_time (CPU time) beside it.
The result is one JSON object on stdout; progress goes to stderr. Needs PyTorch (1.x) and the
standard library; without PyTorch it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

IN, HID, OUT, N, BATCH = 64, 32, 10, 1437, 32
DATA_SEED, PERM_SEED = 42, 7
MASK = (1 << 64) - 1


class Rng:
    """splitmix64, as nn_bench.cpp computes it."""

    def __init__(self, seed: int) -> None:
        self.s = seed

    def uniform(self, lo: float, hi: float) -> float:
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        u = float(z >> 11) * 2.0 ** -53
        return lo + (hi - lo) * u


def make_problem():
    """(weights as lists in torch's layout, X rows, labels, permutation) as nn_bench.cpp makes them."""
    r = Rng(DATA_SEED)
    k1, k2 = 1.0 / math.sqrt(IN), 1.0 / math.sqrt(HID)
    w1 = [r.uniform(-k1, k1) for _ in range(HID * IN)]
    b1 = [r.uniform(-k1, k1) for _ in range(HID)]
    w2 = [r.uniform(-k2, k2) for _ in range(OUT * HID)]
    b2 = [r.uniform(-k2, k2) for _ in range(OUT)]
    X = [math.floor(r.uniform(0, 17)) / 16 for _ in range(N * IN)]
    labels = [int(r.uniform(0, 10)) for _ in range(N)]
    perm = list(range(N))
    q = Rng(PERM_SEED)
    for i in range(N - 1, 0, -1):
        j = int(q.uniform(0, float(i + 1)))
        perm[i], perm[j] = perm[j], perm[i]
    return (w1, b1, w2, b2), X, labels, perm


def loaded_blas() -> list[str]:
    """The BLAS-like libraries mapped into this process (Linux: /proc/self/maps), real paths."""
    found: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path).lower()
                if any(k in name for k in ("blas", "mkl", "blis", "lapack", "dnnl", "atlas", "accelerate")):
                    real = os.path.realpath(path)
                    if real not in found:
                        found.append(real)
    except OSError:
        pass
    return found


def measure(fn, repetitions: int, min_rep_time: float, warmup_time: float) -> dict:
    """Median seconds per call of fn() over the repetitions (wall and CPU time)."""
    t0 = time.perf_counter()
    calls = 0
    while calls < 3 or time.perf_counter() - t0 < warmup_time:
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
    p.add_argument("--repetitions", type=int, default=31, help="repetitions per measurement (default 31)")
    p.add_argument("--min-rep-time", type=float, default=0.02,
                   help="seconds of calls per repetition, at least (default 0.02)")
    p.add_argument("--warmup-time", type=float, default=0.3, help="seconds of warm-up (default 0.3)")
    p.add_argument("--quick", action="store_true", help="5 repetitions, short warm-up: a smoke test")
    args = p.parse_args(argv)
    if args.quick:
        args.repetitions, args.min_rep_time, args.warmup_time = 5, 0.005, 0.05

    try:
        import torch
    except ImportError:
        print(f"torch_nn_bench.py: PyTorch is not installed for {sys.executable}; run this script "
              "with an interpreter that has it (on this machine: /usr/bin/python3)", file=sys.stderr)
        return 2

    torch.set_num_threads(1)
    weights, X_list, labels_list, perm = make_problem()

    def make_model(dtype):
        model = torch.nn.Sequential(torch.nn.Linear(IN, HID), torch.nn.Tanh(), torch.nn.Linear(HID, OUT))
        model = model.to(dtype)
        with torch.no_grad():  # the weights of nn_bench.cpp (rounded to nearest for float32)
            for param, values in zip([model[0].weight, model[0].bias, model[2].weight, model[2].bias],
                                     weights):
                param.copy_(torch.tensor(values, dtype=torch.float64).view_as(param))
        return model

    loss_fn = torch.nn.CrossEntropyLoss()
    labels = torch.tensor(labels_list, dtype=torch.long)
    data = {dt: torch.tensor(X_list, dtype=dt).view(N, IN) for dt in (torch.float64, torch.float32)}
    perm_t = torch.tensor(perm, dtype=torch.long)
    Xp = data[torch.float32][perm_t].contiguous()  # the permuted copy, made once
    yp = labels[perm_t].contiguous()

    results: dict[str, dict] = {}
    check: dict[str, float] = {}

    def run(name, fn):
        print(f"torch_nn_bench.py: {name}", file=sys.stderr, flush=True)
        results[name] = measure(fn, args.repetitions, args.min_rep_time, args.warmup_time)

    # (a) The full batch, float64 and float32.
    for dtype, tag in ((torch.float64, "float64"), (torch.float32, "float32")):
        model = make_model(dtype)
        X = data[dtype]

        def fullbatch(model=model, X=X):
            model.zero_grad()
            loss = loss_fn(model(X), labels)
            loss.backward()
            return loss

        check[f"loss_fullbatch_{tag}"] = fullbatch().item()
        run(f"fullbatch_{tag}", fullbatch)

    # (b) One sample, float32.
    model = make_model(torch.float32)
    x1 = data[torch.float32][0:1]
    y1 = labels[0:1]

    def onesample():
        model.zero_grad()
        loss = loss_fn(model(x1), y1)
        loss.backward()
        return loss

    check["loss_onesample"] = onesample().item()
    run("onesample_float32", onesample)

    # (c) One epoch of Adam, float32: minibatches are slices of the permuted copy.
    def make_epoch(model, opt):
        def epoch():
            for s in range(0, N, BATCH):
                xb = Xp[s:s + BATCH]
                yb = yp[s:s + BATCH]
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                opt.zero_grad()
            return loss
        return epoch

    model = make_model(torch.float32)  # one epoch from the initial weights, for the check
    make_epoch(model, torch.optim.Adam(model.parameters(), lr=1e-3))()
    with torch.no_grad():
        check["loss_after_adam_epoch"] = loss_fn(model(data[torch.float32]), labels).item()

    model = make_model(torch.float32)  # the timed one: training goes on from epoch to epoch
    run("adam_epoch_float32", make_epoch(model, torch.optim.Adam(model.parameters(), lr=1e-3)))

    out = {
        "torch_version": torch.__version__,
        "torch_config": torch.__config__.show(),
        "num_threads": torch.get_num_threads(),
        "blas_libraries": loaded_blas(),  # after the matrix products ran: what they called
        "python": sys.version.split()[0],
        "timer": "time.perf_counter (wall); process_time beside it",
        "results": results,
        "check": check,
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
