"""Regression gate for nightly runs: a current results file against a baseline.

Cases are matched by name, and must have the same parameters (timing settings aside);
a case whose parameters changed is reported as such, not compared. For every timed
series (a single op's samples; each point's dense and DSA samples of a sweep or model
run) the raw samples are compared:

  SLOWER / FASTER  Mann-Whitney U two-sided p < alpha and the median moved by at least
                   min_change (relative), up / down;
  SAME             the median moved by less than min_change;
  AMBIGUOUS        it moved by at least min_change but p >= alpha (too few or too noisy
                   samples to tell; with 3 samples a side p cannot go below 0.1);
  NOISE            SLOWER, but a re-run of the case (`confirm`) was not slower than the
                   baseline: not counted as a regression.
FAIL: the current case failed, errored or ran out of memory (a tolerance now exceeded),
whatever its timings. Exit status: 1 on any SLOWER, FAIL or WORSE (below), or when the
current run did not complete (interrupted: the cases it did not reach went unchecked),
else 0. A comparison with nothing to compare (no case in common, or none timed or
compared for accuracy on both sides: a wrong baseline, or a GPU suite run without a GPU)
is an error (ResultsError, exit 2), not a pass.

The samples of one run say nothing of how much a whole run moves from one run to the
next, which is what a gate must not mistake for a regression: two back-to-back runs of
the smoke suite on the CPU of a shared 2-core machine (2026-11-23) moved its series by
-15% to +9% with the same code, and with 5 samples a side the rank test called five of
them SLOWER. Hence min_change defaults by backend (DEFAULT_MIN_CHANGE: 15% on the CPU,
5% on a GPU, whose kernels are timed cold and settle to a few percent), and scripts/run.sh
re-runs the cases that came out slower and keeps only those slower again (`confirm`).

That was not enough: on 2026-12-06 the same machine ran the smoke suite's unchanged code
1.2 to 2.4 times as slowly as its baseline, from one process to the next and for minutes
at a time, every series alike (+17% to +35% in one run), each run's samples tight, and
the re-run as slow: twenty SLOWER of 29. Loops of register arithmetic and of memory
sweeps timed between those runs did not follow (they moved by 10-20%, not 2x), so no
probe of the machine tells its state; the run itself does. Hence the run-wide shift, for
CPU cases (RUN_SHIFT_BACKENDS): when at least RUN_SHIFT_MIN_SERIES series are compared
and three quarters of them are slower by at least some change q (q >= RUN_SHIFT_FLOOR),
every series is judged on its samples divided by 1 + q, i.e. on its change beyond the
run's (the re-run's too, by the same q). A regression of what half the series share (a
kernel under every DSA point) leaves q near zero and is judged as before; a change that
slows every kernel alike cannot be told from the machine this way, which the output
says, and a changed compiler, build type, thread count or CPU (SAME_BUILD_KEYS) turns
the shift off, as does an A/B run (rounds.py: both builds timed side by side, so a shift
of the whole run is the code's). Only slower runs are corrected: a faster one judged raw
can hide a regression but never invents one. GPU cases get no shift: their runs on the
recorded H100 held to a few percent, and their SM clocks say when the machine throttled.

A stored baseline is still one process against one, and on such a machine a process's
speed is its own: scripts/run.sh SUITE --against REV times both builds side by side,
several processes each (scripts/ab_run.py, rounds.py), and a CPU regression found here
names that command.

Accuracy and memory, figure by figure (no samples to test: each is one deterministic
value per run), with a tolerance each (ACCURACY_METRICS, MEASURED_PEAK_TOL and
ACCOUNTED_TOL below); a figure past it in the bad direction is WORSE (exit status 1),
in the good one BETTER (reported, not an error: still a change to explain).
- DSA's deltas against dense (a sweep point's relative L2, attention-mass recall and
  top-k overlap; a model point's mean KL, top-1 agreement and hidden-state relative L2),
  where both runs drew the same inputs (the same case seed). On the same inputs they are
  the algorithm's, not the kernels': the H100 sweeps of 2026-11-22 and -23, with other
  indexer, top-k and attention kernels, agree to 2e-4 relative (relative L2) and 2e-5
  (recall); the tolerances are about a hundred times that.
- Memory: the cache and workspace bytes a sweep point accounts for and a model's cache
  bytes per token (computed from the formats: 1%), and the measured peaks, host and
  device, of a case, a point and each attention mode of a model point (10% and 8 MiB;
  back-to-back CPU runs of the smoke suite moved them by about 1%). Host peaks count for
  CPU cases only, not where a run could not restart the peak per case (then it is the
  process's), and not between a build with the CUDA backend and one without (the CUDA
  runtime's 160 MB).

With by_params, cases are paired by op and parameters instead, the variant names
(implementation, implementations) and backends aside: a run of kernels under evaluation
(suites/candidates.json) against the defaults' run (suites/nightly.json), whose cases
have other names but the same shapes. FASTER then means the candidate beats the default.
"""
from __future__ import annotations

import json
import math
import statistics

from scipy.stats import mannwhitneyu

from . import clocks, load


def _params(c):
    return {k: v for k, v in c.get("params", {}).items() if k != "timing"}


def _series(c):
    """(label, samples) of every timed series of a case."""
    out = []
    t = c.get("timing")
    if t:
        out.append(("", t["samples_s"]))
    for p in c.get("points", []):
        for side in ("dense", "dsa"):
            st = p.get(side, {}).get("timing") if isinstance(p.get(side), dict) else None
            if st:
                out.append((f"@{p['context']} {side}", st["samples_s"]))
    return out


# The smallest relative change of a median that counts, by the case's backend, unless the
# caller gives one for all (see the module's notes).
DEFAULT_MIN_CHANGE = {"cpu": 0.15, "cuda": 0.05}
FALLBACK_MIN_CHANGE = 0.05


def min_change_for(case, min_change=None):
    if min_change is not None:
        return min_change
    return DEFAULT_MIN_CHANGE.get(case.get("backend"), FALLBACK_MIN_CHANGE)


# The run-wide shift (see the module's notes): applied to the series of these backends,
# when at least this many were compared, and when three quarters of them (the lower
# quartile of their changes) moved up by at least RUN_SHIFT_FLOOR.
RUN_SHIFT_BACKENDS = ("cpu",)
RUN_SHIFT_MIN_SERIES = 8
RUN_SHIFT_FLOOR = 0.03
# Provenance that must be the same on both sides for a shift to be the machine's: a
# compiler, build or thread count that changed would slow every kernel alike too.
SAME_BUILD_KEYS = ("compiler", "build_type", "threads", "cpu_model", "hardware_threads")


def run_shift(changes, base, cur, backend):
    """How much the whole current run was slower than the baseline on `backend`, from the
    raw median changes of its series: the lower quartile when positive (three quarters of
    the series moved up by at least that much), as {"series", "lower_quartile", "shift"
    (0 where not applied), "note"}."""
    info = {"series": len(changes), "lower_quartile": None, "shift": 0.0, "note": ""}
    if backend not in RUN_SHIFT_BACKENDS:
        return dict(info, note="not estimated on this backend (dedicated GPUs hold their speed: see the clocks)")
    if cur.get("pooled_rounds") or base.get("pooled_rounds"):
        # Both builds timed side by side (scripts/ab_run.py): the machine's spells fall on both,
        # so a shift of the whole run is the code's.
        return dict(info, note="not estimated: both builds were timed side by side, so a shift of the whole run "
                               "is the code's")
    if len(changes) < RUN_SHIFT_MIN_SERIES:
        return dict(info, note=f"not estimated: {len(changes)} series, fewer than {RUN_SHIFT_MIN_SERIES}")
    logs = sorted(math.log1p(c) for c in changes if c > -1.0 and math.isfinite(c))
    # The largest change that at least three quarters of the series reach (no interpolation).
    q = math.expm1(logs[len(logs) - math.ceil(0.75 * len(logs))]) if logs else 0.0
    info["lower_quartile"] = q
    if q < RUN_SHIFT_FLOOR:
        return dict(info, note="not applied: fewer than three quarters of the series are slower by "
                               f"{100 * RUN_SHIFT_FLOOR:.0f}% or more")
    pb, pc = base.get("provenance", {}), cur.get("provenance", {})
    for key in SAME_BUILD_KEYS:
        if pb.get(key) != pc.get(key):
            return dict(info, note=f"not applied: the {key.replace('_', ' ')} differs ({pb.get(key)!r} in the "
                                   f"baseline, {pc.get(key)!r} now), which could slow every kernel alike")
    return dict(info, shift=q, note="applied")


def classify(base, cur, alpha=0.01, min_change=0.05):
    mb, mc = statistics.median(base), statistics.median(cur)
    change = mc / mb - 1.0 if mb > 0 else math.inf
    p = math.nan
    if len(base) >= 2 and len(cur) >= 2:
        p = float(mannwhitneyu(base, cur, alternative="two-sided").pvalue)
    if change == 0 or abs(change) < min_change:  # with --min-change 0, an unmoved median is still SAME
        verdict = "SAME"
    elif not math.isnan(p) and p < alpha:
        verdict = "SLOWER" if change > 0 else "FASTER"
    else:
        verdict = "AMBIGUOUS"
    return {"baseline_median_s": mb, "current_median_s": mc, "change": change, "p_value": p, "verdict": verdict}


_NOT_SHAPE = ("timing", "implementation", "implementations", "backends")


def _shape_key(c):
    p = {k: v for k, v in c.get("params", {}).items() if k not in _NOT_SHAPE}
    return json.dumps({"op": c.get("op"), "params": p}, sort_keys=True)


def _pairs(base, cur, by_params):
    """(label, baseline case, current case) pairs, and the names left unpaired on each side."""
    if not by_params:
        bcases = {c["name"]: c for c in base["cases"]}
        cnames = {c["name"] for c in cur["cases"]}
        pairs = [(c["name"], bcases[c["name"]], c) for c in cur["cases"] if c["name"] in bcases]
        return pairs, [n for n in bcases if n not in cnames], [c["name"] for c in cur["cases"] if c["name"] not in bcases]
    by_key = {}
    for b in base["cases"]:
        by_key.setdefault(_shape_key(b), b)  # the first of equal shapes
    pairs, used = [], set()
    for c in cur["cases"]:
        b = by_key.get(_shape_key(c))
        if b is not None:
            pairs.append((f"{c['name']} vs {b['name']}", b, c))
            used.add(b["name"])
    paired = {c["name"] for _, _, c in pairs}
    return (pairs, [b["name"] for b in base["cases"] if b["name"] not in used],
            [c["name"] for c in cur["cases"] if c["name"] not in paired])


# DSA's accuracy against dense at a point: (label, keys into the point's "accuracy", +1
# when a larger value is worse / -1 when a smaller one is, absolute tolerance, relative
# tolerance). top-1 agreement's absolute tolerance is one and a half tokens of the
# point's count (one flipped near-tie passes) or 0.2%, whichever is more: on dsa-small's
# 131,072 positions a change of the forward's rounding (the H100 runs before and after
# the 2026-11-23 embedding fix) moved it by 0.027%, a few near-ties of many.
ACCURACY_METRICS = [
    ("rel_l2", ("rel_l2",), +1, 1e-4, 0.02),
    ("mass recall", ("attention_mass_recall", "mean"), -1, 0.005, 0.0),
    ("top-k overlap", ("topk_overlap", "mean"), -1, 0.005, 0.0),
    ("KL mean", ("kl_mean",), +1, 1e-4, 0.10),
    ("top-1 agreement", ("top1_agreement",), -1, None, 0.0),
    ("hidden rel_l2", ("rel_l2_mean",), +1, 1e-4, 0.02),
]
# Memory: (absolute, relative) tolerance of a measured peak and of bytes accounted from
# the formats; more is worse.
MEASURED_PEAK_TOL = (8 * 2**20, 0.10)
ACCOUNTED_TOL = (0.0, 0.01)


def _number(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _metric(acc, keys):
    v = acc
    for k in keys:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return _number(v)


def _point_label(p):
    return f"@{p.get('context')}" + (f" batch {p['batch']}" if p.get("batch", 1) not in (None, 1) else "")


def _figures(case, accuracy, host_peaks):
    """{label: (value, group, worse_sign, tolerance (absolute, relative))} of a case: its
    accuracy against dense (when `accuracy`) and its memory (host peaks when `host_peaks`
    and the case ran on the CPU: a GPU run's host peak is mostly the CUDA runtime's, which
    a driver update moves, while its data lives in the device peak)."""
    out = {}
    host_peaks = host_peaks and load.case_backend(case) == "cpu"

    def memory(prefix, mem, accounted=()):
        if not isinstance(mem, dict):
            return
        peaks = (("device_peak_bytes", "device peak"),) + ((("peak_rss_bytes", "host peak"),) if host_peaks else ())
        for key, label in peaks:
            if (v := _number(mem.get(key))) is not None:
                out[f"{prefix}{label}"] = (v, "memory", +1, MEASURED_PEAK_TOL)
        for side in accounted:
            for key in ("cache_bytes", "workspace_bytes"):
                v = _number(mem.get(side, {}).get(key)) if isinstance(mem.get(side), dict) else None
                if v is not None:
                    out[f"{prefix}{side} {key.replace('_bytes', '')} bytes"] = (v, "memory", +1, ACCOUNTED_TOL)

    memory("", case.get("memory"))
    for p in case.get("points", []):
        at = _point_label(p) + " "
        memory(at, p.get("memory"), accounted=("dense", "dsa"))
        for side in ("dense", "dsa"):  # a model point: each attention mode's own peak and cache
            if not isinstance(p.get(side), dict):
                continue
            memory(f"{at}{side} ", p[side].get("memory"))
            per_token = _number((p[side].get("cache") or {}).get("bytes_per_token"))
            if per_token is not None:
                out[f"{at}{side} cache bytes per token"] = (per_token, "memory", +1, ACCOUNTED_TOL)
        acc = p.get("accuracy")
        if accuracy and isinstance(acc, dict):
            for label, keys, sign, abs_tol, rel_tol in ACCURACY_METRICS:
                v = _metric(acc, keys)
                if v is not None:
                    if abs_tol is None:  # top-1 agreement over `count` next tokens
                        abs_tol = max(0.002, 1.5 / max(1, int(acc.get("count", 1))))
                    out[f"{at}{label}"] = (v, "accuracy", sign, (abs_tol, rel_tol))
    return out


def _per_case_peaks(doc):
    """False where some case says its host peak is the process's, not its own."""
    def flags(m):
        return [m["peak_is_per_case"]] if isinstance(m, dict) and "peak_is_per_case" in m else []
    return all(all(flags(c.get("memory")) + [f for p in c.get("points", []) for f in flags(p.get("memory"))])
               for c in doc.get("cases", []))


def figure_rows(name, b, c, accuracy=True, host_peaks=True):
    """(rows of the figures beyond their tolerance, figures compared by group) for two runs
    of one case: accuracy against dense (when the runs drew the same inputs) and memory."""
    fb, fc = _figures(b, accuracy, host_peaks), _figures(c, accuracy, host_peaks)
    rows, compared = [], {"accuracy": 0, "memory": 0}
    for label, (vc, group, sign, (abs_tol, rel_tol)) in fc.items():
        if label not in fb:
            continue
        vb = fb[label][0]
        tol = abs_tol + rel_tol * abs(vb)
        compared[group] += 1
        if abs(vc - vb) > tol:
            rows.append({"case": name, "series": label, "group": group,
                         "verdict": "WORSE" if (vc - vb) * sign > 0 else "BETTER",
                         "baseline": vb, "current": vc, "tolerance": tol})
    return rows, compared


def _backend_move(b, c):
    """None when both runs of a case ran on one backend; else ("FAIL", why) for a case the
    baseline ran on the GPU and the current run on the CPU (a GPU kernel no longer takes
    its shape, say: what the GPU ran before it no longer does, and a CPU time against a
    GPU one would only read as SLOWER by a factor), or ("NOTE", why) the other way round,
    whose times and host peaks are not compared either."""
    was, now = load.case_backend(b), load.case_backend(c)
    if was == now or "not recorded" in (was, now):
        return None
    why = f" ({c['backend_fallback']})" if c.get("backend_fallback") else ""
    if was == "cuda":
        return "FAIL", f"ran on {now} now, on {was} in the baseline{why}"
    return "NOTE", f"ran on {now} now, on {was} in the baseline: times and host memory not compared"


def compare(base: dict, cur: dict, alpha=0.01, min_change=None, allow_device_mismatch=False, by_params=False,
            confirm: dict | None = None) -> dict:
    """min_change None: by each case's backend (DEFAULT_MIN_CHANGE). confirm: a re-run of
    some of the current cases (same names): a SLOWER series of a case it holds stays
    SLOWER only if it is SLOWER there too against the baseline, else it is NOISE."""
    db, dc = load.device_name(base), load.device_name(cur)
    for doc in (cur,) + ((confirm,) if confirm is not None else ()):
        d = load.device_name(doc)
        if d != db and not allow_device_mismatch:
            raise load.ResultsError(f"the results come from different devices ({db} vs {d}); timings are not "
                                    f"comparable (pass --allow-device-mismatch to compare anyway)")
    # --short times up to 10 samples after at most one warm-up (a smoke check): such times
    # against a full run's came out SLOWER by up to 40% on 2026-12-07 with nothing changed.
    modes_b, modes_c = load.short_modes(base), load.short_modes(cur)
    timings_comparable = modes_b == modes_c and len(modes_b) == 1
    modes_r = load.short_modes(confirm) if confirm is not None else modes_c
    if modes_r != modes_c:
        raise load.ResultsError(f"the re-run ran {load.mode_text(modes_r)} and the current run "
                                f"{load.mode_text(modes_c)}: a re-run confirms only a run made the same way")
    again = {c["name"]: c for c in confirm["cases"]} if confirm is not None else {}
    pairs, only_base, only_cur = _pairs(base, cur, by_params)
    rows, timed, notes, fig_rows, fig_compared = [], [], [], [], {"accuracy": 0, "memory": 0}
    if not timings_comparable:
        notes.append({"case": "(timings)", "note": f"not compared: the baseline ran {load.mode_text(modes_b)} and the "
                                                   f"current run {load.mode_text(modes_c)} (--short: at most 1 warm-up and "
                                                   f"10 samples, a smoke check's times); run both the same way"})
    # A build with the CUDA backend holds the CUDA runtime (about 160 MB on 2026-12-06) even
    # in a CPU run: host peaks of two builds compare only if both have it or neither does.
    host_peaks = (_per_case_peaks(base) and _per_case_peaks(cur) and
                  base["provenance"].get("cuda_backend_built") == cur["provenance"].get("cuda_backend_built"))
    for name, b, c in pairs:
        if _params(b) != _params(c) and not by_params:
            notes.append({"case": name, "note": "parameters changed: not compared"})
            continue
        if c["status"] in load.FAILING:
            was = "already failing" if b["status"] in load.FAILING else f"was {b['status']}"
            rows.append({"case": name, "series": "", "verdict": "FAIL",
                         "detail": f"{c['status']} ({was}): {c.get('reason', '')}"})
            continue
        if c["status"] in ("interrupted", "running"):
            # The run stopped during it: a sweep's finished points are still compared below.
            notes.append({"case": name, "note": f"{c['status']} ({c.get('reason', 'the run stopped during it')}): "
                                                f"only what it recorded before is compared"})
        if c["status"] in load.NOT_RUN and b["status"] not in load.NOT_RUN:
            notes.append({"case": name, "note": f"not run now ({c['status']}: {c.get('reason', '')}); ran in the baseline"})
            continue
        if b["status"] in load.FAILING and c["status"] not in load.NOT_RUN:
            notes.append({"case": name, "note": f"fixed: {c['status']} now, {b['status']} in the baseline "
                                                f"({b.get('reason', '')})"})
        moved = _backend_move(b, c)
        if moved and moved[0] == "FAIL":
            rows.append({"case": name, "series": "", "verdict": "FAIL", "detail": moved[1]})
            continue
        if moved:
            notes.append({"case": name, "note": moved[1]})
        same_inputs = b.get("seed") is None or c.get("seed") is None or b["seed"] == c["seed"]
        if not same_inputs and any("accuracy" in p for p in c.get("points", [])):
            notes.append({"case": name, "note": f"other inputs (seed {c['seed']} against {b['seed']}): "
                                                f"accuracy against dense not compared"})
        r_fig, n_fig = figure_rows(name, b, c, accuracy=same_inputs, host_peaks=host_peaks and not moved)
        fig_rows += r_fig
        for group, n in n_fig.items():
            fig_compared[group] += n
        bs = dict(_series(b))
        rerun = dict(_series(again[c["name"]])) if c["name"] in again else {}
        for label, samples in (_series(c) if timings_comparable and not moved else []):
            if label in bs and bs[label] and samples:
                timed.append({"case": name, "series": label, "base": bs[label], "cur": samples,
                              "rerun": rerun.get(label), "backend": load.case_backend(c),
                              "min_change": min_change_for(c, min_change), "b": b, "c": c})
    # The whole run's shift, by backend, from the raw changes of its medians; each series is
    # then judged on its samples divided by (1 + shift): its change beyond the run's.
    changes = {}
    for t in timed:
        t["raw"] = classify(t["base"], t["cur"], alpha, t["min_change"])
        changes.setdefault(t["backend"], []).append(t["raw"]["change"])
    shifts = {k: run_shift(v, base, cur, k) for k, v in changes.items()}
    for t in timed:
        factor = 1.0 + shifts[t["backend"]]["shift"]
        raw = t["raw"]
        r = classify(t["base"], [x / factor for x in t["cur"]], alpha, t["min_change"]) if factor != 1.0 else raw
        r.update({"case": t["case"], "series": t["series"], "backend": t["backend"], "min_change": t["min_change"],
                  "current_median_s": raw["current_median_s"], "change": raw["change"]})
        if factor != 1.0:
            r["change_beyond_run"] = (1.0 + raw["change"]) / factor - 1.0
        if r["verdict"] == "SLOWER" and (why := clocks.fell_below(t["b"], t["c"], t["series"])):
            r["clock"] = why
        if r["verdict"] == "SLOWER" and t["rerun"]:
            # The re-run is judged beyond the same shift: its few cases, all picked for being
            # slow, cannot tell the machine's speed by themselves.
            r2 = classify(t["base"], [x / factor for x in t["rerun"]], alpha, t["min_change"])
            mb = raw["baseline_median_s"]
            r["rerun"] = {"change": statistics.median(t["rerun"]) / mb - 1.0 if mb > 0 else math.inf,
                          "p_value": r2["p_value"], "verdict": r2["verdict"]}
            if r2["verdict"] != "SLOWER":
                r["verdict"] = "NOISE"
        rows.append(r)
    if not rows and not fig_compared["accuracy"]:  # memory alone does not make a regression check
        # A gate that compared nothing would pass whatever happened: say so, loudly.
        why = ("no case of the current run is in the baseline" + (" with the same op and parameters" if by_params
                                                                 else " under the same name") if not pairs else
               "no case was timed on both sides (" + "; ".join(f"{n['case']}: {n['note']}" for n in notes[:3]) +
               (f"; and {len(notes) - 3} more" if len(notes) > 3 else "") + ")")
        raise load.ResultsError(f"nothing to compare: {why} (baseline suite {base['suite']['name']!r}, current "
                                f"suite {cur['suite']['name']!r})")
    counts = {}
    for r in rows + fig_rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    bad = counts.get("SLOWER", 0) + counts.get("FAIL", 0) + counts.get("WORSE", 0)
    incomplete = cur.get("run_status") != "complete"
    if incomplete:  # a cut run must not pass the gate on the cases it reached
        notes.insert(0, {"case": "(the current run)",
                         "note": f"did not complete (run_status {cur.get('run_status')!r}): the cases it did not "
                                 f"reach were not compared; exit status 1"})
    return {"paired_by": "params" if by_params else "name",
            "rounds": cur.get("pooled_rounds", 1),
            "baseline": {"device": db, "commit": load.short_commit(base), "suite": base["suite"]["name"]},
            "current": {"device": dc, "commit": load.short_commit(cur), "suite": cur["suite"]["name"],
                        "filter": cur["suite"].get("filter", "")},
            "confirmed_by_rerun": confirm is not None, "timings_compared": timings_comparable,
            "alpha": alpha, "min_change": min_change if min_change is not None else dict(DEFAULT_MIN_CHANGE),
            "rows": rows, "run_shift": shifts, "figures": {"compared": fig_compared, "rows": fig_rows}, "notes": notes,
            "only_in_baseline": only_base,
            "only_in_current": only_cur, "counts": counts, "current_complete": not incomplete,
            "exit_code": 1 if bad or incomplete else 0}


def _backend_words(backend):
    return {"cpu": "CPU", "cuda": "GPU"}.get(backend, backend)


def _fmt_s(s):
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "-"
    return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.3f} s"


def _fmt_bytes(x):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(x) >= size:
            return f"{x / size:.3f} {unit}"
    return f"{x:.0f} B"


def markdown(r: dict) -> str:
    b, c = r["baseline"], r["current"]
    title = (f"# Variant comparison: {c['suite']} at {c['commit']} against {b['suite']} at {b['commit']}, cases paired "
             f"by parameters" if r.get("paired_by") == "params" else
             f"# Regression check: {c['suite']} at {c['commit']} vs baseline {b['commit']}")
    mc = r["min_change"]
    floor = (f"{100 * mc:.0f}%" if not isinstance(mc, dict) else
             " / ".join(f"{100 * v:.0f}% ({'GPU' if k == 'cuda' else k.upper()} cases)" for k, v in sorted(mc.items())))
    rule = f"Rule: Mann-Whitney U p < {r['alpha']} and a median change of at least {floor}"
    if r.get("confirmed_by_rerun"):
        rule += "; a slower series counts only if a re-run of its case is slower too (else NOISE)"
    lines = [title, "",
             f"Device: {c['device']}" + (f" (baseline: {b['device']})" if b["device"] != c["device"] else "") +
             f". {rule}.", ""]
    for backend, sh in sorted(r.get("run_shift", {}).items()):
        if sh["shift"]:
            lines += [f"**The whole run was slower on the {_backend_words(backend)}**: three quarters of its "
                      f"{sh['series']} series moved by {100 * sh['shift']:+.1f}% or more against the baseline. A "
                      f"shared machine runs whole processes faster or slower (unchanged code up to 2.4 times as "
                      f"slow on 2026-12-06), so each series is judged on its change beyond that (in brackets); a "
                      f"change that slowed every kernel alike cannot be told from the machine here: time it on a "
                      f"quiet machine.", ""]
        elif sh["lower_quartile"] is not None and sh["lower_quartile"] >= RUN_SHIFT_FLOOR:
            lines += [f"The {_backend_words(backend)} series moved by {100 * sh['lower_quartile']:+.1f}% or more "
                      f"(three quarters of {sh['series']}), but the run-wide shift was {sh['note']}.", ""]
    if r["rows"]:
        lines += ["| verdict | case | series | baseline | current | change | p | re-run |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
    elif not r.get("timings_compared", True):  # one side --short: its times say nothing against the other's
        lines += ["Timings not compared (one side ran with --short, see below) and no case fails: the figures "
                  "below are what was compared."]
    else:  # validation-only cases: their accuracy and memory figures are what is compared
        lines += ["No series was timed on both sides and no case fails: the figures below are what was compared."]
    order = {"FAIL": 0, "SLOWER": 1, "AMBIGUOUS": 2, "NOISE": 3, "FASTER": 4, "SAME": 5}
    for row in sorted(r["rows"], key=lambda x: (order[x["verdict"]], x["case"], x["series"])):
        if row["verdict"] == "FAIL":
            # The detail carries the case's reason, free text: a "|" or a line break in it
            # would end the cell or the table.
            detail = " ".join(row["detail"].split()).replace("|", "\\|")
            lines.append(f"| **FAIL** | {row['case']} | | | | | {detail} | |")
            continue
        v = f"**{row['verdict']}**" if row["verdict"] in ("SLOWER", "FAIL") else row["verdict"]
        p = "-" if math.isnan(row["p_value"]) else f"{row['p_value']:.3g}"
        rerun = f"{100 * row['rerun']['change']:+.1f}%" if "rerun" in row else "-"
        change = f"{100 * row['change']:+.1f}%" + (f" ({100 * row['change_beyond_run']:+.1f}%)"
                                                    if "change_beyond_run" in row else "")
        lines.append(f"| {v} | {row['case']} | {row['series']} | {_fmt_s(row['baseline_median_s'])} | "
                     f"{_fmt_s(row['current_median_s'])} | {change} | {p} | {rerun} |")
    lines.append("")
    cpu_slower = any(row["verdict"] == "SLOWER" and row.get("backend") == "cpu" for row in r["rows"])
    if cpu_slower and r.get("rounds", 1) == 1:
        commit = b["commit"].split(",")[0].replace("+dirty", "")
        lines += [f"CPU series judged on one process a side: on a shared machine each process runs at a speed of its "
                  f"own (the same build 1.2 to 2.4 times as slow from one process to the next on 2026-12-06). Before "
                  f"acting, time both builds side by side: `scripts/run.sh SUITE --against {commit}`.", ""]
    hot = [row for row in r["rows"] if row.get("clock")]
    if hot:
        lines += ["Slower series timed at a lower SM clock than the baseline's (the machine may be throttling; "
                  "a re-run on a cool machine tells):", ""]
        lines += [f"- {row['case']}{' ' + row['series'] if row['series'] else ''}: {row['clock']}" for row in hot] + [""]
    fig = r.get("figures", {"compared": {}, "rows": []})
    n_fig = sum(fig["compared"].values())
    what = " and ".join(f"{n} {g}" for g, n in fig["compared"].items() if n)
    if fig["rows"]:
        lines += [f"Accuracy against dense (same inputs) and memory: {len(fig['rows'])} of {n_fig} figures ({what}) "
                  f"moved by more than their tolerance (WORSE counts as a regression).", "",
                  "| verdict | case | figure | baseline | current | tolerance |", "|---|---|---|---:|---:|---:|"]
        for row in sorted(fig["rows"], key=lambda x: (x["verdict"] != "WORSE", x["case"], x["series"])):
            v = "**WORSE**" if row["verdict"] == "WORSE" else row["verdict"]
            f = _fmt_bytes if row["group"] == "memory" else (lambda x: f"{x:.6g}")
            lines.append(f"| {v} | {row['case']} | {row['series']} | {f(row['baseline'])} | {f(row['current'])} | "
                         f"{f(row['tolerance'])} |")
        lines.append("")
    elif n_fig:
        lines += [f"Accuracy against dense (same inputs) and memory: all {n_fig} figures ({what}) within their "
                  f"tolerance.", ""]
    for n in r["notes"]:
        lines.append(f"- {n['case']}: {n['note']}")
    if r["only_in_baseline"]:
        # A run of some cases (--filter) leaves the others out by request, not by loss.
        flt = r["current"].get("filter", "")
        why = f" (the current run selected its cases with --filter {flt!r})" if flt else ""
        lines.append(f"- only in the baseline{why}: " + ", ".join(r["only_in_baseline"]))
    if r["only_in_current"]:
        lines.append("- only in the current run: " + ", ".join(r["only_in_current"]))
    totals = (", ".join(f"{v} {k}" for k, v in sorted(r["counts"].items())) or
              (f"no timed series; {n_fig} figures within their tolerance" if n_fig else "nothing compared"))
    lines += ["", f"Totals: {totals}. Exit status {r['exit_code']}.", ""]
    return "\n".join(lines)
