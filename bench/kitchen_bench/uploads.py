"""Scenario 7, picture uploads: `PUT /users/me/picture/` with a phone-like photo against the
image library alone doing the same work on as many threads as the service's picture pool
(`examples/picture_baseline.rs`), the cheap path's p99 during an upload storm, and the peak
RSS against the pool size times the pixel bound.

The pure parts (pool size, the Rust constants, medians, verdict rows, merging) are unit-tested;
`UploadScenario` drives the machine."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .common import RELEASE, ROOT, BenchError, log
from .drivers import Server, first_line, http_probe, run_checked, run_wrk, wrk
from .stats import median, medians, paired_ratio, ratio
from .system import CORES, CpuMeter, proc_status

if TYPE_CHECKING:
    from .runner import Bench

UPLOAD_TARGETS = {
    "throughput_ratio": 0.80,
    "storm_p99_ratio": 3.0,
    # The unexplained part of the memory bound, as for the other scenarios.
    "rss_allowance_mib": 32.0,
}

# The constants the baseline and the service must agree on, by their Rust names.
SHARED_CONSTANTS = ("MAX_PICTURE_BYTES", "MAX_PIXELS", "MAX_DECODE_BYTES", "FIT",
                    "JPEG_QUALITY")
PICTURES_SRC = ROOT / "src" / "pictures"
BASELINE_SRC = ROOT / "examples" / "picture_baseline.rs"

_CONST = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?const\s+([A-Z_][A-Z0-9_]*)\s*:\s*[^=]+=\s*"
                    r"([^;]+);", re.M)


def rust_constants(source: str) -> dict[str, int]:
    """The integer `const`s of a Rust source text, evaluated: literals with `_` or a type
    suffix, names of constants defined above them, and products of those
    (`5 * 1024 * 1024`, `MAX_PIXELS * 4`)."""
    out: dict[str, int] = {}
    for name, expr in _CONST.findall(source):
        value = 1
        for term in (t.strip() for t in expr.split("*")):
            if term in out:
                value *= out[term]
                continue
            digits = re.sub(r"(u8|u16|u32|u64|usize|i32|i64)$", "", term.replace("_", ""))
            if not digits.isdigit():
                break
            value *= int(digits)
        else:
            out[name] = value
    return out


def constants_of(paths: list[Path]) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in paths:
        out.update(rust_constants(p.read_text()))
    return out


def check_constants() -> dict[str, int]:
    """The shared constants, after checking the baseline uses the service's values."""
    if not PICTURES_SRC.is_dir():
        raise BenchError(f"{PICTURES_SRC} is missing: the service has no picture pipeline")
    service = constants_of(sorted(PICTURES_SRC.rglob("*.rs")))
    baseline = constants_of([BASELINE_SRC])
    wrong = {k: (service.get(k), baseline.get(k)) for k in SHARED_CONSTANTS
             if service.get(k) is None or service.get(k) != baseline.get(k)}
    if wrong:
        raise BenchError("the picture baseline does not do what the service does "
                         f"(service, baseline): {wrong}")
    return {k: service[k] for k in SHARED_CONSTANTS}


def pool_size(env: dict[str, str], cores: int) -> int:
    """The service's picture pool size: KITCHEN_API_PICTURE_CONCURRENCY, 0 or unset meaning
    max(1, cores / 2)."""
    raw = (env.get("KITCHEN_API_PICTURE_CONCURRENCY") or "0").strip()
    try:
        n = int(raw)
    except ValueError as e:
        raise BenchError(f"KITCHEN_API_PICTURE_CONCURRENCY={raw!r} is not a number") from e
    return n if n > 0 else max(1, cores // 2)


def job_bytes(c: dict) -> int:
    """The most one picture job holds (src/pictures' MAX_JOB_BYTES): a progressive JPEG at
    the pixel bound, 9 bytes a pixel, or the decoder's cap plus the resize's working copy,
    (isqrt(MAX_PIXELS) + 1) × FIT × 16 (MAX_RESIZE_BYTES), whichever is more."""
    resize = (math.isqrt(c["MAX_PIXELS"]) + 1) * c["FIT"] * 16
    return max(9 * c["MAX_PIXELS"], c["MAX_DECODE_BYTES"] + resize)


def memory_bound(up: dict) -> dict:
    """The RSS the service may reach during the scenario, in MiB, part by part: idle, every
    pool thread holding the most one job can (`job_bytes`), every upload connection holding a
    whole body, and the allowance."""
    c = up["constants"]
    s = up["settings"]
    idle = (up["memory"].get("idle") or {}).get("VmRSS") or 0
    parts = {
        "idle": idle / 1024,
        "pool × job bound": s["pool_size"] * job_bytes(c) / 2**20,
        "bodies in flight": s["upload_connections"] * c["MAX_PICTURE_BYTES"] / 2**20,
        "allowance": UPLOAD_TARGETS["rss_allowance_mib"],
    }
    return {"parts": parts, "total": sum(parts.values())}


def summarize(up: dict, cores: int = CORES) -> dict:
    """The medians of each kind of run (the baseline's by images per second)."""
    runs = up["runs"]
    m = {k: medians(v, cores) for k, v in runs.items() if k != "picture_baseline"}
    base = runs.get("picture_baseline") or []
    m["picture_baseline"] = {
        "images_per_s": median([r["images_per_s"] for r in base]),
        "image_ms": median([r["image_ms"]["median"] for r in base]),
        "other_pct": median([(r.get("cpu") or {}).get("other_pct", 0) for r in base]),
        "runs": len(base),
    }
    up["median"] = m
    return up


def cpu_per_item_s(r: dict, cores: int = CORES) -> float | None:
    """CPU seconds one upload cost the server, or one image the baseline (our child, so its
    CPU is counted as load): what a shared machine does not inflate as it does wall time."""
    c = r.get("cpu") or {}
    pct = c.get("load_pct") if "images_per_s" in r else c.get("server_pct")
    rate = r.get("rps")
    return pct / 100 * cores / rate if pct and rate else None


def noisy_uploads(up: dict) -> bool:
    th = up["settings"].get("noisy_threshold_pct", 15.0)
    return any((r.get("cpu") or {}).get("other_pct", 0) > th
               for k in ("uploads", "picture_baseline") for r in up["runs"][k])


def throughput_ratio(up: dict) -> tuple[str, float | None]:
    """Uploads/s over the baseline's images/s, the median over cycles of neighbouring slices
    (else the medians' ratio): measured on a quiet machine; when other processes took more
    than the noise threshold during either, the baseline's CPU per image over the server's
    CPU per upload instead (the rate each reaches per core of CPU it gets)."""
    runs, m = up["runs"], up["median"]
    if noisy_uploads(up):
        return "norm_rps", paired_ratio(runs["picture_baseline"], runs["uploads"],
                                        cpu_per_item_s)
    return "rps", (paired_ratio(runs["uploads"], runs["picture_baseline"], "rps")
                   or ratio(m["uploads"].get("rps"), m["picture_baseline"]["images_per_s"]))


def storm_ratio(up: dict) -> float | None:
    runs, m = up["runs"], up["median"]

    def p99(r):
        return (r.get("latency_us") or {}).get("p99")

    return (paired_ratio(runs["storm_get_me"], runs["storm_ref"], p99)
            or ratio(m["storm_get_me"].get("p99_ms"), m["storm_ref"].get("p99_ms")))


def peak_rss_mib(up: dict) -> float | None:
    hwm = (up["memory"].get("after") or {}).get("VmHWM")
    return hwm / 1024 if hwm else None


def evaluate_uploads(up: dict) -> list[dict]:
    """The upload scenario's target rows, shaped like `verdict.evaluate`'s."""
    m = up["median"]
    rows = []

    def add(name, value, unit, r, label, ok, goal, basis_key="rps"):
        rows.append({"target": name, "value": value, "unit": unit, "ratio": r,
                     "ratio_label": label, "goal": goal,
                     "basis": "CPU-normalized" if basis_key == "norm_rps" else "measured",
                     "pass": None if ok is None else bool(ok)})

    n = up["settings"]["pool_size"]
    errs = m["uploads"]["errors"]
    k, r = throughput_ratio(up)
    goal = UPLOAD_TARGETS["throughput_ratio"]
    add("picture uploads/s vs the image library alone", m["uploads"].get("rps"), "req/s", r,
        "of picture baseline", r is not None and r >= goal and errs == 0,
        f">= {goal:.0%} of the library's images/s on {n} thread(s), no errors "
        f"(errors: {errs})", k)

    r = storm_ratio(up)
    errs = m["storm_get_me"]["errors"] + m["storm_uploads"]["errors"]
    limit = UPLOAD_TARGETS["storm_p99_ratio"]
    add("GET /users/me/ p99 during upload storm", m["storm_get_me"].get("p99_ms"), "ms", r,
        "x no-storm p99", r is not None and r <= limit and errs == 0,
        f"<= {limit:.0f}x no-storm p99, no errors (errors: {errs})")

    peak = peak_rss_mib(up)
    bound = memory_bound(up)
    up["memory_bound"] = bound
    add("peak RSS during uploads vs pool × pixel bound", peak, "MiB",
        ratio(peak, bound["total"]), "of bound",
        None if peak is None else peak <= bound["total"],
        f"<= {bound['total']:.0f} MiB (idle + {n} × {up['constants']['MAX_PIXELS']:,} px × "
        f"9 B + {up['settings']['upload_connections']} bodies × 5 MiB + "
        f"{UPLOAD_TARGETS['rss_allowance_mib']:.0f})")
    return rows


def merge(earlier: dict, uploads: dict) -> dict:
    """An earlier run's results with the upload scenario replaced by a new measurement; the
    other scenarios' figures stay as they were."""
    out = dict(earlier)
    out["uploads"] = dict(uploads, merged=True)
    return out


def files_under(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file()) if path.exists() else 0


class UploadScenario:
    """Runs scenario 7 on a fresh server of its own, so its peak RSS is this scenario's."""

    def __init__(self, bench: Bench, engine: str) -> None:
        self.b, self.a, self.engine = bench, bench.a, engine
        self.dir = bench.tmp / "uploads"
        self.dir.mkdir(exist_ok=True)
        self.picture = self.dir / "photo.jpg"
        self.pictures = self.dir / "pictures"
        self.pool = pool_size(bench.env, CORES)

    def upload_cmd(self, server: Server, tokens: Path, duration: float) -> list[str]:
        return wrk(server.url, "upload_picture.lua",
                   [str(tokens), str(self.picture), str(self.a.upload_users)], duration,
                   self.a.threads, self.a.upload_connections, self.a.wrk_timeout)

    def probe_upload(self, server: Server, token: str) -> dict:
        return http_probe(server.url, "PUT", "/users/me/picture/", token,
                          raw=self.picture.read_bytes(), content_type="image/jpeg",
                          timeout=60, read=2000)

    def baseline_run(self, seconds: float) -> dict:
        with CpuMeter(-1) as cpu:
            out = run_checked([str(RELEASE / "examples" / "picture_baseline"), "run",
                               "--input", str(self.picture), "--threads", str(self.pool),
                               "--seconds", f"{seconds:g}"],
                              timeout=seconds + 120, what="picture_baseline")
        r = json.loads(out.strip().splitlines()[-1])
        r["rps"] = r["images_per_s"]
        r["cpu"] = cpu.result
        return r

    def run(self) -> dict:
        a, b = self.a, self.b
        started = time.time()
        constants = check_constants()
        made = json.loads(run_checked(
            [str(RELEASE / "examples" / "picture_baseline"), "make-input", "--out",
             str(self.picture), "--width", str(a.upload_width), "--height",
             str(a.upload_height)], timeout=120, what="picture_baseline make-input"
        ).strip().splitlines()[-1])
        log(f"uploads: input {made['width']}×{made['height']} JPEG, {made['bytes']:,} bytes, "
            f"EXIF orientation 6; picture pool {self.pool} thread(s)")
        seed = b.seed(self.engine, "uploads", max(a.upload_users, 100))
        tokens = seed["tokens_path"]
        env_extra = {"KITCHEN_API_PICTURE_STORAGE": "local",
                     "KITCHEN_API_PICTURE_DIR": str(self.pictures),
                     "KITCHEN_API_PICTURE_CONCURRENCY": str(self.pool)}
        server = b.start_service(f"{self.engine}-uploads", seed["database_url"], env_extra)
        up: dict = {"engine": self.engine, "input": made, "constants": constants,
                    "settings": upload_settings(a, self.pool), "memory": {},
                    "runs": {k: [] for k in ("uploads", "picture_baseline", "storm_ref",
                                             "storm_get_me", "storm_uploads")}}
        try:
            time.sleep(a.idle_wait)
            up["memory"]["idle"] = proc_status(server.pid)
            probe = self.probe_upload(server, first_line(tokens))
            if probe["status"] != 200:
                raise BenchError(f"PUT /users/me/picture/ answered {probe['status']}: "
                                 f"{probe['body'][:300]}")
            run_wrk(b.get_me_cmd(server, tokens, a.warmup), a.warmup, "warm-up")
            self.work(server, tokens, up)
            up["memory"]["after"] = proc_status(server.pid)
            up["files_left"] = files_under(self.pictures)
            up["server_log"] = b.server_log_summary(server)
        finally:
            b.procs.stop(server)
            if self.engine == "postgres":
                b.pg.drop(seed["database_url"].rsplit("/", 1)[1])
        up["generated_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        up["wall_seconds"] = round(time.time() - started, 1)
        return summarize(up)

    def work(self, server: Server, tokens: Path, up: dict) -> None:
        """Each cycle: the baseline, uploads, the cheap path alone, the cheap path during an
        upload storm; every ratio is between neighbours of one cycle."""
        a, b = self.a, self.b
        ds = a.duration / a.slices
        runs = up["runs"]
        token = first_line(tokens)
        probe_get = lambda: http_probe(server.url, "GET", "/users/me/", token)  # noqa: E731
        probe_up = lambda: self.probe_upload(server, first_line(tokens))  # noqa: E731
        for i in range(a.runs):
            log(f"uploads: run {i + 1}/{a.runs}")
            for j in range(a.slices):
                cycle = f"uploads-{i}-{j}"
                b.wait_quiet()
                r = self.baseline_run(ds)
                r["cycle"] = cycle
                runs["picture_baseline"].append(r)
                log(f"  picture_baseline {r['images_per_s']:9.1f} images/s  "
                    f"({r['image_ms']['median']:.1f} ms each on {self.pool} thread(s))")
                r = b.measured(server, lambda: self.upload_cmd(server, tokens, ds), ds,
                               "uploads", probe=probe_up)
                r["cycle"] = cycle
                self.report(runs, "uploads", r)
                # Labelled get_me… so the service's own latency histogram is read around it.
                r = b.measured(server, lambda: b.get_me_cmd(server, tokens, ds), ds,
                               "get_me_alone", probe=probe_get)
                r["cycle"] = cycle
                self.report(runs, "storm_ref", r)
                r = b.measured(server, lambda: b.get_me_cmd(server, tokens, ds), ds,
                               "storm_get_me",
                               storm=lambda d: self.upload_cmd(server, tokens, d),
                               probe=probe_get)
                r["cycle"] = cycle
                storm = r.pop("storm")
                storm["cpu"] = r["cpu"]
                self.report(runs, "storm_get_me", r)
                self.report(runs, "storm_uploads", storm)
                time.sleep(a.pause)

    @staticmethod
    def report(runs: dict, key: str, r: dict) -> None:
        runs[key].append(r)
        log(f"  {key:16s} {r['rps']:9.1f} req/s  p99 {r['latency_us']['p99'] / 1e3:8.2f} ms"
            f"  errors {r['errors_total']}")


def upload_settings(a, pool: int) -> dict:
    return {"pool_size": pool, "noisy_threshold_pct": a.noisy_threshold,
            "upload_connections": a.upload_connections,
            "upload_users": a.upload_users, "get_me_connections": a.connections,
            "wrk_threads": a.threads, "duration_s": a.duration, "runs": a.runs,
            "slices": a.slices, "width": a.upload_width, "height": a.upload_height,
            "env_overrides": {k: v for k, v in sorted(os.environ.items())
                              if k.startswith("KITCHEN_API_PICTURE")}}
