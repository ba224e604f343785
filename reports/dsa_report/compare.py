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
whatever its timings. Exit status: 1 on any SLOWER or FAIL, or when the current run did
not complete (interrupted: the cases it did not reach went unchecked), else 0. A comparison with
nothing to compare (no case in common, or none timed on both sides: a wrong baseline, or
a GPU suite run without a GPU) is an error (ResultsError, exit 2), not a pass.

The samples of one run say nothing of how much a whole run moves from one run to the
next, which is what a gate must not mistake for a regression: two back-to-back runs of
the smoke suite on the CPU of a shared 2-core machine (2026-11-23) moved its series by
-15% to +9% with the same code, and with 5 samples a side the rank test called five of
them SLOWER. Hence min_change defaults by backend (DEFAULT_MIN_CHANGE: 15% on the CPU,
5% on a GPU, whose kernels are timed cold and settle to a few percent), and scripts/run.sh
re-runs the cases that came out slower and keeps only those slower again (`confirm`).

Accuracy: DSA's deltas against dense on the same inputs (a sweep point's relative L2,
attention-mass recall and top-k overlap; a model point's mean KL, top-1 agreement and
hidden-state relative L2) are compared point by point where both runs drew the same
inputs (the same case seed). On the same inputs they are the algorithm's, not the
kernels': the H100 sweeps of 2026-11-22 and -23, with other indexer, top-k and attention
kernels, agree to 2e-4 relative (relative L2) and 2e-5 (recall). Each figure's
tolerance (ACCURACY_METRICS) is about a hundred times that; a figure worse by more is
WORSE (exit status 1: DSA now selects or attends differently), one better by more is
BETTER (reported, not an error: still a change to explain).

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

from . import load


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


def classify(base, cur, alpha=0.01, min_change=0.05):
    mb, mc = statistics.median(base), statistics.median(cur)
    change = mc / mb - 1.0 if mb > 0 else math.inf
    p = math.nan
    if len(base) >= 2 and len(cur) >= 2:
        p = float(mannwhitneyu(base, cur, alternative="two-sided").pvalue)
    if abs(change) < min_change:
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


# (label, keys into a point's "accuracy", +1 when a larger value is worse / -1 when a
# smaller one is, absolute tolerance, relative tolerance). top-1 agreement's absolute
# tolerance is one and a half tokens of the point's count (one flipped near-tie passes).
ACCURACY_METRICS = [
    ("rel_l2", ("rel_l2",), +1, 1e-4, 0.02),
    ("mass recall", ("attention_mass_recall", "mean"), -1, 0.005, 0.0),
    ("top-k overlap", ("topk_overlap", "mean"), -1, 0.005, 0.0),
    ("KL mean", ("kl_mean",), +1, 1e-4, 0.10),
    ("top-1 agreement", ("top1_agreement",), -1, None, 0.0),
    ("hidden rel_l2", ("rel_l2_mean",), +1, 1e-4, 0.02),
]


def _metric(acc, keys):
    v = acc
    for k in keys:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _point_key(p):
    return (p.get("context"), p.get("batch"))


def accuracy_rows(name, b, c):
    """(rows beyond tolerance, figures compared) of DSA's accuracy against dense, point by
    point, for two runs of one case on the same inputs."""
    bpoints = {_point_key(p): p for p in b.get("points", []) if isinstance(p.get("accuracy"), dict)}
    rows, checked = [], 0
    for p in c.get("points", []):
        q = bpoints.get(_point_key(p))
        if q is None or not isinstance(p.get("accuracy"), dict):
            continue
        for label, keys, worse_sign, abs_tol, rel_tol in ACCURACY_METRICS:
            vb, vc = _metric(q["accuracy"], keys), _metric(p["accuracy"], keys)
            if vb is None or vc is None:
                continue
            if abs_tol is None:  # top-1 agreement over `count` next tokens
                abs_tol = 1.5 / max(1, int(p["accuracy"].get("count", 1)))
            tol = abs_tol + rel_tol * abs(vb)
            checked += 1
            moved = (vc - vb) * worse_sign
            if abs(vc - vb) > tol:
                series = f"@{p.get('context')}" + (f" batch {p['batch']}" if p.get("batch", 1) not in (None, 1) else "")
                rows.append({"case": name, "series": f"{series} {label}", "verdict": "WORSE" if moved > 0 else "BETTER",
                             "baseline": vb, "current": vc, "tolerance": tol})
    return rows, checked


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
    again = {c["name"]: c for c in confirm["cases"]} if confirm is not None else {}
    pairs, only_base, only_cur = _pairs(base, cur, by_params)
    rows, notes, acc_rows, acc_checked = [], [], [], 0
    for name, b, c in pairs:
        if _params(b) != _params(c) and not by_params:
            notes.append({"case": name, "note": "parameters changed: not compared"})
            continue
        if c["status"] in ("failed", "error", "oom"):
            was = "already failing" if b["status"] in ("failed", "error", "oom") else f"was {b['status']}"
            rows.append({"case": name, "series": "", "verdict": "FAIL",
                         "detail": f"{c['status']} ({was}): {c.get('reason', '')}"})
            continue
        if c["status"] in ("skipped", "not_supported") and b["status"] not in ("skipped", "not_supported"):
            notes.append({"case": name, "note": f"not run now ({c['status']}: {c.get('reason', '')}); ran in the baseline"})
            continue
        if b.get("seed") is not None and c.get("seed") is not None and b["seed"] != c["seed"]:
            if any("accuracy" in p for p in c.get("points", [])):
                notes.append({"case": name, "note": f"other inputs (seed {c['seed']} against {b['seed']}): "
                                                    f"accuracy against dense not compared"})
        else:
            r_acc, n_acc = accuracy_rows(name, b, c)
            acc_rows += r_acc
            acc_checked += n_acc
        bs = dict(_series(b))
        mc = min_change_for(c, min_change)
        rerun = dict(_series(again[c["name"]])) if c["name"] in again else {}
        for label, samples in _series(c):
            if label in bs and bs[label] and samples:
                r = classify(bs[label], samples, alpha, mc)
                r.update({"case": name, "series": label, "min_change": mc})
                if r["verdict"] == "SLOWER" and rerun.get(label):
                    r2 = classify(bs[label], rerun[label], alpha, mc)
                    r["rerun"] = {"change": r2["change"], "p_value": r2["p_value"], "verdict": r2["verdict"]}
                    if r2["verdict"] != "SLOWER":
                        r["verdict"] = "NOISE"
                rows.append(r)
    if not rows and not acc_checked:
        # A gate that compared nothing would pass whatever happened: say so, loudly.
        why = ("no case of the current run is in the baseline" + (" with the same op and parameters" if by_params
                                                                 else " under the same name") if not pairs else
               "no case was timed on both sides (" + "; ".join(f"{n['case']}: {n['note']}" for n in notes[:3]) +
               (f"; and {len(notes) - 3} more" if len(notes) > 3 else "") + ")")
        raise load.ResultsError(f"nothing to compare: {why} (baseline suite {base['suite']['name']!r}, current "
                                f"suite {cur['suite']['name']!r})")
    counts = {}
    for r in rows + acc_rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    bad = counts.get("SLOWER", 0) + counts.get("FAIL", 0) + counts.get("WORSE", 0)
    incomplete = cur.get("run_status") != "complete"
    if incomplete:  # a cut run must not pass the gate on the cases it reached
        notes.insert(0, {"case": "(the current run)",
                         "note": f"did not complete (run_status {cur.get('run_status')!r}): the cases it did not "
                                 f"reach were not compared; exit status 1"})
    return {"paired_by": "params" if by_params else "name",
            "baseline": {"device": db, "commit": load.short_commit(base), "suite": base["suite"]["name"]},
            "current": {"device": dc, "commit": load.short_commit(cur), "suite": cur["suite"]["name"]},
            "confirmed_by_rerun": confirm is not None,
            "alpha": alpha, "min_change": min_change if min_change is not None else dict(DEFAULT_MIN_CHANGE),
            "rows": rows, "accuracy": {"compared": acc_checked, "rows": acc_rows}, "notes": notes,
            "only_in_baseline": only_base,
            "only_in_current": only_cur, "counts": counts, "current_complete": not incomplete,
            "exit_code": 1 if bad or incomplete else 0}


def _fmt_s(s):
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "-"
    return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.3f} s"


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
             f". {rule}.", "",
             "| verdict | case | series | baseline | current | change | p | re-run |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    order = {"FAIL": 0, "SLOWER": 1, "AMBIGUOUS": 2, "NOISE": 3, "FASTER": 4, "SAME": 5}
    for row in sorted(r["rows"], key=lambda x: (order[x["verdict"]], x["case"], x["series"])):
        if row["verdict"] == "FAIL":
            lines.append(f"| **FAIL** | {row['case']} | | | | | {row['detail']} | |")
            continue
        v = f"**{row['verdict']}**" if row["verdict"] in ("SLOWER", "FAIL") else row["verdict"]
        p = "-" if math.isnan(row["p_value"]) else f"{row['p_value']:.3g}"
        rerun = f"{100 * row['rerun']['change']:+.1f}%" if "rerun" in row else "-"
        lines.append(f"| {v} | {row['case']} | {row['series']} | {_fmt_s(row['baseline_median_s'])} | "
                     f"{_fmt_s(row['current_median_s'])} | {100 * row['change']:+.1f}% | {p} | {rerun} |")
    lines.append("")
    acc = r.get("accuracy", {"compared": 0, "rows": []})
    if acc["rows"]:
        lines += [f"DSA's accuracy against dense on the same inputs: {len(acc['rows'])} of {acc['compared']} figures "
                  f"moved by more than their tolerance (WORSE counts as a regression).", "",
                  "| verdict | case | point and figure | baseline | current | tolerance |", "|---|---|---|---:|---:|---:|"]
        for row in sorted(acc["rows"], key=lambda x: (x["verdict"] != "WORSE", x["case"], x["series"])):
            v = "**WORSE**" if row["verdict"] == "WORSE" else row["verdict"]
            lines.append(f"| {v} | {row['case']} | {row['series']} | {row['baseline']:.6g} | {row['current']:.6g} | "
                         f"{row['tolerance']:.2g} |")
        lines.append("")
    elif acc["compared"]:
        lines += [f"DSA's accuracy against dense on the same inputs: all {acc['compared']} figures within their "
                  f"tolerance.", ""]
    for n in r["notes"]:
        lines.append(f"- {n['case']}: {n['note']}")
    if r["only_in_baseline"]:
        lines.append("- only in the baseline: " + ", ".join(r["only_in_baseline"]))
    if r["only_in_current"]:
        lines.append("- only in the current run: " + ", ".join(r["only_in_current"]))
    lines += ["", "Totals: " + (", ".join(f"{v} {k}" for k, v in sorted(r["counts"].items())) or "nothing compared") +
              f". Exit status {r['exit_code']}.", ""]
    return "\n".join(lines)
