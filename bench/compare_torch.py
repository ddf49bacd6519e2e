#!/usr/bin/python3
"""Run etgrad's neural-network benchmark and PyTorch's in one sitting; rewrite the torch_nn section
of bench/RESULTS.md.

    /usr/bin/python3 bench/compare_torch.py build/bench/etgrad_bench_nn \\
        [--results bench/RESULTS.md] [--python /usr/bin/python3] [--repetitions 9] \\
        [--torch-repetitions 31] [--compiler "GCC 12.2.0"] [--flags=-O3] [--quick]

(Write --flags=VALUE with "=": the value starts with a dash.)

The etgrad binary (bench/nn_bench.cpp) runs with --benchmark_format=json
--benchmark_repetitions=9 --benchmark_report_aggregates_only=true
--benchmark_enable_random_interleaving=true, and the median CPU time of each benchmark is kept,
as run_benchmarks.py keeps it. Then bench/torch_nn_bench.py runs (with --python, by default
/usr/bin/python3, which has PyTorch on the development machines): the median time per call of
each measurement over its repetitions, with time.perf_counter. The table compares the two,
PyTorch / etgrad (above 1: etgrad is faster); the other pairings of clocks (wall against wall,
CPU against CPU) are listed below it, as are the load averages before and after: the machines
are shared.

Both programs compute the same losses from the same data and weights; the losses each reports
are compared (to 1e-12 in float64, 1e-5 in float32, 1e-4 after an epoch of Adam) and the section
says so, or says that they differ (and the script exits with status 1 after writing it).

The section between <!-- BEGIN torch_nn --> and <!-- END torch_nn --> is replaced (created at the
end of the file when absent); the rest of the file is left as it is. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_benchmarks import TO_NS, cpu_model, write_section  # noqa: E402  (the shared conventions)

SECTION = "torch_nn"

# label, etgrad benchmark, torch_nn_bench.py measurement
ROWS = [
    ("full batch (1437 samples), forward + backward, float64", "BM_nn_fullbatch_etgrad", "fullbatch_float64"),
    ("full batch (1437 samples), forward + backward, float32", "BM_nn_fullbatch_etgrad_float",
     "fullbatch_float32"),
    ("one sample, forward + backward, float32", "BM_nn_onesample_etgrad", "onesample_float32"),
    ("one epoch of Adam (lr 1e-3), 45 minibatches of 32, float32", "BM_nn_adam_epoch_etgrad",
     "adam_epoch_float32"),
]

# etgrad context key, torch check key, relative tolerance
CHECKS = [
    ("check_loss_fullbatch_double", "loss_fullbatch_float64", 1e-12, "full-batch loss, float64"),
    ("check_loss_fullbatch_float", "loss_fullbatch_float32", 1e-5, "full-batch loss, float32"),
    ("check_loss_onesample", "loss_onesample", 1e-5, "one-sample loss"),
    ("check_loss_after_adam_epoch", "loss_after_adam_epoch", 1e-4, "full-batch loss after one Adam epoch"),
]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("binary", help="the etgrad_bench_nn executable")
    p.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"),
                   help="markdown file to update (default: RESULTS.md beside this script)")
    p.add_argument("--torch-script", default=os.path.join(HERE, "torch_nn_bench.py"),
                   help="PyTorch's side (default: torch_nn_bench.py beside this script)")
    default_python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    p.add_argument("--python", default=default_python,
                   help=f"the interpreter with PyTorch (default {default_python})")
    p.add_argument("--repetitions", type=int, default=9, help="etgrad's repetitions (default 9)")
    p.add_argument("--torch-repetitions", type=int, default=31, help="PyTorch's repetitions (default 31)")
    p.add_argument("--compiler", help="compiler and version (default: from the JSON context)")
    p.add_argument("--flags", help="compile flags (default: from the JSON context)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke test: short runs on both sides (the section says so)")
    p.add_argument("--json-out", help="also save both raw JSON outputs, as one object, here")
    return p.parse_args(argv)


def run_etgrad(args: argparse.Namespace) -> dict:
    cmd = [os.path.abspath(args.binary),
           "--benchmark_format=json",
           f"--benchmark_repetitions={args.repetitions}",
           "--benchmark_report_aggregates_only=true",
           "--benchmark_enable_random_interleaving=true"]
    if args.quick:
        cmd.append("--benchmark_min_time=0.05")
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # stderr passes through
    if proc.returncode != 0:
        sys.exit(f"compare_torch.py: {args.binary} exited with status {proc.returncode}; "
                 "RESULTS.md left unchanged")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        sys.exit(f"compare_torch.py: cannot parse the JSON output of {args.binary}: {e}")


def run_torch(args: argparse.Namespace) -> dict:
    cmd = [args.python, args.torch_script, f"--repetitions={args.torch_repetitions}"]
    if args.quick:
        cmd.append("--quick")
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode == 2:
        sys.exit(f"compare_torch.py: {args.torch_script} found no PyTorch for {args.python} "
                 "(pass --python with an interpreter that has it); RESULTS.md left unchanged")
    if proc.returncode != 0:
        sys.exit(f"compare_torch.py: {args.torch_script} exited with status {proc.returncode}; "
                 "RESULTS.md left unchanged")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        sys.exit(f"compare_torch.py: cannot parse the JSON output of {args.torch_script}: {e}")


def etgrad_medians(report: dict, key: str) -> tuple[dict[str, float], dict[str, float]]:
    """(name -> median in ns, name -> coefficient of variation) for the given time key."""
    medians: dict[str, float] = {}
    cvs: dict[str, float] = {}
    for b in report.get("benchmarks", []):
        if b.get("error_occurred"):
            print(f"warning: {b.get('name')} reported an error: {b.get('error_message')}", file=sys.stderr)
            continue
        name = b.get("run_name") or b["name"]
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = float(b[key]) * TO_NS[b.get("time_unit", "ns")]
            elif b.get("aggregate_name") == "cv":
                cvs[name] = float(b[key])
        else:
            medians.setdefault(name, float(b[key]) * TO_NS[b.get("time_unit", "ns")])
    return medians, cvs


def fmt_time(ns: float | None) -> str:
    if ns is None:
        return "—"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            v = ns / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{ns:.3g} ns"


def fmt_ratio(num: float | None, den: float | None) -> str:
    if num is None or not den:
        return "—"
    r = num / den
    return f"{r:.1f}" if r >= 10 else f"{r:.2f}"


def fmt_cv(cv: float | None) -> str:
    return "—" if cv is None else f"{100 * cv:.1f}%"


def torch_blas(torch_report: dict) -> str:
    """What the PyTorch build says about its BLAS, and what the process had loaded."""
    cfg = torch_report.get("torch_config", "")
    parts = []
    m = re.search(r"BLAS_INFO=([^,\s]+)", cfg)
    if m:
        parts.append(f"BLAS_INFO={m.group(1)}")
    for line in cfg.splitlines():
        line = line.strip().lstrip("- ")
        if line.startswith(("Intel(R) Math Kernel Library", "Intel(R) MKL-DNN", "Intel(R) oneAPI", "CPU capability")):
            parts.append(line)
    loaded = [p for p in torch_report.get("blas_libraries", [])
              if re.search(r"blas|mkl|blis|atlas", os.path.basename(p), re.I)]
    if loaded:
        desc = []
        for path in loaded:
            name = os.path.basename(path).lower()
            if "openblas" in name:
                kind = "OpenBLAS"
            elif "mkl" in name:
                kind = "MKL"
            elif "blis" in name:
                kind = "BLIS"
            elif re.search(r"/blas/libblas\.so", path):
                kind = "the reference (netlib) BLAS: unoptimised"
            else:
                kind = None
            desc.append(f"`{path}`" + (f" ({kind})" if kind else ""))
        parts.append("loaded: " + ", ".join(desc))
    return "; ".join(parts) if parts else "unknown"


def render(args: argparse.Namespace, etg: dict, tor: dict, load_before, load_after,
           check_lines: list[str], checks_ok: bool) -> str:
    ctx = etg.get("context", {})
    cores = ctx.get("num_cpus") or os.cpu_count()
    mhz = ctx.get("mhz_per_cpu")
    compiler = args.compiler or ctx.get("etgrad_compiler") or "unknown (pass --compiler)"
    flags = args.flags or ctx.get("flags") or ctx.get("etgrad_flags") or "unknown (pass --flags)"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu_t, cpu_cv = etgrad_medians(etg, "cpu_time")
    real_t, _ = etgrad_medians(etg, "real_time")
    tres = tor.get("results", {})

    def load(la) -> str:
        return ", ".join(f"{v:.2f}" for v in la)

    lines = [
        f"<!-- BEGIN {SECTION} -->",
        f"## {SECTION}: etgrad against PyTorch, a 64 -> 32 -> 10 network (tanh, softmax cross-entropy)",
        "",
        f"- Machine: {cpu_model()}, {cores} cores"
        + (f" at {mhz:.0f} MHz" if isinstance(mhz, (int, float)) else "")
        + f", {platform.system()} {platform.machine()}",
        f"- etgrad: {compiler}, flags `{flags}`, SIMD {ctx.get('simd', 'unknown')}; "
        f"`{os.path.basename(args.binary)}` (bench/nn_bench.cpp)",
        f"- PyTorch: {tor.get('torch_version', '?')} on the CPU, {tor.get('num_threads', '?')} thread, "
        f"Python {tor.get('python', '?')} (bench/torch_nn_bench.py); BLAS: {torch_blas(tor)}",
        f"- Date: {date}, both in one sitting (etgrad first)",
        f"- Load average (1, 5, 15 min) on {cores} cores: {load(load_before)} before, "
        f"{load(load_after)} after",
        f"- Method: etgrad: Google Benchmark, median of {args.repetitions} repetitions (randomly "
        "interleaved), CPU time per call; PyTorch: after a warm-up, median of "
        f"{args.torch_repetitions if not args.quick else 5} repetitions, each timing back-to-back calls "
        "with time.process_time (CPU time, the same clock as etgrad's; wall time with "
        "time.perf_counter below); ratio = PyTorch / etgrad (above 1: etgrad is faster)",
        "- Data: 1437 samples of 64 features (synthetic: floor(U(0, 17)) / 16), labels 0..9; the same "
        "data and initial weights on both sides. Adam: minibatches are slices (subspans) of a copy "
        "of the data permuted once, before timing; training goes on from epoch to epoch",
    ]
    busy = max(load_before[0], load_after[0])
    if cores and busy > 0.5:
        lines.append(f"- Note: the machine is shared and was busy (load average up to {busy:.2f} on "
                     f"{cores} cores): treat the figures as rough")
    if args.quick:
        lines.append("- Note: a quick run (--quick): short repetitions, for checking the scripts only")
    if ctx.get("library_build_type") == "debug":
        lines.append("- Note: the Google Benchmark library reports a debug build (affects only its "
                     "own loop overhead)")
    if ctx.get("adam") and ctx.get("adam") != "yes":
        lines.append(f"- Note: etgrad's Adam epoch was not measured: {ctx['adam']}")
    lines.append("- Same losses: " + ("yes. " if checks_ok else "NO: the two programs differ. ")
                 + "; ".join(check_lines))
    lines += ["",
              "| measurement | etgrad | PyTorch | PyTorch / etgrad |",
              "| --- | ---: | ---: | ---: |"]
    other = []
    for label, bm, tm in ROWS:
        e = cpu_t.get(bm)
        t = tres.get(tm, {})
        tw, tc = t.get("wall_ns"), t.get("cpu_ns")
        lines.append(f"| {label} | {fmt_time(e)} | {fmt_time(tc)} | {fmt_ratio(tc, e)} |")
        other.append(
            f"| {label} | {fmt_time(real_t.get(bm))} | {fmt_time(tw)} | {fmt_ratio(tw, real_t.get(bm))} | "
            f"{fmt_cv(cpu_cv.get(bm))} / {fmt_cv(t.get('cv'))} |")
    lines += ["",
              "The same in wall-clock time (time spent descheduled on a shared machine counts here), "
              "and the spread of the repetitions:",
              "",
              "| measurement | etgrad wall | PyTorch wall | wall / wall | CV etgrad / PyTorch |",
              "| --- | ---: | ---: | ---: | ---: |",
              *other,
              "",
              "CV: coefficient of variation of the repetitions (standard deviation / mean).",
              f"<!-- END {SECTION} -->"]
    return "\n".join(lines) + "\n"


def compare_checks(etg: dict, tor: dict) -> tuple[list[str], bool]:
    ctx = etg.get("context", {})
    tc = tor.get("check", {})
    out, ok = [], True
    for ek, tk, tol, what in CHECKS:
        if ek not in ctx or tk not in tc:
            out.append(f"{what}: not compared (missing)")
            continue
        a, b = float(ctx[ek]), float(tc[tk])
        rel = abs(a - b) / max(abs(b), 1e-300)
        good = rel <= tol
        ok = ok and good
        out.append(f"{what} {a:.9g} / {b:.9g} (relative difference {rel:.1e}{'' if good else ', too large'})")
    return out, ok


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    etg = run_etgrad(args)
    tor = run_torch(args)
    load_after = os.getloadavg()
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump({"etgrad": etg, "torch": tor}, f, indent=1)
    check_lines, checks_ok = compare_checks(etg, tor)
    section = render(args, etg, tor, load_before, load_after, check_lines, checks_ok)
    write_section(args.results, SECTION, section)
    sys.stdout.write(section)
    print(f"updated {args.results}", file=sys.stderr)
    if not checks_ok:
        print("compare_torch.py: the losses of etgrad and PyTorch differ (see the section)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
