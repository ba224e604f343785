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


def kernel_sequence(body):
    out = []
    for m in re.finditer(r"bar_(sync|arrive)\((kBar\w+(?: \+ 1)?), kThreads|bar_(sync)\((kBarWg(?: \+ 1)?), 128\)"
                         r"|mbar_wait\(&bars\[(k[AB](?:Lo|Hi))\]|load\((A|B)(Lo|Hi)\{\}|(write_p)\("
                         r"|score_blocks\(s, desc_q, desc_(a|b)|(add_pv|issue_pv)\(acc, t(a|b)|(wgmma_wait_all)\(\)", body):
        g = m.groups()
        if g[0]:
            out.append(f"{g[0]} {NAMES[g[1]]}")
        elif g[2]:
            out.append(f"sync {NAMES[g[3]]}")
        elif g[4]:
            out.append(f"wait {NAMES[g[4]]}")
        elif g[5]:
            out.append(f"load {NAMES[g[5] + g[6]]}")
        elif g[7]:
            out.append("write_p")
        elif g[8]:
            out.append(f"S {g[8].upper()}")  # a wgmma read of the tile's key blocks, issued
        elif g[9]:
            out.append(f"PV {g[10].upper()}")  # P and the tile's value blocks, issued
            if g[9] == "add_pv":
                out.append("mma_wait")          # add_pv also waits for its products
        else:
            out.append("mma_wait")              # this warp's products are done
    return collapse(out)


def model_sequence(body):
    out = []
    for m in re.finditer(r"bar_(sync|arrive)\(B_(\w+),|mbar_wait\(M_(\w+),|load\(M_(\w+),|(write_p)\("
                         r"|take_p\(([01]), P_\w+, r\); take\(P_\w+, r\)|take\(P_([AB])\d|atomic \{ (readers)\[", body):
        g = m.groups()
        if g[0]:
            out.append(f"{g[0]} {g[1]}")
        elif g[2]:
            out.append(f"wait {g[2]}")
        elif g[3]:
            out.append(f"load {g[3]}")
        elif g[4]:
            out.append("write_p")
        elif g[5]:
            out.append(f"PV {'AB'[int(g[5])]}")
        elif g[6]:
            out.append(f"S {g[6]}")
        else:
            out.append("mma_wait")
    return collapse(out)


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
    for name, k, m in (("warpgroup 0", kernel_sequence(k0), model_sequence(m0)),
                       ("warpgroup 1", kernel_sequence(k1), model_sequence(m1))):
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
