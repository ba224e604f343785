#!/usr/bin/python3
"""Independent NumPy re-implementation of the reference ops, run on the arrays that
`dsa-bench dump` wrote. It shares no code with the C++ reference: agreement means the
definitions, the dump format and the manifest are all right.

usage: check_dump.py DUMP_DIR [DUMP_DIR ...]
"""
import json
import os
import sys

import numpy as np


def e4m3_table():
    t = np.zeros(256)
    for b in range(256):
        s, e, m = b >> 7, (b >> 3) & 0xF, b & 7
        if e == 0xF and m == 7:
            v = np.nan
        elif e == 0:
            v = m * 2.0 ** -9
        else:
            v = (1 + m / 8) * 2.0 ** (e - 7)
        t[b] = -v if s else v
    return t


def indexer_scores(q, k, w, offset):
    T, S = q.shape[0], k.shape[0]
    dots = np.einsum("thd,sd->ths", q.astype(np.float64), k.astype(np.float64))
    scores = np.einsum("th,ths->ts", w.astype(np.float64), np.maximum(dots, 0.0))
    mask = np.arange(S)[None, :] > (offset + np.arange(T))[:, None]
    scores[mask] = -np.inf
    return scores


def topk(scores, ends, k):
    out = np.full((scores.shape[0], k), -1, dtype=np.int32)
    for t, end in enumerate(ends):
        row = scores[t, :end].astype(np.float64)
        nan = np.isnan(row)
        key = np.where(nan, 0.0, -row) + 0.0  # + 0.0 folds -0 into +0
        order = np.lexsort((np.arange(end), key, nan))  # NaN last, then larger score, then position
        sel = np.sort(order[: min(k, end)])
        out[t, : len(sel)] = sel
    return out


def attend(q, keys, values, scale):
    """One query head over explicit keys: (out, lse)."""
    if len(keys) == 0:
        return np.zeros(values.shape[1]), -np.inf
    logits = scale * (keys.astype(np.float64) @ q.astype(np.float64))
    m = logits.max()
    p = np.exp(logits - m)
    return p @ values.astype(np.float64) / p.sum(), m + np.log(p.sum())


def sparse_mqa(q, kv, idx, dv, scale):
    T, H, _ = q.shape
    out, lse = np.zeros((T, H, dv)), np.zeros((T, H))
    for t in range(T):
        valid = idx[t][(idx[t] >= 0) & (idx[t] < kv.shape[0])]
        for h in range(H):
            out[t, h], lse[t, h] = attend(q[t, h], kv[valid], kv[valid, :dv], scale)
    return out, lse


def dense_mqa(q, kv, dv, scale, offset):
    """Causal dense attention as sparse attention over every visible position."""
    pos = np.arange(kv.shape[0])
    idx = np.where(pos[None, :] <= (offset + np.arange(q.shape[0]))[:, None], pos[None, :], -1)
    return sparse_mqa(q, kv, idx, dv, scale)


def dense_mha(q, k, v, scale, offset):
    T, H, _ = q.shape
    out, lse = np.zeros((T, H, v.shape[2])), np.zeros((T, H))
    for t in range(T):
        end = min(offset + t + 1, k.shape[0])
        for h in range(H):
            out[t, h], lse[t, h] = attend(q[t, h], k[:end, h], v[:end, h], scale)
    return out, lse


def close(name, got, want, rtol=1e-5, atol=1e-6):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{name}: shape {got.shape} vs {want.shape}")
    if not np.array_equal(np.isinf(got), np.isinf(want)) or not np.array_equal(np.isnan(got), np.isnan(want)):
        raise AssertionError(f"{name}: non-finite structure differs")
    f = np.isfinite(want)
    bad = np.abs(got[f] - want[f]) > atol + rtol * np.abs(want[f])
    if bad.any():
        i = np.argmax(np.abs(got[f] - want[f]))
        raise AssertionError(f"{name}: {bad.sum()} elements differ; worst {got[f][i]} vs {want[f][i]}")


def check(d):
    man = json.load(open(os.path.join(d, "manifest.json")))
    a = {n: np.load(os.path.join(d, f["file"])) for n, f in man["files"].items()}
    for n, f in man["files"].items():
        assert list(a[n].shape) == f["shape"], n
    notes, op = man["notes"], man["op"]
    if op == "indexer":
        close("scores", a["scores"], indexer_scores(a["q"], a["k"], a["w"], notes["query_offset"]), 1e-5, 1e-6)
        if "q_fp8" in a:  # dequantised values are code * scale, exactly; scales per spec
            table = e4m3_table()
            assert np.array_equal(table[a["q_fp8"]] * a["q_scale"][..., None], a["q"]), "q != code * scale"
            assert np.array_equal(table[a["k_fp8"]] * a["k_scale"][..., None], a["k"]), "k != code * scale"
            if not man["params"]["hadamard"]:
                amax = np.maximum(np.abs(a["q_raw"]).max(-1), np.float32(1e-4))
                want = 2.0 ** np.ceil(np.log2((amax / np.float32(448)).astype(np.float32)))
                assert np.array_equal(want, a["q_scale"]), "q scales are not 2^ceil(log2(amax/448))"
    elif op == "topk":
        assert np.array_equal(topk(a["scores"], a["ends"], a["indices"].shape[1]), a["indices"]), "top-k differs"
    elif op in ("sparse_attention", "dense_attention_mqa", "dense_attention_mha"):
        scale, dv = notes["softmax_scale"], a["out"].shape[2]
        if op == "sparse_attention":
            out, lse = sparse_mqa(a["q"], a["kv"], a["indices"], dv, scale)
        elif op == "dense_attention_mqa":
            out, lse = dense_mqa(a["q"], a["kv"], dv, scale, notes["query_offset"])
        else:
            out, lse = dense_mha(a["q"], a["k"], a["v"], scale, notes["query_offset"])
        close("out", a["out"], out)
        close("lse", a["lse"], lse)
    elif op == "dsa_vs_dense":
        off, scale = notes["query_offset"], notes["softmax_scale"]
        scores = indexer_scores(a["indexer_q"], a["indexer_k"], a["indexer_w"], off)
        close("indexer_scores", a["indexer_scores"], scores)
        ends = [min(off + t + 1, scores.shape[1]) for t in range(scores.shape[0])]
        assert np.array_equal(topk(a["indexer_scores"], ends, a["topk_indices"].shape[1]), a["topk_indices"])
        rank = a["dsa_out"].shape[2]
        out, lse = sparse_mqa(a["q_mqa"], a["cache"], a["topk_indices"], rank, scale)
        close("dsa_out", a["dsa_out"], out)
        close("dsa_lse", a["dsa_lse"], lse)
        if "q_mha" in a:
            out, lse = dense_mha(a["q_mha"], a["k_mha"], a["v_mha"], scale, off)
            # The absorbed query is W_UK^T q_nope, then rounded to the storage dtype.
            nope = a["w_uk"].shape[1]
            absorbed = np.einsum("hir,thi->thr", a["w_uk"].astype(np.float64), a["q_mha"][..., :nope].astype(np.float64))
            close("q_mqa", a["q_mqa"][..., :rank], absorbed, 1e-2, 1e-2)
        else:
            out, lse = dense_mqa(a["q_mqa"], a["cache"], rank, scale, off)
        close("dense_out", a["dense_out"], out)
        close("dense_lse", a["dense_lse"], lse)
    else:
        raise AssertionError(f"unknown op {op}")
    return f"{d}: {op}, {len(a)} arrays agree with NumPy"


def main():
    failed = 0
    for d in sys.argv[1:]:
        try:
            print(check(d))
        except AssertionError as e:
            failed += 1
            print(f"{d}: MISMATCH: {e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
