#!/usr/bin/python3
"""Interleaved A/B regression gate: two dsa-bench builds timed on this machine, case by
case, for several rounds, then compared (reports/dsa_report/compare.py) on one value a
round per series, the round's median. scripts/run.sh SUITE --against REV builds REV and
calls this.

Why: a shared machine runs each process at a speed of its own (on 2026-12-06 this 2-core
one ran unchanged code 1.2 to 2.4 times as slowly as a baseline stored an hour before, and
a top-k case at 0.53, 0.65 or 0.80 ms a sample by process, whichever build), which no
stored baseline, one process, can be told apart from. Here each side runs every case in
several processes, back to back with the other side's, the order alternating, and the
gate compares the rounds' medians (reports/dsa_report/rounds.py): the process is the unit.

usage: ab_run.py SUITE BASE_BENCH CURRENT_BENCH OUT_DIR [--rounds N (6)] [--json OUT.json]
                 [-- DSA_BENCH_RUN_ARGS...]

Writes OUT_DIR/{base,current}/rN/<case>.json (each case's run by each build in each
round) and, with --json, the verdicts as JSON; prints the comparison (Markdown, as
`dsa-report compare` does); exits with its status
(0 no regression, 1 a regression, a failed case, or a case the current build cannot run;
2 could not compare: no case both builds ran, bad arguments; 130 interrupted). A case the
baseline build cannot run (exit 2: an older build and a newer suite field) is left out and
listed.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "reports"))
from dsa_report import compare, load, rounds  # noqa: E402
from dsa_report.cli import write_json  # noqa: E402

SIDES = ("base", "current")


def case_names(bench, suite, run_args):
    """The suite's cases a run with `run_args` (its --filter) would take, from `dsa-bench list`."""
    listing = [bench, "list", suite]
    if "--filter" in run_args:
        i = run_args.index("--filter")
        listing += run_args[i:i + 2]
    p = subprocess.run(listing, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"ab_run: {' '.join(listing)} failed (exit {p.returncode}): {p.stderr.strip()}", file=sys.stderr)
        return []
    return [m.group(1) for line in p.stdout.splitlines() if (m := re.match(r"\s+\d+\s+(\S+)\s", line))]


def without_filter(run_args):
    out, skip = [], False
    for a in run_args:
        if skip:
            skip = False
        elif a == "--filter":
            skip = True
        else:
            out.append(a)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("suite")
    ap.add_argument("base_bench")
    ap.add_argument("current_bench")
    ap.add_argument("out_dir")
    ap.add_argument("--rounds", type=int, default=6,
                    help="rounds of every case on each side (default 6: the gate's rank test compares one value a "
                         "round, the round's median, and needs 5 a side to reach p < 0.01)")
    ap.add_argument("--json", help="also write the verdicts as JSON here")
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:cut])  # after --: options for `dsa-bench run`
    run_args = argv[cut + 1:]
    if a.rounds < 1:
        ap.error("--rounds takes a positive integer")
    for b in (a.base_bench, a.current_bench):
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            print(f"ab_run: {b}: not an executable dsa-bench", file=sys.stderr)
            return 2
    names = case_names(a.current_bench, a.suite, run_args)
    if not names:
        print(f"ab_run: {a.suite}: no case selected", file=sys.stderr)
        return 2
    per_case = without_filter(run_args)
    # dsa-bench refuses an option given twice with different values.
    default_backend = [] if "--backend" in per_case else ["--backend", "auto"]
    bench = {"base": a.base_bench, "current": a.current_bench}
    files = {s: [{} for _ in range(a.rounds)] for s in SIDES}  # side -> round -> case -> path
    not_run = {}  # case -> why: a build could not run it (exit 2: a suite or case it cannot read)
    total, done, t0 = a.rounds * len(names), 0, time.monotonic()
    for r in range(a.rounds):
        for i, name in enumerate(names):
            done += 1
            if name in not_run:
                continue
            # Alternate which build goes first, so neither always runs right after the other
            # (a spell that begins or ends mid-pair falls on each side as often).
            order = SIDES if (r + i) % 2 == 0 else SIDES[::-1]
            took = {}
            for side in order:
                path = os.path.join(a.out_dir, side, f"r{r + 1}", f"{name}.json")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                cmd = [bench[side], "run", a.suite, "--filter", f"^{re.escape(name)}$", "--out", path,
                       "--quiet"] + default_backend + per_case
                s0 = time.monotonic()
                p = subprocess.run(cmd, capture_output=True, text=True)
                took[side] = time.monotonic() - s0
                if p.returncode == 2 or not os.path.exists(path):
                    # Bad usage, or a suite or case this build cannot read (an older build and
                    # a newer field): the case is left out on both sides, and said so.
                    not_run[name] = (f"the {side} build could not run it (exit {p.returncode}): "
                                     f"{(p.stderr or p.stdout).strip()[-600:]}")
                    print(f"ab_run: {name}: {not_run[name]}", file=sys.stderr)
                    break
                files[side][r][name] = path
            elapsed = time.monotonic() - t0
            if name not in not_run:
                print(f"[{done}/{total}] round {r + 1}, {name}: base {took['base']:.1f} s, current "
                      f"{took['current']:.1f} s | elapsed {elapsed:.0f} s, ETA {elapsed / done * (total - done):.0f} s",
                      file=sys.stderr, flush=True)
    ran = [n for n in names if n not in not_run]
    if not ran:
        print(f"ab_run: no case of {a.suite} ran with both builds", file=sys.stderr)
        return 2
    try:
        pooled = {s: rounds.pool([load.load_many([files[s][r][n] for n in ran]) for r in range(a.rounds)])
                  for s in SIDES}
        result = compare.compare(pooled["base"], pooled["current"])
    except load.ResultsError as e:
        print(f"ab_run: {e}", file=sys.stderr)
        return 2
    result["interleaved_rounds"] = a.rounds
    result["not_run"] = [{"case": n, "why": w} for n, w in not_run.items()]
    if any(w.startswith("the current build") for w in not_run.values()):
        result["exit_code"] = 1  # this build cannot run a case of its own suite: a failure, whatever the timings
    rounds_words = f"{a.rounds} round{'s' if a.rounds > 1 else ''} a case"
    text = compare.markdown(result).replace(
        "# Regression check:",
        f"# Regression check, interleaved ({rounds_words}, builds alternating, one value a round: its median):", 1)
    if not_run:
        text += "\n".join(["", "Not compared (a build could not run them):"] +
                          [f"- {n}: {w.splitlines()[0]}" for n, w in not_run.items()]) + "\n"
    write_json(a.json, result)
    print(text)
    return result["exit_code"]


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C: dsa-bench finishes its case; nothing is compared
        print("ab_run: interrupted; nothing compared", file=sys.stderr)
        sys.exit(130)
