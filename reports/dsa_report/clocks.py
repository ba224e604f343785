"""The SM clock a GPU run read after each timed sample (dsa-bench records it for op cases
and for each side of a sweep point), so a throttled series can be told from a slow kernel:
a run whose clock fell during some series' samples timed those at a lower clock than the
rest of the run, and a comparison that finds them slower may be finding the machine.

The labels match compare's timed series: "" for an op case, "@CONTEXT dense" and
"@CONTEXT dsa" for a sweep point.
"""
from __future__ import annotations

# A series whose lowest clock is this far under the run's highest is called throttled
# (the H100 runs of 2026-11-23 held 1,980 MHz, with at most a 2.3% dip, in a 7-sample
# dense MHA prefill at 64K).
THROTTLE_DROP = 0.05


def _valid(values):
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0]


def series(case: dict) -> dict:
    """{label: [MHz, ...]} of a case's timed series that recorded clocks."""
    out = {}
    if _valid(case.get("sm_clock_mhz") or []):
        out[""] = _valid(case["sm_clock_mhz"])
    for p in case.get("points", []):
        for side in ("dense", "dsa"):
            clocks = _valid((p.get(side) or {}).get("sm_clock_mhz") or []) if isinstance(p.get(side), dict) else []
            if clocks:
                out[f"@{p.get('context')} {side}"] = clocks
    return out


def run_peak(doc: dict) -> int | None:
    """The highest clock any series of the run read, or None where none recorded one."""
    peaks = [max(v) for c in doc.get("cases", []) for v in series(c).values()]
    return max(peaks) if peaks else None


def throttled(doc: dict, drop: float = THROTTLE_DROP) -> list[dict]:
    """The series whose lowest clock fell more than `drop` under the run's highest."""
    peak = run_peak(doc)
    if peak is None:
        return []
    out = []
    for c in doc.get("cases", []):
        for label, clocks in series(c).items():
            if min(clocks) < (1.0 - drop) * peak:
                out.append({"case": c["name"], "series": label, "min_mhz": min(clocks), "max_mhz": max(clocks),
                            "run_peak_mhz": peak})
    return out


def summary_lines(doc: dict) -> list[str]:
    """Markdown: the clock range over the run's timed samples and the throttled series."""
    peak = run_peak(doc)
    if peak is None:
        return []
    lows = [min(v) for c in doc.get("cases", []) for v in series(c).values()]
    n = len(lows)
    lines = [f"SM clock after the timed samples: {min(lows):,} to {peak:,} MHz over {n} series."]
    hot = throttled(doc)
    if not hot:
        lines[0] += f" None fell more than {100 * THROTTLE_DROP:.0f}% under the run's highest."
        return lines + [""]
    lines[0] += (f" {len(hot)} fell more than {100 * THROTTLE_DROP:.0f}% under the run's highest (throttling: their "
                 f"times are slower than the kernel at the run's clock):")
    lines += [""] + [f"- {h['case']}{' ' + h['series'] if h['series'] else ''}: {h['min_mhz']:,} to {h['max_mhz']:,} MHz"
                     for h in hot]
    return lines + [""]


def fell_below(base_case: dict, cur_case: dict, label: str, drop: float = THROTTLE_DROP) -> str | None:
    """Why a slower series may be the machine's: the current run's clock during it fell
    more than `drop` under the baseline's highest for the same series."""
    cur, base = series(cur_case).get(label), series(base_case).get(label)
    if not cur or not base or min(cur) >= (1.0 - drop) * max(base):
        return None
    return f"SM clock fell to {min(cur):,} MHz during these samples (baseline up to {max(base):,} MHz)"
