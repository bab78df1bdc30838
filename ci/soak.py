#!/usr/bin/env python3
"""Soak test of kitchen-api (GitHub issue 5). Python 3.11 standard library plus `wrk`.

Starts the release binary (target/release/kitchen-api) on a fresh SQLite file with the
production Argon2 defaults, registers the users it needs through the API, then runs four wrk
processes at once for the whole duration, each with a scenario script of bench/lua:

  GET /users/me/   (get_me.lua,   --get-connections, default 32)   most of the traffic
  PUT /users/me/   (put_me.lua,   --put-connections, default 4)
  POST /token/     (login.lua,    --login-connections, default 3)  one Argon2 verification each
  POST /users/     (register.lua, --register-connections, default 1)  one Argon2 hash each

The machine is saturated (two cores: wrk and the server share them). It samples the server's
RSS (/proc/PID/status VmRSS) every --sample-seconds, and at the end reads /metrics for the
server's own count of every answer by route and status.

Checks (exit 1 when one fails): no wrk errors (connect, read, write, timeout, non-2xx status)
in any scenario, no non-2xx answer in /metrics, the server still alive and ready, and RSS
flat after the warm-up: the least-squares growth over the measured part below
--max-growth-mib (default 5 MiB).

    ci/soak.py [--seconds 120] [--engine sqlite|postgres] [--json FILE]

Only 127.0.0.1 is used; the server and wrk processes are killed (by PID) on exit, the
temporary directory (SQLite file, logs, token file) is removed, and the PostgreSQL database
(--engine postgres) is dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faults import (BINARY, HOST, ROOT, Failure, PgDatabases, Server,  # noqa: E402
                    request)

LUA = ROOT / "bench" / "lua"
PASSWORD = "correct-horse-battery-staple-42"  # what bench/lua/login.lua users share


def log(msg: str) -> None:
    sys.stderr.write(f"[soak {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def least_squares(points: list[tuple[float, float]]) -> float:
    """Slope of y over x."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return 0.0 if sxx == 0 else sum((x - mx) * (y - my) for x, y in points) / sxx


def seed(port: int, n: int, threads: int = 4) -> list[str]:
    """Registers user1..user<n>@bench.example.com (login.lua's addresses); returns their
    registration tokens, by id."""
    tokens: dict[int, str] = {}
    ids = list(range(1, n + 1))
    lock = threading.Lock()
    errors: list[str] = []

    def w() -> None:
        while True:
            with lock:
                if not ids or errors:
                    return
                i = ids.pop()
            status, body = request(port, "POST", "/users/",
                                   {"email": f"user{i}@bench.example.com", "password": PASSWORD},
                                   timeout=60)
            with lock:
                if status == 201:
                    tokens[i] = json.loads(body)["token"]
                else:
                    errors.append(f"seeding user{i}: {status} {body[:200]!r}")

    ts = [threading.Thread(target=w, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=600)
    if errors or len(tokens) != n:
        raise Failure(errors[0] if errors else f"seeded {len(tokens)} of {n}")
    return [tokens[i] for i in range(1, n + 1)]


def metrics(port: int) -> dict[tuple[str, str, str], float]:
    status, body = request(port, "GET", "/metrics", timeout=10)
    out: dict[tuple[str, str, str], float] = {}
    for line in body.decode().splitlines():
        if line.startswith("kitchen_api_http_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            out[(labels.get("method", ""), labels.get("route", ""), labels.get("status", ""))] = \
                float(line.rsplit(" ", 1)[1])
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--users", type=int, default=400,
                   help="seeded users: the first half log in, the tokens of the rest are used")
    p.add_argument("--get-connections", type=int, default=32)
    p.add_argument("--put-connections", type=int, default=4)
    p.add_argument("--login-connections", type=int, default=3)
    p.add_argument("--register-connections", type=int, default=1)
    p.add_argument("--sample-seconds", type=float, default=5.0)
    p.add_argument("--warmup-seconds", type=float,
                   help="RSS samples before this are not judged (default: a quarter of the "
                   "run, at most 60)")
    p.add_argument("--max-growth-mib", type=float, default=5.0)
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    if a.seconds < 10:
        p.error("--seconds must be at least 10")
    warmup = a.warmup_seconds if a.warmup_seconds is not None else min(60.0, a.seconds / 4)
    if shutil.which("wrk") is None:
        print("wrk is missing (apt-get install -y wrk)", file=sys.stderr)
        return 1

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    tmp = Path(tempfile.mkdtemp(prefix="kitchen-soak-"))
    dbs = PgDatabases()
    server: Server | None = None
    wrks: list[subprocess.Popen] = []
    res: dict = {"engine": a.engine, "seconds": a.seconds}
    ok = False
    try:
        url = f"sqlite://{tmp / 'soak.db'}" if a.engine == "sqlite" else dbs.create("soak")
        # Production Argon2 (defaults), production login throttling; only the per-address
        # registration limit is lifted (every request here comes from 127.0.0.1) and the mail
        # queue (the `log` backend) made roomy.
        env = {"KITCHEN_API_REGISTRATIONS_PER_ADDRESS": "0",
               "KITCHEN_API_MAIL_QUEUE_CAPACITY": "100000",
               "KITCHEN_API_LOG": "warn,kitchen_api::app=info"}
        for k in ("KITCHEN_API_ARGON2_MEMORY_KIB", "KITCHEN_API_ARGON2_ITERATIONS"):
            os.environ.pop(k, None)
        server = Server(f"soak-{a.engine}", url, tmp, env)
        server.start()
        port, pid = server.port, server.pid
        log(f"server pid {pid} on port {port}; seeding {a.users} users (production Argon2)")
        t_seed = time.monotonic()
        tokens = seed(port, a.users)
        res["seed_s"] = round(time.monotonic() - t_seed, 1)
        half = a.users // 2
        token_file = tmp / "tokens.txt"
        token_file.write_text("\n".join(tokens[half:]) + "\n")
        res["rss_idle_kib"] = rss_kib(pid)

        base = f"http://{HOST}:{port}"
        secs = str(max(1, round(a.seconds)))
        kinds = {
            "get_me": ("get_me.lua", a.get_connections, [str(token_file)]),
            "put_me": ("put_me.lua", a.put_connections, [str(token_file)]),
            "login": ("login.lua", a.login_connections, ["1", str(half), PASSWORD]),
            "register": ("register.lua", a.register_connections, [PASSWORD]),
        }
        outputs: dict[str, Path] = {}
        before = metrics(port)
        log(f"soak: {a.seconds:.0f}s of mixed load; RSS every {a.sample_seconds:.0f}s")
        t0 = time.monotonic()
        for kind, (script, conns, args) in kinds.items():
            if conns <= 0:
                continue
            outputs[kind] = tmp / f"wrk-{kind}.out"
            with open(outputs[kind], "wb") as out:
                wrks.append(subprocess.Popen(
                    ["wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--timeout=10s", "--latency",
                     "-s", str(LUA / script), base, "--", *args],
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        samples: list[tuple[float, int]] = []
        deadline = t0 + a.seconds + 60
        while any(w.poll() is None for w in wrks) and time.monotonic() < deadline:
            r = rss_kib(pid)
            if r is None:
                raise Failure(f"the server exited during the soak:\n{server.log_tail()}")
            samples.append((round(time.monotonic() - t0, 1), r))
            end = time.monotonic() + a.sample_seconds
            while time.monotonic() < end and any(w.poll() is None for w in wrks):
                time.sleep(0.2)
        if any(w.poll() is None for w in wrks):
            raise Failure("wrk did not finish in time")
        r = rss_kib(pid)
        if r is not None:
            samples.append((round(time.monotonic() - t0, 1), r))
        after = metrics(port)

        # Figures
        per_kind: dict[str, dict] = {}
        wrk_errors = 0
        for kind, path in outputs.items():
            text = path.read_text(errors="replace")
            m = re.search(r"^WRK_JSON (.*)$", text, re.M)
            if not m:
                raise Failure(f"no summary from wrk {kind}:\n{text[-2000:]}")
            w = json.loads(m.group(1))
            errs = {k: v for k, v in w["errors"].items() if v}
            wrk_errors += sum(errs.values())
            per_kind[kind] = {"connections": kinds[kind][1], "requests": w["requests"],
                              "rps": round(w["rps"], 1),
                              "p50_ms": round(w["latency_us"]["p50"] / 1000, 2),
                              "p99_ms": round(w["latency_us"]["p99"] / 1000, 2),
                              "max_ms": round(w["latency_us"]["max"] / 1000, 1),
                              "errors": errs}
        statuses: dict[str, dict[str, int]] = defaultdict(dict)
        non_2xx: dict[str, int] = {}
        for key, v in after.items():
            n = int(v - before.get(key, 0))
            if n <= 0 or key[1] == "/metrics":
                continue
            statuses[f"{key[0]} {key[1]}"][key[2]] = n
            if not key[2].startswith("2"):
                non_2xx[f"{key[0]} {key[1]} {key[2]}"] = n
        judged = [(t, kib / 1024) for t, kib in samples if t >= warmup]
        slope_mib_s = least_squares(judged)
        span = (judged[-1][0] - judged[0][0]) if len(judged) > 1 else 0.0
        growth = slope_mib_s * span
        rss = [kib for _, kib in samples]
        ready = request(port, "GET", "/readyz", timeout=5)[0] == 200
        res.update({
            "per_kind": per_kind, "total_rps": round(sum(k["rps"] for k in per_kind.values()), 1),
            "server_statuses": statuses, "non_2xx": non_2xx, "wrk_errors": wrk_errors,
            "rss_samples": samples,
            "rss_first_mib": round(rss[0] / 1024, 1), "rss_last_mib": round(rss[-1] / 1024, 1),
            "rss_max_mib": round(max(rss) / 1024, 1),
            "rss_at_warmup_end_mib": round(judged[0][1], 1) if judged else None,
            "warmup_s": warmup, "rss_slope_kib_per_min": round(slope_mib_s * 1024 * 60, 1),
            "rss_growth_after_warmup_mib": round(growth, 2),
            "ready_at_end": ready, "alive": server.alive(),
        })
        checks = {
            "no wrk errors": wrk_errors == 0,
            "no non-2xx answer": not non_2xx,
            "flat memory": growth < a.max_growth_mib,
            "alive and ready": ready and server.alive(),
        }
        res["checks"] = checks
        ok = all(checks.values())
        res["pass"] = ok

        print(f"\n== soak ({a.engine}, {a.seconds:.0f}s, production Argon2): "
              f"{'PASS' if ok else 'FAIL'}")
        print(f"  seeded {a.users} users in {res['seed_s']}s; idle RSS "
              f"{(res['rss_idle_kib'] or 0) / 1024:.1f} MiB")
        print(f"  {'kind':9s} {'conns':>5s} {'requests':>9s} {'req/s':>8s} {'p50 ms':>8s} "
              f"{'p99 ms':>8s} {'max ms':>8s}  errors")
        for kind, k in per_kind.items():
            print(f"  {kind:9s} {k['connections']:5d} {k['requests']:9d} {k['rps']:8.1f} "
                  f"{k['p50_ms']:8.2f} {k['p99_ms']:8.2f} {k['max_ms']:8.1f}  {k['errors'] or 0}")
        print(f"  total {res['total_rps']} req/s")
        print(f"  server answers by route: {dict(statuses)}")
        print(f"  RSS MiB: first {res['rss_first_mib']}, at warm-up end ({warmup:.0f}s) "
              f"{res['rss_at_warmup_end_mib']}, last {res['rss_last_mib']}, max "
              f"{res['rss_max_mib']}; slope after warm-up {res['rss_slope_kib_per_min']} KiB/min "
              f"= {res['rss_growth_after_warmup_mib']} MiB over {span:.0f}s "
              f"(limit {a.max_growth_mib} MiB)")
        print("  RSS samples (s: MiB): " + ", ".join(f"{t:.0f}: {kib / 1024:.1f}"
                                                      for t, kib in samples))
        for name, passed in checks.items():
            print(f"  {'ok  ' if passed else 'FAIL'} {name}")
    except Failure as e:
        print(f"\n== soak: FAIL\n  {e}")
        res["error"] = str(e)
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for w in wrks:
            if w.poll() is None:
                os.kill(w.pid, signal.SIGKILL)
                w.wait(timeout=10)
        if server is not None:
            server.stop()
        dbs.drop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    res["pass"] = ok
    if a.json:
        a.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
