import json
import tempfile
import unittest
from pathlib import Path

from kitchen_bench.cli import parse_args, rejudge
from kitchen_bench.common import BenchError
from kitchen_bench.report import render_markdown
from kitchen_bench.uploads import (BASELINE_SRC, PICTURES_SRC, SHARED_CONSTANTS,
                                   check_constants, constants_of, evaluate_uploads, merge,
                                   pool_size, rust_constants, summarize)
from kitchen_bench.verdict import evaluate

from .fixtures import results, uploads
from .test_report import STORED, rendered, table_row


def row(rows: list[dict], name: str) -> dict:
    return next(r for r in rows if r["target"].startswith(name))


class PoolSizeTests(unittest.TestCase):
    def test_unset_or_zero_is_half_the_cores_and_at_least_one(self):
        for env in ({}, {"KITCHEN_API_PICTURE_CONCURRENCY": "0"}):
            self.assertEqual(pool_size(env, 2), 1)
            self.assertEqual(pool_size(env, 8), 4)
            self.assertEqual(pool_size(env, 1), 1)

    def test_a_setting_wins_and_junk_is_refused(self):
        self.assertEqual(pool_size({"KITCHEN_API_PICTURE_CONCURRENCY": " 3 "}, 2), 3)
        with self.assertRaises(BenchError):
            pool_size({"KITCHEN_API_PICTURE_CONCURRENCY": "many"}, 2)


class ConstantsTests(unittest.TestCase):
    def test_rust_integer_constants_are_read_and_evaluated(self):
        src = """
            pub const MAX_PICTURE_BYTES: usize = 5 * 1024 * 1024;
            pub const MAX_PIXELS: u64 = 50_000_000;
            pub const MAX_DECODE_BYTES: u64 = MAX_PIXELS * 4;
            const UNKNOWN: u64 = ELSEWHERE * 2;
            pub(crate) const FIT: u32 = 512;
            const JPEG_QUALITY: u8 = 85u8; // trailing comment
            pub const NAME: &str = "profile-pictures";
            let not_a_const = 3;
        """
        self.assertEqual(rust_constants(src), {"MAX_PICTURE_BYTES": 5 * 2**20,
                                               "MAX_PIXELS": 50_000_000,
                                               "MAX_DECODE_BYTES": 200_000_000, "FIT": 512,
                                               "JPEG_QUALITY": 85})

    def test_the_baseline_has_every_shared_constant(self):
        got = constants_of([BASELINE_SRC])
        self.assertEqual(set(SHARED_CONSTANTS) - set(got), set())

    def test_the_baseline_uses_the_services_constants(self):
        # Reads src/pictures (the service's picture pipeline): the baseline must do the same
        # work, or its images/s is not what the uploads are judged against.
        self.assertTrue(PICTURES_SRC.is_dir(), f"{PICTURES_SRC} is missing")
        self.assertEqual(check_constants(), {"MAX_PICTURE_BYTES": 5 * 1024 * 1024,
                                             "MAX_PIXELS": 50_000_000,
                                             "MAX_DECODE_BYTES": 200_000_000, "FIT": 512,
                                             "JPEG_QUALITY": 85})


class VerdictTests(unittest.TestCase):
    def test_uploads_are_judged_against_the_library_alone_cycle_by_cycle(self):
        # Cycle by cycle: 17/20, 16/20, 30/40 -> median 0.80; the medians' ratio would be
        # 17/20 = 0.85.
        up = uploads(images_per_s=(20, 20, 40), uploads_rps=(17, 16, 30))
        r = row(evaluate_uploads(up), "picture uploads/s")
        self.assertAlmostEqual(r["ratio"], 0.80)
        self.assertTrue(r["pass"])
        r = row(evaluate_uploads(uploads(images_per_s=(20,), uploads_rps=(15,))),
                "picture uploads/s")
        self.assertAlmostEqual(r["ratio"], 0.75)
        self.assertFalse(r["pass"])

    def test_on_a_shared_machine_the_cpu_per_picture_is_compared_instead(self):
        # The library: 40 % of 2 cores for 20 images/s = 40 ms of CPU an image; the server:
        # 50 % of 2 cores for 17 uploads/s = 58.8 ms an upload; the measured rates say 85 %.
        up = uploads(images_per_s=(20,), uploads_rps=(17,), other=40.0)
        r = row(evaluate_uploads(up), "picture uploads/s")
        self.assertAlmostEqual(r["ratio"], 0.040 / (1.0 / 17))
        self.assertEqual(r["basis"], "CPU-normalized")
        self.assertFalse(r["pass"])
        self.assertIn("*(c)*", table_row(rendered(merge(results(), up)),
                                         "7. PUT /users/me/picture/"))

    def test_each_cycles_p99_ratio_is_listed_so_a_median_cannot_hide_a_tail(self):
        up = uploads(images_per_s=(20, 20, 20), uploads_rps=(17, 17, 17))
        for r, p99 in zip(up["runs"]["storm_get_me"], (4.0, 40.0, 5.0)):
            r["latency_us"]["p99"] = p99 * 1000
        text = rendered(merge(results(), summarize(up)))
        self.assertIn("lowest first: 2.0, 2.5, 20.0 (1 of 3 over 3×)", text)

    def test_an_upload_error_fails_the_throughput_target(self):
        r = row(evaluate_uploads(uploads(errors=3)), "picture uploads/s")
        self.assertFalse(r["pass"])
        self.assertIn("errors: 3", r["goal"])

    def test_the_cheap_paths_p99_during_the_storm_is_held_to_three_times_alone(self):
        ok = row(evaluate_uploads(uploads(ref_p99_ms=2.0, storm_p99_ms=5.8)), "GET /users/me/")
        self.assertAlmostEqual(ok["ratio"], 2.9)
        self.assertTrue(ok["pass"])
        bad = row(evaluate_uploads(uploads(ref_p99_ms=2.0, storm_p99_ms=6.2)), "GET /users/me/")
        self.assertFalse(bad["pass"])

    def test_peak_rss_is_held_to_the_pool_times_the_pixel_bound(self):
        up = uploads(pool=2, idle_kib=16 * 1024, hwm_kib=100 * 1024)
        r = row(evaluate_uploads(up), "peak RSS")
        parts = up["memory_bound"]["parts"]
        self.assertAlmostEqual(parts["pool × job bound"], 2 * 50_000_000 * 9 / 2**20)
        self.assertAlmostEqual(parts["bodies in flight"], 20.0)
        self.assertAlmostEqual(up["memory_bound"]["total"], 16 + 858.3069 + 20 + 32, places=3)
        self.assertTrue(r["pass"])
        self.assertAlmostEqual(r["value"], 100.0)
        r = row(evaluate_uploads(uploads(pool=1, hwm_kib=520 * 1024)), "peak RSS")
        self.assertFalse(r["pass"])


class MergeTests(unittest.TestCase):
    def test_a_merged_upload_run_keeps_the_other_figures_and_adds_its_rows(self):
        earlier = results()
        earlier["targets"] = evaluate(earlier)
        before = [t["target"] for t in earlier["targets"]["sqlite"]]
        merged = merge(earlier, uploads())
        merged["targets"] = evaluate(merged)
        after = [t["target"] for t in merged["targets"]["sqlite"]]
        self.assertEqual(after[:len(before)], before)
        self.assertEqual(len(after), len(before) + 3)
        self.assertIs(merged["engines"], earlier["engines"])
        text = render_markdown(merged, "bench", chart_ok=False)
        self.assertIn("## Uploads", text)
        self.assertIn("merged into the figures of the run above", text)
        self.assertIn("85.0%", table_row(text, "| sqlite |", "picture uploads/s"))
        table_row(text, "| sqlite |", "GET /users/me/ p99 during upload storm")
        table_row(text, "7. PUT /users/me/picture/")
        self.assertIn("7. `PUT /users/me/picture/`", text)

    def test_merged_figures_are_judged_again_from_results_json(self):
        merged = merge(results(), uploads())
        stored = json.loads(json.dumps(merged, default=str))
        del stored["uploads"]["median"]
        res = rejudge(stored)
        self.assertTrue(any(t["target"].startswith("picture uploads/s")
                            for t in res["targets"]["sqlite"]))

    def test_a_full_runs_own_uploads_are_not_called_merged(self):
        res = results()
        res["uploads"] = uploads()
        text = rendered(res)
        self.assertIn("## Uploads", text)
        self.assertNotIn("merged into the figures of the run above", text)

    def test_the_handlers_own_p99_is_shown_beside_wrks(self):
        up = uploads()
        up["runs"]["storm_get_me"][0]["server_latency"] = {"p99_bound_ms": 0.1,
                                                           "le_pct": {"0.001": 99.9}}
        text = rendered(merge(results(), summarize(up)))
        self.assertIn("99 % took at most 0.1 ms during the storm.", text)

    def test_a_run_without_uploads_has_no_upload_section(self):
        text = rendered(results())
        self.assertNotIn("## Uploads", text)
        self.assertNotIn("7. `PUT", text)

    @unittest.skipUnless(STORED.exists(), "no docs/bench/results.json in this checkout")
    def test_the_stored_results_can_take_an_upload_run(self):
        res = rejudge(merge(json.loads(STORED.read_text()), uploads()))
        self.assertIn("## Uploads", render_markdown(res, "bench", chart_ok=False))


class CommandLineTests(unittest.TestCase):
    def test_only_uploads_merges_into_the_stored_results_by_default(self):
        with tempfile.TemporaryDirectory() as d:
            a = parse_args(["--only", "uploads", "--data-dir", d])
            self.assertEqual(a.merge_into, Path(d).resolve() / "results.json")
        self.assertIsNone(parse_args([]).merge_into)


if __name__ == "__main__":
    unittest.main()
