#!/usr/bin/env python3
"""Fault suite of kitchen-api (GitHub issue 5). Python 3.11 standard library only.

Scenarios (all against the release binary, target/release/kitchen-api, on 127.0.0.1 only):

  sigkill-sqlite    SIGKILL the server while N client threads register users on SQLite, restart
  sigkill-postgres  it on the same database, log in every acknowledged (201) user: none may fail.
                    (PostgreSQL: a fresh database, CREATEd here and DROPped at the end.)
  pg-restart        mixed load (GET /users/me/ + logins) on PostgreSQL; stop PostgreSQL, start it
                    again; answers must be 200 or 503 only (no 500, no hang) and the same server
                    process must recover by itself. PostgreSQL is always started again (finally).

    ci/faults.py [--scenarios sigkill-sqlite,sigkill-postgres,pg-restart] [--threads 16]
                 [--write-seconds 4] [--down-seconds 6] [--json FILE]

Exits 0 when every check passes, 1 otherwise. Every process started here is killed (by PID) on
exit; the temporary directory and the PostgreSQL databases created here are removed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "kitchen-api"
HOST = "127.0.0.1"
PG_BASE = "postgres://postgres@127.0.0.1:5432"
PG_ADMIN = PG_BASE + "/test"

CHEAP_ARGON2 = {"KITCHEN_API_ARGON2_MEMORY_KIB": "64", "KITCHEN_API_ARGON2_ITERATIONS": "1"}
# Nothing here may be refused by a limit: no login throttling, a mail queue that never fills.
GENEROUS_LIMITS = {
    "KITCHEN_API_LOGIN_ACCOUNT_FREE_FAILURES": "1000000",
    "KITCHEN_API_LOGIN_ADDRESS_FREE_FAILURES": "1000000",
    "KITCHEN_API_MAIL_QUEUE_CAPACITY": "1000000",
    "KITCHEN_API_REGISTRATIONS_PER_ADDRESS": "0",
}


def log(msg: str) -> None:
    sys.stderr.write(f"[faults {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


class Failure(RuntimeError):
    pass


def strong_password() -> str:
    return f"kitchen-soak-{secrets.token_hex(6)}-passphrase"


# ------------------------------------------------------------------------------------------
# The server


class Server:
    """One kitchen-api process, in its own session, its log in a file. `start` waits for the
    `listening on http://ADDR` line and then for /readyz to answer 200."""

    def __init__(self, name: str, database_url: str, tmp: Path, env: dict[str, str],
                 port: int = 0) -> None:
        self.name, self.database_url, self.tmp = name, database_url, tmp
        self.extra_env, self.port = env, port
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.log_path: Path | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60.0) -> float:
        """Starts the process; returns the seconds until /readyz answered 200."""
        if not BINARY.exists():
            raise Failure(f"missing {BINARY}: run cargo build --release")
        self.starts += 1
        self.log_path = self.tmp / f"{self.name}-{self.starts}.log"
        env = dict(os.environ)
        env.pop("KITCHEN_API_CONFIG", None)
        env.update({"DATABASE_URL": self.database_url, "KITCHEN_API_BIND": f"{HOST}:{self.port}",
                    "KITCHEN_API_LOG": "info"})
        env.update(self.extra_env)
        t0 = time.monotonic()
        with open(self.log_path, "wb") as logf:
            self.proc = subprocess.Popen([str(BINARY), "serve"], env=env, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=self.tmp)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure(f"{self.name} exited ({self.proc.returncode}) at start:\n"
                              f"{self.log_tail()}")
            m = re.search(r"listening on http://([0-9.]+):(\d+)", self.log_text())
            if m:
                self.port = int(m.group(2))
                break
            time.sleep(0.02)
        else:
            raise Failure(f"{self.name} did not listen within {timeout:.0f}s:\n{self.log_tail()}")
        while time.monotonic() < deadline:
            try:
                status, _ = request(self.port, "GET", "/readyz", timeout=2)
                if status == 200:
                    return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.02)
        raise Failure(f"{self.name} never became ready:\n{self.log_tail()}")

    def sigkill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; by PID only."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        try:
            os.kill(p.pid, signal.SIGTERM)
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
        except ProcessLookupError:
            pass

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])


# ------------------------------------------------------------------------------------------
# HTTP


def request(port: int, method: str, path: str, body: dict | None = None,
            token: str | None = None, timeout: float = 15.0,
            conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    """One request; a fresh connection unless `conn` is given. Raises OSError/HTTPException."""
    own = conn is None
    c = conn or http.client.HTTPConnection(HOST, port, timeout=timeout)
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Token {token}"
    try:
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        if own:
            c.close()


class Client:
    """A keep-alive connection that reconnects after any error (one per thread)."""

    def __init__(self, port: int, timeout: float = 15.0) -> None:
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: dict | None = None,
             token: str | None = None) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            return request(self.port, method, path, body, token, conn=self.conn)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def error_kind(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
                      http.client.IncompleteRead)):
        return "reset"
    return type(e).__name__


# ------------------------------------------------------------------------------------------
# PostgreSQL


def psql(sql: str, db_url: str = PG_ADMIN, timeout: float = 60) -> str:
    r = subprocess.run(["psql", db_url, "-v", "ON_ERROR_STOP=1", "-XAtq", "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise Failure(f"psql {sql[:60]!r} failed: {r.stderr.strip()}")
    return r.stdout


class PgDatabases:
    def __init__(self) -> None:
        self.created: list[str] = []

    def create(self, label: str) -> str:
        name = f"kitchen_faults_{os.getpid()}_{label}"
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        psql(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return f"{PG_BASE}/{name}"

    def drop_all(self) -> None:
        for name in list(self.created):
            for attempt in range(30):  # PostgreSQL may still be coming back
                try:
                    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    self.created.remove(name)
                    break
                except Exception as e:
                    if attempt == 29:
                        log(f"could not drop database {name}: {e}")
                    time.sleep(1)


def pg_cluster() -> str:
    versions = sorted(os.listdir("/etc/postgresql"))
    if len(versions) != 1:
        raise Failure(f"expected one PostgreSQL version in /etc/postgresql, found {versions}")
    return versions[0]


def pg_ctl(action: str, timeout: float = 120) -> float:
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", pg_cluster(), "main", action]
    if action == "stop":
        cmd += ["-m", "fast"]
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise Failure(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return time.monotonic() - t0


def pg_online() -> bool:
    r = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=30)
    return any(line.split()[3] == "online" for line in r.stdout.splitlines()
               if len(line.split()) > 3 and line.split()[1] == "main")


def ensure_pg_running() -> None:
    """Starts PostgreSQL when it is not running (other work on the machine needs it)."""
    for attempt in range(5):
        try:
            if pg_online():
                return
            log("PostgreSQL is down: starting it")
            pg_ctl("start")
        except Exception as e:
            log(f"starting PostgreSQL failed (attempt {attempt + 1}): {e}")
            time.sleep(2)
    if not pg_online():
        log("!!! PostgreSQL could NOT be restarted: run "
            f"pg_ctlcluster --skip-systemctl-redirect {pg_cluster()} main start")


# ------------------------------------------------------------------------------------------
# Scenario 1: SIGKILL during registrations


def sigkill_during_writes(engine: str, args, tmp: Path, dbs: PgDatabases) -> dict:
    name = f"sigkill-{engine}"
    if engine == "sqlite":
        url = f"sqlite://{tmp / 'sigkill.db'}"
    else:
        url = dbs.create("sigkill")
    env = {**CHEAP_ARGON2, **GENEROUS_LIMITS}
    server = Server(name, url, tmp, env)
    res: dict = {"scenario": name, "engine": engine, "threads": args.threads}
    try:
        res["first_start_s"] = round(server.start(), 3)
        port = server.port
        password = strong_password()
        tag = secrets.token_hex(4)
        acked: list[str] = []          # 201 received
        unacked: list[str] = []        # sent, no answer (in flight at the kill)
        statuses: Counter = Counter()  # every status / error kind, before and after the kill
        bad: list[str] = []            # answers that are failures (not 201, before the kill)
        lock = threading.Lock()
        stop = threading.Event()
        killed = threading.Event()

        def worker(i: int) -> None:
            client = Client(port, timeout=10)
            n = 0
            while not stop.is_set():
                n += 1
                email = f"kill-{tag}-{i}-{n}@example.com"
                was_killed = killed.is_set()
                try:
                    status, body = client.call("POST", "/users/",
                                               {"email": email, "password": password})
                except Exception as e:
                    kind = error_kind(e)
                    with lock:
                        statuses[("after" if was_killed else "around") + " kill: " + kind] += 1
                        if not was_killed and kind != "refused":
                            unacked.append(email)  # sent, no answer: in flight at the kill
                    if killed.is_set():
                        return  # the server is gone: this thread is done
                    time.sleep(0.01)
                    continue
                with lock:
                    statuses[str(status)] += 1
                    if status == 201:
                        acked.append(email)
                    else:
                        bad.append(f"POST /users/ {email} -> {status} {body[:200]!r}")
            client.close()

        threads = [threading.Thread(target=worker, args=(i,), daemon=True)
                   for i in range(args.threads)]
        t_load = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(args.write_seconds)
        with lock:
            acked_before_kill = len(acked)
        server.sigkill()
        killed.set()
        t_kill = time.monotonic()
        log(f"{name}: SIGKILL after {t_kill - t_load:.1f}s, {acked_before_kill} acknowledged so far")
        stop.set()
        for t in threads:
            t.join(timeout=20)
        res["load_seconds"] = round(t_kill - t_load, 2)
        res["acknowledged"] = len(acked)
        res["registrations_per_s"] = round(len(acked) / (t_kill - t_load), 1)
        res["in_flight_at_kill"] = len(unacked)
        res["statuses"] = dict(statuses)
        res["non_201_answers"] = bad[:20]

        res["restart_s"] = round(server.start(), 3)
        log(f"{name}: restarted in {res['restart_s']:.2f}s; logging in {len(acked)} users")

        lost: list[str] = []
        login_statuses: Counter = Counter()
        committed_unacked = 0

        def login_all(emails: list[str], out_lost: list[str] | None) -> int:
            ok = 0
            queue = list(emails)
            qlock = threading.Lock()

            def w() -> None:
                nonlocal ok
                client = Client(port)
                while True:
                    with qlock:
                        if not queue:
                            break
                        email = queue.pop()
                    status = None
                    for attempt in range(3):
                        try:
                            status, body = client.call("POST", "/token/",
                                                       {"email": email, "password": password})
                            break
                        except Exception as e:
                            status = error_kind(e)
                    with qlock:
                        if out_lost is not None:
                            login_statuses[str(status)] += 1
                        if status == 200:
                            ok += 1
                        elif out_lost is not None:
                            out_lost.append(f"{email}: {status} {body[:200]!r}"
                                            if isinstance(status, int) else f"{email}: {status}")
                client.close()

            ts = [threading.Thread(target=w, daemon=True) for _ in range(8)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(timeout=600)
            return ok

        port = server.port
        t_check = time.monotonic()
        login_all(acked, lost)
        res["login_check_s"] = round(time.monotonic() - t_check, 2)
        committed_unacked = login_all(unacked, None)
        res["lost"] = len(lost)
        res["lost_examples"] = lost[:20]
        res["login_statuses"] = dict(login_statuses)
        res["in_flight_committed_anyway"] = committed_unacked
        res["pass"] = (len(lost) == 0 and not bad and len(acked) > 0)
        if not res["pass"]:
            res["server_log_tail"] = server.log_tail(40)
        return res
    finally:
        server.stop()


# ------------------------------------------------------------------------------------------
# Scenario 2: PostgreSQL stopped and started under load


def pg_restart_during_load(args, tmp: Path, dbs: PgDatabases) -> dict:
    url = dbs.create("pgrestart")
    env = {**CHEAP_ARGON2, **GENEROUS_LIMITS}
    server = Server("pg-restart", url, tmp, env)
    res: dict = {"scenario": "pg-restart", "engine": "postgres"}
    pg_stopped = False
    try:
        res["start_s"] = round(server.start(), 3)
        port, pid = server.port, server.pid
        password = strong_password()
        users: list[tuple[str, str]] = []
        for i in range(args.users):
            email = f"pgr-{secrets.token_hex(3)}-{i}@example.com"
            status, body = request(port, "POST", "/users/", {"email": email, "password": password})
            if status != 201:
                raise Failure(f"seeding: POST /users/ -> {status} {body[:200]!r}")
            users.append((email, json.loads(body)["token"]))

        # (t since load start, kind, outcome) with outcome an int status or an error kind
        events: list[tuple[float, float, str, object]] = []
        bad: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()
        t0 = time.monotonic()

        # Tokens of the first half are read; the second half logs in. Kept apart because each
        # login makes a token and past KITCHEN_API_MAX_TOKENS_PER_USER (50) the oldest, the one
        # being read, is revoked (401 Invalid token: right, but not what this measures).
        readers, loggers = users[: len(users) // 2], users[len(users) // 2:]

        def worker(kind: str) -> None:
            client = Client(port, timeout=args.request_timeout)
            rng = random.Random()
            while not stop.is_set():
                email, token = rng.choice(readers if kind == "get_me" else loggers)
                sent = time.monotonic() - t0
                try:
                    if kind == "get_me":
                        status, body = client.call("GET", "/users/me/", token=token)
                    else:
                        status, body = client.call("POST", "/token/",
                                                   {"email": email, "password": password})
                    outcome: object = status
                except Exception as e:
                    outcome, body = error_kind(e), b""
                done = time.monotonic() - t0
                with lock:
                    events.append((sent, done, kind, outcome))
                    if outcome not in (200, 503, "refused"):
                        bad.append(f"{kind} sent at +{sent:.2f}s -> {outcome} "
                                   f"{body[:200]!r} (after {done - sent:.2f}s)")
                if outcome != 200:
                    time.sleep(0.005)  # errors come back fast: do not spin

        threads = ([threading.Thread(target=worker, args=("get_me",), daemon=True)
                    for _ in range(args.get_threads)]
                   + [threading.Thread(target=worker, args=("login",), daemon=True)
                      for _ in range(args.login_threads)])
        for t in threads:
            t.start()
        time.sleep(args.before_seconds)

        log("pg-restart: stopping PostgreSQL")
        t_stop_cmd = time.monotonic() - t0
        pg_stopped = True
        res["pg_stop_cmd_s"] = round(pg_ctl("stop"), 2)
        t_down = time.monotonic() - t0
        time.sleep(args.down_seconds)
        log("pg-restart: starting PostgreSQL")
        t_start_cmd = time.monotonic() - t0
        accepting: list[float] = []

        def poll_ready() -> None:  # when PostgreSQL accepts connections again
            end = time.monotonic() + 120
            while time.monotonic() < end:
                r = subprocess.run(["pg_isready", "-h", HOST, "-p", "5432", "-t", "1"],
                                   capture_output=True)
                if r.returncode == 0:
                    accepting.append(time.monotonic() - t0)
                    return
                time.sleep(0.02)

        poller = threading.Thread(target=poll_ready, daemon=True)
        poller.start()
        res["pg_start_cmd_s"] = round(pg_ctl("start"), 2)
        pg_stopped = False
        poller.join(timeout=125)
        # PostgreSQL is up from the first moment pg_isready said so (the start command itself
        # returns a little later).
        t_up = accepting[0] if accepting else time.monotonic() - t0

        # Wait for recovery: a 200 of each kind for a request sent after PostgreSQL was up.
        deadline = time.monotonic() + args.recover_timeout
        first_ok: dict[str, float] = {}
        while time.monotonic() < deadline and len(first_ok) < 2:
            with lock:
                for sent, done, kind, outcome in events:
                    if outcome == 200 and sent >= t_up and kind not in first_ok:
                        first_ok[kind] = done
            time.sleep(0.05)
        time.sleep(args.after_seconds)
        stop.set()
        for t in threads:
            t.join(timeout=args.request_timeout + 5)
        t_end = time.monotonic() - t0

        # Figures
        per_second: dict[int, Counter] = {i: Counter() for i in range(int(t_end) + 1)}
        totals: Counter = Counter()
        for sent, done, kind, outcome in events:
            per_second[int(done)][str(outcome)] += 1
            totals[f"{kind} {outcome}"] += 1
        first_503 = min((d for s, d, k, o in events if o == 503 and d >= t_stop_cmd),
                        default=None)
        last_fail = max((d for s, d, k, o in events if o != 200), default=None)
        slowest_503 = max((d - s for s, d, k, o in events if o == 503), default=0.0)
        res.update({
            "users": len(users), "get_threads": args.get_threads,
            "login_threads": args.login_threads,
            "pg_stop_at_s": round(t_stop_cmd, 2), "pg_down_at_s": round(t_down, 2),
            "pg_start_at_s": round(t_start_cmd, 2), "pg_up_at_s": round(t_up, 2),
            "requests_waiting_at_pg_up": sum(1 for s, d, k, o in events if s < t_up < d),
            "outage_s": round(t_up - t_stop_cmd, 2),
            "first_503_after_stop_s": None if first_503 is None else round(first_503 - t_stop_cmd, 2),
            "recovered_get_me_after_pg_up_s": (round(first_ok["get_me"] - t_up, 3)
                                               if "get_me" in first_ok else None),
            "recovered_login_after_pg_up_s": (round(first_ok["login"] - t_up, 3)
                                              if "login" in first_ok else None),
            "last_non_200_after_pg_up_s": (round(last_fail - t_up, 3)
                                           if last_fail is not None and last_fail > t_up else 0.0),
            "slowest_503_s": round(slowest_503, 3),
            "requests": len(events), "totals": dict(totals),
            "per_second": {str(k): dict(v) for k, v in sorted(per_second.items())},
            "failures": bad[:20], "failure_count": len(bad),
            "load_seconds": round(t_end, 2),
        })
        same_process = server.alive() and server.pid == pid and server.starts == 1
        ready = False
        try:
            ready = request(port, "GET", "/readyz", timeout=5)[0] == 200
        except OSError:
            pass
        res["same_process"] = same_process
        res["ready_at_end"] = ready
        res["saw_503"] = any(o == 503 for _, _, _, o in events)
        res["pass"] = (not bad and same_process and ready and len(first_ok) == 2
                       and res["saw_503"])
        if bad or not res["pass"]:
            errs = [l for l in server.log_text().splitlines() if "ERROR" in l or "WARN" in l]
            res["server_log_errors"] = errs[:15]
        return res
    finally:
        if pg_stopped or not pg_online():
            ensure_pg_running()
        server.stop()


# ------------------------------------------------------------------------------------------
# Reporting


def print_sigkill(r: dict) -> None:
    print(f"\n== {r['scenario']}: {'PASS' if r['pass'] else 'FAIL'}")
    print(f"  {r['threads']} threads registering for {r['load_seconds']}s "
          f"({r['registrations_per_s']}/s), then SIGKILL")
    print(f"  acknowledged (201): {r['acknowledged']}   lost after restart: {r['lost']}")
    print(f"  in flight at the kill (no answer, expected): {r['in_flight_at_kill']} "
          f"(of which committed anyway: {r['in_flight_committed_anyway']})")
    print(f"  restart to ready: {r['restart_s']}s   login check of every acknowledged user: "
          f"{r['login_check_s']}s {r['login_statuses']}")
    print(f"  answers during the load: {r['statuses']}")
    for line in r["non_201_answers"] + r["lost_examples"]:
        print(f"  !! {line}")


def print_pg(r: dict) -> None:
    print(f"\n== pg-restart: {'PASS' if r['pass'] else 'FAIL'}")
    print(f"  {r['get_threads']} GET /users/me/ threads + {r['login_threads']} login threads, "
          f"{r['users']} users, {r['requests']} requests in {r['load_seconds']}s "
          f"(outcome by completion time; 'refused' = connection refused)")
    print(f"  PostgreSQL stop issued at +{r['pg_stop_at_s']}s (took {r['pg_stop_cmd_s']}s), "
          f"start issued at +{r['pg_start_at_s']}s, accepting (pg_isready) at "
          f"+{r['pg_up_at_s']}s (start command took {r['pg_start_cmd_s']}s): outage "
          f"{r['outage_s']}s; {r['requests_waiting_at_pg_up']} requests were waiting when it "
          f"came back")
    print(f"  first 503 {r['first_503_after_stop_s']}s after the stop; slowest 503 took "
          f"{r['slowest_503_s']}s")
    print(f"  recovered (first 200 of a request sent after PostgreSQL accepted): GET "
          f"{r['recovered_get_me_after_pg_up_s']}s, login {r['recovered_login_after_pg_up_s']}s; "
          f"last non-200 {r['last_non_200_after_pg_up_s']}s after up")
    print(f"  same process: {r['same_process']}, /readyz 200 at the end: {r['ready_at_end']}")
    print(f"  totals: {r['totals']}")
    print("  per second (by completion): second: outcomes")
    for sec, c in r["per_second"].items():
        print(f"    {int(sec):3d}: " + ", ".join(f"{k}={v}" for k, v in sorted(c.items())))
    for line in r["failures"]:
        print(f"  !! {line}")
    for line in r.get("server_log_errors", []):
        print(f"  log: {line}")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenarios", default="sigkill-sqlite,sigkill-postgres,pg-restart")
    p.add_argument("--threads", type=int, default=16, help="registering threads (sigkill)")
    p.add_argument("--write-seconds", type=float, default=4.0, help="load before the SIGKILL")
    p.add_argument("--users", type=int, default=40, help="users of the pg-restart load")
    p.add_argument("--get-threads", type=int, default=6)
    p.add_argument("--login-threads", type=int, default=2)
    p.add_argument("--before-seconds", type=float, default=3.0)
    p.add_argument("--down-seconds", type=float, default=6.0)
    p.add_argument("--after-seconds", type=float, default=4.0)
    p.add_argument("--recover-timeout", type=float, default=60.0)
    p.add_argument("--request-timeout", type=float, default=20.0)
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--keep-temp", action="store_true")
    a = p.parse_args(argv)
    scenarios = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    known = {"sigkill-sqlite", "sigkill-postgres", "pg-restart"}
    if not scenarios or set(scenarios) - known:
        p.error(f"scenarios are {sorted(known)}")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    tmp = Path(tempfile.mkdtemp(prefix="kitchen-faults-"))
    dbs = PgDatabases()
    results: list[dict] = []
    ok = True
    try:
        for s in scenarios:
            log(f"scenario {s}")
            try:
                if s == "sigkill-sqlite":
                    r = sigkill_during_writes("sqlite", a, tmp, dbs)
                elif s == "sigkill-postgres":
                    r = sigkill_during_writes("postgres", a, tmp, dbs)
                else:
                    r = pg_restart_during_load(a, tmp, dbs)
            except Failure as e:
                r = {"scenario": s, "pass": False, "error": str(e)}
            results.append(r)
            ok &= r["pass"]
            if "error" in r:
                print(f"\n== {s}: FAIL\n  {r['error']}")
            elif s.startswith("sigkill"):
                print_sigkill(r)
            else:
                print_pg(r)
            sys.stdout.flush()
    except KeyboardInterrupt:
        log("interrupted")
        ok = False
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        ensure_pg_running()
        dbs.drop_all()
        if a.keep_temp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nfault suite: {'PASS' if ok else 'FAIL'} "
          f"({', '.join(r['scenario'] + '=' + ('pass' if r['pass'] else 'FAIL') for r in results)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
