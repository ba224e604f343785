#!/usr/bin/env bash
# The README's test command (and what CI runs): install what is missing, build the
# release preset with tests, run every test. On a machine without a GPU the GPU
# tests (ctest label "gpu", from later issues) skip with a reason.
#   scripts/test.sh            release build + all tests, then the unit tests again under
#                              AddressSanitizer/UndefinedBehaviorSanitizer (preset asan)
#   scripts/test.sh --quick    release build + all tests only
#   scripts/test.sh --help     this text
set -euo pipefail
case "${1:-}" in
  -h|--help) bash "$(dirname "$0")/print-help.sh" "$0"; exit 0 ;;
  ""|--quick) ;;
  *) echo "scripts/test.sh: unknown option \"$1\" (--quick or --help; see scripts/test.sh --help)" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "scripts/test.sh: one option at most (--quick or --help)" >&2; exit 2; }
cd "$(dirname "$0")/.."
jobs=$(nproc)

bash scripts/setup.sh
echo "== configure and build (release) =="
cmake --preset release -DDSA_BUILD_TESTS=ON -DDSA_BUILD_MICROBENCH=ON
cmake --build --preset release -j "$jobs"
echo "== test (release) =="
# The test presets set OMP_WAIT_POLICY=passive: with as many tests at once as cores, an
# OpenMP thread spinning at a barrier takes the core its partner (in another test) needs,
# and a test of many small parallel loops ran 50 times slower (0.6 s alone, 29 s in CI).
ctest --preset release -j "$jobs"

if [ "${1:-}" != "--quick" ]; then
  echo "== configure, build and unit-test (asan) =="
  cmake --preset asan -DDSA_BUILD_TESTS=ON -DDSA_BUILD_MICROBENCH=OFF
  # The unit tests are all in dsa_tests: dsa-bench and the e2e tests' programs are not
  # built again here (they run in the release tests above).
  cmake --build --preset asan -j "$jobs" --target dsa_tests
  ctest --preset asan -j "$jobs" -L unit
fi
