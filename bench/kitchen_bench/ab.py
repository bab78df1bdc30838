"""`bench/ab`: two kitchen-api binaries alternated on one cheap-path shape, for a quick check
of a change, or for the before/after comparison of a reshape, without a full `bench/run`.

On these shared 2-core machines req/s between identical runs varies by up to 30 %; the
server's CPU time per request (utime + stime from /proc/PID/stat over the requests wrk
counted) moves much less, so it is the figure to compare. Each round starts A and B in turn
(A B, then B A) on the same database, warms each up and measures one wrk run. With
`--baseline`, each round first measures the axum baseline (`examples/bench_baseline`) the
same way, and each build's ratio to it is the median over rounds of the ratio within a round,
as bench/run pairs its slices: the machine's swings between rounds cancel out.

`--db` is a SQLite file (or a postgres:// URL) seeded with `examples/bench_seed` and
`--tokens` the token file it wrote. With `--storm`, a second wrk logs in (32 connections)
throughout each measurement, as in scenario 5, and the cheap path's p99 is the figure to
watch. `--scenario login` or `register` measures those paths instead; their cost is mostly the
hash, so run them with a cheap one (`KITCHEN_API_ARGON2_MEMORY_KIB=8
KITCHEN_API_ARGON2_ITERATIONS=1` for both `bench_seed` and this command) to see the rest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from .common import HOST, PASSWORD, RELEASE, SERVICE_BENCH_DEFAULTS
from .drivers import wrk
from .stats import median, paired_ratio, parse_wrk
from .system import CLK_TCK, free_port, is_database, process_ticks, wait_for_port

NAMES = ("baseline", "A", "B")


def cpu_ticks(pid: int) -> tuple[int, int]:
    """(the server's ticks, the ticks of every process named postgres)."""
    procs = process_ticks()
    db = sum(t for comm, t in procs.values() if is_database(comm))
    return procs.get(pid, ("", 0))[1], db


def load(a) -> tuple[str, list[str]]:
    """The measured wrk script and its arguments."""
    if a.scenario == "login":
        return "login.lua", ["1", str(a.storm_users), PASSWORD]
    if a.scenario == "register":
        return "register.lua", [PASSWORD]
    return "get_me.lua", [a.tokens]


def wrk_cmd(port: int, script: str, args: list[str], seconds: float, conns: int) -> list[str]:
    return wrk(f"http://{HOST}:{port}", script, args, seconds, 2, conns, 10)


def measure(port: int, script: str, args: list[str], seconds: float, conns: int) -> dict:
    out = subprocess.run(wrk_cmd(port, script, args, seconds, conns), capture_output=True,
                         text=True, check=True, start_new_session=True).stdout
    return summary(parse_wrk(out, script))


def summary(r: dict) -> dict:
    r["p99_ms"] = r["latency_us"]["p99"] / 1e3
    r["errors"] = r["errors_total"]
    return r


def start(cmd: list[str], db: str, port: int, log_file) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=db, KITCHEN_API_BIND=f"{HOST}:{port}",
               KITCHEN_API_LOG="warn", **SERVICE_BENCH_DEFAULTS)
    # A session of its own, as bench/run starts it: with autogroup scheduling every session
    # is one group and groups share the CPU evenly, so this decides how server and wrk share.
    p = subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                         start_new_session=True)
    wait_for_port(port, p, cmd[0])
    return p


def command(name: str, a, port: int) -> list[str]:
    if name == "baseline":
        return [str(a.baseline), f"{HOST}:{port}"]
    return [a.a if name == "A" else a.b, "serve"]


def one(name: str, a) -> dict:
    port = free_port()
    with tempfile.TemporaryFile() as log_file:
        p = start(command(name, a, port), a.db, port, log_file)
        try:
            script, args = load(a)
            measure(port, script, args, a.warmup, a.connections)
            time.sleep(a.settle)
            storm = None
            if a.storm and name != "baseline":
                storm = subprocess.Popen(
                    wrk_cmd(port, "login.lua", ["1", str(a.storm_users), PASSWORD],
                            a.seconds + 2, 32),
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                    start_new_session=True)
                time.sleep(1)
            t0 = cpu_ticks(p.pid)
            r = measure(port, script, args, a.seconds, a.connections)
            t1 = cpu_ticks(p.pid)
            if storm is not None:
                out = storm.communicate(timeout=60)[0]
                r["storm"] = summary(parse_wrk(out, "storm")) if "WRK_JSON " in out else None
        finally:
            p.terminate()
            p.wait(timeout=30)
    per_request = CLK_TCK * max(r["requests"], 1) / 1e6
    r["cpu_us"] = (t1[0] - t0[0]) / per_request
    r["db_us"] = (t1[1] - t0[1]) / per_request
    return r


def summarize(results: dict[str, list[dict]]) -> dict[str, dict]:
    """Per binary: medians over rounds, and the round-paired ratios of req/s to the baseline
    (when it ran) and, for B, to A."""
    out = {}
    for name, rs in results.items():
        if not rs:
            continue
        s = {"rps": median([r["rps"] for r in rs]),
             "cpu_us": median([r["cpu_us"] for r in rs]),
             "db_us": median([r["db_us"] for r in rs]),
             "p99_ms": median([r["p99_ms"] for r in rs])}
        if name != "baseline":
            s["vs_baseline"] = paired_ratio(rs, results.get("baseline") or [], "rps")
        if name == "B":
            s["vs_a"] = paired_ratio(rs, results.get("A") or [], "rps")
            s["cpu_vs_a"] = paired_ratio(rs, results.get("A") or [], "cpu_us")
        out[name] = s
    return out


def summary_lines(s: dict[str, dict]) -> list[str]:
    def pct(x):
        return "–" if x is None else f"{x:.1%}"

    lines = []
    for name, x in s.items():
        line = (f"median {name}: {x['rps']:,.0f} req/s, {x['cpu_us']:.1f} µs CPU/req "
                f"(db {x['db_us']:.1f}), p99 {x['p99_ms']:.2f} ms")
        if "vs_baseline" in x and "baseline" in s:
            line += f"; {pct(x['vs_baseline'])} of the baseline"
        if "vs_a" in x:
            line += f"; {pct(x['vs_a'])} of A's req/s, {pct(x['cpu_vs_a'])} of its CPU/req"
        lines.append(line)
    return lines


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/ab", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="binary A (e.g. a copy of the old build)")
    p.add_argument("--b", required=True, help="binary B")
    p.add_argument("--db", required=True, help="sqlite file path or postgres:// URL")
    p.add_argument("--tokens", required=True, help="token file written by bench_seed")
    p.add_argument("--baseline", nargs="?", type=Path,
                   const=RELEASE / "examples" / "bench_baseline",
                   help="also measure the axum baseline each round (this binary, default "
                   "target/release/examples/bench_baseline) and report ratios to it")
    p.add_argument("--scenario", choices=["get_me", "login", "register"], default="get_me")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--settle", type=float, default=0,
                   help="seconds between the warm-up and the measurement; 60 makes the tokens "
                        "the warm-up used due for their next last-use write during it, as "
                        "they come due during bench/run's storm")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--storm", action="store_true", help="run a login storm during each run")
    p.add_argument("--storm-users", type=int, default=1000,
                   help="log in as users 1..N (seeded ids)")
    a = p.parse_args(argv)
    if "://" not in a.db:
        a.db = f"sqlite://{Path(a.db).resolve()}"
    if a.baseline is not None and not a.baseline.exists():
        p.error(f"no baseline binary at {a.baseline} (cargo build --release --examples)")
    return a


def main(argv: list[str]) -> int:
    a = parse_args(argv)
    names = [n for n in NAMES if n != "baseline" or a.baseline is not None]
    results: dict[str, list] = {n: [] for n in names}
    for n in range(a.rounds):
        # A B, then B A: neither build always runs on what the other left warm.
        order = names if n % 2 == 0 else [x for x in names if x == "baseline"] + ["B", "A"]
        for name in order:
            r = one(name, a)
            r["cycle"] = n
            results[name].append(r)
            storm = r.get("storm") or {}
            print(f"round {n + 1} {name}: {r['rps']:,.0f} req/s, {r['cpu_us']:.1f} µs CPU/req, "
                f"p99 {r['p99_ms']:.2f} ms, errors {r['errors']}"
                + (f"; storm {storm.get('rps', 0):.1f} logins/s, errors {storm.get('errors')}"
                   if a.storm and name != "baseline" else ""), flush=True)
    for line in summary_lines(summarize(results)):
        print(line, flush=True)
    return 0
