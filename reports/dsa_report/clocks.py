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


def _all_series(doc: dict) -> list:
    """(case name, label, clocks) of every series of a run that recorded clocks."""
    return [(c["name"], label, v) for c in doc.get("cases", []) for label, v in series(c).items()]


def _throttled(found: list, drop: float) -> list[dict]:
    peak = max(max(v) for _, _, v in found)
    return [{"case": name, "series": label, "min_mhz": min(v), "max_mhz": max(v), "run_peak_mhz": peak}
            for name, label, v in found if min(v) < (1.0 - drop) * peak]


def throttled(doc: dict, drop: float = THROTTLE_DROP) -> list[dict]:
    """The series whose lowest clock fell more than `drop` under the run's highest."""
    found = _all_series(doc)
    return _throttled(found, drop) if found else []


def summary_lines(doc: dict) -> list[str]:
    """Markdown: the clock range over the run's timed samples and the throttled series."""
    found = _all_series(doc)
    if not found:
        return []
    peak = max(max(v) for _, _, v in found)
    lines = [f"SM clock after the timed samples: {min(min(v) for _, _, v in found):,} to {peak:,} MHz over "
             f"{len(found)} series."]
    hot = _throttled(found, THROTTLE_DROP)
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
