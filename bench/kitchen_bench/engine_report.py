"""The per-engine part of docs/BENCHMARKS.md: scenario table, hashing, handlers' latency, CPU
and memory. Pure text, like `report`."""

from __future__ import annotations

from .stats import judged_slope, paired_ratio, ratio
from .verdict import (SESSION_CACHE_ENTRY_BYTES, SQLITE_PAGE_CACHE_KIB, TARGETS, basis,
                      hash_ratio, size_ratio, storm_p99_ratio)

ORDER = ("get_me", "get_me_hot", "login", "register", "put_me", "storm_get_me", "storm_login",
         "get_me_small")
WHY_NOT_CEILING = ("two 19 MiB hashes do not share one L3 cache for free, and PostgreSQL "
                   "shares the same cores, so that is the machine, not the service")


def fmt(x, spec=",.0f", none="–"):
    return none if x is None else format(x, spec)


def pct(x):
    return "–" if x is None else f"{x:.0%}"


def mib(kib):
    return "–" if not kib else f"{kib / 1024:.1f}"


def scenario_label(key: str, er: dict, hot: int = 0) -> str:
    large = er["seed"]["large"]["users"]
    small = er["seed"]["small"]["users"]
    return {
        "get_me": f"1. GET /users/me/ ({large:,} users)",
        "login": "2. POST /token/ (login)",
        "register": "3. POST /users/ (registration)",
        "put_me": "4. PUT /users/me/",
        "storm_get_me": "5. GET /users/me/ during login storm",
        "storm_login": "5. … the login storm itself",
        "get_me_hot": f"1b. GET /users/me/ ({large:,} users, only {hot:,} hot tokens)",
        "get_me_small": f"6. GET /users/me/ ({small:,} users)",
    }[key]


def scenario_ratios(res: dict, engine: str, er: dict) -> dict[str, str]:
    """The ratio column of an engine's scenario table."""
    base = res["baseline"]["median"]
    med, runs = er["median"], er["runs"]
    th = res["settings"]["noisy_threshold_pct"]
    rate = res["hash"].get("all_cores_per_s")

    def rel(a: dict, b: dict | None, label: str, pairs: tuple | None = None) -> str:
        """a/b (b None: the all-cores hash rate), CPU-normalized if either was disturbed;
        with `pairs` (runs, runs alternated with them), the median of the paired ratios."""
        k, vals = basis(th, a, *([b] if b is not None else []))
        r = (pairs and paired_ratio(*pairs, k)) or (
            ratio(vals[0], vals[1]) if b is not None else hash_ratio(a, k, rate))
        return f"{pct(r)} of {label}" + (" *(n)*" if k == "norm_rps" else "")

    k, hot_small = size_ratio(runs, med, th)
    base_runs = res["baseline"]["runs"]
    return {
        "get_me": rel(med["get_me"], base, "baseline", (runs["get_me"], base_runs)),
        "login": rel(med["login"], None, "all-cores hash rate"),
        "register": rel(med["register"], None, "all-cores hash rate"),
        "put_me": rel(med["put_me"], base, "baseline"),
        "storm_get_me": "p99 {} × no-storm; {}".format(
            fmt(storm_p99_ratio(runs, med), ".2f"),
            rel(med["storm_get_me"], base, "baseline")),
        "storm_login": rel(med["storm_login"], None, "all-cores hash rate"),
        "get_me_hot": rel(med["get_me_hot"], base, "baseline", (runs["get_me_hot"], base_runs)),
        "get_me_small": "{}; large/small = {}{}".format(
            rel(med["get_me_small"], base, "baseline", (runs["get_me_small"], base_runs)),
            fmt(hot_small, ".2f"), " *(n)*" if k == "norm_rps" else ""),
    }


def engine_section(w, res: dict, engine: str, er: dict) -> None:
    s, base = res["settings"], res["baseline"]["median"]
    med, hot = er["median"], s["hot_tokens"]
    w(f"## {'SQLite' if engine == 'sqlite' else 'PostgreSQL'}")
    w("")
    seed = er["seed"]
    w(f"Seeding: {seed['large']['users']:,} users + tokens in "
      f"{seed['large']['seconds']:.1f}s; {seed['small']['users']:,} in "
      f"{seed['small']['seconds']:.1f}s.")
    w("")
    w("| Scenario | req/s | CPU-normalized req/s | p50 ms | p99 ms | errors | other CPU | "
      "ratio |")
    w("|---|---:|---:|---:|---:|---:|---:|---|")
    w(f"| baseline (all runs) | {fmt(base['rps'])} | {fmt(base.get('norm_rps'))} | "
      f"{base['p50_ms']:.2f} | {base['p99_ms']:.2f} | {base['errors']} | "
      f"{fmt((base.get('cpu') or {}).get('other_pct'))}% | 100% |")
    ratios = scenario_ratios(res, engine, er)
    for key in ORDER:
        x = med[key]
        rps = fmt(x["rps"], ",.1f" if x["rps"] < 1000 else ",.0f")
        nrps = fmt(x.get("norm_rps"), ",.1f" if (x.get("norm_rps") or 0) < 1000 else ",.0f")
        w(f"| {scenario_label(key, er, hot)} | {rps} | {nrps} | "
          f"{x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {x['errors']} | "
          f"{fmt((x.get('cpu') or {}).get('other_pct'))}% | {ratios[key]} |")
    ceiling_note(w, med)
    cpu_split(w, res, engine, med)
    probes = [(key, p) for key in ORDER for p in med[key].get("probes") or []]
    if probes:
        w("")
        w("What failing requests were answered (one request of the same kind, sent right "
          "after the measurement):")
        w("")
        for key, p in probes:
            body = p["body"].replace("`", "'")[:160]
            w(f"- {scenario_label(key, er, hot)}: `{p['status']}` `{body}`")
    handler_latency(w, er, hot)
    cpu_table(w, res, engine, er)
    memory(w, res, er)
    w("")


def ceiling_note(w, med: dict) -> None:
    vs = {key: med[key].get("vs_ceiling") for key in ("login", "register")}
    if any(v is None for v in vs.values()):
        return
    steal = {key: (med[key].get("cpu") or {}).get("steal_pct") for key in vs}
    w("")
    w("For information, against the single-hash ceiling timed around each run (cores ÷ one "
      "hash alone, less the cores the hypervisor took from the VM during the run: "
      f"{fmt(steal['login'], '.1f')}% and {fmt(steal['register'], '.1f')}%), logins made "
      f"{pct(vs['login'])} and registrations {pct(vs['register'])} (medians of the runs' "
      f"ratios). It is not the verdict: {WHY_NOT_CEILING}.")


def cpu_split(w, res: dict, engine: str, med: dict) -> None:
    split = {key: med[key].get("cpu_ms_per_request") for key in ("login", "register")}
    if not all(split.values()):
        return
    w("")
    w("Where the CPU of one login and one registration went, in ms per request "
      "(medians of the runs; together with what no process was charged for, they add "
      f"up to {res['machine']['cores']} cores ÷ req/s), beside one hash timed alone and one "
      "hash while every core hashes (`bench_hash`, around each run). The hashing threads pay "
      "what a hash costs side by side with others; the rest of the row is the service's own "
      "cost.")
    w("")
    w("| | hashing threads | rest of the server | database | wrk and interrupts | "
      "one hash alone | one hash, every core hashing |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for key, label in (("login", "login"), ("register", "registration")):
        c = split[key]
        # SQLite works inside the server's own threads.
        db = "(in the server)" if engine == "sqlite" else fmt(c["db"], ".2f")
        w(f"| {label} | {fmt(c['hashing'], '.2f')} | {fmt(c['server_rest'], '.2f')} | "
          f"{db} | {fmt(c['load'], '.2f')} | {fmt(med[key].get('hash_ms'), '.2f')} | "
          f"{fmt(med[key].get('all_cores_hash_ms'), '.2f')} |")


def handler_latency(w, er: dict, hot: int) -> None:
    med = er["median"]
    inside = [(key, med[key]) for key in ("get_me", "get_me_hot", "storm_get_me",
                                          "get_me_small")
              if med[key].get("server_le_1ms_pct") is not None]
    if not inside:
        return
    w("")
    w("How long `GET /users/me/` took in the service's handlers, from its own histogram "
      "(`kitchen_api_http_request_duration_seconds`, read from `/metrics` before and "
      "after each run; it starts when the per-route layer gets the request). wrk's "
      "latencies also hold the time a request waited in wrk, in the kernel's queues "
      "and for a worker thread; the storm lengthens the first by taking CPU from wrk.")
    w("")
    w("| Scenario | ≤ 0.1 ms | ≤ 1 ms | p99 in the handlers at most | wrk's p99 |")
    w("|---|---:|---:|---:|---:|")
    for key, x in inside:
        bound = x.get("server_p99_bound_ms")
        w(f"| {scenario_label(key, er, hot)} | "
          f"{fmt(x.get('server_le_100us_pct'), '.2f')}% | "
          f"{x['server_le_1ms_pct']:.2f}% | "
          f"{f'{bound:g} ms' if bound is not None else '–'} | "
          f"{x['p99_ms']:.2f} ms |")
    w("")
    w("(Medians of the runs; the histogram's buckets are 0.1, 0.25, 0.5, 1, 2.5, 5, 10 ms "
      "…, so the p99 column is the bucket bound it falls under.)")


def cpu_table(w, res: dict, engine: str, er: dict) -> None:
    med, base, hot = er["median"], res["baseline"]["median"], res["settings"]["hot_tokens"]
    w("")
    w("Where the CPU went during each scenario (median, percent of all "
      f"{res['machine']['cores']} cores; *other* is work on the machine unrelated to the "
      "benchmark):")
    w("")
    w("| Scenario | server | wrk + network | PostgreSQL | other | re-measured |")
    w("|---|---:|---:|---:|---:|---:|")
    bc = base.get("cpu") or {}
    if bc:
        w(f"| baseline | {fmt(bc.get('server_pct'))}% | {fmt(bc.get('load_pct'))}% | – | "
          f"{fmt(bc.get('other_pct'))}% | {base.get('retried', 0)} |")
    pg = engine == "postgres"
    for key in ORDER:
        if key == "storm_login":
            continue
        c = med[key].get("cpu") or {}
        w(f"| {scenario_label(key, er, hot)}"
          + (" (both wrk)" if key == "storm_get_me" else "")
          + f" | {fmt(c.get('server_pct'))}% | {fmt(c.get('load_pct'))}% | "
          f"{fmt(c.get('db_pct')) if pg else '–'}{'%' if pg else ''} | "
          f"{fmt(c.get('other_pct'))}% | {med[key].get('retried', 0)} |")


def memory(w, res: dict, er: dict) -> None:
    med, mem, soak = er["median"], er["memory"], er.get("soak") or {}
    w("")
    w("Memory of the server (`/proc/<pid>/status`), MiB:")
    w("")
    w("| Moment | VmRSS | VmHWM (peak) | threads |")
    w("|---|---:|---:|---:|")
    for label, key in (("idle, 1 s after start", "idle"), ("after warm-up", "after_warmup"),
                       ("after all scenarios", "after_load"), ("after the soak", "after_soak")):
        st = mem.get(key) or {}
        w(f"| {label} | {mib(st.get('VmRSS'))} | {mib(st.get('VmHWM'))} | "
          f"{st.get('Threads', '–')} |")
    peak_during = max(((med[k].get("rss_max_during_kib") or 0) for k in med), default=0)
    w("")
    w(f"Highest RSS sampled during a scenario: {mib(peak_during)} MiB "
      f"(per scenario: " + ", ".join(
          f"{k} {mib(med[k].get('rss_max_during_kib'))}" for k in
          ("get_me", "put_me", "login", "register", "storm_get_me")) + ").")
    if soak:
        window = TARGETS["growth_window_s"]
        w("")
        w(f"Growth check: {soak['seconds']:g}s of scenario 1 "
          f"({fmt(soak['rps'])} req/s, p99 {soak['p99_us'] / 1e3:.2f} ms, "
          f"{soak['errors']} errors), RSS sampled every {soak['interval_s']:g}s: "
          f"{mib(soak['rss_first_kib'])} → {mib(soak['rss_last_kib'])} MiB "
          f"(max {mib(soak['rss_max_kib'])}; trend "
          f"{fmt(soak['slope_mib_per_min'], '+.2f')} MiB/min over the whole soak, "
          f"{fmt(judged_slope(soak.get('samples') or [], window), '+.2f')} MiB/min over its "
          f"last {window:g}s, after the caches have filled).")
    bound = er.get("memory_bound")
    if bound:
        w("")
        w(f"The bound the peak is held to: {bound['total']:.1f} MiB = "
          + " + ".join(f"{k} {v:.1f}" for k, v in bound["parts"].items() if v)
          + ". The caches' parts are their configured maxima (a cached session ≈ "
          f"{SESSION_CACHE_ENTRY_BYTES} bytes; SQLite's default page cache of "
          f"{SQLITE_PAGE_CACHE_KIB:,} KiB on each pool and inline-lookup connection); the "
          "allowance covers the async runtime, connection buffers and allocator slack.")
    logsum = er.get("server_log") or {}
    if logsum.get("lines"):
        w("")
        w(f"The server wrote {logsum['lines']} log lines at level "
          f"`{res['settings']['server_log']}`; the first ones:")
        w("")
        w("```text")
        for line in logsum["first"]:
            w(line)
        w("```")


def uploads_section(w, res: dict) -> None:
    """Scenario 7: uploads against the image library alone, the cheap path during an upload
    storm, and the peak RSS against the pool size times the pixel bound."""
    from .stats import cycle_ratios, median
    from .uploads import cpu_per_item_s, memory_bound, peak_rss_mib, storm_ratio, \
        throughput_ratio

    up = res["uploads"]
    s, m, inp, c = up["settings"], up["median"], up["input"], up["constants"]
    base = m["picture_baseline"]
    w("## Uploads")
    w("")
    merged = up.get("merged")
    head = (up.get("machine") or {}).get("git_head")
    w(f"Engine: {'SQLite' if up['engine'] == 'sqlite' else 'PostgreSQL'}; a server of its "
      f"own on a fresh database, so its peak RSS is this scenario's."
      + (f" Measured on {up['generated_at']} by `bench/run --only uploads`"
         + (f" (service built from commit `{head}`)" if head else "")
         + ", merged into the figures of the run above." if merged else ""))
    w("")
    w(f"- Input: a {inp['width']}×{inp['height']} JPEG of {inp['bytes']:,} bytes (about "
      f"{inp['width'] * inp['height'] / 1e6:.0f} MP, quality 90, camera tags and EXIF "
      "orientation 6, i.e. stored sideways as phones do), made by "
      "`examples/picture_baseline.rs make-input`: smooth light, soft shapes and sensor-like "
      "noise, so it decodes and compresses like a photo. A 12 MP original would only make "
      "every figure slower, not different in kind.")
    w(f"- Service: picture pool of **{s['pool_size']} thread(s)** "
      "(`KITCHEN_API_PICTURE_CONCURRENCY`, set by the harness to the service's default "
      "unless the environment says otherwise), local storage in a temporary directory.")
    w(f"- Uploads: `PUT /users/me/picture/` with the photo as the body, {s['upload_connections']} "
      f"wrk connections taking turns over {s['upload_users']} users' tokens "
      "(`bench/lua/upload_picture.lua`); every upload replaces that user's picture.")
    w(f"- Baseline: `examples/picture_baseline.rs run`, the image library alone doing what "
      f"the service does to an upload (decode within {c['MAX_PIXELS']:,} pixels, fit within "
      f"{c['FIT']}×{c['FIT']} with CatmullRom, apply the orientation, JPEG quality "
      f"{c['JPEG_QUALITY']}) on {s['pool_size']} thread(s) over the same file; bench/tests "
      "checks its constants against `src/pictures`.")
    w("- Each cycle runs the baseline, the uploads, `GET /users/me/` alone "
      f"({s['get_me_connections']} connections) and `GET /users/me/` during an upload storm "
      "(the upload wrk starting before and ending after it), "
      f"{s['duration_s'] / s['slices']:g}s each; {s['runs']} run(s) of {s['slices']} "
      "cycle(s). Both ratios are medians of the ratios between "
      "neighbours of one cycle.")
    w("")
    w("| Measurement | rate | p50 ms | p99 ms | errors | ratio |")
    w("|---|---:|---:|---:|---:|---|")
    w(f"| image library alone ({s['pool_size']} thread(s)) | "
      f"{fmt(base['images_per_s'], ',.1f')} images/s | {fmt(base['image_ms'], '.1f')} "
      "(one image) | – | – | 100% |")
    k, r = throughput_ratio(up)
    u = m["uploads"]
    w(f"| 7. PUT /users/me/picture/ | {fmt(u['rps'], ',.1f')} req/s | {u['p50_ms']:.1f} | "
      f"{u['p99_ms']:.1f} | {u['errors']} | {pct(r)} of the library alone"
      + (" *(c)*" if k == "norm_rps" else "") + " |")
    ref, st, su = m["storm_ref"], m["storm_get_me"], m["storm_uploads"]
    w(f"| 7. GET /users/me/ alone | {fmt(ref['rps'])} req/s | {ref['p50_ms']:.2f} | "
      f"{ref['p99_ms']:.2f} | {ref['errors']} | – |")
    w(f"| 7. GET /users/me/ during the upload storm | {fmt(st['rps'])} req/s | "
      f"{st['p50_ms']:.2f} | {st['p99_ms']:.2f} | {st['errors']} | p99 "
      f"{fmt(storm_ratio(up), '.2f')} × alone |")
    w(f"| 7. … the upload storm itself | {fmt(su['rps'], ',.1f')} req/s | "
      f"{su['p50_ms']:.1f} | {su['p99_ms']:.1f} | {su['errors']} | – |")
    each = cycle_ratios(up["runs"]["storm_get_me"], up["runs"]["storm_ref"],
                        lambda x: (x.get("latency_us") or {}).get("p99"))
    if len(each) > 1:
        over = sum(1 for x in each if x > 3)
        w("")
        w("The p99 ratio of each cycle, lowest first: "
          + ", ".join(f"{x:.1f}" for x in sorted(each))
          + f" ({over} of {len(each)} over 3×).")
    inside = [(label, x.get("server_p99_bound_ms")) for label, x in
              (("alone", ref), ("during the storm", st))
              if x.get("server_p99_bound_ms") is not None]
    if inside:
        w("")
        w("`GET /users/me/` in the service's handlers (its latency histogram, read around each "
          "run; wrk's latencies also hold the time a request waited in wrk and the kernel's "
          "queues, which other processes on the machine lengthen): 99 % took at most "
          + ", ".join(f"{b:g} ms {label}" for label, b in inside) + ".")
    cpu_base = median([cpu_per_item_s(x) for x in up["runs"]["picture_baseline"]])
    cpu_up = median([cpu_per_item_s(x) for x in up["runs"]["uploads"]])
    w("")
    w(f"CPU per picture (medians): the library alone {fmt(cpu_base and cpu_base * 1e3, '.1f')} "
      f"ms per image, the server {fmt(cpu_up and cpu_up * 1e3, '.1f')} ms per upload "
      "(decoding, resizing and encoding, plus HTTP, the database and the file)."
      + (" *(c)*: other processes took more than the noise threshold of the machine during "
         "these measurements, so the ratio is the library's CPU per image over the server's "
         "CPU per upload (cycle by cycle), i.e. the rate each reaches per core it gets, not "
         "the measured rates, which depend on how much of the machine each happened to get; "
         "latencies cannot be corrected that way." if k == "norm_rps" else ""))
    w("")
    mem = up["memory"]
    bound = up.get("memory_bound") or memory_bound(up)
    peak = peak_rss_mib(up)
    one = inp["width"] * inp["height"] * 3 / 2**20
    w(f"Memory of the server: idle {mib((mem.get('idle') or {}).get('VmRSS'))} MiB; after "
      f"the scenario {mib((mem.get('after') or {}).get('VmRSS'))} MiB, **peak "
      f"{fmt(peak, '.1f')} MiB** (VmHWM). The bound it is held to: {bound['total']:.1f} MiB = "
      + " + ".join(f"{k} {v:.1f}" for k, v in bound["parts"].items())
      + f": every pool thread decoding a progressive JPEG at the pixel bound ({c['MAX_PIXELS']:,} "
      "pixels × 9 bytes: coefficients and pixels; anything else peaks lower), every upload "
      "connection "
      f"holding a whole {c['MAX_PICTURE_BYTES'] // 2**20} MiB body. This input decodes to "
      f"{one:.1f} MiB (3 bytes a pixel), so the peak shows the bound is not approached, not "
      "that it holds at the bound.")
    if up.get("files_left") is not None:
        w("")
        w(f"Files left in the picture directory after the scenario: {up['files_left']} "
          f"(one per user who uploaded, at most {s['upload_users'] + 1}: every replacement "
          "removed the old file).")
    w("")
