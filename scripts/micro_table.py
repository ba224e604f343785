"""Micro-benchmark results (Google Benchmark JSON from dsa-micro-cuda) as one Markdown
table: benchmark, context (the benchmark's argument), time per launch in microseconds,
TFLOP/s and GB/s of the counted work, and any error a benchmark stopped with (a kernel
skipped because it hung in its first-run tests, no device). Benchmarks are grouped by
their argument so kernels measured at the same shape stand together.

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
            arg = rest.split("/", 1)[0] if rest else ""
            out.append((int(arg) if arg.isdigit() else -1, family, b))
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
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
