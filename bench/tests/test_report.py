import contextlib
import io
import json
import tempfile
import unittest
from pathlib import Path

from kitchen_bench.cli import parse_args, rejudge
from kitchen_bench.report import render_markdown, write_report
from kitchen_bench.verdict import evaluate

from .fixtures import cpu, engine, hashed_run, results, run

STORED = Path(__file__).resolve().parents[2] / "docs" / "bench" / "results.json"


def rendered(res: dict, **kw) -> str:
    res["targets"] = evaluate(res)
    return render_markdown(res, "bench", chart_ok=kw.pop("chart_ok", True), **kw)


def table_row(text: str, *cells: str) -> str:
    return next(line for line in text.splitlines()
                if line.startswith("|") and all(c in line for c in cells))


class ReportTests(unittest.TestCase):
    def test_hashing_targets_read_against_the_all_cores_rate(self):
        res = results({"sqlite": engine([hashed_run(114, all_cores=120, ceiling=142.5)],
                                        [hashed_run(105, all_cores=120, ceiling=142.5)])})
        text = rendered(res)
        login = table_row(text, "| sqlite |", "logins/s vs all-cores hash rate")
        self.assertIn("95.0%", login)
        self.assertIn("**PASS**", login)
        register = table_row(text, "| sqlite |", "registrations/s")
        self.assertIn("87.5%", register)
        self.assertIn("**MISS**", register)
        self.assertIn("95% of all-cores hash rate", table_row(text, "2. POST /token/"))

    def test_the_single_hash_ceiling_is_shown_for_information_with_its_reason(self):
        res = results({"sqlite": engine([hashed_run(114, all_cores=120, ceiling=142.5)],
                                        [hashed_run(114, all_cores=120, ceiling=142.5)])})
        text = rendered(res)
        self.assertIn("For information, against the single-hash ceiling", text)
        self.assertIn("logins made 80%", text)
        self.assertIn("do not share one L3 cache for free", text)
        self.assertNotIn("vs hash ceiling", text)

    def test_every_target_has_a_row(self):
        res = results()
        text = rendered(res)
        for t in res["targets"]["sqlite"]:
            table_row(text, "| sqlite |", t["target"])

    def test_a_quick_run_says_its_figures_are_not_to_be_compared(self):
        self.assertIn("Quick smoke run", rendered(results(quick=True)))
        self.assertNotIn("Quick smoke run", rendered(results()))

    def test_a_shared_machine_is_announced_and_its_ratios_marked(self):
        noisy = [run(60_000, cycle="c0", norm_rps=90_000, cpu=cpu(other=40, server=30))]
        res = results({"sqlite": engine([hashed_run(120, 127, 142)],
                                        [hashed_run(120, 127, 142)], get_me=noisy)},
                      noisy_threshold=0.5)
        text = rendered(res)
        self.assertIn("The machine was shared during this run", text)
        self.assertIn("*(n)*", table_row(text, "| sqlite |", "throughput vs baseline"))

    def test_links_to_the_chart_and_the_decisions_only_when_they_exist(self):
        res = results()
        self.assertIn("(bench/chart.png)", rendered(res))
        self.assertNotIn("chart.png", rendered(res, chart_ok=False))
        self.assertNotIn("decisions/", rendered(res))
        self.assertIn("decisions/", rendered(res, decisions=True))

    def test_write_report_writes_the_figures_and_the_report(self):
        res = results()
        res["targets"] = evaluate(res)
        with tempfile.TemporaryDirectory() as d:
            doc, data = Path(d) / "docs" / "BENCHMARKS.md", Path(d) / "docs" / "bench"
            with contextlib.redirect_stderr(io.StringIO()):  # "chart failed" without matplotlib
                write_report(res, doc, data)
            self.assertEqual(json.loads((data / "results.json").read_text())["targets"],
                             res["targets"])
            text = doc.read_text()
            self.assertTrue(text.startswith("# Benchmarks"))
            self.assertEqual("chart.png)" in text, (data / "chart.png").exists())


class StoredResultsTests(unittest.TestCase):
    @unittest.skipUnless(STORED.exists(), "no docs/bench/results.json in this checkout")
    def test_the_stored_run_is_judged_again_and_rendered(self):
        res = rejudge(json.loads(STORED.read_text()))
        text = render_markdown(res, "bench", chart_ok=False)
        for engine_name, ts in res["targets"].items():
            hashing = [t for t in ts if "all-cores hash rate" in t["target"]]
            self.assertEqual(len(hashing), 2)
            for t in hashing:
                self.assertIsNotNone(t["ratio"])
                table_row(text, f"| {engine_name} |", t["target"])
        self.assertIn("judged again", text)


class CommandLineTests(unittest.TestCase):
    def test_quick_defaults(self):
        a = parse_args(["--quick"])
        self.assertEqual((a.runs, a.duration, a.slices, a.users), (1, 3.0, 1, 20_000))
        a = parse_args([])
        self.assertEqual((a.runs, a.duration, a.slices, a.users), (3, 10.0, 5, 1_000_000))

    def test_bad_options_are_refused(self):
        for argv in (["--engines", "mysql"], ["--duration", "3", "--slices", "5"],
                     ["--merge-into", "x.json"], ["--only", "uploads", "--no-uploads"],
                     ["--upload-connections", "0"]):
            err = io.StringIO()
            with self.assertRaises(SystemExit), contextlib.redirect_stderr(err):
                parse_args(argv)
            self.assertIn("error:", err.getvalue())


if __name__ == "__main__":
    unittest.main()
