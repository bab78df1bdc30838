"""Paths, fixed values and the harness's own error and log line, shared by every module."""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
LUA = ROOT / "bench" / "lua"
RELEASE = ROOT / "target" / "release"
PASSWORD = "correct-horse-battery-staple-42"
HOST = "127.0.0.1"

# Every request comes from 127.0.0.1, so the per-address limits would refuse the load itself
# (a login in flight counts as a guess until its password proves right). The limits stay on,
# their queries are part of the cost, but out of reach; only where the environment is silent.
SERVICE_BENCH_DEFAULTS = {
    "KITCHEN_API_REGISTRATIONS_PER_ADDRESS": "1000000000",
    "KITCHEN_API_LOGIN_ADDRESS_FREE_FAILURES": "1000000000",
}


class BenchError(RuntimeError):
    pass


def log(msg: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()
