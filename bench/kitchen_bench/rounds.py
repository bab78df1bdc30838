"""The rounds of one engine in a full run: the cheap path in alternated slices, logins and
registrations between hash timings, the login storm, then `PUT /users/me/`."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .common import PASSWORD, log
from .drivers import Server, first_line, http_probe, wrk
from .stats import bracket, normalized_rps
from .system import CORES

if TYPE_CHECKING:
    from .runner import Bench


class EngineRounds:
    """The rounds of one engine: each runs 1, 6, 1b and the baseline in alternated slices,
    then logins and registrations between hash timings, then the storm; scenario 4 comes
    after every round, because its edits drop the cached sessions of the users it edits and
    would leave only the storm measuring a cold cache."""

    def __init__(self, bench: Bench, engine: str, servers: tuple[Server, Server, Server],
                 seeds: tuple[dict, dict], baseline_runs: list) -> None:
        self.b, self.a, self.engine = bench, bench.a, engine
        self.main, self.small_srv, self.baseline = servers
        self.large, self.small = seeds
        self.baseline_runs = baseline_runs
        self.runs: dict[str, list] = {k: [] for k in (
            "get_me", "login", "register", "put_me", "storm_get_me", "get_me_small",
            "storm_login", "storm_ref", "get_me_hot")}
        # The first --hot-tokens tokens, each reused within a second: compared with scenario 1
        # this separates the cost of the token spread from the rest.
        self.hot_tokens = bench.tmp / f"{engine}-hot.tokens"
        with open(self.large["tokens_path"]) as src, open(self.hot_tokens, "w") as dst:
            for n, line in enumerate(src):
                if n >= self.a.hot_tokens:
                    break
                dst.write(line)

    def report(self, key: str, r: dict) -> None:
        self.runs[key].append(r)
        c = r.get("cpu") or {}
        log(f"  {key:15s} {r['rps']:10.1f} req/s  p99 "
            f"{r['latency_us']['p99'] / 1e3:8.2f} ms  errors {r['errors_total']}"
            + (f"  cpu: server {c['server_pct']:.0f}% (hashing "
               f"{c.get('server_hashing_pct', 0):.0f}%) wrk {c['load_pct']:.0f}% "
               f"db {c['db_pct']:.0f}% other {c['other_pct']:.0f}% (steal "
               f"{c.get('steal_pct', 0):.0f}%)" if c else ""))

    def probe_get(self, srv: Server, tok: Path):
        return lambda: http_probe(srv.url, "GET", "/users/me/", first_line(tok))

    def probe_login(self) -> dict:
        return http_probe(self.main.url, "POST", "/token/", body={
            "email": f"user{self.large['first_id']}@bench.example.com", "password": PASSWORD})

    def probe_register(self) -> dict:
        return http_probe(self.main.url, "POST", "/users/", body={
            "email": f"probe-{os.getpid()}-{time.time_ns()}@example.com", "password": PASSWORD})

    def run(self) -> dict:
        for i in range(self.a.runs):
            log(f"{self.engine}: run {i + 1}/{self.a.runs}")
            self.cheap_slices(i)
            self.hashing(i)
            self.storm(i)
        for i in range(self.a.runs):
            log(f"{self.engine}: PUT /users/me/ run {i + 1}/{self.a.runs}")
            self.put_me()
        return self.runs

    def cheap_slices(self, i: int) -> None:
        """Baseline, 1, 6 and 1b alternated in slices; each ratio is taken between the
        neighbouring slices of one cycle (`paired_ratio`), since this VM's speed swings with
        its host's load from one 10 s run to the next."""
        b, a, main, small_srv = self.b, self.a, self.main, self.small_srv
        ds = a.duration / a.slices
        tok_large, tok_small = self.large["tokens_path"], self.small["tokens_path"]
        sliced = (("baseline", None, tok_large, None),
                  ("get_me", main, tok_large, self.probe_get(main, tok_large)),
                  ("get_me_small", small_srv, tok_small, self.probe_get(small_srv, tok_small)),
                  ("get_me_hot", main, self.hot_tokens, self.probe_get(main, self.hot_tokens)))
        for j in range(a.slices):
            for key, srv, tok, probe in sliced:
                srv = srv or self.baseline
                r = b.measured(srv, lambda srv=srv, tok=tok: b.get_me_cmd(srv, tok, ds), ds,
                               key, probe=probe)
                r["cycle"] = f"{self.engine}-{i}-{j}"
                if key != "baseline":
                    self.report(key, r)
                    continue
                self.baseline_runs.append(r)
                c = r["cpu"]
                log(f"  baseline        {r['rps']:10.1f} req/s  p99 "
                    f"{r['latency_us']['p99'] / 1e3:8.2f} ms  cpu: server "
                    f"{c['server_pct']:.0f}% wrk {c['load_pct']:.0f}% "
                    f"other {c['other_pct']:.0f}%")

    def hashing(self, i: int) -> None:
        """Logins and registrations, each between two hash timings (before the login,
        between the two, after the registration): one hash's speed drifts by ±20 % over
        minutes on a shared VM, so each run is judged against the mean of its neighbours."""
        b, a, main, d = self.b, self.a, self.main, self.a.duration
        before = b.hash_timing()
        r = b.measured(main, lambda: b.login_cmd(main, self.large, d, a.login_connections), d,
                       "login", probe=self.probe_login)
        between = b.hash_timing()
        self.report("login", {**r, **bracket(before, between, CORES)})
        time.sleep(a.pause)
        r = b.measured(main, lambda: wrk(main.url, "register.lua", [PASSWORD], d, a.threads,
                                         a.login_connections, a.wrk_timeout),
                       d, "register", probe=self.probe_register)
        after = b.hash_timing()
        self.report("register", {**r, **bracket(between, after, CORES)})
        time.sleep(a.pause)

    def storm(self, i: int) -> None:
        """The storm in slices, each right after a slice of scenario 1 without it
        ("storm_ref"): the p99 ratio is judged between those neighbours."""
        b, a, main = self.b, self.a, self.main
        ds, tok = a.duration / a.slices, self.large["tokens_path"]
        for j in range(a.slices):
            if a.slices > 1:
                ref = b.measured(main, lambda: b.get_me_cmd(main, tok, ds), ds, "storm_ref",
                                 probe=self.probe_get(main, tok))
                ref["cycle"] = f"{self.engine}-{i}-{j}"
                self.report("storm_ref", ref)
            cheap = b.measured(main, lambda: b.get_me_cmd(main, tok, ds), ds, "storm_get_me",
                               storm=lambda d: b.login_cmd(main, self.large, d,
                                                           a.storm_connections),
                               probe=self.probe_get(main, tok))
            cheap["cycle"] = f"{self.engine}-{i}-{j}"
            storm = cheap.pop("storm")
            storm["cpu"] = cheap["cpu"]
            storm["norm_rps"] = normalized_rps(storm["rps"], cheap["cpu"])
            if storm["errors_total"] > 0:
                storm["probe"] = self.probe_login()
            self.report("storm_get_me", cheap)
            self.report("storm_login", storm)
            time.sleep(a.pause)

    def put_me(self) -> None:
        b, a, main, d = self.b, self.a, self.main, self.a.duration
        tokens = self.large["tokens_path"]
        self.report("put_me", b.measured(main, lambda: wrk(
            main.url, "put_me.lua", [str(tokens)], d, a.threads, a.connections, a.wrk_timeout),
            d, "put_me", probe=lambda: http_probe(main.url, "PUT", "/users/me/",
                                                  first_line(tokens),
                                                  {"name": "Probe", "bio": "probe"})))
