"""Open-loop HTTP latency and capacity: Switchboard's `POST /v1/calls` beside a bare FastAPI
JSON endpoint served the same way (one uvicorn worker), side by side in one run (DESIGN §6).

    .venv/bin/python bench/openloop.py
    .venv/bin/python bench/openloop.py --url http://127.0.0.1:8000 --api-key <tenant admin key>

Open loop: for each offered rate the send times are drawn in advance (Poisson arrivals, seeded
by `--seed`, rate and round) and a scheduler fires every request at its time whatever happened
to the earlier ones. Latency = response time − SCHEDULED send time, so a request that waited
in the client (for a connection) or in the server is charged for it. Requests go out over a
pool of HTTP/1.1 keep-alive connections (`--connections`, opened on demand) through a minimal
asyncio protocol client on uvloop (bench/loadgen.py, shared with bench/replicas.py): on this
machine it spends ~60 µs of CPU per request (httpx.AsyncClient spent milliseconds), and the
generator shares the two cores with the server and Redis. The generator's own lag (fired −
scheduled), its CPU, the servers' and Redis's CPU and what other processes took are measured
per block; a warning says when they could distort.

Work per Switchboard request: `POST /v1/calls {"queue": ...}` on a queue with `auto_accept:
true`, `wrap_up_s: 0` and enough available agents (added between blocks as the rate grows),
so the answer is the call connected to an agent: arrival → offer committed → accepted. Every
call is then completed so agents never run out, from a background loop over its own
connections, not timed: with `--complete hold` (default) `--hold-s` after its answer, during
the block, so the server's state is steady (busy agents ≈ rate × hold) and the server serves
one completion per arrival; with `--complete between` only after the block, so the server
serves arrivals alone (as bench/arrivals.py does, the DESIGN §6 ratio's own terms). After
every block anything still open on the queue is completed or abandoned.

Plan: for each rate of `--rates`, `--rounds` rounds of [bare block, Switchboard block], each
`--duration` s on the same schedule. A target *sustains* a rate when, over the last 80 % of
its blocks, 2xx answers reach ≥ 95 % of the requests due, and ≤ 0.1 % of all requests failed
(non-2xx, timeout after `--timeout-s`, connection). Its capacity is the highest rate it
sustains (the step from the first failure refined by `--refine` bisections); a target stops
at its first failure. Then both run at 50 % of Switchboard's capacity (`--half-duration` s
blocks, for more samples behind the p99): DESIGN §6 asks HTTP p99 ≤ 50 ms there, and arrivals
≥ 50 % of the bare endpoint's throughput (capacity ÷ capacity here). Also reported: the
highest rate sustained with p99 ≤ `--p99-bound-ms`.

With no `--url` it starts everything itself on loopback free ports and stops it by PID at the
end, errors included: its own redis-server (bench/common.py), `switchboard serve` (one worker,
SQLite in a temporary directory, Redis db 0, a platform admin token, waits for /readyz), a
tenant, and bench/bare_app.py in its own uvicorn worker on its own port (Redis db 1, its own
SQLite: the same app plus `GET /bench/bare`, idle otherwise). With `--url` (plain http) it
uses that server and tenant key (admin role: it PUTs queue `--queue` and agents `<queue>-<n>`
and deletes them at the end) and `--bare-url` (default `<url>/bench/bare`; skipped if absent);
on this machine `--server-pid`, `--bare-pid`, `--redis-pid` let it read their CPU (else they
count among "others").

Prints Markdown tables; writes bench/results/openloop.json.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `bench` importable when run as a script

import httpx  # noqa: E402
import uvloop  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from bench.common import HOST, free_port, start_redis, stop  # noqa: E402
from bench.loadgen import (  # noqa: E402
    Block,
    Completer,
    Json,
    Target,
    Tenant,
    cpu_s,
    fmt,
    http_request,
    log,
    publish,
    run_block,
    summarise,
    wait_ready,
)

RESULTS = ROOT / "bench" / "results" / "openloop.json"


# --------------------------------------------------------------------------- servers


class Servers:
    """What this bench started: every process stopped by PID, in reverse, on exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="sb-openloop-"))
        self.admin_token = "bench-admin-" + secrets.token_hex(8)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env})
        self.procs.append(proc)
        log(f"started {name} pid={proc.pid}")
        return proc

    def app_env(self, redis_url: str, database_url: str) -> dict[str, str]:
        return {"SWITCHBOARD_REDIS_URL": redis_url, "SWITCHBOARD_DATABASE_URL": database_url,
                "SWITCHBOARD_ADMIN_TOKEN": self.admin_token, "SWITCHBOARD_LOG_LEVEL": "WARNING"}

    def close(self) -> None:
        for proc in reversed(self.procs):
            stop(proc, log)
        shutil.rmtree(self.tmp, ignore_errors=True)


async def start_servers(servers: Servers, args: argparse.Namespace) -> Json:
    """redis-server, `switchboard serve` and the bare app; a tenant. Returns the endpoints."""
    redis_port, sb_port, bare_port = free_port(), free_port(), free_port()
    redis = start_redis(redis_port, log)
    servers.procs.append(redis)
    cli = Path(sys.executable).parent / "switchboard"
    serve = [str(cli)] if cli.exists() else [sys.executable, "-m", "app.cli"]
    sb = servers.start("switchboard serve", [*serve, "serve", "--host", HOST, "--port",
                                             str(sb_port)],
                       servers.app_env(f"redis://{HOST}:{redis_port}/0", args.database_url
                                       or f"sqlite+aiosqlite:///{servers.tmp / 'sb.db'}"))
    bare = None
    if not args.no_bare:
        bare = servers.start("bench/bare_app.py worker", [
            sys.executable, "-m", "uvicorn", "bench.bare_app:create_app", "--factory",
            "--app-dir", str(ROOT), "--host", HOST, "--port", str(bare_port), "--workers", "1",
            "--log-level", "warning", "--no-access-log"],
            servers.app_env(f"redis://{HOST}:{redis_port}/1",
                            f"sqlite+aiosqlite:///{servers.tmp / 'bare.db'}"))
    sb_url = f"http://{HOST}:{sb_port}"
    await wait_ready(sb_url, sb)
    if bare is not None:
        await wait_ready(f"http://{HOST}:{bare_port}", bare)
    async with httpx.AsyncClient(base_url=sb_url, timeout=30) as http:
        r = await http.post("/v1/tenants", json={"id": f"openloop-{secrets.token_hex(3)}"},
                            headers={"Authorization": f"Bearer {servers.admin_token}"})
        r.raise_for_status()
    return {"url": sb_url, "api_key": r.json()["api_key"], "sb_pid": sb.pid,
            "redis_pid": redis.pid, "redis_url": f"redis://{HOST}:{redis_port}/0",
            "bare_url": None if bare is None else
            f"http://{HOST}:{bare_port}/bench/bare", "bare_pid": None if bare is None
            else bare.pid}


# --------------------------------------------------------------------------- the plan


class Run:
    """Targets, the Switchboard tenant and completer, and every block measured."""

    def __init__(self, args: argparse.Namespace, targets: dict[str, Target],
                 tenant: Tenant | None, completer: Completer | None,
                 redis_pid: int | None, redis_url: str | None) -> None:
        self.args, self.targets, self.tenant, self.completer = args, targets, tenant, completer
        self.redis_pid = redis_pid
        self.redis = None if redis_url is None else Redis.from_url(redis_url)
        self.blocks: list[Block] = []
        self.swept = 0

    def agents_for(self, rate: float) -> int:
        agents: int = self.args.agents
        hold_s: float = self.args.hold_s
        duration_s: float = self.args.duration
        if agents:
            return agents
        if self.args.complete == "hold":  # busy ≈ rate × (hold + answer + completion), ×2
            return math.ceil(rate * (hold_s + 0.25) * 2) + 20
        return math.ceil(rate * duration_s * 1.2) + 20

    async def block(self, name: str, rate: float, rnd: int, phase: str,
                    record: bool = True) -> Block:
        target = self.targets[name]
        sb = name == "switchboard"
        if sb and self.tenant is not None:
            await self.tenant.ensure_agents(self.agents_for(rate))
        pids = {"server": target.pid, "redis": self.redis_pid,
                "idle_server": next((t.pid for t in self.targets.values() if t is not target),
                                    None)}
        evalsha0 = await self.evalsha() if sb else None
        duration_s = {"warm-up": 2.0, "half-capacity": self.args.half_duration}.get(
            phase, self.args.duration)
        b = await run_block(target, self.completer if sb else None, rate, rnd, phase,
                            duration_s, self.args,
                            lambda: {k: cpu_s(p) for k, p in pids.items()})
        evalsha1 = await self.evalsha() if sb else None
        if evalsha0 is not None and evalsha1 is not None:
            b.evalsha = evalsha1 - evalsha0
        if sb and self.tenant is not None:
            self.swept += await self.tenant.sweep()
        if record:
            self.blocks.append(b)
            s = summarise([b])
            log(f"{phase} {name} @ {rate:g}/s r{rnd}: achieved {s['achieved_rps']}/s, "
                f"p50 {s['p50_ms']} p99 {s['p99_ms']} max {s['max_ms']} ms, errors "
                f"{s['errors']}, lag p99 {s['gen_lag_p99_ms']} ms, cpu gen "
                f"{s['generator_cpu']} srv {s['server_cpu']} redis {s['redis_cpu']} foreign "
                f"{s['foreign_cpu']}, EVALSHA/call {s['evalsha_per_call']}")
        return b

    async def evalsha(self) -> int | None:
        """Scripts Redis has run (INFO commandstats): arrivals, completions, lost claim races
        and the background loops alike."""
        if self.redis is None:
            return None
        stats: Any = await self.redis.info("commandstats")
        return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))

    def pooled(self, name: str, rate: float, phase: str | None = None) -> Json:
        return summarise([b for b in self.blocks if b.target == name and b.rate == rate
                          and (phase is None or b.phase == phase)])

    async def side_by_side(self, names: list[str], rate: float, phase: str) -> dict[str, Json]:
        for rnd in range(self.args.rounds):
            for name in names:
                await self.block(name, rate, rnd, phase)
        return {name: self.pooled(name, rate, phase) for name in names}

    async def plan(self) -> Json:
        a = self.args
        names = list(self.targets)
        # Warm-up, not recorded; Switchboard first (its agents are created then), so that the
        # first measured block, the bare one, follows its own warm-up closely.
        for name in sorted(names, key=lambda n: n != "switchboard"):
            await self.block(name, a.rates[0], -1, "warm-up", record=False)
        steps: list[Json] = []
        passed: dict[str, float] = {}
        failed: dict[str, float] = {}
        alive = list(names)
        for rate in a.rates:
            if not alive:
                break
            row = await self.side_by_side(alive, rate, "step")
            steps.append({"rate": rate, **row})
            for name in list(alive):
                if row[name]["sustained"]:
                    passed[name] = rate
                else:
                    failed[name] = rate
                    alive.remove(name)
        # Switchboard first, then its 50 % run, then the bare endpoint: the figures DESIGN §6
        # asks for are measured as close together as possible.
        refined: list[Json] = []
        half: Json = {}
        for name in sorted(names, key=lambda n: n != "switchboard"):
            lo, hi = passed.get(name), failed.get(name)
            for _ in range(a.refine):
                if lo is None or hi is None or hi - lo < max(10.0, 0.05 * lo):
                    break
                mid = float(round((lo + hi) / 2))
                s = (await self.side_by_side([name], mid, "refine"))[name]
                refined.append(s)
                lo, hi = (mid, hi) if s["sustained"] else (lo, mid)
            if lo is not None:
                passed[name] = lo
            if hi is not None:
                failed[name] = hi
            if name == "switchboard" and lo and not a.no_half:
                h = float(round(lo / 2))
                half = {"rate": h, **await self.side_by_side(names, h, "half-capacity")}
        capacity = {name: {"sustained_rps": passed.get(name), "first_failed_rps":
                           failed.get(name), "p99_within_bound_rps": self._within_bound(name)}
                    for name in names}
        return {"steps": steps, "refined": refined, "capacity": capacity, "half": half}

    def _within_bound(self, name: str) -> float | None:
        rates = sorted({b.rate for b in self.blocks if b.target == name
                        and b.phase in ("step", "refine")})
        best = None
        for rate in rates:
            s = self.pooled(name, rate)
            if s["sustained"] and s["p99_ms"] <= self.args.p99_bound_ms:
                best = rate
            elif not s["sustained"]:
                break
        return best


# --------------------------------------------------------------------------- report


def tables(res: Json) -> str:
    a = res["args"]
    names = res["targets"]
    out = [f"Side by side, {a['rounds']} × {a['duration']:g} s blocks per rate, "
           f"pooled (latency from the scheduled send time):", "",
           "| offered/s | target | achieved/s | errors | p50 ms | p99 ms | p99.9 ms | max ms "
           "| gen lag p99 ms | CPU gen / server / redis / others | server CPU ms/req | "
           "sustained |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = [(r["rate"], r[n]) for r in res["steps"] for n in names if n in r]
    rows += [(s["rate"], s) for s in res["refined"]]
    if res["half"]:
        rows += [(res["half"]["rate"], res["half"][n]) for n in names]
    for rate, s in rows:
        label = f"{rate:g}" + (" (50 % of cap.)" if res["half"] and s is res["half"].get(
            s["target"]) else "")
        out.append(
            f"| {label} | {s['target']} | {s['achieved_rps']:.0f} | {s['errors']} | "
            f"{s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['p999_ms']:.1f} | {fmt(s['max_ms'])} | "
            f"{s['gen_lag_p99_ms']:.2f} | {fmt(s['generator_cpu'], '.0%')} / "
            f"{fmt(s['server_cpu'], '.0%')} / {fmt(s['redis_cpu'], '.0%')} / "
            f"{fmt(s['foreign_cpu'], '.0%')} | {fmt(s['server_cpu_ms_per_request'], '.2f')} | "
            f"{'yes' if s['sustained'] else 'NO'} |")
    if "bare" in names and "switchboard" in names:
        out += ["", "| offered/s | bare p50 / p99 ms | switchboard p50 / p99 ms | "
                "achieved switchboard ÷ bare |", "|---|---|---|---|"]
        for r in res["steps"]:
            if "bare" in r and "switchboard" in r:
                b, s = r["bare"], r["switchboard"]
                ratio = s["achieved_rps"] / b["achieved_rps"] if b["achieved_rps"] else 0
                out.append(f"| {r['rate']:g} | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} | "
                           f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} | {ratio:.0%} |")
    cap = res["capacity"]
    out += ["", f"| target | capacity (sustained) | first rate not sustained | highest rate "
            f"with p99 ≤ {a['p99_bound_ms']:g} ms |", "|---|---|---|---|"]
    for n in names:
        c = cap[n]
        at_least = "≥ " if c["first_failed_rps"] is None else ""
        out.append(f"| {n} | {at_least}{fmt(c['sustained_rps'], 'g')}/s | "
                   f"{fmt(c['first_failed_rps'], 'g')}/s | "
                   f"{fmt(c['p99_within_bound_rps'], 'g')}/s |")
    v = res["verdict"]
    if v.get("ratio") is not None:
        bounds = " and ".join(v["lower_bounds"])
        out.append(f"\nSwitchboard capacity ÷ bare capacity: {v['ratio']:.0%} (goal ≥ 50 %"
                   f"{'; ' + bounds + ' sustained every rate tried' if bounds else ''})")
    if v.get("half_p99_ms") is not None:
        of = "its highest rate tried" if "switchboard" in v["lower_bounds"] else "capacity"
        out.append(f"At 50 % of Switchboard's {of} ({v['half_rate']:g}/s): p50 "
                   f"{v['half_p50_ms']:.1f} ms, p99 {v['half_p99_ms']:.1f} ms, p99.9 "
                   f"{v['half_p999_ms']:.1f} ms (goal p99 ≤ 50 ms: "
                   f"{'met' if v['half_p99_ms'] <= 50 else 'NOT met'})")
    return "\n".join(out)


def verdict(res: Json) -> Json:
    cap = res["capacity"]
    sb = cap.get("switchboard", {}).get("sustained_rps")
    bare = cap.get("bare", {}).get("sustained_rps")
    # A target that sustained every rate tried has a capacity above it: a lower bound only.
    v: Json = {"ratio": round(sb / bare, 3) if sb and bare else None,
               "lower_bounds": [n for n, c in cap.items() if c["sustained_rps"] is not None
                                and c["first_failed_rps"] is None]}
    half = res["half"].get("switchboard")
    if half:
        v |= {"half_rate": res["half"]["rate"], "half_p50_ms": half["p50_ms"],
              "half_p99_ms": half["p99_ms"], "half_p999_ms": half["p999_ms"]}
    return v


def warnings(blocks: list[Block]) -> list[str]:
    """Where the generator may have inflated the figures or been the limit (its lag is part
    of every latency), where others' work took a core, or the server's state was not
    steady."""
    out = []
    groups: dict[tuple[str, str, float], list[Block]] = {}
    for b in blocks:
        groups.setdefault((b.phase, b.target, b.rate), []).append(b)
    for (phase, name, rate), bs in groups.items():
        s = summarise(bs)
        where = f"{phase} {name} @ {rate:g}/s"
        if (s["gen_lag_p99_ms"] > max(2.0, 0.1 * s["p99_ms"])
                or (s["generator_cpu"] or 0) > 0.8):
            out.append(f"{where}: generator lag p99 {s['gen_lag_p99_ms']} ms (max "
                       f"{s['gen_lag_max_ms']}) against latency p99 {s['p99_ms']} ms; "
                       f"generator CPU {s['generator_cpu']}")
        if (s["foreign_cpu"] or 0) > 0.25:
            out.append(f"{where}: other processes took {s['foreign_cpu']} cores meanwhile "
                       f"(of which hypervisor steal {s['steal_cpu']})")
        if s["not_offered_at_once"] or s["completion_errors"]:
            out.append(f"{where}: {s['not_offered_at_once']} calls not offered at once, "
                       f"{s['completion_errors']} completion errors")
    return out


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", help="a running Switchboard (http://host:port); else start one")
    p.add_argument("--api-key", help="with --url: an admin key of the tenant to use")
    p.add_argument("--bare-url", help="with --url: a bare JSON GET endpoint "
                                      "(default <url>/bench/bare, skipped if absent)")
    p.add_argument("--server-pid", type=int, help="with --url on this machine: read its CPU")
    p.add_argument("--bare-pid", type=int, help="with --url on this machine: the bare server's")
    p.add_argument("--redis-pid", type=int, help="with --url on this machine: Redis's")
    p.add_argument("--no-bare", action="store_true", help="Switchboard only")
    p.add_argument("--database-url", help="without --url: the started server's database "
                                          "(default SQLite in a temporary directory)")
    p.add_argument("--queue", default="openloop", help="queue created for the run")
    p.add_argument("--rates", default="25,50,100,200,400,800,1600,3200,6400",
                   help="offered rates per second, stepped up")
    p.add_argument("--rate", type=float, help="one rate only (same as --rates X)")
    p.add_argument("--duration", type=float, default=4, help="seconds per block")
    p.add_argument("--rounds", type=int, default=2, help="blocks per target per rate")
    p.add_argument("--refine", type=int, default=2,
                   help="bisections between the last rate sustained and the first not")
    p.add_argument("--no-half", action="store_true", help="skip the 50 %%-of-capacity run")
    p.add_argument("--half-duration", type=float, default=10,
                   help="seconds per block at 50 %% of capacity (more samples for its p99)")
    p.add_argument("--p99-bound-ms", type=float, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--connections", type=int, default=256, help="per target, at most")
    p.add_argument("--timeout-s", type=float, default=10, help="from the scheduled time")
    p.add_argument("--complete", choices=["hold", "between"], default="hold",
                   help="complete each call --hold-s after its answer (during the block), or "
                        "only between blocks")
    p.add_argument("--hold-s", type=float, default=0.25)
    p.add_argument("--agents", type=int, default=0,
                   help="agents on the queue (default: enough for the rate, added as it grows)")
    args = p.parse_args()
    args.rates = [args.rate] if args.rate else [float(x) for x in args.rates.split(",")]
    if args.url and not args.api_key:
        p.error("--url needs --api-key (an admin key of the tenant)")
    return args


def target_for(name: str, url: str, method: str, path: str, body: Json | None,
               key: str | None, pid: int | None) -> Target:
    u = urlsplit(url)
    if u.scheme != "http" or u.port is None:
        raise SystemExit(f"{url}: plain http://host:port only")
    return Target(name, [u.port], http_request(method, path, u.netloc, body, key), pid)


async def run(args: argparse.Namespace, servers: Servers | None) -> Json:
    if servers is not None:
        ends = await start_servers(servers, args)
    else:
        ends = {"url": args.url.rstrip("/"), "api_key": args.api_key,
                "sb_pid": args.server_pid, "redis_pid": args.redis_pid, "redis_url": None,
                "bare_pid": args.bare_pid, "bare_url": None}
        if not args.no_bare:
            bare_url = args.bare_url or ends["url"] + "/bench/bare"
            async with httpx.AsyncClient(timeout=5) as http:
                if (await http.get(bare_url)).status_code == 200:
                    ends["bare_url"] = bare_url
                else:
                    log(f"{bare_url} does not answer 200: no side-by-side")
    if urlsplit(ends["url"]).hostname not in (HOST, "localhost"):
        log("the server is not on this machine's loopback: its CPU is not read")
    targets: dict[str, Target] = {}
    if ends["bare_url"]:
        u = urlsplit(ends["bare_url"])
        targets["bare"] = target_for("bare", ends["bare_url"], "GET", u.path or "/", None,
                                     None, ends["bare_pid"])
    targets["switchboard"] = target_for("switchboard", ends["url"], "POST", "/v1/calls",
                                        {"queue": args.queue}, ends["api_key"], ends["sb_pid"])
    tenant = Tenant(ends["url"], ends["api_key"], args.queue)
    completer = Completer(targets["switchboard"].ports, urlsplit(ends["url"]).netloc,
                          ends["api_key"], args.hold_s if args.complete == "hold" else None)
    r = Run(args, targets, tenant, completer, ends["redis_pid"], ends["redis_url"])
    try:
        await tenant.setup()
        res = await r.plan()
        available = await tenant.available()
        if available != tenant.agents:
            log(f"at the end {available} of {tenant.agents} agents are available")
        res["agents"] = {"configured": tenant.agents, "available_at_end": available,
                         "calls_swept_after_blocks": r.swept}
        if servers is None:
            await tenant.teardown()
    finally:
        await tenant.close()
        completer.close()
        if r.redis is not None:
            await r.redis.aclose()
    res["targets"] = list(targets)
    res["blocks"] = [{k: v for k, v in asdict(b).items()
                      if k not in ("latency_ms", "fire_lag_ms", "send_lag_ms")}
                     | {"summary": summarise([b])} for b in r.blocks]
    res["warnings"] = warnings(r.blocks)
    return res


def main() -> int:
    args = parse_args()
    if not args.url and shutil.which("redis-server") is None:
        print("redis-server not found", file=sys.stderr)
        return 2
    started = time.monotonic()
    load_before = os.getloadavg()
    # SIGTERM unwinds like Ctrl-C, so the servers are still stopped by PID.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    servers = None if args.url else Servers()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            res = runner.run(run(args, servers))
    finally:
        if servers is not None:
            servers.close()
    res["verdict"] = verdict(res)
    res["args"] = {k: v for k, v in vars(args).items() if k != "api_key"}
    publish(res, RESULTS, ["bench/openloop.py",
                           *(x if x != args.api_key else "<key>" for x in sys.argv[1:])],
            started, load_before, tables(res), "the generator, the server(s) and Redis")
    return 0


if __name__ == "__main__":
    sys.exit(main())
