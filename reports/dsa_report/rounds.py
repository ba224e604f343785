"""The rounds of an interleaved A/B run (scripts/ab_run.py) made one document a side, for
the regression gate.

An A/B run times two builds on one machine case by case, alternating which goes first,
for several rounds: one process per case, build and round. Each round of a side is one
document (its cases' files read together).

The process, not the sample, is the unit: on the shared 2-core machine of 2026-12-06 a
process ran a top-k case at about 0.53, 0.65 or 0.80 ms a sample and kept that speed for
all its samples (within 5%), whichever build it was, so the samples of one process are
not independent draws of the machine's speed and a rank test over pooled samples called
two builds of the same code 22% apart (p = 0.0025, four rounds). So each timing record
of the pooled document holds one value per round, the median of that round's samples,
and the gate's rank test compares those: with 5 rounds a side p can reach 0.008, with 6
0.002 (scripts/run.sh asks for 6).

Only `samples_s` (and `count`, and the SM clocks recorded beside them, concatenated) are
replaced: the other statistics and the figures derived from them (rates, speed-ups) stay
the first round's, which is all `compare` reads of them. The report is rendered from the
ordinary run scripts/run.sh makes first.
"""
from __future__ import annotations

import copy
import statistics

from . import load



def _holders(rec, key, path=()):
    """(path, dict) of every dict inside a case record holding a list under `key`, at any
    depth: "samples_s" finds the timing records (an op's, a sweep point's dense and DSA and
    its stages', a model point's modes), "sm_clock_mhz" the SM clocks beside them."""
    if isinstance(rec, dict):
        if isinstance(rec.get(key), list):
            yield path, rec
        for k, v in rec.items():
            if k != key:
                yield from _holders(v, key, path + (k,))
    elif isinstance(rec, list):
        for i, v in enumerate(rec):
            yield from _holders(v, key, path + (i,))


def _at(rec, path):
    for k in path:
        try:
            rec = rec[k]
        except (KeyError, IndexError, TypeError):
            return None
    return rec


def _lists_at(records, path, key):
    """The lists under `key` at `path` in each of `records` that has one."""
    found = (_at(r, path) for r in records)
    return [d[key] for d in found if isinstance(d, dict) and isinstance(d.get(key), list)]


def pool(rounds: list[dict]) -> dict:
    """One document from several rounds of the same cases: the first round's, each case's
    timing records holding one value per round, the median of its samples, for every round
    in which that record exists and the case has the same status. A case that failed in any
    round is that round's record (a failure is never pooled away). Cases missing from the
    first round are not added."""
    if not rounds:
        raise load.ResultsError("no rounds to pool")
    out = copy.deepcopy(rounds[0])
    by_name = [{c["name"]: c for c in doc["cases"]} for doc in rounds]
    for i, case in enumerate(out["cases"]):
        records = [r[case["name"]] for r in by_name if case["name"] in r]
        failed = next((r for r in records if r.get("status") in load.FAILING), None)
        if failed is not None:
            out["cases"][i] = copy.deepcopy(failed)
            continue
        others = [r for r in records[1:] if r.get("status") == case.get("status")]
        for path, t in list(_holders(case, "samples_s")):
            rounds_samples = [t["samples_s"]] + _lists_at(others, path, "samples_s")
            t["samples_s"] = [statistics.median(v) for v in rounds_samples if v]
            t["count"] = len(t["samples_s"])
        for path, holder in list(_holders(case, "sm_clock_mhz")):
            holder["sm_clock_mhz"] = holder["sm_clock_mhz"] + [x for v in _lists_at(others, path, "sm_clock_mhz")
                                                               for x in v]
    if len(rounds) > 1:
        out["pooled_rounds"] = len(rounds)
    return out
