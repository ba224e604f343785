"""scripts/micro_table.py: the table gpu-check --micro prints from the CUDA
micro-benchmarks' JSON."""
import importlib.util
import io
import json
import os
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("micro_table", os.path.join(ROOT, "scripts", "micro_table.py"))
micro_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(micro_table)


def bench(name, **fields):
    return dict({"name": name, "run_name": name, "run_type": "iteration", "real_time": 100.0, "time_unit": "us"}, **fields)


class MicroTableTest(unittest.TestCase):
    def test_rows_grouped_by_context_with_rates_in_microseconds(self):
        text = micro_table.table([{"benchmarks": [
            bench("BM_B/131072/manual_time", real_time=0.5, time_unit="ms", TFLOPS=200.0, **{"GB/s": 1530.4}),
            bench("BM_A/131072/manual_time", real_time=250000.0, time_unit="ns", TFLOPS=400.0, **{"GB/s": 3001.0}),
            bench("BM_B/4096/manual_time", real_time=20.0)]}])
        lines = text.splitlines()
        self.assertEqual(lines[2], "| BM_B | 4096 | 20.0 |  |  |  |")  # smallest context first
        self.assertEqual(lines[3], "| BM_A | 131072 | 250.0 | 400.0 | 3001 |  |")  # ns -> us
        self.assertEqual(lines[4], "| BM_B | 131072 | 500.0 | 200.0 | 1530 |  |")  # ms -> us

    def test_a_skipped_benchmark_shows_its_reason_not_a_time(self):
        text = micro_table.table([{"benchmarks": [
            bench("BM_X/65536/manual_time", error_occurred=True, real_time=0.0,
                  error_message="not run: cuda.indexer.keyrows hung in its first-run tests")]}])
        self.assertIn("| BM_X | 65536 |  |  |  | not run: cuda.indexer.keyrows hung", text)

    def test_aggregates_are_left_out_and_an_empty_run_says_so(self):
        text = micro_table.table([{"benchmarks": [bench("BM_X/8/manual_time_mean", run_type="aggregate")]}])
        self.assertEqual(text, "no micro-benchmark results")

    def test_a_candidate_is_compared_with_its_default_where_both_ran(self):
        docs = [{"benchmarks": [
            bench("BM_Base/4096/manual_time", real_time=20.0), bench("BM_New/4096/manual_time", real_time=10.0),
            bench("BM_Base/65536/manual_time", real_time=300.0), bench("BM_New/65536/manual_time", real_time=400.0),
            bench("BM_New/131072/manual_time", real_time=1.0),  # no default there: not compared
            bench("BM_Base/8/manual_time", real_time=5.0),
            bench("BM_New/8/manual_time", error_occurred=True, error_message="not run", real_time=0.0)]}]
        lines = micro_table.comparisons(docs, [("BM_Base", "BM_New"), ("BM_Missing", "BM_New")])
        self.assertEqual(lines, ["- BM_New against BM_Base: 4096: 2.00x, 65536: 0.75x (faster at some contexts only)"])
        faster = micro_table.comparisons([{"benchmarks": [bench("BM_A/1/manual_time", real_time=2.0),
                                                          bench("BM_B/1/manual_time", real_time=1.0)]}], [("BM_A", "BM_B")])
        self.assertIn("(faster at every context)", faster[0])

    def test_extra_arguments_keep_rows_apart_and_stages_are_differenced(self):
        docs = [{"benchmarks": [
            bench("BM_S/65536/1/manual_time", real_time=10.0), bench("BM_S/65536/2/manual_time", real_time=55.0),
            bench("BM_S/65536/3/manual_time", real_time=70.5),
            bench("BM_T/4096/1/manual_time", real_time=1.0),  # a stage missing: no line
            bench("BM_T/4096/2/manual_time", error_occurred=True, error_message="x", real_time=0.0)]}]
        self.assertIn("| BM_S/2 | 65536 | 55.0 |", micro_table.table(docs))
        lines = micro_table.stage_lines(docs, {"BM_S": ["bound", "filter", "select"], "BM_T": ["a", "b"]})
        self.assertEqual(lines, ["- BM_S at 65536: bound 10.0 us, filter 45.0 us, select 15.5 us (all 70.5 us)"])

    def test_the_shipped_stages_name_real_families(self):
        with open(os.path.join(ROOT, "bench", "micro_cuda.cpp")) as f:
            source = f.read()
        for family in micro_table.STAGES:
            self.assertIn(f"BENCHMARK({family})", source)

    def test_the_shipped_pairs_name_real_families(self):
        with open(os.path.join(ROOT, "bench", "micro_cuda.cpp")) as f:
            source = f.read()
        for base, cand in micro_table.PAIRS:
            self.assertIn(f"BENCHMARK({base})", source)
            self.assertIn(f"BENCHMARK({cand})", source)

    def test_an_unreadable_file_fails_the_table_but_keeps_the_others(self):
        with tempfile.TemporaryDirectory() as d:
            ok = os.path.join(d, "ok.json")
            with open(ok, "w") as f:
                json.dump({"benchmarks": [bench("BM_Y/1/manual_time")]}, f)
            bad = os.path.join(d, "bad.json")
            with open(bad, "w") as f:
                f.write("{")
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                rc = micro_table.main(["micro_table.py", ok, bad])
            self.assertEqual(rc, 1)
            self.assertIn("| BM_Y | 1 | 100.0 |", out.getvalue())
            self.assertIn("bad.json: no results", err.getvalue())


if __name__ == "__main__":
    unittest.main()
