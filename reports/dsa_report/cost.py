"""Dollars per million tokens by token position, prefill and decode, dense against DSA.

Measured: the per-layer attention time of each path (dense baseline; DSA's indexer, top-k
and sparse attention) at each context of a dsa_vs_dense sweep, on the device of the run.
Modelled: the whole model as `layers` identical attention layers plus a fixed
non-attention time per token: given on the command line, else measured by a model_prefill
run of the real dimensions in the results (the dense path's matrix products and other work
per token: the whole model's, or one layer range's per layer times `layers`), else 0 - and
the output says which; attention shapes scaled to the
real head counts when the sweep used fewer heads (time taken as proportional to heads).

  prefill, position p: the marginal cost of a token at p = the time of the sweep's query
                       chunk ending at p, per query.
  decode, context p:   the cost of one decode step at context p per sequence = step time
                       / (batch * queries per step).
  $ per million tokens = seconds per token * 1e6 * gpu_hour_usd / 3600.
"""
from __future__ import annotations

import math

from . import load

REAL_HEADS = 128
REAL_INDEX_HEADS = 64


def pick_sweep(sweeps, phase):
    """The sweep of a phase to model from: one that ran on the GPU preferred (in a GPU run
    a sweep whose shapes no CUDA kernel takes runs on the CPU); then real shapes; for
    decode then the largest batch (a server's cost per token: at batch 1 fixed costs, such
    as a top-k that cannot fill the GPU from one row, dominate); then the most contexts."""
    cands = [s for s in sweeps if s.phase == phase and s.timed()]
    if not cands:
        return None
    batch = lambda s: s.params.get("batch", 1) if phase == "decode" else 1
    return sorted(cands, key=lambda s: (s.backend != "cuda", not s.real_shapes, -batch(s), -len(s.timed())))[0]


def stage_shares(p: load.SweepPoint) -> dict:
    """Each DSA stage's share of the DSA time at a point (empty where not recorded)."""
    total = sum(p.stages.get(k, 0.0) for k in ("indexer", "topk", "attention"))
    return {k: p.stages[k] / total for k in ("indexer", "topk", "attention") if k in p.stages} if total > 0 else {}


def baseline_strength(sw: load.Sweep, p: load.SweepPoint) -> dict | None:
    """How strong the dense baseline is at a point: its rates, and where the run measured
    the device's ceilings, its share of the ceiling on its side of the roofline (bf16
    matrix products when its work does more FLOP per byte than the ceilings' ratio, the
    copy bandwidth otherwise). A dense kernel far below its ceiling inflates every DSA
    speed-up and cost saving measured against it."""
    tp = p.dense_throughput
    if not tp:
        return None
    out = {"implementation": p.dense_implementation, "context": p.context, "gflops": tp["gflops"], "gbps": tp["gbps"]}
    ceil = sw.ceilings
    compute = tp["gflops"] / 1e3 / ceil["bf16_tflops"] if ceil.get("bf16_tflops") else None
    memory = tp["gbps"] / ceil["copy_gbps"] if ceil.get("copy_gbps") else None
    if compute is not None and memory is not None:
        out.update(bound="compute" if compute >= memory else "memory", share=max(compute, memory))
    elif compute is not None or memory is not None:
        # One ceiling measured (cuBLASLt failed, say): the share of that one, but no bound
        # and no `share`, since which ceiling the work is bound by is not known.
        out["partial_share"] = {"compute": compute} if compute is not None else {"memory": memory}
    return out


# The device ceiling each side of the roofline is judged by, as the text names it.
_CEILING = {"compute": "bf16 matrix-product", "memory": "copy-bandwidth"}


def _percent(share: float) -> str:
    return f"{100 * share:.0f}%" if share >= 0.005 else "under 1%"  # an emulator's or a CPU's share, not "0%"


def baseline_text(b: dict, why: bool = True) -> str:
    rate = (f"{b['gflops'] / 1e3:.0f} TFLOP/s" if b["gflops"] >= 1e4 else f"{b['gflops']:.3g} GFLOP/s") + \
        (f" and {b['gbps']:.0f} GB/s" if b["gbps"] >= 10 else f" and {b['gbps']:.2g} GB/s")  # a CPU's 0.42, not 0
    head = f"dense baseline {b['implementation']} at {b['context']:,}: {rate}"
    if "partial_share" in b:
        (side, share), = b["partial_share"].items()
        lack = next(name for s, name in _CEILING.items() if s != side)
        return (f"{head}, {_percent(share)} of the measured {_CEILING[side]} ceiling (the {lack} ceiling was not "
                f"measured, so which of the two bounds its work is not known)")
    if "share" not in b:
        return f"{head} (no measured ceilings to judge it by)"
    return (f"{head}, {_percent(b['share'])} of the measured {_CEILING[b['bound']]} ceiling its work is bound by"
            + (" (a stronger dense kernel would shrink DSA's advantage)" if why else ""))


def _per_token_seconds(sweep: load.Sweep, p: load.SweepPoint):
    """(dense, dsa) attention seconds per token per layer at the real head counts."""
    prm = sweep.params
    tokens = prm["query_chunk"] * (prm["batch"] if sweep.phase == "decode" else 1)
    rh = REAL_HEADS / prm["heads"]
    ri = REAL_INDEX_HEADS / prm["index_heads"]
    dense = p.dense_s * rh
    if rh == 1 and ri == 1:
        dsa = p.dsa_s
    else:  # scale each stage by what its cost grows with
        dsa = p.stages["indexer"] * ri + p.stages["topk"] + p.stages["attention"] * rh
    return dense / tokens, dsa / tokens


def crossover(positions, dense, dsa):
    """The position beyond which DSA stays cheaper (log-linear between the two points
    around the last loss), or None with the reason."""
    last = None
    for i, (a, b) in enumerate(zip(dense, dsa)):
        if b > a:
            last = i
    if last is None:
        return None, "DSA is cheaper at every measured position"
    if last == len(positions) - 1:
        return None, "DSA is more expensive at every measured position" if all(b > a for a, b in zip(dense, dsa)) \
            else "DSA is more expensive at the largest measured position"
    r0, r1 = dsa[last] / dense[last], dsa[last + 1] / dense[last + 1]
    f = (r0 - 1.0) / (r0 - r1)
    x0, x1 = math.log(positions[last]), math.log(positions[last + 1])
    return math.exp(x0 + f * (x1 - x0)), "interpolated in log(position) on the DSA/dense cost ratio"


REAL_HIDDEN = 7168
REAL_PRESET = "deepseek-v3.2-exp"


def non_attention_from_model(doc: dict, layers: int):
    """(us per token, source) for a model of `layers` layers from the model_prefill run of
    the real dimensions (hidden size 7168) that ran the most layers, or (None, why not).

    A run of the whole model gives its own figure. A layer range (one real layer of
    deepseek-v3.2-exp is what fits one GPU) gives a per-layer figure, taken for every
    layer: the real model's 3 dense layers have the same FFN width per token as its MoE
    layers' 8 routed and 1 shared experts; its embeddings and LM head are then left out.
    Read at the run's shortest context: the non-attention work per token does not grow
    with the context, while some of the path's attention-side work counted as matrix
    products does (the dense path expands the cache into per-head keys and values).
    The dense path's figure serves both paths: DSA's own extra products (the indexer's
    projections, about 28 MFLOP a token a layer, some 2-3% of the non-attention work)
    are left out, which favours DSA by that much."""
    runs = [r for r in load.model_runs(doc) if r.op == "model_prefill" and r.points]
    real = [r for r in runs if r.model.get("hidden") == REAL_HIDDEN and r.layers_run() > 0]
    # Its time goes beside the sweeps' attention times: from the same device only (in a GPU
    # run, a model case the GPU could not take runs on the CPU).
    here = "cuda" if load.on_gpu(doc) else "cpu"
    match = [r for r in real if r.backend == here]
    if not match:
        seen = ", ".join(sorted({r.source() for r in runs})) or "none"
        elsewhere = "".join(f"; {r.name} ran on {r.backend}, not beside the {here} attention times" for r in real)
        # A run meant to measure it that did not (skipped without a GPU, out of host
        # memory, ...) says why, so the cause is not left to be guessed.
        missed = [c for c in doc["cases"] if c["op"] == "model_prefill" and not c.get("points")
                  and (c.get("params", {}).get("model") == REAL_PRESET or c.get("params", {}).get("checkpoint"))]
        return None, (f"no model_prefill run of the real dimensions (hidden size {REAL_HIDDEN}; one layer is enough, "
                      f"e.g. layers [3, 4] of {REAL_PRESET}; model_prefill runs in these results: {seen})"
                      + "".join(f"; {c['name']} ended {c['status']}: {c.get('reason', 'no reason recorded')}"
                                for c in missed) + elsewhere)
    r = max(match, key=lambda x: x.layers_run())
    p = min(r.points, key=lambda x: x.context)
    sec = p.dense["op_times"]["seconds"]
    per_token = (sec["matmul"] + sec["other"]) / p.context
    n = r.layers_run()
    # The harness's forward runs an MoE layer's experts one after another, where a server
    # groups them into one product: its figure bounds a server's from above, which
    # dilutes DSA's savings in the whole-model ratio (a conservative direction).
    what = (f"measured by {r.name} at {p.context:,} tokens (dense path: matrix products and other work as this "
            f"harness runs them, an MoE layer's experts one after another: an upper bound on a server's")
    if r.whole() and n == layers:
        return per_token * 1e6, what + ")"
    lr = r.model.get("layer_range", [0, n])
    return per_token / n * layers * 1e6, (what + f", per layer of its {n} layer{'s' if n != 1 else ''} "
                                          f"[{lr[0]}, {lr[1]}), times {layers} layers"
                                          + ("" if r.whole() else "; embeddings and LM head not included") + ")")


def cost_model(doc: dict, gpu_hour_usd: float = 2.0, layers: int = 61, other_us_per_token: float | None = None) -> dict:
    usd = lambda seconds: seconds * 1e6 * gpu_hour_usd / 3600.0
    missing = None  # why the results give no non-attention time, when they do not
    if other_us_per_token is None:
        other_us_per_token, other_source = non_attention_from_model(doc, layers)
        if other_us_per_token is None:
            missing = other_source
            other_source, other_us_per_token = f"not included: {missing}", 0.0
    else:
        other_source = "given on the command line"
    out = {"gpu_hour_usd": gpu_hour_usd, "layers": layers, "other_us_per_token": other_us_per_token,
           "other_source": other_source,
           "device": load.device_name(doc), "suite": doc["suite"]["name"], "commit": load.short_commit(doc),
           "phases": {}}
    for phase in ("prefill", "decode"):
        sw = pick_sweep(load.sweeps(doc), phase)
        if sw is None:
            out["phases"][phase] = {"available": False, "reason": f"the results have no timed {phase} sweep"}
            continue
        rows = []
        for p in sw.timed():
            d, s = _per_token_seconds(sw, p)
            d_total = layers * d + other_us_per_token * 1e-6
            s_total = layers * s + other_us_per_token * 1e-6
            rows.append({"position": p.context, "dense_usd_per_mtok": usd(d_total), "dsa_usd_per_mtok": usd(s_total),
                         "dsa_over_dense": s_total / d_total,
                         "attention_s_per_token_per_layer": {"dense": d, "dsa": s},
                         "dsa_stage_share": stage_shares(p)})
        pos = [r["position"] for r in rows]
        x, why = crossover(pos, [r["dense_usd_per_mtok"] for r in rows], [r["dsa_usd_per_mtok"] for r in rows])
        measured = [f"per-layer attention time of dense and DSA at contexts {pos} on {load.backend_device(doc, sw.backend)} "
                    f"(sweep {sw.name}, backend {sw.backend})"]
        modelled = [f"the whole model as {layers} identical attention layers"]
        if other_us_per_token:
            modelled.append(f"non-attention time {other_us_per_token:.4g} us per token ({other_source})"
                            + ("; in decode the same per token as in prefill, as for a server batching enough "
                               "sequences that its weights are read once for many tokens" if phase == "decode" else ""))
        else:
            # Said once, plainly: the reason already names what is missing.
            modelled.append("no non-attention cost, the figures are attention only"
                            + (f": {missing}" if missing else f" ({other_source})"))
        if not sw.real_shapes:
            modelled.append(f"attention scaled from the sweep's {sw.params['heads']} heads / {sw.params['index_heads']} "
                            f"indexer heads to {REAL_HEADS} / {REAL_INDEX_HEADS}, time taken as proportional to heads")
        strength = baseline_strength(sw, sw.timed()[-1]) if rows else None
        if strength:
            measured.append(baseline_text(strength))
        if phase == "decode":
            measured.append(f"decode at batch {sw.params['batch']}, {sw.params['query_chunk']} "
                            f"{'query' if sw.params['query_chunk'] == 1 else 'queries'} per step per sequence")
        else:
            measured.append(f"prefill of a {sw.params['query_chunk']}-query chunk ending at each position")
        out["phases"][phase] = {"available": True, "sweep": sw.name, "backend": sw.backend,
                                "device": load.backend_device(doc, sw.backend), "real_shapes": sw.real_shapes, "points": rows,
                                "dense_baseline": strength,
                                "crossover_position": x, "crossover_note": why, "measured": measured,
                                "modelled": modelled}
    return out


def markdown(c: dict) -> str:
    lines = [f"# Cost per million tokens ({c['suite']}, {c['device']}, commit {c['commit']})", "",
             f"GPU price ${c['gpu_hour_usd']:.2f} per hour; {c['layers']} layers; "
             f"non-attention time {c['other_us_per_token']:.4g} us per token ({c['other_source']}).", ""]
    for phase, ph in c["phases"].items():
        lines.append(f"## {phase}")
        lines.append("")
        if not ph["available"]:
            lines += [f"Not available: {ph['reason']}.", ""]
            continue
        lines += ["| position | dense $/M tokens | DSA $/M tokens | DSA / dense |", "|---:|---:|---:|---:|"]
        for r in ph["points"]:
            lines.append(f"| {r['position']:,} | {r['dense_usd_per_mtok']:.4g} | {r['dsa_usd_per_mtok']:.4g} | "
                         f"{r['dsa_over_dense']:.3f} |")
        x = ph["crossover_position"]
        lines += ["", f"Crossover: {'DSA cheaper beyond about ' + format(round(x), ',') + ' tokens' if x else 'none'} "
                      f"({ph['crossover_note']}).", "", "Measured: " + "; ".join(ph["measured"]) + ".",
                  "Modelled: " + "; ".join(ph["modelled"]) + ".", ""]
    return "\n".join(lines)
