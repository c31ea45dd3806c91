"""Cost per routing decision at scale (DESIGN §6): 10 vs 10,000 available agents for an arrival,
100 vs 100,000 waiting calls for an agent becoming available, and 10 vs 2,000 busy agents for
an arrival that must wait, side by side in one run.

    .venv/bin/python bench/scale.py

Starts its own redis-server (loopback, free port, no persistence; stopped by PID on exit,
errors included), uses SQLite in a temporary directory and runs the real runtime in process
(`open_runtime`, no HTTP, no background tasks). Each size has its own tenant with one
queue (`longest-idle` unless `--strategy`; `auto_accept: true`, `wrap_up_s: 0`).

(a) arrival: `create_call` (enqueue + decide + claim) with N agents available; each call is
    completed right after, untimed, so N stays N.
(b) agent-available: `set_state(available)` (agent_state + decide + claim: the agent takes the
    head call) with M calls waiting; untimed afterwards the agent asks to go away after the
    call, the call is completed and one new call arrives, so M stays M.
(c) arrival that waits: `create_call` with N agents all busy, so the call waits and the
    script works out its estimated wait; each call is abandoned right after, untimed.
(d) the supervisor's view beside (c), on the same tenants: the `realtime` script that
    `GET /v1/realtime` and every `/metrics` scrape run (counts by state, estimated wait).

Sizes alternate in blocks within each round so that noise hits both alike. Besides the
wall time around the service call, Redis's own time for the EVALSHAs of each timed operation
is read from SLOWLOG (threshold 0, untimed). Prints a Markdown table; writes
bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `app` importable when run as a script

import uvloop  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from app.agents import service as agents  # noqa: E402
from app.agents.schemas import AgentConfig, AgentStateChange  # noqa: E402
from app.calls import service as calls  # noqa: E402
from app.calls.schemas import CallCreate, Complete  # noqa: E402
from app.main import close_runtime, open_runtime  # noqa: E402
from app.queues import service as queues  # noqa: E402
from app.queues.schemas import QueueConfig  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.tenants import service as tenants  # noqa: E402
from app.tenants.schemas import TenantCreate  # noqa: E402
from bench.common import free_port, pct, start_redis, stop  # noqa: E402

HOST = "127.0.0.1"
RESULTS = ROOT / "bench" / "results" / "scale.json"
QUEUE = "q"
AVAILABLE = AgentStateChange(state="available")
AWAY = AgentStateChange(state="away")
AWAY_AFTER_CALL = AgentStateChange(state="away", after_call=True)
Json = dict[str, Any]
T = TypeVar("T")


def log(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def bounded(items: list[Any], fn: Callable[[Any], Awaitable[Any]], width: int) -> list[Any]:
    """Run fn over items, `width` at a time (setup only)."""
    sem = asyncio.Semaphore(width)

    async def one(x: Any) -> Any:
        async with sem:
            return await fn(x)

    return list(await asyncio.gather(*(one(x) for x in items)))


class SlowLog:
    """Redis's own execution time of the EVALSHAs of one operation (SLOWLOG, threshold 0)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def enable(self) -> None:
        await self.redis.config_set("slowlog-log-slower-than", 0)
        await self.redis.config_set("slowlog-max-len", 1024)

    async def reset(self) -> None:
        await self.redis.slowlog_reset()

    async def evalsha_us(self) -> tuple[int, int]:
        """(µs, count) of EVALSHA since the last reset."""
        entries = await self.redis.slowlog_get(64)
        mine = [e for e in entries
                if bytes(e["command"]).upper().startswith(b"EVALSHA")]
        return sum(int(e["duration"]) for e in mine), len(mine)


class Scale:
    def __init__(self, args: argparse.Namespace, rt: Runtime, ctl: Redis) -> None:
        self.args = args
        self.rt = rt
        self.slow = SlowLog(ctl)
        self.setup_s: Json = {}
        # samples[scenario][size] -> {"wall_us": [...], "redis_us": [...], "evalsha": [...]}
        self.samples: dict[str, dict[int, dict[str, list[float]]]] = {
            "a": {}, "b": {}, "c": {}, "d": {}}
        self.rounds: list[Json] = []

    # ---- setup (untimed)

    async def tenant(self, name: str) -> str:
        await tenants.create_tenant(self.rt, TenantCreate(id=name))
        await queues.put_queue(self.rt, name, QUEUE, QueueConfig(
            auto_accept=True, wrap_up_s=0, strategy=self.args.strategy))
        return name

    async def agents_available(self, tenant: str, n: int) -> list[str]:
        ids = [f"ag-{i:05d}" for i in range(n)]
        cfg = AgentConfig(queues=[QUEUE])
        # SQLite takes one writer at a time: configuration in sequence, states concurrently.
        for aid in ids:
            await agents.put_agent(self.rt, tenant, aid, cfg)
        await bounded(ids, lambda aid: agents.set_state(self.rt, tenant, aid, AVAILABLE), 32)
        return ids

    async def waiting_calls(self, tenant: str, m: int) -> None:
        async def arrive(_: int) -> None:
            view, _new = await calls.create_call(self.rt, tenant, CallCreate(queue=QUEUE))
            if view.state != "queued":
                raise RuntimeError(f"{tenant}: expected a waiting call, got {view.state}")

        await bounded(list(range(m)), arrive, 64)

    async def setup(self) -> None:
        a = self.args
        self.a_tenants: dict[int, str] = {}
        for n in a.agents:
            t0 = time.monotonic()
            t = await self.tenant(f"scale-a{n}")
            await self.agents_available(t, n)
            self.a_tenants[n] = t
            self.setup_s[f"a: {n} agents available"] = round(time.monotonic() - t0, 1)
            log(f"setup: {n} agents available in {self.setup_s[f'a: {n} agents available']} s")
        self.b_tenants: dict[int, tuple[str, list[str]]] = {}
        for m in a.waiting:
            t0 = time.monotonic()
            t = await self.tenant(f"scale-b{m}")
            ids = [f"ag-{i}" for i in range(a.b_agents)]
            for aid in ids:  # logged in but away: arrivals wait
                await agents.put_agent(self.rt, t, aid, AgentConfig(queues=[QUEUE]))
                await agents.set_state(self.rt, t, aid, AWAY)
            await self.waiting_calls(t, m)
            self.b_tenants[m] = (t, ids)
            self.setup_s[f"b: {m} waiting calls"] = round(time.monotonic() - t0, 1)
            log(f"setup: {m} waiting calls in {self.setup_s[f'b: {m} waiting calls']} s "
                f"({m / max(1e-9, time.monotonic() - t0):.0f} arrivals/s, 64 at a time)")
        self.c_tenants: dict[int, str] = {}
        for n in a.busy:
            t0 = time.monotonic()
            t = await self.tenant(f"scale-c{n}")
            await self.agents_available(t, n)

            async def occupy(_: int, t: str = t) -> None:
                view, _new = await calls.create_call(self.rt, t, CallCreate(queue=QUEUE))
                if view.state != "connected":
                    raise RuntimeError(f"{t}: expected a free agent, got {view.state}")

            await bounded(list(range(n)), occupy, 64)
            self.c_tenants[n] = t
            self.setup_s[f"c: {n} agents busy"] = round(time.monotonic() - t0, 1)
            log(f"setup: {n} agents busy in {self.setup_s[f'c: {n} agents busy']} s")
        for key, n in (("a", a.agents), ("b", a.waiting), ("c", a.busy), ("d", a.busy)):
            for size in n:
                self.samples[key][size] = {"wall_us": [], "redis_us": [], "evalsha": []}

    async def check_sizes(self) -> Json:
        """The scale each tenant is at (it must not drift during the run)."""
        out: Json = {}
        from app.store import keys

        for n, t in self.a_tenants.items():
            out[f"a{n}"] = {"available_agents": await self.slow.redis.zcard(
                keys.available(t, QUEUE))}
        for m, (t, _) in self.b_tenants.items():
            out[f"b{m}"] = {"waiting_calls": await self.slow.redis.zcard(
                keys.waiting(t, QUEUE))}
        return out

    # ---- one timed operation each, with its untimed upkeep

    async def timed(self, key: str, size: int, operation: Awaitable[T]) -> T:
        """Await one operation, recording its wall time and Redis's time for its EVALSHAs."""
        await self.slow.reset()
        t0 = time.perf_counter_ns()
        result = await operation
        wall = (time.perf_counter_ns() - t0) / 1000
        us, n = await self.slow.evalsha_us()
        s = self.samples[key][size]
        s["wall_us"].append(wall)
        s["redis_us"].append(us)
        s["evalsha"].append(n)
        return result

    async def arrival(self, size: int) -> None:
        t = self.a_tenants[size]
        view, _new = await self.timed("a", size, calls.create_call(
            self.rt, t, CallCreate(queue=QUEUE)))
        if view.state != "connected":
            raise RuntimeError(f"a{size}: arrival not connected at once ({view.state})")
        await calls.complete(self.rt, t, view.id, Complete())  # the agent is available again

    async def waiting_arrival(self, size: int) -> None:
        """An arrival that must wait: every agent busy, so the script also works out the
        estimated wait (it reads every logged-in agent of the tenant)."""
        t = self.c_tenants[size]
        view, _new = await self.timed("c", size, calls.create_call(
            self.rt, t, CallCreate(queue=QUEUE)))
        if view.state != "queued":
            raise RuntimeError(f"c{size}: the arrival did not wait ({view.state})")
        await calls.abandon(self.rt, t, view.id)  # untimed: the queue stays empty

    async def supervisor_view(self, size: int) -> None:
        t = self.c_tenants[size]
        reply = await self.timed("d", size, self.rt.run("realtime", t, {"report": [QUEUE]},
                                                        queues=[QUEUE]))
        if reply.details["agents"].get("busy") != size:
            raise RuntimeError(f"d{size}: the view does not count {size} busy agents")

    async def agent_available(self, size: int, i: int) -> None:
        t, ids = self.b_tenants[size]
        aid = ids[i % len(ids)]
        agent = await self.timed("b", size, agents.set_state(self.rt, t, aid, AVAILABLE))
        if agent.state != "busy" or agent.call_id is None:
            raise RuntimeError(f"b{size}: {aid} came back but took nothing ({agent.state})")
        # Untimed: away once the call ends, end it, and one new arrival waits at the tail.
        await agents.set_state(self.rt, t, aid, AWAY_AFTER_CALL)
        await calls.complete(self.rt, t, agent.call_id, Complete())
        view, _new = await calls.create_call(self.rt, t, CallCreate(queue=QUEUE))
        if view.state != "queued":
            raise RuntimeError(f"b{size}: the refill call was not left waiting ({view.state})")

    async def waiting_and_view(self, size: int) -> None:
        await self.waiting_arrival(size)
        await self.supervisor_view(size)

    async def alternate(self, sizes: list[int], count: int, r: int,
                        operation: Callable[[int], Awaitable[None]]) -> None:
        """`count` operations per size, the sizes alternating in blocks of `--block`, the order
        flipped every round, so that noise hits every size alike."""
        order = sizes if r % 2 == 0 else list(reversed(sizes))
        done = 0
        while done < count:
            k = min(self.args.block, count - done)
            for size in order:
                for _ in range(k):
                    await operation(size)
            done += k

    async def run(self) -> None:
        a = self.args
        await self.slow.enable()
        # Warm-up (not reported): every path once per tenant.
        for n in a.agents:
            for _ in range(20):
                await self.arrival(n)
        for m in a.waiting:
            for i in range(20):
                await self.agent_available(m, i)
        for n in a.busy:
            for _ in range(20):
                await self.waiting_and_view(n)
        for key in ("a", "b", "c", "d"):
            for v in self.samples[key].values():
                for lst in v.values():
                    lst.clear()
        self.sizes_before = await self.check_sizes()
        turns = itertools.count()  # which of the b-tenant agents comes back next
        for r in range(a.rounds):
            before = {k: {s: len(v["wall_us"]) for s, v in d.items()}
                      for k, d in self.samples.items()}
            t0 = time.monotonic()
            await self.alternate(a.agents, a.arrivals, r, self.arrival)
            await self.alternate(a.waiting, a.takes, r,
                                 lambda m: self.agent_available(m, next(turns)))
            await self.alternate(a.busy, a.waits, r, self.waiting_and_view)
            row: Json = {"round": r + 1, "seconds": round(time.monotonic() - t0, 1),
                         "load_avg": [round(x, 2) for x in os.getloadavg()]}
            for key, d in self.samples.items():
                for size, v in d.items():
                    w = v["wall_us"][before[key][size]:]
                    row[f"{key}{size}_median_us"] = round(statistics.median(w), 1)
            self.rounds.append(row)
            log(f"round {r + 1}: {row}")
        self.sizes_after = await self.check_sizes()

    # ---- results

    def summary(self) -> Json:
        out: Json = {}
        labels = {"a": ("arrival (create_call)", "available agents"),
                  "b": ("agent-available (set_state)", "waiting calls"),
                  "c": ("arrival that waits (create_call)", "busy agents"),
                  "d": ("supervisor's view (realtime)", "busy agents")}
        for key, d in self.samples.items():
            sizes = sorted(d)
            rows = {}
            for size in sizes:
                v = d[size]
                rows[str(size)] = {
                    "samples": len(v["wall_us"]),
                    "median_us": round(statistics.median(v["wall_us"]), 1),
                    "p99_us": round(pct(v["wall_us"], 99), 1),
                    "round_medians_us": [r[f"{key}{size}_median_us"] for r in self.rounds],
                    "redis_median_us": statistics.median(v["redis_us"]),
                    "redis_p99_us": pct(v["redis_us"], 99),
                    "evalsha_per_op": round(statistics.fmean(v["evalsha"]), 3),
                }
            lo, hi = rows[str(sizes[0])], rows[str(sizes[-1])]
            per_round = [r[f"{key}{sizes[-1]}_median_us"] / r[f"{key}{sizes[0]}_median_us"]
                         for r in self.rounds]
            out[key] = {
                "operation": labels[key][0], "scale": labels[key][1], "sizes": sizes,
                "rows": rows,
                "ratio_median": round(hi["median_us"] / lo["median_us"], 3),
                "ratio_p99": round(hi["p99_us"] / lo["p99_us"], 3),
                "ratio_median_per_round": [round(x, 3) for x in per_round],
                "ratio_redis_median": round(hi["redis_median_us"] / lo["redis_median_us"], 3),
            }
        return out


def table(res: Json) -> str:
    lines = ["| decision | scale | samples | median µs | p99 µs | Redis µs (median / p99) | "
             "EVALSHA per op |", "|---|---|---|---|---|---|---|"]
    for key in ("a", "b", "c", "d"):
        s = res["summary"][key]
        for size in s["sizes"]:
            r = s["rows"][str(size)]
            lines.append(f"| {s['operation']} | {size:,} {s['scale']} | {r['samples']} | "
                         f"{r['median_us']:.0f} | {r['p99_us']:.0f} | "
                         f"{r['redis_median_us']:.0f} / {r['redis_p99_us']:.0f} | "
                         f"{r['evalsha_per_op']:g} |")
    lines += ["", "| ratio (large ÷ small) | median | p99 | per-round medians | Redis median "
              "| goal ≤ 1.5× |", "|---|---|---|---|---|---|"]
    for key in ("a", "b", "c", "d"):
        s = res["summary"][key]
        met = s["ratio_median"] <= 1.5 and s["ratio_p99"] <= 1.5
        lines.append(f"| {s['operation']}, {s['sizes'][-1]:,} ÷ {s['sizes'][0]:,} "
                     f"{s['scale']} | {s['ratio_median']:.2f} | {s['ratio_p99']:.2f} | "
                     + ", ".join(f"{x:.2f}" for x in s["ratio_median_per_round"])
                     + f" | {s['ratio_redis_median']:.2f} | {'yes' if met else 'NO'} |")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--agents", default="10,10000", help="available agents, small,large")
    p.add_argument("--waiting", default="100,100000", help="waiting calls, small,large")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--arrivals", type=int, default=1000, help="timed arrivals per size per round")
    p.add_argument("--takes", type=int, default=500,
                   help="timed agent-available per size per round")
    p.add_argument("--block", type=int, default=50, help="operations per size before switching")
    p.add_argument("--b-agents", type=int, default=4, help="agents taking turns in scenario b")
    p.add_argument("--busy", default="10,2000", help="busy agents (scenario c), small,large")
    p.add_argument("--waits", type=int, default=300,
                   help="timed arrivals that wait per size per round")
    p.add_argument("--strategy", default="longest-idle", help="the queue's strategy")
    args = p.parse_args()
    args.agents = [int(x) for x in args.agents.split(",")]
    args.waiting = [int(x) for x in args.waiting.split(",")]
    args.busy = [int(x) for x in args.busy.split(",")]
    return args


async def bench(args: argparse.Namespace, redis_url: str, database_url: str) -> Json:
    settings = Settings(redis_url=redis_url, database_url=database_url, auto_migrate=True,
                        background_tasks=False, project_on_start=False, log_level="WARNING")
    rt = await open_runtime(settings)
    ctl = Redis.from_url(redis_url, decode_responses=True)
    try:
        s = Scale(args, rt, ctl)
        t0 = time.monotonic()
        await s.setup()
        setup_s = time.monotonic() - t0
        t0 = time.monotonic()
        await s.run()
        info = await ctl.info("memory")
        return {"summary": s.summary(), "rounds": s.rounds, "setup_s": s.setup_s,
                "setup_total_s": round(setup_s, 1),
                "measure_s": round(time.monotonic() - t0, 1),
                "sizes_before": s.sizes_before, "sizes_after": s.sizes_after,
                "redis_used_memory": info.get("used_memory_human"),
                "redis_version": (await ctl.info("server")).get("redis_version")}
    finally:
        await ctl.aclose()
        await close_runtime(rt)


def main() -> int:
    args = parse_args()
    if shutil.which("redis-server") is None:
        print("redis-server not found", file=sys.stderr)
        return 2
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    started = time.monotonic()
    load_start = [round(x, 2) for x in os.getloadavg()]
    port = free_port()
    redis = start_redis(port, log)
    try:
        with tempfile.TemporaryDirectory(prefix="sb-scale-") as tmp:
            database_url = f"sqlite+aiosqlite:///{tmp}/scale.db"
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                res = runner.run(bench(args, f"redis://{HOST}:{port}/0", database_url))
    finally:
        stop(redis, log)
    res["command"] = " ".join([".venv/bin/python", "bench/scale.py", *sys.argv[1:]])
    res["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                      "python": platform.python_version(), "load_avg_at_start": load_start,
                      "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]}
    res["duration_s"] = round(time.monotonic() - started, 1)
    res["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(table(res))
    print(f"\nsetup: {res['setup_s']} (total {res['setup_total_s']} s); measured "
          f"{res['measure_s']} s; sizes before {res['sizes_before']} after "
          f"{res['sizes_after']}; load avg start {load_start} end "
          f"{res['machine']['load_avg_at_end']}")
    print(f"{res['command']}  ({res['duration_s']} s; {os.cpu_count()} CPUs; "
          f"JSON: {RESULTS.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
