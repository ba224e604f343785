#!/usr/bin/env bash
# scripts/run.sh on a suite named claims ends with the verdict on every published claim,
# printed and saved beside the report. Here a small CPU suite of that name: every verdict
# but the memory one is INCONCLUSIVE (a CPU cannot decide a GPU figure; cache bytes follow
# from the formats on any device) and says what this CPU measured.
# usage: run_claims_test.sh DSA_BENCH SOURCE_DIR WORK_DIR
set -u
bin=$1; src=$2; work=$3
rm -rf "$work"; mkdir -p "$work"
fails=0
fail() { echo "FAIL $1"; fails=$((fails+1)); }
cat > "$work/claims.json" <<'JSON'
{"suite": "claims", "cases": [
  {"name": "sweep.decode", "op": "dsa_vs_dense", "phase": "decode", "contexts": [256, 1024], "heads": 16,
   "index_heads": 8, "index_head_dim": 64, "topk": 128, "kv_rank": 128, "qk_nope": 32, "qk_rope": 32, "v_head": 32,
   "accuracy_rows": 1, "timing": {"warmup": 0, "min_samples": 3, "max_samples": 3, "max_seconds": 1}}
]}
JSON
out=$(DSA_BENCH=$bin DSA_RESULTS_DIR=$work/out bash "$src/scripts/run.sh" "$work/claims.json" --threads 1 2>&1); rc=$?
[ "$rc" -eq 0 ] || { fail "exit $rc"; echo "$out" | tail -8; }
grep -q "^| P-decode | .* | \*\*INCONCLUSIVE\*\* | results from a CPU cannot" <<<"$out" || { fail "no P-decode verdict printed"; echo "$out" | tail -15; }
grep -q "verdicts: $work/out/claims-verdicts.md" <<<"$out" || fail "the verdicts file is not named"
! grep -q "^No case ran here" <<<"$out" || fail "a run whose case ran says that nothing ran"
/usr/bin/python3 - "$work/out/claims-verdicts.json" <<'PY' || fail "claims-verdicts.json"
import json, sys
v = json.load(open(sys.argv[1]))["verdicts"]
assert len(v) == 10, v
assert all(x["verdict"] == ("FAIL" if x["id"] == "S-memory" else "INCONCLUSIVE") for x in v), v
PY
cmp -s <(grep "^| P-" "$work/out/claims-verdicts.md") <(grep "^| P-" <<<"$out") || fail "printed and saved verdicts differ"
# Without a GPU every case of a GPU-only claims suite is skipped: run.sh says so and
# names the command that gives the verdicts on the recorded H100 runs, which works.
mkdir -p "$work/gpu-only"
cat > "$work/gpu-only/claims.json" <<'JSON'
{"suite": "claims", "cases": [
  {"name": "sweep.decode", "op": "dsa_vs_dense", "phase": "decode", "contexts": [256], "heads": 16, "backends": ["cuda"],
   "index_heads": 8, "index_head_dim": 64, "topk": 128, "kv_rank": 128, "qk_nope": 32, "qk_rope": 32, "v_head": 32}
]}
JSON
out=$(DSA_BENCH=$bin DSA_RESULTS_DIR=$work/gpu-only/out bash "$src/scripts/run.sh" "$work/gpu-only/claims.json" --backend cpu 2>&1)
grep -q "^No case ran here (no GPU)" <<<"$out" || { fail "no word that nothing ran"; echo "$out" | tail -8; }
cmd=$(grep "^  reports/dsa-report claims docs/evidence/" <<<"$out")
if [ -z "$cmd" ]; then
  fail "no command for the recorded evidence"
else
  recorded=$(cd "$src" && eval "$cmd" 2>&1) || { fail "the recorded-evidence command failed: $cmd"; echo "$recorded" | tail -5; }
  grep -q "NVIDIA H100" <<<"$recorded" || fail "the recorded verdicts name no H100"
  grep -q '^| S-64x | .* | \*\*FAIL\*\* |' <<<"$recorded" || { fail "the recorded verdicts lack S-64x's FAIL"; echo "$recorded" | head -12; }
fi
[ "$fails" -eq 0 ] && echo "ok   run.sh claims: verdicts printed and saved; without a GPU, the recorded runs' verdicts named"
exit "$fails"
