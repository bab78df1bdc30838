import unittest

from kitchen_bench.ab import summarize, summary_lines


def r(rps: float, cpu_us: float, cycle: int) -> dict:
    return {"rps": rps, "cpu_us": cpu_us, "db_us": 0.0, "p99_ms": 1.0, "cycle": cycle}


class AbTests(unittest.TestCase):
    def test_each_build_is_taken_against_the_baseline_of_its_own_round(self):
        # The machine is twice as fast in round 1; within each round B does 10 % more than A.
        results = {"baseline": [r(100_000, 10, 0), r(200_000, 10, 1)],
                   "A": [r(50_000, 30, 0), r(100_000, 30, 1)],
                   "B": [r(55_000, 27, 0), r(110_000, 27, 1)]}
        s = summarize(results)
        self.assertAlmostEqual(s["A"]["vs_baseline"], 0.5)
        self.assertAlmostEqual(s["B"]["vs_baseline"], 0.55)
        self.assertAlmostEqual(s["B"]["vs_a"], 1.1)
        self.assertAlmostEqual(s["B"]["cpu_vs_a"], 0.9)
        lines = summary_lines(s)
        self.assertIn("55.0% of the baseline", lines[2])
        self.assertIn("110.0% of A's req/s", lines[2])

    def test_without_the_baseline_no_ratio_to_it_is_printed(self):
        s = summarize({"A": [r(50_000, 30, 0)], "B": [r(55_000, 27, 0)]})
        self.assertTrue(all("baseline" not in line for line in summary_lines(s)))


if __name__ == "__main__":
    unittest.main()
