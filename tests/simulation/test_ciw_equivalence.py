"""Every call's wait and outcome in the engine equal the ones the Ciw simulator gives the same
calls (app/simulation/ciw_check.py): FIFO M/M/N, M/M/N+M with exponential patience, and two
strict priority classes. Small traces of a loaded pool (N = 4, load 0.9, so that most calls
wait) on three seeds each; the large traces are bench/ciw.py."""

from __future__ import annotations

import pytest

from app.simulation.ciw_check import ciw_waits, compare, draw
from app.simulation.replay import Arrival, Outcome, Replay
from tests.support import Api

AGENTS = 4
AHT_S = 180.0
CALLS = 130
SEEDS = [1, 2, 3]


@pytest.fixture(params=["redis+postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Real Redis only: the engine is the same on both back-ends (the other tests show it), and
    a replay of this size is slow on the embedded one."""
    return str(request.param)


async def replay(service: Api, arrivals: list[Arrival]) -> list[Outcome]:
    t = await service.tenant("manual")
    await t.put_queue("q", auto_accept=True, max_size=100_000)  # strict priority: the default
    for i in range(AGENTS):
        await t.put_agent(f"a{i}", queues=["q"])
        await t.state(f"a{i}", "available")
    return await Replay(service.http, t.key, "q").run(arrivals)


async def check(service: Api, arrivals: list[Arrival]) -> list[Outcome]:
    ours = await replay(service, arrivals)
    assert compare(ours, ciw_waits(arrivals, AGENTS)) == []
    return ours


@pytest.mark.parametrize("seed", SEEDS)
async def test_fifo_m_m_n(service: Api, seed: int) -> None:
    ours = await check(service, draw(seed, CALLS, AGENTS, AHT_S, load=0.9))
    assert sum(o.connected_ms != o.arrived_ms for o in ours) > CALLS // 3  # calls did wait


@pytest.mark.parametrize("seed", SEEDS)
async def test_m_m_n_with_exponential_patience(service: Api, seed: int) -> None:
    ours = await check(service, draw(seed, CALLS, AGENTS, AHT_S, load=0.9, patience_s=120))
    assert sum(o.abandoned_ms is not None for o in ours) >= 5


@pytest.mark.parametrize("seed", SEEDS)
async def test_two_strict_priority_classes(service: Api, seed: int) -> None:
    arrivals = draw(seed, CALLS, AGENTS, AHT_S, load=0.9, high_share=0.3)
    ours = await check(service, arrivals)
    # Some high-priority call overtook a low one that was waiting before it.
    assert any(o.arrival.priority > p.arrival.priority and p.arrived_ms < o.arrived_ms
               and (o.connected_ms or 0) < (p.connected_ms or 0)
               for o in ours for p in ours)
