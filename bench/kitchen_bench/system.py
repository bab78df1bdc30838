"""The machine: processes the harness starts, ports, and what /proc says about CPU time and
memory. The machine may be shared, so every measurement also says how much of it went to
processes unrelated to the benchmark."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import threading
import time

from .common import HOST, ROOT, BenchError, log
from .stats import parse_cpu_line, parse_pid_stat

CLK_TCK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
# The service's password-hashing threads (src/auth/hashing.rs names them).
HASHING_THREAD = "kitchen-hash"


class Processes:
    """Every process the harness starts, each in its own process group, stopped in `close`."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd: list[str], env: dict[str, str] | None = None, stdout=None,
              stderr=None) -> subprocess.Popen:
        p = subprocess.Popen(cmd, env=env, stdout=stdout or subprocess.DEVNULL,
                             stderr=stderr or subprocess.DEVNULL, start_new_session=True,
                             cwd=ROOT)
        self.procs.append(p)
        return p

    def stop(self, p, grace: float = 10.0) -> None:
        """Stops `p` (a Popen, or anything with a `.proc`) and its process group."""
        p = getattr(p, "proc", p)
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        if p in self.procs:
            self.procs.remove(p)

    def close(self) -> None:
        for p in list(reversed(self.procs)):
            try:
                self.stop(p, grace=5.0)
            except Exception as e:  # keep stopping the others
                log(f"could not stop pid {p.pid}: {e}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"{what} did not listen on {HOST}:{port} within {timeout:.0f}s")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (KiB) and Threads of a live process."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "Threads"):
                    out[key] = int(value.split()[0])
    except FileNotFoundError:
        pass
    return out


class RssSampler:
    """Samples a process's RSS every `interval` seconds in a thread, for as long as it runs."""

    def __init__(self, pid: int, interval: float) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            rss = proc_status(self.pid).get("VmRSS")
            if rss is not None:
                self.samples.append((round(time.monotonic() - t0, 2), rss))
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def max_kib(self) -> int | None:
        return max((r for _, r in self.samples), default=None)


def machine_ticks() -> tuple[int, int, int]:
    """(busy, irq + softirq, steal) CPU time of the whole machine, in clock ticks."""
    with open("/proc/stat") as f:
        return parse_cpu_line(f.readline())


def is_database(comm: str) -> bool:
    """Whether a process (by command name) is PostgreSQL's: its backends and workers."""
    return comm.startswith("postgres")


def process_ticks(root: str = "/proc") -> dict[int, tuple[str, int]]:
    """utime + stime of every process, by pid, with its command name; with `root`
    /proc/PID/task, of every thread of that process, by thread id."""
    out = {}
    try:
        entries = os.listdir(root)
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"{root}/{entry}/stat") as f:
                out[int(entry)] = parse_pid_stat(f.read())
        except OSError:
            continue
    return out


def children_ticks() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * CLK_TCK


class CpuMeter:
    """Splits the machine's CPU over an interval between the server under test, the load
    generator (wrk, our children, and interrupt time: loopback networking), the database and
    everything else, in percent of all cores."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def __enter__(self) -> "CpuMeter":
        self.t0 = time.monotonic()
        self.busy0, self.irq0, self.steal0 = machine_ticks()
        self.procs0 = process_ticks()
        self.threads0 = self.server_threads()
        self.children0 = children_ticks()
        return self

    def server_threads(self) -> dict[int, tuple[str, int]]:
        return process_ticks(f"/proc/{self.server_pid}/task") if self.server_pid > 0 else {}

    def __exit__(self, *exc) -> None:
        elapsed = time.monotonic() - self.t0
        busy, irq, steal = machine_ticks()
        busy -= self.busy0
        steal -= self.steal0
        irq -= self.irq0
        procs1 = process_ticks()
        threads1 = self.server_threads()
        load = children_ticks() - self.children0

        def delta(pred, before=self.procs0, after=procs1) -> int:
            total = 0
            for pid, (comm, ticks) in after.items():
                if pred(pid, comm):
                    total += ticks - before.get(pid, (comm, 0))[1]
            return total

        server = delta(lambda pid, _c: pid == self.server_pid)
        hashing = delta(lambda _t, comm: comm.startswith(HASHING_THREAD),
                        self.threads0, threads1)
        db = delta(lambda _p, comm: is_database(comm))
        load += delta(lambda _p, comm: comm == "wrk")  # a storm wrk still running
        # Interrupts belong to no process; here they are almost all loopback networking.
        load += irq + delta(lambda _p, comm: comm.startswith("ksoftirqd"))
        capacity = max(elapsed * CORES * CLK_TCK, 1e-9)
        self.result = {
            "server_pct": 100 * server / capacity,
            "server_hashing_pct": 100 * hashing / capacity,
            "load_pct": 100 * load / capacity,
            "db_pct": 100 * db / capacity,
            "other_pct": max(0.0, 100 * (busy - server - load - db) / capacity),
            # Part of "other": the hypervisor's, not another process's.
            "steal_pct": 100 * steal / capacity,
            "busy_pct": 100 * busy / capacity,
        }


def machine_busy_pct(seconds: float) -> float:
    b0, t0 = machine_ticks()[0], time.monotonic()
    time.sleep(seconds)
    return 100 * (machine_ticks()[0] - b0) / ((time.monotonic() - t0) * CORES * CLK_TCK)
