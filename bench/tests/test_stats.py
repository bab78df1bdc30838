import unittest

from kitchen_bench.common import BenchError
from kitchen_bench.stats import (bracket, ceiling_had, judged_slope, medians, normalized_rps,
                                 paired_ratio, parse_cpu_line, parse_me_buckets,
                                 parse_pid_stat, parse_wrk, rss_slope, server_latency)

from .fixtures import cpu, hashed_run, run

WRK_OUT = """Running 10s test @ http://127.0.0.1:1234
WRK_JSON {"requests":1000,"duration_s":10.0,"bytes":5,"rps":100.0,"latency_us":{"p50":1.0,\
"p90":2.0,"p99":3.0,"max":4.0,"mean":1.5,"stdev":0.5},"errors":{"connect":1,"read":2,\
"write":0,"status":3,"timeout":4}}
"""


class ParsingTests(unittest.TestCase):
    def test_wrk_summary_is_read_from_its_json_line_with_every_error_kind_summed(self):
        r = parse_wrk(WRK_OUT, "get_me")
        self.assertEqual(r["requests"], 1000)
        self.assertEqual(r["latency_us"]["p99"], 3.0)
        self.assertEqual(r["errors_total"], 10)

    def test_wrk_output_without_a_summary_is_an_error_that_shows_the_output(self):
        with self.assertRaises(BenchError) as e:
            parse_wrk("unable to connect to 127.0.0.1:1\n", "login")
        self.assertIn("unable to connect", str(e.exception))

    def test_proc_stat_line_splits_busy_interrupts_and_steal(self):
        # user nice system idle iowait irq softirq steal guest guest_nice
        busy, irq, steal = parse_cpu_line("cpu  100 5 50 1000 20 3 7 11 0 0")
        self.assertEqual(busy, 100 + 5 + 50 + 3 + 7 + 11)
        self.assertEqual(irq, 10)
        self.assertEqual(steal, 11)

    def test_a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields(self):
        fields = " ".join(str(n) for n in range(4, 20))  # field n holds n
        comm, ticks = parse_pid_stat(f"42 (kitchen (hash) 1) S {fields}")
        self.assertEqual(comm, "kitchen (hash) 1")
        # utime and stime are fields 14 and 15 (proc(5)).
        self.assertEqual(ticks, 14 + 15)

    def test_only_the_get_me_histogram_is_read_from_the_metrics(self):
        text = (
            'kitchen_api_http_request_duration_seconds_bucket{method="GET",route="/users/me",'
            'status="200",le="0.001"} 90\n'
            'kitchen_api_http_request_duration_seconds_bucket{method="GET",route="/users/me",'
            'status="200",le="+Inf"} 100\n'
            'kitchen_api_http_request_duration_seconds_bucket{method="POST",route="/token",'
            'status="200",le="+Inf"} 7\n')
        self.assertEqual(parse_me_buckets(text), {"0.001": 90, "+Inf": 100})


class FigureTests(unittest.TestCase):
    def test_server_latency_takes_the_difference_between_two_readings(self):
        before = {"0.0001": 10, "0.001": 50, "+Inf": 100}
        after = {"0.0001": 910, "0.001": 1045, "+Inf": 1100}
        sl = server_latency(before, after)
        self.assertEqual(sl["requests"], 1000)
        self.assertAlmostEqual(sl["le_pct"]["0.0001"], 90.0)
        self.assertAlmostEqual(sl["le_pct"]["0.001"], 99.5)
        self.assertEqual(sl["p99_bound_ms"], 1.0)

    def test_server_latency_is_none_without_readings_or_requests(self):
        self.assertIsNone(server_latency(None, {"+Inf": 5}))
        self.assertIsNone(server_latency({"+Inf": 5}, {"+Inf": 5}))

    def test_normalized_rate_scales_to_the_share_the_benchmark_got(self):
        self.assertAlmostEqual(normalized_rps(100, cpu(server=40, load=30, db=10)), 125.0)
        # With (nearly) the whole machine, the measured figure stands.
        self.assertEqual(normalized_rps(100, cpu(server=60, load=36)), 100)

    def test_bracket_meets_a_drifting_machine_halfway(self):
        before = {"ceiling_hash_ms": 12.0,
                  "parallel": {"hashes_per_s": 120.0, "hash_cpu_ms": {"median": 15.0}}}
        after = {"ceiling_hash_ms": 16.0,
                 "parallel": {"hashes_per_s": 100.0, "hash_cpu_ms": {"median": 17.0}}}
        b = bracket(before, after, cores=2)
        self.assertAlmostEqual(b["ceiling_per_s"], 2 / 0.014)
        self.assertAlmostEqual(b["all_cores_per_s"], 110.0)
        self.assertAlmostEqual(b["all_cores_hash_ms"], 16.0)

    def test_bracket_without_an_all_cores_timing_gives_only_the_ceiling(self):
        b = bracket({"ceiling_hash_ms": 10.0}, {"ceiling_hash_ms": 10.0}, cores=2)
        self.assertEqual(set(b), {"ceiling_per_s"})

    def test_the_ceiling_a_run_had_leaves_out_the_stolen_cores(self):
        self.assertAlmostEqual(ceiling_had({"ceiling_per_s": 140, "cpu": cpu(steal=10)}), 126)

    def test_paired_ratio_compares_runs_of_the_same_cycle_only(self):
        # The machine doubled its speed between cycles; each pair still says 60 %.
        runs = [run(60, cycle=0), run(120, cycle=1), run(1, cycle=9)]
        against = [run(100, cycle=0), run(200, cycle=1)]
        self.assertAlmostEqual(paired_ratio(runs, against, "rps"), 0.6)
        self.assertIsNone(paired_ratio([run(60)], against, "rps"))

    def test_rss_slope_is_in_mib_per_minute(self):
        samples = [(t, 1000 + t * 1024 / 60) for t in range(0, 121, 10)]
        self.assertAlmostEqual(rss_slope(samples), 1.0)
        self.assertIsNone(rss_slope(samples[:2]))

    def test_judged_slope_reads_only_the_last_window(self):
        growing = [(t, 1000 + t * 1024 / 60) for t in range(0, 300, 10)]
        flat = [(t, growing[-1][1]) for t in range(300, 601, 10)]
        self.assertAlmostEqual(judged_slope(growing + flat, 300), 0.0)


class MediansTests(unittest.TestCase):
    def test_errors_add_up_and_rates_take_the_median(self):
        m = medians([run(10, errors=1), run(30, errors=2), run(20)], cores=2)
        self.assertEqual(m["rps"], 20)
        self.assertEqual(m["errors"], 3)
        self.assertEqual(m["runs"], 3)

    def test_each_hashing_run_is_taken_against_the_rates_timed_around_it(self):
        runs = [hashed_run(90, all_cores=100, ceiling=140),
                hashed_run(114, all_cores=120, ceiling=140),
                hashed_run(80, all_cores=100, ceiling=140)]
        m = medians(runs, cores=2)
        self.assertAlmostEqual(m["vs_all_cores"], 0.9)
        self.assertAlmostEqual(m["vs_ceiling"], 90 / 140)
        self.assertAlmostEqual(m["hash_ms"], 2000 / 140)

    def test_cpu_per_request_splits_the_hashing_threads_from_the_rest(self):
        r = hashed_run(100, all_cores=110, ceiling=140,
                       cpu=cpu(server=90, hashing=80, load=2, db=5))
        split = medians([r], cores=2)["cpu_ms_per_request"]
        # 2 cores × 1000 ms ÷ 100 req/s = 20 ms of machine per request.
        self.assertAlmostEqual(split["hashing"], 16.0)
        self.assertAlmostEqual(split["server_rest"], 2.0)
        self.assertAlmostEqual(split["db"], 1.0)
        self.assertAlmostEqual(split["load"], 0.4)


if __name__ == "__main__":
    unittest.main()
