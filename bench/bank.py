"""A real day of the "Anonymous Bank" call centre replayed at the bank's own staffing, beside
what the data recorded (docs/simulation.md).

    .venv/bin/python bench/bank.py [--date 1999-01-04] [--factors 1,0.8,0.75,0.7,0.6]

The data names the agent ("server") who answered each call, not who was logged in. The
staffing replayed is therefore read off the data: for every hour of the day, the number of
distinct servers seen talking to a caller in that hour, times a factor (rounded, at least one
agent while calls arrive). A factor below 1 stands for servers who were on shift but at other
work part of the hour. Each factor is one run of `examples/bank-1999-01-04.yaml`'s queues and
trace through the real engine in process, on a redis-server of its own (loopback, free
port, stopped by PID), with every agent in one pool that has every queue's skill; agent k
works the hours whose count exceeds k.

Observed and simulated figures are computed alike, over the calls that reached the agents'
queues (queued, or answered at once): abandon rate = hung up ÷ offered; mean wait over all of
them; answered within 20 s ÷ offered. Prints a Markdown table; writes bench/results/bank.json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `app` importable when run as a script

import yaml  # noqa: E402

from app.simulation import session  # noqa: E402
from app.simulation.plan import plan  # noqa: E402
from app.simulation.runner import Run  # noqa: E402
from app.simulation.scenario import load_scenario  # noqa: E402
from app.simulation.summary import summarise  # noqa: E402
from app.simulation.trace import Outcome, TraceCall, read_anonymous_bank  # noqa: E402
from bench.common import free_port, start_redis, stop  # noqa: E402

EXAMPLE = ROOT / "examples" / "bank-1999-01-04.yaml"
DATA = ROOT.parent / "shared" / "data" / "anonymous-bank-1999-01.tsv"
SL_S = 20
HOUR_S = 3600


def _seconds(clock: str) -> int:
    h, m, s = (int(x) for x in clock.split(":"))
    return h * HOUR_S + m * 60 + s


def servers_per_hour(data: Path, day: date, types: set[str]) -> list[int]:
    """Distinct servers seen in service during each hour of the day (24 counts)."""
    stamp = day.strftime("%y%m%d")
    seen: list[set[str]] = [set() for _ in range(24)]
    with data.open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if (row["date"] != stamp or row["type"] not in types
                    or row["outcome"] != Outcome.agent or row["server"] == "NO_SERVER"):
                continue
            start, end = _seconds(row["ser_start"]), _seconds(row["ser_exit"])
            for hour in range(start // HOUR_S, min(23, end // HOUR_S) + 1):
                seen[hour].add(row["server"])
    return [len(s) for s in seen]


def observed(calls: list[TraceCall]) -> dict[str, float]:
    offered = [c for c in calls if c.arrival_s is not None]
    hung = [c for c in offered if c.outcome is Outcome.hang]
    quick = [c for c in offered if c.outcome is Outcome.agent and c.queue_time_s <= SL_S]
    return {"offered": len(offered), "abandon_rate": len(hung) / len(offered),
            "mean_wait_s": statistics.fmean(c.queue_time_s for c in offered),
            "sl_offered": len(quick) / len(offered)}


def staffing(counts: list[int], factor: float, busy_hours: set[int]) -> list[int]:
    return [max(1 if h in busy_hours else 0, round(n * factor)) for h, n in enumerate(counts)]


def shifts_of(agent: int, per_hour: list[int]) -> list[dict[str, int]]:
    """The hours agent number `agent` (from 0) works, merged into shifts."""
    shifts: list[dict[str, int]] = []
    for hour, n in enumerate(per_hour):
        if n <= agent:
            continue
        if shifts and shifts[-1]["end_s"] == hour * HOUR_S:
            shifts[-1]["end_s"] = (hour + 1) * HOUR_S
        else:
            shifts.append({"start_s": hour * HOUR_S, "end_s": (hour + 1) * HOUR_S})
    return shifts


def scenario(base: dict[str, Any], data: Path, day: date, per_hour: list[int]) -> dict[str, Any]:
    skills = {r["skill"]: 5 for q in base["queues"] for r in q["config"]["requirements"]}
    queues = [q["id"] for q in base["queues"]]
    agents = [{"id_prefix": f"a{k:02d}-", "count": 1, "shifts": shifts_of(k, per_hour),
               "config": {"skills": skills, "queues": queues},
               "accept_delay": {"constant": {"value_s": 1}}}
              for k in range(max(per_hour))]
    trace = {**base["trace"], "file": str(data), "dates": [day.isoformat()]}
    return {**base, "name": f"{base['name']} (servers seen per hour)", "agents": agents,
            "trace": trace}


async def simulate(document: dict[str, Any], redis_url: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        p = plan(load_scenario(path))
    async with session.in_process(redis_url) as engine:
        result = await Run(engine, p).run()
    s = summarise(result, p.queues)
    o = s.overall
    return {"offered": o.offered, "abandon_rate": o.abandon_rate or 0.0,
            "mean_wait_s": o.mean_wait_s or 0.0, "sl_offered": o.service_level_offered or 0.0,
            "mean_occupancy": s.mean_occupancy or 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--date", type=date.fromisoformat, default=date(1999, 1, 4))
    parser.add_argument("--factors", default="1,0.8,0.75,0.7,0.6")
    args = parser.parse_args()
    base = yaml.safe_load(EXAMPLE.read_text())
    types = set(base["trace"]["queues"])
    calls = [c for c in read_anonymous_bank(args.data, skip_bad_rows=True).calls
             if c.day == args.date and c.type in types]
    seen = observed(calls)
    counts = servers_per_hour(args.data, args.date, types)
    busy_hours = {c.arrival_s // HOUR_S for c in calls if c.arrival_s is not None}
    print(f"{args.date}: {seen['offered']} calls offered; servers seen per hour: {counts}",
          flush=True)
    port = free_port()
    redis = start_redis(port, print)
    runs: dict[str, Any] = {}
    try:
        for factor in (float(f) for f in args.factors.split(",")):
            per_hour = staffing(counts, factor, busy_hours)
            got = asyncio.run(simulate(scenario(base, args.data, args.date, per_hour),
                                       f"redis://127.0.0.1:{port}/0"))
            runs[f"{factor:g}"] = {"agents_per_hour": per_hour,
                                   "agent_hours": sum(per_hour), **got}
            print(f"factor {factor:g}: {got}", flush=True)
    finally:
        stop(redis, print)
    print(f"\n| staffing | agent-hours | peak | abandon | mean wait | answered ≤ {SL_S} s "
          f"| occupancy |\n|---|---|---|---|---|---|---|")
    print(f"| observed in the data | {sum(counts)} servers seen | {max(counts)} | "
          f"{seen['abandon_rate']:.1%} | {seen['mean_wait_s']:.1f} s | "
          f"{seen['sl_offered']:.1%} | |")
    for factor, r in runs.items():
        print(f"| {factor} × servers seen | {r['agent_hours']} | {max(r['agents_per_hour'])} | "
              f"{r['abandon_rate']:.1%} | {r['mean_wait_s']:.1f} s | {r['sl_offered']:.1%} | "
              f"{r['mean_occupancy']:.0%} |")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "bank.json").write_text(json.dumps(
        {"date": args.date.isoformat(), "servers_seen_per_hour": counts, "observed": seen,
         "simulated": runs}, indent=2))


if __name__ == "__main__":
    main()
