"""Micro-benchmark results (Google Benchmark JSON from dsa-micro-cuda) as one Markdown
table: benchmark, context (the benchmark's argument), time per launch in microseconds,
TFLOP/s and GB/s of the counted work, and any error a benchmark stopped with (a kernel
skipped because it hung in its first-run tests, no device). Benchmarks are grouped by
their argument so kernels measured at the same shape stand together. Then, for the
families that time a kernel under evaluation beside its default (PAIRS), the
candidate's speed-up at each context; for the families that time the first N kernels of
a multi-kernel launch (STAGES), each kernel's time by difference.

Standard library only: it runs on the GPU machine as well.
  python3 scripts/micro_table.py micro/*.json
Exit status 1 when a file holds no results (its table rows are missing), else 0.
"""
import json
import sys


def rows(docs):
    out = []
    for doc in docs:
        for b in doc.get("benchmarks", []):
            if b.get("run_type") == "aggregate":
                continue
            name = b.get("run_name") or b.get("name", "?")
            family, _, rest = name.partition("/")
            args = [a for a in rest.split("/") if a.isdigit()] if rest else []
            # The first argument is the context; any others (a stage count) stay in the
            # family's label, so the rows stay apart: BM_X/2 for BM_X/65536/2.
            if len(args) > 1:
                family += "/" + "/".join(args[1:])
            out.append((int(args[0]) if args else -1, family, b))
    return sorted(out, key=lambda r: (r[0], r[1]))


def us(b):
    """Time per iteration in microseconds, whatever unit the benchmark reported in."""
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}.get(b.get("time_unit", "ns"), 1e-3)
    t = b.get("real_time")
    return None if t is None else t * scale


def table(docs):
    lines = ["| benchmark | context | us | TFLOP/s | GB/s | note |", "|---|---|---|---|---|---|"]
    for arg, family, b in rows(docs):
        t = us(b)
        tflops, gbs = b.get("TFLOPS"), b.get("GB/s")
        note = b.get("error_message", "") if b.get("error_occurred") else ""
        lines.append(f"| {family} | {arg if arg >= 0 else ''} | {'' if t is None or note else f'{t:.1f}'} | "
                     f"{'' if tflops is None or note else f'{tflops:.1f}'} | {'' if gbs is None or note else f'{gbs:.0f}'} | {note} |")
    return "\n".join(lines) if len(lines) > 2 else "no micro-benchmark results"


# Families that time a kernel under evaluation and the validated default at one shape:
# (default, candidate). Their ratio at each context is what a promotion rests on.
PAIRS = [
    ("BM_CudaIndexerBatchWgmmaB64", "BM_CudaIndexerBatchKeyrowsB64"),
    ("BM_CudaIndexerBatchWgmmaB1", "BM_CudaIndexerBatchKeyrowsB1"),
    ("BM_CudaIndexerWgmmaPrefill4096", "BM_CudaIndexerKeyrowsPrefill4096"),
    ("BM_CudaTopkSample", "BM_CudaTopkFilter"),
    ("BM_CudaTopkSamplePrefill512", "BM_CudaTopkFilterPrefill512"),
    ("BM_CudaTopkSplitOneRow", "BM_CudaTopkFilterOneRow"),
    ("BM_CudaTopkSamplePrefill512", "BM_CudaTopkFilterFusedPrefill512"),
    ("BM_CudaTopkSplitOneRow", "BM_CudaTopkFilterFusedOneRow"),
]


# Families timing the first N kernels of a multi-kernel launch (second argument N): each
# kernel's time is the difference of consecutive rows.
STAGES = {
    "BM_CudaTopkFilterStagesPrefill512": ["bound", "filter", "select"],
}


def stage_lines(docs, stages=STAGES):
    """One line per staged family: each kernel's time by difference, at each context."""
    times = {}
    for arg, family, b in rows(docs):
        t = us(b)
        base, _, n = family.partition("/")
        if base in stages and n.isdigit() and not b.get("error_occurred") and t:
            times.setdefault((base, arg), {})[int(n)] = t
    lines = []
    for (base, arg), by_n in sorted(times.items()):
        names = stages[base]
        if any(n not in by_n for n in range(1, len(names) + 1)):
            continue
        parts = [f"{name} {by_n[i + 1] - (by_n[i] if i else 0.0):.1f} us" for i, name in enumerate(names)]
        lines.append(f"- {base} at {arg}: " + ", ".join(parts) + f" (all {by_n[len(names)]:.1f} us)")
    return lines


def comparisons(docs, pairs=PAIRS):
    """One line per pair both of whose families were timed at some context: the
    candidate's speed-up over the default (default time / candidate time) at each."""
    times = {}
    for arg, family, b in rows(docs):
        t = us(b)
        if not b.get("error_occurred") and t:
            times[(family, arg)] = t
    lines = []
    for base, cand in pairs:
        ctxs = sorted(a for (f, a) in times if f == cand and (base, a) in times)
        if not ctxs:
            continue
        ratios = [times[(base, a)] / times[(cand, a)] for a in ctxs]
        verdict = ("faster at every context" if min(ratios) > 1.0 else
                   "slower at every context" if max(ratios) < 1.0 else "faster at some contexts only")
        lines.append(f"- {cand} against {base}: " + ", ".join(f"{a}: {r:.2f}x" for a, r in zip(ctxs, ratios))
                     + f" ({verdict})")
    return lines


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    docs, missing = [], 0
    for path in argv[1:]:
        try:
            with open(path) as f:
                docs.append(json.load(f))
        except (OSError, ValueError) as e:
            print(f"{path}: no results ({e}): the benchmark's process crashed or was stopped", file=sys.stderr)
            missing += 1
    print(table(docs))
    lines = comparisons(docs)
    if lines:
        print("\nSpeed-up of each kernel under evaluation over the default (default time / its time):")
        print("\n".join(lines))
    lines = stage_lines(docs)
    if lines:
        print("\nEach kernel of a multi-kernel launch (the difference of its stage rows):")
        print("\n".join(lines))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
