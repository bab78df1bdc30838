"""Small results dicts shaped like a real run's, built in code so each test states the
figures it depends on."""

from __future__ import annotations

import copy

from kitchen_bench.stats import medians

CORES = 2


def cpu(other=1.0, server=50.0, hashing=0.0, load=40.0, db=0.0, steal=0.0) -> dict:
    return {"server_pct": server, "server_hashing_pct": hashing, "load_pct": load,
            "db_pct": db, "other_pct": other, "steal_pct": steal}


def run(rps: float, p99_ms: float = 2.0, cycle=None, errors: int = 0, **extra) -> dict:
    r = {"rps": rps, "norm_rps": rps, "requests": int(rps * 10), "errors_total": errors,
         "latency_us": {"p50": p99_ms * 250, "p90": p99_ms * 800, "p99": p99_ms * 1000},
         "cpu": cpu()}
    if cycle is not None:
        r["cycle"] = cycle
    r.update(extra)
    return r


def hashed_run(rps: float, all_cores: float | None, ceiling: float, errors: int = 0,
               **extra) -> dict:
    """A login or registration run with the hash rates `bracket` gives it."""
    extra.setdefault("cpu", cpu(server=98, hashing=92, load=1))
    r = run(rps, p99_ms=80, errors=errors, ceiling_per_s=ceiling, **extra)
    if all_cores is not None:
        r["all_cores_per_s"] = all_cores
        r["all_cores_hash_ms"] = CORES * 1000 / all_cores
    return r


def hash_timing(all_cores: float | None = 127.0, one_hash_ms: float = 14.0) -> dict:
    h = {"iterations": 20, "hash_ms": {"median": one_hash_ms},
         "verify_ms": {"median": one_hash_ms}, "hash_cpu_ms": {"median": one_hash_ms},
         "ceiling_hash_ms": one_hash_ms, "ceiling_per_s": CORES * 1000 / one_hash_ms,
         "ceiling_cores": CORES, "argon2_memory_kib": 19456, "argon2_iterations": 2,
         "argon2_parallelism": 1, "hash_concurrency": 2, "db_max_connections": 16,
         "auth_cache_max_entries": 100_000, "other_pct": 0.0}
    if all_cores is not None:
        h["parallel"] = {"hashes_per_s": all_cores, "hash_cpu_ms": {"median": 15.0}}
        h["all_cores_per_s"] = all_cores
    return h


def engine(login: list[dict], register: list[dict], *, get_me=None, storm_get_me=None,
           storm_ref=None, get_me_hot=None, get_me_small=None, soak_seconds=600.0,
           hwm_kib=120 * 1024, idle_kib=15 * 1024) -> dict:
    runs = {
        "get_me": get_me or [run(60_000, cycle="c0")],
        "get_me_hot": get_me_hot or [run(66_000, cycle="c0")],
        "get_me_small": get_me_small or [run(64_000, cycle="c0")],
        "login": login,
        "register": register,
        "put_me": [run(6_000, p99_ms=25)],
        "storm_get_me": storm_get_me or [run(55_000, p99_ms=4.0, cycle="c0")],
        "storm_ref": storm_ref or [run(60_000, p99_ms=2.0, cycle="c0")],
        "storm_login": [run(50, p99_ms=1800)],
    }
    samples = [(t, 100 * 1024) for t in range(0, int(soak_seconds) + 1, 5)]
    return {
        "engine": "sqlite",
        "seed": {"large": {"users": 1_000_000, "seconds": 13.0},
                 "small": {"users": 1_000, "seconds": 0.1}},
        "memory": {"idle": {"VmRSS": idle_kib, "VmHWM": idle_kib, "Threads": 9},
                   "after_load": {"VmRSS": 95 * 1024, "VmHWM": hwm_kib, "Threads": 23},
                   "after_soak": {"VmRSS": 100 * 1024, "VmHWM": hwm_kib, "Threads": 23}},
        "runs": runs,
        "median": {k: medians(v, CORES) for k, v in runs.items()},
        "soak": {"seconds": soak_seconds, "interval_s": 5.0, "rps": 60_000, "p99_us": 3000,
                 "errors": 0, "samples": samples, "rss_first_kib": 100 * 1024,
                 "rss_last_kib": 100 * 1024, "rss_max_kib": 100 * 1024,
                 "slope_mib_per_min": 0.0},
        "server_log": {"lines": 0, "first": []},
    }


def results(engines: dict | None = None, *, hash_=None, baseline=None, quick=False,
            noisy_threshold=15.0) -> dict:
    baseline = baseline or [run(100_000, cycle="c0")]
    engines = engines or {"sqlite": engine(
        [hashed_run(120, all_cores=127, ceiling=142)],
        [hashed_run(118, all_cores=127, ceiling=142)])}
    return copy.deepcopy({
        "generated_at": "2026-12-05T01:02:35+00:00",
        "wall_seconds": 2274.0,
        "quick": quick,
        "machine": {"cores": CORES, "cpu_model": "Test CPU", "memory_gib": 23.5,
                    "kernel": "6.1", "rustc": "rustc 1.95.0", "wrk": "wrk 4.1.0",
                    "postgres": None, "sqlite": "3.46.0", "git_head": "abc1234",
                    "service_sources_modified": False},
        "settings": {"bench_overrides": {}, "argon2": "m=19456 KiB, t=2, p=1",
                     "hash_concurrency": 2, "db_max_connections": 16, "server_log": "warn",
                     "wrk_threads": 2, "connections": 64, "login_connections": 8,
                     "storm_connections": 32, "wrk_timeout_s": 10, "hot_tokens": 1000,
                     "quiet_threshold_pct": 15.0, "noisy_threshold_pct": noisy_threshold,
                     "noisy_retries": 1, "quiet_timeout_s": 60.0, "duration_s": 10.0,
                     "runs": 1, "slices": 1, "warmup_s": 3.0, "soak_s": 600.0,
                     "users": 1_000_000, "small_users": 1_000, "tokens_in_file": 100_000,
                     "env_overrides": {}},
        "hash": hash_ or hash_timing(),
        "baseline": {"runs": baseline, "median": medians(baseline, CORES),
                     "memory": {"idle": {"VmRSS": 3 * 1024},
                                "after_load": {"VmRSS": 5 * 1024, "VmHWM": 6 * 1024}}},
        "engines": engines,
    })


def uploads(images_per_s=(20.0,), uploads_rps=(17.0,), ref_p99_ms=2.0, storm_p99_ms=4.0,
            errors=0, hwm_kib=80 * 1024, idle_kib=15 * 1024, pool=1, other=1.0) -> dict:
    """A measured upload scenario (7), one cycle per figure, summed up like a real one."""
    from kitchen_bench.uploads import summarize

    cycles = [f"u{i}" for i in range(len(images_per_s))]
    base = [{"images_per_s": x, "rps": x, "image_ms": {"median": 1000 * pool / x},
             "cpu": cpu(other=other), "cycle": c} for x, c in zip(images_per_s, cycles)]
    return summarize({
        "engine": "sqlite",
        "input": {"width": 2000, "height": 1500, "bytes": 1_100_000, "orientation": 6},
        "constants": {"MAX_PICTURE_BYTES": 5 * 1024 * 1024, "MAX_PIXELS": 50_000_000,
                      "MAX_DECODE_BYTES": 200_000_000, "FIT": 512, "JPEG_QUALITY": 85},
        "settings": {"pool_size": pool, "upload_connections": 4, "upload_users": 8,
                     "get_me_connections": 64, "wrk_threads": 2, "duration_s": 10.0,
                     "runs": 1, "slices": len(cycles), "width": 2000, "height": 1500,
                     "env_overrides": {}},
        "memory": {"idle": {"VmRSS": idle_kib, "VmHWM": idle_kib, "Threads": 9},
                   "after": {"VmRSS": hwm_kib - 1024, "VmHWM": hwm_kib, "Threads": 12}},
        "runs": {
            "picture_baseline": base,
            "uploads": [run(x, p99_ms=300, cycle=c, errors=errors, cpu=cpu(other=other))
                        for x, c in zip(uploads_rps, cycles)],
            "storm_ref": [run(60_000, p99_ms=ref_p99_ms, cycle=c) for c in cycles],
            "storm_get_me": [run(50_000, p99_ms=storm_p99_ms, cycle=c) for c in cycles],
            "storm_uploads": [run(15, p99_ms=400, cycle=c) for c in cycles],
        },
        "files_left": 8,
        "generated_at": "2026-12-06T21:00:00+00:00",
        "wall_seconds": 60.0,
    }, CORES)
