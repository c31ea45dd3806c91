"""Erlang C and Erlang A against published reference values (E1–E4: Call Centre Helper's
worked example, a widely copied Erlang C example, a hand recursion, pyworkforce's Erlang A
regression values), at scale, and against a birth–death chain solved the naive way."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.staffing.erlang import (
    ErlangModel,
    Load,
    Prediction,
    agents_needed,
    erlang_a,
    erlang_b,
    erlang_c,
    predict,
    scheduled_agents,
)

# ERLANG.md gives probabilities to 4–6 decimals (matched to 1e-4) and waits to 2 (to 0.005).
PROBABILITY = 1e-4
WAIT_S = 0.005

E1 = Load(arrival_rate_per_hour=200, aht_s=180)  # 100 per 30 min, A = 10
E2 = Load(arrival_rate_per_hour=720, aht_s=240)  # 360 per 30 min, A = 48
E3 = Load(arrival_rate_per_hour=120, aht_s=300)  # A = 10
E4 = Load(arrival_rate_per_hour=200, aht_s=180, patience_s=300)


def test_e1_erlang_c_for_14_agents() -> None:
    p = erlang_c(E1, 14, 20)
    assert p.model is ErlangModel.erlang_c and p.stable and p.erlangs == pytest.approx(10)
    assert p.probability_of_wait == pytest.approx(0.1741, abs=PROBABILITY)
    assert p.service_level == pytest.approx(0.8884, abs=PROBABILITY)
    assert p.asa_s == pytest.approx(7.84, abs=WAIT_S)
    assert p.average_wait_s == p.asa_s
    assert p.occupancy == pytest.approx(0.7143, abs=PROBABILITY)
    assert p.abandon_rate == 0


def test_e1_smallest_n_for_80_20_then_shrinkage() -> None:
    assert erlang_c(E1, 13, 20).service_level == pytest.approx(0.7956, abs=PROBABILITY)
    needed = agents_needed(E1, 20, 0.8)
    assert needed == erlang_c(E1, 14, 20)
    assert scheduled_agents(needed.agents, 0.3) == 20
    assert scheduled_agents(14, 0) == 14
    assert scheduled_agents(21, 0.3) == 30  # 21 / 0.7 is 30.000000000000004 in floats


def test_e2_erlang_c_for_55_agents() -> None:
    p = erlang_c(E2, 55, 15)
    assert p.occupancy == pytest.approx(0.8727, abs=PROBABILITY)
    assert p.probability_of_wait == pytest.approx(0.2387, abs=PROBABILITY)
    assert p.asa_s == pytest.approx(8.18, abs=WAIT_S)
    assert p.service_level == pytest.approx(0.8459, abs=PROBABILITY)
    assert erlang_c(E2, 55, 20).service_level == pytest.approx(0.8668, abs=PROBABILITY)
    needed = agents_needed(E2, 20, 0.8)
    assert needed is not None and needed.agents == 54
    assert erlang_c(E2, 53, 20).service_level < 0.8


def test_e3_erlang_c_by_hand_recursion() -> None:
    p = erlang_c(E3, 12, 30)
    assert p.probability_of_wait == pytest.approx(0.44939, abs=PROBABILITY)
    assert p.service_level == pytest.approx(0.63207, abs=PROBABILITY)


def test_e4_erlang_a_for_14_agents() -> None:
    p = erlang_a(E4, 14, 20)
    assert p.model is ErlangModel.erlang_a and p.stable
    assert p.probability_of_wait == pytest.approx(0.14526, abs=PROBABILITY)
    assert p.abandon_rate == pytest.approx(0.013984, abs=PROBABILITY)
    assert p.occupancy == pytest.approx(0.704297, abs=PROBABILITY)
    assert p.average_wait_s == pytest.approx(4.20, abs=WAIT_S)
    assert p.service_level == pytest.approx(0.916792, abs=PROBABILITY)
    # Answered calls wait less on average than all calls: those that hang up waited longest.
    assert p.asa_s < p.average_wait_s


def test_e4_asa_is_the_area_under_answered_later_than_t() -> None:
    """E[wait · 1(answered)] = ∫ P(answered, wait > t) dt = ∫ (1 - P(abandon) - SL(t)) dt:
    the mean wait of answered calls follows from the service level curve (Simpson's rule)."""
    p = erlang_a(E4, 14, 20)
    step_s, steps = 0.5, 4_000  # the curve is flat long before 2,000 s
    late = [1 - p.abandon_rate - erlang_a(E4, 14, k * step_s).service_level
            for k in range(steps + 1)]
    area = step_s / 3 * (late[0] + late[-1] + 4 * sum(late[1:-1:2]) + 2 * sum(late[2:-1:2]))
    assert p.asa_s == pytest.approx(area / (1 - p.abandon_rate), rel=1e-6)


def test_e4_smallest_n_for_80_20() -> None:
    needed = agents_needed(E4, 20, 0.8)
    assert needed is not None and needed.model is ErlangModel.erlang_a
    assert needed.service_level >= 0.8 > erlang_a(E4, needed.agents - 1, 20).service_level
    assert needed.agents == 13


def test_predict_picks_the_model_from_patience() -> None:
    assert predict(E1, 14, 20) == erlang_c(E1, 14, 20)
    assert predict(E4, 14, 20) == erlang_a(E4, 14, 20)


def test_erlang_b_recursion() -> None:
    assert erlang_b(10, 0) == 1
    assert erlang_b(1, 1) == pytest.approx(0.5)
    assert erlang_b(2, 2) == pytest.approx(0.4)  # (4/2) / (1 + 2 + 4/2)


def test_max_occupancy_raises_the_agents_needed() -> None:
    needed = agents_needed(E1, 20, 0.8, max_occupancy=0.65)  # 10 / 0.65 = 15.4
    assert needed is not None and needed.agents == 16 and needed.occupancy <= 0.65
    assert agents_needed(E1, 20, 0.8, max_occupancy=0.5) == erlang_c(E1, 20, 20)  # exactly 20
    assert agents_needed(E4, 20, 0.8, max_occupancy=0.65) == erlang_a(E4, 16, 20)


def test_no_agents_up_to_the_cap_give_none() -> None:
    assert agents_needed(E1, 20, 0.8, max_agents=13) is None
    assert agents_needed(E4, 20, 0.8, max_agents=12) is None
    assert agents_needed(E1, 20, 0.8, max_occupancy=0.5, max_agents=19) is None


def test_an_unstable_erlang_c_pool_says_so() -> None:
    for agents in (1, 5, 10):  # A = 10
        p = erlang_c(E1, agents, 20)
        assert not p.stable
        assert (p.service_level, p.probability_of_wait, p.occupancy) == (0, 1, 1)
        assert p.asa_s == math.inf and p.average_wait_s == math.inf


def test_an_overloaded_erlang_a_pool_is_finite() -> None:
    p = erlang_a(E4, 5, 20)  # half the agents the traffic needs: callers hang up instead
    assert p.stable and 0 < p.service_level < 0.2
    assert p.abandon_rate == pytest.approx(0.5, abs=0.02)
    assert 0.99 < p.occupancy <= 1 and math.isfinite(p.asa_s)


def test_a_zero_threshold_counts_only_calls_that_never_wait() -> None:
    for p in (erlang_c(E1, 14, 0), erlang_a(E4, 14, 0)):
        assert p.service_level == pytest.approx(1 - p.probability_of_wait, abs=1e-12)


def in_unit(p: Prediction) -> bool:
    values = (p.service_level, p.probability_of_wait, p.abandon_rate, p.occupancy)
    return all(0 <= v <= 1 for v in values) and math.isfinite(p.asa_s) and math.isfinite(
        p.average_wait_s)


@pytest.mark.parametrize("patience_s", [None, 300.0, 3_600.0])
def test_large_pools_are_finite_and_monotone(patience_s: float | None) -> None:
    load = Load(arrival_rate_per_hour=950 * 20, aht_s=180, patience_s=patience_s)  # A = 950
    predictions = [predict(load, n, 20) for n in (951, 960, 980, 1000, 1100, 5000)]
    assert all(in_unit(p) for p in predictions)
    levels = [p.service_level for p in predictions]
    assert levels == sorted(levels) and levels[0] < 0.99 and levels[-1] == pytest.approx(1)
    waits = [p.probability_of_wait for p in predictions]
    assert waits == sorted(waits, reverse=True)
    needed = agents_needed(load, 20, 0.8)
    assert needed is not None and 950 * 0.8 < needed.agents < 1000


def test_a_hundred_thousand_agents() -> None:
    load = Load(arrival_rate_per_hour=99_000 * 20, aht_s=180)  # A = 99,000
    c = erlang_c(load, 100_000, 20)
    a = erlang_a(Load(load.arrival_rate_per_hour, load.aht_s, 600), 100_000, 20)
    assert in_unit(c) and in_unit(a)
    assert c.service_level > 0.99 and a.service_level >= c.service_level - 1e-6


def chain(load: Load, agents: int) -> tuple[float, float, float]:
    """P(wait), E[Lq] and E[busy agents] from the birth–death chain, summed the naive way."""
    assert load.patience_s is not None
    rate_per_s, mu, theta = load.arrival_rate_per_hour / 3600, 1 / load.aht_s, 1 / load.patience_s
    weights = [1.0]
    for n in range(1, agents + 5_000):
        weights.append(weights[-1] * rate_per_s / (min(n, agents) * mu + max(n - agents, 0)
                                                  * theta))
    total = sum(weights)
    pi = [w / total for w in weights]
    wait = sum(pi[agents:])
    queue = sum((n - agents) * p for n, p in enumerate(pi) if n > agents)
    busy = sum(min(n, agents) * p for n, p in enumerate(pi))
    return wait, queue, busy


small_loads = st.builds(
    Load,
    arrival_rate_per_hour=st.floats(1, 1_200),
    aht_s=st.floats(30, 600),
    patience_s=st.floats(10, 600),
)


@settings(max_examples=60, deadline=None)
@given(load=small_loads, agents=st.integers(1, 25), threshold_s=st.floats(0, 120))
def test_erlang_a_matches_the_chain_and_abandons_at_theta_times_wait(
        load: Load, agents: int, threshold_s: float) -> None:
    p = erlang_a(load, agents, threshold_s)
    wait, queue, busy = chain(load, agents)
    assert load.patience_s is not None
    rate_per_s = load.arrival_rate_per_hour / 3600
    assert p.probability_of_wait == pytest.approx(wait, abs=1e-9)
    assert p.average_wait_s == pytest.approx(queue / rate_per_s, rel=1e-6, abs=1e-9)
    assert p.abandon_rate == pytest.approx(p.average_wait_s / load.patience_s, rel=1e-9)
    assert p.occupancy == pytest.approx(busy / agents, rel=1e-6)  # carried = busy agents
    assert in_unit(p)
    # Answered within t, at most everything answered, and all of it once t is long enough.
    assert p.service_level <= 1 - p.abandon_rate + 1e-12
    assert erlang_a(load, agents, 100 * load.patience_s + 100 * load.aht_s).service_level \
        == pytest.approx(1 - p.abandon_rate, abs=1e-9)


@st.composite
def stable_pools(draw: st.DrawFn) -> tuple[Load, int]:
    agents = draw(st.integers(1, 400))
    utilisation = draw(st.floats(0.05, 0.95))
    aht_s = draw(st.floats(30, 600))
    return Load(agents * utilisation * 3600 / aht_s, aht_s), agents


@settings(max_examples=60, deadline=None)
@given(pool=stable_pools(), threshold_s=st.floats(0, 120))
def test_erlang_a_with_endless_patience_is_erlang_c(pool: tuple[Load, int],
                                                    threshold_s: float) -> None:
    load, agents = pool
    c = erlang_c(load, agents, threshold_s)
    a = erlang_a(Load(load.arrival_rate_per_hour, load.aht_s, patience_s=1e9), agents,
                 threshold_s)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-4)
    assert a.probability_of_wait == pytest.approx(c.probability_of_wait, abs=1e-4)
    assert a.asa_s == pytest.approx(c.asa_s, rel=1e-4, abs=1e-4)
    assert a.occupancy == pytest.approx(c.occupancy, abs=1e-4)
    assert a.abandon_rate < 1e-4


@settings(max_examples=40, deadline=None)
@given(erlangs=st.floats(0.1, 300), aht_s=st.floats(30, 600), threshold_s=st.floats(0, 120),
       patience_s=st.none() | st.floats(5, 3_600))
def test_the_service_level_never_falls_as_agents_are_added(
        erlangs: float, aht_s: float, threshold_s: float, patience_s: float | None) -> None:
    load = Load(erlangs * 3600 / aht_s, aht_s, patience_s)
    first = max(1, math.floor(erlangs) - 10)
    levels = [predict(load, n, threshold_s).service_level for n in range(first, first + 40)]
    assert all(b >= a - 1e-12 for a, b in pairwise(levels))


@settings(max_examples=40, deadline=None)
@given(erlangs=st.floats(0.1, 300), aht_s=st.floats(30, 600), threshold_s=st.floats(0, 120),
       patience_s=st.none() | st.floats(5, 3_600), target=st.floats(0.05, 0.99))
def test_agents_needed_is_the_smallest_that_meets_the_target(
        erlangs: float, aht_s: float, threshold_s: float, patience_s: float | None,
        target: float) -> None:
    load = Load(erlangs * 3600 / aht_s, aht_s, patience_s)
    needed = agents_needed(load, threshold_s, target)
    assert needed is not None and needed.service_level >= target
    assert needed == predict(load, needed.agents, threshold_s)
    if needed.agents > 1:
        assert predict(load, needed.agents - 1, threshold_s).service_level < target
