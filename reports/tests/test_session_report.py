"""scripts/session_report.py: the Markdown summary of a GPU session's packed results,
on a session folder made of real results files (the fifth session's, in
docs/evidence/2026-11-23-h100) laid out as scripts/gpu-check.sh --session lays them."""
import copy
import importlib.util
import io
import json
import os
import tarfile
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVIDENCE = os.path.join(ROOT, "docs", "evidence", "2026-11-23-h100")
spec = importlib.util.spec_from_file_location("session_report", os.path.join(ROOT, "scripts", "session_report.py"))
session_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(session_report)


def evidence(name):
    with open(os.path.join(EVIDENCE, name)) as f:
        return json.load(f)


def put(root, rel, doc):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        if isinstance(doc, str):
            f.write(doc)
        else:
            json.dump(doc, f)


def make_session(root, new_kernel_speed=2.0):
    """A session whose step 5 ran the validated dense decode case and a new kernel
    `new_kernel_speed` times as fast, whose first-run tests passed; a second new kernel
    hung."""
    tests = evidence("gpu-tests.json")
    tests["testsuites"].append({"name": "Shapes/CudaFirstRunDenseMqa", "first_run_variant": "cuda.dense_mqa.seesaw",
                                "testsuite": [{"name": "MatchesReference/decode", "result": "COMPLETED"}]})
    tests["testsuites"].append({"name": "Shapes/CudaFirstRunTopk", "first_run_variant": "cuda.topk.sample_atomics",
                                "testsuite": [{"name": "IdenticalToReferenceAndAcrossRuns/ties", "result": "COMPLETED",
                                               "failures": [{"failure": "indices differ at row 3\nmore"}]}]})
    put(root, "step-1-quick/gpu-tests.json", tests)
    put(root, "step-1-quick/corner.json", evidence("corner.json"))
    put(root, "step-1-quick/nvidia-smi.txt", "name, driver_version\nNVIDIA H100 80GB HBM3, 580.159.04, 81559 MiB\n")
    # seesaw_tma hung in this machine's step 1 (its log says so); filter on an earlier
    # machine (SESSION_HUNG).
    put(root, "hung-kernels.txt", "cuda.dense_mqa.seesaw_tma\ncuda.topk.filter\n")
    put(root, "step-1-quick/gpu-tests.log",
        "[ RUN      ] Shapes/CudaFirstRunDenseMqa.MatchesReference/decode\n"
        "[       OK ] Shapes/CudaFirstRunDenseMqa.MatchesReference/decode (12 ms)\n"
        "[ RUN      ] Shapes/CudaFirstRunDenseMqa.MatchesReference/odd_steps\n"
        "FAILED or stopped (exit 124): Shapes/CudaFirstRunDenseMqa (cuda.dense_mqa.seesaw_tma)\n"
        "cuda.dense_mqa.seesaw_tma: taken as hung; later steps skip it\n")
    small = evidence("model-small-decode-b1.json")
    last = small["cases"][0]["points"][-1]  # each mode's own peak, as model cases now record it
    last["dense"]["memory"] = {"peak_rss_bytes": 1, "device_peak_bytes": 30.2e9}
    last["dsa"]["memory"] = {"peak_rss_bytes": 1, "device_peak_bytes": 31.5e9}
    put(root, "step-2-model-small/model-small.json", small)
    put(root, "step-3-phases/phases.txt", "BM_CudaTopkSamplePhasesPrefill512/65536: 205.00 us per launch (profiled)\n"
                                          "  collect    30.000 us   56.6%\n")
    cands = evidence("candidates-kernels.json")
    default = next(c for c in cands["cases"] if c["name"] == "kernel.dense_mqa.wgmma.decode_bf16.64k")
    new = copy.deepcopy(default)
    new["name"] = "kernel.dense_mqa.seesaw.decode_bf16.64k"
    new["implementation"] = "cuda.dense_mqa.seesaw"
    new["timing"]["median_s"] = default["timing"]["median_s"] / new_kernel_speed
    new["share_of_ceiling"]["memory"] = default["share_of_ceiling"]["memory"] * new_kernel_speed
    new["throughput"]["gbps"] = default["throughput"]["gbps"] * new_kernel_speed
    put(root, "step-5-suite/candidates.json", dict(cands, cases=[default, new]))
    sweeps = evidence("nightly-sweep-decode.json")
    b64 = next(c for c in sweeps["cases"] if c["name"] == "sweep.decode.b64.fp8")
    b64["sources_wall_s"] = 40.2
    b64["points"][0]["wall_s"] = {"inputs": 12.0, "validation": 30.0, "timing": 2.0, "memory": 0.01}
    put(root, "step-8-suite/candidates.json", sweeps)
    layer = evidence("model-small-prefill-128k.json")
    case = next(c for c in layer["cases"] if c["op"] == "model_prefill")
    case["name"] = "model.v32.layer3.prefill"
    case["model"].update({"preset": "deepseek-v3.2-exp", "layers": 61, "hidden": 7168, "layer_range": [3, 4],
                          "with_head": False})
    point = case["points"][0]
    point["dense"]["op_times"]["seconds"].update({"matmul": 0.3, "other": 0.1})
    point["accuracy"] = {"rel_l2_mean": 0.05, "rel_l2_max": 0.1, "cos_diff_mean": 0.001, "max_abs_diff": 0.5,
                         "buckets": []}
    put(root, "step-10-suite/model.json", dict(layer, cases=[case]))


def run(src):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = session_report.main(["session_report.py", src])
    return rc, out.getvalue(), err.getvalue()


class SessionReportTest(unittest.TestCase):
    def test_a_session_folder(self):
        with tempfile.TemporaryDirectory() as tmp:
            make_session(tmp)
            rc, text, _ = run(tmp)
        self.assertEqual(rc, 0)
        self.assertIn("Device: NVIDIA H100 80GB HBM3, 580.159.04", text)
        self.assertIn("gpu tests: 67 passed, 1 failed", text)
        # every first-run kernel has a verdict: passed, failed (with the message), hung
        self.assertRegex(text, r"\| `cuda.dense_mqa.seesaw` \| 1 passed, 0 failed, 0 skipped \| passed: drop")
        self.assertRegex(text, r"\| `cuda.topk.sample_atomics` \| 0 passed, 1 failed, 0 skipped \| FAILED")
        self.assertIn("FAILED Shapes/CudaFirstRunTopk.IdenticalToReferenceAndAcrossRuns/ties [cuda.topk.sample_atomics]: "
                      "indices differ at row 3", text)
        self.assertRegex(text, r"\| `cuda.dense_mqa.seesaw_tma` \| .* \| HUNG in "
                               r"Shapes/CudaFirstRunDenseMqa.MatchesReference/odd_steps \(")
        self.assertIn("Taken as hung by an earlier call (SESSION_HUNG; not run again): `cuda.topk.filter`.", text)
        self.assertNotRegex(text, r"\| `cuda.topk.filter` \|")
        self.assertIn("Corner suite on the GPU: 19 passed.", text)
        self.assertIn("collect    30.000 us", text)
        # the validated kernel at 894 GB/s (30% of the copy ceiling) misses the 70% target;
        # the new one at twice its speed (60%) still does, and is named for promotion
        self.assertRegex(text, r"\| dense_mqa \| decode_bf16.64k \| `cuda.dense_mqa.wgmma` \| passed \| 84.7 us \| "
                               r"215 \| 894 \| 30% \| not met \|")
        self.assertRegex(text, r"`cuda.dense_mqa.seesaw` \(new\) \| passed \| 42.4 us .* \| 60% \| not met \|")
        self.assertIn("`cuda.dense_mqa.seesaw` is 2.00x the fastest validated kernel (`cuda.dense_mqa.wgmma`): promote", text)
        self.assertIn("target >= 70% of the copy bandwidth (issue 4)", text)
        # the clock the kernel cases ran at (the recorded H100's 1,980 MHz)
        self.assertRegex(text, r"SM clock after the timed samples: [0-9,]+ to 1,980 MHz over 2 series\. None fell")
        # model and sweep points
        self.assertRegex(text, r"\| 131072 \| 1 \| 2\.173 \| 2\.524 \| 0\.86x \| [^|]+ \| [^|]+ \| 30\.2, 31\.5 \| passed \|")
        self.assertRegex(text, r"\| 65536 \| 1 \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| - \| passed \|")
        self.assertIn("`sweep.decode.b64.fp8`: interrupted; inputs made in 40 s", text)
        self.assertRegex(text, r"\| 4096 \| 0\.353 \| 0\.275 \| 1\.28x \| [0-9.]+ \| passed \| 44: validation 30, inputs 12, timing 2 \|")
        self.assertIn("`sweep.decode.b1`: passed\n", text)  # no host times recorded: none claimed
        self.assertRegex(text, r"\| 98304 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+x \|")
        # one real layer: (0.3 + 0.1) s over 131072 tokens = 3.05 us per token, 186 for 61 layers
        self.assertIn("`model.v32.layer3.prefill` (layers [3, 4] of 61, hidden 7168): passed", text)
        self.assertRegex(text, r"\| 131072 \| 11010\.3 \| [0-9.]+ \| 3\.99x \| 3\.05 \| 186 \| 0\.05 \| passed \|")
        # the verdicts from these results: the decode sweep, the real layer (non-attention
        # time and the speed claim) and, the device being the same, the recorded prefill sweep
        claims_part = text[text.index("## Published claims (this session's results)"):]
        self.assertIn("With the recorded prefill sweep `docs/evidence/2026-11-23-h100/", claims_part)
        self.assertRegex(claims_part, r"\| S-speed \| [^|]+ \| \*\*PASS\*\* \| whole-model speed-up 3\.99x at 131,072 "
                                      r"on deepseek-v3\.2-exp")
        self.assertRegex(claims_part, r"\| P-decode \| [^|]+ \| \*\*INCONCLUSIVE\*\* \| the largest measured decode "
                                      r"position is 98,304")
        self.assertIn("Non-attention cost per token: 186.2 us.", claims_part)  # 0.4 s / 131072 x 61

    def test_without_the_report_tools_packages_the_verdicts_say_where_to_get_them(self):
        # The GPU machine's python has the standard library only.
        with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(sys.modules, {"dsa_report": None}):
            make_session(tmp)
            rc, text, _ = run(tmp)
        self.assertEqual(rc, 0)
        self.assertIn("Not evaluated here (", text)
        self.assertIn("scripts/session_report.py session.tgz` on the build machine gives them", text)

    def test_a_slower_new_kernel_is_not_promoted(self):
        with tempfile.TemporaryDirectory() as tmp:
            make_session(tmp, new_kernel_speed=0.8)
            _, text, _ = run(tmp)
        self.assertIn("`cuda.dense_mqa.seesaw` is 0.80x the fastest validated kernel (`cuda.dense_mqa.wgmma`): keep the default",
                      text)

    def test_the_packed_session_the_device_tool_returns(self):
        with tempfile.TemporaryDirectory() as tmp:
            make_session(os.path.join(tmp, "gpu-session"))
            tgz = os.path.join(tmp, "session.tgz")
            with tarfile.open(tgz, "w:gz") as tf:
                tf.add(os.path.join(tmp, "gpu-session"), arcname="gpu-session")
            rc, text, _ = run(tgz)
        self.assertEqual(rc, 0)
        self.assertIn("gpu tests: 67 passed, 1 failed", text)

    def test_not_a_session(self):
        with tempfile.TemporaryDirectory() as tmp:
            rc, text, err = run(tmp)
            self.assertEqual((rc, text), (2, ""))
            self.assertIn("no step-N-* folder", err)
            bad = os.path.join(tmp, "x.tgz")
            with open(bad, "w") as f:
                f.write("not a tar file")
            rc, _, err = run(bad)
            self.assertEqual(rc, 2)
            self.assertIn("cannot read", err)

    def test_steps_cut_short_say_so(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "step-1-quick"))
            rc, text, _ = run(tmp)
        self.assertEqual(rc, 0)
        self.assertIn("No merged gpu-tests.json", text)
        self.assertIn("No phase table", text)
        self.assertIn("No kernel cases ran.", text)
        self.assertIn("## One layer of the real dimensions (non-attention cost per token)\n\nDid not run or finish.", text)


if __name__ == "__main__":
    unittest.main()
