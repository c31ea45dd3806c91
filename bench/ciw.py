"""The engine against the Ciw simulator call by call on large traces, and its KPIs beside
Erlang C, Erlang A and Cobham's priority formula (docs/simulation-validation.md).

    .venv/bin/python bench/ciw.py [--calls 20000] [--seeds 1] [--models fifo,patience,priority]
                                  [--spread 20]

Three models on 20 agents, AHT 180 s, service-level threshold 20 s: M/M/20 FIFO at load 0.9;
M/M/20+M at load 0.95 with exponential patience of mean 180 s; M/M/20 at load 0.9 with 30 % of
the calls in a higher strict-priority class. Each trace (app/simulation/ciw_check.py `draw`)
runs through the engine in process over httpx (ASGI) on its own redis-server (loopback, free
port, stopped by PID) and SQLite in a temporary directory — a manual-clock tenant, one queue
with auto-accept, N agents — and through Ciw. Prints each call whose wait or outcome differs
by more than 1 ms (there must be none), then the engine's KPIs (the first 10 % of calls left
out) beside the formulas, as a Markdown table; writes bench/results/ciw.json; exits 1 on a
mismatch. To say how far from the formula a run may fall by chance, σ — the standard deviation
of one run's KPI — is measured on `--spread` more runs of each model through Ciw alone (seeds
1001, 1002, ...; the engine gives every call what Ciw gives it, so its runs spread alike), and
each KPI is shown with z = (engine − formula) / (σ/√seeds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `app` importable when run as a script; and the script's own folder off the path, where
# this file would stand in for the `ciw` package.
sys.path[0] = str(ROOT)

import httpx  # noqa: E402

from app.simulation.ciw_check import (  # noqa: E402
    HIGH,
    ciw_waits,
    cobham,
    compare,
    draw,
    engine_waits,
    kpis,
)
from app.simulation.replay import Arrival, Replay  # noqa: E402
from app.staffing import erlang  # noqa: E402
from bench.common import app_in_process  # noqa: E402

ADMIN = "bench-admin-token"
AGENTS = 20
AHT_S = 180.0
THRESHOLD_S = 20.0
PROGRESS_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Model:
    key: str
    name: str
    load: float
    patience_s: float | None = None
    high_share: float = 0.0

    def arrivals(self, seed: int, calls: int) -> list[Arrival]:
        return draw(seed, calls, AGENTS, AHT_S, self.load, self.patience_s, self.high_share)

    def theory(self) -> dict[str, float]:
        rate_per_s = self.load * AGENTS / AHT_S
        p = erlang.predict(erlang.Load(rate_per_s * erlang.SECONDS_PER_HOUR, AHT_S,
                                       self.patience_s), AGENTS, THRESHOLD_S)
        out = {"P(wait)": p.probability_of_wait, "mean wait s": p.average_wait_s,
               "ASA s": p.asa_s, "P(abandon)": p.abandon_rate}
        if self.high_share:
            high, low = cobham([rate_per_s * self.high_share,
                                rate_per_s * (1 - self.high_share)], AHT_S, AGENTS)
            out |= {"wait high s": high, "wait low s": low}
        else:  # with priorities the wait distribution is not Erlang C's
            out["SL"] = p.service_level
        return out


MODELS = [
    Model("fifo", "M/M/20 FIFO, load 0.9 (Erlang C)", 0.9),
    Model("patience", "M/M/20+M, patience 180 s, load 0.95 (Erlang A)", 0.95, patience_s=180),
    Model("priority", "M/M/20, 30 % high priority, load 0.9 (Cobham)", 0.9, high_share=0.3),
]


def figures(model: Model, arrivals: list[Arrival],
            all_waits: list[tuple[float, bool]]) -> dict[str, float]:
    """The KPIs of one run, its first 10 % of calls left out."""
    skip = len(arrivals) // 10
    waits = all_waits[skip:]
    k = kpis(waits, THRESHOLD_S)
    out = {"P(wait)": k.waited, "mean wait s": k.mean_wait_s, "ASA s": k.asa_s,
           "P(abandon)": k.abandoned}
    if model.high_share:
        for name, high in (("wait high s", True), ("wait low s", False)):
            w = [wait for a, (wait, _) in zip(arrivals[skip:], waits, strict=True)
                 if (a.priority == HIGH) == high]
            out[name] = sum(w) / len(w)
    else:
        out["SL"] = k.service_level
    return out


async def progress(label: str, replay: Replay, calls: int, started: float) -> None:
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        done = sum(o.connected_ms is not None or o.abandoned_ms is not None
                   for o in replay.outcomes)
        print(f"  {label}: {done}/{calls} calls answered or abandoned, "
              f"{time.monotonic() - started:.0f} s", flush=True)


async def run_one(http: httpx.AsyncClient, model: Model, seed: int,
                  calls: int) -> dict[str, object]:
    arrivals = model.arrivals(seed, calls)
    created = await http.post("/v1/tenants", json={"id": f"ciw-{model.key}-{seed}",
                                                   "clock": "manual"},
                              headers={"Authorization": f"Bearer {ADMIN}"})
    key = created.json()["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    await http.put("/v1/queues/q", json={"auto_accept": True, "max_size": 1_000_000},
                   headers=auth)
    for i in range(AGENTS):
        await http.put(f"/v1/agents/a{i:03d}", json={"queues": ["q"]}, headers=auth)
        await http.post(f"/v1/agents/a{i:03d}/state", json={"state": "available"},
                        headers=auth)
    replay = Replay(http, key, "q")
    started = time.monotonic()
    label = f"{model.key} seed {seed}"
    ticker = asyncio.create_task(progress(label, replay, calls, started))
    try:
        outcomes = await replay.run(arrivals)
    finally:
        ticker.cancel()
    engine_s = time.monotonic() - started
    started = time.monotonic()
    theirs = ciw_waits(arrivals, AGENTS)
    ciw_s = time.monotonic() - started
    mismatches = compare(outcomes, theirs)
    largest_ms = max(abs((o.wait_s or 0.0) - c.wait_s) for o, c in zip(outcomes, theirs,
                                                                      strict=True)) * 1000
    for line in mismatches[:20]:
        print(f"  MISMATCH {label}: {line}", flush=True)
    result: dict[str, object] = {
        "model": model.key, "name": model.name, "seed": seed, "calls": calls,
        "mismatches": len(mismatches), "largest_difference_ms": round(largest_ms, 6),
        "engine_s": round(engine_s, 1), "ciw_s": round(ciw_s, 1),
        "engine": figures(model, arrivals, engine_waits(outcomes)), "theory": model.theory()}
    print(f"{label}: {len(mismatches)} mismatches (largest difference {largest_ms:.2g} ms), "
          f"engine {engine_s:.0f} s, Ciw {ciw_s:.1f} s, {result['engine']}", flush=True)
    return result


def spread(model: Model, calls: int, runs: int) -> dict[str, float]:
    """σ of one run's KPIs, over `runs` runs of the model through Ciw."""
    if runs < 2:
        return {}
    started = time.monotonic()
    values: dict[str, list[float]] = {}
    for seed in range(1001, 1001 + runs):
        arrivals = model.arrivals(seed, calls)
        waits = [(c.wait_s, c.answered) for c in ciw_waits(arrivals, AGENTS)]
        for name, value in figures(model, arrivals, waits).items():
            values.setdefault(name, []).append(value)
    print(f"{model.key}: σ from {runs} Ciw runs in {time.monotonic() - started:.0f} s",
          flush=True)
    return {name: statistics.stdev(v) for name, v in values.items()}


async def main(args: argparse.Namespace) -> list[dict[str, object]]:
    async with app_in_process(ADMIN) as http:
        results = [await run_one(http, m, seed, args.calls)
                   for m in MODELS if m.key in args.models for seed in args.seeds]
    sigmas = {m.key: spread(m, args.calls, args.spread) for m in MODELS if m.key in args.models}
    for r in results:
        r["sigma"] = sigmas[str(r["model"])]
    return results


def table(results: list[dict[str, object]]) -> str:
    """Per model: calls, mismatches, then each KPI: the engine's (mean over seeds), the
    formula's, σ/√seeds and z."""
    lines = ["| model | seeds × calls | mismatches | KPI | engine | formula | σ/√seeds | z |",
             "|---|---|---|---|---|---|---|---|"]
    for m in MODELS:
        runs = [r for r in results if r["model"] == m.key]
        if not runs:
            continue
        theory, sigma = runs[0]["theory"], runs[0]["sigma"]
        assert isinstance(theory, dict) and isinstance(sigma, dict)
        first = True
        for name, expected in theory.items():
            values = []
            for r in runs:
                engine = r["engine"]
                assert isinstance(engine, dict)
                values.append(float(engine[name]))
            mean = statistics.fmean(values)
            se = sigma.get(name, 0.0) / len(values) ** 0.5
            z = f"{(mean - expected) / se:+.1f}" if se > 0 else ""
            head = (f"| {m.name} | {len(runs)} × {runs[0]['calls']} | "
                    f"{sum(int(str(r['mismatches'])) for r in runs)} |" if first
                    else "| | | |")
            lines.append(f"{head} {name} | {mean:.4g} | {expected:.4g} | {se:.2g} | {z} |")
            first = False
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")],
                        default=[1])
    parser.add_argument("--models", type=lambda v: v.split(","),
                        default=[m.key for m in MODELS])
    parser.add_argument("--spread", type=int, default=20,
                        help="Ciw runs per model that measure σ (0: none)")
    args = parser.parse_args()
    results = asyncio.run(main(args))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "ciw.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    sys.exit(1 if any(r["mismatches"] for r in results) else 0)
