"""Pure figures: parsing what wrk and /proc print, and the medians and ratios the verdicts and
the report are made of. Nothing here reads the machine, so every function is unit-tested."""

from __future__ import annotations

import json
import re
import statistics

from .common import BenchError


def ratio(a, b):
    return (a / b) if a is not None and b not in (None, 0) else None


def median(xs):
    return statistics.median(xs) if xs else None


def parse_wrk(stdout: str, what: str) -> dict:
    """The one JSON line bench/lua/common.lua prints after a run, with its errors summed."""
    for line in stdout.splitlines():
        if line.startswith("WRK_JSON "):
            r = json.loads(line[len("WRK_JSON "):])
            r["errors_total"] = sum(r["errors"].values())
            return r
    raise BenchError(f"no summary from wrk ({what}):\n{stdout[-2000:]}")


def parse_cpu_line(line: str) -> tuple[int, int, int]:
    """(busy, irq + softirq, steal) ticks from /proc/stat's first line. Steal is time the
    hypervisor gave this VM's cores to someone else: busy, but no process's."""
    fields = [int(x) for x in line.split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    steal = fields[7] if len(fields) > 7 else 0
    return sum(fields[:8]) - idle, sum(fields[5:7]), steal


def parse_pid_stat(data: str) -> tuple[str, int]:
    """(command name, utime + stime) from /proc/PID/stat; the name may hold spaces and
    parentheses, so it is cut at the last ')'."""
    comm = data[data.index("(") + 1:data.rindex(")")]
    rest = data[data.rindex(")") + 2:].split()
    return comm, int(rest[11]) + int(rest[12])


# The service's latency histogram of `GET /users/me/`: bucket bound in seconds → requests at
# or under it, cumulative. It separates time in the handlers from time queued in wrk or the
# kernel, which wrk's own latencies cannot.
ME_BUCKET = re.compile(r'^kitchen_api_http_request_duration_seconds_bucket\{method="GET",'
                       r'route="/users/me",status="200",le="([^"]+)"\} (\d+)$', re.M)


def parse_me_buckets(metrics_text: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in ME_BUCKET.finditer(metrics_text)}


def server_latency(before: dict | None, after: dict | None) -> dict | None:
    """The share of requests at or under each bucket bound between two readings, and the
    smallest bound 99 % of them are under (an upper bound of the handlers' p99)."""
    if before is None or not after or "+Inf" not in after:
        return None
    total = after["+Inf"] - before.get("+Inf", 0)
    if total <= 0:
        return None
    shares = {}
    p99_bound_ms = None
    for le in sorted((k for k in after if k != "+Inf"), key=float):
        share = 100 * (after[le] - before.get(le, 0)) / total
        shares[le] = share
        if p99_bound_ms is None and share >= 99.0:
            p99_bound_ms = float(le) * 1e3
    return {"requests": total, "le_pct": shares, "p99_bound_ms": p99_bound_ms}


def handler_figures(runs: list[dict], le: str | None) -> list[float]:
    """Each run's share of requests at or under bound `le` in the handlers, or with `le`
    None its p99 bound; runs without the figure are left out."""
    out = []
    for r in runs:
        sl = r.get("server_latency") or {}
        x = sl.get("p99_bound_ms") if le is None else sl.get("le_pct", {}).get(le)
        if x is not None:
            out.append(x)
    return out


def normalized_rps(rps: float, cpu: dict) -> float:
    """The rate at the same CPU cost per request had the benchmark been alone: req/s ÷ the
    share of the machine the server, wrk and PostgreSQL got (all scenarios are CPU-bound)."""
    ours = cpu["server_pct"] + cpu["load_pct"] + cpu["db_pct"]
    if ours >= 95 or ours <= 0:
        return rps
    return rps * 100.0 / ours


def bracket(before: dict, after: dict, cores: int) -> dict:
    """The hash rates for a run timed between two `bench_hash` timings: the mean of the two,
    so a machine that sped up or slowed down during the run is met halfway. `all_cores_per_s`
    (every core hashing at once) is the verdict's; `ceiling_per_s` (cores ÷ one hash alone)
    is for information."""
    per_hash = (before["ceiling_hash_ms"] + after["ceiling_hash_ms"]) / 2
    out = {"ceiling_per_s": cores / (per_hash / 1000.0)}
    rates = [(t.get("parallel") or {}).get("hashes_per_s") for t in (before, after)]
    if all(rates):
        out["all_cores_per_s"] = sum(rates) / 2
    side_by_side = [((t.get("parallel") or {}).get("hash_cpu_ms") or {}).get("median")
                    for t in (before, after)]
    if all(side_by_side):
        out["all_cores_hash_ms"] = sum(side_by_side) / 2
    return out


def ceiling_had(r: dict) -> float:
    """A run's single-hash ceiling less the cores the hypervisor stole during it: one hash is
    timed in CPU time, which leaves steal out, and the run's req/s does not."""
    steal = min(max((r.get("cpu") or {}).get("steal_pct", 0.0), 0.0), 100.0)
    return r["ceiling_per_s"] * (1 - steal / 100.0)


def cycle_ratios(runs: list[dict], against: list[dict], key) -> list[float]:
    """Each run's figure (`key`: a field or a function of the run) over the figure of the run
    alternated with it in the same cycle, for every cycle that has both."""
    fig = key if callable(key) else (lambda r: r.get(key))
    by_cycle = {r["cycle"]: r for r in against if r.get("cycle") is not None}
    rs = [ratio(fig(r), fig(by_cycle[r["cycle"]])) for r in runs
          if r.get("cycle") is not None and r["cycle"] in by_cycle]
    return [x for x in rs if x is not None]


def paired_ratio(runs: list[dict], against: list[dict], key) -> float | None:
    """The median of `cycle_ratios`: neighbouring slices a few seconds apart see the same
    machine, so its swings between cycles cancel out. None when no run is paired."""
    return median(cycle_ratios(runs, against, key))


def cpu_per_request(runs: list[dict], cores: int) -> dict:
    """Each part of the machine's CPU, in ms per request (medians of the runs): the server's
    hashing threads, the rest of the server, the database, and wrk with the interrupts."""
    runs = [r for r in runs if "server_hashing_pct" in (r.get("cpu") or {}) and r.get("rps")]
    if not runs:
        return {}

    def ms(r: dict, pct: float) -> float:
        return pct / 100 * cores * 1000 / r["rps"]

    parts = {
        "hashing": lambda c: c["server_hashing_pct"],
        # The process's and its threads' ticks are read a moment apart: never below zero.
        "server_rest": lambda c: max(0.0, c["server_pct"] - c["server_hashing_pct"]),
        "db": lambda c: c["db_pct"],
        "load": lambda c: c["load_pct"],
    }
    return {k: statistics.median(ms(r, f(r["cpu"])) for r in runs) for k, f in parts.items()}


def all_cores_cpu_rate(r: dict, cores: int) -> float:
    """The all-cores hash rate at the CPU cost of one hash while every core hashes: what a
    CPU-normalized rate is set against, since other work on a shared machine slows the
    wall-clock rate but not that cost."""
    per_hash = r.get("all_cores_hash_ms")
    return cores * 1000 / per_hash if per_hash else r["all_cores_per_s"]


CPU_KEYS = ("server_pct", "server_hashing_pct", "load_pct", "db_pct", "other_pct", "steal_pct")


def medians(runs: list[dict], cores: int) -> dict:
    """One scenario's runs summed up: medians of rates and latencies, errors summed, and for
    logins and registrations (runs with hash rates from `bracket`) the medians of each run's
    ratios to the rates timed around it."""
    if not runs:
        return {}
    hashed = [r for r in runs if r.get("ceiling_per_s")]
    all_cores = [r for r in runs if r.get("all_cores_per_s")]
    cpus = [r.get("cpu") or {} for r in runs]
    return {
        "rps": median([r["rps"] for r in runs]),
        "norm_rps": median([r.get("norm_rps", r["rps"]) for r in runs]),
        "p50_ms": median([r["latency_us"]["p50"] / 1e3 for r in runs]),
        "p90_ms": median([r["latency_us"]["p90"] / 1e3 for r in runs]),
        "p99_ms": median([r["latency_us"]["p99"] / 1e3 for r in runs]),
        "errors": sum(r["errors_total"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "runs": len(runs),
        "rss_max_during_kib": max((r.get("rss_max_during_kib") or 0) for r in runs) or None,
        "cpu": {k: median([c[k] for c in cpus if k in c]) for k in CPU_KEYS
                if any(k in c for c in cpus)},
        "retried": sum(1 for r in runs if r.get("attempt", 1) > 1),
        "slow_statements": sum(r.get("slow_statements", 0) for r in runs),
        "probes": [r["probe"] for r in runs if r.get("probe")][:3],
        "server_le_1ms_pct": median(handler_figures(runs, "0.001")),
        "server_le_100us_pct": median(handler_figures(runs, "0.0001")),
        "server_p99_bound_ms": median(handler_figures(runs, None)),
        "vs_all_cores": median([r["rps"] / r["all_cores_per_s"] for r in all_cores]),
        "norm_vs_all_cores": median([r.get("norm_rps", r["rps"]) / all_cores_cpu_rate(r, cores)
                                     for r in all_cores]),
        "vs_ceiling": median([r["rps"] / ceiling_had(r) for r in hashed]),
        "cpu_ms_per_request": cpu_per_request(hashed, cores),
        "hash_ms": median([cores * 1000 / r["ceiling_per_s"] for r in hashed]),
        "all_cores_hash_ms": median([r["all_cores_hash_ms"] for r in hashed
                                     if r.get("all_cores_hash_ms")]),
    }


def rss_slope(samples: list) -> float | None:
    """MiB per minute: the least-squares slope of (seconds, KiB) samples."""
    if len(samples) < 3:
        return None
    xs, ys = [t for t, _ in samples], [v for _, v in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if den <= 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 60 / 1024


def judged_slope(samples: list, window_s: float) -> float | None:
    """The slope over the last `window_s` of the samples; what comes before is the caches
    filling up to their bounds."""
    if not samples:
        return None
    start = samples[-1][0] - window_s
    return rss_slope([(t, v) for t, v in samples if t >= start])
