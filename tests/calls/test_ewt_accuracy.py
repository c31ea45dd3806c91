"""The estimated wait against real waits, on traffic replayed through the engine on a manual
clock (app/simulation/ewt.py; the large runs are bench/ewt.py, figures in docs/kpis.md).
Seeded, and the engine is deterministic on a manual clock, so each run scores the same."""

from __future__ import annotations

import pytest

from app.simulation.ewt import Scenario, Scores, score
from app.simulation.replay import Replay
from tests.support import Api


@pytest.fixture(params=["redis+postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Real Redis only: the engine is the same on both back-ends (the other tests show it), and
    a replay of this size is slow on the embedded one."""
    return str(request.param)


async def replay(service: Api, s: Scenario, seed: int) -> Scores:
    t = await service.tenant("manual")
    await t.put_queue("q", auto_accept=True, wrap_up_s=s.wrap_up_s, max_size=100000)
    for i in range(s.agents):
        await t.put_agent(f"a{i}", queues=["q"])
        await t.state(f"a{i}", "available")
    outcomes = await Replay(service.http, t.key, "q", wrap_up_s=s.wrap_up_s).run(
        s.arrivals(seed))
    assert all(o.connected_ms is not None for o in outcomes)  # nobody abandons here
    return score(s, outcomes)


async def test_as_good_as_the_position_rate_in_an_m_m_n_queue(service: Api) -> None:
    r = await replay(service, Scenario("M/M/3", agents=3, aht_s=120, load=0.9, calls=400), 7)
    assert r.scored > 150
    assert r.engine.mae_s <= r.position_rate_learnt.mae_s * 1.02
    assert r.engine.rmse_s <= r.position_rate_learnt.rmse_s * 1.02
    assert r.engine.mae_s < r.queue_average.mae_s * 0.8


async def test_better_than_the_position_rate_with_regular_handle_times(service: Api) -> None:
    s = Scenario("lognormal", agents=3, aht_s=140, load=0.9, calls=400, handle="lognormal",
                 cv=0.4, wrap_up_s=20)
    r = await replay(service, s, 7)
    assert r.scored > 150
    assert r.engine.mae_s < r.position_rate.mae_s  # even given the true mean handle time
    assert r.engine.rmse_s < r.position_rate.rmse_s
    assert r.engine.mae_s < r.queue_average.mae_s * 0.6
