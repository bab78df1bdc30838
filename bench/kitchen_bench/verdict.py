"""The targets and how a run's figures are judged against them. Pure: `evaluate` takes the
results dict and returns each engine's rows."""

from __future__ import annotations

import statistics

from .stats import judged_slope, paired_ratio, ratio
from .uploads import evaluate_uploads

TARGETS = {
    "get_me_ratio": {"sqlite": 0.50, "postgres": 0.35},
    "storm_p99_ratio": 3.0,
    # Logins and registrations against the machine's own all-cores hash rate, measured in
    # the same run: what the hardware does with every core hashing is what the service can
    # be asked to reach, not cores × one hash alone.
    "hash_ratio": 0.90,
    "size_ratio": 0.85,
    "idle_rss_mib": 30.0,
    # The one unexplained part of the memory bound: the async runtime, connection buffers
    # and allocator slack.
    "rss_allowance_mib": 32.0,
    # The slope is judged only after the caches have filled; over a shorter window their
    # bounded steps both ways read as growth or shrinkage.
    "growth_mib_per_min": 1.0,
    "growth_window_s": 300.0,
    "growth_warmup_s": 300.0,
}

# The service's memory model, as the README's settings table states it: a cached session is
# about 300 bytes; SQLite keeps its default 2,000 KiB page cache on each pool connection and on
# each of the inline session lookup's (at most 8).
SESSION_CACHE_ENTRY_BYTES = 300
SQLITE_PAGE_CACHE_KIB = 2000
SQLITE_INLINE_CONNECTIONS = 8
DEFAULT_AUTH_CACHE_MAX_ENTRIES = 100_000


def noisy(*meds: dict, threshold: float) -> bool:
    return any(((m.get("cpu") or {}).get("other_pct") or 0) > threshold for m in meds)


def basis(threshold: float, *meds: dict) -> tuple[str, list]:
    """Measured req/s when the machine was quiet for all of `meds`, else the CPU-normalized
    figures of all of them, so a ratio always compares like with like."""
    key = "norm_rps" if noisy(*meds, threshold=threshold) else "rps"
    return key, [m.get(key) for m in meds]


def hash_ratio(med: dict, k: str, all_cores_per_s: float | None = None) -> float | None:
    """Logins or registrations over the all-cores hash rate: the median over runs of each
    run's rate over the rate timed on either side of it (CPU-normalized against CPU-based,
    see `all_cores_cpu_rate`); for runs without their own timings (the storm's logins), the
    median rate over the whole run's all-cores rate."""
    paired = med.get("norm_vs_all_cores" if k == "norm_rps" else "vs_all_cores")
    return paired if paired is not None else ratio(med.get(k), all_cores_per_s)


def storm_p99_ratio(runs: dict, m: dict) -> float | None:
    """Scenario 5's p99 over scenario 1's without the storm: paired with the slice just before
    each storm slice when the run was sliced, else the medians' ratio."""
    def p99(r):
        return (r.get("latency_us") or {}).get("p99")

    return (paired_ratio(runs["storm_get_me"], runs.get("storm_ref") or [], p99)
            or ratio(m["storm_get_me"]["p99_ms"], m["get_me"]["p99_ms"]))


def size_ratio(runs: dict, m: dict, threshold: float) -> tuple[str, float | None]:
    """Scenario 1b over 6: the same number of tokens on both sides, so only the size of the
    users table differs."""
    k, (a, b) = basis(threshold, m["get_me_hot"], m["get_me_small"])
    return k, paired_ratio(runs["get_me_hot"], runs["get_me_small"], k) or ratio(a, b)


def memory_bound(h: dict, engine: str, idle_mib: float) -> dict:
    """The RSS the service may reach under load, in MiB, part by part."""
    entries = h.get("auth_cache_max_entries", DEFAULT_AUTH_CACHE_MAX_ENTRIES)
    parts = {
        "idle": idle_mib,
        "hashing": h["hash_concurrency"] * h["argon2_memory_kib"] / 1024,
        "session cache": entries * SESSION_CACHE_ENTRY_BYTES / 2**20,
        "SQLite page caches": ((h["db_max_connections"] + SQLITE_INLINE_CONNECTIONS)
                               * SQLITE_PAGE_CACHE_KIB / 1024 if engine == "sqlite" else 0.0),
        "allowance": TARGETS["rss_allowance_mib"],
    }
    return {"parts": parts, "total": sum(parts.values())}


def evaluate(res: dict) -> dict:
    """Each engine's target rows: name, value, ratio, goal and pass (None: not judged)."""
    base = res["baseline"]["median"]
    h = res["hash"]
    th = res["settings"]["noisy_threshold_pct"]
    out = {}
    for engine, er in res["engines"].items():
        m, runs = er["median"], er["runs"]
        t: list[dict] = []

        def add(name, value, unit, ratio_value, ratio_label, ok, goal, basis_key="rps"):
            t.append({"target": name, "value": value, "unit": unit, "ratio": ratio_value,
                      "ratio_label": ratio_label, "goal": goal,
                      "basis": "CPU-normalized" if basis_key == "norm_rps" else "measured",
                      "pass": bool(ok) if ok is not None else None})

        k, (a, b) = basis(th, m["get_me"], base)
        r = paired_ratio(runs["get_me"], res["baseline"]["runs"], k) or ratio(a, b)
        goal = TARGETS["get_me_ratio"][engine]
        add("GET /users/me/ throughput vs baseline", a, "req/s", r, "of baseline",
            r is not None and r >= goal, f">= {goal:.0%} of baseline", k)

        r = storm_p99_ratio(runs, m)
        errs = m["storm_get_me"]["errors"] + m["storm_login"]["errors"]
        add("GET /users/me/ p99 during login storm", m["storm_get_me"]["p99_ms"], "ms", r,
            "x no-storm p99", r is not None and r <= TARGETS["storm_p99_ratio"] and errs == 0,
            f"<= {TARGETS['storm_p99_ratio']:.0f}x no-storm p99, no errors (errors: {errs})")

        rate = h.get("all_cores_per_s")
        for key, name in (("login", "logins"), ("register", "registrations")):
            k, (a,) = basis(th, m[key])
            r = hash_ratio(m[key], k)
            # No all-cores timing around the runs: nothing fair to judge against.
            ok = None if r is None else (r >= TARGETS["hash_ratio"] and m[key]["errors"] == 0)
            add(f"{name}/s vs all-cores hash rate", a, "req/s", r, "of all-cores hash rate",
                ok, f">= {TARGETS['hash_ratio']:.0%} of the machine's all-cores hash rate "
                "timed around each run"
                + (f" (run median {rate:.1f}/s)" if rate else "") + ", no errors", k)

        k, r = size_ratio(runs, m, th)
        add(f"GET /users/me/ with {er['seed']['large']['users']:,} vs "
            f"{er['seed']['small']['users']:,} users (same token count)", m["get_me_hot"][k],
            "req/s", r, "large/small", r is not None and r >= TARGETS["size_ratio"],
            f">= {TARGETS['size_ratio']:.0%} (within 15%)", k)

        idle = er["memory"]["idle"].get("VmRSS")
        idle_mib = idle / 1024 if idle else None
        add("idle RSS after start", idle_mib, "MiB", None, "",
            idle_mib is not None and idle_mib < TARGETS["idle_rss_mib"],
            f"< {TARGETS['idle_rss_mib']:.0f} MiB")

        mem = er["memory"]
        peak = max(((mem.get(x) or {}).get("VmHWM") or 0
                    for x in ("after_load", "after_soak")), default=0) / 1024
        if idle_mib is not None and peak:
            bound = memory_bound(h, engine, idle_mib)
            er["memory_bound"] = bound
            add("peak RSS under load vs bound", peak, "MiB", peak / bound["total"],
                "of bound", peak <= bound["total"],
                f"<= {bound['total']:.0f} MiB (idle + {h['hash_concurrency']} × "
                f"Argon2 memory + caches' bounds + {TARGETS['rss_allowance_mib']:.0f})")

        soak = er.get("soak") or {}
        window, warmup = TARGETS["growth_window_s"], TARGETS["growth_warmup_s"]
        slope = judged_slope(soak.get("samples") or [], window)
        if slope is not None:
            long_enough = soak["seconds"] >= window + warmup
            add(f"RSS growth over the soak's last {window / 60:.0f} min", slope, "MiB/min",
                None, "", (slope <= TARGETS["growth_mib_per_min"]) if long_enough else None,
                f"<= {TARGETS['growth_mib_per_min']:g} MiB/min over {window / 60:.0f} min "
                f"after {warmup / 60:.0f} min of warm-up"
                + ("" if long_enough else f" (this soak: {soak['seconds']:g}s, not judged)"))
        out[engine] = t
    up = res.get("uploads")
    if up and up.get("median"):
        out.setdefault(up["engine"], []).extend(evaluate_uploads(up))
    return out


def machine_share_of_others(res: dict) -> list[float]:
    """Each scenario's median share of the machine taken by unrelated processes."""
    return [(x.get("cpu") or {}).get("other_pct") or 0
            for er in res["engines"].values() for x in er["median"].values()]


def shared_machine(res: dict) -> float | None:
    """The median share other processes took, when it was over the noise threshold."""
    others = machine_share_of_others(res)
    if others and statistics.median(others) > res["settings"]["noisy_threshold_pct"]:
        return statistics.median(others)
    return None
