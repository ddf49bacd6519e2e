#!/usr/bin/env python3
"""Instruction counts per call of the scalar benchmarks (valgrind --tool=callgrind), written to
their own section of bench/RESULTS.md. Deterministic: the same binary gives the same counts on a
busy machine, so they complement the timings of run_benchmarks.py. Standard library only.

usage: instruction_counts.py <etgrad_bench_scalar_icount binary> [--results bench/RESULTS.md]
                             [--compiler "GCC 12.2.0"] [--flags=-O3]
"""
import argparse
import datetime
import os
import re
import subprocess

FUNCS = ["logreg_hand", "logreg_hand_chain", "logreg_etgrad", "rosen2_hand", "rosen2_etgrad",
         "rosen10_hand", "rosen10_etgrad", "shared30_hand", "shared30_etgrad",
         "black_scholes_hand", "black_scholes_hand_chain", "black_scholes_etgrad"]
CALLS = 20000


def collected(binary, arg):
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", binary, arg],
                         capture_output=True, text=True, check=True).stderr
    return int(re.search(r"Collected : (\d+)", out).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--results", default=os.path.join(os.path.dirname(__file__), "RESULTS.md"))
    ap.add_argument("--compiler", default="unknown compiler")
    ap.add_argument("--flags", default="-O3")
    a = ap.parse_args()
    base = collected(a.binary, "none")
    per = {f: (collected(a.binary, f) - base) / CALLS for f in FUNCS}
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    for prob in ["logreg", "rosen2", "rosen10", "shared30", "black_scholes"]:
        et = per[f"{prob}_etgrad"]
        for hand in ["hand", "hand_chain"]:
            key = f"{prob}_{hand}"
            if key in per:
                label = prob if hand == "hand" else f"{prob} (chain rule by hand)"
                rows.append(f"| {label} | {per[key]:.0f} | {et:.0f} | {et / per[key]:.2f} |")
    name = "etgrad_bench_scalar_icount"
    section = "\n".join([
        f"<!-- BEGIN {name} -->",
        f"## {name}: instructions per call",
        "",
        f"- Machine: {cpu}, {os.cpu_count()} cores",
        f"- Compiler: {a.compiler}",
        f"- Flags: `{a.flags}`",
        f"- Date: {date}",
        f"- Method: valgrind callgrind, instructions of {CALLS} calls minus an empty run, per call",
        "",
        "| problem | hand | etgrad | ratio etgrad/hand |",
        "| --- | ---: | ---: | ---: |",
        *rows,
        f"<!-- END {name} -->",
    ])
    text = open(a.results).read() if os.path.exists(a.results) else "# etgrad benchmark results\n"
    pat = re.compile(rf"<!-- BEGIN {name} -->.*?<!-- END {name} -->", re.S)
    text = pat.sub(section, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
    open(a.results, "w").write(text)
    print(section)


if __name__ == "__main__":
    main()
