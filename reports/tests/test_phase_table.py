"""scripts/phase_table.py: the table gpu-check --phases prints from the profiled
kernels' micro-benchmarks."""
import importlib.util
import io
import json
import os
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("phase_table", os.path.join(ROOT, "scripts", "phase_table.py"))
phase_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(phase_table)


def bench(name, **fields):
    return dict({"name": name, "run_type": "iteration", "real_time": 100.0, "time_unit": "us"}, **fields)


class PhaseTableTest(unittest.TestCase):
    def test_phases_largest_first_with_shares_of_their_total(self):
        text = phase_table.render({"benchmarks": [
            bench("BM_TopkPhases", sample_us=1.0, collect_us=6.0, write_us=3.0, plain_us=90.0, exact_rows=2)]})
        lines = text.splitlines()
        self.assertIn("BM_TopkPhases", lines[0])
        self.assertEqual([l.split()[0] for l in lines[1:4]], ["collect", "write", "sample"])
        self.assertIn("60.0%", lines[1])
        self.assertIn("10.0%", lines[3])
        self.assertRegex(lines[4], r"total\s+10\.000 us")
        # plain_us is the plain kernel's time, not a phase: listed with the other counters.
        self.assertIn("plain_us 90", lines[5])
        self.assertIn("exact_rows 2", lines[5])

    def test_warpgroups_side_by_side_are_totalled_apart(self):
        text = phase_table.render({"benchmarks": [
            bench("BM_SeesawPhases", wg0_scores_a_us=3.0, wg0_pv_a_us=1.0, wg1_scores_b_us=1.0, wg1_pv_b_us=1.0)]})
        lines = text.splitlines()
        self.assertEqual([l.split()[0] for l in lines[1:]], ["wg0_scores_a", "wg0_pv_a", "total",
                                                            "wg1_scores_b", "wg1_pv_b", "total"])
        self.assertIn("75.0%", lines[1])
        self.assertRegex(lines[3], r"total\s+4\.000 us")
        self.assertIn("50.0%", lines[4])
        self.assertRegex(lines[6], r"total\s+2\.000 us")

    def test_a_failed_benchmark_shows_its_error_and_no_phases(self):
        text = phase_table.render({"benchmarks": [
            bench("BM_MqaPhases", error_occurred=True, error_message="the profiled kernel's output differs")]})
        self.assertIn("ERROR: the profiled kernel's output differs", text)
        self.assertNotIn("total", text)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "failed.json")
            with open(path, "w") as f:
                json.dump({"benchmarks": [bench("BM_MqaPhases", error_occurred=True, error_message="differs")]}, f)
            with redirect_stdout(io.StringIO()):
                self.assertEqual(phase_table.main(["phase_table.py", path]), 1)

    def test_aggregates_are_skipped_and_missing_counters_said(self):
        text = phase_table.render({"benchmarks": [bench("BM_X_mean", run_type="aggregate", a_us=1.0),
                                                  bench("BM_Y")]})
        self.assertNotIn("BM_X_mean", text)
        self.assertIn("no phase counters", text)

    def test_unreadable_file_fails_naming_it_and_the_others_still_print(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "crashed.json")
            with open(path, "w") as f:
                f.write("{truncated")
            ok = os.path.join(d, "ok.json")
            with open(ok, "w") as f:
                json.dump({"benchmarks": [bench("BM_Z", a_us=2.0)]}, f)
            err, out = io.StringIO(), io.StringIO()
            with redirect_stderr(err), redirect_stdout(out):
                rc = phase_table.main(["phase_table.py", path, ok, os.path.join(d, "missing.json")])
            self.assertEqual(rc, 1)
            self.assertIn(path, err.getvalue())
            self.assertIn("missing.json", err.getvalue())
            self.assertIn("BM_Z", out.getvalue())
            self.assertIn("100.0%", out.getvalue())
            out = io.StringIO()
            with redirect_stdout(out):
                self.assertEqual(phase_table.main(["phase_table.py", ok]), 0)


if __name__ == "__main__":
    unittest.main()
