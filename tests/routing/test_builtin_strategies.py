"""The load-balancing and skills strategies of DESIGN §4: one set of agents on which each picks a
different agent, their ties (key → longest idle → id), round-robin's wrap, random's seeding."""

from __future__ import annotations

import ast
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.routing.fewest_calls import FewestCalls
from app.routing.least_occupied import LeastOccupied
from app.routing.least_talk_time import LeastTalkTime
from app.routing.longest_idle import LongestIdle
from app.routing.priority import Priority
from app.routing.random_pick import RandomPick
from app.routing.records import AgentSnapshot, CallRecord, Requirement
from app.routing.registry import StrategyRegistry
from app.routing.round_robin import RoundRobin
from app.routing.skills import Skills
from app.routing.strategy import Strategy


def agent(agent_id: str, idle_since_ms: int, calls: int = 0, talk_ms: float = 0,
          occupancy: float = 0.0, **skills: int) -> AgentSnapshot:
    return AgentSnapshot(agent_id, idle_since_ms, skills, {}, calls_today=calls,
                         talk_ms_today=talk_ms, occupancy_today=occupancy)


def call(call_id: str = "c1", rank: float = 0.0, arrived_ms: int = 0,
         needs: tuple[Requirement, ...] = (), queue_needs: tuple[Requirement, ...] = (),
         cursor: str | None = None) -> CallRecord:
    return CallRecord(id=call_id, queue="q", state="queued", priority=0, rank=rank,
                      arrived_ms=arrived_ms, entered_ms=arrived_ms, requirements=needs,
                      queue_requirements=queue_needs, cursor=cursor)


BILLING = Requirement("billing", 1)
SPANISH = Requirement("spanish", 1)
FRENCH = Requirement("french", 1)

# Each agent is best on exactly one rule. `a` is longest idle and speaks French (not required);
# `b` has the most billing + spanish; `c` follows the cursor `b`; `d` has the fewest calls, `e`
# the least talk time, `f` the lowest occupancy.
AGENTS = [
    agent("a", 100, calls=9, talk_ms=9_000, occupancy=0.9, billing=1, spanish=1, french=50),
    agent("b", 600, calls=8, talk_ms=8_000, occupancy=0.8, billing=4, spanish=4),
    agent("c", 500, calls=7, talk_ms=7_000, occupancy=0.7, billing=2, spanish=2),
    agent("d", 400, calls=1, talk_ms=6_000, occupancy=0.6, billing=3, spanish=1),
    agent("e", 300, calls=5, talk_ms=1_000, occupancy=0.5, billing=1, spanish=3),
    agent("f", 200, calls=6, talk_ms=5_000, occupancy=0.1, billing=2, spanish=1),
]
# billing is named by both the call and its queue: counted once.
CALL = call("c1", needs=(BILLING,), queue_needs=(BILLING, SPANISH), cursor="b")
NOW = 10_000

PICKS: list[tuple[Strategy, str]] = [
    (LongestIdle(), "a"), (Priority(), "a"), (Skills(), "b"), (RoundRobin(), "c"),
    (FewestCalls(), "d"), (LeastTalkTime(), "e"), (LeastOccupied(), "f"), (RandomPick(), "a"),
]
ALL: list[Strategy] = [s for s, _ in PICKS]


def name(strategy: Strategy) -> str:
    return type(strategy).__name__


@pytest.mark.parametrize(("strategy", "expected"), PICKS,
                         ids=[f"{name(s)}-{e}" for s, e in PICKS])
def test_each_strategy_picks_its_agent_from_the_same_candidates(
    strategy: Strategy, expected: str
) -> None:
    picked = strategy.pick_agent(CALL, AGENTS, NOW)
    assert picked is not None and picked.id == expected
    assert strategy.pick_agent(CALL, list(reversed(AGENTS)), NOW) == picked


def test_the_deterministic_strategies_pick_pairwise_distinct_agents() -> None:
    distinct = [LongestIdle(), Skills(), RoundRobin(), FewestCalls(), LeastTalkTime(),
                LeastOccupied()]
    picks = [s.pick_agent(CALL, AGENTS, NOW) for s in distinct]
    assert len({p.id for p in picks if p is not None}) == len(distinct)


# For each keyed strategy: attributes that tie, and attributes that are worse (but best on
# every other rule, and idle longest).
TIES: list[tuple[Strategy, dict[str, Any], dict[str, Any]]] = [
    (Skills(), {"skills": {"billing": 3}}, {"skills": {"billing": 2, "french": 9}}),
    (FewestCalls(), {"calls_today": 3}, {"calls_today": 4}),
    (LeastTalkTime(), {"talk_ms_today": 3_000.0}, {"talk_ms_today": 3_001.0}),
    (LeastOccupied(), {"occupancy_today": 0.3}, {"occupancy_today": 0.31}),
]
BASE = agent("_", 0, calls=5, talk_ms=5_000, occupancy=0.5, billing=3)
BEST_ELSEWHERE = agent("_", 0, calls=0, talk_ms=0, occupancy=0.0, billing=3)


@pytest.mark.parametrize(("strategy", "tied", "worse"), TIES,
                         ids=[name(s) for s, _, _ in TIES])
def test_an_equal_key_goes_to_the_longest_idle_then_the_smallest_id(
    strategy: Strategy, tied: dict[str, Any], worse: dict[str, Any]
) -> None:
    c = call(needs=(Requirement("billing", 2),))
    x = replace(BASE, id="x", idle_since_ms=300, **tied)
    y = replace(BASE, id="y", idle_since_ms=200, **tied)
    z = replace(BASE, id="z", idle_since_ms=200, **tied)
    w = replace(BEST_ELSEWHERE, id="w", idle_since_ms=0, **worse)
    assert strategy.pick_agent(c, [z, x, w, y], NOW) == y
    assert strategy.pick_agent(c, [z, x, w], NOW) == z
    assert strategy.pick_agent(c, [x, w], NOW) == x
    assert strategy.pick_agent(c, [w], NOW) == w


def test_skills_counts_call_and_queue_skills_once_each_and_ignores_others() -> None:
    once = agent("x", 0, billing=5, spanish=1)  # 6 (11 if billing counted twice)
    spanish = agent("y", 0, billing=1, spanish=7)  # 8 (9 if counted twice)
    polyglot = agent("a", 0, billing=1, spanish=1, french=99)
    c = call(needs=(Requirement("billing", 1),),
             queue_needs=(Requirement("billing", 1), Requirement("spanish", 1)))
    assert Skills().pick_agent(c, [once, spanish, polyglot], NOW) == spanish
    assert Skills().pick_agent(call(needs=(BILLING,)), [once, spanish, polyglot], NOW) == once
    assert Skills().pick_agent(call(queue_needs=(FRENCH,)), [once, spanish, polyglot],
                               NOW) == polyglot


def test_skills_gives_an_agent_the_call_it_serves_best_then_by_rank() -> None:
    me = agent("a", 0, billing=5, spanish=1, french=3)
    spanish = call("c1", rank=1.0, needs=(SPANISH,))  # 1, best rank
    billing_late = call("c2", rank=5.0, needs=(BILLING,))  # 5
    billing = call("c3", rank=3.0, needs=(BILLING,))  # 5, better rank
    billing_early = call("c4", rank=3.0, arrived_ms=-1, needs=(BILLING,))  # 5, earlier
    assert Skills().pick_call(me, [spanish, billing_late, billing], NOW) == billing
    assert Skills().pick_call(me, [spanish, billing_late, billing, billing_early],
                              NOW) == billing_early
    # The queue's requirements count too: billing + spanish + french = 9.
    queued = call("c5", rank=9.0, needs=(SPANISH,), queue_needs=(BILLING, FRENCH))
    assert Skills().pick_call(me, [spanish, billing, queued], NOW) == queued
    # No skill required anywhere: all tie at 0, so by rank, then call id.
    plain = [call("c9", rank=2.0), call("c8", rank=2.0), call("c7", rank=4.0)]
    assert Skills().pick_call(me, plain, NOW) == plain[1]


@pytest.mark.parametrize(
    ("cursor", "expected"),
    [("b", "c"), ("a", "b"), ("d", "a"), ("z", "a"), (None, "a"), ("bb", "c"), ("", "a")],
)
def test_round_robin_takes_the_next_id_after_the_cursor_and_wraps(
    cursor: str | None, expected: str
) -> None:
    candidates = [agent("d", 0), agent("b", 1), agent("a", 2), agent("c", 3)]
    picked = RoundRobin().pick_agent(call(cursor=cursor), candidates, NOW)
    assert picked is not None and picked.id == expected


def test_round_robin_offers_the_cursor_agent_again_when_it_is_the_only_one() -> None:
    only = agent("b", 0)
    assert RoundRobin().pick_agent(call(cursor="b"), [only], NOW) == only


def test_random_is_the_same_for_the_same_inputs_whatever_the_candidate_order() -> None:
    first = RandomPick().pick_agent(CALL, AGENTS, NOW)
    assert first in AGENTS
    for _ in range(5):
        assert RandomPick().pick_agent(CALL, AGENTS, NOW) == first
        assert RandomPick().pick_agent(CALL, list(reversed(AGENTS)), NOW) == first


def test_random_spreads_different_calls_over_several_agents() -> None:
    picks = [RandomPick().pick_agent(call(f"c{i}"), AGENTS, NOW) for i in range(50)]
    assert all(p in AGENTS for p in picks)
    assert len({p.id for p in picks if p is not None}) >= 2


@pytest.mark.parametrize("strategy", ALL, ids=name)
def test_no_candidates_and_no_waiting_calls_give_none(strategy: Strategy) -> None:
    assert strategy.pick_agent(CALL, [], NOW) is None
    assert strategy.pick_call(AGENTS[0], [], NOW) is None


@pytest.mark.parametrize("strategy", ALL, ids=name)
def test_a_free_agent_takes_the_best_ranked_call_unless_skills(strategy: Strategy) -> None:
    waiting = [call("c3", 100.0, 5), call("c2", 100.0, 4), call("c1", 100.0, 4),
               call("c0", 200.0, 1)]
    assert strategy.pick_call(AGENTS[0], waiting, NOW) == waiting[2]


def test_the_registry_names_every_built_in() -> None:
    registry = StrategyRegistry.discover()
    expected = {"longest-idle": LongestIdle, "priority": Priority, "skills": Skills,
                "round-robin": RoundRobin, "fewest-calls": FewestCalls,
                "least-talk-time": LeastTalkTime, "least-occupied": LeastOccupied,
                "random": RandomPick}
    assert set(expected) <= set(registry.names)
    for key, cls in expected.items():
        assert type(registry.get(key)) is cls


MODULES = ["ordering.py", "skills.py", "round_robin.py", "fewest_calls.py",
           "least_talk_time.py", "least_occupied.py", "random_pick.py"]


@pytest.mark.parametrize("module", MODULES)
def test_the_strategies_import_only_the_stdlib_and_the_routing_core(module: str) -> None:
    path = Path(__file__).resolve().parents[2] / "app" / "routing" / module
    tree = ast.parse(path.read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    bad = [m for m in imported if not m.startswith("app.routing.")
           and m.split(".")[0] not in sys.stdlib_module_names]
    assert bad == [], f"app/routing/{module} imports {bad}"
