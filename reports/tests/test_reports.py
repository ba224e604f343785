"""Tests of dsa-report: render on the smoke suite's real results and on GPU-shaped
fixtures, the regression gate, the cost model against a hand computation, the claims'
verdicts, and the rejection of malformed files. Run by ctest (test "reports"), which sets
DSA_TEST_OUTPUT to the folder holding the real results it just produced."""
import contextlib
import io
import json
import math
import os
import statistics
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fixtures as fx  # noqa: E402
from dsa_report import claims, compare, cost, load, render, rounds  # noqa: E402
from dsa_report.cli import main  # noqa: E402

PLOTS = ["time_vs_context", "speedup", "stages", "memory", "accuracy", "cost_per_token"]


def set_at(doc, where, value):
    """doc's element at the key path `where` set to value."""
    for k in where[:-1]:
        doc = doc[k]
    doc[where[-1]] = value


def real_results(name):
    d = os.environ.get("DSA_TEST_OUTPUT")
    if not d:
        raise RuntimeError("DSA_TEST_OUTPUT is not set: run these tests through ctest")
    return os.path.join(d, name)


def read(path):
    with open(path) as f:
        return f.read()


def run_cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def gpu_prefill_doc(points, name="prefill.real"):
    return fx.document([fx.sweep(name, "prefill", points, query_chunk=64)])


class Render(unittest.TestCase):
    def check_dir(self, d, plots):
        for f in ["report.md", "report.html"] + [f"{p}.{e}" for p in plots for e in ("png", "svg")]:
            path = os.path.join(d, f)
            self.assertTrue(os.path.exists(path), f)
            self.assertGreater(os.path.getsize(path), 1000, f)
        html = read(os.path.join(d, "report.html"))
        self.assertEqual(html.count("data:image/png;base64,"), len(plots))
        self.assertNotIn('src="http', html)  # self-contained

    def test_smoke_results(self):
        with tempfile.TemporaryDirectory() as d:
            code, out, _ = run_cli("render", real_results("smoke-results.json"), "-o", d)
            self.assertEqual(code, 0)
            self.check_dir(d, PLOTS)
            md = read(os.path.join(d, "report.md"))
            self.assertIn("## DSA against dense", md)
            self.assertIn("Crossover", md)
            self.assertIn("ceilings: not drawn (no GPU case", md)  # said, not silently missing
            self.assertIn("CPU:", md)

    def test_unvalidated_variants_are_named(self):
        first = fx.op_case("topk.first_run", 1e-3)
        first["not_validated"] = {"cuda.topk.sample256": "not yet run on a GPU"}
        with tempfile.TemporaryDirectory() as d:
            code, _, _ = run_cli("render", fx.write(fx.document([fx.op_case("topk.ok", 1e-3), first]), d), "-o", d)
            self.assertEqual(code, 0)
            md = read(os.path.join(d, "report.md"))
            self.assertIn("not yet validated on their hardware", md)
            self.assertIn("- topk.first_run: `cuda.topk.sample256` (not yet run on a GPU)", md)
            self.assertNotIn("- topk.ok:", md)

    def test_cases_that_fell_back_to_another_backend_are_named(self):
        # Under --backend auto a case the GPU cannot run runs on the CPU: its figures are
        # the CPU's, and the report says which cases and why.
        moved = fx.op_case("model.tiny.fp8_cache", 1e-3, backend="cpu")
        moved["backend_fallback"] = "cuda: the GPU forward reads FP8 rows at 576/512 only"
        with tempfile.TemporaryDirectory() as d:
            code, _, err = run_cli("render", fx.write(fx.document([fx.op_case("topk.ok", 1e-3), moved]), d), "-o", d)
            self.assertEqual(code, 0, err)
            md = read(os.path.join(d, "report.md"))
            self.assertIn("**Fell back to another backend** (the earlier one could not run the case):", md)
            self.assertIn("- model.tiny.fp8_cache: ran on cpu; cuda: the GPU forward reads FP8 rows at 576/512 only", md)
            self.assertNotIn("- topk.ok:", md)
        # The plots' subtitle names the GPU: a sweep that ran on the CPU says so in its label.
        sweep = fx.sweep("sw.cpu", "decode", [(4096, 2e-3, 1e-3), (8192, 4e-3, 1.5e-3)])
        sweep.update(backend="cpu", backend_fallback="cuda: sparse attention (not 576 / 512)")
        with tempfile.TemporaryDirectory() as d:
            code, _, err = run_cli("render", fx.write(fx.document([fx.op_case("topk.ok", 1e-3), sweep]), d), "-o", d)
            self.assertEqual(code, 0, err)
            for plot in ("speedup", "stages", "time_vs_context"):
                self.assertIn("sw.cpu (decode) (on the CPU)" if plot != "time_vs_context" else "sw.cpu (on the CPU)",
                              read(os.path.join(d, plot + ".svg")), plot)
        moved["backend_fallback"] = ""  # the schema wants a reason
        with tempfile.TemporaryDirectory() as d:
            code, _, err = run_cli("render", fx.write(fx.document([moved]), d), "-o", d)
            self.assertEqual(code, 2)
            self.assertIn("backend_fallback", err)

    def test_a_run_that_did_not_complete_says_so(self):
        # Cases a stopped run never reached have no record: the report says how many.
        stopped = fx.document([fx.op_case("a", 1e-3), fx.op_case("b", 1e-3)])
        stopped.update(run_status="interrupted")
        stopped["suite"]["cases_selected"] = 3
        other = fx.document([fx.op_case("c", 1e-3)])
        with tempfile.TemporaryDirectory() as d:
            f_stopped, f_other = fx.write(stopped, d), fx.write(other, d)
            for files, needle in [([f_stopped], "**Incomplete:** the run did not complete (run_status interrupted: "
                                                "stopped by Ctrl-C or SIGTERM); 2 of its 3 selected cases have a record, "
                                                "1 never ran."),
                                  ([f_other, f_stopped], f"**Incomplete:** `{f_stopped}`: the run did not complete"),
                                  ([f_other], None)]:
                code, _, err = run_cli("render", *files, "-o", os.path.join(d, "out"))
                self.assertEqual(code, 0, err)
                md = read(os.path.join(d, "out", "report.md"))
                if needle:
                    self.assertIn(needle, md)
                else:
                    self.assertNotIn("Incomplete", md)

    def test_a_short_run_says_its_times_are_a_smoke_checks(self):
        # --short shows only in the command line, which says nothing to whoever does not
        # know the option: the report and the verdicts say what it means.
        short = fx.document([fx.op_case("a", 1e-3)])
        short["provenance"]["short_mode"] = True
        full = fx.document([fx.op_case("b", 1e-3)])
        with tempfile.TemporaryDirectory() as d:
            f_short, f_full = fx.write(short, d), fx.write(full, d)
            for files, needle in [([f_short], "**Short mode:** These results come from a `--short` run"),
                                  ([f_full, f_short], "**Short mode:** Some of these results come from a `--short` run"),
                                  ([f_full], None)]:
                code, _, err = run_cli("render", *files, "-o", os.path.join(d, "out"))
                self.assertEqual(code, 0, err)
                md = read(os.path.join(d, "out", "report.md"))
                code, verdicts, err = run_cli("claims", *files)
                self.assertEqual(code, 0, err)
                for text in (md, verdicts):
                    if needle:
                        self.assertIn(needle, text)
                    else:
                        self.assertNotIn("Short mode", text)

    def test_later_processes_of_a_run_are_named(self):
        doc = fx.document([fx.op_case("topk.ok", 1e-3), fx.op_case("topk.lost", 1e-3)])
        doc["cases"][1].update(status="error", reason="the process ended on signal 11 (Segmentation fault) during "
                                                      "this case; the run went on in a new process")
        doc["provenance"]["resumed"] = [{"timestamp_utc": "2026-12-06T23:00:00Z", "command_line": "dsa-bench run x --resume",
                                         "reason": "case topk.lost: the process ended on signal 11", "kept_cases": 2,
                                         "duration_s_before": 1.0}]
        with tempfile.TemporaryDirectory() as d:
            code, _, _ = run_cli("render", fx.write(doc, d), "-o", d)
            self.assertEqual(code, 0)
            md = read(os.path.join(d, "report.md"))
            self.assertIn("The run went on in 1 later process: 2026-12-06T23:00:00Z, case topk.lost: the process "
                          "ended on signal 11.", md)
            self.assertIn("- topk.lost: error: the process ended on signal 11", md)
            doc["provenance"].pop("resumed")
            code, _, _ = run_cli("render", fx.write(doc, d), "-o", d)
            self.assertNotIn("later process", read(os.path.join(d, "report.md")))

    def test_model_results(self):
        with tempfile.TemporaryDirectory() as d:
            code, _, _ = run_cli("render", real_results("model-results.json"), "-o", d)
            self.assertEqual(code, 0)
            md = read(os.path.join(d, "report.md"))
            self.assertIn("## Whole model", md)
            self.assertIn("Synthetic weights", md)
            # Timed prefill points show their overhead ratio against the sum of their ops.
            self.assertIn("time / sum of ops (dense, DSA)", md)
            self.assertRegex(md, r"\| \d+\.\d\d, \d+\.\d\d \|")
            # Each attention mode's own peak (on the CPU, the host's resident memory).
            self.assertIn("peak memory (dense, DSA)", md)
            self.assertRegex(md, r"\| \d[\d.]*, \d[\d.]* GB \(host\) \|")

    def test_model_only_results_draw_no_empty_legend(self):
        # The memory and accuracy plots have sweep panels: without a sweep they say so
        # instead of drawing an empty legend (which matplotlib logged a warning about).
        doc = load.load_results(real_results("model-results.json"))
        self.assertFalse(load.sweeps(doc))
        with tempfile.TemporaryDirectory() as d, self.assertNoLogs("matplotlib", level="WARNING"):
            render.render(doc, d)

    def test_model_source_is_named_in_the_report(self):
        # A preset, a user's config.json (synthetic weights of its shape) or a checkpoint.
        ops = {"matmul": 0.1, "attention": 0.5}
        runs = [fx.model_run(f"m{i}", dict(src, layers=2, hidden=128), [(64, ops, ops, 1.0)])
                for i, src in enumerate([{"preset": "dsa-tiny"}, {"config": "configs/mine.json"},
                                         {"checkpoint": "/models/V3.2", "config": "/models/V3.2/config.json"}])]
        with tempfile.TemporaryDirectory() as d:
            code, _, err = run_cli("render", fx.write(fx.document(runs), d), "-o", d)
            self.assertEqual(code, 0, err)
            md = read(os.path.join(d, "report.md"))
        self.assertIn("### m0 (model_prefill, dsa-tiny,", md)
        self.assertIn("### m1 (model_prefill, configs/mine.json,", md)
        self.assertIn("### m2 (model_prefill, /models/V3.2,", md)

    def test_kernel_claims_take_evidence_from_their_own_setting(self):
        doc = fx.document([fx.sparse_case("prefill", 4096, "bf16", 300e3),
                           fx.sparse_case("decode.fp8", 128, "fp8", 200e3)])
        from dsa_report import claims
        v = {x["id"]: x for x in claims.evaluate(doc)["verdicts"]}
        self.assertEqual(v["K-prefill"]["measured"]["case"], "prefill")
        self.assertEqual(v["K-decode"]["measured"]["case"], "decode.fp8")
        self.assertAlmostEqual(v["K-decode"]["measured"]["tflops"], 200.0)
        self.assertEqual(v["K-decode"]["verdict"], "INCONCLUSIVE")

    def test_gpu_fixture_draws_the_ceilings(self):
        c = fx.op_case("topk.gpu", 1e-3)
        c["share_of_ceiling"] = {"compute_ceiling": "fp8_tflops", "compute": 0.4, "memory": 0.3}
        doc = fx.document([fx.sweep("decode.real", "decode", [(4096, 4e-4, 3e-4), (65536, 6e-3, 8e-4)],
                                    dense_rate=(210e3, 500.0)), c])
        doc["device_ceilings"] = {"bf16_tflops": 700.0, "fp8_tflops": 1400.0, "copy_gbps": 3000.0}
        with tempfile.TemporaryDirectory() as d:
            path = fx.write(doc, d)
            code, _, _ = run_cli("render", path, "-o", os.path.join(d, "out"))
            self.assertEqual(code, 0)
            self.check_dir(os.path.join(d, "out"), PLOTS + ["ceilings"])
            # The cost section says how strong the dense baseline is (210 of 700 TFLOP/s).
            self.assertIn("The dense baseline x at 65,536: 210 TFLOP/s and 500 GB/s, 30% of the measured bf16",
                          read(os.path.join(d, "out", "report.md")))


EVIDENCE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs",
                        "evidence")


class Clocks(unittest.TestCase):
    def doc(self, op_clocks, dense_clocks=None):
        c = fx.op_case("k", 1e-3)
        c["sm_clock_mhz"] = op_clocks
        s = fx.sweep("s", "decode", [(4096, 1e-3, 1e-3)])
        if dense_clocks:
            s["points"][0]["dense"]["sm_clock_mhz"] = dense_clocks
        return fx.document([c, s])

    def test_throttled_series_are_named(self):
        doc = self.doc([1980, 1980, -1], dense_clocks=[1980, 1700, 1965])
        from dsa_report import clocks
        self.assertEqual(clocks.series(doc["cases"][1]), {"@4096 dense": [1980, 1700, 1965]})
        self.assertEqual(clocks.series(doc["cases"][0]), {"": [1980, 1980]})  # -1: unreadable, left out
        self.assertEqual([(h["case"], h["series"], h["min_mhz"]) for h in clocks.throttled(doc)],
                         [("s", "@4096 dense", 1700)])
        text = "\n".join(clocks.summary_lines(doc))
        self.assertIn("SM clock after the timed samples: 1,700 to 1,980 MHz over 2 series. 1 fell more than 5%", text)
        self.assertIn("- s @4096 dense: 1,700 to 1,980 MHz", text)
        self.assertEqual(clocks.summary_lines(fx.document([fx.op_case("cpu", 1e-3, backend="cpu")])), [])
        # A model point's attention modes, as GPU model cases record them.
        m = fx.model_run("m", "dsa-small", [(4096, {"attention": 1.0}, {"attention": 0.5}, 2.0)])
        m["points"][0]["dsa"]["sm_clock_mhz"] = [1980, 1800]
        self.assertEqual(clocks.series(m), {"@4096 dsa": [1980, 1800]})

    def test_recorded_h100_kernels_held_their_clock(self):
        with tempfile.TemporaryDirectory() as d:
            code, _, _ = run_cli("render", os.path.join(EVIDENCE, "2026-11-23-h100", "nightly-kernels.json"), "-o", d)
            self.assertEqual(code, 0)
            self.assertIn("SM clock after the timed samples: 1,935 to 1,980 MHz over 11 series. None fell more than 5%",
                          read(os.path.join(d, "report.md")))

    def test_a_slower_series_at_a_lower_clock_says_so(self):
        base = self.doc([1980] * 7)
        cur = self.doc([1650] * 7)
        cur["cases"][0]["timing"]["samples_s"] = [x * 1.2 for x in cur["cases"][0]["timing"]["samples_s"]]
        r = compare.compare(base, cur)
        row = next(x for x in r["rows"] if x["case"] == "k")
        self.assertEqual(row["verdict"], "SLOWER")  # still a regression until a re-run says otherwise
        self.assertEqual(row["clock"], "SM clock fell to 1,650 MHz during these samples (baseline up to 1,980 MHz)")
        self.assertIn("- k: SM clock fell to 1,650 MHz", compare.markdown(r))
        cur["cases"][0]["sm_clock_mhz"] = [1980] * 7  # slower at the same clock: nothing to blame on the machine
        self.assertNotIn("clock", next(x for x in compare.compare(base, cur)["rows"] if x["case"] == "k"))


class Options(unittest.TestCase):
    """Numeric options are checked where they are parsed: a bad value is usage error 2 naming
    the option, never a traceback (a 0-layer model divided by zero) or NaN figures (nan and
    inf passed a plain `< 0` test)."""

    def usage_error(self, *args):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as exit_:
            main(list(args))
        self.assertEqual(exit_.exception.code, 2)
        return err.getvalue()

    def test_bad_numbers_are_refused_with_the_option_named(self):
        doc = fx.document([fx.op_case("a", 1e-3)])
        with tempfile.TemporaryDirectory() as d:
            f = fx.write(doc, d)
            cases = [
                (["cost", f, "--gpu-hour-usd", "nan"], "argument --gpu-hour-usd: expected a finite number, got 'nan'"),
                (["cost", f, "--gpu-hour-usd", "inf"], "argument --gpu-hour-usd: expected a finite number, got 'inf'"),
                (["cost", f, "--gpu-hour-usd", "0"], "argument --gpu-hour-usd: expected a value > 0, got '0'"),
                (["cost", f, "--gpu-hour-usd", "two"], "argument --gpu-hour-usd: expected a number, got 'two'"),
                (["claims", f, "--layers", "0"], "argument --layers: expected a value >= 1, got '0'"),
                (["render", f, "-o", d, "--layers", "1.5"], "argument --layers: expected a whole number, got '1.5'"),
                (["cost", f, "--other-us-per-token", "-1"],
                 "argument --other-us-per-token: expected a value >= 0, got '-1'"),
                (["compare", f, f, "--alpha", "0"], "argument --alpha: expected a value > 0, got '0'"),
                (["compare", f, f, "--alpha", "1"], "argument --alpha: expected a value < 1, got '1'"),
                (["compare", f, f, "--min-change", "-0.1"], "argument --min-change: expected a value >= 0, got '-0.1'"),
            ]
            for args, message in cases:
                with self.subTest(args=(args[0], *args[-2:])):
                    self.assertIn(message, self.usage_error(*args))

    def test_an_option_given_twice_with_another_value_is_refused(self):
        # argparse keeps the last value silently: the cost of a command line that says 2 and 3.
        doc = fx.document([fx.op_case("a", 1e-3)])
        with tempfile.TemporaryDirectory() as d:
            f = fx.write(doc, d)
            self.assertIn("argument --gpu-hour-usd: given twice (2.0, then 3.0): it takes one value",
                          self.usage_error("cost", f, "--gpu-hour-usd", "2", "--gpu-hour-usd", "3"))
            out = os.path.join(d, "a.json")
            self.assertIn("argument --json: given twice",
                          self.usage_error("compare", f, f, "--json", out, "--json", os.path.join(d, "b.json")))
            self.assertIn("argument --out: given twice",
                          self.usage_error("render", f, "-o", d, "--out", os.path.join(d, "x")))
            code, _, _ = run_cli("cost", f, "--layers", "3", "--layers", "3")  # the same value twice: harmless
            self.assertEqual(code, 0)

    def test_edge_values_that_mean_something_are_taken(self):
        doc = fx.document([fx.op_case("a", 1e-3)])
        with tempfile.TemporaryDirectory() as d:
            f = fx.write(doc, d)
            code, out, _ = run_cli("compare", f, f, "--min-change", "0", "--alpha", "0.05")
            self.assertEqual(code, 0)
            self.assertIn("1 SAME", out)
            code, _, _ = run_cli("cost", f, "--other-us-per-token", "0", "--layers", "1")
            self.assertEqual(code, 0)


class Compare(unittest.TestCase):
    def test_planted_slowdown_on_real_results(self):
        doc = load.load_results(real_results("smoke-results.json"))
        slow = fx.clone(doc)
        case = next(c for c in slow["cases"] if c["name"] == "topk.gaussian")
        # At least 20%, and past the run's own spread, so every planted sample is above every
        # measured one (real samples on a busy machine can spread wider than 20%, and with 5
        # a side only a complete separation reaches p < 0.01).
        samples = case["timing"]["samples_s"]
        factor = max(1.2, 1.05 * max(samples) / min(samples))
        case["timing"]["samples_s"] = [s * factor for s in samples]
        r = compare.compare(doc, slow)
        verdicts = {(x["case"], x["series"]): x["verdict"] for x in r["rows"]}
        self.assertEqual(verdicts[("topk.gaussian", "")], "SLOWER")
        self.assertEqual(r["exit_code"], 1)
        self.assertEqual({v for k, v in verdicts.items() if k[0] != "topk.gaussian"}, {"SAME"})
        same = compare.compare(doc, fx.clone(doc))
        self.assertEqual(set(x["verdict"] for x in same["rows"]), {"SAME"})
        self.assertEqual(same["exit_code"], 0)

    def test_rules(self):
        base = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01]
        self.assertEqual(compare.classify(base, [x * 1.2 for x in base])["verdict"], "SLOWER")
        self.assertEqual(compare.classify(base, [x * 0.8 for x in base])["verdict"], "FASTER")
        self.assertEqual(compare.classify(base, [x * 1.03 for x in base])["verdict"], "SAME")  # under min change
        # Three samples a side cannot reach p < 0.1: a 20% change is then undecided.
        self.assertEqual(compare.classify(base[:3], [x * 1.2 for x in base[:3]])["verdict"], "AMBIGUOUS")
        # --min-change 0 counts every move, but an unmoved median has not moved.
        self.assertEqual(compare.classify(base, list(base), min_change=0)["verdict"], "SAME")
        self.assertEqual(compare.classify(base[:3], [x * 1.001 for x in base[:3]], min_change=0)["verdict"],
                         "AMBIGUOUS")

    def test_json_output_is_strict_json(self):
        # Two samples a side give a p-value; one gives none (NaN), written as null.
        base = fx.document([fx.op_case("a", 1e-3)])
        cur = fx.document([fx.op_case("a", 1.5e-3)])
        base["cases"][0]["timing"]["samples_s"] = [1e-3]
        cur["cases"][0]["timing"]["samples_s"] = [1.5e-3]
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "cmp.json")
            code, _, _ = run_cli("compare", fx.write(base, d), fx.write(cur, d), "--json", out)
            self.assertEqual(code, 0)  # one sample a side cannot decide: AMBIGUOUS
            with open(out) as f:
                text = f.read()
            self.assertNotIn("NaN", text)
            doc = json.loads(text, parse_constant=lambda c: self.fail(f"non-JSON constant {c}"))
            self.assertIsNone(doc["rows"][0]["p_value"])
            self.assertEqual(doc["rows"][0]["verdict"], "AMBIGUOUS")

    def test_an_interrupted_run_does_not_pass(self):
        base = fx.document([fx.op_case("a", 1e-3), fx.op_case("b", 1e-3)])
        cut = fx.document([fx.op_case("a", 1e-3)])
        cut["run_status"] = "interrupted"
        r = compare.compare(base, cut)
        self.assertEqual([x["verdict"] for x in r["rows"]], ["SAME"])
        self.assertEqual(r["exit_code"], 1)
        self.assertFalse(r["current_complete"])
        self.assertIn("did not complete", compare.markdown(r))
        self.assertEqual(compare.compare(base, fx.document([fx.op_case("a", 1e-3)]))["exit_code"], 0)
        # The case the run was stopped in has a record of its own (dsa-bench writes one as
        # each case starts; SIGTERM marks it interrupted): it is named, not passed over.
        stopped = {k: v for k, v in fx.op_case("b", 1e-3).items() if k in ("name", "op", "mode", "params")}
        stopped.update(status="interrupted", reason="the run was terminated (SIGTERM) during this case")
        cut["cases"].append(stopped)
        r = compare.compare(base, cut)
        self.assertEqual([x["verdict"] for x in r["rows"]], ["SAME"])
        self.assertEqual(r["exit_code"], 1)
        self.assertIn({"case": "b", "note": "interrupted (the run was terminated (SIGTERM) during this case): only what "
                                            "it recorded before is compared"}, r["notes"])

    def test_nothing_to_compare_is_an_error_not_a_pass(self):
        base = fx.document([fx.op_case("a", 1e-3)], suite="nightly")
        other = fx.document([fx.op_case("b", 1e-3)], suite="smoke")
        skipped = fx.document([fx.op_case("a", 1e-3, status="skipped")], suite="nightly")
        skipped["cases"][0]["reason"] = "no CUDA device"
        with tempfile.TemporaryDirectory() as d:
            code, _, err = run_cli("compare", fx.write(base, d), fx.write(other, d))
            self.assertEqual(code, 2)
            self.assertIn("nothing to compare: no case of the current run is in the baseline", err)
            self.assertIn("'smoke'", err)
            code, _, err = run_cli("compare", fx.write(base, d), fx.write(skipped, d))
            self.assertEqual(code, 2)
            self.assertIn("no case was timed on both sides", err)
            self.assertIn("no CUDA device", err)

    def test_the_noise_floor_follows_the_backend(self):
        # Two back-to-back CPU runs of the same code moved by up to 15%: a CPU case's 10%
        # is SAME, a GPU case's 10% is SLOWER; an explicit floor applies to both.
        base = fx.document([fx.op_case("cpu_case", 1e-3, backend="cpu"), fx.op_case("gpu_case", 1e-3)])
        cur = fx.document([fx.op_case("cpu_case", 1.1e-3, backend="cpu"), fx.op_case("gpu_case", 1.1e-3)])
        verdicts = {x["case"]: x["verdict"] for x in compare.compare(base, cur)["rows"]}
        self.assertEqual(verdicts, {"cpu_case": "SAME", "gpu_case": "SLOWER"})
        verdicts = {x["case"]: x["verdict"] for x in compare.compare(base, cur, min_change=0.05)["rows"]}
        self.assertEqual(verdicts, {"cpu_case": "SLOWER", "gpu_case": "SLOWER"})
        cur_cpu = fx.document([fx.op_case("cpu_case", 1.2e-3, backend="cpu"), fx.op_case("gpu_case", 1e-3)])
        self.assertEqual(compare.compare(base, cur_cpu)["exit_code"], 1)  # 20% is past the CPU's floor
        self.assertIn("15% (CPU cases) / 5% (GPU cases)", compare.markdown(compare.compare(base, cur)))

    def test_dsa_accuracy_against_dense_is_gated_on_the_same_inputs(self):
        doc = load.load_results(real_results("smoke-results.json"))
        sweep = next(c for c in doc["cases"] if c["op"] == "dsa_vs_dense")
        # Kernel-level noise (far below what the H100's two kernel sets differed by): no row.
        tiny = fx.clone(doc)
        for p in next(c for c in tiny["cases"] if c["name"] == sweep["name"])["points"]:
            p["accuracy"]["rel_l2"] *= 1.00001
        r = compare.compare(doc, tiny, min_change=10.0)
        self.assertGreater(r["figures"]["compared"]["accuracy"], 10)
        self.assertEqual(r["figures"]["rows"], [])
        self.assertEqual(r["exit_code"], 0)
        self.assertIn("figures (", compare.markdown(r))
        self.assertIn("within their tolerance", compare.markdown(r))
        # DSA now keeps 2% less of the dense attention mass at one point: a regression.
        worse = fx.clone(doc)
        point = next(c for c in worse["cases"] if c["name"] == sweep["name"])["points"][-1]
        point["accuracy"]["attention_mass_recall"]["mean"] -= 0.02
        r = compare.compare(doc, worse, min_change=10.0)
        self.assertEqual([(x["verdict"], x["series"]) for x in r["figures"]["rows"]],
                         [("WORSE", f"@{point['context']} mass recall")])
        self.assertEqual(r["exit_code"], 1)
        self.assertEqual(r["counts"].get("WORSE"), 1)
        md = compare.markdown(r)
        self.assertIn("| **WORSE** | " + sweep["name"] + f" | @{point['context']} mass recall |", md)
        # Better by as much is a change to report, not a regression.
        point["accuracy"]["attention_mass_recall"]["mean"] += 0.04
        r = compare.compare(doc, worse, min_change=10.0)
        self.assertEqual([x["verdict"] for x in r["figures"]["rows"]], ["BETTER"])
        self.assertEqual(r["exit_code"], 0)
        # Other inputs (another seed): accuracy is not compared, and the notes say so.
        reseeded = fx.clone(worse)
        next(c for c in reseeded["cases"] if c["name"] == sweep["name"])["seed"] += 1
        r = compare.compare(doc, reseeded, min_change=10.0)
        self.assertNotIn(sweep["name"], {x["case"] for x in r["figures"]["rows"]})
        self.assertTrue(any(n["case"] == sweep["name"] and "accuracy against dense not compared" in n["note"]
                            for n in r["notes"]))

    def test_the_recorded_h100_runs_with_other_kernels_pass_the_figures(self):
        # The tolerances' calibration: the 2026-11-22 and -23 sweeps ran other indexer,
        # top-k and attention kernels on the same inputs; every accuracy and memory figure
        # stays within tolerance (the timings are FASTER: that is the point of the kernels).
        evidence = EVIDENCE
        for old, new in (("2026-11-22-h100/nightly-sweep-decode.json", "2026-11-23-h100/nightly-sweep-decode.json"),
                         ("2026-11-22-h100/nightly-sweep-prefill.json",
                          "2026-11-23-h100/nightly-sweep-prefill-prefer-candidates.json"),
                         ("2026-11-23-h100/model-small-prefill-128k-before.json",
                          "2026-11-23-h100/model-small-prefill-128k.json")):
            r = compare.compare(load.load_results(os.path.join(evidence, old)),
                                load.load_results(os.path.join(evidence, new)))
            self.assertGreater(r["figures"]["compared"]["accuracy"], 0, new)
            self.assertGreater(r["figures"]["compared"]["memory"], 0, new)
            self.assertEqual(r["figures"]["rows"], [], new)

    def test_memory_is_gated(self):
        def doc(device_peak=2e9, cache=1284.0, rss=3e8, per_case=True):
            c = fx.sweep("s", "decode", [(4096, 1e-3, 1e-3)])
            m = c["points"][0]["memory"]
            m.update({"device_peak_bytes": device_peak, "peak_rss_bytes": rss, "peak_is_per_case": per_case})
            m["dsa"]["cache_bytes"] = cache * 4096
            return fx.document([c])
        base = doc()
        r = compare.compare(base, doc(device_peak=2.1e9, rss=3.1e8))  # under 10%: the same
        self.assertEqual((r["figures"]["rows"], r["exit_code"]), ([], 0))
        self.assertEqual(r["figures"]["compared"]["memory"], 5)  # the device peak, two sides x cache and workspace
        r = compare.compare(base, doc(device_peak=2.5e9))
        self.assertEqual([(x["verdict"], x["series"]) for x in r["figures"]["rows"]], [("WORSE", "@4096 device peak")])
        self.assertEqual(r["exit_code"], 1)
        self.assertIn("| **WORSE** | s | @4096 device peak | 2.000 GB | 2.500 GB | 208.389 MB |", compare.markdown(r))
        # Bytes accounted from the formats move by the byte: 2% more cache is a regression.
        r = compare.compare(base, doc(cache=1284.0 * 1.02))
        self.assertEqual([x["series"] for x in r["figures"]["rows"]], ["@4096 dsa cache bytes"])
        # A GPU run's host peak is not compared (mostly the CUDA runtime's); a CPU run's is,
        # unless it is the process's (not restarted per case).
        r = compare.compare(base, doc(rss=6e8))
        self.assertEqual(r["figures"]["rows"], [])

        def on_cpu(d):
            d["cases"][0]["backend"] = "cpu"
            return d
        r = compare.compare(on_cpu(doc()), on_cpu(doc(rss=6e8)))
        self.assertEqual([(x["verdict"], x["series"]) for x in r["figures"]["rows"]], [("WORSE", "@4096 host peak")])
        self.assertEqual(r["figures"]["compared"]["memory"], 6)
        r = compare.compare(on_cpu(doc(per_case=False)), on_cpu(doc(rss=6e8, per_case=False)))
        self.assertEqual(r["figures"]["rows"], [])
        self.assertEqual(r["figures"]["compared"]["memory"], 5)

    def test_model_accuracy_tolerates_one_flipped_token(self):
        def run(top1, kl, count=8):
            c = fx.model_run("m", "dsa-tiny", [(1024, {"attention": 1e-3}, {"attention": 1e-3}, 1.0)])
            c["seed"] = 5
            c["points"][0]["accuracy"] = {"kl_mean": kl, "top1_agreement": top1, "count": count}
            return fx.document([c])
        base = run(0.5, 0.30)
        self.assertEqual(compare.compare(base, run(0.375, 0.30))["figures"]["rows"], [])  # one token of 8
        r = compare.compare(base, run(0.25, 0.30))  # two tokens
        self.assertEqual([(x["verdict"], x["series"]) for x in r["figures"]["rows"]],
                         [("WORSE", "@1024 top-1 agreement")])
        r = compare.compare(base, run(0.5, 0.34))  # KL 13% higher: past its 10%
        self.assertEqual([x["series"] for x in r["figures"]["rows"]], ["@1024 KL mean"])
        self.assertEqual(r["exit_code"], 1)
        # Over many positions a few near-ties may flip (0.2%), more may not.
        base = run(0.5, 0.30, count=100000)
        self.assertEqual(compare.compare(base, run(0.4985, 0.30, count=100000))["figures"]["rows"], [])
        self.assertEqual(compare.compare(base, run(0.497, 0.30, count=100000))["exit_code"], 1)

    def test_validation_only_runs_compare_their_accuracy(self):
        # Cases run in mode validate have no timings: their accuracy is still a comparison,
        # not "nothing to compare".
        def doc(recall):
            c = fx.sweep("s", "decode", [(4096, 1e-3, 1e-3)])
            for p in c["points"]:
                for side in ("dense", "dsa"):
                    p[side].pop("timing")
                p["accuracy"]["attention_mass_recall"]["mean"] = recall
            return fx.document([c])
        r = compare.compare(doc(0.9), doc(0.9))
        self.assertEqual((r["rows"], r["figures"]["compared"]["accuracy"], r["exit_code"]), ([], 3, 0))
        self.assertEqual(compare.compare(doc(0.9), doc(0.8))["exit_code"], 1)

    def test_a_slower_series_counts_only_if_its_rerun_is_slower_too(self):
        base = fx.document([fx.op_case("a", 1e-3), fx.op_case("b", 1e-3), fx.op_case("c", 1e-3)])
        cur = fx.document([fx.op_case("a", 1.3e-3), fx.op_case("b", 1.3e-3), fx.op_case("c", 1.3e-3)])
        rerun = fx.document([fx.op_case("a", 1.0e-3), fx.op_case("b", 1.3e-3)])  # c not re-run
        r = compare.compare(base, cur, confirm=rerun)
        verdicts = {x["case"]: x["verdict"] for x in r["rows"]}
        self.assertEqual(verdicts, {"a": "NOISE", "b": "SLOWER", "c": "SLOWER"})
        self.assertEqual(r["exit_code"], 1)
        self.assertIn("re-run of its case is slower too", compare.markdown(r))
        self.assertAlmostEqual(next(x for x in r["rows"] if x["case"] == "a")["rerun"]["change"], 0.0)
        only_noise = compare.compare(base, fx.document([fx.op_case("a", 1.3e-3)]), confirm=rerun)
        self.assertEqual([x["verdict"] for x in only_noise["rows"]], ["NOISE"])
        self.assertEqual(only_noise["exit_code"], 0)
        with tempfile.TemporaryDirectory() as d:
            code, out, _ = run_cli("compare", fx.write(base, d), fx.write(cur, d), "--confirm", fx.write(rerun, d))
            self.assertEqual(code, 1)
            self.assertIn("NOISE", out)
            code, _, err = run_cli("compare", fx.write(base, d), fx.write(cur, d), "--confirm",
                                   os.path.join(d, "no-rerun.json"))
            self.assertEqual(code, 2)
            self.assertIn("no-rerun.json", err)
            other = fx.document([fx.op_case("a", 1e-3)], device="NVIDIA H100 80GB HBM3")
            code, _, err = run_cli("compare", fx.write(base, d), fx.write(cur, d), "--confirm", fx.write(other, d))
            self.assertEqual(code, 2)
            self.assertIn("different devices", err)

    def test_failures_devices_params_and_one_sided_cases(self):
        base = fx.document([fx.op_case("a", 1e-3), fx.op_case("b", 1e-3), fx.op_case("gone", 1e-3)])
        cur = fx.document([fx.op_case("a", 1e-3, status="failed"), fx.op_case("b", 1e-3), fx.op_case("new", 1e-3)])
        cur["cases"][1]["params"]["context"] = 20
        r = compare.compare(base, cur)
        self.assertEqual([x["verdict"] for x in r["rows"] if x["case"] == "a"], ["FAIL"])
        self.assertEqual(r["exit_code"], 1)
        self.assertIn("parameters changed", r["notes"][0]["note"])
        self.assertEqual(r["only_in_baseline"], ["gone"])
        self.assertEqual(r["only_in_current"], ["new"])
        self.assertIn("\n- only in the baseline: gone\n", compare.markdown(r))
        # A run of some of the suite's cases: the others are left out by request, and the
        # table says so rather than listing them as if lost.
        cur["suite"]["filter"] = "^(a|b|new)$"
        self.assertIn("\n- only in the baseline (the current run selected its cases with --filter '^(a|b|new)$'): gone\n",
                      compare.markdown(compare.compare(base, cur)))
        with tempfile.TemporaryDirectory() as d:
            other = fx.document([fx.op_case("a", 1e-3)], device="NVIDIA H100 80GB HBM3")
            code, _, err = run_cli("compare", fx.write(base, d), fx.write(other, d))
            self.assertEqual(code, 2)
            self.assertIn("different devices", err)
            code, _, _ = run_cli("compare", fx.write(base, d), fx.write(other, d), "--allow-device-mismatch")
            self.assertEqual(code, 0)


    def test_a_case_that_moved_from_the_gpu_to_the_cpu_fails_the_gate(self):
        # A GPU kernel that no longer takes a shape hands the case to the CPU (--backend
        # auto): a regression of what the GPU runs, said as such, not as a CPU time read
        # against a GPU one. The other way round is a note, and no times are compared.
        base = fx.document([fx.op_case("a", 1e-3), fx.op_case("b", 1e-3, backend="cpu")])
        cur = fx.document([fx.op_case("a", 5e-2, backend="cpu"), fx.op_case("b", 1e-4)])
        cur["cases"][0]["backend_fallback"] = "cuda: cuda.topk.sample: rows longer than 2^32 columns"
        r = compare.compare(base, cur)
        self.assertEqual(r["exit_code"], 1)
        self.assertEqual([(x["case"], x["verdict"]) for x in r["rows"]], [("a", "FAIL")])
        self.assertEqual(r["rows"][0]["detail"], "ran on cpu now, on cuda in the baseline "
                                                 "(cuda: cuda.topk.sample: rows longer than 2^32 columns)")
        self.assertIn({"case": "b", "note": "ran on cuda now, on cpu in the baseline: times and host memory not "
                                            "compared"}, r["notes"])
        self.assertNotIn("FASTER", compare.markdown(r))
        # Both on one backend: compared as before.
        self.assertEqual([x["verdict"] for x in compare.compare(base, fx.clone(base))["rows"]], ["SAME", "SAME"])

    def test_a_case_that_failed_in_the_baseline_and_passes_now_is_named(self):
        base = fx.document([fx.op_case("a", 1e-3, status="failed"), fx.op_case("b", 1e-3)])
        r = compare.compare(base, fx.document([fx.op_case("a", 1e-3), fx.op_case("b", 1e-3)]))
        self.assertEqual(r["exit_code"], 0)
        self.assertIn("- a: fixed: passed now, failed in the baseline (a check failed)", compare.markdown(r))
        self.assertNotIn("fixed", str([n for n in r["notes"] if n["case"] == "b"]))

    def test_validation_only_cases_are_compared_by_their_figures(self):
        # The corner suite's cases are untimed: their accuracy figures are the comparison.
        base = json.load(open(real_results("corner-results.json")))
        md = compare.markdown(compare.compare(base, fx.clone(base)))
        self.assertNotIn("| verdict | case | series |", md)
        self.assertIn("No series was timed on both sides and no case fails", md)
        self.assertRegex(md, r"Totals: no timed series; \d+ figures within their tolerance\. Exit status 0\.")

    def test_times_of_a_short_run_are_not_compared_with_a_full_runs(self):
        # --short times a few samples after at most one warm-up: 40% slower than a full run's
        # with nothing changed was seen. Its accuracy and memory figures still count.
        base = fx.document([fx.sweep("s", "decode", [(4096, 1e-3, 5e-4)])])
        cur = fx.clone(base)
        cur["provenance"]["short_mode"] = True
        for p in cur["cases"][0]["points"]:
            for side in ("dense", "dsa"):
                p[side]["timing"] = fx.timing(fx.samples(10 * p[side]["timing"]["median_s"]))
        self.assertEqual(compare.compare(base, fx.clone(base))["timings_compared"], True)
        r = compare.compare(base, cur)
        self.assertEqual(r["rows"], [])
        self.assertFalse(r["timings_compared"])
        self.assertEqual(r["exit_code"], 0)
        self.assertGreater(r["figures"]["compared"]["accuracy"], 0)
        md = compare.markdown(r)
        self.assertIn("Timings not compared (one side ran with --short, see below)", md)
        self.assertIn("- (timings): not compared: the baseline ran without --short and the current run with --short", md)
        # A failing case still fails the gate.
        cur["cases"][0]["status"] = "failed"
        self.assertEqual(compare.compare(base, cur)["exit_code"], 1)
        # Both short: compared as usual (10x slower is SLOWER).
        both = fx.clone(base)
        both["provenance"]["short_mode"] = True
        cur["cases"][0]["status"] = "passed"
        self.assertIn("SLOWER", {x["verdict"] for x in compare.compare(both, cur)["rows"]})
        # A re-run made another way than the run it confirms is refused.
        with self.assertRaisesRegex(load.ResultsError, "the re-run ran without --short and the current run with --short"):
            compare.compare(both, cur, confirm=fx.clone(base))

    def test_a_failure_reason_stays_in_its_table_cell(self):
        cur = fx.document([fx.op_case("a", 1e-3, status="failed")])
        cur["cases"][0]["reason"] = "model a|b.json: bad\nsecond line"
        md = compare.markdown(compare.compare(fx.document([fx.op_case("a", 1e-3)]), cur))
        row = next(line for line in md.splitlines() if line.startswith("| **FAIL** | a |"))
        self.assertIn("failed (was passed): model a\\|b.json: bad second line", row)
        self.assertEqual(row.replace("\\|", "").count("|"), 9)  # the table's eight columns

    def test_candidates_pair_with_the_defaults_by_parameters(self):
        base = fx.document([fx.op_case("kernel.topk.prefill", 1e-3), fx.op_case("kernel.other", 1e-3)])
        base["cases"][1]["params"]["context"] = 99
        fast = fx.op_case("kernel.topk.sample.prefill", 0.5e-3)
        fast["params"]["implementation"] = "cuda.topk.sample"
        fast["params"]["backends"] = ["cuda"]
        odd = fx.op_case("kernel.topk.sample.other_shape", 1e-3)
        odd["params"]["context"] = 12345
        cur = fx.document([fast, odd])
        r = compare.compare(base, cur, by_params=True)
        self.assertEqual([(x["case"], x["verdict"]) for x in r["rows"]],
                         [("kernel.topk.sample.prefill vs kernel.topk.prefill", "FASTER")])
        self.assertEqual(r["only_in_current"], ["kernel.topk.sample.other_shape"])
        self.assertEqual(r["only_in_baseline"], ["kernel.other"])
        self.assertEqual(r["exit_code"], 0)
        self.assertIn("paired by parameters", compare.markdown(r))
        # By name nothing pairs (the candidate cases have their own names): an error, not a pass.
        with self.assertRaisesRegex(load.ResultsError, "no case of the current run is in the baseline"):
            compare.compare(base, cur)
        with tempfile.TemporaryDirectory() as d:
            code, out, _ = run_cli("compare", fx.write(base, d), fx.write(cur, d), "--by-params")
            self.assertEqual(code, 0)
            self.assertIn("FASTER", out)


class Cost(unittest.TestCase):
    def test_hand_computation(self):
        doc = fx.document([fx.sweep("decode.real", "decode", [(1024, 1e-3, 2e-3), (8192, 8e-3, 3e-3)])])
        c = cost.cost_model(doc, gpu_hour_usd=2.0, layers=61)
        rows = c["phases"]["decode"]["points"]
        # 61 layers x 1 ms per token, at $2 per hour: 0.061 s * 1e6 * 2 / 3600 = $33.89 per million tokens.
        self.assertAlmostEqual(rows[0]["dense_usd_per_mtok"], 0.061 * 1e6 * 2 / 3600, places=6)
        self.assertAlmostEqual(rows[1]["dsa_usd_per_mtok"], 61 * 3e-3 * 1e6 * 2 / 3600, places=6)
        # DSA/dense 2 at 1024 and 0.375 at 8192: crossing 1 at 1024 * 8^((2-1)/(2-0.375)).
        self.assertAlmostEqual(c["phases"]["decode"]["crossover_position"], 1024 * 8 ** (1 / 1.625), places=3)
        self.assertFalse(c["phases"]["prefill"]["available"])
        # A non-attention time adds to both: 100 us per token.
        c2 = cost.cost_model(doc, 2.0, 61, other_us_per_token=100)
        self.assertAlmostEqual(c2["phases"]["decode"]["points"][0]["dense_usd_per_mtok"],
                               (0.061 + 1e-4) * 1e6 * 2 / 3600, places=6)
        self.assertIn("identical attention layers", " ".join(c["phases"]["decode"]["modelled"]))

    def test_scaled_shapes_are_modelled_per_stage(self):
        doc = fx.document([fx.sweep("prefill.small", "prefill", [(1024, 1e-3, 1e-3)], heads=8, index_heads=4,
                                    query_chunk=32)])
        r = cost.cost_model(doc)["phases"]["prefill"]
        p = r["points"][0]["attention_s_per_token_per_layer"]
        self.assertAlmostEqual(p["dense"], 1e-3 * 16 / 32)
        # indexer x16, top-k x1, attention x16 of the fixture's 10 / 5 / 85 % split
        self.assertAlmostEqual(p["dsa"], 1e-3 * (0.1 * 16 + 0.05 + 0.85 * 16) / 32, places=9)
        self.assertIn("scaled", " ".join(r["modelled"]))

    def test_non_attention_time_from_a_matching_model_run(self):
        doc = fx.document([fx.sweep("decode.real", "decode", [(1024, 1e-3, 2e-3), (8192, 8e-3, 3e-3)])])
        self.assertIn("no model_prefill run", cost.cost_model(doc)["other_source"])
        # The modelled line gives the reason once, not nested in a second "not included".
        modelled = " ".join(cost.cost_model(doc)["phases"]["decode"]["modelled"])
        self.assertIn("no non-attention cost, the figures are attention only: no model_prefill run of the real "
                      "dimensions", modelled)
        self.assertIn("model_prefill runs in these results: none", modelled)
        self.assertNotIn("not included", modelled)
        run = {"name": "model.real.prefill", "op": "model_prefill", "mode": "both", "status": "passed", "backend": "cuda",
               "implementation": "x", "params": {}, "model": {"preset": "deepseek-v3.2-exp", "layers": 61, "hidden": 7168},
               "points": [{"context": 1000, "status": "passed",
                           "dense": {"op_times": {"seconds": {"matmul": 0.15, "other": 0.05, "indexer": 0.0, "topk": 0.0,
                                                              "attention": 0.3}}, "cache": {}},
                           "dsa": {"op_times": {"seconds": {}}, "cache": {}},
                           "accuracy": {"kl_mean": 0, "kl_max": 0, "top1_agreement": 1, "max_logit_diff": 0,
                                        "buckets": []}}]}
        # The real layer's case that did not run says why.
        oom = {"name": "model.v32.layer3.prefill", "op": "model_prefill", "mode": "both", "status": "oom",
               "reason": "loading deepseek-v3.2-exp needs about 46.1 GB of host memory", "seed": 1,
               "params": {"model": "deepseek-v3.2-exp", "checkpoint": ""}}
        self.assertIn("; model.v32.layer3.prefill ended oom: loading deepseek-v3.2-exp needs about 46.1 GB",
                      cost.cost_model(fx.document(doc["cases"] + [oom]))["other_source"])
        doc["cases"].append(run)
        c = cost.cost_model(doc)
        self.assertAlmostEqual(c["other_us_per_token"], 200.0)  # (0.15 + 0.05) s / 1000 tokens
        self.assertIn("measured by model.real.prefill", c["other_source"])
        self.assertIn("in decode the same per token as in prefill", " ".join(c["phases"]["decode"]["modelled"]))
        self.assertEqual(cost.cost_model(doc, other_us_per_token=5)["other_us_per_token"], 5)  # given wins
        # A real-dimensions run that a GPU run ran on the CPU is not mixed with GPU attention times.
        run.update(backend="cpu", backend_fallback="cuda: out of device memory: ...")
        c = cost.cost_model(doc)
        self.assertEqual(c["other_us_per_token"], 0.0)
        self.assertIn("; model.real.prefill ran on cpu, not beside the cuda attention times", c["other_source"])

    def test_non_attention_time_from_one_real_layer_is_per_layer_times_the_layers(self):
        doc = fx.document([fx.sweep("decode.real", "decode", [(1024, 1e-3, 2e-3), (8192, 8e-3, 3e-3)])])
        dense = lambda matmul, other: {"op_times": {"seconds": {"matmul": matmul, "other": other, "indexer": 0.0,
                                                                "topk": 0.0, "attention": 0.3}}, "cache": {}}
        acc = {"rel_l2_mean": 0.0, "cos_diff_mean": 0.0, "buckets": []}
        layer = {"name": "model.v32.layer3.prefill", "op": "model_prefill", "mode": "both", "status": "passed",
                 "backend": "cuda", "implementation": "x", "params": {},
                 "model": {"preset": "deepseek-v3.2-exp", "layers": 61, "hidden": 7168, "layer_range": [3, 4],
                           "with_head": False},
                 # the longer context counts attention-side work as matrix products: not read
                 "points": [{"context": 4000, "status": "passed", "dense": dense(1.6, 0.2), "dsa": dense(0.5, 0.2),
                             "accuracy": acc},
                            {"context": 1000, "status": "passed", "dense": dense(0.15, 0.05), "dsa": dense(0.1, 0.05),
                             "accuracy": acc}]}
        doc["cases"].append(layer)
        c = cost.cost_model(doc, layers=61)
        self.assertAlmostEqual(c["other_us_per_token"], 200.0 * 61)  # (0.15 + 0.05) s / 1000 tokens, per layer
        self.assertIn("per layer of its 1 layer [3, 4), times 61 layers", c["other_source"])
        self.assertIn("embeddings and LM head not included", c["other_source"])
        self.assertAlmostEqual(cost.cost_model(doc, layers=30)["other_us_per_token"], 200.0 * 30)
        # Two real layers beat one.
        two = json.loads(json.dumps(layer))
        two["name"], two["model"]["layer_range"] = "model.v32.layers3_5.prefill", [3, 5]
        doc["cases"].append(two)
        c = cost.cost_model(doc, layers=61)
        self.assertAlmostEqual(c["other_us_per_token"], 100.0 * 61)
        self.assertIn("measured by model.v32.layers3_5.prefill", c["other_source"])

    def test_the_dense_baseline_is_judged_against_the_ceiling_its_work_is_bound_by(self):
        ceilings = {"bf16_tflops": 800.0, "fp8_tflops": 1600.0, "copy_gbps": 3000.0}
        # 240 TFLOP/s over 600 GB/s: 400 FLOP a byte, above the ceilings' 267: compute-bound, 30%.
        doc = fx.document([fx.sweep("decode.real", "decode", [(4096, 4e-4, 3e-4), (131072, 8e-3, 1e-3)], batch=64,
                                    dense_rate=(240e3, 600.0))])
        doc["device_ceilings"] = ceilings
        b = cost.cost_model(doc)["phases"]["decode"]["dense_baseline"]
        self.assertEqual((b["bound"], b["context"]), ("compute", 131072))
        self.assertAlmostEqual(b["share"], 0.30)
        self.assertIn("dense baseline x at 131,072: 240 TFLOP/s and 600 GB/s, 30% of the measured bf16 matrix-product "
                      "ceiling", " ".join(cost.cost_model(doc)["phases"]["decode"]["measured"]))
        # 90 TFLOP/s over 2100 GB/s: memory-bound, 70% of the copy bandwidth.
        doc["cases"][0]["points"][-1]["dense"]["throughput"] = {"gflops": 90e3, "gbps": 2100.0}
        b = cost.cost_model(doc)["phases"]["decode"]["dense_baseline"]
        self.assertEqual(b["bound"], "memory")
        self.assertAlmostEqual(b["share"], 0.70)
        # One ceiling measured (cuBLASLt failed): that share said, but no bound claimed and
        # no `share` for the claims' dense-at-its-ceiling ratio.
        doc["device_ceilings"] = {"bf16_tflops": 0.0, "fp8_tflops": 0.0, "copy_gbps": 3000.0}
        b = cost.cost_model(doc)["phases"]["decode"]["dense_baseline"]
        self.assertNotIn("share", b)
        self.assertNotIn("bound", b)
        self.assertAlmostEqual(b["partial_share"]["memory"], 0.70)
        self.assertIn("2100 GB/s, 70% of the measured copy-bandwidth ceiling (the bf16 matrix-product ceiling was not "
                      "measured, so which of the two bounds its work is not known)", cost.baseline_text(b))
        doc["device_ceilings"] = {"bf16_tflops": 300.0, "copy_gbps": 0.0}
        b = cost.cost_model(doc)["phases"]["decode"]["dense_baseline"]
        self.assertAlmostEqual(b["partial_share"]["compute"], 0.30)
        self.assertIn("30% of the measured bf16 matrix-product ceiling (the copy-bandwidth ceiling was not measured",
                      cost.baseline_text(b))
        # Without measured ceilings the rates alone, said so; a CPU's fraction of a GB/s kept.
        del doc["device_ceilings"]
        doc["cases"][0]["points"][-1]["dense"]["throughput"] = {"gflops": 13.5, "gbps": 0.42}
        text = " ".join(cost.cost_model(doc)["phases"]["decode"]["measured"])
        self.assertIn("dense baseline x at 131,072: 13.5 GFLOP/s and 0.42 GB/s (no measured ceilings", text)

    def test_cli_writes_json(self):
        with tempfile.TemporaryDirectory() as d:
            doc = fx.document([fx.sweep("decode.real", "decode", [(1024, 1e-3, 2e-3), (8192, 8e-3, 3e-3)])])
            code, out, _ = run_cli("cost", fx.write(doc, d), "--gpu-hour-usd", "3", "--json", os.path.join(d, "c.json"))
            self.assertEqual(code, 0)
            self.assertIn("Crossover", out)
            self.assertEqual(json.loads(read(os.path.join(d, "c.json")))["gpu_hour_usd"], 3.0)


class Claims(unittest.TestCase):
    GOOD = [(2048, 0.1e-3, 0.2e-3), (8192, 0.3e-3, 0.36e-3), (16384, 0.6e-3, 0.48e-3), (131072, 4.377e-3, 1.154e-3)]

    def verdict(self, doc, cid, other=None):
        return next(v for v in claims.evaluate(doc, other)["verdicts"] if v["id"] == cid)

    def test_cpu_results_cannot_decide_gpu_cost_figures(self):
        doc = load.load_results(real_results("smoke-results.json"))
        self.assertEqual(self.verdict(doc, "P-prefill")["verdict"], "INCONCLUSIVE")
        self.assertIn("CPU", self.verdict(doc, "P-prefill")["reason"])
        self.assertEqual(self.verdict(doc, "S-memory")["verdict"], "FAIL")  # 1152 -> 1284 bytes per token
        self.assertEqual(self.verdict(doc, "S-quality")["verdict"], "INCONCLUSIVE")

    def test_a_gpu_runs_sweep_that_fell_back_to_the_cpu_decides_nothing(self):
        # In a GPU run a sweep whose shapes no CUDA kernel takes runs on the CPU: its times
        # are the CPU's, whatever device the rest of the run used. A GPU sweep of the
        # same phase is modelled first; alone, the CPU one is inconclusive and named so.
        on_cpu = fx.sweep("prefill.cpu", "prefill", self.GOOD, query_chunk=64)
        on_cpu.update(backend="cpu", backend_fallback="cuda: sparse attention (not 576 / 512)")
        doc = fx.document([fx.op_case("topk", 1e-3), on_cpu])
        v = self.verdict(doc, "P-prefill", other=100.0)
        self.assertEqual(v["verdict"], "INCONCLUSIVE", v["reason"])
        self.assertIn("the prefill sweep prefill.cpu ran on the CPU", v["reason"])
        self.assertEqual(v["hardware"], "CPU: cpu")
        self.assertEqual(self.verdict(doc, "S-cost", other=100.0)["verdict"], "INCONCLUSIVE")
        s64 = self.verdict(doc, "S-64x")
        self.assertEqual(s64["verdict"], "INCONCLUSIVE")
        self.assertIn("needs a GPU sweep at 128K", s64["reason"])
        cm = cost.cost_model(doc, other_us_per_token=100.0)
        self.assertIn("on CPU: cpu (sweep prefill.cpu, backend cpu)", cm["phases"]["prefill"]["measured"][0])
        # The run's GPU ceilings do not judge the CPU sweep's dense baseline.
        doc["device_ceilings"] = {"bf16_tflops": 800.0, "fp8_tflops": 1600.0, "copy_gbps": 3000.0}
        on_cpu["points"][-1]["dense"]["throughput"] = {"gflops": 20.0, "gbps": 0.6}
        base = cost.cost_model(doc)["phases"]["prefill"]["dense_baseline"]
        self.assertNotIn("share", base)
        self.assertIn("(no measured ceilings to judge it by)", cost.baseline_text(base))
        # With a GPU sweep of the phase beside it, that one is modelled and decides.
        doc["cases"].append(fx.sweep("prefill.gpu", "prefill", self.GOOD, heads=8, query_chunk=64))
        self.assertEqual(cost.cost_model(doc)["phases"]["prefill"]["sweep"], "prefill.gpu")
        v = self.verdict(doc, "P-prefill", other=100.0)
        self.assertNotIn("ran on the CPU", v["reason"])
        self.assertEqual(v["hardware"], "NVIDIA H800")

    def test_prefill_claim_passes_when_ratio_and_crossover_match(self):
        # With 100 us of non-attention time per token the whole-model ratio at 128K is
        # (61 * 4.377 ms / 64 + 0.1 ms) / (61 * 1.154 ms / 64 + 0.1 ms) = 3.56.
        v = self.verdict(gpu_prefill_doc(self.GOOD), "P-prefill", other=100.0)
        self.assertEqual(v["verdict"], "PASS", v["reason"])
        self.assertAlmostEqual(v["measured"]["dense_over_dsa_cost_at_largest"], 3.56, places=2)

    def test_cost_claims_show_how_strong_the_dense_baseline_is(self):
        # Dense attention at 40% of the bf16 ceiling at 128K: at the ceiling it would take
        # 0.4 x 4.377 ms, so the ratio with 100 us a token besides would be
        # (61 * 0.4 * 4.377 / 64 + 0.1) / (61 * 1.154 / 64 + 0.1) = 1.769 / 1.200 = 1.47.
        doc = fx.document([fx.sweep("prefill.real", "prefill", self.GOOD, query_chunk=64, dense_rate=(320e3, 500.0))])
        doc["device_ceilings"] = {"bf16_tflops": 800.0, "fp8_tflops": 1600.0, "copy_gbps": 3000.0}
        v = self.verdict(doc, "P-prefill", other=100.0)
        self.assertEqual(v["verdict"], "PASS", v["reason"])  # this harness's kernels on both sides
        self.assertIn("40% of the measured bf16 matrix-product ceiling", v["reason"])
        self.assertAlmostEqual(v["measured"]["ratio_with_dense_at_its_ceiling"], 1.474, places=3)
        self.assertIn("the ratio would be 1.47x", v["reason"])

    def test_prefill_claim_fails_when_attention_alone_saves_less(self):
        pts = self.GOOD[:-1] + [(131072, 4.377e-3, 2.9e-3)]
        v = self.verdict(gpu_prefill_doc(pts), "P-prefill")
        self.assertEqual(v["verdict"], "FAIL", v["reason"])
        self.assertIn("attention alone saves only", v["reason"])

    def test_prefill_claim_needs_the_non_attention_cost_when_attention_saves_more(self):
        v = self.verdict(gpu_prefill_doc(self.GOOD), "P-prefill")
        self.assertEqual(v["verdict"], "INCONCLUSIVE", v["reason"])
        self.assertIn("--other-us-per-token", v["reason"])

    def test_prefill_claim_fails_on_a_late_crossover(self):
        pts = [(2048, 0.1e-3, 0.3e-3), (16384, 0.6e-3, 1.2e-3), (65536, 2.4e-3, 2.5e-3), (131072, 4.4e-3, 1.0e-3)]
        v = self.verdict(gpu_prefill_doc(pts), "P-prefill", other=100.0)
        self.assertEqual(v["verdict"], "FAIL", v["reason"])
        self.assertIn("crossover", v["reason"])

    def test_no_128k_point_is_inconclusive_even_on_a_gpu(self):
        v = self.verdict(gpu_prefill_doc(self.GOOD[:-1]), "P-prefill", other=100.0)
        self.assertEqual(v["verdict"], "INCONCLUSIVE")
        self.assertIn("128K", v["reason"])

    def test_short_context_claim_on_a_gpu(self):
        doc = fx.document([fx.sweep("p", "prefill", self.GOOD, query_chunk=64),
                           fx.sweep("d", "decode", [(1024, 1e-4, 1.2e-4), (131072, 1e-2, 1.2e-3)])])
        self.assertEqual(self.verdict(doc, "P-short")["verdict"], "PASS")
        doc2 = fx.document([fx.sweep("d", "decode", [(1024, 1e-4, 0.9e-4), (131072, 1e-2, 1.2e-3)])])
        self.assertEqual(self.verdict(doc2, "P-short")["verdict"], "FAIL")

    def test_short_context_claim_needs_a_position_well_below_the_crossover(self):
        # Decode at 4K is within the claimed 5K crossover's factor 2: DSA cheaper there
        # decides nothing; with prefill at 2K dearer, the claim passes on prefill alone.
        d = fx.sweep("d", "decode", [(4096, 1e-4, 0.7e-4), (131072, 1e-2, 1.2e-3)], batch=64)
        self.assertEqual(self.verdict(fx.document([d]), "P-short")["verdict"], "INCONCLUSIVE")
        p = fx.sweep("p", "prefill", [(2048, 1e-4, 2e-4), (131072, 1e-2, 3e-3)], query_chunk=64)
        v = self.verdict(fx.document([p, d]), "P-short")
        self.assertEqual(v["verdict"], "PASS", v["reason"])
        self.assertIn("decides nothing", v["reason"])

    def test_decode_crossover_below_the_first_position_is_consistent_and_batch_decides_the_sweep(self):
        # Batch 1: DSA dearer everywhere (a slow single-row stage); batch 64: cheaper from
        # 4K on. The cost model takes the batch a server runs.
        b1 = fx.sweep("d1", "decode", [(4096, 1e-4, 1.6e-4), (131072, 3.5e-4, 3.7e-4)], batch=1)
        b64 = fx.sweep("d64", "decode", [(4096, 7e-4, 4.9e-4), (131072, 2.04e-2, 2.55e-3)], batch=64)
        v = self.verdict(fx.document([b1, b64]), "P-decode")
        self.assertEqual(v["verdict"], "INCONCLUSIVE", v["reason"])
        self.assertIn("below 4,096", v["reason"])
        v1 = self.verdict(fx.document([b1]), "P-decode")
        self.assertEqual(v1["verdict"], "FAIL", v1["reason"])
        self.assertIn("DSA time there: indexer 10%, topk 5%, attention 85%", v1["reason"])

    def test_memory_claim_reads_the_real_shapes_and_every_cache_format(self):
        small = fx.sweep("small", "decode", [(1024, 1e-3, 1e-3)], heads=16, index_heads=8)
        small["params"].update(kv_rank=128, index_head_dim=64)
        small["cache_bytes_per_token_per_layer"] = {"dense": 320, "dsa": 388}
        v = self.verdict(fx.document([small]), "S-memory")
        self.assertEqual(v["verdict"], "FAIL")
        self.assertIn("reduced shapes (latent 128, indexer keys 64), not the real model's", v["reason"])
        self.assertIn("bf16 cache 320 -> 388 bytes per token per layer (+21.2%)", v["reason"])
        # The real shapes win over the reduced ones; each cache format is stated (FP8: 656
        # bytes a token, plus the indexer's 128 e4m3 codes and a 4-byte scale).
        fp8 = fx.sweep("fp8", "decode", [(1024, 1e-3, 1e-3)], batch=64)
        fp8["params"]["kv_cache_dtype"] = "fp8"
        fp8["cache_bytes_per_token_per_layer"] = {"dense": 656, "dsa": 788}
        v = self.verdict(fx.document([small, fx.sweep("bf16", "prefill", [(1024, 1e-3, 1e-3)]), fp8]), "S-memory")
        self.assertEqual(v["verdict"], "FAIL")
        self.assertTrue(v["measured"]["real_shapes"])
        self.assertIn("bf16 cache 1152 -> 1284 bytes per token per layer (+11.5%); fp8 cache 656 -> 788", v["reason"])
        self.assertIn("(+20.1%)", v["reason"])

    def test_memory_claim_weighs_the_cache_against_a_long_prefills_peak(self):
        sweep = fx.sweep("decode.real", "decode", [(4096, 1e-3, 1e-3)])  # 1152 -> 1284 bytes per token
        def prefill(dense_gb, dsa_gb, context=131072, backend="cuda"):
            ops = {"matmul": 0.1, "attention": 0.5}
            r = fx.model_run("model.small.prefill.128k", {"preset": "dsa-small", "layers": 4, "hidden": 2048},
                             [(context, ops, ops, 2.0)], peaks=(dense_gb * 1e9, dsa_gb * 1e9))
            r["backend"] = backend
            return r
        v = self.verdict(fx.document([sweep]), "S-memory")
        self.assertEqual(v["verdict"], "FAIL")
        self.assertIn("no GPU model run at 64K or more measured each mode's peak memory", v["reason"])
        # 40 -> 25 GB: 37.5% less at the peak of a 128K prefill, while the cache grows: the
        # claim does not say which, so it is not decided.
        v = self.verdict(fx.document([sweep, prefill(40, 25)]), "S-memory")
        self.assertEqual(v["verdict"], "INCONCLUSIVE", v["reason"])
        self.assertIn("does not say which memory", v["reason"])
        self.assertIn("goes from 40.0 to 25.0 GB (-38%)", v["reason"])
        self.assertAlmostEqual(v["measured"]["peak"]["change"], -0.375)
        # A small peak saving leaves the cache's answer.
        v = self.verdict(fx.document([sweep, prefill(40, 38)]), "S-memory")
        self.assertEqual(v["verdict"], "FAIL", v["reason"])
        self.assertIn("(-5%)", v["reason"])
        # Host peaks (a CPU run) and short prefills are not the evidence.
        for r in (prefill(40, 25, backend="cpu"), prefill(40, 25, context=4096)):
            self.assertEqual(self.verdict(fx.document([sweep, r]), "S-memory")["verdict"], "FAIL")

    def test_whole_model_speed_claim_is_bounded_the_way_each_run_errs(self):
        def run(speedup, hidden, layers=4, layer_range=None, op="model_prefill"):
            ops = {"matmul": 0.1, "other": 0.01, "attention": 0.5}
            model = {"preset": "x", "layers": layers, "hidden": hidden,
                     **({"layer_range": layer_range, "with_head": False} if layer_range else {})}
            return fx.model_run("model.x", model, [(131072, ops, ops, speedup)], op=op)
        verdict = lambda *cases: self.verdict(fx.document(list(cases)), "S-speed")
        # A reduced model overstates attention's share: a bound from above, it can only fail.
        self.assertEqual(verdict(run(1.83, 2048))["verdict"], "INCONCLUSIVE")
        self.assertEqual(verdict(run(1.2, 2048))["verdict"], "FAIL")
        self.assertIn("reduced model", verdict(run(1.2, 2048))["reason"])
        # The real dimensions run the experts one after another: a bound from below, it can
        # only pass.
        self.assertEqual(verdict(run(2.4, 7168, 61))["verdict"], "PASS")
        self.assertEqual(verdict(run(1.7, 7168, 61))["verdict"], "PASS")  # within a factor 1.25 of 2
        low = verdict(run(1.2, 7168, 61))
        self.assertEqual(low["verdict"], "INCONCLUSIVE", low["reason"])
        self.assertIn("a server grouping them would gain more", low["reason"])
        # One real layer's prefill stands for the whole model (the LM head runs for one
        # position per chunk) and is preferred to a reduced model at a longer context.
        one = verdict(run(2.4, 7168, 61, [3, 4]))
        self.assertEqual(one["verdict"], "PASS", one["reason"])
        self.assertIn("layers [3, 4) of 61 alone, model_prefill", one["reason"])
        self.assertEqual(verdict(run(1.2, 7168, 61, [3, 4]))["verdict"], "INCONCLUSIVE")
        short = run(2.4, 7168, 61, [3, 4])
        short["points"][0]["context"] = 65536
        self.assertEqual(verdict(run(1.2, 2048), short)["measured"]["context"], 65536)
        # Its decode leaves out an LM head that runs every token: no bound either way.
        dec = verdict(run(1.2, 7168, 61, [3, 4], op="model_decode"))
        self.assertEqual(dec["verdict"], "INCONCLUSIVE", dec["reason"])
        self.assertIn("neither direction", dec["reason"])

    def test_every_claim_gets_a_verdict_with_its_evidence(self):
        r = claims.evaluate(gpu_prefill_doc(self.GOOD))
        self.assertEqual([v["id"] for v in r["verdicts"]], [c[0] for c in claims.CLAIMS])
        for v in r["verdicts"]:
            self.assertIn(v["verdict"], ("PASS", "FAIL", "INCONCLUSIVE"))
            self.assertTrue(v["reason"])
            self.assertEqual(v["hardware"], "NVIDIA H800")
        code, out, _ = run_cli("claims", real_results("smoke-results.json"))
        self.assertEqual(code, 0)
        self.assertIn("| S-64x |", out)

    def test_a_sweep_point_attending_no_pairs_gives_no_pair_ratio(self):
        # Damaged numbers found this (the fuzzing test below): a DSA side counting 0
        # attended pairs divided by zero. Every real point attends one at least; the
        # ratio is then n/a, on a GPU at 128K and in the largest-context fallback alike.
        for points, verdicts, text in ((self.GOOD, ("PASS", "FAIL"), "pair ratio n/a"),
                                       (self.GOOD[:3], ("INCONCLUSIVE",), "pair ratio of n/a")):
            doc = gpu_prefill_doc(points)
            for p in doc["cases"][0]["points"]:
                p["dsa"]["work"] = dict(p["dsa"]["work"], pairs=0)
            v = {x["id"]: x for x in claims.evaluate(doc)["verdicts"]}["S-64x"]
            self.assertIn(v["verdict"], verdicts, v["reason"])
            self.assertIsNone(v["measured"]["pair_ratio"])
            self.assertIn(text, v["reason"])


class ClaimsSuite(unittest.TestCase):
    """suites/claims.json holds what the verdicts need: results shaped as its cases write
    them on a GPU decide every claim this harness can decide."""
    ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def json_at(self, *path):
        return json.loads(read(os.path.join(self.ROOT, *path)))

    def results_of(self, suite):
        cases = []
        for c in suite["cases"]:
            if c["op"] == "dsa_vs_dense":
                # Dense time grows with the context; DSA's is a fixed part (top-k and
                # attention over 2048 keys) plus the indexer's scan of every key.
                dense, fixed, scan = (4.377e-3, 0.2e-3, 0.954e-3) if c["phase"] == "prefill" else (2.04e-2, 0.5e-3, 2.25e-3)
                pts = [(n, dense * n / 131072, fixed + scan * n / 131072) for n in c["contexts"]]
                cases.append(fx.sweep(c["name"], c["phase"], pts, query_chunk=c["query_chunk"], batch=c.get("batch", 1)))
            elif c["op"] == "model_prefill":
                cfg = self.json_at("model", "presets", c["model"] + ".json")
                model = {"preset": c["model"], "layers": cfg["num_hidden_layers"], "hidden": cfg["hidden_size"]}
                if "layers" in c:
                    model.update(layer_range=c["layers"], with_head=False)
                pts = [(n, {"matmul": 2e-5 * n, "attention": 1e-9 * n * n}, {"matmul": 2e-5 * n, "attention": 4e-5 * n},
                        (2e-5 + 1e-9 * n) / 6e-5) for n in c["contexts"]]
                cases.append(fx.model_run(c["name"], model, pts))
            elif c["op"] == "sparse_attention" and c.get("mode") != "validate":
                cases.append(fx.sparse_case(c["name"], c["queries"], c.get("kv_cache_dtype", "bf16"), 300e3, c["context"]))
        return fx.document(cases, device="NVIDIA H100 80GB HBM3", suite=suite["suite"])

    def test_the_claims_suite_decides_what_the_harness_can_decide(self):
        suite = self.json_at("suites", "claims.json")
        self.assertEqual(suite["defaults"]["backends"], ["cuda"])  # CPU timings cannot decide a GPU figure
        doc = self.results_of(suite)
        with tempfile.TemporaryDirectory() as d:
            doc = load.load_results(fx.write(doc, d))  # the fixture is a valid results file
        r = claims.evaluate(doc)
        v = {x["id"]: x for x in r["verdicts"]}
        for cid in ("P-prefill", "P-decode", "P-short", "S-cost", "S-speed", "S-memory", "S-64x"):
            self.assertIn(v[cid]["verdict"], ("PASS", "FAIL"), f"{cid}: {v[cid]['reason']}")
        self.assertNotIn("decides nothing", v["P-short"]["reason"])  # both phases reach below half their crossover
        self.assertIn("measured by model.v32.layer3.prefill", cost.cost_model(doc)["other_source"])
        # The layer's 20 us of matrix products per token, times 61 layers, added to both paths.
        self.assertIn("Non-attention cost per token: 1220 us.", claims.markdown(r))
        self.assertIn("with 1220 us per token of non-attention cost added to both paths", v["S-cost"]["reason"])
        self.assertEqual(v["S-speed"]["measured"]["case"], "model.v32.layer3.prefill")  # real dimensions first
        self.assertEqual(v["S-speed"]["measured"]["context"], 131072)
        self.assertEqual(v["K-prefill"]["measured"]["case"], "kernel.sparse_mla.prefill.64k")
        self.assertEqual(v["K-decode"]["measured"]["case"], "kernel.sparse_mla.decode_fp8.b128")
        self.assertEqual(v["S-quality"]["verdict"], "INCONCLUSIVE")  # needs the real checkpoint
        # Without the real layer the cost ratios fall back to attention alone.
        no_layer = dict(suite, cases=[c for c in suite["cases"] if c["name"] != "model.v32.layer3.prefill"])
        fallback = cost.cost_model(self.results_of(no_layer))
        self.assertEqual(fallback["other_us_per_token"], 0.0)
        self.assertIn("no model_prefill run of the real dimensions", fallback["other_source"])


class SeveralFiles(unittest.TestCase):
    """cost, claims and render read several results files of one device together."""

    def test_prefill_and_decode_from_two_files_decide_together(self):
        prefill = gpu_prefill_doc(Claims.GOOD)
        decode = fx.document([fx.sweep("decode.real", "decode", [(4096, 1e-3, 2e-3), (131072, 40e-3, 4e-3)])],
                             suite="decode")
        with tempfile.TemporaryDirectory() as d:
            a, b = fx.write(prefill, d), fx.write(decode, d)
            doc = load.load_many([a, b])
            self.assertEqual([c["name"] for c in doc["cases"]], ["prefill.real", "decode.real"])
            self.assertEqual(doc["suite"]["name"], "fixture + decode")
            # Alone, the decode file cannot speak to the prefill claim; together they can.
            alone = next(v for v in claims.evaluate(load.load_many([b]))["verdicts"] if v["id"] == "P-prefill")
            both = next(v for v in claims.evaluate(doc)["verdicts"] if v["id"] == "P-prefill")
            self.assertIn("no timed prefill sweep", alone["reason"])
            self.assertNotIn("no timed prefill sweep", both["reason"])
            code, out, _ = run_cli("claims", a, b)
            self.assertEqual(code, 0)
            self.assertIn("fixture + decode", out)
            code, out, _ = run_cli("cost", a, b)
            self.assertEqual(code, 0)
            self.assertIn("prefill", out.lower())
            self.assertIn("decode", out.lower())
            out_dir = os.path.join(d, "report")
            code, _, _ = run_cli("render", a, b, "-o", out_dir)
            self.assertEqual(code, 0)
            md = read(os.path.join(out_dir, "report.md"))
            self.assertIn("read together from 2 results files", md)
            self.assertIn(os.path.basename(a), md)
            self.assertIn(os.path.basename(b), md)
            third = fx.write(fx.document([fx.op_case("k", 1e-3)]), d)  # suite "fixture" again: named once
            self.assertEqual(load.load_many([a, b, third])["suite"]["name"], "fixture + decode")

    def test_each_sweeps_baseline_is_judged_by_its_own_runs_ceilings(self):
        # Each run measures the ceilings itself: 250 TFLOP/s dense is 25% of the prefill
        # run's 1000 and 50% of the decode run's 500 (whatever file comes first).
        prefill = fx.document([fx.sweep("p", "prefill", [(4096, 1e-3, 1e-3)], dense_rate=(250e3, 100.0))])
        decode = fx.document([fx.sweep("d", "decode", [(4096, 1e-3, 1e-3)], dense_rate=(250e3, 100.0))])
        prefill["device_ceilings"] = {"bf16_tflops": 1000.0, "fp8_tflops": 2000.0, "copy_gbps": 3000.0}
        decode["device_ceilings"] = {"bf16_tflops": 500.0, "fp8_tflops": 1000.0, "copy_gbps": 3000.0}
        with tempfile.TemporaryDirectory() as d:
            paths = [fx.write(prefill, d), fx.write(decode, d)]
            for order in (paths, paths[::-1]):
                phases = cost.cost_model(load.load_many(order))["phases"]
                self.assertAlmostEqual(phases["prefill"]["dense_baseline"]["share"], 0.25)
                self.assertAlmostEqual(phases["decode"]["dense_baseline"]["share"], 0.50)

    def test_a_sweep_cut_short_without_its_backend_is_read_from_its_stages(self):
        doc = fx.document([fx.sweep("decode.cut", "decode", [(4096, 1e-3, 2e-3)])])
        case = doc["cases"][0]
        del case["backend"]
        self.assertEqual(load.case_backend(case), "not recorded")  # the fixture's stages are named "x"
        for stage in case["points"][0]["dsa"]["stages"].values():
            stage["implementation"] = "cuda.topk.sample"
        self.assertEqual(load.case_backend(case), "cuda")
        self.assertTrue(load.on_gpu(doc))

    def test_files_from_different_devices_or_with_a_case_twice_are_refused(self):
        one = fx.document([fx.op_case("a", 1e-3)], device="NVIDIA H100 80GB HBM3")
        other = fx.document([fx.op_case("b", 1e-3)], device="NVIDIA H800")
        again = fx.document([fx.op_case("a", 2e-3)], device="NVIDIA H100 80GB HBM3")
        with tempfile.TemporaryDirectory() as d:
            a, b, c = fx.write(one, d), fx.write(other, d), fx.write(again, d)
            code, _, err = run_cli("claims", a, b)
            self.assertEqual(code, 2)
            self.assertIn("NVIDIA H800", err)
            self.assertIn("one device", err)
            code, _, err = run_cli("cost", a, c)
            self.assertEqual(code, 2)
            self.assertIn("'a'", err)
            self.assertIn(os.path.basename(a), err)


class Malformed(unittest.TestCase):
    def expect_exit2(self, content, *needles):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.json")
            with open(path, "w") as f:
                f.write(content)
            for cmd in (["render", path, "-o", os.path.join(d, "o")], ["cost", path], ["claims", path],
                        ["compare", path, path]):
                code, _, err = run_cli(*cmd)
                self.assertEqual(code, 2, cmd)
                self.assertIn("bad.json", err)
                for n in needles:
                    self.assertIn(n, err)

    def test_not_json(self):
        self.expect_exit2("{oops", "not valid JSON", "line 1")

    def test_other_json_files_are_named_for_what_they_are(self):
        # The GPU check's folder holds GoogleTest and Google Benchmark JSON beside the
        # results: passing one by mistake names it instead of listing schema complaints.
        gtest = {"testsuites": [{"name": "CudaTopk", "tests": 1}], "tests": 1}
        self.expect_exit2(json.dumps(gtest), "not a dsa-bench results file", "a GoogleTest report")
        bench = {"context": {"date": "2026-11-23"}, "benchmarks": []}
        self.expect_exit2(json.dumps(bench), "not a dsa-bench results file", "a Google Benchmark report")
        self.expect_exit2("[1, 2]", "not a dsa-bench results file", "its top level is an array")
        self.expect_exit2(json.dumps({"schema": "other-tool"}), 'its "schema" is "other-tool"')
        doc = fx.document([fx.op_case("a", 1e-3)])
        del doc["schema"]
        self.expect_exit2(json.dumps(doc), 'no "schema" field at its top level')

    def test_missing_section(self):
        doc = fx.document([fx.op_case("a", 1e-3)])
        del doc["provenance"]
        self.expect_exit2(json.dumps(doc), "at (top level)", "'provenance' is a required property")

    def test_bad_field_names_its_path(self):
        doc = fx.document([fx.op_case("a", 1e-3)])
        doc["cases"][0]["status"] = "great"
        self.expect_exit2(json.dumps(doc), "at cases/0/status")

    def test_a_size_the_reports_divide_by_must_be_positive(self):
        # A sweep whose query chunk or a point's batch is 0 (a hand-edited or damaged file)
        # is refused by name, not a division by zero inside cost.
        doc = fx.document([fx.sweep("s", "decode", [(4096, 1e-3, 1e-3)])])
        doc["cases"][0]["params"]["query_chunk"] = 0
        self.expect_exit2(json.dumps(doc), "at cases/0/params/query_chunk")
        doc = fx.document([fx.sweep("s", "decode", [(4096, 1e-3, 1e-3)])])
        doc["cases"][0]["points"][0]["batch"] = 0
        self.expect_exit2(json.dumps(doc), "at cases/0/points/0/batch")

    def test_wrong_types_where_numbers_belong_are_refused_by_name(self):
        # Each of these, in a real run's results, once raised TypeError or ValueError in
        # cost, claims or compare (found by damaging values with other types): model
        # points and sweep stages had parts the schema did not type.
        model = load.load_results(real_results("model-results.json"))
        smoke = load.load_results(real_results("smoke-results.json"))
        m = next(i for i, c in enumerate(model["cases"]) if c.get("points"))
        s = next(i for i, c in enumerate(smoke["cases"]) if c["op"] == "dsa_vs_dense" and c.get("points"))
        damages = [
            (model, ("cases", m, "points", 0, "dense", "timing", "samples_s", 0), None),
            (model, ("cases", m, "points", 0, "dsa", "op_times", "seconds", "matmul"), "x"),
            (model, ("cases", m, "points", 0, "accuracy", "count"), []),
            (model, ("cases", m, "points", 0, "accuracy", "buckets", 0, "count"), "x"),
            (smoke, ("cases", s, "points", 0, "dsa", "stages", "attention", "timing", "median_s"), []),
            (smoke, ("cases", s, "points", 0, "dsa", "stages", "indexer", "timing", "median_s"), {}),
        ]
        for doc, where, value in damages:
            doc = fx.clone(doc)
            set_at(doc, where, value)
            self.expect_exit2(json.dumps(doc), "at " + "/".join(map(str, where)))

    def test_damaged_numbers_give_a_report_or_a_named_refusal(self):
        # Seeded damage to the real smoke and model results: one to three numbers anywhere
        # set to 0, -1, 1e300, 1e-300, 2^63 or 1e-12. Every command either reports (exit 0)
        # or refuses the file by name (exit 2); an exception escaping is a failure.
        import random
        docs = [load.load_results(real_results("smoke-results.json")),
                load.load_results(real_results("model-results.json"))]

        def numbers(o, path=()):
            if isinstance(o, dict):
                for k, v in o.items():
                    yield from numbers(v, path + (k,))
            elif isinstance(o, list):
                for i, v in enumerate(o):
                    yield from numbers(v, path + (i,))
            elif isinstance(o, (int, float)) and not isinstance(o, bool):
                yield path

        rng = random.Random(20261206)
        codes = {0: 0, 2: 0}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "damaged.json")
            for it in range(150):
                doc = fx.clone(rng.choice(docs))
                spots = list(numbers(doc))
                for _ in range(rng.randint(1, 3)):
                    set_at(doc, rng.choice(spots), rng.choice([0, -1, 1e300, -1e-300, 2**63, 1e-12]))
                with open(path, "w") as f:
                    json.dump(doc, f)
                cmds = [["cost", path], ["claims", path], ["compare", path, path]]
                if it % 50 == 0:
                    cmds.append(["render", path, "-o", os.path.join(d, "out")])
                for cmd in cmds:
                    code, _, err = run_cli(*cmd)  # an escaping exception fails the test here
                    self.assertIn(code, (0, 2), (it, cmd, err))
                    if code == 2:
                        self.assertIn("damaged.json", err)
                    codes[code] += 1
        self.assertGreater(codes[0], 100)  # most damage is to figures a report can show
        self.assertGreater(codes[2], 10)   # some breaks the schema, and is refused by name

    def test_wrong_schema_version(self):
        doc = fx.document([fx.op_case("a", 1e-3)])
        doc["schema_version"] = 2
        self.expect_exit2(json.dumps(doc), "schema_version")

    def test_a_case_twice_in_one_file(self):
        doc = fx.document([fx.op_case("a", 1e-3), fx.op_case("b", 1e-3), fx.op_case("a", 2e-3)])
        self.expect_exit2(json.dumps(doc), "at cases/2: case 'a' appears twice")

    def test_a_key_twice_in_one_object(self):
        # json.load would keep the second "status" and render a failed case as passed.
        text = json.dumps(fx.document([fx.op_case("a", 1e-3)]))
        text = text.replace('"status": ', '"status": "failed", "status": ', 1)
        self.assertIn('"status": "failed", "status": ', text)
        self.expect_exit2(text, "key 'status' given twice in one object (in the object named 'a')")

    def test_missing_file(self):
        code, _, err = run_cli("cost", "/nonexistent/results.json")
        self.assertEqual(code, 2)
        self.assertIn("no such file", err)

    def test_unreadable_inputs_and_unwritable_outputs_are_named(self):
        # Exit 2 with the path and the reason, never a traceback.
        doc = fx.document([fx.op_case("a", 1e-3)])
        with tempfile.TemporaryDirectory() as d:
            f = fx.write(doc, d)
            binary = os.path.join(d, "binary.json")
            with open(binary, "wb") as out:
                out.write(bytes(range(128, 256)))
            a_file = os.path.join(d, "a-file")
            with open(a_file, "w") as out:
                out.write("x")
            missing_dir = os.path.join(d, "no-such-folder", "x.json")
            for args, message in [
                (["cost", d], f"{d}: cannot read it: Is a directory"),
                (["cost", binary], f"{binary}: not a text file"),
                (["compare", f, f, "--confirm", d], f"{d}: cannot read it"),
                (["render", f, "-o", a_file], f"-o {a_file}: a file is there; -o names the report's folder"),
                (["cost", f, "--json", missing_dir], f"{missing_dir}: cannot write it: No such file or directory"),
                (["compare", f, f, "--json", missing_dir], f"{missing_dir}: cannot write it"),
            ]:
                with self.subTest(args=args[0:1] + args[2:]):
                    code, _, err = run_cli(*args)
                    self.assertEqual(code, 2, err)
                    self.assertIn(message, err)
                    self.assertNotIn("Traceback", err)


def scale_series(case, factor):
    """Every timed series of a case (an op's samples, each sweep point's dense and DSA) times
    `factor`."""
    series = [case.get("timing")] + [p[side]["timing"] for p in case.get("points", []) for side in ("dense", "dsa")
                                     if isinstance(p.get(side), dict) and p[side].get("timing")]
    for t in series:
        if t:
            t["samples_s"] = [x * factor for x in t["samples_s"]]
            t["median_s"] *= factor


def cpu_doc(medians):
    return fx.document([fx.op_case(f"k{i}", m, backend="cpu") for i, m in enumerate(medians)], device=None)


class RunShift(unittest.TestCase):
    """A shared CPU runs whole processes slower or faster: on 2026-12-06 the smoke suite's
    unchanged code took 1.2 to 2.4 times the baseline's time from one process to the next,
    every series alike, and each run's own samples were tight, so the rank test called them
    all SLOWER and so did the re-run. The gate judges CPU series beyond the run's shift."""

    def test_a_whole_run_slower_is_the_machine_not_a_regression(self):
        doc = load.load_results(real_results("smoke-results.json"))
        slow = fx.clone(doc)
        for c in slow["cases"]:
            scale_series(c, 1.3)
        r = compare.compare(doc, slow)
        self.assertGreaterEqual(r["run_shift"]["cpu"]["series"], compare.RUN_SHIFT_MIN_SERIES)
        self.assertAlmostEqual(r["run_shift"]["cpu"]["shift"], 0.3)
        self.assertEqual({x["verdict"] for x in r["rows"]}, {"SAME"})
        self.assertEqual(r["exit_code"], 0)
        row = r["rows"][0]
        self.assertAlmostEqual(row["change"], 0.3)  # the raw change is shown beside the one beyond the run
        self.assertAlmostEqual(row["change_beyond_run"], 0.0)
        text = compare.markdown(r)
        self.assertIn("**The whole run was slower on the CPU**", text)
        self.assertIn("+30.0% (+0.0%)", text)
        # A kernel slower beyond the run's shift is still a regression.
        worse = next(c for c in slow["cases"] if c["name"] == "topk.gaussian")
        samples = worse["timing"]["samples_s"]
        scale_series(worse, max(1.5, 1.05 * max(samples) / min(samples)))
        r = compare.compare(doc, slow)
        verdicts = {(x["case"], x["series"]): x["verdict"] for x in r["rows"]}
        self.assertEqual(verdicts.pop(("topk.gaussian", "")), "SLOWER")
        self.assertEqual(set(verdicts.values()), {"SAME"})
        self.assertEqual(r["exit_code"], 1)

    def test_part_of_the_run_slower_is_not_taken_for_the_machine(self):
        # A regression of the kernels half the series share (the top-k under every DSA
        # point, say) leaves the lower quartile near zero: nothing is taken off.
        base = cpu_doc([1e-3] * 12)
        cur = cpu_doc([1.3e-3] * 6 + [1e-3] * 6)
        r = compare.compare(base, cur)
        self.assertEqual(r["run_shift"]["cpu"]["shift"], 0.0)
        self.assertIn("fewer than three quarters", r["run_shift"]["cpu"]["note"])
        self.assertEqual([x["verdict"] for x in r["rows"]], ["SLOWER"] * 6 + ["SAME"] * 6)
        self.assertNotIn("change_beyond_run", r["rows"][0])
        # Nine of twelve slower is three quarters: the machine, unless the rest are faster.
        r = compare.compare(base, cpu_doc([1.3e-3] * 9 + [1e-3] * 3))
        self.assertAlmostEqual(r["run_shift"]["cpu"]["shift"], 0.3)
        self.assertEqual([x["verdict"] for x in r["rows"]], ["SAME"] * 9 + ["FASTER"] * 3)
        self.assertEqual(r["exit_code"], 0)

    def test_few_series_a_gpu_or_another_build_get_no_shift(self):
        base, cur = cpu_doc([1e-3] * 7), cpu_doc([1.3e-3] * 7)
        r = compare.compare(base, cur)
        self.assertEqual((r["run_shift"]["cpu"]["shift"], r["exit_code"]), (0.0, 1))
        self.assertIn("fewer than 8", r["run_shift"]["cpu"]["note"])
        # A CPU regression from one process a side points to the A/B gate.
        self.assertIn("time both builds side by side: `scripts/run.sh SUITE --against 0123456789`",
                      compare.markdown(r))
        rounds_r = compare.compare(rounds.pool([base] * 6), rounds.pool([cur] * 6))
        self.assertEqual((rounds_r["rounds"], rounds_r["exit_code"]), (6, 1))
        self.assertNotIn("side by side", compare.markdown(rounds_r))
        # Timed side by side, a whole run 30% slower is the code's, not the machine's.
        base12, cur12 = cpu_doc([1e-3] * 12), cpu_doc([1.3e-3] * 12)
        self.assertAlmostEqual(compare.compare(base12, cur12)["run_shift"]["cpu"]["shift"], 0.3)
        ab = compare.compare(rounds.pool([base12] * 6), rounds.pool([cur12] * 6))
        self.assertEqual((ab["run_shift"]["cpu"]["shift"], ab["exit_code"]), (0.0, 1))
        self.assertIn("timed side by side", ab["run_shift"]["cpu"]["note"])
        gpu = lambda m: fx.document([fx.op_case(f"k{i}", m) for i in range(12)])
        r = compare.compare(gpu(1e-3), gpu(1.3e-3))
        self.assertEqual(r["run_shift"]["cuda"]["shift"], 0.0)
        self.assertEqual({x["verdict"] for x in r["rows"]}, {"SLOWER"})
        self.assertNotIn("side by side", compare.markdown(r))  # GPU processes hold their speed
        base, cur = cpu_doc([1e-3] * 12), cpu_doc([1.3e-3] * 12)
        cur["provenance"]["compiler"] = "gcc 13.1.0"  # a new compiler may slow every kernel alike
        r = compare.compare(base, cur)
        self.assertEqual({x["verdict"] for x in r["rows"]}, {"SLOWER"})
        self.assertIn("the compiler differs ('gcc' in the baseline, 'gcc 13.1.0' now)", r["run_shift"]["cpu"]["note"])
        self.assertIn("The CPU series moved by +30.0% or more (three quarters of 12), but the run-wide shift was not "
                      "applied", compare.markdown(r))
        cur["provenance"]["compiler"] = "gcc"
        cur["provenance"]["threads"] = 2
        self.assertIn("threads differs", compare.compare(base, cur)["run_shift"]["cpu"]["note"])

    def test_a_rerun_is_judged_beyond_the_same_shift(self):
        base = cpu_doc([1e-3] * 12)
        cur = cpu_doc([1.3e-3] * 11 + [2.6e-3])
        slow = "k11"
        self.assertEqual(next(x for x in compare.compare(base, cur)["rows"] if x["case"] == slow)["verdict"], "SLOWER")
        for rerun_median, verdict in ((1.3e-3, "NOISE"), (2.6e-3, "SLOWER")):
            rerun = fx.document([fx.op_case(slow, rerun_median, backend="cpu")], device=None)
            r = compare.compare(base, cur, confirm=rerun)
            row = next(x for x in r["rows"] if x["case"] == slow)
            self.assertEqual(row["verdict"], verdict)
            self.assertAlmostEqual(row["rerun"]["change"], rerun_median / 1e-3 - 1)


class Rounds(unittest.TestCase):
    """scripts/ab_run.py's rounds made one document a side: one value a round, its median."""

    def test_every_timing_record_holds_its_rounds_medians(self):
        doc = load.load_results(real_results("smoke-results.json"))
        second, third = fx.clone(doc), fx.clone(doc)
        for c in second["cases"]:
            scale_series(c, 2.0)
        for c in third["cases"]:
            scale_series(c, 0.5)
        before = fx.clone(doc)
        pooled = rounds.pool([doc, second, third])
        self.assertEqual(doc, before)  # the rounds themselves are left as they ran
        self.assertEqual(pooled["pooled_rounds"], 3)
        for c, c1 in zip(pooled["cases"], doc["cases"]):
            for (label, s), (_, s1) in zip(compare._series(c), compare._series(c1)):
                m = statistics.median(s1)
                self.assertEqual(len(s), 3, f"{c['name']} {label}")
                for got, want in zip(s, (m, 2 * m, 0.5 * m)):
                    self.assertAlmostEqual(got, want, delta=1e-12 * m)
        sweep = next(c for c in pooled["cases"] if c["op"] == "dsa_vs_dense")
        stage = sweep["points"][0]["dsa"]["stages"]["topk"]["timing"]
        self.assertEqual((stage["count"], len(stage["samples_s"])), (3, 3))  # stages too

    def test_a_failure_in_any_round_is_kept(self):
        ok = fx.document([fx.op_case("a", 1e-3), fx.op_case("b", 1e-3)])
        bad = fx.document([fx.op_case("a", 1e-3, status="failed"), fx.op_case("b", 2e-3)])
        pooled = rounds.pool([ok, bad])
        self.assertEqual(pooled["cases"][0]["status"], "failed")
        self.assertEqual(pooled["cases"][1]["timing"]["samples_s"], [1e-3, 2e-3])
        r = compare.compare(fx.document([fx.op_case("a", 1e-3), fx.op_case("b", 1e-3)]), pooled)
        self.assertEqual([x["verdict"] for x in r["rows"] if x["case"] == "a"], ["FAIL"])
        with self.assertRaises(load.ResultsError):
            rounds.pool([])

    def test_processes_not_samples_decide(self):
        # Each process keeps one speed (0.53 / 0.65 / 0.80 ms seen on 2026-12-06), both
        # builds alike: pooled samples would call them apart, the rounds' medians do not.
        def side(speeds):
            return [fx.document([fx.op_case("k", s, backend="cpu")], device=None) for s in speeds]
        base = side([0.63e-3, 0.53e-3, 0.67e-3, 0.54e-3, 0.65e-3, 0.80e-3])
        cur = side([0.56e-3, 0.75e-3, 0.81e-3, 0.54e-3, 0.53e-3, 0.66e-3])
        r = compare.compare(rounds.pool(base), rounds.pool(cur))
        self.assertNotEqual(r["rows"][0]["verdict"], "SLOWER")
        self.assertEqual(r["exit_code"], 0)
        # A build 50% slower in every process is told at six rounds a side.
        slow = side([1.5 * x for x in (0.63e-3, 0.53e-3, 0.67e-3, 0.54e-3, 0.65e-3, 0.80e-3)])
        r = compare.compare(rounds.pool(base), rounds.pool(slow))
        self.assertEqual((r["rows"][0]["verdict"], r["exit_code"]), ("SLOWER", 1))

    def test_gpu_clocks_pool_beside_their_samples(self):
        one, two = fx.document([fx.op_case("k", 1e-3)]), fx.document([fx.op_case("k", 1e-3)])
        one["cases"][0]["sm_clock_mhz"], two["cases"][0]["sm_clock_mhz"] = [1980] * 7, [1700] * 7
        pooled = rounds.pool([one, two])
        self.assertEqual(pooled["cases"][0]["sm_clock_mhz"], [1980] * 7 + [1700] * 7)


if __name__ == "__main__":
    unittest.main()
