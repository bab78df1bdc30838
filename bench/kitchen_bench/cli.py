"""`bench/run`'s command line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
from pathlib import Path

from .common import ROOT, BenchError, log
from .report import write_report
from .stats import medians
from .uploads import merge, summarize
from .verdict import evaluate

DESCRIPTION = """Benchmark harness of kitchen-api.

Builds the release binaries, starts a minimal axum baseline and the service on SQLite and/or
PostgreSQL, seeds fresh databases with many users and tokens, drives every scenario with wrk
over loopback, measures memory, and writes docs/BENCHMARKS.md, docs/bench/results.json and
docs/bench/chart.png.

Settings of the service come from the environment exactly as for `kitchen-api` (e.g.
KITCHEN_API_DB_MAX_CONNECTIONS=4 bench/run ...), except KITCHEN_API_LOG, which is `warn`
unless --server-log says otherwise. Everything started here is stopped on exit, on errors and
on Ctrl-C; the PostgreSQL databases created here are dropped and the temporary directory is
removed. Only 127.0.0.1 is used."""


class _Help(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where there is a fixed one (mode-dependent ones say so in words)."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run", description=DESCRIPTION, formatter_class=_Help)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: small databases, ~3s per scenario, 1 run")
    p.add_argument("--runs", type=int, help="runs per scenario (default 3; quick 1)")
    p.add_argument("--duration", type=float, help="seconds per scenario (default 10; quick 3)")
    p.add_argument("--engines", default="sqlite,postgres", help="comma-separated")
    p.add_argument("--soak-seconds", type=float,
                   help="length of the RSS growth check (default 600: 5 minutes of warm-up, "
                        "then 5 minutes judged; quick 5)")
    p.add_argument("--users", type=int, help="users in the main database (default 1,000,000; "
                   "quick 20,000)")
    p.add_argument("--small-users", type=int, default=1000,
                   help="users in the small database of scenario 6")
    p.add_argument("--tokens-in-file", type=int,
                   help="tokens the load generator rotates over (default 100,000; quick 5,000)")
    p.add_argument("--slices", type=int,
                   help="slices each run of scenarios 1, 1b, 6 and the baseline is cut into, "
                   "alternated between them (default 5; quick 1)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--connections", type=int, default=64,
                   help="wrk connections for scenarios 1, 4, 6 and the baseline")
    p.add_argument("--login-connections", type=int, default=8,
                   help="wrk connections for logins and registrations")
    p.add_argument("--storm-connections", type=int, default=32,
                   help="wrk connections of the login storm in scenario 5")
    p.add_argument("--wrk-timeout", type=int, default=10, help="wrk request timeout, seconds")
    p.add_argument("--warmup", type=float, help="warm-up seconds per server (default 3; quick 1)")
    p.add_argument("--pause", type=float, default=2.0,
                   help="seconds between hashing scenarios, to let queues drain")
    p.add_argument("--idle-wait", type=float, default=1.0,
                   help="seconds after start before the idle memory reading")
    p.add_argument("--hash-iterations", type=int, help="hashes timed by bench_hash "
                   "(default 20; quick 5)")
    p.add_argument("--hot-tokens", type=int, default=1000,
                   help="tokens of the diagnostic 'hot' variant of scenario 1")
    p.add_argument("--quiet-threshold", type=float, default=15.0,
                   help="before each measurement, wait while the machine is busier than this "
                   "(percent of all cores; the machine may be shared)")
    p.add_argument("--quiet-timeout", type=float,
                   help="longest wait for a quiet machine before each measurement, seconds "
                   "(default 60; quick 5)")
    p.add_argument("--quiet-budget", type=float,
                   help="total seconds the whole run may spend waiting for a quiet machine and "
                   "re-measuring disturbed runs (default 600; quick 30)")
    p.add_argument("--noisy-threshold", type=float, default=15.0,
                   help="a measurement during which other processes used more than this "
                   "share of the machine (percent) is repeated")
    p.add_argument("--noisy-retries", type=int, default=1,
                   help="how often a disturbed measurement is repeated (least disturbed kept)")
    p.add_argument("--server-log", default="warn", help="KITCHEN_API_LOG for the service")
    p.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432",
                   help="PostgreSQL server (no database name)")
    p.add_argument("--pg-admin-db", default="test",
                   help="existing database to connect to for CREATE/DROP DATABASE")
    p.add_argument("--seed-timeout", type=float, default=900, help="seconds allowed per seed")
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "BENCHMARKS.md",
                   help="report to write")
    p.add_argument("--data-dir", type=Path, default=ROOT / "docs" / "bench",
                   help="where results.json and chart.png go")
    p.add_argument("--from-results", type=Path, metavar="RESULTS_JSON",
                   help="measure nothing: judge the figures of an earlier run again with this "
                   "harness's targets and write the report (into --data-dir and --doc)")
    p.add_argument("--only", choices=("uploads",),
                   help="measure only this scenario and merge it into --merge-into")
    p.add_argument("--merge-into", type=Path, metavar="RESULTS_JSON",
                   help="with --only: the earlier run whose figures the new ones replace "
                   "(default: --data-dir/results.json); the report is written again from "
                   "the merged figures")
    p.add_argument("--no-uploads", action="store_true",
                   help="leave the upload scenario (7) out of a full run")
    p.add_argument("--upload-connections", type=int, default=4,
                   help="wrk connections uploading pictures in scenario 7")
    p.add_argument("--upload-users", type=int, default=8,
                   help="users whose tokens the uploads take turns with")
    p.add_argument("--upload-width", type=int, default=2000,
                   help="width of the photo uploaded (stored sideways, EXIF orientation 6)")
    p.add_argument("--upload-height", type=int, default=1500, help="its height")
    p.add_argument("--no-build", action="store_true", help="skip cargo build")
    p.add_argument("--keep-temp", action="store_true",
                   help="keep the temporary directory (server logs, SQLite files)")
    a = p.parse_args(argv)
    q = a.quick
    a.runs = a.runs or (1 if q else 3)
    a.duration = a.duration or (3.0 if q else 10.0)
    a.slices = a.slices or (1 if q else 5)
    a.soak_seconds = a.soak_seconds if a.soak_seconds is not None else (5.0 if q else 600.0)
    a.users = a.users or (20_000 if q else 1_000_000)
    a.tokens_in_file = a.tokens_in_file or (5_000 if q else 100_000)
    a.warmup = a.warmup if a.warmup is not None else (1.0 if q else 3.0)
    a.hash_iterations = a.hash_iterations or (5 if q else 20)
    a.quiet_budget = a.quiet_budget if a.quiet_budget is not None else (30.0 if q else 600.0)
    a.quiet_timeout = a.quiet_timeout if a.quiet_timeout is not None else (5.0 if q else 60.0)
    a.engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    for e in a.engines:
        if e not in ("sqlite", "postgres"):
            p.error(f"unknown engine {e!r} (sqlite, postgres)")
    if not a.engines:
        p.error("no engine")
    if a.runs < 1 or a.duration < 1:
        p.error("--runs and --duration must be at least 1")
    if a.slices < 1 or a.duration / a.slices < 1:
        p.error("--slices must be at least 1, and at most --duration (a slice is >= 1 s)")
    if a.small_users < 1 or a.users < 1:
        p.error("--users and --small-users must be at least 1")
    if a.upload_connections < 1 or a.upload_users < 1:
        p.error("--upload-connections and --upload-users must be at least 1")
    if a.merge_into and not a.only:
        p.error("--merge-into goes with --only")
    if a.only and a.no_uploads:
        p.error("--only uploads and --no-uploads contradict each other")
    a.doc = a.doc.resolve()
    a.data_dir = a.data_dir.resolve()
    if a.only and a.merge_into is None:
        a.merge_into = a.data_dir / "results.json"
    return a


def rejudge(res: dict) -> dict:
    """An earlier run's raw figures summed up and judged again with this harness's rules."""
    cores = res["machine"]["cores"]
    res["baseline"]["median"] = medians(res["baseline"]["runs"], cores)
    for er in res["engines"].values():
        er["median"] = {k: medians(v, cores) for k, v in er["runs"].items()}
    if res.get("uploads"):
        summarize(res["uploads"], cores)
    res["targets"] = evaluate(res)
    res["rejudged_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return res


def print_targets(results: dict) -> None:
    for engine, ts in results["targets"].items():
        for t in ts:
            mark = "----" if t["pass"] is None else ("PASS" if t["pass"] else "MISS")
            log(f"  {engine:8s} {mark}  {t['target']}: {t['goal']}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.from_results:
        results = rejudge(json.loads(args.from_results.read_text()))
        write_report(results, args.doc, args.data_dir)
        log(f"wrote {args.doc} and {args.data_dir}/(results.json, chart.png)")
        print_targets(results)
        return 0

    from .runner import Bench

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    earlier = None
    if args.only:
        if not args.merge_into.exists():
            log(f"error: {args.merge_into} does not exist: --only needs an earlier run to "
                "merge into (run the whole benchmark once, or give --merge-into)")
            return 1
        earlier = json.loads(args.merge_into.read_text())
    bench = Bench(args)
    try:
        if earlier is not None:
            results = merge(earlier, bench.run_only_uploads())
            results["targets"] = evaluate(results)
        else:
            results = bench.run()
        write_report(results, args.doc, args.data_dir)
        log(f"wrote {args.doc} and {args.data_dir}/(results.json, chart.png)")
        print_targets(results)
        return 0
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    except BenchError as e:
        log(f"error: {e}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.cleanup()
