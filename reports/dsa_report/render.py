"""`dsa-report render`: plots (PNG and SVG), report.md and a self-contained report.html.

Every plot names the suite, the device and the git commit under its title; a plot whose
data the results do not hold is skipped, and the report says why."""
from __future__ import annotations

import base64
import html
import math
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, MultipleLocator  # noqa: E402

from . import claims as claimsmod  # noqa: E402
from . import clocks  # noqa: E402
from . import cost as costmod  # noqa: E402
from . import load  # noqa: E402

DENSE, DSA = "#1f4e79", "#c0392b"
STAGE_COLOURS = {"indexer": "#e67e22", "topk": "#8e44ad", "attention": "#c0392b"}
# dsa-spec.md section 9: the paper's Figure 3 values (H800, $2 per GPU-hour), read off the plot.
PAPER_POINTS = {"prefill": [(0, 0.053, "dense"), (0, 0.061, "dsa"), (131072, 0.666, "dense"), (131072, 0.187, "dsa")],
                "decode": [(131072, 2.15, "dense"), (131072, 0.249, "dsa")]}


def _tokens(x, _pos=None):
    return f"{x / 1024:.0f}K" if x >= 1024 else f"{x:.0f}"


def _seconds(y, _pos=None):
    if y >= 1:
        return f"{y:g} s"
    if y >= 1e-3:
        return f"{y * 1e3:g} ms"
    return f"{y * 1e6:g} µs"


def _figure(doc, title, ncols=1, nrows=1, width=6.2, height=4.4):
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    # About 7.5 characters per inch of width at 13 pt bold; a longer title shrinks to fit.
    size = max(8.0, min(13.0, 13.0 * width * ncols * 7.5 / max(len(title), 1)))
    fig.suptitle(title, fontsize=size, fontweight="bold", y=0.995)
    fig.text(0.5, 0.935 if nrows == 1 else 0.965, load.describe(doc), ha="center", fontsize=9, color="#555555")
    return fig, axes.ravel()


NO_SWEEP = "no dsa_vs_dense sweep in these results"


def _legend(ax, fontsize, empty="these results hold no data for this panel"):
    """The panel's legend; a panel the results hold nothing for says why in its middle,
    rather than staying blank (matplotlib also warns of a legend without lines)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=fontsize)
    else:
        ax.text(0.5, 0.5, f"nothing to draw: {empty}", transform=ax.transAxes,
                ha="center", va="center", fontsize=8, color="#777777")


def _save(fig, out_dir, name, written):
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    for ext in ("png", "svg"):
        fig.savefig(os.path.join(out_dir, f"{name}.{ext}"), dpi=130)
    plt.close(fig)
    written.append(name)


def _exponent(xs, ys):
    ok = [(x, y) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(ok) < 2:
        return math.nan
    return float(np.polyfit(np.log([x for x, _ in ok]), np.log([y for _, y in ok]), 1)[0])


def _on_cpu(doc, item):
    """" (on the CPU)" for a sweep or model run a GPU run ran on the CPU (no CUDA kernel
    took it, or a stage was named so): the plots' subtitle names the GPU."""
    return " (on the CPU)" if load.on_gpu(doc) and item.backend == "cpu" else ""


def plot_time(doc, sweeps, runs, out, written, skipped):
    panels = [s for s in sweeps if len(s.timed()) >= 1] + [r for r in runs if r.points and "timing" in r.points[0].dense]
    if not panels:
        skipped["time_vs_context"] = "no timed sweep or model run"
        return
    fig, axes = _figure(doc, "Time against context length (log-log)", ncols=len(panels))
    for ax, s in zip(axes, panels):
        if isinstance(s, load.Sweep):
            pts = s.timed()
            xs = [p.context for p in pts]
            series = {"dense": [p.dense_s for p in pts], "DSA": [p.dsa_s for p in pts]}
            what = f"{s.name}{_on_cpu(doc, s)}\n{s.phase}: {s.params['query_chunk']} queries, {s.params['heads']} heads"
            ylabel = "median time per call"
        else:
            xs = [p.context for p in s.points]
            series = {"dense": [p.dense["timing"]["median_s"] for p in s.points],
                      "DSA": [p.dsa["timing"]["median_s"] for p in s.points]}
            what = (f"{s.name}{_on_cpu(doc, s)}\n"
                    f"{'prefill of the whole context' if s.op == 'model_prefill' else 'one decode step'}")
            ylabel = "median time"
        for label, ys in series.items():
            k = _exponent(xs, ys)
            ax.plot(xs, ys, "o-", color=DENSE if label == "dense" else DSA,
                    label=f"{label} (t ∝ L^{k:.2f})" if not math.isnan(k) else label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_tokens))
        ax.yaxis.set_major_formatter(FuncFormatter(_seconds))
        ax.set_xlabel("context length L (tokens)")
        ax.set_ylabel(ylabel)
        ax.set_title(what, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        _legend(ax, 8)
    _save(fig, out, "time_vs_context", written)


def plot_speedup(doc, sweeps, runs, out, written, skipped):
    items = [s for s in sweeps if s.timed()]
    mruns = [r for r in runs if r.points and not math.isnan(r.points[0].speedup)]
    if not items and not mruns:
        skipped["speedup"] = "no timed sweep or model run"
        return
    fig, axes = _figure(doc, "Speed-up of DSA over dense (dense time / DSA time)")
    ax = axes[0]
    for i, s in enumerate(items):
        pts = s.timed()
        line, = ax.plot([p.context for p in pts], [p.speedup for p in pts], "o-", label=f"{s.name} ({s.phase}){_on_cpu(doc, s)}")
        x = (s.crossover or {}).get("context")
        if x:
            ax.axvline(x, color=line.get_color(), ls=":", lw=1.2)
            ax.annotate(f"crossover ≈ {x:,.0f}", (x, 1.0), xytext=(5, 12 + 14 * i), textcoords="offset points",
                        fontsize=8, color=line.get_color())
    for r in mruns:
        ax.plot([p.context for p in r.points], [p.speedup for p in r.points], "s--", label=f"{r.name} (whole model){_on_cpu(doc, r)}")
    ax.axhline(1.0, color="black", lw=1)
    ax.text(0.01, 0.02, "below 1: DSA slower", transform=ax.transAxes, fontsize=8, color="#555555")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)  # ticks at 0.5x, 1x, 2x, 4x ...: speed-ups span a few octaves
    ax.xaxis.set_major_formatter(FuncFormatter(_tokens))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _p: f"{y:g}×"))
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("speed-up (×)")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, 8)
    _save(fig, out, "speedup", written)


def plot_stages(doc, sweeps, out, written, skipped):
    items = [s for s in sweeps if s.timed()]
    if not items:
        skipped["stages"] = "no timed sweep"
        return
    fig, axes = _figure(doc, "DSA time per stage, with the dense baseline", ncols=len(items))
    for ax, s in zip(axes, items):
        pts = s.timed()
        x = np.arange(len(pts))
        bottom = np.zeros(len(pts))
        for stage in ("indexer", "topk", "attention"):
            v = np.array([p.stages[stage] for p in pts]) * 1e3
            ax.bar(x, v, bottom=bottom, color=STAGE_COLOURS[stage], label=f"DSA {stage}", width=0.6)
            bottom += v
        ax.plot(x, [p.dense_s * 1e3 for p in pts], "D", color=DENSE, label="dense (total)")
        ax.set_xticks(x, [_tokens(p.context) for p in pts])
        ax.set_xlabel("context length (tokens)")
        ax.set_ylabel("median time (ms)")
        ax.set_title(f"{s.name} ({s.phase}){_on_cpu(doc, s)}", fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
        _legend(ax, 8)
    _save(fig, out, "stages", written)


def plot_memory(doc, sweeps, runs, out, written, skipped):
    items = [s for s in sweeps if s.points and s.points[0].memory]
    if not items and not runs:
        skipped["memory"] = "no sweep or model run with memory figures"
        return
    fig, axes = _figure(doc, "Memory: cache and peak", ncols=2)
    ax = axes[0]
    for s, marker in zip(items, "osD^v"):
        xs = [p.context for p in s.points]
        ax.plot(xs, [p.memory["dense"]["cache_bytes"] / 2**20 for p in s.points], marker + "-", color=DENSE,
                label=f"dense, {s.name}")
        ax.plot(xs, [p.memory["dsa"]["cache_bytes"] / 2**20 for p in s.points], marker + "--", color=DSA,
                label=f"DSA, {s.name}")
    per_token = next((s.cache_per_token for s in items if s.cache_per_token), None)
    if per_token:
        ax.set_title(f"cache per sequence per layer ({per_token['dense']} vs {per_token['dsa']} bytes per token)", fontsize=9)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_tokens))
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("cache (MiB)")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, 7, NO_SWEEP)
    ax = axes[1]
    for s in items:
        ax.plot([p.context for p in s.points], [p.memory["peak_rss_bytes"] / 2**20 for p in s.points], "o-",
                label=f"{s.name} (host peak)")
    for r in runs:
        if r.points and "cache" in r.points[0].dense:
            ax.plot([p.context for p in r.points], [p.dsa["cache"]["bytes_per_token"] * p.context / 2**20 for p in r.points],
                    "s--", label=f"{r.name} DSA cache, all layers")
        pts = [p for p in r.points if p.peak("dense") and p.peak("dsa")]
        if pts:  # each attention mode's own peak
            where = pts[0].peak("dense")[1]
            ax.plot([p.context for p in pts], [p.peak("dense")[0] / 2**20 for p in pts], "^-", color=DENSE,
                    label=f"{r.name} dense peak ({where})")
            ax.plot([p.context for p in pts], [p.peak("dsa")[0] / 2**20 for p in pts], "^--", color=DSA,
                    label=f"{r.name} DSA peak ({where})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")  # host peaks of sweeps, model caches and device peaks span decades
    ax.xaxis.set_major_formatter(FuncFormatter(_tokens))
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("MiB")
    ax.set_title("peak memory (sweeps: host; models: each mode's own) and model caches", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, 7)
    _save(fig, out, "memory", written)


def plot_accuracy(doc, sweeps, runs, out, written, skipped):
    items = [s for s in sweeps if s.points and s.points[0].accuracy]
    mruns = [r for r in runs if r.points and "kl_mean" in r.points[0].accuracy]
    if not items and not mruns:
        skipped["accuracy"] = "no accuracy figures"
        return
    ncols = 2 + (1 if mruns else 0)
    fig, axes = _figure(doc, "Accuracy of DSA against dense on the same inputs", ncols=ncols, width=5.2)
    ax = axes[0]
    zeros = []
    for s in items:
        # Exact zeros (DSA attended every key with the same kernel) have no place on a
        # log axis: they are left out and named in the title instead of faked.
        pts = [p for p in s.points if p.accuracy["rel_l2"] > 0]
        zeros += [_tokens(p.context) for p in s.points if p.accuracy["rel_l2"] == 0]
        ax.plot([p.context for p in pts], [p.accuracy["rel_l2"] for p in pts], "o-", label=s.name)
    ax.set_yscale("log")
    ax.set_ylabel("relative L2 of the attention output")
    ax.set_title("output error (rounding only while top-k ≥ context)" +
                 (f"\nexactly 0, not drawn: {', '.join(sorted(set(zeros), key=zeros.index))}" if zeros else ""), fontsize=9)
    ax = axes[1]
    for s in items:
        if "attention_mass_recall" in s.points[0].accuracy:
            ax.plot([p.context for p in s.points], [p.accuracy["attention_mass_recall"]["mean"] for p in s.points], "o-",
                    label=f"mass recall, {s.name}")
            ax.plot([p.context for p in s.points], [p.accuracy["topk_overlap"]["mean"] for p in s.points], "x--",
                    label=f"top-k overlap, {s.name}")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share (1 = all)")
    ax.set_title("dense attention mass on the selection; overlap with the true top-k", fontsize=9)
    if mruns:
        ax = axes[2]
        for r in mruns:
            ax.plot([p.context for p in r.points], [max(p.accuracy["kl_mean"], 1e-12) for p in r.points], "s-",
                    label=f"{r.name}")
        ax.set_yscale("log")
        ax.set_ylabel("KL(dense ‖ DSA), nats, mean over positions")
        ax.set_title("whole model: next-token divergence" +
                     (" (synthetic weights)" if any(r.model.get("synthetic_checkpoint") for r in mruns) else ""), fontsize=9)
    for i, a in enumerate(axes[:ncols]):
        a.set_xscale("log", base=2)
        a.xaxis.set_major_formatter(FuncFormatter(_tokens))
        a.set_xlabel("context length (tokens)")
        a.grid(True, which="both", alpha=0.3)
        _legend(a, 7, NO_SWEEP if i < 2 else "no whole-model run in these results")
    _save(fig, out, "accuracy", written)


def plot_ceilings(doc, out, written, skipped):
    cases = [c for c in doc["cases"] if c.get("share_of_ceiling")]
    if not cases:
        skipped["ceilings"] = "no GPU case with measured ceilings in these results"
        return
    fig, axes = _figure(doc, "Achieved share of the measured device ceilings", height=0.35 * len(cases) + 2)
    ax = axes[0]
    y = np.arange(len(cases))
    comp = [c["share_of_ceiling"].get("compute", 0) * 100 for c in cases]
    mem = [c["share_of_ceiling"].get("memory", 0) * 100 for c in cases]
    ax.barh(y - 0.2, comp, height=0.4, label="compute (of the matching cuBLASLt rate)", color=DSA)
    ax.barh(y + 0.2, mem, height=0.4, label="memory (of the device-to-device copy rate)", color=DENSE)
    ax.set_yticks(y, [c["name"] for c in cases], fontsize=7)
    ax.set_xlabel("share of ceiling (%)")
    ax.grid(True, axis="x", alpha=0.3)
    _legend(ax, 8)
    _save(fig, out, "ceilings", written)


def plot_cost(doc, cost, out, written, skipped):
    phases = [ph for ph in ("prefill", "decode") if cost["phases"][ph]["available"]]
    if not phases:
        skipped["cost"] = "no timed prefill or decode sweep"
        return
    fig, axes = _figure(doc, f"Cost per million tokens by position (${cost['gpu_hour_usd']:.2f}/GPU-hour, "
                             f"{cost['layers']} layers)", ncols=len(phases))
    for ax, ph in zip(axes, phases):
        c = cost["phases"][ph]
        xs = [r["position"] for r in c["points"]]
        here = "GPU" if c["backend"] == "cuda" else "CPU"  # its sweep's
        ax.plot(xs, [r["dense_usd_per_mtok"] for r in c["points"]], "o-", color=DENSE, label=f"dense (measured here, {here})")
        ax.plot(xs, [r["dsa_usd_per_mtok"] for r in c["points"]], "o-", color=DSA, label=f"DSA (measured here, {here})")
        labelled = set()
        for x, y, who in PAPER_POINTS[ph]:
            ax.plot([x], [y], "*", ms=12, color=DENSE if who == "dense" else DSA, markeredgecolor="black",
                    label=None if who in labelled else f"paper {'dense' if who == 'dense' else 'DSA'} (H800, §9)")
            labelled.add(who)
        if c["crossover_position"]:
            ax.axvline(c["crossover_position"], color="grey", ls=":")
            ax.annotate(f"crossover ≈ {c['crossover_position']:,.0f}", (c["crossover_position"], ax.get_ylim()[1]),
                        xytext=(4, -14), textcoords="offset points", fontsize=8)
        ax.set_xlim(left=-2000)
        ax.xaxis.set_major_locator(MultipleLocator(16384 if max(xs + [131072]) > 32768 else 4096))
        ax.xaxis.set_major_formatter(FuncFormatter(_tokens))
        ax.set_yscale("log")
        ax.set_xlabel("token position")
        ax.set_ylabel("$ per million tokens")
        note = "attention only" if not cost["other_us_per_token"] else f"+{cost['other_us_per_token']:.4g} µs/token other"
        ax.set_title(f"{ph} ({note}{'; shapes scaled' if not c['real_shapes'] else ''})", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        _legend(ax, 8)
    _save(fig, out, "cost_per_token", written)


def _cell_s(s):
    """A time for a table cell: three significant figures."""
    if math.isnan(s):
        return "-"
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= f or unit == "µs":
            return f"{s / f:.3g} {unit}"


def _md_sweeps(sweeps):
    lines = []
    for s in sweeps:
        lines += [f"### {s.name} ({s.phase}, backend {s.backend})", "",
                  "| context | dense | DSA | speed-up | rel L2 | mass recall |", "|---:|---:|---:|---:|---:|---:|"]
        for p in s.points:
            a = p.accuracy
            mass = a.get("attention_mass_recall", {}).get("mean")
            speedup = "-" if math.isnan(p.speedup) else f"{p.speedup:.2f}×"
            lines.append(f"| {p.context:,} | {_cell_s(p.dense_s)} | {_cell_s(p.dsa_s)} | {speedup} | "
                         f"{a.get('rel_l2', math.nan):.2e} | {'-' if mass is None else f'{mass:.3f}'} |")
        x = s.crossover or {}
        where = f"about {round(x['context']):,} tokens" if x.get("context") else x.get("note", "not measured")
        lines += ["", f"Crossover: {where}.", ""]
    return lines


def _md_models(runs):
    lines = []
    for r in runs:
        src = r.source()
        hidden = "rel_l2_mean" in (r.points[0].accuracy if r.points else {})
        what = f"layers {r.model.get('layer_range')} on hidden states" if hidden else "whole model"
        cols = ("rel L2 of the output hidden states", "cos diff") if hidden else ("KL mean", "top-1 agreement")
        lines += [f"### {r.name} ({r.op}, {src}, {what}, on {r.backend})", "",
                  f"| context | dense | DSA | speed-up | {cols[0]} | {cols[1]} | time / sum of ops (dense, DSA) | "
                  f"peak memory (dense, DSA) |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for p in r.points:
            dt, st = p.dense.get("timing"), p.dsa.get("timing")
            a, b = (("rel_l2_mean", "cos_diff_mean") if hidden else ("kl_mean", "top1_agreement"))
            ratio = [x.get("time_over_op_sum") for x in (p.dense, p.dsa)]
            over = ", ".join(f"{x:.2f}" for x in ratio) if all(x is not None for x in ratio) else "-"
            peaks = [p.peak(m) for m in ("dense", "dsa")]
            mem = (f"{peaks[0][0] / 1e9:.3g}, {peaks[1][0] / 1e9:.3g} GB ({peaks[0][1]})" if all(peaks) else "-")
            lines.append(f"| {p.context:,} | {_cell_s(dt['median_s']) if dt else '-'} | {_cell_s(st['median_s']) if st else '-'} | "
                         f"{'-' if math.isnan(p.speedup) else f'{p.speedup:.2f}×'} | {p.accuracy.get(a, math.nan):.2e} | "
                         f"{p.accuracy.get(b, math.nan):.3g} | {over} | {mem} |")
        if r.model.get("synthetic_checkpoint"):
            lines.append("\nSynthetic weights: the indexer is untrained, so these deltas are a worst case, not V3.2-Exp's.")
        if r.op == "model_prefill":
            lines.append("\nTime / sum of ops: a timed prefill over the sum of its ops timed one by one (the harness's own "
                         "overhead; the target on a GPU is at most 1.10).")
        lines.append("\nPeak memory: each attention mode's own runs (weights, its cache, its working memory), on the "
                     "device where the model ran on a GPU, else the host's resident memory.")
        lines.append("")
    return lines


def _markdown(doc, sweeps, runs, cost, verdicts, written, skipped):
    counts = {}
    for c in doc["cases"]:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    p = doc["provenance"]
    if "merged_from" in doc:  # several files read together: each with its own run
        origin = [f"{load.device_name(doc)} · read together from {len(doc['merged_from'])} results files:", ""]
        origin += [f"- `{m['path']}`: suite {m['suite']}, commit {m['commit']}, {m['timestamp_utc']}, "
                   f"`{m['command_line']}`" for m in doc["merged_from"]]
        origin += [""]
    else:
        origin = [f"{load.device_name(doc)} · commit {load.short_commit(doc)} · {p['timestamp_utc']} · "
                  f"`{p['command_line']}`", ""]
        resumed = p.get("resumed", [])
        if resumed:  # dsa-bench went on in another process: after a lost case, or run --resume
            origin += [f"The run went on in {len(resumed)} later process{'es' if len(resumed) > 1 else ''}: "
                       + "; ".join(f"{r['timestamp_utc']}, {r['reason']}" for r in resumed) + ".", ""]
    lines = [f"# dsa-bench report: {doc['suite']['name']}", ""] + origin + [
             "Cases: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ".", ""]
    incomplete = load.incomplete_runs(doc)
    lines += [f"**Incomplete:** {s}." for s in incomplete] + ([""] if incomplete else [])
    short = load.short_mode_warning(doc)
    lines += [short, ""] if short else []
    bad = [c for c in doc["cases"] if c["status"] in load.FAILING]
    if bad:
        lines += ["**Failures:**", ""] + [f"- {c['name']}: {c['status']}: {c.get('reason', '')}" for c in bad] + [""]
    unvalidated = [c for c in doc["cases"] if c.get("not_validated")]
    if unvalidated:  # figures from a kernel's first run, before it was validated on its hardware
        lines += ["**Ran variants not yet validated on their hardware:**", ""]
        lines += [f"- {c['name']}: " + "; ".join(f"`{k}` ({v})" for k, v in sorted(c["not_validated"].items()))
                  for c in unvalidated] + [""]
    fell_back = [c for c in doc["cases"] if c.get("backend_fallback")]
    if fell_back:  # a GPU run's case that ran on the CPU: its figures are the CPU's
        lines += ["**Fell back to another backend** (the earlier one could not run the case):", ""]
        lines += [f"- {c['name']}: ran on {load.case_backend(c)}; {c['backend_fallback']}" for c in fell_back] + [""]
    lines += clocks.summary_lines(doc)
    if sweeps:
        lines += ["## DSA against dense", ""] + _md_sweeps(sweeps)
    if runs:
        lines += ["## Whole model", ""] + _md_models(runs)
    lines += ["## Cost per million tokens", ""]
    for ph, c in cost["phases"].items():
        if not c["available"]:
            lines.append(f"- {ph}: {c['reason']}.")
            continue
        last = c["points"][-1]
        lines.append(f"- {ph}: at position {last['position']:,} dense ${last['dense_usd_per_mtok']:.4g} vs DSA "
                     f"${last['dsa_usd_per_mtok']:.4g} per million tokens; crossover "
                     f"{'about ' + format(round(c['crossover_position']), ',') if c['crossover_position'] else 'none'} "
                     f"({c['crossover_note']}). Modelled: {'; '.join(c['modelled'])}."
                     + (f" The {costmod.baseline_text(c['dense_baseline'])}." if c.get("dense_baseline") else ""))
    lines += ["", "## Published claims", "", "| id | verdict | why |", "|---|---|---|"]
    for v in verdicts["verdicts"]:
        lines.append(f"| {v['id']} | **{v['verdict']}** | {v['reason']} |")
    lines += ["", "## Plots", ""]
    for name in written:
        lines.append(f"![{name}]({name}.png)")
    for name, why in skipped.items():
        lines.append(f"- {name}: not drawn ({why}).")
    return "\n".join(lines) + "\n"


def _inline(text):
    t = html.escape(text)
    t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", t)


def markdown_to_html(md: str, images: dict) -> str:
    """The subset of Markdown this tool writes: headings, tables, bullets, images, text."""
    out, i = [], 0
    lines = md.splitlines()
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in rows[0]) + "</tr>")
            for r in rows[2:]:
                out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>")
            out.append("</table>")
            continue
        m = re.match(r"!\[(.*?)\]\((.*?)\)", line)
        if m and m.group(1) in images:
            out.append(f'<p><img alt="{html.escape(m.group(1))}" src="data:image/png;base64,{images[m.group(1)]}"></p>')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("- "):
            out.append(f"<ul><li>{_inline(line[2:])}</li></ul>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}th{background:#f0f0f0}"
             "img{max-width:100%}code{background:#f4f4f4}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>dsa-bench report</title><style>{style}</style>" \
           f"</head><body>{''.join(out)}</body></html>\n"


def render(doc: dict, out_dir: str, gpu_hour_usd=2.0, layers=61, other_us_per_token=None) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    sweeps, runs = load.sweeps(doc), load.model_runs(doc)
    cost = costmod.cost_model(doc, gpu_hour_usd, layers, other_us_per_token)
    verdicts = claimsmod.evaluate(doc, cost["other_us_per_token"] or None, layers)
    written, skipped = [], {}
    plot_time(doc, sweeps, runs, out_dir, written, skipped)
    plot_speedup(doc, sweeps, runs, out_dir, written, skipped)
    plot_stages(doc, sweeps, out_dir, written, skipped)
    plot_memory(doc, sweeps, runs, out_dir, written, skipped)
    plot_accuracy(doc, sweeps, runs, out_dir, written, skipped)
    plot_ceilings(doc, out_dir, written, skipped)
    plot_cost(doc, cost, out_dir, written, skipped)
    md = _markdown(doc, sweeps, runs, cost, verdicts, written, skipped)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(md)
    images = {}
    for name in written:
        with open(os.path.join(out_dir, f"{name}.png"), "rb") as f:
            images[name] = base64.b64encode(f.read()).decode("ascii")
    with open(os.path.join(out_dir, "report.html"), "w") as f:
        f.write(markdown_to_html(md, images))
    return {"plots": written, "skipped": skipped, "dir": out_dir}
