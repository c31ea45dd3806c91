"""Estimated-wait accuracy (DESIGN §3.6): the engine's `estimated_wait_s` given on arrival,
against the real wait, beside the (n + 1)·AHT/N predictor (true mean handle time) and a
queue-average predictor (mean wait of the last 100 answered calls), on the same calls.

    .venv/bin/python bench/ewt.py [--calls 1500] [--seeds 1]

Runs the app in process over httpx (ASGI) on its own redis-server (loopback, free port,
stopped by PID) and SQLite in a temporary directory; a manual-clock tenant, one FIFO queue
with auto-accept, N agents, Poisson arrivals (app/simulation/ewt.py). Scored: calls that
waited and were answered, the first 5 % left out. Prints a Markdown table; writes
bench/results/ewt.json.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `app` importable when run as a script

import httpx  # noqa: E402

from app.simulation.ewt import Scenario, Scores, score  # noqa: E402
from app.simulation.replay import Replay  # noqa: E402
from bench.common import app_in_process  # noqa: E402

ADMIN = "bench-admin-token"


def scenarios(calls: int) -> list[Scenario]:
    return [
        Scenario("M/M/10 FIFO, load 0.95", agents=10, aht_s=180, load=0.95, calls=calls),
        Scenario("M/M/50 FIFO, load 0.97", agents=50, aht_s=240, load=0.97, calls=calls),
        Scenario("lognormal cv 0.5 + 30 s wrap-up, N 10, load 0.93", agents=10, aht_s=210,
                 load=0.93, calls=calls, handle="lognormal", cv=0.5, wrap_up_s=30),
        Scenario("M/M/10, 20 % priority calls, load 0.95", agents=10, aht_s=180, load=0.95,
                 calls=calls, high_priority_share=0.2),
    ]


async def run_one(http: httpx.AsyncClient, s: Scenario, seed: int) -> Scores:
    created = await http.post("/v1/tenants", json={"id": f"ewt-{seed}-{id(s)}",
                                                   "clock": "manual"},
                              headers={"Authorization": f"Bearer {ADMIN}"})
    key = created.json()["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    await http.put("/v1/queues/q", json={"auto_accept": True, "wrap_up_s": s.wrap_up_s,
                                         "max_size": 100000}, headers=auth)
    for i in range(s.agents):
        await http.put(f"/v1/agents/a{i:03d}", json={"queues": ["q"]}, headers=auth)
        await http.post(f"/v1/agents/a{i:03d}/state", json={"state": "available"},
                        headers=auth)
    outcomes = await Replay(http, key, "q", wrap_up_s=s.wrap_up_s).run(s.arrivals(seed))
    return score(s, outcomes)


async def main(args: argparse.Namespace) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    async with app_in_process(ADMIN) as http:
        for s in scenarios(args.calls):
            for seed in args.seeds:
                r = await run_one(http, s, seed)
                results.append({**dataclasses.asdict(r), "scenario": s.name, "seed": seed})
                print(f"{s.name} seed {seed}: {r.scored} scored, engine {r.engine}, "
                      f"(n+1)AHT/N {r.position_rate}, learnt {r.position_rate_learnt}, "
                      f"queue average {r.queue_average}", flush=True)
    return results


def table(results: list[dict[str, object]]) -> str:
    lines = ["| scenario | seed | calls scored | mean wait s | engine MAE / RMSE s | "
             "(n+1)·AHT/N, true AHT | (n+1)·AHT/N, learnt AHT | queue average |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        cells = []
        for k in ("engine", "position_rate", "position_rate_learnt", "queue_average"):
            e = r[k]
            assert isinstance(e, dict)
            cells.append(f"{e['mae_s']} / {e['rmse_s']}")
        lines.append(f"| {r['scenario']} | {r['seed']} | {r['scored']} | {r['mean_wait_s']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")],
                        default=[1])
    args = parser.parse_args()
    results = asyncio.run(main(args))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "ewt.json").write_text(json.dumps(results, indent=2, default=str))
    print(table(results))
