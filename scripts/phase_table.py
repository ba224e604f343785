"""Where a kernel's time goes: the table of the *Phases micro-benchmarks (dsa-micro-cuda
--benchmark_filter=Phases, Google Benchmark JSON). Each benchmark ran a profiled
instantiation of a kernel (kernels/cuda/phase_clock.cuh): its `<phase>_us` counters are
microseconds per row (top-k) or per key step and warpgroup (attention; the epilogue per
warpgroup; the seesaw kernel per round of two tiles, its phases named by warpgroup).
Phases are listed largest first with their share of the per-unit total (per warpgroup
where they are named wgN_...: those run side by side), then the other counters (the
plain kernel's time, rows that fell back, ...).

Standard library only: it runs on the GPU machine as well.
  python3 scripts/phase_table.py phases/*.json
"""
import json
import re
import sys


def rows(doc):
    for b in doc.get("benchmarks", []):
        if b.get("run_type") == "aggregate":
            continue
        yield b


def groups(phases):
    """Phases named wgN_... belong to warpgroup N, which runs beside the others (the
    seesaw kernel): each group is ranked and totalled on its own. Others form one group."""
    out = {}
    for name, us in phases.items():
        head = name.split("_", 1)[0]
        key = head if re.fullmatch(r"wg\d+", head) else ""
        out.setdefault(key, {})[name] = us
    return [out[k] for k in sorted(out)]


def render(doc):
    lines = []
    for b in rows(doc):
        lines.append(f"{b['name']}: {b.get('real_time', 0):.2f} {b.get('time_unit', '')} per launch (profiled)")
        if b.get("error_occurred") or b.get("error_message"):
            lines.append(f"  ERROR: {b.get('error_message', 'failed')}")
            continue
        phases = {k[:-3]: float(v) for k, v in b.items() if k.endswith("_us") and k != "plain_us"}
        if not phases:
            lines.append("  no phase counters (was the profiled kernel run?)")
        for group in groups(phases):
            total = sum(group.values())
            for name, us in sorted(group.items(), key=lambda kv: -kv[1]):
                share = 100.0 * us / total if total > 0 else 0.0
                lines.append(f"  {name:22} {us:10.3f} us  {share:5.1f}%")
            lines.append(f"  {'total':22} {total:10.3f} us")
        skip = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations",
                "real_time", "cpu_time", "time_unit", "family_index", "per_family_instance_index",
                "error_occurred", "error_message"}
        rest = [f"{k} {float(v):.4g}" for k, v in sorted(b.items())
                if k not in skip and not (k.endswith("_us") and k != "plain_us") and isinstance(v, (int, float))]
        if rest:
            lines.append("  " + "  ".join(rest))
    return "\n".join(lines)


def main(argv):
    """Each file's table in turn (gpu-check writes one file per benchmark, each from a
    process of its own); a file that is missing or not complete JSON (its process
    crashed or was stopped) is named and the others still print. Exit 1 if any was, or
    if any benchmark reported an error."""
    if len(argv) < 2:
        print("usage: phase_table.py PHASES.json [PHASES.json ...]", file=sys.stderr)
        return 2
    rc = 0
    for path in argv[1:]:
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{path}: no complete Google Benchmark JSON (the benchmark crashed or was stopped?): {e}",
                  file=sys.stderr)
            rc = 1
            continue
        text = render(doc)
        if not text:
            print(f"{path}: no benchmarks", file=sys.stderr)
            rc = 1
            continue
        print(text)
        if any(b.get("error_occurred") or b.get("error_message") for b in rows(doc)):
            rc = 1  # a profiled kernel that disagreed with its plain one, or no device
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
