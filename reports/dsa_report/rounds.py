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

FAILING = ("failed", "error", "oom")


def _walk(rec, path=()):
    """(path, timing record) of every timing record inside a case record: dicts holding
    `samples_s`, found at any depth (an op's timing, a sweep point's dense and DSA timings
    and its stages', a model point's modes)."""
    if isinstance(rec, dict):
        if isinstance(rec.get("samples_s"), list):
            yield path, rec
        for k, v in rec.items():
            yield from _walk(v, path + (k,))
    elif isinstance(rec, list):
        for i, v in enumerate(rec):
            yield from _walk(v, path + (i,))


def _at(rec, path):
    for k in path:
        try:
            rec = rec[k]
        except (KeyError, IndexError, TypeError):
            return None
    return rec


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
        failed = next((r for r in records if r.get("status") in FAILING), None)
        if failed is not None:
            out["cases"][i] = copy.deepcopy(failed)
            continue
        for path, t in _walk(case):
            medians = [statistics.median(t["samples_s"])] if t["samples_s"] else []
            for other in records[1:]:
                o = _at(other, path) if other.get("status") == case.get("status") else None
                if isinstance(o, dict) and isinstance(o.get("samples_s"), list) and o["samples_s"]:
                    medians.append(statistics.median(o["samples_s"]))
            t["samples_s"], t["count"] = medians, len(medians)
        # The SM clocks recorded beside a timing (a GPU case's, a sweep side's), pooled alike.
        for path, holder in _clock_holders(case):
            for other in records[1:]:
                o = _at(other, path)
                if other.get("status") == case.get("status") and isinstance(o, list):
                    holder[path[-1]] = holder[path[-1]] + o
    if len(rounds) > 1:
        out["pooled_rounds"] = len(rounds)
    return out


def _clock_holders(case):
    """(path to an `sm_clock_mhz` list, the dict holding it) inside a case record."""
    def walk(rec, path):
        if isinstance(rec, dict):
            if isinstance(rec.get("sm_clock_mhz"), list):
                yield path + ("sm_clock_mhz",), rec
            for k, v in rec.items():
                if k != "sm_clock_mhz":
                    yield from walk(v, path + (k,))
        elif isinstance(rec, list):
            for i, v in enumerate(rec):
                yield from walk(v, path + (i,))
    return list(walk(case, ()))
