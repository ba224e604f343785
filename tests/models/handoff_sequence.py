"""The hand-offs of one round of the seesaw kernel, in order, per warpgroup, as the
CUDA source writes them and as the spin model (seesaw_handoffs.pml) does: named-barrier
syncs and arrivals, mbarrier waits, loads and writes of P, and the tensor-core reads
of the tiles (scores, P V) with the waits that end them. The model proves properties
of its own sequence only, so the two must be the same: a change to the kernel's
hand-offs fails this check until the model follows it.
  python3 handoff_sequence.py KERNEL.cu MODEL.pml   (exit 1 on a difference)
"""
import re
import sys

NAMES = {"kBarMax0": "MAX0", "kBarMax1": "MAX1", "kBarAFree": "AFREE", "kBarBFree": "BFREE",
         "kBarWg": "WG0", "kBarWg + 1": "WG1", "kALo": "ALO", "kAHi": "AHI", "kBLo": "BLO", "kBHi": "BHI",
         "ALo": "ALO", "AHi": "AHI", "BLo": "BLO", "BHi": "BHI"}


def between(text, start, end, what):
    i = text.find(start)
    j = text.find(end, i + len(start)) if i >= 0 else -1
    if i < 0 or j < 0:
        sys.exit(f"handoff_sequence: cannot find {what} ({start!r} .. {end!r})")
    return text[i + len(start):j]


def collapse(tokens):
    """Consecutive equal tokens as one: the kernel issues a tile's scores in several
    calls where the model takes the tile's parts in one step."""
    return [t for i, t in enumerate(tokens) if i == 0 or t != tokens[i - 1]]


def sequence(body, rules):
    """The tokens of `body` in source order: rules are (pattern, match -> tokens)."""
    combined = "|".join(f"(?P<r{i}>{pattern})" for i, (pattern, _) in enumerate(rules))
    out = []
    for m in re.finditer(combined, body):
        pattern, tokens = rules[int(m.lastgroup[1:])]
        out += tokens(re.match(pattern, m.group(m.lastgroup)))
    return collapse(out)


KERNEL_RULES = [
    (r"bar_(sync|arrive)\((kBar\w+(?: \+ 1)?), (?:kThreads|128)\)", lambda m: [f"{m[1]} {NAMES[m[2]]}"]),
    (r"mbar_wait\(&bars\[(k[AB](?:Lo|Hi))\]", lambda m: [f"wait {NAMES[m[1]]}"]),
    (r"load\(([AB](?:Lo|Hi))\{\}", lambda m: [f"load {NAMES[m[1]]}"]),
    (r"write_p\(", lambda m: ["write_p"]),
    # a wgmma read of the tile's key blocks, issued
    (r"score_blocks\(s, desc_q, desc_([ab])", lambda m: [f"S {m[1].upper()}"]),
    # P and the tile's value blocks, issued; add_pv also waits for its products
    (r"(add_pv|issue_pv)\(acc, t([ab])", lambda m: [f"PV {m[2].upper()}"] + (["mma_wait"] if m[1] == "add_pv" else [])),
    (r"wgmma_wait_all\(\)", lambda m: ["mma_wait"]),  # this warp's products are done
]

MODEL_RULES = [
    (r"bar_(sync|arrive)\(B_(\w+),", lambda m: [f"{m[1]} {m[2]}"]),
    (r"mbar_wait\(M_(\w+),", lambda m: [f"wait {m[1]}"]),
    (r"load\(M_(\w+),", lambda m: [f"load {m[1]}"]),
    (r"write_p\(", lambda m: ["write_p"]),
    (r"take_p\(([01]), P_\w+, r\); take\(P_\w+, r\)", lambda m: [f"PV {'AB'[int(m[1])]}"]),
    (r"take\(P_([AB])\d", lambda m: [f"S {m[1]}"]),
    (r"atomic \{ readers\[", lambda m: ["mma_wait"]),
]


def main(kernel_path, model_path):
    kernel = open(kernel_path).read()
    model = open(model_path).read()
    loop = between(kernel, "for (std::int64_t r = 0; r < rounds; ++r) {", "store_rows(", "the kernel's round loop")
    k0 = between(loop, "if (wg == 0) {", "} else {", "warpgroup 0's branch")
    k1 = loop[loop.find("} else {"):]
    m0 = between(between(model, "proctype wg0(", "proctype wg1(", "the model's wg0"), ":: r < R ->", ":: else -> break",
                 "the model's wg0 round")
    m1 = between(between(model, "proctype wg1(", "init {", "the model's wg1"), ":: r < R ->", ":: else -> break",
                 "the model's wg1 round")
    bad = 0
    for name, k, m in (("warpgroup 0", sequence(k0, KERNEL_RULES), sequence(m0, MODEL_RULES)),
                       ("warpgroup 1", sequence(k1, KERNEL_RULES), sequence(m1, MODEL_RULES))):
        if k == m:
            print(f"ok   {name}: {len(k)} hand-offs in the same order: " + ", ".join(k))
        else:
            bad += 1
            print(f"FAIL {name}: the kernel and the model differ")
            print("  kernel: " + ", ".join(k))
            print("  model:  " + ", ".join(m))
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
