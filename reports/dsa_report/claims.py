"""Verdicts on the published claims about DeepSeek Sparse Attention (dsa-spec.md section 9).

Each verdict says what was measured, on which hardware, against which baseline, what was
modelled, and the rule applied:

  PASS          the measurement supports the claim within the stated tolerance;
  FAIL          the measurement contradicts it;
  INCONCLUSIVE  these results cannot decide it (e.g. CPU timings for an H800 cost figure,
                no point at the claimed context), with the evidence there is.

Cost ratios: the same non-attention cost is added to both paths, so it leaves the cost
crossover where it is but pulls the dense/DSA ratio towards 1. An attention-only ratio
already below the claim therefore contradicts it; one above it decides nothing until the
non-attention cost per token is known (--other-us-per-token).
"""
from __future__ import annotations

import math

from . import cost as costmod
from . import load

RATIO_TOL = 1.25      # a cost ratio passes within a factor 1.25 of the claim
CROSSOVER_TOL = 2.0   # a crossover passes within a factor 2 of the claim
CONTEXT_128K = 131072

CLAIMS = [
    ("P-prefill", "prefill cost per million tokens at position 128K: about $0.666 dense vs $0.187 DSA (3.6x); "
                  "DSA cheaper beyond about 10K", "paper Figure 3 (H800, $2/GPU-hour)"),
    ("P-decode", "decode cost per million tokens at position 128K: about $2.15 dense vs $0.249 DSA (8.6x); "
                 "DSA cheaper beyond about 5K", "paper Figure 3"),
    ("P-short", "below those crossovers DSA costs more than dense (about $0.061 vs $0.053 prefill at position 0)",
     "paper Figure 3"),
    ("S-cost", "API cost of long-context calls cut by about half or more", "press coverage of the release"),
    ("S-speed", "2-3x faster long-context inference", "press coverage"),
    ("S-memory", "30-40% less memory", "press coverage"),
    ("S-64x", "up to 64x speed-up at 128K", "press coverage"),
    ("S-quality", "quality on par with V3.1-Terminus (benchmarks within 1-2 points)", "paper Table 1"),
    ("K-prefill", "FlashMLA sparse prefill: up to 640 TFLOPS (H800), 1450 TFLOPS (B200)", "FlashMLA README"),
    ("K-decode", "FlashMLA sparse FP8 decode: 410 TFLOPS (H800, batch 128, 128 heads, 2 queries, top-k 2048)",
     "FlashMLA README"),
]


def _verdict(cid, claim, source, verdict, measured, reason, hardware, baseline, modelled=()):
    return {"id": cid, "claim": claim, "source": source, "verdict": verdict, "measured": measured, "reason": reason,
            "hardware": hardware, "baseline": baseline, "modelled": list(modelled)}


def _within(x, target, factor):
    return target / factor <= x <= target * factor


def _pair_ratio(point):
    """Dense over DSA attended pairs at a sweep point; None where the DSA side counts none
    (a damaged file: every real point attends at least one pair)."""
    dsa = point.dsa_work["pairs"]
    return point.dense_work["pairs"] / dsa if dsa else None


def _ratio_text(r):
    return "n/a" if r is None else f"{r:.1f}"


def evaluate(doc: dict, other_us_per_token: float | None = None, layers: int = 61) -> dict:
    gpu = load.on_gpu(doc)
    device = doc_device = load.device_name(doc)
    cm = costmod.cost_model(doc, 2.0, layers, other_us_per_token)
    other_us_per_token = cm["other_us_per_token"] or None  # given, or measured by a matching model run
    sweeps = load.sweeps(doc)
    picked = {ph: costmod.pick_sweep(sweeps, ph) for ph in ("prefill", "decode")}
    baseline = {"prefill": "causal MHA-mode attention (V3.1-Terminus prefill), this project's kernel",
                "decode": "MQA-mode attention over the whole cache (V3.1-Terminus decode), this project's kernel"}
    cpu_note = "results from a CPU cannot confirm a GPU cost or speed figure"
    # Each verdict goes by the backend of its own evidence: in a GPU run a sweep whose
    # shapes no CUDA kernel takes runs on the CPU, and its times are the CPU's.
    gpu_phase = {ph: sw is not None and sw.backend == "cuda" for ph, sw in picked.items()}

    def cpu_why(phases):
        """Why the phases' sweeps cannot decide a GPU figure: a CPU run, or a GPU run's
        sweep that fell back to the CPU."""
        if not gpu:
            return cpu_note
        fell = [f"the {ph} sweep {picked[ph].name} ran on the CPU" for ph in phases if not gpu_phase[ph]]
        return "; ".join(fell) + ": CPU times cannot confirm a GPU cost or speed figure"

    def device_of(phases):
        names = sorted({cm["phases"][ph]["device"] for ph in phases if cm["phases"][ph]["available"]})
        return " and ".join(names) if names else device

    out = []
    claims = {c[0]: c for c in CLAIMS}

    def cost_ratio_claim(cid, phase, claimed_ratio, claimed_cross):
        _, text, src = claims[cid]
        ph = cm["phases"][phase]
        device = ph.get("device", doc_device)  # its sweep's: the CPU's for one that fell back
        if not ph["available"]:
            return _verdict(cid, text, src, "INCONCLUSIVE", None, ph["reason"], device, baseline[phase])
        rows = ph["points"]
        last = rows[-1]
        ratio = 1.0 / last["dsa_over_dense"]
        cross = ph["crossover_position"]
        measured = {"largest_position": last["position"], "dense_over_dsa_cost_at_largest": ratio,
                    "crossover_position": cross, "attention_only": not other_us_per_token,
                    "device": device, "real_shapes": ph["real_shapes"]}
        mod = ph["modelled"]
        if not gpu_phase[phase]:
            return _verdict(cid, text, src, "INCONCLUSIVE", measured,
                            f"{cpu_why([phase])}; on this CPU the dense/DSA cost ratio at position {last['position']:,} is "
                            f"{ratio:.2f}x and the crossover {'%.0f' % cross if cross else 'absent'}", device,
                            baseline[phase], mod)
        if last["position"] < CONTEXT_128K:
            return _verdict(cid, text, src, "INCONCLUSIVE", measured,
                            f"the largest measured {phase} position is {last['position']:,}; the claim is at 128K",
                            device, baseline[phase], mod)
        # Where DSA's own time goes at the largest position: a FAIL carried by one slow stage
        # (say a top-k that cannot fill the GPU) is as much about the implementation as DSA.
        shares = last.get("dsa_stage_share") or {}
        stages_note = ("; DSA time there: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items())
                       if shares else "")
        # And how strong the baseline is: a weak dense kernel inflates the ratio. With the
        # dense attention at its ceiling (a bound no kernel reaches) the ratio would be
        # lower; DSA's kernels are below their ceilings too, so this is no verdict.
        base = ph.get("dense_baseline")
        if base:
            measured["dense_baseline"] = base
            stages_note += "; " + costmod.baseline_text(base, why="share" not in base)
            if "share" in base:
                att = last["attention_s_per_token_per_layer"]
                other = (other_us_per_token or 0.0) * 1e-6
                bound = (cm["layers"] * att["dense"] * base["share"] + other) / (cm["layers"] * att["dsa"] + other)
                measured["ratio_with_dense_at_its_ceiling"] = bound
                stages_note += (f"; with the dense attention at that ceiling the ratio would be {bound:.2f}x (a bound "
                                f"no kernel reaches; DSA's kernels are below theirs too)")
        cross_ok = cross is not None and _within(cross, claimed_cross, CROSSOVER_TOL)
        # DSA cheaper at every measured position: the crossover lies below the first one,
        # which decides nothing while the claimed range reaches below it.
        first_pos = rows[0]["position"]
        below_first = cross is None and all(r["dsa_over_dense"] < 1 for r in rows)
        if below_first and first_pos > claimed_cross / CROSSOVER_TOL:
            cross_ok = True
            cross_text = f"below {first_pos:,}, DSA being cheaper at every measured position"
        else:
            cross_text = f"{cross:.0f}" if cross is not None else "absent"
        if not cross_ok:
            return _verdict(cid, text, src, "FAIL", measured,
                            f"crossover {'%.0f' % cross if cross else 'absent'} is not within a factor {CROSSOVER_TOL} of "
                            f"the claimed {claimed_cross:,} (a non-attention cost would not move it){stages_note}", device,
                            baseline[phase], mod)
        if other_us_per_token:
            ok = _within(ratio, claimed_ratio, RATIO_TOL)
            return _verdict(cid, text, src, "PASS" if ok else "FAIL", measured,
                            f"dense/DSA cost ratio {ratio:.2f}x at 128K vs claimed {claimed_ratio:.2f}x "
                            f"(tolerance a factor {RATIO_TOL}); crossover {cross_text} vs {claimed_cross:,}{stages_note}", device,
                            baseline[phase], mod)
        if ratio < claimed_ratio / RATIO_TOL:
            return _verdict(cid, text, src, "FAIL", measured,
                            f"attention alone saves only {ratio:.2f}x at 128K (claimed {claimed_ratio:.2f}x for the whole "
                            f"model); a non-attention cost could only lower it{stages_note}", device, baseline[phase], mod)
        return _verdict(cid, text, src, "INCONCLUSIVE", measured,
                        f"attention alone saves {ratio:.2f}x at 128K and the crossover ({cross_text}) is consistent; the "
                        f"whole-model ratio needs the non-attention cost per token (--other-us-per-token){stages_note}",
                        device, baseline[phase], mod)

    out.append(cost_ratio_claim("P-prefill", "prefill", 0.666 / 0.187, 10_000))
    out.append(cost_ratio_claim("P-decode", "decode", 2.15 / 0.249, 5_000))

    # P-short: at the shortest measured position DSA must cost more, in both phases. A
    # phase decides only if that position lies below its claimed crossover by the
    # crossover tolerance (prefill 10K, decode 5K): nearer, a cheaper DSA is still
    # consistent with the crossover claim.
    _, text, src = claims["P-short"]
    claimed_cross = {"prefill": 10_000, "decode": 5_000}
    ev = {}
    for phase in ("prefill", "decode"):
        ph = cm["phases"][phase]
        if ph["available"]:
            first = ph["points"][0]
            ev[phase] = {"position": first["position"], "dsa_over_dense_cost": first["dsa_over_dense"],
                         "decides": first["position"] <= claimed_cross[phase] / CROSSOVER_TOL}
    if not ev:
        out.append(_verdict("P-short", text, src, "INCONCLUSIVE", None, "no timed sweep", device, "both phases"))
    else:
        desc = "; ".join(f"{k} at {v['position']:,}: DSA/dense {v['dsa_over_dense_cost']:.2f}"
                         + ("" if v["decides"] else f" (not below {claimed_cross[k] / CROSSOVER_TOL:,.0f}: decides nothing)")
                         for k, v in ev.items())
        deciding = {k: v["dsa_over_dense_cost"] > 1 for k, v in ev.items() if v["decides"]}
        if not all(gpu_phase[k] for k in ev):
            more = all(v["dsa_over_dense_cost"] > 1 for v in ev.values())
            out.append(_verdict("P-short", text, src, "INCONCLUSIVE", ev,
                                f"{cpu_why(list(ev))}; on this CPU: {desc} (DSA {'dearer' if more else 'not dearer'} "
                                f"at the shortest context)", device_of(ev), "both phases"))
        elif not deciding:
            out.append(_verdict("P-short", text, src, "INCONCLUSIVE", ev,
                                f"{desc}: measure shorter contexts to decide", device_of(ev), "both phases"))
        else:
            ok = all(deciding.values())
            out.append(_verdict("P-short", text, src, "PASS" if ok else "FAIL", ev,
                                f"{desc}: DSA {'costs more' if ok else 'does not cost more'} at the shortest measured "
                                f"position (a common non-attention cost keeps the sign)", device_of(ev), "both phases"))

    # S-cost: halved or better at 128K in both phases.
    _, text, src = claims["S-cost"]
    ratios = {}
    for phase in ("prefill", "decode"):
        ph = cm["phases"][phase]
        if ph["available"]:
            ratios[phase] = (ph["points"][-1]["position"], 1.0 / ph["points"][-1]["dsa_over_dense"])
    on_gpu = bool(ratios) and all(gpu_phase[k] for k in ratios)
    if not on_gpu or min(p for p, _ in ratios.values()) < CONTEXT_128K:
        why = cpu_why(list(ratios)) if ratios and not on_gpu else "needs prefill and decode sweeps on a GPU reaching 128K"
        out.append(_verdict("S-cost", text, src, "INCONCLUSIVE", ratios or None, why, device_of(ratios), "both phases"))
    else:
        low = min(r for _, r in ratios.values())
        if low < 2.0:
            out.append(_verdict("S-cost", text, src, "FAIL", ratios,
                                f"at 128K the smaller dense/DSA cost ratio is {low:.2f}x (< 2) "
                                + (f"with {other_us_per_token:.4g} us per token of non-attention cost added to both paths"
                                   if other_us_per_token else
                                   "for attention alone (a non-attention cost could only lower it)"),
                                device_of(ratios), "both phases"))
        elif other_us_per_token:
            out.append(_verdict("S-cost", text, src, "PASS", ratios, f"at 128K the smaller ratio is {low:.2f}x",
                                device_of(ratios), "both phases"))
        else:
            out.append(_verdict("S-cost", text, src, "INCONCLUSIVE", ratios,
                                f"attention alone is {low:.2f}x cheaper at 128K; the whole-model ratio needs the "
                                f"non-attention cost per token", device_of(ratios), "both phases"))

    # S-speed: whole-model speed-up at long context, read at the longest measured context,
    # from the real dimensions where the results have them. Which way a run's figure can
    # be off decides what it can show:
    #  - a reduced model (hidden size below the real 7168, fewer layers) spends a larger
    #    share of its time in attention than the real one: its speed-up bounds the real
    #    one from above, so it can fail the claim but not pass it;
    #  - the real dimensions (the whole model, or a layer range of it) run an MoE layer's
    #    experts one after another, where a server groups them: the non-attention time is
    #    an upper bound on a server's, so the speed-up bounds a server's from below and can
    #    pass the claim but not fail it. A layer range leaves out the embeddings and LM
    #    head, which in prefill run for one position per chunk (a few GFLOP against
    #    hundreds of TFLOP a chunk): a prefill run of it stands for the whole model.
    _, text, src = claims["S-speed"]
    runs = [r for r in load.model_runs(doc) if r.points]
    long_pts = [(r, p) for r in runs for p in r.points
                if r.backend == "cuda" and p.context >= 65536 and not math.isnan(p.speedup)]
    def kind(r):
        if r.model.get("hidden") != costmod.REAL_HIDDEN:
            return "reduced"
        # A decode step runs the LM head for every token: a layer range's decode figure
        # leaves out some 2.5% of the work and overstates the non-attention time, so it
        # bounds the real speed-up in neither direction.
        return "real" if r.whole() or r.op == "model_prefill" else "mixed"

    if long_pts:
        for wanted in ("real", "reduced", "mixed"):
            pool = [(r, p) for r, p in long_pts if kind(r) == wanted]
            if pool:
                break
        top = max(p.context for _, p in pool)
        run, pt = max(((r, p) for r, p in pool if p.context == top),
                      key=lambda x: (x[0].layers_run(), x[1].speedup))
        real = wanted == "real"
        lr = run.model.get("layer_range")
        what = (f"{run.source(unknown=run.name)} (hidden {run.model.get('hidden', '?')}, "
                + (f"{run.model.get('layers', '?')} layers)" if run.whole()
                   else f"layers [{lr[0]}, {lr[1]}) of {run.model.get('layers', '?')} alone, {run.op})"))
        ev = {"case": run.name, "context": pt.context, "speedup": pt.speedup, "model": what, "real_model": real}
        lower = 2.0 / RATIO_TOL
        fig = f"whole-model speed-up {pt.speedup:.2f}x at {pt.context:,} on {what}"
        experts = ("an MoE layer's experts run one after another here, which overstates the non-attention time, so "
                   "this bounds a server's speed-up from below")
        if real and pt.speedup >= lower:
            verdict, why = "PASS", f"{fig} (within a factor {RATIO_TOL} of 2-3x or above; {experts})"
        elif real:
            verdict, why = "INCONCLUSIVE", (f"{fig}, below 2x by more than a factor {RATIO_TOL}, but {experts}: a server "
                                            f"grouping them would gain more")
        elif wanted == "mixed":
            verdict, why = "INCONCLUSIVE", (f"{fig}: a layer range's decode leaves out the LM head, which runs for every "
                                            f"token, and {experts}; the two pull opposite ways, so it bounds the real "
                                            f"speed-up in neither direction (a prefill run of the range would)")
        elif pt.speedup < lower:
            verdict, why = "FAIL", (f"{fig}, below 2x by more than a factor {RATIO_TOL}; a reduced model overstates "
                                    f"attention's share, so the real one would gain less")
        else:
            verdict, why = "INCONCLUSIVE", (f"{fig}: a reduced model overstates attention's share of the time, so this "
                                            f"bounds the real speed-up from above and cannot confirm 2-3x")
        out.append(_verdict("S-speed", text, src, verdict, ev, why, device, "the dense model path (V3.1-Terminus attention)"))
    else:
        sw = picked["decode"] or picked["prefill"]
        ev = None
        if sw and sw.timed():
            lp = sw.timed()[-1]
            ev = {"attention_speedup": lp.speedup, "context": lp.context, "sweep": sw.name,
                  "device": load.backend_device(doc, sw.backend)}
        out.append(_verdict("S-speed", text, src, "INCONCLUSIVE", ev,
                            (cpu_note + "; " if not gpu else "") +
                            "needs whole-model runs (model_prefill / model_decode) on a GPU at 64K or more"
                            + (f"; attention alone: {ev['attention_speedup']:.2f}x at {ev['context']:,}"
                               + ("" if sw.backend == "cuda" or not gpu else " (on the CPU)") if ev else ""),
                            device, "the dense model path"))

    # S-memory: the claim does not say which memory. What a server holds for every cached
    # token is fixed by the formats (the sweeps record it); the peak of one long request
    # is measured by the GPU model runs, each attention mode's own.
    _, text, src = claims["S-memory"]
    # The bytes follow from the formats and shapes, not the device: a sweep at the real
    # shapes gives the real model's figure (each cache format it was run with).
    with_cache = sorted((s for s in sweeps if s.cache_per_token), key=lambda s: not s.real_shapes)
    peak_ev, peak_text = None, ""
    long_prefills = [(r, p) for r in runs if r.op == "model_prefill" and r.backend == "cuda" for p in r.points
                     if p.context >= 65536 and p.peak("dense") and p.peak("dsa") and p.peak("dense")[1] == "device"]
    if long_prefills:
        r, p = max(long_prefills, key=lambda x: (x[0].model.get("hidden") == costmod.REAL_HIDDEN, x[1].context))
        d, s_ = p.peak("dense")[0], p.peak("dsa")[0]
        peak_ev = {"case": r.name, "context": p.context, "dense_bytes": d, "dsa_bytes": s_, "change": s_ / d - 1.0}
        peak_text = (f"the peak device memory of {r.name}'s {p.context:,}-token prefill, weights included, goes from "
                     f"{d / 1e9:.1f} to {s_ / 1e9:.1f} GB ({100 * peak_ev['change']:+.0f}%): this dense path "
                     f"materialises every head's keys and values over the whole context (MHA mode), a transient a "
                     f"server can bound by expanding the context block by block")
    if with_cache:
        real = with_cache[0].real_shapes
        formats = {}
        for s in with_cache:
            if s.real_shapes == real:
                formats.setdefault(s.params.get("kv_cache_dtype", "bf16"), s.cache_per_token)
        changes = {f: c["dsa"] / c["dense"] - 1.0 for f, c in formats.items()}
        shapes = ("the real shapes" if real else
                  f"this sweep's reduced shapes (latent {with_cache[0].params['kv_rank']}, indexer keys "
                  f"{with_cache[0].params['index_head_dim']}), not the real model's")
        figures = "; ".join(f"{f} cache {c['dense']} -> {c['dsa']} bytes per token per layer ({100 * changes[f]:+.1f}%)"
                            for f, c in formats.items())
        cache_text = f"DSA keeps the latent cache and adds the indexer's key cache, at {shapes}: {figures}"
        ev = {"cache_bytes_per_token_per_layer": formats, "change": changes, "real_shapes": real, "peak": peak_ev}
        if min(changes.values()) < 0:
            verdict, why = "PASS", cache_text
        elif peak_ev and peak_ev["change"] <= -0.30 / RATIO_TOL:
            # The two readings disagree: the claim's figure could be the second.
            verdict, why = "INCONCLUSIVE", (f"the claim does not say which memory: {cache_text}, what a server holds "
                                            f"for every cached token; but {peak_text}")
        else:
            verdict, why = "FAIL", (f"{cache_text}: what a server holds for every cached token grows"
                                    + (f"; {peak_text}" if peak_ev else
                                       "; no GPU model run at 64K or more measured each mode's peak memory"))
        out.append(_verdict("S-memory", text, src, verdict, ev, why, device, "the same latent cache without an indexer"))
    else:
        out.append(_verdict("S-memory", text, src, "INCONCLUSIVE", {"peak": peak_ev} if peak_ev else None,
                            "no sweep recorded cache bytes" + (f"; {peak_text}" if peak_ev else ""), device,
                            "the same latent cache without an indexer"))

    # S-64x: the attention-pair ratio at 128K is 64 by arithmetic; the time ratio is measured.
    _, text, src = claims["S-64x"]
    pts = [(s.name, p) for s in sweeps for p in s.timed()]
    at128 = [(s.name, p) for s in sweeps if s.backend == "cuda" for p in s.timed() if p.context >= CONTEXT_128K]
    if at128:
        best = max(at128, key=lambda x: x[1].speedup)
        pairs = _pair_ratio(best[1])
        ok = best[1].speedup >= 64 * 0.8
        out.append(_verdict("S-64x", text, src, "PASS" if ok else "FAIL",
                            {"speedup": best[1].speedup, "pair_ratio": pairs, "sweep": best[0]},
                            f"measured {best[1].speedup:.1f}x at {best[1].context:,} (pair ratio {_ratio_text(pairs)}: 64 counts "
                            f"attended pairs, not time; MQA-mode pairs cost 3.4x MHA-mode ones and the indexer still "
                            f"scans every key)", device, "dense attention of the same phase"))
    else:
        ev = None
        if pts:
            n, p = max(pts, key=lambda x: x[1].context)
            ev = {"largest_context": p.context, "speedup": p.speedup,
                  "pair_ratio": _pair_ratio(p), "sweep": n}
        out.append(_verdict("S-64x", text, src, "INCONCLUSIVE", ev,
                            ("no point at 128K" if gpu and any(s.backend == "cuda" for s in sweeps) else
                             "needs a GPU sweep at 128K") +
                            (f"; largest measured: {ev['speedup']:.2f}x at {ev['largest_context']:,} with a pair ratio of "
                             f"{_ratio_text(ev['pair_ratio'])}" if ev else ""), device, "dense attention of the same phase"))

    # S-quality: benchmark scores are not measured by this harness.
    _, text, src = claims["S-quality"]
    real = [r for r in runs if r.model.get("checkpoint")]
    ev = None
    if real:
        p = real[0].points[-1]
        ev = {"case": real[0].name, "context": p.context, "kl_mean": p.accuracy.get("kl_mean"),
              "top1_agreement": p.accuracy.get("top1_agreement")}
    out.append(_verdict("S-quality", text, src, "INCONCLUSIVE", ev,
                        "benchmark scores need evaluation suites run on both real models; this harness measures "
                        "next-token agreement (KL, top-1)" + (" on the given checkpoint" if ev else
                                                              ", and these results have no run on a real checkpoint"),
                        device, "V3.1-Terminus-style dense attention on the same weights"))

    # K-*: claims about FlashMLA's kernels, which this harness does not run.
    # The evidence for each: this project's sparse attention in the claim's own setting,
    # prefill (many queries, bf16 cache) or decode (the FP8 cache).
    def prefill_like(c):
        return c["params"].get("kv_cache_dtype", "bf16") != "fp8" and c["params"].get("queries", 0) >= 64

    def decode_like(c):
        return c["params"].get("kv_cache_dtype") == "fp8"

    for cid, fits in (("K-prefill", prefill_like), ("K-decode", decode_like)):
        _, text, src = claims[cid]
        gpu_ops = [c for c in load.op_cases(doc) if c["op"] == "sparse_attention" and c.get("backend") == "cuda"
                   and c.get("throughput") and fits(c)]
        ev = None
        if gpu_ops:
            best = max(gpu_ops, key=lambda c: c["throughput"]["gflops"])
            ev = {"case": best["name"], "tflops": best["throughput"]["gflops"] / 1e3}
        out.append(_verdict(cid, text, src, "INCONCLUSIVE", ev,
                            "a claim about FlashMLA's kernel; deciding it needs FlashMLA itself run on the same device"
                            + (f"; this project's sparse attention reached {ev['tflops']:.0f} TFLOPS in the same setting "
                               f"({ev['case']})" if ev else
                               "; these results have no GPU sparse attention timing in the claim's setting"),
                            device, "none (a throughput claim)"))
    return {"device": device, "on_gpu": gpu, "suite": doc["suite"]["name"], "commit": load.short_commit(doc),
            "short_mode_warning": load.short_mode_warning(doc),
            "other_us_per_token": other_us_per_token, "tolerances": {"ratio_factor": RATIO_TOL,
                                                                     "crossover_factor": CROSSOVER_TOL},
            "verdicts": out}


def markdown(r: dict) -> str:
    lines = [f"# Verdicts on the published claims ({r['suite']}, {r['device']}, commit {r['commit']})", "",
             "| id | claim | verdict | why |", "|---|---|---|---|"]
    if r.get("short_mode_warning"):
        lines[2:2] = [r["short_mode_warning"], ""]
    for v in r["verdicts"]:
        lines.append(f"| {v['id']} | {v['claim']} ({v['source']}) | **{v['verdict']}** | {v['reason']} |")
    lines += ["", f"Tolerances: cost ratios within a factor {r['tolerances']['ratio_factor']}, crossovers within a factor "
                  f"{r['tolerances']['crossover_factor']}. Hardware: {r['device']}. Non-attention cost per token: "
                  + (f"{r['other_us_per_token']:.4g} us" if r['other_us_per_token'] else "not given (attention only)")
                  + ". The measurements the verdicts need run in one command on a GPU: "
                    "`scripts/run.sh suites/claims.json`.", ""]
    for v in r["verdicts"]:
        if v["modelled"]:
            lines.append(f"- {v['id']} modelled: " + "; ".join(v["modelled"]) + ".")
    return "\n".join(lines) + "\n"
