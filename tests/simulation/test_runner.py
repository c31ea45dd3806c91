"""The simulation runner drives the real engine on a manual clock: agents' shifts, accept
delays and missed offers, callers' patience, wrap-ups; the same result in process and over
HTTP, call by call, on every back-end (a Redis Cluster too: the in-process engine reads the
events and the next timer in one pipeline)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.simulation.engines import InProcess, OverHttp
from app.simulation.runner import Result, Run
from tests.conftest import BACKENDS
from tests.support import Api


@pytest.fixture(params=[*BACKENDS, "cluster+postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass(frozen=True)
class Fixed:
    value_s: float

    def sample(self, rng: random.Random) -> float:
        return self.value_s


@dataclass(frozen=True)
class Call:
    external_id: str
    at_s: float
    handle_s: float
    patience_s: float | None = None
    queue: str = "q"
    priority: int = 0
    channel: str = "voice"
    requirements: list[Any] = field(default_factory=list)
    customer_id: str | None = None


@dataclass(frozen=True)
class Agent:
    id: str
    shifts: list[tuple[float, float]]
    config: dict[str, Any] = field(default_factory=lambda: {"queues": ["q"]})
    accept_delay: Fixed | None = None
    miss_probability: float = 0.0
    seed: int = 1


@dataclass(frozen=True)
class Plan:
    calls: list[Call]
    agents: list[Agent]
    queues: dict[str, dict[str, Any]]


def by_call(result: Result) -> dict[str, tuple[Any, ...]]:
    """Each call's fate, in ms after the start."""
    def rel(ms: int | None) -> int | None:
        return None if ms is None else ms - result.start_ms
    return {c.planned.external_id: (rel(c.arrived_ms), rel(c.connected_ms), c.agent_id,
                                    rel(c.ended_ms), c.outcome) for c in result.calls}


async def in_process(service: Api, plan: Plan) -> Result:
    t = await service.tenant("manual")
    return await Run(InProcess(service.runtime, t.id), plan).run()


async def test_shifts_delays_misses_patience_and_wrap_up(service: Api) -> None:
    plan = Plan(
        calls=[Call("c1", 5, 60), Call("c2", 20, 30), Call("c3", 25, 30, patience_s=10),
               Call("c4", 200, 200), Call("c5", 300, 40)],
        agents=[Agent("ana", [(10, 1000)], accept_delay=Fixed(2)),
                Agent("bo", [(250, 1000)], miss_probability=1.0)],
        queues={"q": {"wrap_up_s": 5, "offer_timeout_s": 8, "max_missed_offers": 1}})
    result = await in_process(service, plan)
    calls = by_call(result)
    # c1 waits for ana's shift (10 s), rings 2 s: answered at 12 s, talks 60 s, wraps 5 s.
    assert calls["c1"] == (5_000, 12_000, "ana", 72_000, "completed")
    # c3 hangs up after 10 s while ana is busy; c2 is answered after ana's wrap-up (77 s + 2).
    assert calls["c3"] == (25_000, None, None, 35_000, "abandoned")
    assert calls["c2"] == (20_000, 79_000, "ana", 109_000, "completed")
    assert calls["c4"] == (200_000, 202_000, "ana", 402_000, "completed")
    # c5 at 300 s: ana is busy; bo lets the offer ring out (8 s) and is set away for it; ana
    # takes c5 after her wrap-up (407 s) and 2 s of ringing.
    assert calls["c5"] == (300_000, 409_000, "ana", 449_000, "completed")
    bo = next(a for a in result.agents if a.planned.id == "bo")
    assert (bo.offers, bo.missed) == (1, 1)
    assert result.unfinished == 0
    assert result.end_ms - result.start_ms == 1_000_000  # until the last shift ends


async def test_the_same_run_in_process_and_over_http(service: Api) -> None:
    rng = random.Random(5)
    at, calls = 0.0, []
    for i in range(60):
        at += rng.expovariate(1 / 20)
        calls.append(Call(f"c{i}", round(at, 3), round(rng.expovariate(1 / 50), 3) + 0.001,
                          patience_s=round(rng.expovariate(1 / 40), 3)))
    plan = Plan(calls, [Agent(f"a{i}", [(0, at + 600)], accept_delay=Fixed(1.5),
                              miss_probability=0.2, seed=i) for i in range(3)],
                {"q": {"wrap_up_s": 3, "offer_timeout_s": 6}})
    local = await in_process(service, plan)
    t = await service.tenant("manual")
    remote = await Run(OverHttp(service.http, t.key), plan).run()
    assert by_call(local) == by_call(remote)
    outcomes = {c.outcome for c in local.calls}
    assert outcomes == {"completed", "abandoned"}  # both paths were exercised
    again = await in_process(service, plan)
    assert by_call(again) == by_call(local)  # reproducible
