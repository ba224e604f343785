"""Loading results files: JSON syntax and the published schema are checked first, and a
bad file is rejected with its name, the path inside the document and what was expected.
Then typed views of what the reports need: sweeps, whole-model runs and single ops."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import jsonschema

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results.schema.json")


class ResultsError(Exception):
    """A results file that cannot be used (exit code 2)."""


def _schema():
    with open(SCHEMA_PATH) as f:
        return json.load(f)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs):
    """json's object hook: a key given twice is an error (json.load keeps the last value of
    a repeated key without a word, so a hand-edited record would be read half-changed)."""
    obj = {}
    for k, v in pairs:
        if k in obj:
            named = obj.get("name", dict(pairs).get("name"))
            where = f" (in the object named {named!r})" if isinstance(named, str) else ""
            raise _DuplicateKey(f"key {k!r} given twice in one object{where}")
        obj[k] = v
    return obj


def load_results(path: str) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f, object_pairs_hook=_unique_keys)
    except _DuplicateKey as e:
        raise ResultsError(f"{path}: {e}: each key once, as dsa-bench writes it")
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file")
    except OSError as e:  # a folder, no permission
        raise ResultsError(f"{path}: cannot read it: {e.strerror or e}")
    except UnicodeDecodeError:
        raise ResultsError(f"{path}: not a text file (a results file is JSON)")
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})")
    if not isinstance(doc, dict) or doc.get("schema") != "dsa-bench-results":
        raise ResultsError(f"{path}: not a dsa-bench results file ({_what_it_is(doc)}); "
                           "dsa-bench run writes those (their top level has \"schema\": \"dsa-bench-results\")")
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ResultsError(f"{path}: at {where}: {e.message}{more}")
    # dsa-bench writes each case once; a file joined by hand may not, and compare or a
    # claim's verdict would then read one of the two records and silently drop the other.
    seen = set()
    for i, c in enumerate(doc["cases"]):
        if c["name"] in seen:
            raise ResultsError(f"{path}: at cases/{i}: case {c['name']!r} appears twice: a results file holds each case once")
        seen.add(c["name"])
    return doc


def _what_it_is(doc) -> str:
    """A guess at what a JSON file that is not a results file holds, for the error: the
    GPU check's folder also has GoogleTest and Google Benchmark reports beside the results."""
    if not isinstance(doc, dict):
        kind = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(type(doc), "a number")
        return f"its top level is {kind}, not an object"
    if "testsuites" in doc:
        return "a GoogleTest report"
    if "benchmarks" in doc and "context" in doc:
        return "a Google Benchmark report"
    if "schema" in doc:
        return f"its \"schema\" is {json.dumps(doc['schema'])[:60]}"
    return "no \"schema\" field at its top level"


# Case statuses: a case that ran and failed, and one that did not run here.
FAILING = ("failed", "error", "oom")
NOT_RUN = ("skipped", "not_supported")


# Where load_many keeps, in each case, the device ceilings its own run measured.
RUN_CEILINGS = "_run_device_ceilings"


def ceilings_of(doc: dict, case: dict) -> dict:
    """The device ceilings measured in the run a case comes from."""
    return (case[RUN_CEILINGS] if RUN_CEILINGS in case else doc.get("device_ceilings")) or {}


def load_many(paths: list[str]) -> dict:
    """Several results files as one document (their cases together), e.g. a nightly
    run's sweeps and a model run: the reports then see prefill, decode and the model's
    non-attention cost at once. The files must come from the same device, since a cost
    or a verdict mixing devices would mean nothing, and no case name may appear twice.
    Provenance is the first file's; `merged_from` lists them all."""
    docs = [load_results(p) for p in paths]
    if len(docs) == 1:
        return docs[0]
    first = docs[0]
    where = {}
    for path, doc in zip(paths, docs):
        if device_name(doc) != device_name(first):
            raise ResultsError(f"{path}: timings from {device_name(doc)}, but {paths[0]} has them from "
                               f"{device_name(first)}: give files from one device")
        for c in doc["cases"]:
            if c["name"] in where:
                raise ResultsError(f"{path}: case {c['name']!r} is also in {where[c['name']]}: give each case once")
            where[c["name"]] = path
    merged = dict(first)
    for doc in docs:  # each run measured the device's ceilings itself: its cases keep them
        for c in doc["cases"]:
            c[RUN_CEILINGS] = doc.get("device_ceilings")
    merged["cases"] = [c for doc in docs for c in doc["cases"]]
    merged["suite"] = dict(first["suite"], name=" + ".join(dict.fromkeys(d["suite"]["name"] for d in docs)))
    merged["merged_from"] = [_run_of(p, d) for p, d in zip(paths, docs)]
    merged["run_status"] = next((d["run_status"] for d in docs if d["run_status"] != "complete"), "complete")
    return merged


def _run_of(path, d: dict) -> dict:
    """What the reports say of one run (one results file): a merged document's
    `merged_from` holds one per file, and runs() makes the same of a single file."""
    return {"path": path, "suite": d["suite"]["name"], "commit": short_commit(d),
            "timestamp_utc": d["provenance"]["timestamp_utc"], "command_line": d["provenance"]["command_line"],
            "short_mode": bool(d["provenance"].get("short_mode", False)), "run_status": d["run_status"],
            "cases_selected": d["suite"]["cases_selected"], "cases_recorded": len(d["cases"])}


def runs(doc: dict) -> list[dict]:
    """The runs read into `doc`: each file's of a merged document, else its own (path None)."""
    return doc.get("merged_from") or [_run_of(None, doc)]


def short_modes(doc: dict) -> set:
    """Whether each run read into `doc` ran with --short."""
    return {r["short_mode"] for r in runs(doc)}


def mode_text(modes: set) -> str:
    return "with --short" if modes == {True} else "without --short" if modes == {False} else "partly with --short"


# Said at the top of a report or verdicts drawn from a --short run: its times are a smoke
# check's (at most 1 warm-up and 10 samples), which the command line alone shows only to
# those who know the option.
def short_mode_warning(doc: dict) -> str:
    modes = short_modes(doc)
    if True not in modes:
        return ""
    which = "These results come" if modes == {True} else "Some of these results come"
    return (f"**Short mode:** {which} from a `--short` run (at most 1 warm-up and 10 samples per measurement): "
            "a smoke check's times, not a benchmark's.")


_RUN_STATUS_MEANING = {"running": "it is still running, or its process ended without a word, e.g. killed",
                       "interrupted": "stopped by Ctrl-C or SIGTERM"}


def incomplete_runs(doc: dict) -> list[str]:
    """A sentence for each run (each file read together) that did not complete: its cases
    never reached have no record, so a report or cost of it leaves them out unseen."""
    out = []
    for r in runs(doc):
        if r["run_status"] == "complete":
            continue
        n, m = r["cases_recorded"], r["cases_selected"]
        where = f"`{r['path']}`: " if r["path"] else ""
        out.append(f"{where}the run did not complete (run_status {r['run_status']}: "
                   f"{_RUN_STATUS_MEANING.get(r['run_status'], 'unknown')}); "
                   + (f"{n} of its {m} selected cases have a record, {m - n} never ran" if n < m
                      else f"each of its {m} selected cases has a record"))
    return out


def short_commit(doc: dict) -> str:
    if "merged_from" in doc:  # several files: every commit they come from, once each
        return ", ".join(dict.fromkeys(m["commit"] for m in doc["merged_from"]))
    p = doc["provenance"]
    return p["git_commit"][:10] + ("+dirty" if p.get("git_dirty") else "")


def case_backend(c: dict) -> str:
    """The backend a case ran on. Records of sweeps cut short by dsa-bench before
    2026-11-23 lack the field; their points' stages still name the variants ("cuda.*")."""
    if c.get("backend"):
        return c["backend"]
    for pt in c.get("points", []):
        for stage in (pt.get("dsa") or {}).get("stages", {}).values():
            name = stage.get("implementation", "") if isinstance(stage, dict) else ""
            if "." in name:
                return name.split(".", 1)[0]
    return "not recorded"


def device_name(doc: dict) -> str:
    """The device the timings come from: the GPU when any case ran on one, else the CPU."""
    return backend_device(doc, "cuda" if on_gpu(doc) else "cpu")


def backend_device(doc: dict, backend: str) -> str:
    """The device of the run's cases on `backend`: in a GPU run a case the GPU could not
    take ran on the CPU (its record's backend_fallback says why), and its figures are the
    CPU's."""
    devices = doc["provenance"].get("cuda_devices") or []
    if backend == "cuda" and devices:
        return devices[0]["name"]
    return "CPU: " + doc["provenance"].get("cpu_model", "unknown")


def on_gpu(doc: dict) -> bool:
    return any(case_backend(c) == "cuda" for c in doc["cases"])


def describe(doc: dict) -> str:
    return f"suite {doc['suite']['name']} · {device_name(doc)} · commit {short_commit(doc)}"


def _median(t: dict | None) -> float:
    return t["median_s"] if t else math.nan


@dataclass
class SweepPoint:
    context: int
    dense_s: float
    dsa_s: float
    stages: dict
    speedup: float
    dense_samples: list
    dsa_samples: list
    accuracy: dict
    memory: dict
    dense_work: dict
    dsa_work: dict
    dense_implementation: str = "?"
    dense_throughput: dict | None = None  # gflops and gbps of the counted work


@dataclass
class Sweep:
    name: str
    phase: str
    params: dict
    backend: str
    points: list
    crossover: dict | None
    cache_per_token: dict
    status: str
    ceilings: dict = field(default_factory=dict)  # the device ceilings its run measured

    @property
    def real_shapes(self) -> bool:
        p = self.params
        return p["heads"] == 128 and p["index_heads"] == 64 and p["index_head_dim"] == 128 and p["kv_rank"] == 512

    def timed(self):
        return [p for p in self.points if not math.isnan(p.dense_s) and not math.isnan(p.dsa_s)]


def sweeps(doc: dict) -> list[Sweep]:
    out = []
    for c in doc["cases"]:
        if c["op"] != "dsa_vs_dense" or "points" not in c:
            continue
        pts = []
        for p in c["points"]:
            if "dense" not in p:
                continue
            dt, st = p["dense"].get("timing"), p["dsa"].get("timing")
            pts.append(SweepPoint(
                context=p["context"], dense_s=_median(dt), dsa_s=_median(st),
                stages={k: _median(v.get("timing")) for k, v in p["dsa"]["stages"].items()},
                speedup=p.get("speedup", math.nan),
                dense_samples=dt["samples_s"] if dt else [], dsa_samples=st["samples_s"] if st else [],
                accuracy=p.get("accuracy", {}), memory=p.get("memory", {}),
                dense_work=p["dense"]["work"], dsa_work=p["dsa"]["work"],
                dense_implementation=p["dense"].get("implementation", "?"),
                dense_throughput=p["dense"].get("throughput")))
        out.append(Sweep(name=c["name"], phase=c["params"]["phase"], params=c["params"], backend=case_backend(c),
                         points=pts, crossover=c.get("crossover"),
                         cache_per_token=c.get("cache_bytes_per_token_per_layer", {}), status=c["status"],
                         # A GPU's ceilings judge GPU times only: not those of a sweep a GPU run
                         # ran on the CPU (backend_fallback).
                         ceilings=ceilings_of(doc, c) if case_backend(c) == "cuda" else {}))
    return out


@dataclass
class ModelPoint:
    context: int
    dense: dict
    dsa: dict
    speedup: float
    accuracy: dict

    def peak(self, mode: str):
        """(bytes, "device" or "host") at the peak of one attention mode's own runs: the
        device's where it ran on a GPU, else the host's; None for records without it."""
        m = getattr(self, mode).get("memory")
        if not m:
            return None
        return (m["device_peak_bytes"], "device") if m.get("device_peak_bytes") else (m["peak_rss_bytes"], "host")


@dataclass
class ModelRun:
    name: str
    op: str
    params: dict
    model: dict
    points: list = field(default_factory=list)
    backend: str = "?"

    def source(self, unknown: str = "?") -> str:
        """Where the model came from: a preset's name, a checkpoint's folder, or the
        config.json path synthetic weights were made for."""
        return str(self.model.get("preset") or self.model.get("checkpoint") or self.model.get("config") or unknown)

    def layers_run(self) -> int:
        """How many layers ran: the layer range's, or the model's."""
        lr = self.model.get("layer_range")
        return lr[1] - lr[0] if lr else int(self.model.get("layers", 0))

    def whole(self) -> bool:
        """The whole model, embeddings and LM head included (a layer range runs on hidden
        states without them; records before with_head: a range covering every layer)."""
        return bool(self.model.get("with_head", self.layers_run() == self.model.get("layers")))


def model_runs(doc: dict) -> list[ModelRun]:
    out = []
    for c in doc["cases"]:
        if c["op"] not in ("model_prefill", "model_decode") or "points" not in c:
            continue
        run = ModelRun(c["name"], c["op"], c["params"], c.get("model", {}), backend=c.get("backend", "?"))
        for p in c["points"]:
            if "dense" in p:
                run.points.append(ModelPoint(p["context"], p["dense"], p["dsa"], p.get("speedup", math.nan), p.get("accuracy", {})))
        out.append(run)
    return out


def op_cases(doc: dict) -> list[dict]:
    return [c for c in doc["cases"] if c["op"] not in ("dsa_vs_dense", "model_prefill", "model_decode")]
