#!/usr/bin/env python3
"""Run one etgrad benchmark binary and rewrite its section of bench/RESULTS.md.

    /usr/bin/python3 bench/run_benchmarks.py build/bench/etgrad_bench_scalar \
        [--results bench/RESULTS.md] [--compiler "GCC 12.2.0"] [--flags=-O3]

(Write --flags=VALUE with "=": the value starts with a dash.)

The binary runs with --benchmark_repetitions=15 --benchmark_report_aggregates_only=true
--benchmark_format=json and, unless --no-interleave, --benchmark_enable_random_interleaving=true
(repetitions of all benchmarks run in random order, so a burst of load from elsewhere on the
machine falls on both halves of a pair alike). The median CPU time of each benchmark is kept
(--time real for wall time: the benchmarks are single-threaded and the machines are shared, so
time spent descheduled is not the code's), with its coefficient of variation across the
repetitions as a measure of noise.

Benchmarks are named BM_<problem>_<impl>[_<variant>][/<args>] with <impl> "hand" or "etgrad".
Each hand/etgrad pair with the same variant makes one row ("logreg", "logreg (value)"); a hand
variant with no etgrad counterpart (say BM_x_hand_simd) is compared with the plain BM_x_etgrad;
an etgrad variant with no hand counterpart is listed alone.

The section between <!-- BEGIN <binary-name> --> and <!-- END <binary-name> --> is replaced (the
file and the section are created when absent); the rest of the file is left as it is. This script
is the only thing that writes figures into RESULTS.md. Standard library only.
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
import tempfile
from typing import Optional, Tuple

NAME_RE = re.compile(r"^BM_(?P<problem>.+?)_(?P<impl>hand|etgrad)(?:_(?P<variant>\w+))?$")
TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
FILE_HEADER = (
    "# etgrad benchmark results\n\n"
    "Written by `bench/run_benchmarks.py` only: do not edit the figures by hand. Each section\n"
    "belongs to one benchmark binary; rerun the script with that binary to refresh it.\n"
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("binary", help="benchmark executable to run")
    p.add_argument("--results", default=os.path.join(here, "RESULTS.md"),
                   help="markdown file to update (default: RESULTS.md beside this script)")
    p.add_argument("--name", help="section name (default: the binary's file name)")
    p.add_argument("--compiler", help="compiler and version (default: from the JSON context)")
    p.add_argument("--flags", help="compile flags (default: from the JSON context)")
    p.add_argument("--repetitions", type=int, default=15, help="repetitions (default 15)")
    p.add_argument("--min-time", type=float,
                   help="passed as --benchmark_min_time (seconds per repetition)")
    p.add_argument("--no-interleave", action="store_true",
                   help="run each benchmark's repetitions back to back (no random interleaving)")
    p.add_argument("--filter", help="passed as --benchmark_filter (a regex)")
    p.add_argument("--time", choices=("cpu", "real"), default="cpu",
                   help="which time to report (default cpu)")
    p.add_argument("--json-out", help="also save the binary's raw JSON output here")
    return p.parse_args(argv)


def run_binary(args: argparse.Namespace) -> dict:
    cmd = [os.path.abspath(args.binary),
           f"--benchmark_repetitions={args.repetitions}",
           "--benchmark_report_aggregates_only=true",
           "--benchmark_format=json"]
    if not args.no_interleave:
        cmd.append("--benchmark_enable_random_interleaving=true")
    if args.min_time is not None:
        cmd.append(f"--benchmark_min_time={args.min_time}")
    if args.filter:
        cmd.append(f"--benchmark_filter={args.filter}")
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # stderr passes through
    if proc.returncode != 0:
        sys.exit(f"run_benchmarks.py: {args.binary} exited with status {proc.returncode}; "
                 "RESULTS.md left unchanged")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            f.write(proc.stdout)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        sys.exit(f"run_benchmarks.py: cannot parse the JSON output of {args.binary}: {e}")


def median_times(report: dict, key: str) -> tuple[dict[str, float], dict[str, float]]:
    """(name -> median time in ns, name -> coefficient of variation), in the order the benchmarks
    are registered in the binary (not the order they ran: interleaving shuffles that)."""
    entries = sorted(report.get("benchmarks", []),
                     key=lambda b: (b.get("family_index", 0), b.get("per_family_instance_index", 0)))
    medians: dict[str, float] = {}
    cvs: dict[str, float] = {}
    singles: dict[str, float] = {}
    for b in entries:
        if b.get("error_occurred"):
            print(f"warning: {b.get('name')} reported an error: {b.get('error_message')}",
                  file=sys.stderr)
            continue
        name = b.get("run_name") or b["name"]
        # A benchmark timed by the wall clock (UseRealTime: threads) keeps its wall time.
        k = "real_time" if name.endswith("/real_time") and key == "cpu_time" else key
        ns = float(b[k]) * TO_NS[b.get("time_unit", "ns")]
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = ns
            elif b.get("aggregate_name") == "cv":
                cvs[name] = float(b[key])  # a ratio, whatever time_unit says
        else:
            singles.setdefault(name, ns)  # only with --repetitions=1 (no aggregates then)
    return (medians, cvs) if medians else (singles, {})


Row = Tuple[str, Optional[str], Optional[str]]  # label, hand benchmark name, etgrad benchmark name


def pair_rows(times: dict[str, float]) -> list[Row]:
    """Table rows, following the naming rule in the module docstring."""
    groups: dict[str, dict[str, dict[str, str]]] = {}
    for name, ns in times.items():
        base, slash, bench_args = name.partition("/")
        m = NAME_RE.match(base)
        if not m:
            print(f"warning: {name} does not follow BM_<problem>_<hand|etgrad>[_<variant>]; "
                  "left out of the table", file=sys.stderr)
            continue
        problem = m["problem"] + slash + bench_args
        g = groups.setdefault(problem, {"hand": {}, "etgrad": {}})
        g[m["impl"]][m["variant"] or ""] = name
    rows = []
    for problem, g in groups.items():
        hand, etg = g["hand"], g["etgrad"]
        variants = list(dict.fromkeys([*hand, *etg]))
        for v in variants:
            if v in hand and v in etg:
                rows.append((f"{problem} ({v})" if v else problem, hand[v], etg[v]))
            elif v in hand and "" in etg:
                rows.append((f"{problem} (hand_{v} vs etgrad)", hand[v], etg[""]))
            elif v in hand:
                rows.append((f"{problem} (hand_{v})" if v else problem, hand[v], None))
            else:
                rows.append((f"{problem} (etgrad_{v})" if v else problem, None, etg[v]))
    return rows


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Processor", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def fmt_ns(ns: float | None) -> str:
    if ns is None:
        return "—"
    if ns >= 100:
        return f"{ns:.0f}"
    if ns >= 10:
        return f"{ns:.1f}"
    return f"{ns:.2f}"


def fmt_cv(cv: float | None) -> str:
    return "—" if cv is None else f"{100 * cv:.1f}%"


def threads_table(rows: list[Row], real: dict[str, float]) -> list[str]:
    """Rows of etgrad variants par<N> (benchmarks timed by the wall clock, names ending in
    /real_time) against the same problem's one-thread etgrad call, both by wall time."""
    out = []
    for label, _, etg in rows:
        m = re.match(r"(?P<base>BM_\w+_etgrad)_par(?P<n>\d+)(?P<args>(?:/\d+)*)/real_time$", etg or "")
        if not m:
            continue
        one = real.get(m["base"] + m["args"])
        many = real.get(etg)
        if one is None or many is None:
            continue
        out.append(f"| {m['base'][3:-7]}{m['args']} | {fmt_ns(one)} | {m['n']} | {fmt_ns(many)} | "
                   f"{one / many:.2f} |")
    if not out:
        return []
    return ["", "Threads (`eg::par(N)`, wall time; the one-thread call's wall time beside it):", "",
            "| problem | 1 thread ns | threads | ns | speed-up |", "| --- | ---: | ---: | ---: | ---: |", *out]


def primal_table(times: dict[str, float]) -> list[str]:
    """Gradient/primal: each BM_<p>_etgrad[/args] over BM_<p>_etgrad_value[/args] (the value alone),
    and, where a problem has them, the hand-written BM_<p>_hand_simd over BM_<p>_hand_simdvalue (a
    SIMD loop for the value alone: for a memory-bound problem, the floor of the ratio)."""
    out = []
    for name, ns in times.items():
        base, slash, bench_args = name.partition("/")
        m = re.match(r"^BM_(?P<p>.+?)_etgrad$", base)
        if not m:
            continue
        prim = times.get(f"BM_{m['p']}_etgrad_value{slash}{bench_args}")
        if prim is None:
            continue
        hv = times.get(f"BM_{m['p']}_hand_simdvalue{slash}{bench_args}")
        hg = times.get(f"BM_{m['p']}_hand_simd{slash}{bench_args}")
        hand = f"{hg / hv:.2f}" if hv and hg else "—"
        out.append(f"| {m['p']}{slash}{bench_args} | {fmt_ns(ns)} | {fmt_ns(prim)} | {ns / prim:.2f} | {hand} |")
    if not out:
        return []
    return ["", "Gradient/primal (etgrad's value and gradient over etgrad's value alone; the hand-written "
            "ratio where a SIMD value-only loop exists):", "",
            "| problem | etgrad value+gradient ns | etgrad value ns | etgrad ratio | hand ratio |",
            "| --- | ---: | ---: | ---: | ---: |", *out]


def render_section(name: str, args: argparse.Namespace, report: dict, rows: list[Row],
                   times: dict[str, float], cvs: dict[str, float], have_medians: bool,
                   real_times: dict[str, float] | None = None) -> str:
    ctx = report.get("context", {})
    cores = ctx.get("num_cpus") or os.cpu_count()
    mhz = ctx.get("mhz_per_cpu")
    compiler = args.compiler or ctx.get("etgrad_compiler") or "unknown (pass --compiler)"
    flags = args.flags or ctx.get("etgrad_flags") or "unknown (pass --flags)"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if have_medians:
        method = f"median of {args.repetitions} repetitions, {args.time} time per call"
    else:
        method = f"a single repetition (no median), {args.time} time per call"
    method += ", repetitions randomly interleaved" if not args.no_interleave else ""
    if args.min_time is not None:
        method += f", --benchmark_min_time={args.min_time:g}"
        if args.min_time < 0.1:
            method += " (a short run)"
    if args.filter:
        method += f", only benchmarks matching `{args.filter}`"
    lines = [
        f"<!-- BEGIN {name} -->",
        f"## {name}",
        "",
        f"- Machine: {cpu_model()}, {cores} cores"
        + (f" at {mhz:.0f} MHz" if isinstance(mhz, (int, float)) else "")
        + f", {platform.system()} {platform.machine()}",
        f"- Compiler: {compiler}",
        f"- Flags: `{flags}`",
        f"- Date: {date}",
        f"- Method: {method}; ratio = etgrad / hand (below 1: etgrad is faster)",
    ]
    load = ctx.get("load_avg") or []
    if load and cores and load[0] > 0.5:
        lines.append(f"- Note: the machine was busy (load average {load[0]:.2f} on {cores} cores "
                     "at the start): treat the figures as rough, and see the CV column")
    if ctx.get("cpu_scaling_enabled"):
        lines.append("- Note: CPU frequency scaling was enabled during the run")
    if ctx.get("library_build_type") == "debug":
        lines.append("- Note: the Google Benchmark library reports a debug build (affects only "
                     "its own loop overhead, the same for both columns)")
    lines += ["",
              "| problem | hand ns | etgrad ns | ratio etgrad/hand | CV hand / etgrad |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for label, hand_name, etg_name in rows:
        hand = times.get(hand_name) if hand_name else None
        etg = times.get(etg_name) if etg_name else None
        ratio = f"{etg / hand:.2f}" if hand and etg is not None else "—"
        cv = f"{fmt_cv(cvs.get(hand_name))} / {fmt_cv(cvs.get(etg_name))}" if cvs else "—"
        lines.append(f"| {label} | {fmt_ns(hand)} | {fmt_ns(etg)} | {ratio} | {cv} |")
    lines.append("")
    lines.append("CV: coefficient of variation of the repetitions (standard deviation / mean).")
    lines += threads_table(rows, real_times or {})
    lines += primal_table(times)
    lines.append(f"<!-- END {name} -->")
    return "\n".join(lines) + "\n"


def write_section(path: str, name: str, section: str) -> None:
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = FILE_HEADER
    b = text.find(begin)
    e = text.find(end, b) if b >= 0 else -1
    if b >= 0 and e >= 0:
        e += len(end)
        if text[e:e + 1] == "\n":
            e += 1
        text = text[:b] + section + text[e:]
    elif b >= 0 or text.find(end) >= 0:
        sys.exit(f"run_benchmarks.py: {path} has an unmatched marker for {name}; fix it by hand")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".RESULTS.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)  # mkstemp makes the file 0600
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    name = args.name or os.path.basename(args.binary)
    report = run_binary(args)
    times, cvs = median_times(report, f"{args.time}_time")
    if not times:
        sys.exit("run_benchmarks.py: the binary reported no benchmark; RESULTS.md left unchanged")
    have_medians = any(b.get("aggregate_name") == "median" for b in report.get("benchmarks", []))
    rows = pair_rows(times)
    real_times, _ = median_times(report, "real_time")
    section = render_section(name, args, report, rows, times, cvs, have_medians, real_times)
    write_section(args.results, name, section)
    sys.stdout.write(section)
    print(f"updated {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
