"""The hand-offs of one round of the seesaw kernel, in order, per warpgroup, as the
CUDA source writes them and as the spin model (seesaw_handoffs.pml) does: named-barrier
syncs and arrivals, mbarrier waits, loads and writes of P. The model proves properties
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


def kernel_sequence(body):
    out = []
    for m in re.finditer(r"bar_(sync|arrive)\((kBar\w+(?: \+ 1)?), kThreads|bar_(sync)\((kBarWg(?: \+ 1)?), 128\)"
                         r"|mbar_wait\(&bars\[(k[AB](?:Lo|Hi))\]|load\((A|B)(Lo|Hi)\{\}|(write_p)\(", body):
        if m.group(1):
            out.append(f"{m.group(1)} {NAMES[m.group(2)]}")
        elif m.group(3):
            out.append(f"sync {NAMES[m.group(4)]}")
        elif m.group(5):
            out.append(f"wait {NAMES[m.group(5)]}")
        elif m.group(6):
            out.append(f"load {NAMES[m.group(6) + m.group(7)]}")
        else:
            out.append("write_p")
    return out


def model_sequence(body):
    out = []
    for m in re.finditer(r"bar_(sync|arrive)\(B_(\w+),|mbar_wait\(M_(\w+),|load\(M_(\w+),|(write_p)\(", body):
        if m.group(1):
            out.append(f"{m.group(1)} {m.group(2)}")
        elif m.group(3):
            out.append(f"wait {m.group(3)}")
        elif m.group(4):
            out.append(f"load {m.group(4)}")
        else:
            out.append("write_p")
    return out


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
