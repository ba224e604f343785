"""Schema-valid results documents built in code, for the report tests: GPU-shaped results
with chosen timings, so verdicts and cost figures can be checked against hand computation."""
import copy
import json
import os
import statistics
import tempfile


def timing(samples):
    s = sorted(samples)
    return {"samples_s": list(samples), "count": len(samples), "warmup": 1, "median_s": statistics.median(s),
            "min_s": s[0], "max_s": s[-1], "mean_s": statistics.mean(s), "q1_s": s[0], "q3_s": s[-1],
            "iqr_s": s[-1] - s[0], "rel_spread": 0.0, "converged": True, "wall_s": sum(s)}


def samples(median, n=7, spread=0.01):
    """n samples around `median`, spread evenly within +-spread."""
    return [median * (1 + spread * (2 * i / (n - 1) - 1)) for i in range(n)]


def sweep(name, phase, points, heads=128, index_heads=64, query_chunk=1, batch=1, dense_rate=None):
    """points: list of (context, dense_median_s, dsa_median_s); dense_rate: the dense
    kernel's (GFLOP/s, GB/s) at every point."""
    pts = []
    for ctx, d, s in points:
        work = {"flop": 1.0, "bytes": 1.0, "pairs": ctx}
        dsa_work = {"flop": 1.0, "bytes": 1.0, "pairs": min(ctx, 2048)}
        stage = lambda m: {"implementation": "x", "work": work, "timing": timing(samples(m)), "throughput": None}
        pts.append({"context": ctx, "queries": query_chunk, "batch": batch, "status": "passed",
                    "dense": {"implementation": "x", "work": work, "timing": timing(samples(d)),
                              **({"throughput": {"gflops": dense_rate[0], "gbps": dense_rate[1]}} if dense_rate else {})},
                    "dsa": {"work": dsa_work, "timing": timing(samples(s)),
                            "stages": {"indexer": stage(0.1 * s), "topk": stage(0.05 * s), "attention": stage(0.85 * s)}},
                    "speedup": d / s,
                    "accuracy": {"rel_l2": 0.01, "cos_diff": 1e-4, "max_abs": 0.1, "sampled_rows": 1,
                                 "selected_fraction": 0.5, "attention_mass_recall": {"mean": 0.9, "min": 0.8},
                                 "topk_overlap": {"mean": 0.5, "min": 0.4}},
                    "memory": {"peak_rss_bytes": 1e8, "dense": {"cache_bytes": 1152.0 * ctx, "workspace_bytes": 0.0},
                               "dsa": {"cache_bytes": 1284.0 * ctx, "workspace_bytes": 0.0}}})
    return {"name": name, "op": "dsa_vs_dense", "mode": "both", "status": "passed", "backend": "cuda", "seed": 1,
            "implementation": {"indexer": "x", "topk": "x", "sparse_attention": "x", "dense_attention": "x"},
            "params": {"phase": phase, "heads": heads, "index_heads": index_heads, "index_head_dim": 128,
                       "kv_rank": 512, "query_chunk": query_chunk, "batch": batch, "topk": 2048},
            "points": pts, "cache_bytes_per_token_per_layer": {"dense": 1152, "dsa": 1284},
            "crossover": {"context": None, "note": "not computed by the fixture"}}


def op_case(name, median, status="passed", backend="cuda", n=7):
    c = {"name": name, "op": "topk", "mode": "both", "status": status, "backend": backend, "seed": 1,
         "implementation": "x", "params": {"queries": 1, "context": 10}, "timing": timing(samples(median, n)),
         "work": {"flop": 0.0, "bytes": 1.0, "pairs": 10}, "memory": {"peak_rss_bytes": 1}}
    if status != "passed":
        c["reason"] = "a check failed"
    return c


def sparse_case(name, queries, cache, gflops, context=65536):
    """A timed sparse_attention case: the kernel claims read its setting and throughput."""
    c = op_case(name, 1e-3)
    c["op"] = "sparse_attention"
    c["params"] = {"queries": queries, "context": context, "kv_cache_dtype": cache}
    c["throughput"] = {"gflops": gflops, "gbps": 1.0}
    return c


def model_run(name, model, points, op="model_prefill", peaks=None):
    """A model case; points: (context, dense op seconds, DSA op seconds, speed-up), each op
    seconds a dict of matmul, other, indexer, topk and attention; peaks: each mode's peak
    device bytes (dense, DSA) at every point."""
    def ops(sec, peak=None):
        r = {"op_times": {"seconds": {"matmul": 0.0, "other": 0.0, "indexer": 0.0, "topk": 0.0, "attention": 0.0, **sec}},
             "cache": {"bytes_per_token": 1284.0}, "timing": timing(samples(sum(sec.values())))}
        if peak:
            r["memory"] = {"peak_rss_bytes": 1, "device_peak_bytes": int(peak)}
        return r
    acc = {"kl_mean": 0.0, "kl_max": 0.0, "top1_agreement": 1.0, "max_logit_diff": 0.0, "buckets": []}
    return {"name": name, "op": op, "mode": "both", "status": "passed", "backend": "cuda", "implementation": "x",
            "params": {}, "model": model,
            "points": [{"context": ctx, "status": "passed", "speedup": speedup,
                        "dense": ops(d, peaks and peaks[0]), "dsa": ops(s, peaks and peaks[1]),
                        "accuracy": acc} for ctx, d, s, speedup in points]}


def document(cases, device="NVIDIA H800", suite="fixture"):
    return {"schema": "dsa-bench-results", "schema_version": 1, "run_status": "complete",
            "provenance": {"tool": "dsa-bench", "tool_version": "0.1.0", "git_commit": "0123456789abcdef",
                           "git_dirty": False, "timestamp_utc": "2026-11-22T00:00:00Z", "host": "h", "cpu_model": "cpu",
                           "hardware_threads": 1, "threads": 1, "compiler": "gcc", "build_type": "Release",
                           "cuda_backend_built": True,
                           "cuda_devices": [{"name": device, "sm_count": 132, "compute_capability": "9.0",
                                             "memory_bytes": 8e10}] if device else [],
                           "command_line": "dsa-bench run x", "seed": 1, "backend_requested": "auto"},
            "suite": {"name": suite, "path": "x.json", "description": "", "content_fnv1a64": "0", "cases_in_suite": 1,
                      "cases_selected": 1, "filter": ""},
            "cases": cases, "summary": {"counts": {}, "duration_s": 1.0, "all_ok": True}}


def write(doc, directory=None):
    fd, path = tempfile.mkstemp(suffix=".json", dir=directory)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
    return path


def clone(doc):
    return copy.deepcopy(doc)
