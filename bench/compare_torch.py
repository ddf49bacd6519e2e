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
each measurement over its repetitions, with time.perf_counter, once per BLAS library found
(--blas; by default the reference BLAS, Debian's default, and OpenBLAS, installed by
`apt-get install libopenblas0-pthread`). The table compares them,
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

# Debian's python3-torch calls libblas.so.3, whichever alternative provides it: the reference
# (netlib) BLAS of libblas3, which Debian's default installation has, or OpenBLAS
# (libopenblas0-pthread). PyTorch runs once per library present, each chosen by LD_LIBRARY_PATH,
# so the table holds both whatever the machine's alternative says.
# LAPACK follows (OpenBLAS's liblapack.so.3 would load OpenBLAS beside the reference BLAS).
DEFAULT_BLAS = [("reference BLAS", "/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack"),
                ("OpenBLAS", "/usr/lib/x86_64-linux-gnu/openblas-pthread")]

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
    p.add_argument("--blas", action="append", metavar="NAME=DIR",
                   help="run PyTorch once more with DIR first on LD_LIBRARY_PATH, so that its "
                        "libblas.so.3 is DIR's (repeatable; default: each of " +
                        ", ".join(f"{n}={d}" for n, d in DEFAULT_BLAS) + " that exists)")
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


def blas_choices(args: argparse.Namespace) -> list[tuple[str, str]]:
    if args.blas:
        out = []
        for item in args.blas:
            name, sep, path = item.partition("=")
            if not sep or not os.path.isfile(os.path.join(path.split(":")[0], "libblas.so.3")):
                sys.exit(f"compare_torch.py: --blas {item}: expected NAME=DIR[:DIR...], the first "
                         "with libblas.so.3")
            out.append((name, path))
        return out
    found = [(n, d) for n, d in DEFAULT_BLAS
             if os.path.isfile(os.path.join(d.split(":")[0], "libblas.so.3"))]
    return found or [("default BLAS", "")]


def run_torch(args: argparse.Namespace, blas_dir: str) -> dict:
    cmd = [args.python, args.torch_script, f"--repetitions={args.torch_repetitions}"]
    if args.quick:
        cmd.append("--quick")
    env = dict(os.environ)
    # One thread on both sides (torch.set_num_threads(1) does not reach OpenBLAS's own pool).
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if blas_dir:
        env["LD_LIBRARY_PATH"] = blas_dir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    print("running:", ("LD_LIBRARY_PATH=" + blas_dir + " ") if blas_dir else "", " ".join(cmd),
          file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
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


def render(args: argparse.Namespace, etg: dict, tors: list[tuple[str, dict]], load_before, load_after,
           check_lines: list[str], checks_ok: bool) -> str:
    ctx = etg.get("context", {})
    cores = ctx.get("num_cpus") or os.cpu_count()
    mhz = ctx.get("mhz_per_cpu")
    compiler = args.compiler or ctx.get("etgrad_compiler") or "unknown (pass --compiler)"
    flags = args.flags or ctx.get("flags") or ctx.get("etgrad_flags") or "unknown (pass --flags)"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu_t, cpu_cv = etgrad_medians(etg, "cpu_time")
    real_t, _ = etgrad_medians(etg, "real_time")
    tor = tors[0][1]

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
        f"Python {tor.get('python', '?')} (bench/torch_nn_bench.py), run once per BLAS "
        "(LD_LIBRARY_PATH, OPENBLAS_NUM_THREADS=1):",
        *[f"  - {name}: {torch_blas(t)}" for name, t in tors],
        f"- Date: {date}, all in one sitting (etgrad first)",
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
              "| measurement | etgrad | " + " | ".join(f"PyTorch, {n} | PyTorch ({n}) / etgrad" for n, _ in tors) + " |",
              "| --- | ---: | " + " | ".join("---: | ---:" for _ in tors) + " |"]
    other = []
    for label, bm, tm in ROWS:
        e = cpu_t.get(bm)
        cells, wcells, cvs = [], [], []
        for _, t in tors:
            r = t.get("results", {}).get(tm, {})
            cells.append(f"{fmt_time(r.get('cpu_ns'))} | {fmt_ratio(r.get('cpu_ns'), e)}")
            wcells.append(f"{fmt_time(r.get('wall_ns'))} | {fmt_ratio(r.get('wall_ns'), real_t.get(bm))}")
            cvs.append(fmt_cv(r.get("cv")))
        lines.append(f"| {label} | {fmt_time(e)} | " + " | ".join(cells) + " |")
        other.append(f"| {label} | {fmt_time(real_t.get(bm))} | " + " | ".join(wcells) + " | "
                     f"{fmt_cv(cpu_cv.get(bm))} / " + " / ".join(cvs) + " |")
    lines += ["",
              "The same in wall-clock time (time spent descheduled on a shared machine counts here), "
              "and the spread of the repetitions:",
              "",
              "| measurement | etgrad wall | " + " | ".join(f"PyTorch wall, {n} | wall / wall" for n, _ in tors)
              + " | CV etgrad / " + " / ".join(n for n, _ in tors) + " |",
              "| --- | ---: | " + " | ".join("---: | ---:" for _ in tors) + " | ---: |",
              *other,
              "",
              "CV: coefficient of variation of the repetitions (standard deviation / mean).",
              f"<!-- END {SECTION} -->"]
    return "\n".join(lines) + "\n"


def compare_checks(etg: dict, tors: list[tuple[str, dict]]) -> tuple[list[str], bool]:
    ctx = etg.get("context", {})
    out, ok = [], True
    for (name, tor), (ek, tk, tol, what) in ((t, c) for t in tors for c in CHECKS):
        what = f"{what} ({name})"
        tc = tor.get("check", {})
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
    tors = [(name, run_torch(args, d)) for name, d in blas_choices(args)]
    load_after = os.getloadavg()
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump({"etgrad": etg, "torch": dict(tors)}, f, indent=1)
    check_lines, checks_ok = compare_checks(etg, tors)
    section = render(args, etg, tors, load_before, load_after, check_lines, checks_ok)
    write_section(args.results, SECTION, section)
    sys.stdout.write(section)
    print(f"updated {args.results}", file=sys.stderr)
    if not checks_ok:
        print("compare_torch.py: the losses of etgrad and PyTorch differ (see the section)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
