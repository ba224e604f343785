#!/usr/bin/env bash
# The README's main command: install what is missing, build, run a suite on the GPU
# when one is present (else on the CPU), print the summary and render the report
# (Markdown, HTML and plots) with reports/dsa-report.
#   scripts/run.sh                      the default suite (suites/smoke.json)
#   scripts/run.sh SUITE.json [OPTIONS] another suite; OPTIONS go to `dsa-bench run`
# Results: results/<suite>.json (the full record), results/<suite>-summary.txt and the
# report in results/<suite>-report/ (report.md, report.html, plots as PNG and SVG).
set -euo pipefail
cd "$(dirname "$0")/.."

suite=suites/smoke.json
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then suite=$1; shift; fi
name=$(basename "$suite" .json)

bash scripts/setup.sh >/dev/null
if [ ! -x build/bin/dsa-bench ] || [ -n "$(find bench core kernels reference CMakeLists.txt -newer build/bin/dsa-bench -print -quit)" ]; then
  echo "== building dsa-bench (release) =="
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target dsa-bench
fi
mkdir -p results
set +e
./build/bin/dsa-bench run "$suite" --out "results/$name.json" --backend auto "$@" | tee "results/$name-summary.txt"
status=${PIPESTATUS[0]}
# The report is rendered whatever the run's status: a failing run needs it most.
reports/dsa-report render "results/$name.json" -o "results/$name-report"
report_status=$?
set -e
echo "results: results/$name.json (every sample, work count and check); summary: results/$name-summary.txt"
echo "report: results/$name-report/report.html (and report.md, plots as PNG and SVG)"
[ "$status" -ne 0 ] && exit "$status"
exit "$report_status"
