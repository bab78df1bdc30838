"""What the harness drives: cargo, wrk, psql, the service and the baseline over HTTP."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from .common import HOST, LUA, RELEASE, ROOT, BenchError, log
from .stats import parse_me_buckets, parse_wrk

BINARIES = ("kitchen-api", "examples/bench_baseline", "examples/bench_seed",
            "examples/bench_hash", "examples/picture_baseline")


def run_checked(cmd: list[str], timeout: float, env: dict[str, str] | None = None,
                what: str = "") -> str:
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"{what or cmd[0]} took more than {timeout:.0f}s") from e
    if r.returncode != 0:
        raise BenchError(f"{what or cmd[0]} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r.stdout


def ensure_tools(need_pg: bool) -> None:
    if shutil.which("wrk") is None:
        log("wrk is missing: apt-get install -y wrk")
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, timeout=600,
                       stdout=subprocess.DEVNULL)
    if need_pg and shutil.which("psql") is None:
        log("psql is missing: apt-get install -y postgresql-client")
        subprocess.run(["apt-get", "install", "-y", "postgresql-client"], check=True,
                       timeout=600, stdout=subprocess.DEVNULL)
    if importlib.util.find_spec("matplotlib") is None:
        log("matplotlib is missing: pip install matplotlib")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"],
                       check=True, timeout=900)


def build(skip: bool) -> None:
    if skip:
        log("--no-build: using the binaries already in target/release")
    else:
        log("cargo build --release --bin kitchen-api --examples")
        r = subprocess.run(["cargo", "build", "--release", "--bin", "kitchen-api", "--examples"],
                           cwd=ROOT, timeout=3600)
        if r.returncode != 0:
            raise BenchError("cargo build failed")
    for name in BINARIES:
        if not (RELEASE / name).exists():
            raise BenchError(f"missing {RELEASE / name}")


class Postgres:
    """Creates and drops the benchmark's own databases through psql."""

    def __init__(self, base_url: str, admin_db: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_url = f"{self.base_url}/{admin_db}"
        self.created: list[str] = []

    def psql(self, sql: str, timeout: float = 120) -> str:
        return run_checked(["psql", self.admin_url, "-v", "ON_ERROR_STOP=1", "-XAtq", "-c", sql],
                           timeout=timeout, what=f"psql ({sql[:40]})")

    def check(self) -> str:
        return self.psql("SHOW server_version", timeout=20).strip()

    def create(self, name: str) -> str:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return f"{self.base_url}/{name}"

    def drop(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            try:
                self.drop(name)
            except Exception as e:
                log(f"could not drop database {name}: {e}")


class Server:
    def __init__(self, name: str, proc: subprocess.Popen, port: int, log_path: Path) -> None:
        self.name, self.proc, self.port, self.log_path = name, proc, port, log_path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid


def http_probe(url: str, method: str, path: str, token: str | None = None,
               body: dict | None = None, raw: bytes | None = None,
               content_type: str = "application/json", timeout: float = 30,
               read: int = 300) -> dict:
    """One request, to show what a scenario's failing requests were answered: `body` as
    JSON, or `raw` bytes as they are."""
    import http.client
    from urllib.parse import urlparse

    u = urlparse(url)
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    try:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        out = {"status": r.status, "body": r.read(read).decode(errors="replace")}
        c.close()
        return out
    except OSError as e:
        return {"status": None, "body": f"{type(e).__name__}: {e}"}


def me_latency_buckets(url: str) -> dict[str, int] | None:
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
            return parse_me_buckets(r.read().decode())
    except OSError:
        return None


def first_line(path: Path) -> str:
    with open(path) as f:
        return f.readline().strip()


def wrk(url: str, script: str, script_args: list[str], duration: float, threads: int,
        connections: int, timeout_s: int) -> list[str]:
    return ["wrk", f"-t{min(threads, connections)}", f"-c{connections}",
            f"-d{max(1, round(duration))}s", f"--timeout={timeout_s}s", "--latency",
            "-s", str(LUA / script), url, "--", *script_args]


def run_wrk(cmd: list[str], duration: float, what: str) -> dict:
    out = run_checked(cmd, timeout=duration + 60, what=f"wrk {what}")
    return parse_wrk(out, what)


def _version(cmd: list[str]) -> str | None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except Exception:
        return None


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                           timeout=20)
        return r.stdout.strip() if r.returncode == 0 else None
    except Exception:
        return None


def _proc_field(path: str, prefix: str) -> str | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_info(pg_version: str | None, sqlite_version: str | None) -> dict:
    mem = _proc_field("/proc/meminfo", "MemTotal")
    dirty = _git("status", "--porcelain", "--", "src", "migrations", "Cargo.toml", "Cargo.lock")
    return {
        "git_head": _git("rev-parse", "--short", "HEAD"),
        "service_sources_modified": None if dirty is None else bool(dirty),
        "cores": os.cpu_count(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or "unknown",
        "memory_gib": round(int(mem.split()[0]) / 2**20, 1) if mem else 0,
        "kernel": platform.release(), "os": platform.platform(),
        "rustc": _version(["rustc", "--version"]),
        "wrk": (_version(["wrk", "-v"]) or "").split(" [")[0] or None,
        "postgres": pg_version, "sqlite": sqlite_version,
    }
