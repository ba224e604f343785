"""What a GPU session found (scripts/gpu-check.sh --session), as Markdown for
docs/gpu-validation.md: the device, the gpu tests with each first-run kernel's verdict,
the phase tables, the micro-benchmark table, every kernel case against the issues' targets and against the fastest
validated kernel of its shape (a new kernel that passed and beat it is named for
promotion), the dsa-small decode points, one real-dimension layer's non-attention time
per token, the decode sweep's points with where their host time went, and the verdicts
on the published claims from the session's sweeps and model runs.

Reads the session folder (SESSION_ROOT, /tmp/gpu-session on the GPU machine) or the
session.tgz the device tool returned. Standard library only: it runs on the GPU machine
as well, where the verdicts (which need the report tool's packages) are left out and
say how to get them here.
  /usr/bin/python3 scripts/session_report.py session.tgz > report.md
Exit status 0; 2 when the input is not a session (no step-N-* folder in it).
"""
from __future__ import annotations

import json
import os
import re
import sys
import tarfile
import tempfile

# The issues' targets for the kernel cases, by (case group, shape): what the figure is
# and the bound. "memory" is the share of the measured copy ceiling (bytes read plus
# written); the top-k target "within 2x of one read of the scores" is a share of 0.5.
TARGETS = {
    ("topk", "prefill.64k"): ("memory", 0.5, "within 2x of one read of the scores (issue 3)"),
    ("dense_mqa", "decode_bf16.64k"): ("memory", 0.7, ">= 70% of the copy bandwidth (issue 4)"),
    ("sparse_mla", "prefill.64k"): ("tflops", 300.0, ">= 300 TFLOP/s (issue 4)"),
    ("sparse_mla", "decode_fp8.64k"): ("tflops", 200.0, ">= 200 TFLOP/s at batch 64 (issue 4)"),
    ("dense_mha", "prefill.64k"): ("tflops", 350.0, ">= 350 TFLOP/s (issue 4)"),
    ("indexer", "prefill.64k"): ("tflops", 400.0, ">= 400 TFLOP/s (issue 3)"),
}
PASSING = ("passed", "not_verified")  # a timing-only case is not_verified by design


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def steps(root):
    """{form: [step folders]} in step order."""
    out = {}
    names = sorted((n for n in os.listdir(root) if re.fullmatch(r"step-\d+-[a-z-]+", n)),
                   key=lambda n: int(n.split("-")[1]))
    for n in names:
        out.setdefault(n.split("-", 2)[2], []).append(os.path.join(root, n))
    return out


def device_line(folders):
    for folder in folders:
        try:
            with open(os.path.join(folder, "nvidia-smi.txt")) as f:
                lines = [l.strip() for l in f if l.strip()]
        except OSError:
            continue
        if len(lines) >= 2 and "," in lines[1]:
            return lines[1]
    return "unknown (no nvidia-smi.txt)"


def gpu_tests(folder, out):
    """A step's gpu tests as Markdown into out; returns the kernels the step took as hung
    (its log says so; the session's first-run steps share one hung-kernels.txt, so each
    names only its own)."""
    log = read_lines(os.path.join(folder, "gpu-tests.log"))
    hung = [m.group(1) for m in (re.match(r"(\S+): taken as hung", line) for line in log) if m]
    doc = load_json(os.path.join(folder, "gpu-tests.json"))
    if doc is None:
        out.append("No merged gpu-tests.json: the step did not finish (see gpu-tests.log).")
        return hung
    counts = [0, 0, 0]  # passed, failed, skipped: counted here from the suites, as gpu-check's merge does
    verdicts = {}  # first-run kernel -> [passed, failed, skipped]
    failures = []
    for s in doc.get("testsuites", []):
        kernel = s.get("first_run_variant", "")
        for t in s.get("testsuite", []):
            kind = 1 if t.get("failures") else (2 if t.get("result") == "SKIPPED" else 0)
            counts[kind] += 1
            if kernel:
                verdicts.setdefault(kernel, [0, 0, 0])[kind] += 1
            if kind == 1:
                msg = (t["failures"][0].get("failure", "") if t["failures"] else "").splitlines()
                failures.append(f"{s['name']}.{t['name']}{f' [{kernel}]' if kernel else ''}: {msg[0] if msg else ''}")
    out.append(f"gpu tests: {counts[0]} passed, {counts[1]} failed, {counts[2]} skipped.")
    hung_in = hung_tests(log)
    if verdicts or hung:
        out.append("")
        out.append("| kernel not yet validated | first-run tests | verdict |")
        out.append("|---|---|---|")
        for k in sorted(set(verdicts) | set(hung)):
            p, f, s = verdicts.get(k, [0, 0, 0])
            where = f" in {hung_in[k]}" if k in hung_in else ""
            verdict = (f"HUNG{where} (its first-run process was stopped at its limit)" if k in hung else
                       "FAILED" if f else "passed: drop its not_validated note" if p else "no test ran it")
            out.append(f"| `{k}` | {p} passed, {f} failed, {s} skipped | {verdict} |")
    for line in failures:
        out.append(f"- FAILED {line}")
    return hung


def hung_tests(log):
    """{kernel: the test its first-run process was running when its limit stopped it},
    from the gpu tests' log lines (each process's gtest output, then gpu-check's line for
    a process that did not finish)."""
    out, running = {}, None
    for line in log:
        if line.startswith("[ RUN"):
            running = line.split("]", 1)[1].strip()
        elif line.startswith("[       OK") or line.startswith("[  FAILED") or line.startswith("[  SKIPPED"):
            running = None
        else:
            m = re.match(r"FAILED or stopped \(exit 124\): \S+ \(([^)]+)\)", line)
            if m and running:
                out[m.group(1)] = running
            if m:
                running = None
    return out


def read_lines(path):
    try:
        with open(path) as f:
            return [l.strip() for l in f if l.strip()]
    except OSError:
        return []


def case_key(name):
    """kernel.<group>.<kernel>.<shape...> -> (group, kernel, shape), else None."""
    parts = name.split(".")
    if len(parts) < 4 or parts[0] != "kernel":
        return None
    return parts[1], parts[2], ".".join(parts[3:])


def figure(case, what):
    th = case.get("throughput") or {}
    if what == "tflops":
        return th.get("gflops", 0.0) / 1e3
    return (case.get("share_of_ceiling") or {}).get("memory", 0.0)


def kernel_cases(docs, unvalidated, out):
    rows = {}
    for doc in docs:
        for c in doc.get("cases", []):
            key = case_key(c["name"])
            if key:  # the *_check cases validate at the full shape and time nothing
                rows.setdefault((key[0], key[2]), []).append(c)
    if not rows:
        out.append("No kernel cases ran.")
        return
    out.append("| group | shape | kernel | status | median | TFLOP/s | GB/s | % copy | target |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    notes = []
    for (group, shape), cases in sorted(rows.items()):
        target = TARGETS.get((group, shape))
        for c in sorted(cases, key=lambda c: (c.get("timing") or {}).get("median_s", float("inf"))):
            t, th = c.get("timing") or {}, c.get("throughput") or {}
            med = f"{t['median_s'] * 1e6:.1f} us" if t.get("median_s") else "-"
            share = (c.get("share_of_ceiling") or {}).get("memory")
            met = ""
            if target and t:
                what, bound, _ = target
                met = ("met" if figure(c, what) >= bound else "not met")
            impl = c.get("implementation", "?")
            mark = " (new)" if impl in unvalidated else ""
            pct = f"{100 * share:.0f}%" if share is not None else "-"
            out.append(f"| {group} | {shape} | `{impl}`{mark} | {c['status']} | {med} | {th.get('gflops', 0) / 1e3:.0f} | "
                       f"{th.get('gbps', 0):.0f} | {pct} | {met} |")
        timed = [c for c in cases if c["status"] in PASSING and (c.get("timing") or {}).get("median_s")]
        base = [c for c in timed if c.get("implementation") not in unvalidated]
        new = [c for c in timed if c.get("implementation") in unvalidated]
        if base and new:
            b = min(base, key=lambda c: c["timing"]["median_s"])
            for c in sorted(new, key=lambda c: c["timing"]["median_s"]):
                ratio = b["timing"]["median_s"] / c["timing"]["median_s"]
                verb = ("promote it (first in its list in kernels/cuda/variants.cpp) once its gpu tests pass"
                        if ratio > 1.0 else "keep the default")
                notes.append(f"- {group} {shape}: `{c['implementation']}` is {ratio:.2f}x the fastest validated "
                             f"kernel (`{b['implementation']}`): {verb}.")
        if target:
            notes.append(f"- {group} {shape}: target {target[2]}.")
    out.append("")
    out.extend(notes)


def median_s(point, side):
    """The median time of one side ("dense", "dsa") of a sweep or model point, 0 if none."""
    return ((point.get(side) or {}).get("timing") or {}).get("median_s", 0.0)


def table_head(out, columns):
    """A blank line, then a Markdown table's header row and rule."""
    out += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def model_points(doc, out):
    for c in doc.get("cases", []):
        out.append(f"`{c['name']}`: {c['status']}{(' - ' + c['reason']) if c.get('reason') else ''}")
        pts = c.get("points", [])
        if not pts:
            continue
        table_head(out, ["context", "batch", "dense ms/step", "DSA ms/step", "speed-up", "KL mean", "top-1 agreement",
                         "device peak GB (dense, DSA)", "status"])
        for p in pts:
            dn, ds = median_s(p, "dense"), median_s(p, "dsa")
            a = p.get("accuracy") or {}
            peaks = [((p.get(m) or {}).get("memory") or {}).get("device_peak_bytes") for m in ("dense", "dsa")]
            out.append(f"| {p.get('context')} | {p.get('batch', '-')} | {dn * 1e3:.3f} | {ds * 1e3:.3f} | "
                       f"{p.get('speedup', 0):.2f}x | {a.get('kl_mean', float('nan')):.3g} | "
                       f"{a.get('top1_agreement', float('nan')):.3f} | "
                       f"{', '.join(f'{x / 1e9:.1f}' for x in peaks) if all(peaks) else '-'} | {p.get('status', '?')} |")
        out.append("")


def sweep_points(doc, out):
    for c in doc.get("cases", []):
        if c.get("op") != "dsa_vs_dense":
            continue
        made = f"; inputs made in {c['sources_wall_s']:.0f} s" if "sources_wall_s" in c else ""
        out.append(f"`{c['name']}`: {c['status']}{made}")
        table_head(out, ["context", "dense ms", "DSA ms", "speed-up", "rel L2", "status", "host wall time (s)"])
        for p in c.get("points", []):
            dn, ds = median_s(p, "dense"), median_s(p, "dsa")
            wall = p.get("wall_s") or {}
            spent = ", ".join(f"{k} {v:.0f}" for k, v in sorted(wall.items(), key=lambda kv: -kv[1]) if v >= 0.5)
            out.append(f"| {p['context']} | {dn * 1e3:.3f} | {ds * 1e3:.3f} | {p.get('speedup', 0):.2f}x | "
                       f"{(p.get('accuracy') or {}).get('rel_l2', float('nan')):.3g} | {p.get('status', '?')} | "
                       f"{(f'{sum(wall.values()):.0f}' + (': ' + spent if spent else '')) if wall else '-'} |")
        out.append("")


def real_layer_points(doc, out):
    """A layer range of the real dimensions: its speed-up and the non-attention time per
    token per layer (the dense path's matrix products and other work) that dsa-report
    cost takes for every layer, read at the shortest context."""
    for c in doc.get("cases", []):
        model = c.get("model") or {}
        out.append(f"`{c['name']}` (layers {model.get('layer_range', '?')} of {model.get('layers', '?')}, hidden "
                   f"{model.get('hidden', '?')}): {c['status']}{(' - ' + c['reason']) if c.get('reason') else ''}")
        pts = c.get("points", [])
        if not pts:
            continue
        per_layer = max(1, (lambda r: r[1] - r[0])(model.get("layer_range") or [0, 1]))
        table_head(out, ["context", "dense ms", "DSA ms", "speed-up", "dense matmul + other, us per token per layer",
                         "x 61 layers", "rel L2", "status"])
        for p in pts:
            dn, ds = median_s(p, "dense"), median_s(p, "dsa")
            sec = ((p.get("dense") or {}).get("op_times") or {}).get("seconds") or {}
            us = (sec.get("matmul", 0.0) + sec.get("other", 0.0)) / p["context"] / per_layer * 1e6
            out.append(f"| {p['context']} | {dn * 1e3:.1f} | {ds * 1e3:.1f} | {p.get('speedup', 0):.2f}x | {us:.2f} | "
                       f"{us * 61:.0f} | {(p.get('accuracy') or {}).get('rel_l2_mean', float('nan')):.3g} | "
                       f"{p.get('status', '?')} |")
        out.append("")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "reports"))  # the report tool's package, where importable
# The H100 prefill sweep on record (fifth session): the prefill claims read it when the
# session ran on the same device and measured no prefill sweep of its own.
RECORDED_PREFILL = os.path.join(ROOT, "docs", "evidence", "2026-11-23-h100",
                                "nightly-sweep-prefill-prefer-candidates.json")


def clock_lines(docs, out):
    """The SM clock over the kernel cases' timed samples, and any series that throttled."""
    try:
        from dsa_report import clocks  # the standard library only, as this script
    except Exception:  # nothing here stops the rest of the report
        return
    lines = [line for d in docs for line in clocks.summary_lines(d)]
    if lines:
        out += [""] + lines[:-1]


def claims_section(docs, out):
    """The verdicts from these results read together, through the report tool."""
    try:
        from dsa_report import claims, load
    except Exception as e:  # the GPU machine: the standard library only (or packages too old)
        out.append(f"Not evaluated here ({e}): `/usr/bin/python3 scripts/session_report.py session.tgz` on the "
                   "build machine gives them.")
        return
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, d in enumerate(docs):
            paths.append(os.path.join(tmp, f"results-{i}.json"))
            with open(paths[-1], "w") as f:
                json.dump(d, f)
        try:
            doc = load.load_many(paths)
            if not any(s.phase == "prefill" for s in load.sweeps(doc)) and os.path.exists(RECORDED_PREFILL) \
                    and load.device_name(load.load_results(RECORDED_PREFILL)) == load.device_name(doc):
                doc = load.load_many(paths + [RECORDED_PREFILL])
                out.append(f"With the recorded prefill sweep `{os.path.relpath(RECORDED_PREFILL, ROOT)}` (same device).")
                out.append("")
            verdicts = claims.evaluate(doc)
        except Exception as e:  # bad results, or a package that misbehaves: the rest of the report stands
            out.append(f"Not evaluated: {type(e).__name__}: {e}")
            return
    out.append(claims.markdown(verdicts).split("\n", 2)[2].rstrip())  # the table on, without its own title


def report(root):
    st = steps(root)
    if not st:
        return None
    # In step order (st groups them by form).
    all_folders = sorted((f for fs in st.values() for f in fs), key=lambda f: int(os.path.basename(f).split("-")[1]))
    out = ["# GPU session", "", f"Device: {device_line(all_folders)}. Steps found: "
           + ", ".join(os.path.basename(f) for f in all_folders) + "."]
    hung = read_lines(os.path.join(root, "hung-kernels.txt"))
    unvalidated = set(hung)
    for folder in st.get("quick", []):
        doc = load_json(os.path.join(folder, "gpu-tests.json")) or {}
        unvalidated |= {s["first_run_variant"] for s in doc.get("testsuites", []) if s.get("first_run_variant")}
    out += ["", "## Correctness", ""]
    # The validated suites and the first runs may be steps of their own (FIRST_RUN=skip /
    # only, with other steps between): each step's tests, then the corner suite once.
    counts, logged = {}, set()
    for folder in st.get("quick", []):
        if len(st["quick"]) > 1:
            out.append(f"Step {os.path.basename(folder)}:")
        logged |= set(gpu_tests(folder, out))
        corner = load_json(os.path.join(folder, "corner.json"))
        counts.update({k: v for k, v in ((corner or {}).get("summary") or {}).get("counts", {}).items() if v})
        out.append("")
    # Kernels the session skips as hung that no step of this machine took as hung: named
    # by hand (SESSION_HUNG) from an earlier machine's call.
    earlier = [k for k in hung if k not in logged]
    if earlier:
        out.append("Taken as hung by an earlier call (SESSION_HUNG; not run again): "
                   + ", ".join(f"`{k}`" for k in earlier) + ".")
        out.append("")
    if st.get("quick"):
        out.append("Corner suite on the GPU: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + "."
                                                if counts else "no results (it did not run or finish)."))
    else:
        out.append("The gpu tests did not run in this session.")
    out += ["", "## Where the time goes (phase clocks)", ""]
    tables = [os.path.join(f, "phases.txt") for f in st.get("phases", [])]
    text = "".join(open(t).read() for t in tables if os.path.exists(t))
    out += (["```", text.rstrip(), "```"] if text.strip() else ["No phase table (the step did not run or finish)."])
    out += ["", "## Micro-benchmarks", ""]
    tables = [os.path.join(f, "micro.txt") for f in st.get("micro", [])]
    text = "".join(open(t).read() for t in tables if os.path.exists(t))
    out += [text.rstrip()] if text.strip() else ["No micro-benchmark table (the step did not run or finish)."]
    def found(form, name):  # the results file `name` of every step of this form
        return [d for f in st.get(form, []) for d in [load_json(os.path.join(f, name))] if d]

    def section(title, docs, render):
        out.extend(["", f"## {title}", ""])
        for d in docs:
            render(d, out)
        if not docs:
            out.append("Did not run or finish.")

    out += ["", "## Kernels against the targets", ""]
    docs = found("suite", "candidates.json")
    kernel_cases(docs, unvalidated, out)
    clock_lines(docs, out)
    section("dsa-small decode on the GPU", found("model-small", "model-small.json"), model_points)
    section("One layer of the real dimensions (non-attention cost per token)", found("suite", "model.json"),
            real_layer_points)
    section("Decode sweeps", [d for d in docs if any(c.get("op") == "dsa_vs_dense" for c in d.get("cases", []))]
            + found("nightly", "nightly.json"), sweep_points)
    evidence = docs + found("model-small", "model-small.json") + found("suite", "model.json") + found("nightly", "nightly.json")
    out += ["", "## Published claims (this session's results)", ""]
    if evidence:
        claims_section(evidence, out)
    else:
        out.append("No sweep or model results in this session.")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    src = argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        root = src
        if os.path.isfile(src):
            try:
                with tarfile.open(src) as tf:
                    try:
                        tf.extractall(tmp, filter="data")  # no links or paths out of tmp
                    except TypeError:  # a Python without extraction filters
                        tf.extractall(tmp)
            except (OSError, tarfile.TarError) as e:
                print(f"session_report: cannot read {src}: {e}", file=sys.stderr)
                return 2
            inner = [os.path.join(tmp, n) for n in os.listdir(tmp) if os.path.isdir(os.path.join(tmp, n))]
            root = inner[0] if len(inner) == 1 else tmp
        if not os.path.isdir(root):
            print(f"session_report: {src} is neither a session folder nor a session.tgz", file=sys.stderr)
            return 2
        text = report(root)
        if text is None:
            print(f"session_report: {src} holds no step-N-* folder of scripts/gpu-check.sh --session", file=sys.stderr)
            return 2
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
