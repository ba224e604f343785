#!/usr/bin/python3
"""Every op case's timing in a results file times a factor, for the gate's tests (a
baseline or a build made faster or slower on purpose).
usage: scale_timings.py IN.json OUT.json FACTOR   (OUT may be IN)"""
import json
import sys

src, dst, factor = sys.argv[1], sys.argv[2], float(sys.argv[3])
with open(src) as f:
    d = json.load(f)
for c in d["cases"]:
    t = c.get("timing")
    if t:
        t["samples_s"] = [s * factor for s in t["samples_s"]]
        for k in ("median_s", "min_s", "max_s", "mean_s", "q1_s", "q3_s", "iqr_s", "wall_s"):
            if k in t:
                t[k] *= factor
with open(dst, "w") as f:
    json.dump(d, f)
