#!/usr/bin/env bash
# Installs what dsa-bench needs to build, test and report, from Debian's packages.
# Does nothing (and needs no network or root) when everything is already present.
#
# Python: the reports use Debian's python3 packages, so every script calls
# /usr/bin/python3 explicitly. A pyenv `python3` earlier on PATH does not see
# Debian's python3-* packages; that is why we never call a bare `python3`.
# usage: scripts/setup.sh (no options; --help prints this text)
set -euo pipefail
case "${1:-}" in
  -h|--help) bash "$(dirname "$0")/print-help.sh" "$0"; exit 0 ;;
  "") ;;
  *) echo "scripts/setup.sh: takes no options (got \"$1\"; --help prints what it does)" >&2; exit 2 ;;
esac

packages=(
  cmake ninja-build g++ git pkg-config
  libgtest-dev libgmock-dev googletest   # GoogleTest (found with find_package(GTest))
  libbenchmark-dev                       # Google Benchmark
  nlohmann-json3-dev                     # nlohmann/json
  python3 python3-numpy python3-matplotlib python3-scipy python3-jsonschema  # tests and reports
  spin                                   # model check of the seesaw kernel's hand-offs (tests/models)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
else
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The CUDA toolkit is optional: without nvcc the project builds CPU-only.
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: CUDA toolkit found ($( (command -v nvcc || echo /usr/local/cuda/bin/nvcc) ))"
else
  echo "setup: no CUDA toolkit found; building CPU-only"
fi
