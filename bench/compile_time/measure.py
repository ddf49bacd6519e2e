#!/usr/bin/env python3
"""Compile-time benchmark of etgrad: time and memory of compiling gradients of growing expressions.

    python3 bench/compile_time/measure.py [--reps 3] [--compilers gcc,clang]
        [--cases n10,n50,n200,n400,n800,d1,...,d6] [--results bench/RESULTS.md] [--no-write]
        [--json out.json] [--from-json saved.json] [--workdir build/compile_time]

Cases: `nN` is gen_expr.py's N-node layered DAG (value_and_grad), `dK` the K-th symbolic derivative
of a 10-node expression (evaluated). Each case is compiled --reps times with each compiler
(`-std=c++20 -O2 -I include`) under /usr/bin/time; the medians of wall time, CPU time (user + sys)
and peak resident memory are reported. Each program is run once and must print finite numbers.
The growth order is fitted as the log-log slope of CPU time (and memory) against N and against K.

bench/compile_time/results.json holds the raw measurements behind the figures in RESULTS.md (written
with --json; --from-json re-renders the section from such a file without compiling).

The section between <!-- BEGIN compile_time --> and <!-- END compile_time --> of RESULTS.md is
replaced (appended when absent); this script is the only thing that writes it. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import gen_expr  # noqa: E402

SECTION = "compile_time"
COMPILERS = {"gcc": "g++", "clang": "clang++-16"}
FLAGS = ["-std=c++20", "-O2"]
ALL_CASES = ["n10", "n50", "n200", "n400", "n800", "d1", "d2", "d3", "d4", "d5", "d6", "t16", "t64", "t256",
             "b0", "b2", "b5", "chain500", "chain1000", "chain2000", "step200", "sum1000", "tree1000", "sum3000",
             "tree3000", "loop10", "loop100000"]
# Cases named by a word and a size (issue 14 items 2 and 3): gen_expr.py's generator of that name.
WORD_CASES = {"chain": "chain_program", "step": "step_program", "sum": "sum_program", "tree": "tree_program",
              "loop": "loop_program"}
TIME = "/usr/bin/time"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def compiler_version(cxx: str) -> str:
    out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


def word_case(case: str) -> tuple[str, int] | None:
    for word in WORD_CASES:
        if case.startswith(word) and case[len(word):].isdigit():
            return word, int(case[len(word):])
    return None


def program(case: str) -> tuple[str, int]:
    wc = word_case(case)
    if wc:
        return getattr(gen_expr, WORD_CASES[wc[0]])(wc[1])
    n = int(case[1:])
    return {"n": gen_expr.nodes_program, "d": gen_expr.deriv_program, "t": gen_expr.mlp_program,
            "b": gen_expr.bs_program}[case[0]](n)


def case_label(case: str) -> str:
    wc = word_case(case)
    if wc:
        return {"chain": "sin chain, depth {}", "step": "tanh step chain, {} steps",
                "sum": "sum of {} sin terms, one expression", "tree": "sum of {} sin terms, balanced tree",
                "loop": "oscillator eg::scan, n = {} (a literal)"}[wc[0]].format(wc[1])
    if case[0] == "t":
        return "mlp " + "-".join(str(d) for d in gen_expr.MLP_SIZES[int(case[1:])])
    if case[0] == "b":
        return "black-scholes value_and_grad" if case == "b0" else f"black-scholes hessian {case[1]}x{case[1]}"
    return f"nodes {case[1:]}" if case[0] == "n" else f"deriv {case[1:]}"


def compile_once(cxx: str, src: str, exe: str, include: str, timeout: float | None) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        cmd = [TIME, "-f", "%e %U %S %M", "-o", tf.name, cxx, *FLAGS, "-I", include,
               src, "-o", exe]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the compiler's own process group (started here)
            proc.communicate()
            return {"timeout": timeout}
        if proc.returncode != 0:
            # a compile-limit probe may fail (template depth, memory): reported, not fatal
            first = next((ln for ln in err.splitlines() if "error" in ln), err.strip()[-300:])
            print(f"measure.py: {' '.join(cmd)} failed:\n{err[-2000:]}", file=sys.stderr)
            return {"failed": first[:300]}
        fields = tf.read().split()[-4:]
    wall, user, sys_, rss = float(fields[0]), float(fields[1]), float(fields[2]), int(fields[3])
    return {"wall": wall, "cpu": user + sys_, "user": user, "sys": sys_, "rss_kb": rss}


def check_output(exe: str) -> str:
    out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout.strip()
    nums = out.split()
    if not nums:
        sys.exit(f"measure.py: {exe} printed nothing")
    for s in nums:
        v = float(s)
        if not math.isfinite(v):
            sys.exit(f"measure.py: {exe} printed a non-finite number: {out}")
    return out


def slope(xs: list[float], ys: list[float]) -> float | None:
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = statistics.fmean(p[0] for p in pts)
    my = statistics.fmean(p[1] for p in pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else None


def fmt_mib(kb: float) -> str:
    return f"{kb / 1024:.0f}"


def render(results: dict, reps: int, versions: dict, date: str, load: float | None) -> str:
    cores = os.cpu_count()
    lines = [
        f"<!-- BEGIN {SECTION} -->",
        "## compile_time: compiling gradients (bench/compile_time/measure.py)",
        "",
        f"- Machine: {cpu_model()}, {cores} cores (nproc), {platform.system()} {platform.machine()}",
        "- Compilers: " + "; ".join(f"{k}: {v}" for k, v in versions.items()),
        f"- Flags: `{' '.join(FLAGS)} -I include`",
        f"- Date: {date}",
        f"- Method: median of {reps} compilations per case under /usr/bin/time; CPU = user + sys; "
        "RSS = peak resident memory of the compiler; each program was run and printed finite numbers",
        "- Cases: `nodes N` = gen_expr.py's layered DAG of about N distinct nodes with shared "
        "subexpressions, `value_and_grad`; `deriv K` = the K-th symbolic derivative `eg::d` of a "
        "10-node expression, evaluated; `mlp I-H-O` = a tanh network's cross-entropy over 100 rows "
        "of data, `value_and_grad` with a parameter store (shaped variables: the sizes are in the "
        "types only, so the three should cost the same); `black-scholes` = one call's price from "
        "(S, K, sigma, r, T) with `value_and_grad`, its 2x2 Hessian in (S, sigma) and its 5x5 Hessian "
        "(forward-over-reverse: the gradient's sweep run on dual numbers)"
        "; `sin chain, depth D` = e_k = sin(e_{k-1}) in D named steps, `tanh step chain` = "
        "u_{k+1} = tanh(u_k) * x_{k mod 10} + u_k over 10 variables, `sum of N sin terms` = "
        "sin(x*1) + ... + sin(x*N) as one left-nested expression or as a balanced tree (issue 14 items 2, 3), "
        "each `value_and_grad`; `oscillator eg::scan, n = N` = examples/loops.cpp's damped oscillator, "
        "`value_and_grad` of `eg::scan(step, N).final(x)` with N written in the source (issue 12: the "
        "loop is one node, so N = 10 and N = 100000 must cost the same)",
    ]
    # The compilations run one at a time, so they alone make a load of about 1.
    if load is not None and load > 1.5:
        lines.append(f"- Note: the machine was shared (load average {load:.2f} on {cores} cores at the end, "
                     "about 1 of it this script's own compiler): wall times are noisy, CPU times less so")
    lines += ["", "| case | compiler | wall s | CPU s | peak RSS MiB |", "| --- | --- | ---: | ---: | ---: |"]
    for case in ALL_CASES:
        for comp in versions:
            r = results.get(comp, {}).get(case)
            if not r:
                continue
            label = case_label(case)
            if "timeout" in r:
                lines.append(f"| {label} | {comp} | > {r['timeout']:g} (stopped) | — | — |")
                continue
            if "failed" in r:
                msg = r["failed"].replace("|", "/")
                msg = msg[:120] + ("…" if len(msg) > 120 else "")
                lines.append(f"| {label} | {comp} | failed: {msg} | — | — |")
                continue
            lines.append(f"| {label} | {comp} | {r['wall']:.2f} | {r['cpu']:.2f} | {fmt_mib(r['rss_kb'])} |")
    lines += ["", "Growth (least-squares slope of log(cost) against log(size); 1 = linear, 2 = quadratic):", ""]
    for comp in versions:
        res = results.get(comp, {})
        for kind, prefix, what in (("nodes", "n", "N"), ("deriv", "d", "K")):
            cases = [c for c in ALL_CASES if c[0] == prefix and not word_case(c) and c in res
                     and "timeout" not in res[c] and "failed" not in res[c]]
            if kind == "nodes":
                # above 50 nodes: the smallest cases are dominated by the fixed cost of the headers
                cases = [c for c in cases if int(c[1:]) >= 50]
            xs = [float(c[1:]) for c in cases]
            s_cpu = slope(xs, [res[c]["cpu"] for c in cases])
            s_rss = slope(xs, [float(res[c]["rss_kb"]) for c in cases])
            if s_cpu is None:
                continue
            stopped = [c for c in ALL_CASES if c[0] == prefix and not word_case(c) and "timeout" in res.get(c, {})]
            rng = f"{what} = {cases[0][1:]}..{cases[-1][1:]}"
            local = ""
            if len(cases) >= 3:
                # the slope between the two largest cases: the growth where it matters
                l_cpu = slope(xs[-2:], [res[c]["cpu"] for c in cases[-2:]])
                l_rss = slope(xs[-2:], [float(res[c]["rss_kb"]) for c in cases[-2:]])
                local = (f"; between {what} = {cases[-2][1:]} and {cases[-1][1:]}: CPU time ~ {what}^{l_cpu:.2f}, "
                         f"peak memory ~ {what}^{l_rss:.2f}")
                base = res.get("n10")
                if kind == "nodes" and base and "timeout" not in base:
                    # the graph-dependent part: CPU time minus the nodes 10 figure (headers, fixed cost)
                    parts = [res[c]["cpu"] - base["cpu"] for c in cases[-2:]]
                    if min(parts) > 0:
                        g_cpu = slope(xs[-2:], parts)
                        local += f" (CPU time minus the `nodes 10` figure: ~ {what}^{g_cpu:.2f})"
            lines.append(f"- {comp}, {kind} ({rng}): CPU time ~ {what}^{s_cpu:.2f}, peak memory ~ {what}^{s_rss:.2f}"
                         + local + (f" (without {', '.join(stopped)}, stopped)" if stopped else ""))
    lines += ["",
              "The fixed cost (headers, about the `nodes 10` figure) is included in every figure, so "
              "the slopes understate the growth of the graph-dependent part; the figure in parentheses "
              "subtracts it. A slope between two sizes is a local exponent, not a proof of polynomial "
              "growth: the README (Compile time) says what governs it.",
              f"<!-- END {SECTION} -->"]
    return "\n".join(lines) + "\n"


def write_section(path: str, section: str) -> None:
    begin, end = f"<!-- BEGIN {SECTION} -->", f"<!-- END {SECTION} -->"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    b = text.find(begin)
    e = text.find(end, b) if b >= 0 else -1
    if b >= 0 and e >= 0:
        e += len(end)
        if text[e:e + 1] == "\n":
            e += 1
        text = text[:b] + section + text[e:]
    elif b >= 0 or text.find(end) >= 0:
        sys.exit(f"measure.py: {path} has an unmatched marker for {SECTION}; fix it by hand")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".RESULTS.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, os.stat(path).st_mode & 0o777)
    os.replace(tmp, path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3, help="compilations per case (median; default 3)")
    p.add_argument("--compilers", default="gcc,clang", help="comma-separated: gcc, clang")
    p.add_argument("--cases", default=",".join(ALL_CASES), help="comma-separated cases (default: all)")
    p.add_argument("--results", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    p.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md alone")
    p.add_argument("--json", help="also write the raw measurements to this file")
    p.add_argument("--timeout", type=float, default=None,
                   help="stop a compilation after this many seconds (reported as such)")
    p.add_argument("--workdir", default=os.path.join(ROOT, "build", "compile_time"))
    p.add_argument("--from-json",
                   help="do not compile: render the section from the measurements a --json run saved")
    p.add_argument("--update",
                   help="merge: measure only --cases, take the other cases from this saved --json file "
                        "(and write the merged measurements back to it)")
    p.add_argument("--include", default=os.path.join(ROOT, "include"),
                   help="etgrad's include directory (default: this checkout's; for comparisons)")
    args = p.parse_args()
    if not os.path.exists(TIME):
        sys.exit("measure.py: /usr/bin/time is missing (Debian package `time`)")
    comps = [c.strip() for c in args.compilers.split(",") if c.strip()]
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in cases:
        if c not in ALL_CASES:
            sys.exit(f"measure.py: unknown case {c} (known: {', '.join(ALL_CASES)})")
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as f:
            saved = json.load(f)
        section = render(saved["results"], saved["reps"], saved["versions"], saved["date"], saved["load"])
        if args.no_write:
            sys.stdout.write(section)
        else:
            write_section(args.results, section)
        return
    os.makedirs(args.workdir, exist_ok=True)
    versions = {c: compiler_version(COMPILERS[c]) for c in comps}
    results: dict = {c: {} for c in comps}
    for case in cases:
        text, _ = program(case)
        src = os.path.join(args.workdir, f"{case}.cpp")
        with open(src, "w", encoding="utf-8") as f:
            f.write(text)
        for comp in comps:
            exe = os.path.join(args.workdir, f"{case}_{comp}")
            runs = []
            for _ in range(args.reps):
                runs.append(compile_once(COMPILERS[comp], src, exe, args.include, args.timeout))
                if "timeout" in runs[-1] or "failed" in runs[-1]:
                    break
            if "failed" in runs[-1]:
                results[comp][case] = {"failed": runs[-1]["failed"]}
                print(f"{case:5} {comp:5} failed to compile: {runs[-1]['failed']}", flush=True)
                continue
            if "timeout" in runs[-1]:
                results[comp][case] = {"timeout": args.timeout}
                print(f"{case:5} {comp:5} did not finish within {args.timeout:g} s (stopped)", flush=True)
                continue
            out = check_output(exe)
            med = {k: statistics.median(r[k] for r in runs) for k in ("wall", "cpu", "user", "sys", "rss_kb")}
            med["runs"] = runs
            med["output"] = out
            results[comp][case] = med
            print(f"{case:5} {comp:5} wall {med['wall']:7.2f} s  cpu {med['cpu']:7.2f} s  "
                  f"rss {med['rss_kb'] / 1024:7.0f} MiB  (runs: "
                  + ", ".join(f"{r['wall']:.1f}/{r['cpu']:.1f}" for r in runs) + f")  -> {out}", flush=True)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    for comp in results:
        for r in results[comp].values():
            r["date"] = date
    if args.update:
        with open(args.update, encoding="utf-8") as f:
            saved = json.load(f)
        old_date = saved["date"]
        for comp, old in saved["results"].items():
            for case, r in old.items():
                r.setdefault("date", old_date)
                results.setdefault(comp, {}).setdefault(case, r)
        versions = {**saved["versions"], **versions}
        date = f"{old_date}; cases {', '.join(cases)} re-measured {date}"
        args.json = args.json or args.update
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"versions": versions, "flags": FLAGS, "results": results, "reps": args.reps,
                       "date": date, "load": load}, f, indent=1)
    section = render(results, args.reps, versions, date, load)
    if args.no_write:
        sys.stdout.write(section)
    else:
        write_section(args.results, section)
        print(f"measure.py: wrote the {SECTION} section of {args.results}")


if __name__ == "__main__":
    main()
