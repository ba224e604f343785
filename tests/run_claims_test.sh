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
/usr/bin/python3 - "$work/out/claims-verdicts.json" <<'PY' || fail "claims-verdicts.json"
import json, sys
v = json.load(open(sys.argv[1]))["verdicts"]
assert len(v) == 10, v
assert all(x["verdict"] == ("FAIL" if x["id"] == "S-memory" else "INCONCLUSIVE") for x in v), v
PY
cmp -s <(grep "^| P-" "$work/out/claims-verdicts.md") <(grep "^| P-" <<<"$out") || fail "printed and saved verdicts differ"
[ "$fails" -eq 0 ] && echo "ok   run.sh claims: verdicts printed and saved"
exit "$fails"
