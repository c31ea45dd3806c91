"""Throughput of 1, 2 and 3 Switchboard replicas (separate `switchboard serve` processes) on one
Redis and one PostgreSQL, side by side in one run: what scales with replicas and what does not.

    .venv/bin/python bench/replicas.py            # 4-7 minutes on the 2-core machine
    .venv/bin/python bench/replicas.py --quick    # about 1 minute: 2 s blocks, one round

It starts everything itself on loopback and stops it by PID at the end, errors included: its
own redis-server (bench/common.py), a fresh database `sb_bench_<hex>` on the local PostgreSQL
(postgresql+asyncpg://postgres@127.0.0.1:5432, dropped WITH (FORCE) at the end) and
max(`--replicas`) `switchboard serve` processes on free ports sharing both (the first migrates,
the others start once it is ready). Each replica count N has its own tenant, queue and agents
(`auto_accept: true`, `wrap_up_s: 0`, enough available agents: 2 × rate × (hold + 0.25 s) +
20), so no count inherits another's state (every replica's loops visit all three tenants,
alike for every count).

Load: the open loop of bench/openloop.py (bench/loadgen.py): Poisson send times drawn in
advance (the same schedule for every N at a rate and round), each request fired at its time,
latency from the SCHEDULED send time. `POST /v1/calls` goes round-robin to the first N
replicas, one connection pool each (`--connections` per replica); every call is completed
`--hold-s` after its answer over the completer's own connections (round-robin too), so busy
agents stay near rate × hold. A rate is *sustained* when over the last 80 % of its blocks 2xx
answers reach ≥ 95 % of the requests due and ≤ 0.1 % of all requests failed.

Fairness. All replicas are started once; in a block with N replicas the others are paused
(SIGSTOP; SIGCONT before they are used or stopped). Every replica runs the background loops
(timer sweep every 0.1 s, reconciler, and the history writer and webhook fan-out as consumers
of the event stream's groups): left running (`--idle run`), the idle replicas would write most
of the 1-replica block's history into PostgreSQL and add their polling to Redis, so "1
replica" would not be a one-replica deployment. Paused, a block has exactly N processes doing
anything; restarting them per block would give the same at a few seconds per start, with cold
pools. After every block the bench waits until every consumer group has handled every event
(nothing is left for the next block, nor held by a replica about to be paused) and completes
or abandons whatever is left on the queue. Counts are interleaved within each round
(1, 2, 3, 1, 2, 3, …) so noise hits all alike.

Plan: warm-up (2 s per N, not recorded); for each rate of `--rates`, `--rounds` rounds of one
`--duration` s block per N still sustaining; a count stops at its first failure; `--refine`
bisections between its last success and first failure, counts interleaved. Capacity(N) is the
highest rate sustained; scaling = capacity(N) ÷ capacity(1). Latency: each N at 50 % of its
own capacity (same utilisation; `--half-duration` s blocks), and N > 1 also at 50 % of one
replica's capacity (the same load: what extra replicas do to latency).

CPU, per process from /proc: the replicas (summed), redis-server, PostgreSQL (the postmaster's
children: this database's backends and the server's own processes such as the WAL writer,
not other databases' backends), the generator (this process, completer included) and
"others" (every core's busy time minus those: other users' work and hypervisor steal).
"Cores" are the shares of a core busy from the first send to the last answer; "ms per call"
is CPU from the first send until the block's events were all handled, ÷ calls, so it holds
the history writes a block caused even when they ran after its last answer. The machine has
2 cores: everything shares them. Also per block: Redis EVALSHA per call, events not yet
handled when the last answer came (backlog) and how long they took to drain.

Prints Markdown tables; writes bench/results/replicas.json (each block included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `app` and `bench` importable when run as a script

import httpx  # noqa: E402
import uvloop  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from sqlalchemy import pool, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from app.store import reads, stream  # noqa: E402
from app.store.connection import open_redis  # noqa: E402
from bench.common import HOST, PG_URL, free_port, pg_admin, start_redis, stop  # noqa: E402
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
    machine_s,
    proc_stat,
    publish,
    run_block,
    summarise,
    wait_ready,
)

RESULTS = ROOT / "bench" / "results" / "replicas.json"
QUEUE = "q"
DRAIN_TIMEOUT_S = 60.0
PARTS = ("server", "redis", "postgres", "generator", "foreign")  # where CPU went
# A client backend's title names its peer, "host(port)" or "[local]"; the server's own
# processes (checkpointer, WAL writer, ...) name none.
PEER = re.compile(r"\S+\(\d+\)|\[local\]")


class Postgres:
    """CPU seconds of the PostgreSQL processes working for this run: the children of the
    postmaster that are this database's backends or the server's own. A process seen once
    keeps its last reading, so a backend that exits takes away none of what it did."""

    def __init__(self, postmaster: int, database: str) -> None:
        self.postmaster, self.database = str(postmaster), database
        self.seen: dict[str, float] = {}

    @classmethod
    async def find(cls, database: str) -> Postgres | None:
        """None when the server is not a process of this machine."""
        engine = create_async_engine(f"{PG_URL}/{database}", poolclass=pool.NullPool)
        try:
            async with engine.connect() as conn:  # read while the backend is there
                backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                fields = proc_stat(backend)
        finally:
            await engine.dispose()
        return None if fields is None else cls(int(fields[1]), database)

    def seconds(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        for pid in (p.name for p in Path("/proc").iterdir() if p.name.isdigit()):
            fields = proc_stat(pid)
            if fields is None or (fields[1] != self.postmaster and pid != self.postmaster):
                continue
            with contextlib.suppress(OSError):
                title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                if PEER.search(title) and f" {self.database} " not in title:
                    continue  # another database's backend
                self.seen[pid] = (int(fields[11]) + int(fields[12])) / tick
        return sum(self.seen.values())


class Replicas:
    """redis-server and the `switchboard serve` processes; those a block does not use are
    paused (SIGSTOP) unless `pause` is off. Everything stopped by PID, in reverse."""

    def __init__(self, pause: bool) -> None:
        self.pause = pause
        self.procs: list[subprocess.Popen[bytes]] = []
        self.servers: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        self.paused: set[int] = set()
        self.admin_token = "bench-admin-" + secrets.token_hex(8)
        self.redis: subprocess.Popen[bytes] | None = None
        self.redis_url = ""

    def start_redis(self) -> None:
        port = free_port()
        self.redis = start_redis(port, log)
        self.procs.append(self.redis)
        self.redis_url = f"redis://{HOST}:{port}/0"

    def _serve(self, database_url: str, migrate: bool) -> subprocess.Popen[bytes]:
        port = free_port()
        cli = Path(sys.executable).parent / "switchboard"
        serve = [str(cli)] if cli.exists() else [sys.executable, "-m", "app.cli"]
        env = {"SWITCHBOARD_REDIS_URL": self.redis_url, "SWITCHBOARD_DATABASE_URL": database_url,
               "SWITCHBOARD_ADMIN_TOKEN": self.admin_token, "SWITCHBOARD_LOG_LEVEL": "WARNING",
               "SWITCHBOARD_AUTO_MIGRATE": "true" if migrate else "false"}
        proc = subprocess.Popen([*serve, "serve", "--host", HOST, "--port", str(port)],
                                cwd=ROOT, env={**os.environ, **env})
        self.procs.append(proc)
        self.servers.append(proc)
        self.ports.append(port)
        log(f"started switchboard serve #{len(self.servers)} pid={proc.pid} port={port}")
        return proc

    async def start_servers(self, n: int, database_url: str) -> None:
        """The first migrates; the others start once it is ready."""
        first = self._serve(database_url, migrate=True)
        await wait_ready(self.url(0), first)
        rest = [self._serve(database_url, migrate=False) for _ in range(n - 1)]
        for i, proc in enumerate(rest, start=1):
            await wait_ready(self.url(i), proc)

    def url(self, i: int) -> str:
        return f"http://{HOST}:{self.ports[i]}"

    def use(self, n: int) -> None:
        """The first n replicas running, the others paused."""
        for i, proc in enumerate(self.servers):
            if i < n or not self.pause:
                self._signal(proc, signal.SIGCONT)
            elif proc.pid not in self.paused:
                self._signal(proc, signal.SIGSTOP)

    def _signal(self, proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        if sig == signal.SIGCONT and proc.pid not in self.paused:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"replica pid={proc.pid} exited with {proc.returncode}")
        os.kill(proc.pid, sig)
        if sig == signal.SIGSTOP:
            self.paused.add(proc.pid)
        else:
            self.paused.discard(proc.pid)

    def cpu(self) -> dict[str, float | None]:
        servers = [cpu_s(p.pid) for p in self.servers]
        return {"server": None if None in servers else sum(s or 0.0 for s in servers),
                "redis": cpu_s(self.redis.pid if self.redis else None)}

    def close(self) -> None:
        for proc in self.servers:  # a stopped process would not see SIGTERM
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
        self.paused.clear()
        for proc in reversed(self.procs):
            stop(proc, log)


@dataclass
class Measured:
    """One block and what the bench measured around it."""

    block: Block
    replicas: int
    # CPU seconds by part, from the first send until every event of the block was handled.
    cpu_s: dict[str, float | None]
    backlog: int  # events not yet handled by every consumer group at the last answer
    drain_s: float  # then until they were
    evalsha: int | None  # scripts Redis ran meanwhile (all replicas, background included)


class Bench:
    """The tenants, targets and completers by replica count, and every block measured."""

    def __init__(self, args: argparse.Namespace, replicas: Replicas, pg: Postgres | None,
                 redis: Redis) -> None:
        self.args, self.replicas, self.pg, self.redis = args, replicas, pg, redis
        self.tenants: dict[int, Tenant] = {}
        self.targets: dict[int, Target] = {}
        self.completers: dict[int, Completer] = {}
        self.measured: list[Measured] = []
        self.swept = 0

    async def setup(self) -> None:
        base = self.replicas.url(0)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for n in self.args.replicas:
                r = await http.post("/v1/tenants", json={
                    "id": f"replicas-{n}-{secrets.token_hex(3)}"},
                    headers={"Authorization": f"Bearer {self.replicas.admin_token}"})
                r.raise_for_status()
                key = r.json()["api_key"]
                self.tenants[n] = Tenant(base, key, QUEUE)
                await self.tenants[n].setup()
                netloc = f"{HOST}:{self.replicas.ports[0]}"
                ports = self.replicas.ports[:n]
                self.targets[n] = Target(str(n), ports, http_request(
                    "POST", "/v1/calls", netloc, {"queue": QUEUE}, key))
                self.completers[n] = Completer(ports, netloc, key, self.args.hold_s)

    async def close(self) -> None:
        for n, tenant in self.tenants.items():
            await tenant.close()
            self.completers[n].close()

    def cpu(self) -> dict[str, float | None]:
        return self.replicas.cpu() | {"postgres": self.pg.seconds() if self.pg else None}

    def snapshot(self) -> dict[str, float | None]:
        busy_s, _ = machine_s()
        return self.cpu() | {"generator": time.process_time(), "machine": busy_s}

    async def unhandled(self) -> int:
        """Events some consumer group (history writer, webhook fan-out) has not acknowledged."""
        lags = await stream.lags(self.redis, await reads.tenants(self.redis))
        return sum(lag.unacknowledged for lag in lags)

    async def evalsha(self) -> int:
        stats: Any = await self.redis.info("commandstats")
        return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))

    def agents_for(self, rate: float) -> int:
        hold_s: float = self.args.hold_s
        return math.ceil(rate * (hold_s + 0.25) * 2) + 20

    async def block(self, n: int, rate: float, rnd: int, phase: str) -> Measured:
        self.replicas.use(n)
        tenant = self.tenants[n]
        await tenant.ensure_agents(self.agents_for(rate))
        duration_s = {"warm-up": 2.0, "half-capacity": self.args.half_duration,
                      "common-rate": self.args.half_duration}.get(phase, self.args.duration)
        evalsha0, cpu0 = await self.evalsha(), self.snapshot()
        b = await run_block(self.targets[n], self.completers[n], rate, rnd, phase, duration_s,
                            self.args, self.cpu)
        backlog = await self.unhandled()
        t0 = time.monotonic()
        left = backlog
        while left and time.monotonic() - t0 < DRAIN_TIMEOUT_S:
            await asyncio.sleep(0.05)
            left = await self.unhandled()
        if left:
            log(f"{left} events still unhandled {DRAIN_TIMEOUT_S:g} s after the block")
        drain_s = time.monotonic() - t0 if backlog else 0.0
        cpu1, evalsha1 = self.snapshot(), await self.evalsha()
        self.swept += await tenant.sweep()
        spent: dict[str, float | None] = {}
        for k, v in cpu0.items():
            w = cpu1.get(k)
            spent[k] = None if v is None or w is None else w - v
        ours = sum(v or 0.0 for k, v in spent.items() if k != "machine")
        spent["foreign"] = max(0.0, (spent.pop("machine") or 0.0) - ours)
        m = Measured(b, n, spent, backlog, round(drain_s, 2), evalsha1 - evalsha0)
        if phase != "warm-up":
            self.measured.append(m)
            s = pooled([m])
            log(f"{phase} {n} replica(s) @ {rate:g}/s r{rnd}: achieved {s['achieved_rps']}/s, "
                f"p50 {s['p50_ms']} p99 {s['p99_ms']} ms, errors {s['errors']}, lag p99 "
                f"{s['gen_lag_p99_ms']} ms, cores {s['cores']}, backlog {backlog} drained in "
                f"{drain_s:.1f} s")
        return m

    async def side_by_side(self, plan: list[tuple[int, float, str]]) -> list[Json]:
        """Each (replicas, rate, phase) once per round, in the order given, round after
        round; then each pooled over its rounds."""
        for rnd in range(self.args.rounds):
            for n, rate, phase in plan:
                await self.block(n, rate, rnd, phase)
        return [self.pooled(n, rate, phase) for n, rate, phase in plan]

    def pooled(self, n: int, rate: float, phase: str | tuple[str, ...]) -> Json:
        phases = (phase,) if isinstance(phase, str) else phase
        return pooled([m for m in self.measured if m.replicas == n and m.block.rate == rate
                       and m.block.phase in phases])

    async def idle(self, seconds: float = 3.0) -> Json:
        """Cores busy with every replica up and no traffic: what each replica's background
        loops cost by themselves (their polling of Redis included)."""
        self.replicas.use(len(self.replicas.servers))
        await asyncio.sleep(0.5)
        cpu0, t0 = self.snapshot(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, wall_s = self.snapshot(), time.monotonic() - t0
        cores = {k: None if v is None or cpu1[k] is None else round(
            ((cpu1[k] or 0.0) - v) / wall_s, 3) for k, v in cpu0.items()}
        ours = sum(v or 0.0 for k, v in cores.items() if k != "machine")
        cores["foreign"] = round(max(0.0, (cores.pop("machine") or 0.0) - ours), 3)
        cores["per_replica"] = (None if cores["server"] is None
                                else round(cores["server"] / len(self.replicas.servers), 3))
        log(f"idle, {len(self.replicas.servers)} replicas up: cores {cores}")
        return cores

    async def plan(self) -> Json:
        a = self.args
        counts: list[int] = a.replicas
        idle = await self.idle()
        for n in counts:
            await self.block(n, a.rates[0], -1, "warm-up")
        passed: dict[int, float] = {}
        failed: dict[int, float] = {}
        alive = list(counts)
        for rate in a.rates:
            if not alive:
                break
            for s in await self.side_by_side([(n, rate, "step") for n in alive]):
                n = s["replicas"]
                if s["sustained"]:
                    passed[n] = rate
                else:
                    failed[n] = rate
                    alive.remove(n)
        for _ in range(a.refine):
            mids = {n: float(round((passed[n] + failed[n]) / 2)) for n in counts
                    if n in passed and n in failed
                    and failed[n] - passed[n] >= max(10.0, 0.05 * passed[n])}
            if not mids:
                break
            for s in await self.side_by_side([(n, r, "refine") for n, r in mids.items()]):
                (passed if s["sustained"] else failed)[s["replicas"]] = s["rate"]
        half = {n: float(round(passed[n] / 2)) for n in counts if n in passed}
        plan = [(n, r, "half-capacity") for n, r in half.items()]
        common = half.get(counts[0])
        if common is not None:
            plan += [(n, common, "common-rate") for n in counts[1:] if half.get(n) != common]
        latency = await self.side_by_side(plan) if plan else []
        summary = []
        for n in counts:
            cap = passed.get(n)
            at_cap = self.pooled(n, cap, ("step", "refine")) if cap else None
            own = next((s for s in latency if s["replicas"] == n
                        and s["phase"] == "half-capacity"), None)
            same = own if n == counts[0] else next(
                (s for s in latency if s["replicas"] == n and s["rate"] == common), None)
            base = passed.get(counts[0])
            summary.append({
                "replicas": n, "capacity_rps": cap, "first_failed_rps": failed.get(n),
                "scaling": round(cap / base, 2) if cap and base else None,
                "at_capacity": at_cap, "at_half_capacity": own, "at_common_rate": same})
        return {"summary": summary, "common_rate": common, "latency": latency, "idle": idle}


def pooled(ms: list[Measured]) -> Json:
    """Blocks of one replica count at one rate and phase, pooled."""
    if not ms:
        return {}
    blocks = [m.block for m in ms]
    s = summarise(blocks)
    calls = s["requests"]
    ms_per_call: dict[str, float | None] = {}
    for part in PARTS:
        vals = [m.cpu_s.get(part) for m in ms]
        ms_per_call[part] = (None if None in vals or not calls
                             else round(sum(v or 0.0 for v in vals) * 1000 / calls, 2))
    cores: dict[str, float | None] = {}
    for part in PARTS:
        got = [c for b in blocks if (c := b.cpu.get(part)) is not None]
        cores[part] = round(sum(got) / len(got), 2) if len(got) == len(blocks) else None
    return s | {
        "replicas": ms[0].replicas, "phase": blocks[0].phase, "cores": cores,
        "cpu_ms_per_call": ms_per_call,
        "evalsha_per_call": round(sum(m.evalsha or 0 for m in ms) / calls, 2) if calls else None,
        "backlog_max": max(m.backlog for m in ms), "drain_s_max": max(m.drain_s for m in ms)}


# --------------------------------------------------------------------------- report


def _parts(d: dict[str, float | None], spec: str) -> str:
    return " / ".join(fmt(d.get(p), spec) for p in PARTS)


def tables(res: Json) -> str:
    a = res["args"]
    out = [f"Every block, pooled over {a['rounds']} round(s) ({a['duration']:g} s blocks; "
           f"{a['half_duration']:g} s at 50 %), latency from the scheduled send time. Parts: "
           "replicas (summed) / redis / postgres / generator / others.", "",
           "| phase | replicas | offered/s | achieved/s | errors | p50 ms | p99 ms | p99.9 ms | "
           "gen lag p99 ms | cores busy | CPU ms per call | EVALSHA/call | history backlog / "
           "drain s | sustained |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in res["blocks_pooled"]:
        out.append(
            f"| {s['phase']} | {s['replicas']} | {s['rate']:g} | {s['achieved_rps']:.0f} | "
            f"{s['errors']} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['p999_ms']:.1f} | "
            f"{s['gen_lag_p99_ms']:.1f} | {_parts(s['cores'], '.2f')} | "
            f"{_parts(s['cpu_ms_per_call'], '.2f')} | {fmt(s['evalsha_per_call'], '.1f')} | "
            f"{s['backlog_max']} / {s['drain_s_max']:.1f} | "
            f"{'yes' if s['sustained'] else 'NO'} |")
    common = res["common_rate"]
    out += ["", f"| replicas | capacity calls/s | first rate not sustained | × 1 replica | "
            f"p50 / p99 / p99.9 ms at 50 % of own capacity | p50 / p99 ms at {fmt(common, 'g')}/s "
            f"(50 % of 1 replica's) |", "|---|---|---|---|---|---|"]
    for r in res["summary"]:
        own, same = r["at_half_capacity"], r["at_common_rate"]
        at_least = "≥ " if r["first_failed_rps"] is None and r["capacity_rps"] else ""
        out.append(
            f"| {r['replicas']} | {at_least}{fmt(r['capacity_rps'], 'g')} | "
            f"{fmt(r['first_failed_rps'], 'g')} | {fmt(r['scaling'], '.2f')} | "
            + (f"{own['p50_ms']:.1f} / {own['p99_ms']:.1f} / {own['p999_ms']:.1f} "
               f"({own['rate']:g}/s)" if own else "–") + " | "
            + (f"{same['p50_ms']:.1f} / {same['p99_ms']:.1f}" if same else "–") + " |")
    out += ["", "Where a call's time goes at capacity (CPU ms per call; cores busy during the "
            "blocks, of 2):", "",
            "| replicas | rate | replicas ms | redis ms | postgres ms | generator ms | sum ms | "
            "others ms | cores busy: replicas / redis / postgres / generator / others = total | "
            "EVALSHA/call |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["summary"]:
        s = r["at_capacity"]
        if not s:
            continue
        c, k = s["cpu_ms_per_call"], s["cores"]
        ours = sum(v or 0.0 for k, v in c.items() if k != "foreign")
        busy = sum(v or 0.0 for v in k.values())
        out.append(
            f"| {r['replicas']} | {s['rate']:g} | {fmt(c['server'], '.2f')} | "
            f"{fmt(c['redis'], '.2f')} | "
            f"{fmt(c['postgres'], '.2f')} | {fmt(c['generator'], '.2f')} | {ours:.2f} | "
            f"{fmt(c['foreign'], '.2f')} | {_parts(k, '.2f')} = {busy:.2f} | "
            f"{fmt(s['evalsha_per_call'], '.1f')} |")
    idle = res["idle"]
    out.append(f"\nIdle (every replica up, no traffic, before the blocks): "
               f"{fmt(idle['per_replica'], '.3f')} cores per replica, Redis "
               f"{fmt(idle['redis'], '.3f')}, PostgreSQL {fmt(idle['postgres'], '.3f')}, "
               f"generator {fmt(idle['generator'], '.3f')}, others {fmt(idle['foreign'], '.3f')}.")
    return "\n".join(out)


def warnings(res: Json) -> list[str]:
    out = []
    for s in res["blocks_pooled"]:
        where = f"{s['phase']} {s['replicas']} replica(s) @ {s['rate']:g}/s"
        if s["gen_lag_p99_ms"] > max(2.0, 0.1 * s["p99_ms"]):
            out.append(f"{where}: generator lag p99 {s['gen_lag_p99_ms']} ms against latency "
                       f"p99 {s['p99_ms']} ms")
        if (s["cores"]["foreign"] or 0) > 0.25:
            out.append(f"{where}: other processes took {s['cores']['foreign']} cores "
                       f"(hypervisor steal {s['steal_cpu']})")
        if s["not_offered_at_once"] or s["completion_errors"]:
            out.append(f"{where}: {s['not_offered_at_once']} calls not offered at once, "
                       f"{s['completion_errors']} completion errors")
    return out


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--replicas", default="1,2,3", help="replica counts, side by side")
    p.add_argument("--rates", default="50,100,150,200,250,300,400,600",
                   help="offered calls per second, stepped up")
    p.add_argument("--duration", type=float, default=4, help="seconds per block")
    p.add_argument("--rounds", type=int, default=2, help="blocks per count per rate")
    p.add_argument("--refine", type=int, default=2,
                   help="bisections between the last rate sustained and the first not")
    p.add_argument("--half-duration", type=float, default=8,
                   help="seconds per block at 50 %% of capacity (more samples for the p99)")
    p.add_argument("--quick", action="store_true",
                   help="2 s blocks, one round, no bisection, 3 s at 50 %%")
    p.add_argument("--idle", choices=["pause", "run"], default="pause",
                   help="replicas a block does not use: paused (SIGSTOP) or left running")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--connections", type=int, default=256, help="per replica, at most")
    p.add_argument("--timeout-s", type=float, default=10, help="from the scheduled time")
    p.add_argument("--hold-s", type=float, default=0.25,
                   help="each call is completed this long after its answer")
    args = p.parse_args()
    args.replicas = sorted({int(x) for x in args.replicas.split(",")})
    args.rates = [float(x) for x in args.rates.split(",")]
    if args.replicas[0] < 1:
        p.error("--replicas: counts of 1 or more")
    if args.quick:
        args.duration, args.rounds, args.refine, args.half_duration = 2.0, 1, 0, 3.0
    return args


async def run(args: argparse.Namespace, replicas: Replicas, database: str) -> Json:
    replicas.start_redis()
    await replicas.start_servers(max(args.replicas), f"{PG_URL}/{database}")
    pg = await Postgres.find(database)
    if pg is None:
        log("the PostgreSQL server's processes are not visible here: its CPU is left out")
    redis = open_redis(replicas.redis_url)
    bench = Bench(args, replicas, pg, redis)
    try:
        await bench.setup()
        res = await bench.plan()
        replicas.use(max(args.replicas))
        res["agents"] = {str(n): {"configured": t.agents, "available_at_end":
                                  await t.available()} for n, t in bench.tenants.items()}
        res["calls_swept_after_blocks"] = bench.swept
    finally:
        await bench.close()
        await redis.aclose()
    groups: dict[tuple[str, int, float], list[Measured]] = {}
    for m in bench.measured:
        groups.setdefault((m.block.phase, m.replicas, m.block.rate), []).append(m)
    res["blocks_pooled"] = [pooled(ms) for ms in groups.values()]
    res["blocks"] = [{k: v for k, v in asdict(m.block).items()
                      if k not in ("latency_ms", "fire_lag_ms", "send_lag_ms")}
                     | {"replicas": m.replicas, "cpu_s": m.cpu_s, "backlog": m.backlog,
                        "drain_s": m.drain_s, "evalsha": m.evalsha} for m in bench.measured]
    return res


def main() -> int:
    args = parse_args()
    if shutil.which("redis-server") is None:
        print("redis-server not found", file=sys.stderr)
        return 2
    started = time.monotonic()
    load_before = os.getloadavg()
    # SIGTERM unwinds like Ctrl-C, so the processes are still stopped by PID.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    database = f"sb_bench_{secrets.token_hex(6)}"
    replicas = Replicas(pause=args.idle == "pause")
    asyncio.run(pg_admin(f'CREATE DATABASE "{database}"'))
    log(f"created PostgreSQL database {database}")
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            res = runner.run(run(args, replicas, database))
    finally:
        replicas.close()
        try:
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            log(f"dropped {database}")
        except Exception as e:  # the run's own error, if any, matters more
            log(f"could not drop {database}: {e!r}")
    res["warnings"] = warnings(res)
    res["args"] = vars(args)
    publish(res, RESULTS, ["bench/replicas.py", *sys.argv[1:]], started, load_before,
            tables(res), "the generator, the replicas, Redis and PostgreSQL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
