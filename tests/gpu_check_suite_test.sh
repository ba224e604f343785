#!/usr/bin/env bash
# scripts/gpu-check.sh --suite, the form most of a GPU session's steps take, with the real
# dsa-bench on the SIMT emulator in the bundle (dsa-bench-simt) instead of the stand-ins
# of gpu_check_session_test.sh: what the script reads from the binary (`list`, the
# exact-name filter, --case-timeout, the results file it merges and tabulates) is the
# binary's real output, so a change to either side that breaks the other shows here and
# not in a GPU session.
#   1. a kernel that traps in case b (DSA_BENCH_INJECT_FAULT=b:gpu_fault): b is an error,
#      a and c pass on the CUDA backend, c in a new worker; the merged results file holds
#      the three in suite order; the step fails (exit 1) and its table says why;
#   2. a case that hangs (c): stopped at its limit (STEP_LIMIT), an error naming the
#      limit, the other two passed;
#   3. a sweep point the device cannot hold: oom, and the table gives its whole reason;
#   4. a model case: its point's line gives KL, top-1 agreement and the device peaks.
# usage: gpu_check_suite_test.sh DSA_BENCH_SIMT SOURCE_DIR WORK_DIR
set -u
bin=$1; src=$2; work=$3
rm -rf "$work"; mkdir -p "$work/bundle"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ln -s "$bin" "$work/bundle/dsa-bench"
suite=tests/three_topk_cases.json  # gpu-check.sh runs from the source tree's root

# gpu-check.sh from the source tree's root with this bundle, its results under WORK/NAME and
# its console in WORK/NAME.console (printed); rc its exit status.
gpu_check() {  # gpu_check NAME [VAR=VALUE ...] -- ARGS...
  local name=$1 settings=()
  shift
  while [ "$1" != -- ]; do settings+=("$1"); shift; done
  shift
  (cd "$src" && env "${settings[@]}" GPU_BUNDLE="$work/bundle" OUT="$work/$name" bash scripts/gpu-check.sh "$@") \
    > "$work/$name.console" 2>&1
  rc=$?
  cat "$work/$name.console"
}

# After gpu_check NAME on the three top-k cases: its exit status, then its merged results
# file (the cases in suite order, then PYTHON_ASSERTS on d, the file, and c, its cases by name).
check() {  # check NAME EXPECTED_EXIT PYTHON_ASSERTS
  local name=$1 want=$2
  [ "$rc" -eq "$want" ] || fail "$name: gpu-check.sh exited $rc, expected $want"
  /usr/bin/python3 - "$work/$name/three_topk_cases.json" "$3" <<'PY' || fail "$name: the merged results file"
import json, sys
d = json.load(open(sys.argv[1]))
c = {x["name"]: x for x in d["cases"]}
assert [x["name"] for x in d["cases"]] == ["a", "b", "c"], [x["name"] for x in d["cases"]]
exec(sys.argv[2])
print("merged results file as expected")
PY
}

# 1. A kernel fault in b.
gpu_check fault DSA_BENCH_INJECT_FAULT=b:gpu_fault STEP_LIMIT=120 -- --suite "$suite"
check fault 1 '
assert {k: v["status"] for k, v in c.items()} == {"a": "passed", "b": "error", "c": "passed"}, c
assert "the GPU context was lost during this case" in c["b"]["reason"], c["b"]["reason"]
assert c["a"]["backend"] == "cuda" and c["c"]["backend"] == "cuda", (c["a"].get("backend"), c["c"].get("backend"))
assert d["run_status"] == "complete", d["run_status"]
assert [r["reason"] for r in d["provenance"]["resumed"]] == ["the GPU context was lost"], d["provenance"]["resumed"]'
grep -qE '^b +error +- ' "$work/fault.console" || fail "fault: the table has no error line for b"
grep -qE '^    CUDA error .*the GPU context was lost during this case' "$work/fault.console" \
  || fail "fault: the table does not give b's whole reason"
grep -qE '^c +passed ' "$work/fault.console" || fail "fault: the table has no passed line for c"
# The emulator's cuBLASLt measures no matrix-product ceiling: the table says so, not "0".
grep -qE '^ceilings: bf16 not measured, fp8 not measured, copy [0-9]+ GB/s' "$work/fault.console" \
  || fail "fault: the ceilings line does not say which ceilings were not measured"
grep -q "the GPU context was lost" "$work/fault/three_topk_cases.log" || fail "fault: the step's log lacks the supervisor's line"

# 2. A case that hangs: its limit (STEP_LIMIT, the worker's --case-timeout) ends it.
gpu_check hang DSA_BENCH_INJECT_FAULT=c:hang STEP_LIMIT=8 -- --suite "$suite"
check hang 1 '
assert {k: v["status"] for k, v in c.items()} == {"a": "passed", "b": "passed", "c": "error"}, c
assert "8 s" in c["c"]["reason"], c["c"]["reason"]'

# 3. A sweep point the device cannot hold (the emulated device made 160 MB, as in
#    simt_runner_test.sh): the point's line says oom, the next line its whole reason.
cat > "$work/oom.json" <<'JSON'
{"suite": "oom", "defaults": {"timing": {"warmup": 1, "min_samples": 2, "max_samples": 3, "max_seconds": 0.01}},
 "cases": [{"name": "sweep.decode", "op": "dsa_vs_dense", "phase": "decode", "contexts": [100, 40000], "heads": 64,
            "index_heads": 64, "topk": 128}]}
JSON
gpu_check oom DSA_SIMT_DEVICE_BYTES=160000000 STEP_LIMIT=120 -- --suite "$work/oom.json"
[ "$rc" -eq 1 ] || fail "oom: gpu-check.sh exited $rc, expected 1"
grep -qE '^sweep\.decode +oom ' "$work/oom.console" || fail "oom: the table has no oom line for the sweep"
grep -qE '^    L=40000 +oom ' "$work/oom.console" || fail "oom: the table has no oom line for the point"
grep -qE "^        out of device memory: .* free of the device's 160\.0 MB" "$work/oom.console" \
  || fail "oom: the table does not give the point's whole reason"
grep -qE '^    context 40000: out of device memory' "$work/oom.console" \
  && fail "oom: the sweep's reason is given whole beside its point's (twice)"

# 4. A model case (dsa-tiny's batched decode through the GPU forward): its point's line
#    gives the next-token agreement and each mode's device peak, not a rel_l2 it has none of.
gpu_check model STEP_LIMIT=120 -- --suite tests/simt_runner_suite.json '^model\.decode$'
[ "$rc" -eq 0 ] || fail "model: gpu-check.sh exited $rc, expected 0"
grep -qE '^    L=96 +passed +dense +[0-9.]+ms dsa +[0-9.]+ms speed-up +[0-9.]+x KL [0-9.e-]+ top-1 [01]\.[0-9]{3} peak [0-9.]+/[0-9.]+ GB' \
  "$work/model.console" || fail "model: the point's line lacks KL, top-1 or the device peaks"

[ "$fails" -eq 0 ] && echo "ok: gpu-check.sh --suite with dsa-bench on the emulator: a trapped kernel and a hung case each cost only their case; an oom point's reason given whole; a model point's agreement and peaks shown"
exit $((fails > 0))
