"""Simulation speed (DESIGN §6 asks for ≥ 2,000 simulated calls per second): a scenario run
through the real engine in process, on the embedded back-end and on a redis-server of its own,
side by side.

    .venv/bin/python bench/simulate.py [--scenario examples/mmn.yaml] [--rounds 2]

Each round runs the scenario once per back-end (alternating), with the same seed, so both do
exactly the same work; reports simulated calls per wall-clock second (median of the rounds),
clock steps, and the scripts, commands and Redis time inside the scripts per call (counted by
the redis-server: its INFO commandstats).
Writes bench/results/simulate.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `app` importable when run as a script

from redis.asyncio import Redis  # noqa: E402

from app.simulation import session  # noqa: E402
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


async def once(path: Path,
               redis_url: str) -> tuple[float, int, int, tuple[int, int, int] | None]:
    """Calls per second, clock steps, calls, and (on a real server) scripts, commands and
    the server's time inside the scripts (µs)."""
    p = plan(load_scenario(path))
    real = redis_url.startswith("redis")
    before = await _commands(redis_url) if real else (0, 0, 0)
    async with session.in_process(redis_url) as engine:
        began = time.perf_counter()
        result = await Run(engine, p).run()
        took = time.perf_counter() - began
    after = await _commands(redis_url) if real else None
    counted = None if after is None else (after[0] - before[0], after[1] - before[1],
                                          after[2] - before[2])
    return len(p.calls) / took, result.steps, len(p.calls), counted


async def prelude_us(redis_url: str, runs: int = 2000) -> float:
    """Redis's time per script for the shared prelude alone (common.lua and lifecycle.lua,
    then `return 1`), with a tenant's keys and a small request: what every script pays before
    its verb runs."""
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
    rates: dict[str, list[float]] = {"embedded (memory://)": [], "redis-server": []}
    steps = calls = 0
    commands: tuple[int, int, int] | None = None
    try:
        for _ in range(args.rounds):
            for name, url in (("embedded (memory://)", "memory://"),
                              ("redis-server", f"redis://127.0.0.1:{port}/0")):
                rate, steps, calls, counted = asyncio.run(once(args.scenario, url))
                commands = counted if counted is not None else commands
                rates[name].append(rate)
                print(f"{name}: {rate:,.0f} calls/s", flush=True)
        prelude = asyncio.run(prelude_us(f"redis://127.0.0.1:{port}/0"))
    finally:
        stop(redis, print)
    out = {name: round(statistics.median(r), 1) for name, r in rates.items()}
    print(f"\n{args.scenario.name}: {calls:,} calls, {steps:,} clock steps per run")
    if commands:
        print(f"redis-server, per call (set-up included): {commands[0] / calls:.1f} scripts "
              f"run, {commands[1] / calls:.1f} commands (the scripts' own included), "
              f"{commands[2] / calls:,.0f} µs inside the scripts: whatever drives them, "
              f"one Redis runs at most {calls * 1e6 / commands[2]:,.0f} simulated calls/s")
        print(f"per script: {commands[2] / commands[0]:,.0f} µs, of which {prelude:,.0f} µs "
              f"is the shared prelude alone")
    print("| back-end | simulated calls per second (median) |\n|---|---|")
    for name, rate in out.items():
        print(f"| {name} | {rate:,.0f} |")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "simulate.json").write_text(json.dumps(
        {"scenario": str(args.scenario), "calls": calls, "steps": steps,
         "redis_commands": commands, "prelude_us": prelude, "rates": rates,
         "median": out}, indent=2))


if __name__ == "__main__":
    main()
