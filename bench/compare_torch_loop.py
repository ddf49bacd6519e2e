#!/usr/bin/python3
"""etgrad's run-time-length loop against the same loop in PyTorch, in one sitting, into RESULTS.md.

    /usr/bin/python3 bench/compare_torch_loop.py build/bench/etgrad_bench_loop [--results bench/RESULTS.md]

Runs the etgrad binary (BM_oscillator_etgrad and BM_oscillator_hand: value and gradient of the
damped oscillator, n = 10^4; Google Benchmark, 9 repetitions, median CPU time) and then
bench/torch_loop_bench.py (the same loop as a dynamic PyTorch graph, one thread, float64, median
CPU time), checks that both give the same x_n, and rewrites the section between
<!-- BEGIN torch_loop --> and <!-- END torch_loop --> of RESULTS.md. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_benchmarks import TO_NS, cpu_model, write_section  # noqa: E402

SECTION = "torch_loop"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("binary")
    p.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    p.add_argument("--compiler", default="")
    p.add_argument("--flags", default="")
    a = p.parse_args(argv)
    load_before = os.getloadavg()
    out = subprocess.run([a.binary, "--benchmark_format=json", "--benchmark_repetitions=9",
                          "--benchmark_report_aggregates_only=true",
                          "--benchmark_filter=BM_oscillator_(hand|etgrad)(_value)?/"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    etg = json.loads(out)
    med = {}
    for b in etg["benchmarks"]:
        if b.get("aggregate_name") == "median":
            med[b["run_name"].split("/")[0]] = b["cpu_time"] * TO_NS[b["time_unit"]]
    tor = json.loads(subprocess.run(["/usr/bin/python3", os.path.join(HERE, "torch_loop_bench.py")],
                                    stdout=subprocess.PIPE, text=True, check=True).stdout)
    load_after = os.getloadavg()
    t = tor["results"]["oscillator_value_and_grad"]["cpu_ns"]
    ctx = etg.get("context", {})
    e, h = med.get("BM_oscillator_etgrad"), med.get("BM_oscillator_hand")
    ev, hv = med.get("BM_oscillator_etgrad_value"), med.get("BM_oscillator_hand_value")

    def us(ns: float) -> str:
        return f"{ns / 1e3:.1f} µs" if ns < 1e6 else f"{ns / 1e6:.1f} ms"

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"<!-- BEGIN {SECTION} -->",
        f"## {SECTION}: a loop of run-time length (damped oscillator, n = 10^4), etgrad against hand-written "
        "code and PyTorch",
        "",
        f"- Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}",
        f"- etgrad: {a.compiler or 'compiler from the build'}, flags `{a.flags or ctx.get('flags', '?')}`, "
        f"SIMD {ctx.get('simd', '?')}; `{os.path.basename(a.binary)}` (bench/loop_bench.cpp)",
        f"- PyTorch: {tor.get('torch_version', '?')}, 1 thread, float64, a Python loop building the graph, "
        "then backward (bench/torch_loop_bench.py)",
        f"- Date: {date}, one sitting; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        f"(on {os.cpu_count()} cores)",
        "- Method: median CPU time per call (value x_n and its gradient with respect to k, c, x0, v0); "
        "etgrad: Google Benchmark, 9 repetitions; PyTorch: after a warm-up, 7 repetitions, time.process_time",
        "",
        "| measurement | etgrad | other | other / etgrad |",
        "| --- | ---: | ---: | ---: |",
        f"| value and gradient, against hand-written forward + reverse loops | {us(e)} | {us(h)} | {h / e:.2f} |",
        f"| value only, against a hand-written loop | {us(ev)} | {us(hv)} | {hv / ev:.2f} |",
        f"| value and gradient, against PyTorch | {us(e)} | {us(t)} | {t / e:.0f} |",
        f"<!-- END {SECTION} -->",
    ]
    section = "\n".join(lines) + "\n"
    write_section(a.results, SECTION, section)
    sys.stdout.write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
