"""The built-in strategies as pure functions, the registry, and the purity of the core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.routing.eligibility import eligible
from app.routing.longest_idle import LongestIdle
from app.routing.priority import Priority
from app.routing.records import AgentSnapshot, CallRecord, Requirement
from app.routing.registry import StrategyRegistry, UnknownStrategy
from app.routing.strategy import Strategy


def agent(agent_id: str, idle_since_ms: int, **skills: int) -> AgentSnapshot:
    return AgentSnapshot(agent_id, idle_since_ms, skills, {})


def call(call_id: str, rank: float, arrived_ms: int = 0, priority: int = 0,
         requirements: tuple[Requirement, ...] = (), target: str | None = None) -> CallRecord:
    return CallRecord(id=call_id, queue="q", state="queued", priority=priority, rank=rank,
                      arrived_ms=arrived_ms, entered_ms=arrived_ms, requirements=requirements,
                      target_agent=target)


STRATEGIES: list[Strategy] = [LongestIdle(), Priority()]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: type(s).__name__)
def test_agent_for_a_call_is_the_longest_idle_then_by_id(strategy: Strategy) -> None:
    candidates = [agent("b", 1_000), agent("c", 500), agent("a", 500), agent("d", 2_000)]
    assert strategy.pick_agent(call("c1", 0), candidates, 3_000) == candidates[2]
    assert strategy.pick_agent(call("c1", 0), [], 3_000) is None


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: type(s).__name__)
def test_call_for_an_agent_is_the_lowest_rank_then_arrival_then_id(strategy: Strategy) -> None:
    waiting = [call("c3", 100.0, 5), call("c2", 100.0, 4), call("c1", 100.0, 4),
               call("c0", 200.0, 1)]
    assert strategy.pick_call(agent("a", 0), waiting, 0) == waiting[2]
    assert strategy.pick_call(agent("a", 0), [], 0) is None


def test_eligibility_checks_the_calls_requirements_and_transfer_target() -> None:
    needs = (Requirement("spanish", 5), Requirement("billing", 1))
    assert eligible(call("c", 0, requirements=needs), agent("a", 0, spanish=5, billing=3))
    assert not eligible(call("c", 0, requirements=needs), agent("a", 0, spanish=4, billing=3))
    assert not eligible(call("c", 0, requirements=needs), agent("a", 0, spanish=9))
    assert eligible(call("c", 0, target="a"), agent("a", 0))
    assert not eligible(call("c", 0, target="a"), agent("b", 0))


def test_registry_names_the_built_ins_and_refuses_unknown_names() -> None:
    registry = StrategyRegistry.discover()
    assert {"longest-idle", "priority"} <= set(registry.names)
    with pytest.raises(UnknownStrategy) as info:
        registry.get("fastest-finger")
    assert "fastest-finger" in str(info.value)
    assert "longest-idle" in str(info.value)


PURE = ["strategy.py", "longest_idle.py", "priority.py", "records.py", "eligibility.py",
        "registry.py"]
FORBIDDEN = ("fastapi", "starlette", "redis", "sqlalchemy", "app.store", "app.db")


@pytest.mark.parametrize("module", PURE)
def test_the_routing_core_imports_no_io(module: str) -> None:
    path = Path(__file__).resolve().parents[2] / "app" / "routing" / module
    tree = ast.parse(path.read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    bad = [m for m in imported if m.startswith(FORBIDDEN)]
    assert bad == [], f"app/routing/{module} imports {bad}"
