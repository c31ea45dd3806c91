"""`switchboard simulate SCENARIO`: load and plan the scenario, run it through the engine (in
this process, or on a server with `--url`), print the summary, write the HTML report and,
if asked, every call's outcome as JSON."""

from __future__ import annotations

import json
import sys
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from app.simulation import report, session
from app.simulation.documents import ScenarioError
from app.simulation.engines import Engine, Refused
from app.simulation.plan import Plan, plan
from app.simulation.runner import Result, Run
from app.simulation.scenario import Scenario, load_scenario
from app.simulation.summary import summarise
from app.staffing import erlang


@dataclass(frozen=True, slots=True)
class Options:
    scenario: Path
    seed: int | None
    url: str | None
    api_key: str | None
    redis_url: str
    report: Path | None
    json: Path | None
    skip_bad_rows: bool
    progress: bool


def prediction(scenario: Scenario, p: Plan) -> report.Predicted | None:
    """Erlang C (or A, with exponential patience) where it describes the scenario: one queue,
    constant Poisson arrivals, exponential talk times, every agent at work all along and
    answering at once."""
    if len(scenario.queues) != 1 or scenario.trace is not None:
        return None
    q = scenario.queues[0]
    if q.arrivals is None or q.arrivals.poisson.rate_per_hour is None:
        return None
    if q.handle_time is None or q.handle_time.exponential is None:
        return None
    if q.patience is not None and q.patience.exponential is None:
        return None
    agents = p.agents
    whole = all(a.shifts == ((0.0, None),) or (len(a.shifts) == 1 and a.shifts[0][0] == 0
                and (a.shifts[0][1] is None or a.shifts[0][1] >= p.duration_s))
                for a in agents)
    if not agents or not whole or any(a.accept_delay or a.miss_probability for a in agents):
        return None
    wrap = p.queues[q.id].get("wrap_up_s")
    wrap_s = float(wrap) if isinstance(wrap, int | float) else 0.0
    sl = p.queues[q.id].get("service_level") or {}
    threshold = float(sl.get("threshold_s", 20)) if isinstance(sl, dict) else 20.0
    rate = q.arrivals.poisson.rate_per_hour
    aht = q.handle_time.exponential.mean + wrap_s
    patience = None if q.patience is None else q.patience.mean
    load = erlang.Load(rate, aht, patience)
    model = "Erlang C" if patience is None else f"Erlang A (patience {patience:g} s)"
    basis = (f"{model}: {rate:g} calls/h, AHT {aht:g} s (talk + wrap-up), {len(agents)} "
             f"agents, threshold {threshold:g} s; wrap-up is not exponential, so this is an "
             f"approximation when it is long" if wrap_s else
             f"{model}: {rate:g} calls/h, AHT {aht:g} s, {len(agents)} agents, threshold "
             f"{threshold:g} s")
    return report.Predicted(basis, erlang.predict(load, len(agents), threshold))


def _tick(bar: tqdm[Any]) -> None:
    bar.update(1)


def _engine(o: Options) -> AbstractAsyncContextManager[Engine]:
    if o.url:
        return session.remote(o.url, o.api_key or "")
    return session.in_process(o.redis_url)


def _outcomes(result: Result) -> list[dict[str, Any]]:
    def rel(ms: int | None) -> float | None:
        return None if ms is None else (ms - result.start_ms) / 1000

    return [{"call": c.planned.external_id, "queue": c.queue, "arrived_s": rel(c.arrived_ms),
             "connected_s": rel(c.connected_ms), "ended_s": rel(c.ended_ms),
             "outcome": c.outcome, "agent": c.agent_id, "offers": c.offers}
            for c in result.calls]


async def run(o: Options) -> int:
    try:
        scenario = load_scenario(o.scenario, skip_bad_rows=o.skip_bad_rows)
    except ScenarioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    p = plan(scenario, o.seed)
    notes = [f"seed {p.seed}; {len(p.calls):,} calls, {len(p.agents)} agents"]
    if p.skipped_rows:
        notes.append(f"{p.skipped_rows:,} malformed trace rows skipped")
    if p.skipped_types:
        notes.append("trace rows of unmapped types left out: " + ", ".join(
            f"{t} {n:,}" for t, n in sorted(p.skipped_types.items())))
    if p.skipped_calls:
        notes.append("trace rows left out: " + ", ".join(
            f"{why} {n:,}" for why, n in sorted(p.skipped_calls.items())))
    bar = tqdm(total=len(p.calls), unit="call", disable=not o.progress, leave=False,
               file=sys.stderr)
    began = time.perf_counter()
    try:
        async with _engine(o) as engine:
            result = await Run(engine, p, lambda done, total: _tick(bar)).run()
    except Refused as e:
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 1
    bar.close()
    took = time.perf_counter() - began
    summary = summarise(result, p.queues)
    predicted = prediction(scenario, p)
    speed = f"{len(p.calls):,} calls in {took:.1f} s ({len(p.calls) / max(took, 1e-9):,.0f}/s)"
    notes.append(f"ran {speed} through the engine; {result.steps:,} clock steps")
    if result.unfinished:
        notes.append(f"{result.unfinished} calls still waiting when nothing more could "
                     "happen (no agent left to answer them)")
    print(f"{p.name}: {speed}")
    print(report.terminal(summary, predicted))
    for note in notes[1:-1]:
        print(note)
    target = o.report or Path(f"{o.scenario.stem}.report.html")
    target.write_text(report.page(p.name, summary, predicted, notes))
    print(f"report: {target}")
    if o.json:
        o.json.write_text(json.dumps({"scenario": p.name, "seed": p.seed,
                                      "calls": _outcomes(result)}, indent=1) + "\n")
        print(f"outcomes: {o.json}")
    return 0
