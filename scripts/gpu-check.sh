#!/usr/bin/env bash
# The GPU check: build (or use a build carried from a machine without a GPU), run
# every `gpu` test, the CUDA micro-benchmarks, suites/gpu-kernels.json and the kernel
# cases of suites/nightly.json in short mode, and print a short table last.
#   scripts/gpu-check.sh --nightly [REGEX]
#                                    instead: suites/nightly.json (the cases matching
#                                    REGEX; all by default: sweeps 4K..128K, meant to
#                                    take about 20 minutes on one H100, so split it
#                                    across device calls of at most 10 minutes)
#   scripts/gpu-check.sh --suite SUITE.json [REGEX]
#                                    instead: any suite on the GPU (e.g. suites/candidates.json,
#                                    the kernels under evaluation inside the pipeline), in one
#                                    supervised dsa-bench run: STEP_LIMIT is each case's limit
#                                    (default 570 s), SUITE_LIMIT the whole run's outside a
#                                    session (570 s); results in $OUT/<suite>.json
#   DSA_PREFER=NAME,... with --nightly or --suite: those variants picked first wherever
#                                    they take a case (dsa-bench run --prefer)
#   scripts/gpu-check.sh --quick     instead: only the gpu tests and suites/corner.json
#                                    (correctness first, a few minutes); FIRST_RUN=skip
#                                    leaves out the first-run suites (kernels not yet run
#                                    on a GPU), FIRST_RUN=only runs those alone (no corner
#                                    suite), so a session can put other steps between;
#                                    FIRST_RUN_KERNELS=NAME,... only those kernels' (rest:
#                                    all but those the session plan's steps name)
#   scripts/gpu-check.sh --figures   instead: the rest of the plain check (SASS count,
#                                    micro-benchmarks, the short suites, the dsa-tiny
#                                    model): --quick then --figures is the plain check in
#                                    two device calls, when one would not fit 10 minutes
#   scripts/gpu-check.sh --chain 'STEP' 'STEP' ...
#                                    several of these forms in one device call (each call
#                                    starts a fresh machine: about 30 s of device time).
#                                    A STEP is a form's arguments, split on spaces (so a
#                                    REGEX holds none), after optional VAR=VALUE settings
#                                    for that step alone, e.g.
#                                    --chain '--quick' 'STEP_LIMIT=60 --suite suites/candidates.json seesaw|overlap'
#                                    Results of step N under $OUT/step-N-<form>; exit
#                                    status 1 if any step's was not 0.
#   scripts/gpu-check.sh --sanitize [GTEST_FILTER]
#                                    instead: gpu tests under compute-sanitizer's memcheck,
#                                    racecheck and synccheck (default: the first-run suites'
#                                    small shapes: the kernels not yet validated)
#   scripts/gpu-check.sh --ncu BENCH_REGEX [KERNEL_REGEX]
#                                    instead: Nsight Compute on the micro-benchmarks matching
#                                    BENCH_REGEX, two launches of the kernels matching
#                                    KERNEL_REGEX (default: all), clocks left alone; the
#                                    sections as text in $OUT/ncu.txt
#   scripts/gpu-check.sh --phases    instead: the *Phases micro-benchmarks, one process
#                                    each: the profiled kernels (kernels/cuda/phase_clock.cuh)
#                                    say where the time goes, phase by phase (table in
#                                    $OUT/phases.txt; JSON under $OUT/phases/)
#   scripts/gpu-check.sh --micro REGEX
#                                    instead: the CUDA micro-benchmarks whose family
#                                    matches REGEX, one process per family (a hung or
#                                    faulting first-run kernel costs only its own), as one
#                                    table in $OUT/micro.txt (JSON under $OUT/micro/)
#   scripts/gpu-check.sh --session [SECONDS]
#                                    the next GPU session's plan (SESSION_STEPS below, in
#                                    order of worth) in as many device calls as it takes:
#                                    each call runs the steps this machine has not yet
#                                    finished, starts nothing past SECONDS (default 540)
#                                    after it began, and packs every result so far into
#                                    $OUT/session.tgz (the device tool returns at most 8
#                                    files) with the console in $OUT/console.log and a
#                                    summary in $OUT/report.md. A kernel
#                                    whose first-run test process hangs is not run again by
#                                    later steps (hung-kernels.txt). On a fresh machine,
#                                    the settings the last call's console ends with
#                                    (SESSION_SKIP="1 2 ..." SESSION_HUNG="...") resume it.
#                                    A step the deadline cuts runs again in the next call
#                                    on the same machine, less its processes (test suites,
#                                    cases, benchmark families) that finished in the first.
#   scripts/gpu-check.sh --first-run-order
#                                    print the order in which kernels not yet run on a
#                                    GPU get their first-run tests (FIRST_RUN_ORDER)
#   scripts/gpu-check.sh --session-plan
#                                    print the session's steps (SESSION_STEPS), one a line
#   scripts/gpu-check.sh --model-small [REGEX]
#                                    instead: the dsa-small cases of suites/model.json
#                                    (those matching REGEX; on an H100 prefill to 64K
#                                    took about 5 minutes, so give 128K and the decode
#                                    case calls of their own)
#
# Two steps when the GPU sits on another machine (the device tool, see
# docs/gpu-validation.md):
#   scripts/gpu-check.sh --prepare   on the build machine: release build with CUDA, then
#                                    stage the binaries and the non-system libraries they
#                                    load (libgomp, libbenchmark) into gpu-bundle/
#   scripts/gpu-check.sh             on the GPU machine: run everything from gpu-bundle/
#                                    (carry "gpu-bundle"); results under $OUT (or
#                                    /tmp/gpu-check) : gpu-tests.json, micro-cuda.json,
#                                    gpu-kernels.json, sass-mma.txt, and the logs
# On a machine that has both a GPU and the build dependencies, `--prepare` then the
# plain form work in place.
set -uo pipefail
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then bash "$(dirname "$0")/print-help.sh" "$0"; exit 0; fi
cd "$(dirname "$0")/.."
bundle=${GPU_BUNDLE:-gpu-bundle}  # another folder for the tests of this script (tests/gpu_check_session_test.sh)

if [ "${1:-}" = "--prepare" ]; then
  set -e
  bash scripts/setup.sh
  cmake --preset release -DDSA_ENABLE_CUDA=ON -DDSA_BUILD_TESTS=ON -DDSA_BUILD_MICROBENCH=ON
  cmake --build --preset release -j "$(nproc)" --target dsa-bench dsa_gpu_tests dsa-micro-cuda
  rm -rf "$bundle" && mkdir -p "$bundle/lib"
  cp build/bin/dsa-bench build/bin/dsa_gpu_tests build/bin/dsa-micro-cuda "$bundle/"
  # Libraries a bare CUDA image may lack. The CUDA runtime is linked statically and
  # cuBLASLt comes from the GPU machine's own toolkit (same CUDA major version).
  for b in "$bundle"/dsa-bench "$bundle"/dsa_gpu_tests "$bundle"/dsa-micro-cuda; do
    ldd "$b" | awk '/libgomp|libbenchmark/ {print $3}'
  done | sort -u | xargs -r -I{} cp -L {} "$bundle/lib/"
  git rev-parse HEAD > "$bundle/COMMIT" 2>/dev/null || echo unknown > "$bundle/COMMIT"
  # The device tool carries at most 64 MiB; the three binaries (each with every kernel's
  # SASS) were 38 MB on 2026-11-23 and grow with each kernel, and pack to about 30%
  # with gzip. The GPU side unpacks them on first use (below).
  tar czf "$bundle/binaries.tgz" -C "$bundle" dsa-bench dsa_gpu_tests dsa-micro-cuda
  rm "$bundle"/dsa-bench "$bundle"/dsa_gpu_tests "$bundle"/dsa-micro-cuda
  du -sh "$bundle"
  echo "prepared $bundle/ (commit $(cat "$bundle/COMMIT")); carry it to the GPU machine and run scripts/gpu-check.sh there"
  exit 0
fi

# The binaries travel packed (--prepare): unpack them once.
if [ ! -x "$bundle/dsa-bench" ] && [ -r "$bundle/binaries.tgz" ]; then
  tar xzf "$bundle/binaries.tgz" -C "$bundle" || { echo "cannot unpack $bundle/binaries.tgz"; exit 2; }
fi
export LD_LIBRARY_PATH="$PWD/$bundle/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"

# One step of --chain or --session: SPEC is a form's arguments, split on spaces (so a
# REGEX holds none), after optional VAR=VALUE settings for that step alone; its results
# go to ROOT/step-N-<form>. KEEP (1 or empty) goes on as KEEP_FINISHED: the step was cut
# in an earlier call on this machine, so its processes that finished then are kept.
run_spec() {  # run_spec N SPEC ROOT [KEEP]
  local words settings=() form
  read -r -a words <<< "$2"
  while [ "${#words[@]}" -gt 0 ] && [[ "${words[0]}" =~ ^[A-Z_]+= ]]; do settings+=("${words[0]}"); words=("${words[@]:1}"); done
  form=$(printf '%s' "${words[0]:-check}" | tr -dc 'a-z-' | sed 's/^-*//')
  env "${settings[@]}" KEEP_FINISHED="${4:-}" OUT="$3/step-$1-${form:-check}" bash scripts/gpu-check.sh "${words[@]}"
}

# The first-run processes (kernels not yet run on a GPU, one process per kernel and
# suite) go kernel by kernel in this order, the kernels aimed at the open targets first,
# so a step cut by a call's deadline leaves whole verdicts on the kernels that matter
# most: the top-k (205 us against 90), MHA prefill (331 TFLOP/s against 350), FP8
# decode (196 against 200), dense decode (30% of the copy bandwidth against 70%), then
# the TMA forms and the keys-as-rows indexer (whose target is met), then the sampled
# top-k's variants. A kernel not named here runs after these; the e2e test
# gpu_check_first_run_order checks that every unvalidated kernel is named.
FIRST_RUN_ORDER=(
  cuda.topk.filter_fused cuda.topk.filter
  cuda.dense_mha.overlap
  cuda.sparse_mqa.wgmma_fp8reg cuda.dense_mqa.wgmma_fp8reg
  cuda.dense_mqa.seesaw cuda.sparse_mqa.seesaw
  cuda.dense_mqa.wgmma_tma cuda.dense_mqa.seesaw_tma
  cuda.indexer.keyrows
  cuda.topk.sample_atomics cuda.topk.sample256 cuda.topk.sample_prefetch cuda.topk.sample_atomics_prefetch
)
if [ "${1:-}" = "--first-run-order" ]; then printf '%s\n' "${FIRST_RUN_ORDER[@]}"; exit 0; fi
declare -A first_run_rank=()  # kernel -> its place in FIRST_RUN_ORDER, from 1
for i in "${!FIRST_RUN_ORDER[@]}"; do first_run_rank[${FIRST_RUN_ORDER[$i]}]=$((i + 1)); done

# The next GPU session's plan, most worth first (docs/gpu-validation.md says why each):
# correctness of the validated kernels and the model path, the last unrun cases of issue
# 5, then the kernels aimed at the open targets one target at a time, each kernel's
# first-run tests followed at once by its cases beside the default's at the target's
# shape (what a met target or a promotion rests on, so a call's deadline leaves whole
# answers on the targets that matter most: the top-k, 205 us against 90; MHA prefill,
# 331 TFLOP/s against 350; FP8 decode, 196 against 200; dense decode, 30% of the copy
# bandwidth against 70%), then the other kernels' first runs (the keys-as-rows indexer,
# the sampled top-k's variants, the profiled instantiations) and cases, where the open
# targets' time goes (phase tables), the keys-as-rows indexer beside the wgmma one and
# the filter top-k beside the sampled and split ones (micro-benchmarks), a decode sweep
# at batch 64 whose 128K point the claims lack, one layer of the real dimensions (the
# non-attention cost per token the claims' whole-model cost needs: an 11 GB synthetic
# checkpoint written and loaded first), and the decode sweep with the filter top-k. A
# drawn task has 15 minutes of device time, about 13 of them usable across two calls
# (each start costs one to two), so the order decides what is lost.
SESSION_STEPS=(
  'FIRST_RUN=skip --quick'
  '--model-small ^model\.small\.decode(\.128k|\.b1)?$'
  'FIRST_RUN=only FIRST_RUN_KERNELS=cuda.topk.filter_fused,cuda.topk.filter --quick'
  'STEP_LIMIT=60 --suite suites/candidates.json ^kernel\.topk\.(sample|filter|filter_fused)\.'
  'FIRST_RUN=only FIRST_RUN_KERNELS=cuda.dense_mha.overlap --quick'
  'STEP_LIMIT=90 --suite suites/candidates.json ^kernel\.dense_mha\.[a-z_]+\.prefill\.64k$'
  'FIRST_RUN=only FIRST_RUN_KERNELS=cuda.sparse_mqa.wgmma_fp8reg,cuda.dense_mqa.wgmma_fp8reg --quick'
  'STEP_LIMIT=60 --suite suites/candidates.json ^kernel\.(sparse_mla|dense_mqa)\.(wgmma|wgmma_fp8reg)\.decode_fp8\.'
  'FIRST_RUN=only FIRST_RUN_KERNELS=cuda.dense_mqa.seesaw,cuda.sparse_mqa.seesaw,cuda.dense_mqa.wgmma_tma,cuda.dense_mqa.seesaw_tma --quick'
  'STEP_LIMIT=60 --suite suites/candidates.json ^kernel\.(dense_mqa\.[a-z_]+\.decode_bf16|sparse_mla\.(wgmma|seesaw)\.(prefill_check|prefill|decode_bf16))\.'
  'FIRST_RUN=only FIRST_RUN_KERNELS=rest --quick'
  'STEP_LIMIT=60 --suite suites/candidates.json ^kernel\.topk\.sample[a-z0-9_]+\.'
  'STEP_LIMIT=60 --phases'
  'STEP_LIMIT=60 --micro ^BM_CudaIndexer(Batch|KeyrowsPrefill|WgmmaPrefill)|^BM_CudaTopk(Sample|Filter|FilterFused)Prefill512$|^BM_CudaTopk(Split|Filter|FilterFused)OneRow$|^BM_CudaTopkFilterStages'
  '--suite suites/candidates.json ^sweep\.decode\.b64\.fp8\.wgmma_attention$'
  '--suite suites/model.json ^model\.v32\.layer3\.prefill$'
  '--suite suites/candidates.json ^sweep\.decode\.b64\.fp8\.filter_topk$'
)
# The kernels whose first runs a step names (FIRST_RUN_KERNELS=NAME,...): the step with
# FIRST_RUN_KERNELS=rest takes every other one.
FIRST_RUN_NAMED=$(printf '%s\n' "${SESSION_STEPS[@]}" | grep -o 'FIRST_RUN_KERNELS=[^ ]*' | cut -d= -f2 | grep -vx rest | paste -sd ,)
if [ "${1:-}" = "--session-plan" ]; then printf '%s\n' "${SESSION_STEPS[@]}"; exit 0; fi

if [ "${1:-}" = "--session" ]; then
  budget=${2:-540}
  [[ "$budget" =~ ^[0-9]+$ ]] && [ "$budget" -ge 30 ] || { echo "scripts/gpu-check.sh --session: SECONDS must be a whole number of at least 30, not \"$budget\"" >&2; exit 2; }
  final_out=${OUT:-/tmp/gpu-check}
  # The session's state lives outside the repository copy, which each device call
  # replaces, so a second call on the same (still warm) machine resumes after the steps
  # the first one finished.
  root=${SESSION_ROOT:-/tmp/gpu-session}
  mkdir -p "$root" "$final_out"
  # 20 s kept back to merge the cut step's results and pack.
  export DEADLINE=$(( $(date +%s) + budget - 20 )) DEADLINE_MARK="$root/.deadline-hit" HUNG_FILE="$root/hung-kernels.txt"
  touch "$HUNG_FILE" "$root/done" "$root/started"
  # On a fresh machine (the last one went back) what an earlier call learnt is named by
  # hand, from that call's last console line: SESSION_SKIP="1 2" (the steps it
  # finished), SESSION_HUNG="cuda.x ..." (the kernels that hung).
  for n in ${SESSION_SKIP:-}; do
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le "${#SESSION_STEPS[@]}" ] \
      || { echo "scripts/gpu-check.sh --session: SESSION_SKIP holds \"$n\"; expected step numbers 1 to ${#SESSION_STEPS[@]}, space-separated" >&2; exit 2; }
    grep -qx "$n" "$root/done" || echo "$n" >> "$root/done"
  done
  for k in ${SESSION_HUNG:-}; do
    [[ "$k" =~ ^cuda\.[a-z_0-9.]+$ ]] || { echo "scripts/gpu-check.sh --session: SESSION_HUNG holds \"$k\"; expected kernel names such as cuda.dense_mqa.seesaw" >&2; exit 2; }
    grep -qxF "$k" "$HUNG_FILE" || echo "$k" >> "$HUNG_FILE"
  done
  session_loop() {
    local worst=0 n=0 spec left keep
    echo "== session: ${#SESSION_STEPS[@]} steps planned, ${budget} s for this call; finished before on this machine: $(tr '\n' ' ' < "$root/done")"
    for spec in "${SESSION_STEPS[@]}"; do
      n=$((n + 1))
      if grep -qx "$n" "$root/done"; then continue; fi
      if [ $(( DEADLINE - $(date +%s) )) -lt 10 ]; then echo "== session: deadline near; step $n onwards for the next call"; break; fi
      rm -f "$DEADLINE_MARK"
      # A step begun in an earlier call was cut there: its finished processes are kept.
      keep=
      if grep -qx "$n" "$root/started"; then keep=1; else echo "$n" >> "$root/started"; fi
      echo "==== session step $n of ${#SESSION_STEPS[@]}: $spec${keep:+ (resumed: what finished in the earlier call is kept)}"
      run_spec "$n" "$spec" "$root" "$keep" || worst=1
      if [ -e "$DEADLINE_MARK" ]; then
        echo "== session: step $n was cut by this call's deadline (its results so far are kept; the next call on this machine runs what did not finish)"
        break
      fi
      echo "$n" >> "$root/done"
    done
    left=$(( ${#SESSION_STEPS[@]} - $(grep -c . "$root/done") ))
    echo "== session: $left of ${#SESSION_STEPS[@]} steps left for a next call; SESSION_SKIP=\"$(sort -n "$root/done" | tr '\n' ' ' | sed 's/ $//')\" SESSION_HUNG=\"$(tr '\n' ' ' < "$HUNG_FILE" | sed 's/ $//')\""
    return $worst
  }
  # Without a GPU the CUDA runtime can reach (none, or a driver older than the bundle's
  # runtime) every case is skipped and every step would count as finished, leaving a
  # next call nothing to run: one small case on the GPU first, and no step when it skips.
  if [ -x "$bundle/dsa-bench" ]; then
    timeout 120 "$bundle/dsa-bench" run suites/corner.json --backend cuda --filter '^topk\.one_token$' --in-process \
      --quiet --out "$root/device-probe.json" > "$root/device-probe.log" 2>&1
    no_gpu=$(python3 - "$root/device-probe.json" <<'PY'
import json, sys
try:
  cases = json.load(open(sys.argv[1]))["cases"]
except (OSError, ValueError, KeyError, TypeError):
  sys.exit(0)  # no verdict (the probe crashed or hung): the steps will show why
print(next((c.get("reason", "skipped") for c in cases if c.get("status") == "skipped"), ""))
PY
)
    if [ -n "$no_gpu" ]; then
      echo "scripts/gpu-check.sh --session: no usable GPU: a CUDA case was skipped ($no_gpu); no step was run or marked finished" \
        | tee "$final_out/console.log" >&2
      exit 2
    fi
  fi
  session_loop 2>&1 | tee "$final_out/console.log"
  worst=${PIPESTATUS[0]}
  cat "$final_out/console.log" >> "$root/console.log"
  # Everything so far as Markdown for docs/gpu-validation.md (scripts/session_report.py).
  python3 scripts/session_report.py "$root" > "$final_out/report.md" 2>&1 || echo "session_report.py failed (see report.md)"
  tar czf "$final_out/session.tgz" -C "$(dirname "$root")" "$(basename "$root")" && echo "packed $(du -h "$final_out/session.tgz" | cut -f1) into $final_out/session.tgz"
  exit $worst
fi

if [ "${1:-}" = "--chain" ]; then
  shift
  chain_out=${OUT:-/tmp/gpu-check}
  n=0
  worst=0
  for spec in "$@"; do
    n=$((n + 1))
    echo "==== step $n of $#: $spec"
    run_spec "$n" "$spec" "$chain_out" || worst=1
  done
  exit $worst
fi

mode=check
filter='.*'
case "${1:-}" in
  --nightly) mode=nightly; filter=${2:-.*} ;;
  --model-small) mode=model; filter=${2:-^model\.small} ;;
  --quick) mode=quick ;;
  --figures) mode=figures ;;
  --phases) mode=phases; filter=Phases ;;
  --micro)
    mode=micro; filter=${2:-}
    [ -n "$filter" ] || { echo "scripts/gpu-check.sh --micro: name a regex of micro-benchmark families (dsa-micro-cuda --benchmark_list_tests)" >&2; exit 2; } ;;
  --sanitize) mode=sanitize; filter=${2:-'*FirstRun*:-*131k*:*262k*:*65535*:*topk_8192*:*gaussian_long*:*k_4096*'} ;;
  --ncu)
    mode=ncu; filter=${2:-}; kernel_filter=${3:-.}
    [ -n "$filter" ] || { echo "scripts/gpu-check.sh --ncu: name a micro-benchmark regex (dsa-micro-cuda --benchmark_list_tests)" >&2; exit 2; } ;;
  --suite)
    mode=suite; suite_file=${2:-}; filter=${3:-.*}
    [ -r "$suite_file" ] || { echo "scripts/gpu-check.sh --suite: cannot read suite \"$suite_file\"" >&2; exit 2; } ;;
  "") ;;
  *) echo "usage: scripts/gpu-check.sh [--prepare | --quick | --figures | --nightly [REGEX] | --model-small [REGEX] | --suite SUITE.json [REGEX] | --sanitize [GTEST_FILTER] | --ncu BENCH_REGEX [KERNEL_REGEX] | --phases | --micro REGEX | --chain 'FORM' ... | --session [SECONDS] | --session-plan | --first-run-order]" >&2; exit 2 ;;
esac
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
log() { echo "== $*"; }
# Each step under a time limit of its own (STEP_LIMIT seconds; default 240, and 570 for
# the one long step of --nightly and --model-small), so one that hangs or runs long costs
# that step, not the device call: dsa-bench answers the SIGTERM by marking its results
# file interrupted and keeping every finished case.
limit_default=240
if [ "$mode" = nightly ] || [ "$mode" = model ] || [ "$mode" = suite ]; then limit_default=570; fi
# Kernels that hung in a first-run test process (one name a line): later steps skip
# their gpu tests and cases instead of paying each one's time limit again.
hung_file=${HUNG_FILE:-$out/hung-kernels.txt}
touch "$hung_file"
export DSA_HUNG_KERNELS="$hung_file"  # read by the micro-benchmarks (dsa-micro-cuda)
# Every case of SUITE with the kernels it names (its implementation and stage
# implementations): one line per case, "case kernel kernel ...".
suite_kernels() {
  python3 - "$1" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1]))["cases"]:
  names = [c.get("implementation")] + list((c.get("implementations") or {}).values())
  print(" ".join([c["name"]] + [n for n in names if n]))
PY
}
# Whether this call's deadline cut a step (no DEADLINE_MARK: never; not a stand-in path,
# which a machine may happen to have).
deadline_hit() { [ -n "${DEADLINE_MARK:-}" ] && [ -e "$DEADLINE_MARK" ]; }
# DEADLINE (epoch seconds, set by --session): no step runs past it, one with under 10 s
# left is not started, and either leaves the file DEADLINE_MARK so the session knows
# its step was cut rather than finished.
step() {
  local limit=${STEP_LIMIT:-$limit_default} left
  if [ -n "${DEADLINE:-}" ]; then
    left=$(( DEADLINE - $(date +%s) ))
    if [ "$left" -lt 10 ]; then
      echo "not started (the session's deadline is near): ${*##*/}"
      [ -n "${DEADLINE_MARK:-}" ] && touch "$DEADLINE_MARK"
      return 124
    fi
    if [ "$left" -le "$limit" ]; then
      limit=$left
      timeout "$limit" "$@"
      local rc=$?
      [ "$rc" -eq 124 ] && [ -n "${DEADLINE_MARK:-}" ] && touch "$DEADLINE_MARK"
      return $rc
    fi
  fi
  timeout "$limit" "$@"
}
# KEEP_FINISHED=1 (a session step cut in an earlier call on this machine and resumed):
# whether FILE holds the whole result of a process that finished in that call, so it
# need not run again. KIND: testsuites (a gtest JSON report), benchmarks (a Google
# Benchmark one) or cases (a dsa-bench results file; an interrupted one runs again).
# A kept result that holds a failure sets status=1, as the process's exit did then.
finished_before() {  # finished_before FILE KIND
  [ "${KEEP_FINISHED:-}" = 1 ] && [ -s "$1" ] || return 1
  local verdict
  verdict=$(python3 - "$1" "$2" <<'PY'
import json, sys
try:
  d = json.load(open(sys.argv[1]))
except (OSError, ValueError):
  sys.exit(0)  # cut while writing, or never written: run it again
if sys.argv[2] == "testsuites" and "testsuites" in d:
  print("failed" if d.get("failures", 0) or d.get("errors", 0) else "passed")
elif sys.argv[2] == "benchmarks" and "benchmarks" in d:
  print("failed" if any(b.get("error_occurred") for b in d["benchmarks"]) else "passed")
elif sys.argv[2] == "cases" and d.get("run_status") == "complete":
  print("failed" if any(c.get("status") in ("failed", "error", "oom") for c in d.get("cases", [])) else "passed")
PY
)
  [ -n "$verdict" ] || return 1
  [ "$verdict" = passed ] || status=1
  return 0
}
# A step's log: new, or when resuming (KEEP_FINISHED=1) the earlier call's, continued.
started_log() {  # started_log FILE
  if [ "${KEEP_FINISHED:-}" = 1 ]; then echo "== resumed in a later call: $(date -u +%FT%TZ)" >> "$1"; else : > "$1"; fi
}
# The micro-benchmark families matching REGEX, one process each (a first-run kernel that
# faults, leaving a sticky CUDA error, or hangs costs only its own results), into
# DIR/<family>.json with their output in LOG. Fails if one fails or none matches.
micro_families() {  # micro_families REGEX DIR LOG
  local families family rc worst=0
  mkdir -p "$2"
  started_log "$3"
  families=$("$bundle"/dsa-micro-cuda --benchmark_list_tests | sed 's|/.*||' | grep -E -- "$1" | sort -u)
  [ -n "$families" ] || { echo "no micro-benchmark family matches $1" | tee -a "$3"; return 1; }
  for family in $families; do
    if finished_before "$2/$family.json" benchmarks; then echo "kept from the earlier call: $family" >> "$3"; continue; fi
    STEP_LIMIT=${STEP_LIMIT:-120} step "$bundle"/dsa-micro-cuda --benchmark_filter="^$family(/|\$)" --benchmark_min_time=0.05 \
      --benchmark_out="$2/$family.json" --benchmark_out_format=json >> "$3" 2>&1 \
      || { rc=$?; worst=1; echo "FAILED or stopped (exit $rc): $family" | tee -a "$3"; }
  done
  return $worst
}
# DSA_PREFER=NAME,...: --nightly and --suite runs pick these variants first (dsa-bench run
# --prefer), e.g. the nightly's sweeps with kernels under evaluation.
prefer=()
if [ -n "${DSA_PREFER:-}" ]; then prefer=(--prefer "$DSA_PREFER"); fi
status=0

log "device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 | tee "$out/nvidia-smi.txt"
if [ ! -x "$bundle/dsa-bench" ]; then
  echo "no $bundle/dsa-bench: run scripts/gpu-check.sh --prepare on a machine with the build dependencies and carry $bundle"
  exit 2
fi
echo "bundle built from commit $(cat "$bundle/COMMIT" 2>/dev/null || echo '?'), this tree at $(git rev-parse HEAD 2>/dev/null || echo '?')"
missing=$(ldd "$bundle"/dsa-bench "$bundle"/dsa_gpu_tests "$bundle"/dsa-micro-cuda 2>&1 | grep "not found" | sort -u)
if [ -n "$missing" ]; then echo "missing libraries:"; echo "$missing"; exit 2; fi

if [ "$mode" = nightly ]; then
  log "suites/nightly.json (cases matching $filter)"
  step "$bundle"/dsa-bench run suites/nightly.json --backend cuda --filter "$filter" "${prefer[@]}" --out "$out/nightly.json" 2>&1 \
    | tee "$out/nightly.log" | tail -40 || status=1
  tables=("$out/nightly.json")
elif [ "$mode" = suite ]; then
  # The selected cases in one supervised dsa-bench run: a case that faults (a lost GPU
  # context), crashes its process or outlives its limit (--case-timeout, STEP_LIMIT
  # seconds, default 570) is recorded as an error and a new worker process goes on with
  # the rest, so the device's ceilings are measured and the CUDA context started once a
  # step instead of once a case (seconds each). Cut by a session's deadline, the run
  # is resumed (--resume) by the next call on the same machine. Cases the run left
  # without a record otherwise (the supervisor itself failed), or whose error names the
  # CUDA error of an earlier case (a sticky error the worker missed), run again one
  # process each (--in-process, the old way): a supervisor fault costs time, not results.
  name=$(basename "$suite_file" .json)
  log "$suite_file on the GPU (cases matching $filter), one supervised run"
  mkdir -p "$out/$name"
  started_log "$out/$name.log"
  kernels_of=$(suite_kernels "$suite_file")  # read once, not per case
  case_names=$("$bundle"/dsa-bench list "$suite_file" --filter "$filter" | awk '$1 ~ /^[0-9]+$/ {print $2}')
  # A plan's regex that matches nothing is a mistake to see, not a step that passed.
  [ -n "$case_names" ] || { echo "no case of $suite_file matches $filter" | tee -a "$out/$name.log"; status=1; }
  to_run=()
  for case_name in $case_names; do
    hung=$(awk -v c="$case_name" '$1 == c { for (i = 2; i <= NF; i++) print $i }' <<< "$kernels_of" | grep -xF -f "$hung_file" | head -1)
    if [ -n "$hung" ]; then
      echo "not run: $case_name (its kernel $hung hung in a first run)" | tee -a "$out/$name.log"; status=1; continue
    fi
    to_run+=("$case_name")
  done
  case_limit=${STEP_LIMIT:-$limit_default}
  run_file=$out/$name/run.json
  run_rc=0
  if [ "${#to_run[@]}" -gt 0 ]; then
    # The exact names, so the run (and a resumed one: same filter) takes just these.
    exact="^($(printf '%s\n' "${to_run[@]}" | sed 's/[.]/\\./g' | paste -sd '|'))\$"
    if finished_before "$run_file" cases; then
      echo "kept from the earlier call: the run of ${#to_run[@]} cases" >> "$out/$name.log"
    else
      resume=()
      if [ "${KEEP_FINISHED:-}" = 1 ] && python3 -c 'import json, sys; json.load(open(sys.argv[1]))["cases"]' "$run_file" 2>/dev/null; then
        resume=(--resume); echo "resuming the earlier call's run: $run_file" >> "$out/$name.log"
      fi
      # The whole run's limit: every case its own, plus a minute for starting workers;
      # outside a session (no DEADLINE) at most SUITE_LIMIT (570 s), inside a device
      # call's 600, so a long selection ends with its results written and its table.
      run_limit=$(( ${#to_run[@]} * case_limit + 60 ))
      [ -z "${DEADLINE:-}" ] && [ "$run_limit" -gt "${SUITE_LIMIT:-570}" ] && run_limit=${SUITE_LIMIT:-570}
      STEP_LIMIT=$run_limit step "$bundle"/dsa-bench run "$suite_file" --backend cuda \
        --filter "$exact" --case-timeout "$case_limit" "${prefer[@]}" "${resume[@]}" --out "$run_file" 2>&1 \
        | tee -a "$out/$name.log" | tail -"$(( ${#to_run[@]} + 4 ))"
      run_rc=${PIPESTATUS[0]}
      [ "$run_rc" -eq 0 ] || status=1
      [ "$run_rc" -eq 124 ] && ! deadline_hit && echo "the run was stopped at its limit ($run_limit s): its unfinished cases are not run (KEEP_FINISHED=1 resumes it on this machine)" | tee -a "$out/$name.log"
    fi
    if [ "$run_rc" -ne 124 ] && ! deadline_hit; then
      # Cases to run again alone, each with why: no final record in the run's file
      # (missing, or still `running` or `interrupted`: the supervisor failed, not a time
      # limit), or an error naming the same CUDA error as an earlier case's (a sticky
      # error the worker did not see as a lost context fails every later case).
      rerun=$(python3 - "$run_file" "${to_run[@]}" <<'PY'
import json, re, sys
try:
  cases = json.load(open(sys.argv[1]))["cases"]
except (OSError, ValueError, KeyError, TypeError):
  cases = []
final, seen, sticky = set(), set(), {}
for c in cases:
  if c.get("status") in ("running", "interrupted"):
    continue
  final.add(c["name"])
  err = re.search(r"CUDA error (cuda\w+)", str(c.get("reason", ""))) if c.get("status") in ("error", "failed") else None
  if err and err.group(1) in seen:
    sticky[c["name"]] = err.group(1)
  elif err:
    seen.add(err.group(1))
for n in sys.argv[2:]:
  if n not in final:
    print(n, "no record of it from the supervised run")
  elif n in sticky:
    print(n, f"the same {sticky[n]} as an earlier case of the run (a sticky CUDA error?)")
PY
)
      while read -r case_name why; do
        [ -n "$case_name" ] || continue
        case_file=$out/$name/$case_name.json
        if finished_before "$case_file" cases; then echo "kept from the earlier call: $case_name" >> "$out/$name.log"; continue; fi
        echo "$case_name: $why: running it in a process of its own (--in-process)" | tee -a "$out/$name.log"
        STEP_LIMIT=$case_limit step "$bundle"/dsa-bench run "$suite_file" --backend cuda --in-process \
          --filter "^$(printf '%s' "$case_name" | sed 's/[.]/\\./g')\$" "${prefer[@]}" --out "$case_file" < /dev/null 2>&1 \
          | tee -a "$out/$name.log" | tail -4 || status=1
      done <<< "$rerun"
    fi
  fi
  # One results file of the suite (for dsa-report and session_report.py): the run's,
  # with any case run again alone in place of the run's record of it, in suite order.
  python3 - "$out/$name.json" "$run_file" "${to_run[@]}" <<'PY' || status=1
import json, os, sys
merged, run_file, names = sys.argv[1], sys.argv[2], sys.argv[3:]
parts = []
for path in [run_file] + [os.path.join(os.path.dirname(run_file), n + ".json") for n in names]:
  if not os.path.exists(path):
    continue  # no run (every case hung before), or a case the run recorded
  try:
    parts.append(json.load(open(path)))
  except ValueError as e:
    print(f"{path}: {e} (the process crashed or was stopped while writing)")
if parts:
  doc = parts[0]
  if len(parts) > 1:
    records = {}
    for d in parts:  # later files (cases run alone) replace the run's record of a case
      for c in d.get("cases", []):
        records[c["name"]] = c
    order = {n: i for i, n in enumerate(names)}
    doc["cases"] = sorted(records.values(), key=lambda c: order.get(c["name"], len(order)))
    doc["run_status"] = "complete" if all(d.get("run_status") == "complete" for d in parts) else "interrupted"
    doc["suite"]["cases_selected"] = len(doc["cases"])
    doc["suite"]["filter"] = "a supervised run, then some of its cases again one process each"
    counts = {}
    for c in doc["cases"]:
      counts[c["status"]] = counts.get(c["status"], 0) + 1
    doc["summary"] = {"counts": counts, "duration_s": sum(d.get("summary", {}).get("duration_s", 0) for d in parts),
                      "all_ok": all(c["status"] not in ("failed", "error", "oom") for c in doc["cases"])}
  json.dump(doc, open(merged, "w"), indent=1)
  print(f"{merged}: {len(doc['cases'])} cases from {len(parts)} results file(s)")
PY
  tables=()
  if [ -f "$out/$name.json" ]; then tables=("$out/$name.json"); fi
elif [ "$mode" = sanitize ]; then
  # compute-sanitizer runs each kernel many times slower: small shapes only by default.
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  tables=()
  for tool in memcheck racecheck synccheck; do
    log "compute-sanitizer --tool $tool on gpu tests $filter"
    step "$sanitizer" --tool "$tool" --error-exitcode 1 "$bundle"/dsa_gpu_tests --gtest_filter="$filter" \
      > "$out/sanitize-$tool.log" 2>&1 || { status=1; echo "$tool: FAILED or stopped (see sanitize-$tool.log)"; }
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|tests? ran|PASSED|FAILED" "$out/sanitize-$tool.log" | tail -6
  done
elif [ "$mode" = ncu ]; then
  ncu_bin=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | tail -1 || true)
  [ -n "$ncu_bin" ] || { echo "no ncu on this machine"; exit 2; }
  log "ncu on micro-benchmarks $filter (kernels matching $kernel_filter, 2 launches, clocks left alone)"
  step "$ncu_bin" --clock-control none -k "regex:$kernel_filter" -c 2 --section SpeedOfLight --section LaunchStats \
    --section Occupancy --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section WarpStateStats \
    --section SchedulerStats "$bundle"/dsa-micro-cuda --benchmark_filter="$filter" --benchmark_min_time=0.01 \
    > "$out/ncu.txt" 2>&1 || status=1
  grep -E "^  [a-z_].*\(|Duration|Compute \(SM\) Throughput|Memory Throughput|Registers Per|Achieved Occupancy|No Eligible|Warp Cycles Per Issued" \
    "$out/ncu.txt" | head -60
  tables=()
elif [ "$mode" = phases ] || [ "$mode" = micro ]; then
  if [ "$mode" = phases ]; then
    log "where the time goes: the profiled kernels' phases (micro-benchmarks *Phases*, one process each)"
  else
    log "micro-benchmarks matching $filter (one process per family)"
  fi
  micro_families "$filter" "$out/$mode" "$out/$mode.log" || status=1
  if [ "$mode" = phases ]; then
    python3 scripts/phase_table.py "$out"/phases/*.json | tee "$out/phases.txt" || status=1
  else
    python3 scripts/micro_table.py "$out"/micro/*.json | tee "$out/micro.txt" || status=1
  fi
  tables=()
elif [ "$mode" = model ]; then
  log "suites/model.json on the GPU (dsa-small cases matching $filter)"
  step "$bundle"/dsa-bench run suites/model.json --backend cuda --filter "$filter" --out "$out/model-small.json" 2>&1 \
    | tee "$out/model-small.log" | tail -20 || status=1
  tables=("$out/model-small.json")
elif [ "$mode" = figures ]; then
  tables=()
else
  # One process per test suite: a kernel that faults leaves a sticky CUDA error that
  # would fail every later test of the process (and a hang costs only its suite's time
  # limit), so the other suites' results survive a new kernel's first run.
  log "gpu tests (one process per test suite)"
  mkdir -p "$out/gpu-tests"
  started_log "$out/gpu-tests.log"
  # Suites named *FirstRun* hold kernels that have not yet run on a GPU (their first
  # run may hang on a wrong hand-off): 45 s each (90 s for the single-test ones) instead
  # of 180, and one process per such kernel (DSA_FIRST_RUN_VARIANT), so one that faults
  # or hangs does not take the others' results with it (FIRST_RUN_LIMIT overrides the 45 s).
  case "${FIRST_RUN:-}" in
    ""|skip|only) ;;
    *) echo "scripts/gpu-check.sh: FIRST_RUN must be skip or only (or unset), not \"$FIRST_RUN\"" >&2; exit 2 ;;
  esac
  # FIRST_RUN_KERNELS=NAME,NAME: the first-run processes of those kernels alone, so a
  # session can follow each kernel's first run with its timing at the target shape;
  # FIRST_RUN_KERNELS=rest: those of every kernel not in FIRST_RUN_NAMED (the kernels
  # the session plan's other steps name, from SESSION_STEPS above) and of the suites of
  # no one kernel.
  first_run_pick() {  # first_run_pick KERNEL: whether FIRST_RUN_KERNELS takes its processes
    case "${FIRST_RUN_KERNELS:-}" in
      "") return 0 ;;
      rest) [ -z "$1" ] || [[ ",${FIRST_RUN_NAMED:-}," != *",$1,"* ]] ;;
      *) [ -n "$1" ] && [[ ",$FIRST_RUN_KERNELS," == *",$1,"* ]] ;;
    esac
  }
  # The processes to run, "RANK SUITE [KERNEL]": the validated suites first (rank 0, in
  # the binary's order), then the first-run ones kernel by kernel (FIRST_RUN_ORDER), then
  # first-run suites of no one kernel (the profiled instantiations).
  gpu_jobs=()
  for suite in $("$bundle"/dsa_gpu_tests --gtest_list_tests | grep -E '^[^ ].*\.$' | sed 's/\.$//'); do
    case "$suite" in
      *FirstRun*) [ "${FIRST_RUN:-}" = skip ] && continue ;;
      *) [ "${FIRST_RUN:-}" = only ] && continue; gpu_jobs+=("0 $suite"); continue ;;
    esac
    op=
    case "$suite" in
      *SparseMqa*) op=sparse_attention ;;
      *DenseMqa*) op=dense_attention_mqa ;;
      *DenseMha*) op=dense_attention_mha ;;
      *Topk*) op=topk ;;
      *Indexer*) op=indexer ;;
    esac
    kernels=()
    [ -n "$op" ] && mapfile -t kernels < <("$bundle"/dsa-bench variants --unvalidated --op "$op")
    if [ "${#kernels[@]}" -eq 0 ]; then first_run_pick "" && gpu_jobs+=("9999 $suite"); continue; fi
    for kernel in "${kernels[@]}"; do first_run_pick "$kernel" && gpu_jobs+=("${first_run_rank[$kernel]:-1000} $suite $kernel"); done
  done
  # A kernel named that has no first-run suite here (validated since, or misspelt).
  if [ -n "${FIRST_RUN_KERNELS:-}" ] && [ "$FIRST_RUN_KERNELS" != rest ]; then
    for kernel in ${FIRST_RUN_KERNELS//,/ }; do
      printf '%s\n' "${gpu_jobs[@]}" | awk -v k="$kernel" '$3 == k {f = 1} END {exit !f}' \
        || echo "FIRST_RUN_KERNELS names $kernel, which has no first-run tests in this build (validated already, or no such kernel)" | tee -a "$out/gpu-tests.log"
    done
  fi
  [ "${#gpu_jobs[@]}" -gt 0 ] || echo "no gpu test process to run (FIRST_RUN=${FIRST_RUN:-}, FIRST_RUN_KERNELS=${FIRST_RUN_KERNELS:-})" | tee -a "$out/gpu-tests.log"
  [ "${#gpu_jobs[@]}" -eq 0 ] || mapfile -t gpu_jobs < <(printf '%s\n' "${gpu_jobs[@]}" | sort -s -n -k1,1)
  for job in "${gpu_jobs[@]}"; do
    read -r _ suite kernel <<< "$job"
    suite_limit=180
    # The parametrised first-run suites' small shapes take seconds (their validated twins
    # 0.5-4 s on the H100); the single-test suites hold the big cases (more than 65,535
    # tokens: 58 s in the fifth session, most of it making 9.7 GB of inputs on the host;
    # since the twenty-third session they repeat 127 drawn query rows).
    case "$suite" in
      *FirstRun*/*) suite_limit=${FIRST_RUN_LIMIT:-45} ;;
      *FirstRun*) suite_limit=$(( 2 * ${FIRST_RUN_LIMIT:-45} )) ;;
    esac
    if [ -n "$kernel" ] && grep -qxF "$kernel" "$hung_file"; then
      echo "not run: $suite ($kernel), which hung in an earlier first run" | tee -a "$out/gpu-tests.log"; status=1; continue
    fi
    tag=${suite//\//_}${kernel:+__$kernel}
    if finished_before "$out/gpu-tests/$tag.json" testsuites; then
      echo "kept from the earlier call: $suite${kernel:+ ($kernel)}" >> "$out/gpu-tests.log"; continue
    fi
    DSA_FIRST_RUN_VARIANT=$kernel STEP_LIMIT=${STEP_LIMIT:-$suite_limit} step "$bundle"/dsa_gpu_tests \
      --gtest_filter="$suite.*" --gtest_output="json:$out/gpu-tests/$tag.json" >> "$out/gpu-tests.log" 2>&1 \
      || { rc=$?; status=1; echo "FAILED or stopped (exit $rc): $suite${kernel:+ ($kernel)}" | tee -a "$out/gpu-tests.log"
           # Stopped by its own limit, not by a session's deadline: most likely a hang
           # (a wrong barrier hand-off waits forever), which later steps need not repeat.
           if [ "$rc" -eq 124 ] && [ -n "$kernel" ] && ! deadline_hit; then
             echo "$kernel" >> "$hung_file"; echo "$kernel: taken as hung; later steps skip it" | tee -a "$out/gpu-tests.log"
           fi; }
  done
  python3 - "$out/gpu-tests" "$out/gpu-tests.json" <<'PY' || status=1
import json, os, sys
folder, merged = sys.argv[1], sys.argv[2]
suites, counts = [], {"passed": 0, "failed": 0, "skipped": 0}
for name in sorted(os.listdir(folder)):
  try:
    d = json.load(open(os.path.join(folder, name)))
  except ValueError:
    print(f"{name}: no complete results (the process crashed or was stopped: see the log)")
    continue
  kernel = name[:-5].split("__", 1)[1] if "__" in name else ""  # a first-run process for one kernel
  for s in d.get("testsuites", []):
    if kernel: s["first_run_variant"] = kernel
    suites.append(s)
    for t in s.get("testsuite", []):
      kind = "failed" if t.get("failures") else ("skipped" if t.get("result") == "SKIPPED" else "passed")
      counts[kind] += 1
      if kind == "failed":
        print("FAILED", s["name"] + "." + t["name"] + (f" [{kernel}]" if kernel else ""),
              t["failures"][0].get("failure", "")[:300])
json.dump({"testsuites": suites, "counts": counts}, open(merged, "w"), indent=1)
print(f"gpu tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped "
      f"(suites that crashed or hung wrote no JSON: see the log)")
PY

  tables=()
  if [ "${FIRST_RUN:-}" != only ]; then
    log "suites/corner.json on the GPU (every corner case through the runner, validation only)"
    step "$bundle"/dsa-bench run suites/corner.json --backend cuda --out "$out/corner.json" > "$out/corner.log" 2>&1 || status=1
    tables=("$out/corner.json")
    # dsa-bench's worker restart after a real fault (a kernel that traps, injected): the
    # case is an error, the next one passes on the GPU in a new worker. Seconds.
    log "a kernel fault costs only its case (tests/gpu_fault_isolation_test.sh)"
    if nvidia-smi -L > /dev/null 2>&1; then
      STEP_LIMIT=60 step bash tests/gpu_fault_isolation_test.sh "$(cd "$bundle" && pwd)/dsa-bench" "$out/fault-isolation" \
        > "$out/fault-isolation.log" 2>&1 || status=1
      tail -1 "$out/fault-isolation.log"
    else
      echo "no GPU (nvidia-smi -L failed): not checked"
    fi
  fi
fi

if [ "$mode" = check ] || [ "$mode" = figures ]; then
  log "tensor-core instructions (SASS): HMMA = mma.sync, QGMMA/HGMMA = wgmma"
  if command -v cuobjdump >/dev/null; then
    cuobjdump --dump-sass "$bundle"/dsa-bench 2>/dev/null | grep -oE "\b(QGMMA|HGMMA|QMMA|HMMA)[.A-Z0-9_]*" | sort | uniq -c | tee "$out/sass-mma.txt"
  else
    echo "cuobjdump not found" | tee "$out/sass-mma.txt"
  fi

  log "micro-benchmarks (one process per family)"
  micro_families . "$out/micro-cuda" "$out/micro-cuda.log" || status=1
  python3 - "$out/micro-cuda" "$out/micro-cuda.json" <<'PY' || status=1
import json, os, sys
folder, merged = sys.argv[1], sys.argv[2]
runs, context = [], {}
for name in sorted(os.listdir(folder)):
  try:
    d = json.load(open(os.path.join(folder, name)))
  except ValueError:
    print(f"{name}: no complete results (the family crashed or was stopped)")
    continue
  context = context or d.get("context", {})
  runs += d.get("benchmarks", [])
json.dump({"context": context, "benchmarks": runs}, open(merged, "w"), indent=1)
for b in runs:
  if b.get("run_type") == "aggregate": continue
  extra = "  ".join(f"{k} {b[k]:.4g}" for k in ("TFLOPS", "GB/s") if k in b)
  err = b.get("error_message", "")
  print(f"{b['name']:48} {b.get('real_time', 0):12.2f} {b.get('time_unit', '')}  {extra}  {err}")
PY

  log "suites/gpu-kernels.json (short)"
  step "$bundle"/dsa-bench run suites/gpu-kernels.json --backend cuda --short --out "$out/gpu-kernels.json" \
    > "$out/gpu-kernels.log" 2>&1 || status=1

  log "suites/nightly.json kernel cases (short)"
  step "$bundle"/dsa-bench run suites/nightly.json --backend cuda --short --filter '^kernel\.' --out "$out/nightly-kernels.json" \
    > "$out/nightly-kernels.log" 2>&1 || status=1

  log "model path on the GPU: dsa-tiny cases of suites/model.json (short)"
  step "$bundle"/dsa-bench run suites/model.json --backend cuda --short --filter '^model\.tiny\.(prefill|decode)$' \
    --out "$out/model-tiny.json" > "$out/model-tiny.log" 2>&1 || status=1
  tables+=("$out/gpu-kernels.json" "$out/nightly-kernels.json" "$out/model-tiny.json")
fi

log "summary"
python3 - "${tables[@]}" <<'PY' || status=1
import json, sys
bad = ("failed", "error", "oom")
ms = lambda t: f"{t['median_s'] * 1e3:9.3f}ms" if t.get("median_s") else f"{'-':>11}"  # untimed: oom, failed
for path in sys.argv[1:]:
  try:
    d = json.load(open(path))
  except (OSError, ValueError) as e:
    print(f"{path}: {e}")
    continue
  c = d.get("device_ceilings", {})
  def ceiling(key, unit):  # 0 or absent: cuBLASLt or the copy could not measure it (the notes say why)
    return f"{c[key]:.0f} {unit}" if c.get(key) else "not measured"
  print(f"{path}\nceilings: bf16 {ceiling('bf16_tflops', 'TFLOP/s')}, fp8 {ceiling('fp8_tflops', 'TFLOP/s')}, "
        f"copy {ceiling('copy_gbps', 'GB/s')} {c.get('notes', '')}")
  print(f"{'case':36} {'status':10} {'median':>10} {'TFLOP/s':>8} {'GB/s':>8} {'%peak':>6}  note")
  for r in d["cases"]:
      t = r.get("timing") or {}
      th = r.get("throughput") or {}
      sh = r.get("share_of_ceiling") or {}
      share = sh.get("compute", sh.get("memory"))
      med = f"{t['median_s'] * 1e3:.3f}ms" if t else "-"
      print(f"{r['name']:36} {r['status']:10} {med:>10} {th.get('gflops', 0) / 1e3:8.1f} {th.get('gbps', 0):8.0f} "
            f"{(f'{100 * share:.1f}' if share is not None else '-'):>6}  {r.get('reason', '')[:60]}")
      # What went wrong, whole (the console may be all a session keeps): a case's reason,
      # or where its points say it (a sweep's reason names its first bad point), theirs.
      if r["status"] in bad and len(r.get("reason", "")) > 60 and not any(pt.get("status") in bad for pt in r.get("points", [])):
          print(f"    {r['reason']}")
      for pt in r.get("points", []):  # sweeps: one line per context
          dn = (pt.get("dense") or {}).get("timing") or {}
          ds = (pt.get("dsa") or {}).get("timing") or {}
          acc = pt.get("accuracy") or {}
          wall = pt.get("wall_s") or {}  # the point's host wall time by phase
          spent = " ".join(f"{k} {v:.0f}" for k, v in sorted(wall.items(), key=lambda kv: -kv[1])[:3])
          up = f"{pt['speedup']:6.2f}x" if pt.get("speedup") else f"{'-':>7}"
          if "kl_mean" in acc:  # a model case: next-token agreement and each mode's device peak
              peaks = [((pt.get(m) or {}).get("memory") or {}).get("device_peak_bytes") for m in ("dense", "dsa")]
              delta = (f"KL {acc['kl_mean']:.3g} top-1 {acc.get('top1_agreement', float('nan')):.3f}"
                       + (f" peak {peaks[0] / 1e9:.1f}/{peaks[1] / 1e9:.1f} GB" if all(peaks) else ""))
          else:
              delta = f"rel_l2 {acc.get('rel_l2', float('nan')):.3g}"
          print(f"    L={pt['context']:<7} {pt.get('status', '?'):10} dense {ms(dn)} "
                f"dsa {ms(ds)} speed-up {up} {delta}  {pt.get('reason', '')[:50]}"
                + (f"  [{sum(wall.values()):.0f} s: {spent}]" if wall else ""))
          if pt.get("status") in bad and len(pt.get("reason", "")) > 50:
              print(f"        {pt['reason']}")
PY
exit $status
