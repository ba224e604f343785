#!/usr/bin/env bash
# scripts/gpu-check.sh --session, the plan a GPU session runs in one or two device calls,
# driven here through stand-ins for the three GPU binaries (no GPU needed: what is
# tested is the orchestration, which a GPU session has no time to debug):
#   call 1: the validated gpu test suites and the corner suite run (no first-run suite);
#           the model step after them runs past the call's deadline, is cut, and is not
#           marked finished; every result so far is packed into session.tgz;
#   call 2 (same machine): resumes at the cut step; the first-run suites run, each
#           target's kernels just before their cases, and a first-run test process that
#           hangs is stopped at its limit and its kernel noted as hung; the rest runs,
#           the hung kernel's candidates case is skipped, and the micro-benchmarks are
#           told which it is; within a step the first-run processes go kernel by kernel
#           in FIRST_RUN_ORDER, not in the order the suites are listed;
#   calls A and B (another machine's state): a step cut in the middle keeps, in the
#           next call, the results of its processes that finished; the same keeping
#           in the suite and micro-benchmark forms, asked directly;
#   a call without a usable GPU (its device probe's case skipped): exit 2, no step run.
# usage: gpu_check_session_test.sh SOURCE_DIR WORK_DIR
set -u
src=$1; work=$2
rm -rf "$work"; mkdir -p "$work/bundle"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
log=$work/stub.log
: > "$log"

# dsa_gpu_tests: a validated suite and two first-run ones (listed in the opposite of
# the order FIRST_RUN_ORDER runs their kernels in); the first-run kernel STUB_HANG
# (default cuda.dense_mqa.seesaw) hangs.
cat > "$work/bundle/dsa_gpu_tests" <<'SH'
#!/usr/bin/env bash
for a in "$@"; do
  case "$a" in
    --gtest_list_tests) printf 'CudaIndexer.\n  MatchesReference\nBatches/CudaFirstRunIndexerBatch.\n  MatchesReference/b2\nCudaFirstRunDenseMqa.\n  MatchesReference\n'; exit 0 ;;
    --gtest_filter=*) filter=${a#--gtest_filter=} ;;
    --gtest_output=json:*) json=${a#--gtest_output=json:} ;;
  esac
done
echo "gpu_tests $filter variant=${DSA_FIRST_RUN_VARIANT:-}" >> "$STUB_LOG"
if [ -n "${DSA_FIRST_RUN_VARIANT:-}" ] && [ "${DSA_FIRST_RUN_VARIANT}" = "${STUB_HANG:-cuda.dense_mqa.seesaw}" ]; then exec sleep 100; fi
suite=${filter%.\*}
printf '{"testsuites": [{"name": "%s", "testsuite": [{"name": "MatchesReference", "result": "COMPLETED"}]}]}\n' "$suite" > "$json"
SH

# dsa-bench: variants, list and run as gpu-check uses them. STUB_SLOW names a suite
# whose run outlasts any deadline; a run keeps the finished records of --out with
# --resume; STUB_NO_RECORD names a case a run without --in-process leaves unrecorded
# (exit 1), as a failing supervisor would; from the case STUB_STICKY names on, such a
# run records every case as an error naming the same CUDA error (a sticky error).
cat > "$work/bundle/dsa-bench" <<'SH'
#!/usr/bin/env bash
names="kernel.topk.sample.prefill.64k kernel.dense_mqa.wgmma.decode_bf16.64k kernel.dense_mqa.seesaw.decode_bf16.64k
sweep.decode.b64.fp8.wgmma_attention model.v32.layer3.prefill sweep.decode.b64.fp8.filter_topk"
cmd=$1; shift
case "$cmd" in
  variants)
    [ "$*" = "--unvalidated --op dense_attention_mqa" ] && printf 'cuda.dense_mqa.wgmma_tma\ncuda.dense_mqa.seesaw\n'
    [ "$*" = "--unvalidated --op indexer" ] && printf 'cuda.indexer.keyrows\n'
    exit 0 ;;
  list)
    filter=.
    [ "${2:-}" = --filter ] && filter=$3
    printf '%s\n' $names | grep -E -- "$filter" | awk '{print "  " NR "  " $1 " op both"}'
    exit 0 ;;
  run)
    suite=$1; out=; filter=; flags=
    while [ $# -gt 0 ]; do
      case "$1" in --out) out=$2; shift ;; --filter) filter=$2; shift ;; --resume|--in-process) flags="$flags $1" ;; esac
      shift
    done
    if [ "$filter" = '^topk\.one_token$' ]; then  # --session's device probe: noted apart
      echo probe >> "$STUB_LOG.probe"
      reason=; [ -n "${STUB_NO_GPU:-}" ] && reason=', "status": "skipped", "reason": "no CUDA device (stub)"'
      printf '{"cases": [{"name": "topk.one_token", "status": "passed"%s}]}\n' "$reason" > "$out"
      exit 0
    fi
    echo "run $(basename "$suite") $filter$flags" >> "$STUB_LOG"
    if [ -n "${STUB_SLOW:-}" ] && [[ "$suite" == *"$STUB_SLOW"* ]]; then exec sleep 100; fi
    mkdir -p "$(dirname "$out")"
    printf '%s\n' $names | grep -E -- "$filter" | python3 -c '
import json, sys
out, flags, drop = sys.argv[1], sys.argv[2], sys.argv[3]
kept = []
if "--resume" in flags:
  kept = [c for c in json.load(open(out))["cases"] if c["status"] not in ("running", "interrupted")]
have = {c["name"] for c in kept}
selected = [n for n in sys.stdin.read().split() if n not in have]
dropped = drop in selected and "--in-process" not in flags
new = [{"name": n, "status": "passed"} for n in selected if not (dropped and n == drop)]
sticky = sys.argv[4] if "--in-process" not in flags else ""
for i, c in enumerate(new):  # from the case STUB_STICKY names on, the same CUDA error
  if sticky and sticky in [d["name"] for d in new[:i + 1]]:
    c.update(status="error", reason="CUDA error cudaErrorIllegalAddress (an illegal memory access was encountered) in k at x.cu:1")
json.dump({"suite": {}, "run_status": "complete", "summary": {"duration_s": 0}, "cases": kept + new}, open(out, "w"))
sys.exit(1 if dropped else 0)
' "$out" "$flags" "${STUB_NO_RECORD:-}" "${STUB_STICKY:-}" ;;
esac
SH

# dsa-micro-cuda: a phase benchmark and a plain one; records the hung-kernel list it
# was given and writes one timing of the family it was asked for.
cat > "$work/bundle/dsa-micro-cuda" <<'SH'
#!/usr/bin/env bash
for a in "$@"; do
  case "$a" in
    --benchmark_list_tests) printf 'BM_CudaDenseSeesawPhasesDecodeBf16/65536\nBM_CudaIndexerBatchKeyrowsB64/4096\nBM_CudaTopkFilterStagesPrefill512/65536/1\nBM_CudaTopkFilterPrefill512/65536\nBM_CudaTopkSampleAtomicsPrefill512/65536\n'; exit 0 ;;
    --benchmark_filter=*) family=${a#--benchmark_filter=^}; family=${family%%(*} ;;
    --benchmark_out=*) out=${a#--benchmark_out=} ;;
  esac
done
echo "micro $family hung=[$(tr '\n' ' ' < "${DSA_HUNG_KERNELS:-/dev/null}")]" >> "$STUB_LOG"
printf '{"benchmarks": [{"name": "%s/4096/manual_time", "real_time": 12.5, "time_unit": "us", "TFLOPS": 1.5, "GB/s": 900}]}\n' "$family" > "$out"
SH
chmod +x "$work/bundle"/*
echo stub > "$work/bundle/COMMIT"

session() {  # session BUDGET OUT [VAR=VALUE ...]
  local budget=$1 out=$2; shift 2
  env STUB_LOG="$log" GPU_BUNDLE="$work/bundle" SESSION_ROOT="$work/state" FIRST_RUN_LIMIT=2 OUT="$out" "$@" \
    bash "$src/scripts/gpu-check.sh" --session "$budget" > "$out.console" 2>&1
}

# Call 1: 40 s budget, 20 s of it for steps; the model step (step 2) never ends.
mkdir -p "$work/call1"
start=$(date +%s)
session 40 "$work/call1" STUB_SLOW=model.json
took=$(( $(date +%s) - start ))
[ "$took" -le 35 ] || fail "call 1 took ${took} s, past its 40 s budget less the packing reserve"
[ "$(cat "$work/state/done" 2>/dev/null | tr '\n' ' ')" = "1 " ] || fail "after call 1 only step 1 should be finished, not: $(cat "$work/state/done" 2>/dev/null)"
grep -q "^gpu_tests CudaIndexer\.\* variant=$" "$log" || fail "step 1 did not run the validated suite: $(tr '\n' ';' < "$log")"
grep -q "^gpu_tests .*FirstRun" "$log" && fail "step 1 ran a first-run suite, which comes after the model step"
grep -q "^run corner.json" "$log" || fail "step 1 did not run the corner suite"
grep -q "step 2 was cut by this call's deadline" "$work/call1.console" || fail "call 1 did not say that step 2 was cut"
tar tzf "$work/call1/session.tgz" 2>/dev/null | grep -q "step-1-quick/gpu-tests/CudaIndexer.json" \
  || fail "session.tgz of call 1 lacks the validated suite's results"
[ -s "$work/call1/console.log" ] || fail "call 1 wrote no console.log under OUT"

# Call 2 on the same machine: resumes at step 2 and finishes the plan.
mkdir -p "$work/call2"
: > "$log"
session 120 "$work/call2"
rc=$?
[ "$(tr '\n' ' ' < "$work/state/done")" = "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 " ] || fail "after call 2 every step should be finished, not: $(tr '\n' ' ' < "$work/state/done")"
grep -q "^gpu_tests CudaIndexer" "$log" && fail "call 2 ran step 1's validated suite again"
grep -q "^run corner.json" "$log" && fail "call 2 ran the corner suite again (the first-run step has none)"
grep -qx cuda.dense_mqa.seesaw "$work/state/hung-kernels.txt" || fail "the hanging first-run kernel was not noted as hung"
grep -qx cuda.dense_mqa.wgmma_tma "$work/state/hung-kernels.txt" && fail "a kernel that passed was noted as hung"
grep -qF "gpu_tests Batches/CudaFirstRunIndexerBatch.* variant=cuda.indexer.keyrows" "$log" \
  || fail "a first-run indexer suite did not run once for the unvalidated indexer kernel: $(grep Indexer "$log" | tr '\n' ';')"
order=$(grep -o '^gpu_tests .*FirstRun.* variant=.*' "$log" | sed 's/.*variant=//' | tr '\n' ' ')
[ "$order" = "cuda.dense_mqa.seesaw cuda.dense_mqa.wgmma_tma cuda.indexer.keyrows " ] \
  || fail "the first-run processes did not go kernel by kernel in FIRST_RUN_ORDER (seesaw, wgmma_tma, keyrows): $order"
# Per target: the dense decode kernels' first runs (step 9), then their cases (step 10),
# then the rest's first runs (step 11: keyrows, named by no step); a kernel a step names
# but this build has no first-run tests for is said, not an error.
seq=$(grep -E '^(gpu_tests .*FirstRun|run candidates\.json .*dense_mqa)' "$log" \
  | sed -E 's/^gpu_tests .*variant=//; s/^run candidates\.json .*/dense cases/' | tr '\n' ';')
[ "$seq" = "cuda.dense_mqa.seesaw;cuda.dense_mqa.wgmma_tma;dense cases;cuda.indexer.keyrows;" ] \
  || fail "each target's first runs should come just before its cases, the rest's after: $seq"
grep -q "FIRST_RUN_KERNELS names cuda.topk.filter_fused, which has no first-run tests in this build" "$work/call2.console" \
  || fail "a step naming a kernel with no first-run tests did not say so"
tar tzf "$work/call2/session.tgz" 2>/dev/null | grep -q "step-9-quick/gpu-tests/CudaFirstRunDenseMqa__cuda.dense_mqa.wgmma_tma.json" \
  || fail "session.tgz of call 2 lacks the passing first-run kernel's results"
grep -q "cuda.dense_mqa.seesaw. | .*HUNG" "$work/call2/report.md" 2>/dev/null \
  || fail "call 2's report.md does not name the hung kernel: $(head -c 600 "$work/call2/report.md" 2>/dev/null)"
[ "$(grep -c "cuda.dense_mqa.seesaw. | .*HUNG" "$work/call2/report.md")" -eq 1 ] \
  || fail "call 2's report.md names the hung kernel under more than the first-run step"
grep -q "^Corner suite on the GPU: " "$work/call2/report.md" || fail "call 2's report.md lacks the corner suite's line"
grep -q "^run model.json" "$log" || fail "call 2 did not run the cut model step"
grep -q "^run model.json .*model.*v32.*layer3" "$log" || fail "call 2 did not run the real-dimension layer step: $(grep '^run model.json' "$log" | tr '\n' ';')"
grep -q "seesaw" <(grep '^run candidates.json' "$log") && fail "call 2 ran a candidates case of the hung kernel"
grep -q "^run candidates.json .*dense_mqa\\\\.wgmma\\\\." "$log" || fail "call 2 did not run the other dense_mqa candidates case"
grep -q "not run: kernel.dense_mqa.seesaw.decode_bf16.64k" "$work/call2.console" || fail "call 2 did not say why the hung kernel's case was not run"
grep -q "micro BM_CudaDenseSeesawPhasesDecodeBf16 hung=\[cuda.dense_mqa.seesaw \]" "$log" || fail "the micro-benchmarks were not told which kernel hung"
grep -q "^micro BM_CudaIndexerBatchKeyrowsB64 " "$log" || fail "call 2 did not run the indexer micro-benchmark step"
grep -q "^micro BM_CudaTopkFilterStagesPrefill512 " "$log" || fail "call 2 did not run the filter top-k's stage benchmark"
grep -q "^micro BM_CudaTopkFilterPrefill512 " "$log" || fail "call 2 did not run the filter top-k's benchmark"
[ "$(grep -c '^micro ' "$log")" -eq 4 ] || fail "step 8 should run one micro-benchmark family and step 9 three (not the sample_atomics one): $(grep '^micro ' "$log" | tr '\n' ';')"
grep -q "| BM_CudaIndexerBatchKeyrowsB64 | 4096 | 12.5 | 1.5 | 900 |" "$work/call2/report.md" \
  || fail "call 2's report.md lacks the micro-benchmark table: $(grep -A4 'Micro' "$work/call2/report.md")"
[ "$rc" -ne 0 ] || fail "a session with a hung kernel exited 0"
tar tzf "$work/call2/session.tgz" 2>/dev/null | grep -q "step-17-suite/candidates.json" \
  || fail "session.tgz of call 2 lacks the last step's results"

# A third call has nothing left to do, and a bad budget is refused.
session 60 "$work/call3" || true
grep -q "0 of 17 steps left" "$work/call3.console" || fail "a finished plan did not say so"
env STUB_LOG="$log" GPU_BUNDLE="$work/bundle" OUT="$work/nomatch" bash "$src/scripts/gpu-check.sh" --suite suites/candidates.json '^kernel\.nothing$' > "$work/nomatch.console" 2>&1
rc=$?
[ "$rc" -eq 1 ] && grep -q "no case of suites/candidates.json matches" "$work/nomatch.console" \
  || fail "a suite regex that matches no case did not say so and fail (exit $rc)"
env GPU_BUNDLE="$work/bundle" bash "$src/scripts/gpu-check.sh" --session 5 > "$work/bad.console" 2>&1
[ $? -eq 2 ] || fail "--session 5 was not refused with exit 2"
for bad in 'SESSION_SKIP=1,2' 'SESSION_SKIP=18' 'SESSION_HUNG=seesaw'; do
  env GPU_BUNDLE="$work/bundle" SESSION_ROOT="$work/bad-state" OUT="$work/bad-out" "$bad" \
    bash "$src/scripts/gpu-check.sh" --session 60 > "$work/bad.console" 2>&1
  rc=$?
  [ "$rc" -eq 2 ] && grep -q "expected" "$work/bad.console" || fail "$bad was not refused with exit 2 and a reason (exit $rc)"
done

env STUB_LOG="$log" GPU_BUNDLE="$work/bundle" OUT="$work/bad-first" FIRST_RUN=later bash "$src/scripts/gpu-check.sh" --quick \
  > "$work/bad.console" 2>&1
rc=$?
[ "$rc" -eq 2 ] && grep -q "FIRST_RUN must be skip or only" "$work/bad.console" || fail "FIRST_RUN=later was not refused (exit $rc)"

# A fresh machine resumes from the settings the last console line gives.
resume=$(grep -o 'SESSION_SKIP="[0-9 ]*" SESSION_HUNG="[^"]*"' "$work/call2.console" | tail -1)
[ "$resume" = 'SESSION_SKIP="1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17" SESSION_HUNG="cuda.dense_mqa.seesaw"' ] || fail "call 2's console ends with \"$resume\""
: > "$log"
mkdir -p "$work/call4"
env STUB_LOG="$log" GPU_BUNDLE="$work/bundle" SESSION_ROOT="$work/fresh" OUT="$work/call4" \
  SESSION_SKIP="1 2 3 4 5 6 7 8 9 11 12 13 14 15 16 17" SESSION_HUNG="cuda.dense_mqa.seesaw" bash "$src/scripts/gpu-check.sh" --session 60 > "$work/call4.console" 2>&1
[ "$(grep -c '^run ' "$log")" -eq 1 ] && grep -q '^run candidates.json .*dense_mqa\\.wgmma\\.' "$log" \
  || fail "a fresh machine given SESSION_SKIP/SESSION_HUNG ran other than step 10's one case: $(tr '\n' ';' < "$log")"

# A step cut in the middle resumes in the next call on the same machine without running
# again what finished: call A (steps 1 to 8 finished before) runs step 9's first-run
# processes until one outlasts the call's deadline (not its own limit, so it is not taken
# as hung); call B runs that one alone and keeps the other's results.
: > "$log"
env STUB_LOG="$log" GPU_BUNDLE="$work/bundle" SESSION_ROOT="$work/cut" OUT="$work/callA" SESSION_SKIP="1 2 3 4 5 6 7 8" \
  STUB_HANG=cuda.dense_mqa.wgmma_tma FIRST_RUN_LIMIT=60 bash "$src/scripts/gpu-check.sh" --session 32 > "$work/callA.console" 2>&1
grep -q "step 9 was cut by this call's deadline" "$work/callA.console" || fail "call A did not say that step 9 was cut"
[ -s "$work/cut/hung-kernels.txt" ] && fail "a process cut by the call's deadline was taken as hung: $(cat "$work/cut/hung-kernels.txt")"
[ "$(grep -c '^gpu_tests ' "$log")" -eq 2 ] || fail "call A should have started 2 first-run processes: $(tr '\n' ';' < "$log")"
: > "$log"
env STUB_LOG="$log" GPU_BUNDLE="$work/bundle" SESSION_ROOT="$work/cut" OUT="$work/callB" SESSION_SKIP="10 11 12 13 14 15 16 17" \
  STUB_HANG=none FIRST_RUN_LIMIT=2 bash "$src/scripts/gpu-check.sh" --session 60 > "$work/callB.console" 2>&1
rc=$?
[ "$rc" -eq 0 ] || fail "call B, whose every process passed (kept or run), exited $rc"
grep -q "step 9 of 17: .*(resumed" "$work/callB.console" || fail "call B did not say that it resumes step 9"
[ "$(tr '\n' ';' < "$log")" = "gpu_tests CudaFirstRunDenseMqa.* variant=cuda.dense_mqa.wgmma_tma;" ] \
  || fail "call B should have run only the process the deadline cut: $(tr '\n' ';' < "$log")"
grep -q "kept from the earlier call: CudaFirstRunDenseMqa (cuda.dense_mqa.seesaw)" "$work/cut/step-9-quick/gpu-tests.log" \
  || fail "the resumed step's log does not say what it kept"
grep -q "gpu tests: 2 passed, 0 failed" "$work/callB.console" || fail "the resumed step's merged results lack the kept processes"

# The same keeping asked directly (KEEP_FINISHED=1, as a resumed session step gets).
# The suite form runs its cases in one supervised run: an interrupted run is resumed
# (--resume, same filter: the stand-in keeps its finished records), a complete one is
# kept whole and a failure in it still fails the step; a case the run leaves without a
# record runs again alone (--in-process) and joins the suite's results, but not after
# a deadline cut the run (the next call resumes it). A complete benchmark family is kept.
keep_out=$work/keep
two='^kernel\.(topk\.sample|dense_mqa\.wgmma)\.'
two_exact='^(kernel\.topk\.sample\.prefill\.64k|kernel\.dense_mqa\.wgmma\.decode_bf16\.64k)$'
mkdir -p "$keep_out/candidates" "$keep_out/micro"
kept_run() {  # kept_run RUN_STATUS STATUS_OF_THE_TOPK_CASE STATUS_OF_THE_DENSE_CASE
  printf '{"suite": {}, "run_status": "%s", "summary": {}, "cases": [{"name": "kernel.topk.sample.prefill.64k", "status": "%s"}, {"name": "kernel.dense_mqa.wgmma.decode_bf16.64k", "status": "%s"}]}\n' \
    "$1" "$2" "$3" > "$keep_out/candidates/run.json"
}
suite_direct() {  # suite_direct [VAR=VALUE ...]: the two cases' suite step; its exit status
  env STUB_LOG="$log" GPU_BUNDLE="$work/bundle" OUT="$keep_out" "$@" bash "$src/scripts/gpu-check.sh" \
    --suite suites/candidates.json "$two" > "$work/keep.console" 2>&1
}
merged_statuses() { python3 -c 'import json, sys; print(" ".join(c["name"] + "=" + c["status"] for c in json.load(open(sys.argv[1]))["cases"]))' "$keep_out/candidates.json"; }
kept_run interrupted passed interrupted
: > "$log"
suite_direct KEEP_FINISHED=1
rc=$?
[ "$rc" -eq 0 ] && [ "$(tr '\n' ';' < "$log")" = "run candidates.json $two_exact --resume;" ] \
  || fail "KEEP_FINISHED=1 should resume the interrupted run (exit $rc): $(tr '\n' ';' < "$log")"
[ "$(merged_statuses)" = "kernel.topk.sample.prefill.64k=passed kernel.dense_mqa.wgmma.decode_bf16.64k=passed" ] \
  || fail "the resumed run's merged results are not both cases passed: $(merged_statuses)"
kept_run complete failed passed
: > "$log"
suite_direct KEEP_FINISHED=1
rc=$?
[ "$rc" -eq 1 ] && [ ! -s "$log" ] || fail "a kept complete run with a failed case should run nothing and fail the step (exit $rc): $(tr '\n' ';' < "$log")"
rm -f "$keep_out/candidates/run.json"
: > "$log"
suite_direct STUB_NO_RECORD=kernel.topk.sample.prefill.64k
rc=$?
[ "$(tr '\n' ';' < "$log")" = "run candidates.json $two_exact;run candidates.json ^kernel\.topk\.sample\.prefill\.64k\$ --in-process;" ] \
  || fail "a case the supervised run left unrecorded should run again alone, in-process: $(tr '\n' ';' < "$log")"
[ "$(merged_statuses)" = "kernel.topk.sample.prefill.64k=passed kernel.dense_mqa.wgmma.decode_bf16.64k=passed" ] \
  || fail "the case run alone is not in the suite's merged results, in suite order: $(merged_statuses)"
grep -q "kernel.topk.sample.prefill.64k: no record of it from the supervised run" "$work/keep.console" \
  || fail "the step did not say why it ran a case alone"
[ "$rc" -eq 1 ] || fail "a supervised run that lost a case's record did not fail the step (exit $rc)"
rm -f "$keep_out/candidates/"*.json
: > "$log"
suite_direct STUB_STICKY=kernel.topk.sample.prefill.64k
[ "$(tr '\n' ';' < "$log")" = "run candidates.json $two_exact;run candidates.json ^kernel\.dense_mqa\.wgmma\.decode_bf16\.64k\$ --in-process;" ] \
  || fail "a case that erred with an earlier case's CUDA error should run again alone, the first not: $(tr '\n' ';' < "$log")"
[ "$(merged_statuses)" = "kernel.topk.sample.prefill.64k=error kernel.dense_mqa.wgmma.decode_bf16.64k=passed" ] \
  || fail "the suite's merged results should keep the first error and the case run alone: $(merged_statuses)"
grep -q "the same cudaErrorIllegalAddress as an earlier case" "$work/keep.console" || fail "the step did not say why it ran the erring case alone"
rm -rf "$keep_out/candidates" "$keep_out/candidates.json"
: > "$log"
suite_direct STUB_SLOW=candidates DEADLINE=$(( $(date +%s) + 14 )) DEADLINE_MARK="$work/keep.deadline"
[ -e "$work/keep.deadline" ] && [ "$(tr '\n' ';' < "$log")" = "run candidates.json $two_exact;" ] \
  || fail "a run cut by the deadline should leave its cases to the next call, not run them alone: $(tr '\n' ';' < "$log")"
grep -q "no record of" "$work/keep.console" && fail "a run cut by the deadline was taken for a supervisor's failure"
: > "$log"
suite_direct STUB_SLOW=candidates SUITE_LIMIT=3
rc=$?
[ "$rc" -eq 1 ] && [ "$(tr '\n' ';' < "$log")" = "run candidates.json $two_exact;" ] && grep -q "the run was stopped at its limit (3 s)" "$work/keep.console" \
  || fail "a run stopped at SUITE_LIMIT should fail the step and say so, not run its cases alone (exit $rc): $(tr '\n' ';' < "$log")"
printf '{"benchmarks": [{"name": "BM_CudaTopkFilterPrefill512/65536", "real_time": 60}]}\n' > "$keep_out/micro/BM_CudaTopkFilterPrefill512.json"
: > "$log"
env STUB_LOG="$log" GPU_BUNDLE="$work/bundle" OUT="$keep_out" KEEP_FINISHED=1 bash "$src/scripts/gpu-check.sh" \
  --micro '^BM_CudaTopk(Filter|SampleAtomics)Prefill512$' > "$work/keep.console" 2>&1
[ "$(tr '\n' ';' < "$log")" = "micro BM_CudaTopkSampleAtomicsPrefill512 hung=[];" ] \
  || fail "KEEP_FINISHED=1 should run only the benchmark family without results: $(tr '\n' ';' < "$log")"
: > "$log"
env STUB_LOG="$log" GPU_BUNDLE="$work/bundle" OUT="$keep_out" bash "$src/scripts/gpu-check.sh" \
  --micro '^BM_CudaTopk(Filter|SampleAtomics)Prefill512$' > "$work/keep.console" 2>&1
[ "$(grep -c '^micro ' "$log")" -eq 2 ] || fail "without KEEP_FINISHED every family should run again: $(tr '\n' ';' < "$log")"

# No usable GPU (the probe's case skipped): no step runs, none is marked finished, and
# the reason is printed. Every session call above probed first.
[ "$(grep -c . "$log.probe" 2>/dev/null)" -ge 2 ] || fail "the session calls did not probe the device first"
mkdir -p "$work/nogpu"
: > "$log"
env STUB_LOG="$log" GPU_BUNDLE="$work/bundle" SESSION_ROOT="$work/nogpu-state" OUT="$work/nogpu" STUB_NO_GPU=1 \
  bash "$src/scripts/gpu-check.sh" --session 60 > "$work/nogpu.console" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "a session without a usable GPU should exit 2, not $rc"
grep -q "no usable GPU: a CUDA case was skipped (no CUDA device (stub)); no step was run or marked finished" "$work/nogpu.console" \
  || fail "a session without a usable GPU did not say so: $(tail -2 "$work/nogpu.console")"
[ ! -s "$log" ] && [ ! -s "$work/nogpu-state/done" ] || fail "a session without a usable GPU ran or finished steps: $(tr '\n' ';' < "$log")"

if [ "$fails" -eq 0 ]; then echo "gpu-check --session: all checks passed"; else echo "$fails check(s) failed (work in $work)"; exit 1; fi
