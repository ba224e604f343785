#!/usr/bin/env bash
# dsa-bench on the SIMT emulator (dsa-bench-simt: the same main() and runner, linked with
# the emulated CUDA libraries): a run through the CUDA backend end to end, as a GPU run
# goes, where there is no GPU. The kernels' own results are the gpu tests' business; this
# checks what the runner does around them on the GPU path: the device's ceilings, the
# worker process, the timing loop's samples and SM-clock readings, device memory, a
# sweep's turn-about timing and its stages, the model cases through the GPU forward, a
# case that falls back to the CPU and says why, and the report tool on what it wrote.
# usage: simt_runner_test.sh DSA_BENCH_SIMT SOURCE_DIR WORK_DIR
set -u
bin=$1; src=$2; work=$3
rm -rf "$work"; mkdir -p "$work"; cd "$work" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

"$bin" run "$src/tests/simt_runner_suite.json" --out results.json > run.out 2> run.err
rc=$?
cat run.out
[ "$rc" -eq 0 ] || { tail -40 run.err; fail "dsa-bench-simt exited $rc, expected 0"; }
grep -q "^dsa-bench: ceilings: bf16 not measured, fp8 not measured, copy [0-9]* GB/s; bf16 matmul: cuBLAS error" run.err \
  || { grep ceilings run.err; fail "the ceilings line does not say which ceilings were not measured"; }

/usr/bin/python3 "$src/tests/check_schema.py" "$src/reports/results.schema.json" results.json || fail "schema"

/usr/bin/python3 - <<'PY' || exit 1
import json, sys

d = json.load(open("results.json"))
bad = []
def check(ok, what):
    if not ok:
        bad.append(what)

check(d["run_status"] == "complete", f"run_status {d['run_status']}")
dev = d["provenance"]["cuda_devices"]
check(len(dev) == 1 and dev[0]["name"].startswith("SIMT emulator"), f"devices {dev}")
ceil = d.get("device_ceilings", {})
check(ceil.get("copy_gbps", 0) > 0, f"copy ceiling {ceil}")
check(ceil.get("bf16_tflops") == 0 and "cublasLtCreate" in ceil.get("notes", ""), f"bf16 ceiling {ceil}")

cases = {c["name"]: c for c in d["cases"]}
for name, c in cases.items():
    check(c["status"] == "passed", f"{name}: {c['status']} {c.get('reason', '')}")
    want = "cpu" if name == "model.fp8_cache" else "cuda"
    check(c.get("backend") == want, f"{name}: backend {c.get('backend')}, expected {want}")

# Op cases: the CUDA variant named, every sample kept, one SM-clock reading after every
# run (validation, warm-up, samples: -1 without NVML), device memory and the copy share.
for name in ("indexer.fp8", "indexer.bf16", "topk.ties", "sparse_attention.fp8_cache",
             "dense_attention_mqa.bf16", "dense_attention_mha.bf16"):
    c = cases[name]
    t = c["timing"]
    check(c["implementation"].startswith("cuda."), f"{name}: implementation {c['implementation']}")
    check(t["count"] == len(t["samples_s"]) >= 2 and all(s > 0 for s in t["samples_s"]), f"{name}: samples {t}")
    check(len(c.get("sm_clock_mhz", [])) == 1 + t["warmup"] + t["count"], f"{name}: clocks {c.get('sm_clock_mhz')}")
    check(c["memory"].get("device_peak_bytes", 0) >= c["memory"]["input_bytes"], f"{name}: memory {c['memory']}")
    check(c.get("share_of_ceiling", {}).get("memory", 0) > 0, f"{name}: share {c.get('share_of_ceiling')}")
    check("compute" not in c.get("share_of_ceiling", {}), f"{name}: a compute share of an unmeasured ceiling")
    check(not c.get("backend_fallback"), f"{name}: fell back: {c.get('backend_fallback')}")

# Sweeps: each point times dense and DSA turn about on the GPU, with each DSA stage's
# kernel, a clock reading per sample, and the accuracy of DSA against dense.
stage_kernels = {"indexer": "cuda.indexer.", "topk": "cuda.topk.", "attention": "cuda.sparse_mqa."}
for name in ("sweep.decode", "sweep.prefill"):
    c = cases[name]
    check([p["context"] for p in c["points"]] == c["params"]["contexts"], f"{name}: points")
    for p in c["points"]:
        where = f"{name}@{p['context']}"
        check(p["status"] == "passed", f"{where}: {p['status']}")
        dense = p["dense"]
        check(dense["implementation"].startswith("cuda.dense_"), f"{where}: dense {dense['implementation']}")
        for side in ("dense", "dsa"):
            s = p[side]
            check(len(s["sm_clock_mhz"]) == s["timing"]["count"] >= 2, f"{where} {side}: clocks {s['sm_clock_mhz']}")
        for stage, prefix in stage_kernels.items():
            st = p["dsa"]["stages"][stage]
            check(st["implementation"].startswith(prefix), f"{where}: {stage} {st['implementation']}")
            check(st["timing"]["count"] >= 2 and st["work"]["flop"] + st["work"]["bytes"] > 0, f"{where}: {stage} {st['timing']}")
        check(0 < p["accuracy"]["attention_mass_recall"]["mean"] <= 1, f"{where}: accuracy {p['accuracy']}")

# The model cases: the GPU forward's timed runs, time per op and per token, device memory.
for name in ("model.prefill", "model.decode"):
    for p in cases[name]["points"]:
        for mode in ("dense", "dsa"):
            m = p[mode]
            where = f"{name}@{p['context']} {mode}"
            check(m["timing"]["count"] >= 2 and m["per_token_s"] > 0, f"{where}: timing {m['timing']}")
            check(m["memory"].get("device_peak_bytes", 0) > 0, f"{where}: memory {m['memory']}")
            check(sum(m["op_times"]["seconds"].values()) > 0 and m["time_over_op_sum"] > 0, f"{where}: ops {m['op_times']}")
            check(len(m["sm_clock_mhz"]) == m["timing"]["count"], f"{where}: clocks {m['sm_clock_mhz']}")
        check(p["accuracy"]["count"] > 0 and 0 <= p["accuracy"]["top1_agreement"] <= 1, f"{name}: accuracy {p['accuracy']}")
check(cases["model.decode"]["points"][0]["batch"] == 2, "model.decode: batch")
fb = cases["model.fp8_cache"].get("backend_fallback", "")
check(fb.startswith("cuda: no GPU sparse_attention kernel takes this model"), f"model.fp8_cache: fallback {fb!r}")

if bad:
    print("FAIL:\n  " + "\n  ".join(bad))
    sys.exit(1)
print(f"ok: {len(cases)} cases through the CUDA backend on the emulator, one fallback to the CPU named")
PY

# A device too small for a sweep's last point (the emulated device's memory set to 160 MB:
# the timing's L2 flush buffer, 100 MiB, and the first point fit; the second point's
# latent cache does not): that point ends oom with the amounts, the point before it keeps
# its figures, the case is oom, and the next case runs.
cat > oom.json <<'JSON'
{"suite": "oom", "defaults": {"timing": {"warmup": 1, "min_samples": 2, "max_samples": 3, "max_seconds": 0.01}},
 "cases": [
  {"name": "sweep.decode", "op": "dsa_vs_dense", "phase": "decode", "contexts": [100, 40000], "heads": 64,
   "index_heads": 64, "topk": 128},
  {"name": "topk", "op": "topk", "queries": 2, "context": 3000, "topk": 256}
 ]}
JSON
DSA_SIMT_DEVICE_BYTES=160000000 "$bin" run oom.json --out oom-results.json > oom.out 2> oom.err
rc=$?
[ "$rc" -eq 1 ] || { cat oom.out; fail "the run with an oom case exited $rc, expected 1"; }
/usr/bin/python3 - <<'PY' || { cat oom.out; exit 1; }
import json
d = json.load(open("oom-results.json"))
c = {x["name"]: x for x in d["cases"]}
sw = c["sweep.decode"]
assert sw["status"] == "oom", sw["status"]
first, last = sw["points"]
assert first["status"] == "passed" and first["dense"]["timing"]["count"] >= 2, first["status"]
assert last["status"] == "oom", last["status"]
assert last["reason"].startswith("out of device memory: ") and "free of the device's 160.0 MB" in last["reason"], last["reason"]
assert sw["reason"] == "context 40000: " + last["reason"], sw["reason"]
assert c["topk"]["status"] == "passed" and c["topk"]["backend"] == "cuda", c["topk"]
print("ok: the point the device could not hold is oom with the amounts; the point before it and the next case ran")
PY

# The report tool on a GPU run's results: render (the fallback listed), a compare of the
# run with itself (nothing but SAME), the cost per token and the claims.
report=$src/reports/dsa-report
"$report" render results.json --out report > render.out 2>&1 || { cat render.out; fail "render"; }
grep -q "^- model.fp8_cache: ran on cpu; cuda: no GPU sparse_attention kernel" report/report.md \
  || fail "the report does not list the fallback"
"$report" compare results.json results.json > compare.out 2>&1 || { cat compare.out; fail "compare of the run with itself"; }
grep -q "Totals: [0-9]* SAME. Exit status 0." compare.out || { cat compare.out; fail "compare's totals"; }
"$report" cost results.json > cost.out 2>&1 || { cat cost.out; fail "cost"; }
grep -q "on SIMT emulator (CPU; H100-like limits) (sweep sweep.decode, backend cuda)" cost.out || { cat cost.out; fail "cost's device"; }
# The emulator's cuBLASLt measures no bf16 ceiling: the dense baseline is judged by the copy
# bandwidth alone, and said to be.
grep -q "at 400: [0-9.]* GFLOP/s and [0-9.]* GB/s, under 1% of the measured copy-bandwidth ceiling (the bf16 matrix-product ceiling was not measured" cost.out \
  || { cat cost.out; fail "cost's dense baseline with the copy ceiling alone"; }
"$report" claims results.json > claims.out 2>&1 || { cat claims.out; fail "claims"; }
echo "ok: render, compare, cost and claims read the run"
