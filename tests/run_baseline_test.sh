#!/usr/bin/env bash
# scripts/run.sh --baseline, the nightly gate: a run against a baseline ten times
# slower than this machine passes (FASTER is no regression); against one whose samples
# take 10% of the time it exits 1 and names the slower series, confirmed by the re-run
# of its case; an unreadable baseline, a missing suite, --rounds without --against and an
# option dsa-bench refuses exit 2 and render no report. The factors dwarf timing noise:
# with 3x / 0.3x and 7 samples a side, a machine busy with a build (2026-11-23) slowed enough of the run's
# samples past the scaled baseline's that the rank test called a 3x change AMBIGUOUS.
# usage: run_baseline_test.sh DSA_BENCH SOURCE_DIR WORK_DIR
set -u
bin=$(realpath "$1"); src=$(realpath "$2"); work=$3
rm -rf "$work"; mkdir -p "$work"
fails=0
cp "$src/tests/gate_suite.json" "$work/gate.json"
run() { DSA_BENCH=$bin DSA_RESULTS_DIR=$work/out bash "$src/scripts/run.sh" "$work/gate.json" --threads 1 "$@" 2>&1; }

out=$(run); rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL first run: exit $rc"; echo "$out" | tail -5; fails=$((fails+1)); }
cp "$work/out/gate.json" "$work/baseline.json"

scale() { /usr/bin/python3 "$src/tests/scale_timings.py" "$@"; }  # scale IN OUT FACTOR: every timing of IN times FACTOR

scale "$work/baseline.json" "$work/slow.json" 10.0
out=$(run --baseline "$work/slow.json"); rc=$?
if [ "$rc" -ne 0 ] || ! grep -q "FASTER" <<<"$out"; then echo "FAIL slower baseline: exit $rc"; echo "$out" | tail -8; fails=$((fails+1)); else echo "ok   no regression against a slower baseline"; fi
[ -s "$work/out/gate-compare.md" ] || { echo "FAIL no comparison table written"; fails=$((fails+1)); }

# A baseline whose every sample took 10% of what this machine just measured.
scale "$work/baseline.json" "$work/fast.json" 0.1
out=$(run --baseline "$work/fast.json"); rc=$?
if [ "$rc" -ne 1 ]; then echo "FAIL faster baseline: exit $rc, expected 1"; echo "$out" | tail -8; fails=$((fails+1))
elif ! grep -q "SLOWER" <<<"$out"; then echo "FAIL faster baseline: no SLOWER row"; fails=$((fails+1))
elif ! grep -q "re-running the cases" <<<"$out" || [ ! -s "$work/out/gate-rerun.json" ]; then
  echo "FAIL faster baseline: the slower case was not re-run"; fails=$((fails+1))
else echo "ok   regression against a faster baseline, confirmed by a re-run"; fi

# A user's --backend and --filter reach both the run and the re-run: run.sh adds its
# default --backend only when none is given, and the re-run's --filter (the slower cases)
# replaces the user's rather than following it (dsa-bench refuses a second value).
out=$(run --baseline "$work/fast.json" --backend cpu --filter '^topk\.small$'); rc=$?
rerun_cases=$(/usr/bin/python3 -c 'import json, sys; print(" ".join(c["name"] for c in json.load(open(sys.argv[1]))["cases"]))' "$work/out/gate-rerun.json" 2>&1)
if [ "$rc" -ne 1 ] || ! grep -qF "| **SLOWER** | topk.small |" <<<"$out" || grep -qE '^\| [^|]+ \| topk\.short \|' "$work/out/gate-compare.md"; then
  echo "FAIL --backend and --filter with a baseline: exit $rc"; echo "$out" | tail -6; fails=$((fails+1))
elif [ "$rerun_cases" != topk.small ]; then echo "FAIL --filter with a baseline: the re-run ran: $rerun_cases"; fails=$((fails+1))
else echo "ok   a user's --backend and --filter in the run and the re-run"; fi

# A baseline in two files of one device (a nightly's parts from separate calls): read
# together, every case compared; a case in both files is refused (exit 2).
/usr/bin/python3 - "$work/slow.json" "$work/part1.json" "$work/part2.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for i, path in enumerate(sys.argv[2:]):
    json.dump(dict(d, cases=[d["cases"][i]]), open(path, "w"))
PY
out=$(run --baseline "$work/part1.json" --baseline "$work/part2.json"); rc=$?
if [ "$rc" -ne 0 ] || [ "$(grep -c '^| FASTER | topk\.' <<<"$out")" -ne 2 ]; then
  echo "FAIL baseline in two files: exit $rc"; echo "$out" | tail -8; fails=$((fails+1))
else echo "ok   a baseline in two files"; fi
out=$(run --baseline "$work/part1.json" --baseline "$work/part1.json"); rc=$?
if [ "$rc" -ne 2 ] || ! grep -q "is also in" <<<"$out"; then echo "FAIL a case in two baseline files: exit $rc"; echo "$out" | tail -4; fails=$((fails+1)); else echo "ok   a case in two baseline files is refused"; fi

out=$(run --baseline "$work/missing.json"); rc=$?
if [ "$rc" -ne 2 ] || ! grep -q "missing.json" <<<"$out"; then echo "FAIL missing baseline: exit $rc"; fails=$((fails+1)); else echo "ok   missing baseline"; fi

# Refused before anything runs, and no report: a results file of the same name from an
# earlier run must not be rendered as if this run had made it.
refused() {  # refused WHAT MESSAGE ARGS...
  local what=$1 msg=$2; shift 2
  rm -rf "$work/out/gate-report"
  out=$(run "$@"); rc=$?
  if [ "$rc" -ne 2 ] || ! grep -qF -- "$msg" <<<"$out"; then echo "FAIL $what: exit $rc"; echo "$out" | tail -4; fails=$((fails+1))
  elif [ -e "$work/out/gate-report" ]; then echo "FAIL $what: a report was rendered"; fails=$((fails+1))
  else echo "ok   refused: $what"; fi
}
refused "--rounds without --against" "--rounds sets the A/B rounds of --against REV" --rounds 3
refused "--against twice" '--against given twice ("HEAD", then "HEAD~1"): it takes one value' --against HEAD --against HEAD~1
refused "--out, which the report would not read" "--out is set here" --out "$work/elsewhere.json"
refused "an option dsa-bench refuses" "dsa-bench refused the run (exit 2, its message above): nothing ran, no report" --fast
out=$(DSA_BENCH=$bin DSA_RESULTS_DIR=$work/out bash "$src/scripts/run.sh" "$work/no-such-suite.json" 2>&1); rc=$?
if [ "$rc" -ne 2 ] || ! grep -qF "no-such-suite.json: not a readable file" <<<"$out"; then echo "FAIL missing suite: exit $rc"; echo "$out" | tail -3; fails=$((fails+1)); else echo "ok   refused: a missing suite"; fi

# A relative suite path is the caller's (here the work folder), not the checkout's.
out=$(cd "$work" && DSA_BENCH=$bin DSA_RESULTS_DIR=$work/rel bash "$src/scripts/run.sh" gate.json --threads 1 --quiet 2>&1); rc=$?
if [ "$rc" -ne 0 ] || [ ! -s "$work/rel/gate.json" ]; then echo "FAIL relative suite path: exit $rc"; echo "$out" | tail -3; fails=$((fails+1)); else echo "ok   a relative suite path from the caller's folder"; fi

[ "$fails" -eq 0 ] || { echo "$fails run.sh --baseline check(s) failed"; exit 1; }
