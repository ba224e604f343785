#!/usr/bin/env bash
# The README's main command: install what is missing, build, run a suite on the GPU
# when one is present (else on the CPU), print the summary and render the report
# (Markdown, HTML and plots) with reports/dsa-report.
#   scripts/run.sh                      the default suite (suites/smoke.json)
#   scripts/run.sh --help               this text
#   scripts/run.sh SUITE.json [OPTIONS] another suite; OPTIONS go to `dsa-bench run`
#                                       (all but --out: DSA_RESULTS_DIR below)
#   scripts/run.sh suites/claims.json   third-party verification (GPU): the measurements
#                                       every published claim's verdict needs, then the
#                                       verdicts (results/claims-verdicts.md and .json)
#   ... --baseline BASELINE.json        then compare with a baseline (the nightly gate;
#                                       --baseline again for a baseline in several files
#                                       of one device, e.g. docs/evidence's H100 parts):
#                                       the cases with a slower series run again, and a
#                                       series is a regression only if the re-run is slower
#                                       too (NOISE otherwise); the comparison table is
#                                       printed and saved, and the exit status is non-zero
#                                       on a regression (SLOWER, or a case that now fails)
#                                       as well as on a failed run
#   ... --against REV [--rounds N]      the gate for a machine whose speed wanders (a
#                                       shared CPU runner): builds commit REV as this
#                                       build is built (cached in build-against/<commit>/),
#                                       then times both builds case by case, alternating,
#                                       N rounds (default 6), and compares the rounds'
#                                       medians (scripts/ab_run.py); same outputs and exit
#                                       status as --baseline, the A/B runs under
#                                       results/<suite>-ab/
# A relative SUITE.json or BASELINE.json is read from the current folder, else from the
# checkout. Bad usage or a bad suite file exits 2 before anything runs, with no report.
# Results: results/<suite>.json (the full record), results/<suite>-summary.txt, the
# report in results/<suite>-report/ (report.md, report.html, plots as PNG and SVG) and,
# with a baseline, results/<suite>-compare.md and .json (and <suite>-rerun.json when cases
# ran again).
# Environment: DSA_BENCH (a dsa-bench binary to use instead of building one),
# DSA_AGAINST_BENCH (with --against: REV's dsa-bench, already built),
# DSA_AGAINST_CMAKE_ARGS (with --against: more CMake arguments for REV's build, split on
# spaces, e.g. -DDSA_ENABLE_CUDA=OFF for a CPU-only gate without nvcc's minutes; such a
# build is cached apart, in build-against/<commit>-<hash of the arguments>/),
# DSA_RESULTS_DIR (instead of results/).
set -euo pipefail
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  # This header; `dsa-bench run --help` lists the run options.
  bash "$(dirname "$0")/print-help.sh" "$0"; exit 0
fi
caller=$PWD
cd "$(dirname "$0")/.."
# A relative path given on the command line is the caller's, as with any tool; one that is
# not there is taken from the checkout (so `scripts/run.sh suites/nightly.json` works from
# anywhere).
from_caller() { case "$1" in /*) printf '%s' "$1" ;; *) if [ -e "$caller/$1" ]; then printf '%s' "$caller/$1"; else printf '%s' "$1"; fi ;; esac; }

suite=suites/smoke.json
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then suite=$(from_caller "$1"); shift; fi
name=$(basename "$suite" .json)
baselines=()
run_args=()
backend_args=()
filter_args=()
against=
rounds=
# once OPTION EARLIER NEW: a second, different value is refused (as dsa-bench run does),
# not taken in place of the first.
once() {
  if [ -n "$2" ] && [ "$2" != "$3" ]; then
    echo "scripts/run.sh: $1 given twice (\"$2\", then \"$3\"): it takes one value" >&2; exit 2
  fi
}
while [ $# -gt 0 ]; do
  case "$1" in
    --baseline)
      [ $# -ge 2 ] || { echo "scripts/run.sh: --baseline needs a results file" >&2; exit 2; }
      baselines+=("$(from_caller "$2")"); shift 2 ;;
    --against)
      [ $# -ge 2 ] || { echo "scripts/run.sh: --against needs a commit (a hash, tag or branch)" >&2; exit 2; }
      once --against "$against" "$2"; against=$2; shift 2 ;;
    --rounds)
      [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || { echo "scripts/run.sh: --rounds takes a positive integer" >&2; exit 2; }
      once --rounds "$rounds" "$2"; rounds=$2; shift 2 ;;
    --out)
      # The report, the comparison and the re-run read results/<suite>.json: another
      # results file would leave them reading a stale one or none.
      echo "scripts/run.sh: --out is set here (results/<suite>.json); DSA_RESULTS_DIR picks the folder" >&2; exit 2 ;;
    --backend|--filter)
      # Kept apart: the default --backend auto goes in only when none is given, and the
      # re-run of slower cases takes its own --filter (dsa-bench refuses a second value).
      if [ $# -lt 2 ]; then run_args+=("$1"); shift  # dsa-bench says it needs a value
      elif [ "$1" = --backend ]; then backend_args+=("$1" "$2"); shift 2
      else filter_args+=("$1" "$2"); shift 2; fi ;;
    *) run_args+=("$1"); shift ;;
  esac
done
[ ${#backend_args[@]} -gt 0 ] || backend_args=(--backend auto)
if [ -n "$against" ] && [ ${#baselines[@]} -gt 0 ]; then
  echo "scripts/run.sh: give --baseline (stored results) or --against (a commit timed now), not both" >&2; exit 2
fi
if [ -n "$rounds" ] && [ -z "$against" ]; then
  echo "scripts/run.sh: --rounds sets the A/B rounds of --against REV; without --against it would be ignored" >&2; exit 2
fi
rounds=${rounds:-6}
# Before setup and a build of minutes: a mistyped suite path fails at once. dsa-bench
# checks the file's content.
[ -r "$suite" ] && [ -f "$suite" ] || { echo "scripts/run.sh: suite $suite: not a readable file (the shipped suites are in suites/)" >&2; exit 2; }
against_bench=
if [ -n "$against" ]; then
  against_sha=$(git rev-parse --verify --quiet "$against^{commit}") \
    || { echo "scripts/run.sh: --against $against: not a commit of this repository (a shallow clone may lack it: fetch it first)" >&2; exit 2; }
  against_bench=${DSA_AGAINST_BENCH:-}
  if [ -n "$against_bench" ] && [ ! -x "$against_bench" ]; then
    echo "scripts/run.sh: DSA_AGAINST_BENCH=$against_bench: not an executable" >&2; exit 2
  fi
fi
baseline_copies=()
if [ ${#baselines[@]} -gt 0 ]; then
  # Copies, read before the run: a baseline may be the very file this run rewrites.
  baseline_dir=$(mktemp -d)
  trap 'rm -rf "$baseline_dir"' EXIT
  for i in "${!baselines[@]}"; do
    b=${baselines[$i]}
    [ -r "$b" ] || { echo "scripts/run.sh: baseline $b: cannot read it" >&2; exit 2; }
    baseline_copies+=("$baseline_dir/$i-$(basename "$b")")
    cp "$b" "${baseline_copies[$i]}"
  done
fi

bench=${DSA_BENCH:-}
if [ -z "$bench" ]; then
  bash scripts/setup.sh >/dev/null
  bench=build/bin/dsa-bench
  if [ ! -x "$bench" ] || [ -n "$(find bench core kernels reference model CMakeLists.txt -newer "$bench" -print -quit)" ]; then
    echo "== building dsa-bench (release) =="
    cmake --preset release >/dev/null
    cmake --build --preset release -j "$(nproc)" --target dsa-bench
  fi
fi
if [ -n "$against" ] && [ -z "$against_bench" ]; then
  # REV's own tree (a git worktree) and build, configured as this build is (the release
  # type, the CUDA backend where nvcc is found), kept for the next run against it.
  against_dir=build-against/$against_sha
  read -r -a against_cmake_args <<< "${DSA_AGAINST_CMAKE_ARGS:-}"
  if [ ${#against_cmake_args[@]} -gt 0 ]; then
    against_dir=$against_dir-$(printf '%s' "${against_cmake_args[*]}" | sha256sum | cut -c1-8)
  fi
  against_bench=$against_dir/build/bin/dsa-bench
  if [ ! -x "$against_bench" ]; then
    echo "== building dsa-bench at ${against_sha:0:10} ($against) in $against_dir =="
    if [ ! -e "$against_dir/src/CMakeLists.txt" ]; then
      rm -rf "$against_dir/src"; git worktree prune
      git worktree add --detach "$against_dir/src" "$against_sha" >/dev/null 2>&1 \
        || { echo "scripts/run.sh: could not check out $against_sha into $against_dir/src" >&2; exit 2; }
    fi
    if ! { cmake -S "$against_dir/src" -B "$against_dir/build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${against_cmake_args[@]}" \
           && cmake --build "$against_dir/build" -j "$(nproc)" --target dsa-bench; } > "$against_dir/build.log" 2>&1; then
      tail -20 "$against_dir/build.log" >&2
      echo "scripts/run.sh: dsa-bench at $against_sha did not build (log: $against_dir/build.log)" >&2; exit 2
    fi
  fi
  touch "$against_dir"
  # Keep the four builds used last (about 64 MB each): a nightly against last night's commit
  # would otherwise add one a night.
  for old in $(ls -1td build-against/*/ 2>/dev/null | tail -n +5); do
    git worktree remove --force "${old}src" >/dev/null 2>&1 || true
    rm -rf "$old"
  done
  git worktree prune
fi
out=${DSA_RESULTS_DIR:-results}
mkdir -p "$out"
set +e
"$bench" run "$suite" --out "$out/$name.json" "${backend_args[@]}" ${filter_args[@]+"${filter_args[@]}"} \
  ${run_args[@]+"${run_args[@]}"} | tee "$out/$name-summary.txt"
status=${PIPESTATUS[0]}
if [ "$status" -eq 2 ]; then
  # Bad usage or a bad suite file: nothing ran. No report, which would show an earlier
  # run's results under the same name as this one's.
  echo "scripts/run.sh: dsa-bench refused the run (exit 2, its message above): nothing ran, no report" >&2
  exit 2
fi
# The report is rendered whatever the run's status: a failing run needs it most.
reports/dsa-report render "$out/$name.json" -o "$out/$name-report"
report_status=$?
# The claims suite is run for its verdicts (also in the report): print them last.
if [ "$name" = claims ] && [ "$report_status" -eq 0 ]; then
  reports/dsa-report claims "$out/$name.json" --json "$out/$name-verdicts.json" > "$out/$name-verdicts.md"
  report_status=$?
  cat "$out/$name-verdicts.md"
  # Without a GPU every case of the shipped claims suite is skipped and every verdict is
  # INCONCLUSIVE: say so, and where the recorded GPU runs' verdicts come from.
  if /usr/bin/python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))["cases"]; sys.exit(0 if c and all(x["status"] == "skipped" for x in c) else 1)' "$out/$name.json" 2>/dev/null; then
    evidence=docs/evidence/2026-11-23-h100
    echo "No case ran here (no GPU): every verdict above is INCONCLUSIVE. The verdicts on the H100 runs recorded in $evidence:"
    echo "  reports/dsa-report claims $evidence/nightly-sweep-prefill-prefer-candidates.json $evidence/nightly-sweep-decode.json $evidence/model-small-prefill-128k.json"
  fi
fi
compare_status=0
if [ ${#baselines[@]} -gt 0 ]; then
  echo "== against the baseline ${baselines[*]} =="
  reports/dsa-report compare "${baseline_copies[@]}" "$out/$name.json" --json "$out/$name-compare.json" > "$out/$name-compare.md"
  compare_status=$?
  # A series can come out slower because this whole run was slow (another job on the
  # machine): the cases with a SLOWER series run again, and a series counts as a
  # regression only if the re-run is slower than the baseline too (else NOISE).
  if [ "$compare_status" -eq 1 ]; then
    slower=$(/usr/bin/python3 - "$out/$name-compare.json" <<'PY'
import json, re, sys
names = sorted({r["case"] for r in json.load(open(sys.argv[1]))["rows"] if r["verdict"] == "SLOWER"})
print("^(" + "|".join(re.escape(n) for n in names) + ")$" if names else "")
PY
)
    if [ -n "$slower" ]; then
      echo "== re-running the cases with a slower series, to tell a regression from a slow run: $slower =="
      "$bench" run "$suite" --out "$out/$name-rerun.json" "${backend_args[@]}" ${run_args[@]+"${run_args[@]}"} \
        --filter "$slower" > "$out/$name-rerun-summary.txt" 2>&1
      if [ -s "$out/$name-rerun.json" ]; then
        reports/dsa-report compare "${baseline_copies[@]}" "$out/$name.json" --confirm "$out/$name-rerun.json" \
          --json "$out/$name-compare.json" > "$out/$name-compare.md"
        compare_status=$?
      else
        echo "the re-run wrote no results (see $out/$name-rerun-summary.txt): the first comparison stands"
      fi
    fi
  fi
  cat "$out/$name-compare.md"
fi
if [ -n "$against" ]; then
  echo "== against ${against_sha:0:10} ($against): both builds case by case, alternating, $rounds round(s) =="
  rm -rf "$out/$name-ab"
  /usr/bin/python3 scripts/ab_run.py "$suite" "$against_bench" "$bench" "$out/$name-ab" --rounds "$rounds" \
    --json "$out/$name-compare.json" -- "${backend_args[@]}" ${filter_args[@]+"${filter_args[@]}"} \
    ${run_args[@]+"${run_args[@]}"} > "$out/$name-compare.md"
  compare_status=$?
  cat "$out/$name-compare.md"
fi
set -e
echo "results: $out/$name.json (every sample, work count and check); summary: $out/$name-summary.txt"
echo "report: $out/$name-report/report.html (and report.md, plots as PNG and SVG)"
[ "$name" = claims ] && echo "verdicts: $out/$name-verdicts.md (and .json)"
{ [ ${#baselines[@]} -gt 0 ] || [ -n "$against" ]; } \
  && echo "comparison: $out/$name-compare.md (exit $compare_status: 0 no regression, 1 regression, 2 not comparable)"
[ "$status" -ne 0 ] && exit "$status"
[ "$compare_status" -ne 0 ] && exit "$compare_status"
exit "$report_status"
