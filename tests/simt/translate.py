#!/usr/bin/env python3
"""Rewrites a CUDA source so the host compiler builds it for the SIMT emulator (simt.h).

Usage: translate.py IN.cu OUT.cpp

Three rewrites, each on its own line so line numbers stay those of the original (a
#line directive names it in the compiler's messages):
  kernel<<<grid, block[, smem[, stream]]>>>(args)  ->  ::simt::launch(kernel, grid, block, smem, stream)(args)
  extern __shared__ T name[];                      ->  T* name = ::simt::dynamic_shared_as<T>();
  __shared__ T name[N]...;                         ->  auto& name = ::simt::shared_var<T[N]...>(id);
Anything else is left as written; a declaration this script does not understand stays
`__shared__`, which simt.h turns into a compile error naming it.
"""
import re
import sys

LAUNCH = re.compile(r"([A-Za-z_][\w:]*(?:<[^<>;{}]*>)?)\s*<<<(.*?)>>>\s*\(", re.S)
DYNAMIC = re.compile(r"\bextern\s+__shared__\s+(?:alignas\(\s*\d+\s*\)\s+)?([^;\[\]]+?)\s+(\w+)\s*\[\s*\]\s*;")
STATIC = re.compile(r"(?<!extern )\b__shared__\s+(?:alignas\(\s*\d+\s*\)\s+)?([^;]+?)\s+(\w+)\s*((?:\[[^\]]+\]\s*)*);")


def translate(text: str) -> str:
    text = LAUNCH.sub(lambda m: f"::simt::launch({m.group(1)}, {m.group(2)})(", text)
    text = DYNAMIC.sub(lambda m: f"{m.group(1)}* {m.group(2)} = ::simt::dynamic_shared_as<{m.group(1)}>();", text)
    counter = iter(range(1, 1 << 30))
    return STATIC.sub(
        lambda m: f"auto& {m.group(2)} = ::simt::shared_var<{m.group(1)}{m.group(3).replace(' ', '')}>({next(counter)});",
        text)


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    src, out = argv[1], argv[2]
    try:
        with open(src, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        sys.exit(f"translate.py: cannot read {src}: {e.strerror}")
    result = f'#line 1 "{src}"\n' + translate(text)
    with open(out, "w", encoding="utf-8") as f:
        f.write(result)


if __name__ == "__main__":
    main(sys.argv)
