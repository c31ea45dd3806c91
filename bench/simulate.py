"""Simulation speed (DESIGN §6 asks for ≥ 2,000 simulated calls per second): a scenario run
through the real engine in process, on the embedded back-end and on a redis-server of its own,
side by side.

    .venv/bin/python bench/simulate.py [--scenario examples/mmn.yaml] [--rounds 2]

Each round runs the scenario once per back-end (alternating), with the same seed, so both do
exactly the same work; reports simulated calls per wall-clock second (median of the rounds),
clock steps, and the scripts, commands and Redis time inside the scripts per call (counted by
the redis-server: its INFO commandstats).

It also prints three ceilings of the redis-server run, each what one cost alone would allow:
the Redis time inside the scripts per call; the round trips per call (counted at the client)
times what one round trip costs this process (a PING on the same client, timed after the
run); and the CPU time of this process per call.
Writes bench/results/simulate.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `app` importable when run as a script

from redis.asyncio import Redis  # noqa: E402

from app.simulation import session  # noqa: E402
from app.simulation.engines import InProcess  # noqa: E402
from app.simulation.plan import plan  # noqa: E402
from app.simulation.runner import Run  # noqa: E402
from app.simulation.scenario import load_scenario  # noqa: E402
from app.store import keys  # noqa: E402
from app.store.scripts import PRELUDE  # noqa: E402
from bench.common import free_port, start_redis, stop  # noqa: E402


async def _commands(redis_url: str) -> tuple[int, int, int]:
    """Scripts run (EVALSHA), all commands (the scripts' own included) and the server's time
    inside the scripts, in µs (with what they ran), so far (INFO)."""
    client = Redis.from_url(redis_url)
    try:
        scripts = (await client.info("commandstats")).get("cmdstat_evalsha", {})
        total = (await client.info("stats"))["total_commands_processed"]
        return int(scripts.get("calls", 0)), int(total), int(scripts.get("usec", 0))
    finally:
        await client.aclose()


@dataclass
class Sample:
    rate: float  # simulated calls per wall-clock second
    steps: int
    calls: int
    counted: tuple[int, int, int] | None  # scripts, commands, µs inside scripts (real Redis)
    round_trips: int  # sent by the engine's client
    cpu_s: float  # this process, during the run
    round_trip_us: float  # one PING on the same client, after the run


def count_round_trips(redis: Any) -> list[int]:
    """Counts what the client sends from now on: each command, and each pipeline once."""
    sent = [0]
    command, pipeline = redis.execute_command, redis.pipeline

    async def counted_command(*args: Any, **kwargs: Any) -> Any:
        sent[0] += 1
        return await command(*args, **kwargs)

    def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = pipeline(*args, **kwargs)
        execute = pipe.execute

        async def counted_execute(*a: Any, **k: Any) -> Any:
            sent[0] += 1
            return await execute(*a, **k)

        pipe.execute = counted_execute
        return pipe

    redis.execute_command, redis.pipeline = counted_command, counted_pipeline
    return sent


async def once(path: Path, redis_url: str, pings: int = 2000) -> Sample:
    p = plan(load_scenario(path))
    real = redis_url.startswith("redis")
    before = await _commands(redis_url) if real else (0, 0, 0)
    async with session.in_process(redis_url) as engine:
        assert isinstance(engine, InProcess)
        sent = count_round_trips(engine.rt.redis)
        began, cpu = time.perf_counter(), time.process_time()
        result = await Run(engine, p).run()
        took, cpu_s = time.perf_counter() - began, time.process_time() - cpu
        trips = sent[0]
        began = time.perf_counter()
        for _ in range(pings):
            await engine.rt.redis.ping()
        round_trip_us = (time.perf_counter() - began) * 1e6 / pings
    after = await _commands(redis_url) if real else None
    counted = None if after is None else (after[0] - before[0], after[1] - before[1],
                                          after[2] - before[2])
    return Sample(len(p.calls) / took, result.steps, len(p.calls), counted, trips, cpu_s,
                  round_trip_us)


async def prelude_us(redis_url: str, runs: int = 2000) -> float:
    """Redis's time per script for the shared prelude alone (common.lua, staffing.lua and
    lifecycle.lua, then `return 1`), with a tenant's keys and a small request: what every script
    pays before its verb runs."""
    client = Redis.from_url(redis_url)
    lua = files("app.store") / "lua"
    source = "\n".join((lua / name).read_text() for name in PRELUDE) + "\nreturn 1"
    fixed = keys.fixed("prelude-cost")
    try:
        sha = await client.script_load(source)
        before = (await client.info("commandstats")).get("cmdstat_evalsha", {})
        for _ in range(runs):
            await client.evalsha(sha, len(fixed), *fixed, '{"limit":8,"queues":[]}', 0, 1000,
                                 "unguarded")
        after = (await client.info("commandstats"))["cmdstat_evalsha"]
        return (int(after["usec"]) - int(before.get("usec", 0))) / runs
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", type=Path, default=ROOT / "examples" / "mmn.yaml")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    port = free_port()
    redis = start_redis(port, print)
    names = {"embedded (memory://)": "memory://", "redis-server": f"redis://127.0.0.1:{port}/0"}
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    try:
        for _ in range(args.rounds):
            for name, url in names.items():
                sample = asyncio.run(once(args.scenario, url))
                samples[name].append(sample)
                print(f"{name}: {sample.rate:,.0f} calls/s", flush=True)
        prelude = asyncio.run(prelude_us(names["redis-server"]))
    finally:
        stop(redis, print)
    out = {name: round(statistics.median(s.rate for s in runs), 1)
           for name, runs in samples.items()}
    real = samples["redis-server"]
    calls, steps = real[0].calls, real[0].steps
    commands = real[-1].counted
    trips = statistics.median(s.round_trips for s in real) / calls
    trip_us = statistics.median(s.round_trip_us for s in real)
    cpu_us = statistics.median(s.cpu_s for s in real) * 1e6 / calls
    print(f"\n{args.scenario.name}: {calls:,} calls, {steps:,} clock steps per run")
    ceilings: dict[str, float] = {}
    if commands:
        redis_us = commands[2] / calls
        print(f"redis-server, per call (set-up included): {commands[0] / calls:.1f} scripts "
              f"run, {commands[1] / calls:.1f} commands (the scripts' own included), "
              f"{redis_us:,.0f} µs inside the scripts")
        print(f"per script: {commands[2] / commands[0]:,.0f} µs, of which {prelude:,.0f} µs "
              f"is the shared prelude alone")
        ceilings["Redis time inside the scripts"] = 1e6 / redis_us
    print(f"client, per call: {trips:.1f} round trips at {trip_us:,.0f} µs each (PING), "
          f"{cpu_us:,.0f} µs of this process's CPU")
    ceilings["round trips alone"] = 1e6 / (trips * trip_us)
    ceilings["this process's CPU"] = 1e6 / cpu_us
    print("\n| each cost alone (redis-server run, medians) | ceiling, calls/s |\n|---|---|")
    for name, ceiling in ceilings.items():
        print(f"| {name} | {ceiling:,.0f} |")
    print("\n| back-end | simulated calls per second (median) |\n|---|---|")
    for name, rate in out.items():
        print(f"| {name} | {rate:,.0f} |")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "simulate.json").write_text(json.dumps(
        {"scenario": str(args.scenario), "calls": calls, "steps": steps,
         "redis_commands": commands, "prelude_us": prelude,
         "round_trips_per_call": trips, "round_trip_us": trip_us, "cpu_us_per_call": cpu_us,
         "ceilings": ceilings, "rates": {n: [s.rate for s in r] for n, r in samples.items()},
         "median": out}, indent=2))


if __name__ == "__main__":
    main()
