"""Shared orderings for the built-in strategies: a key per agent, then longest idle, then id."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from app.routing.records import AgentSnapshot, CallRecord, Requirement
from app.routing.strategy import by_idle


def least_by(
    candidates: Sequence[AgentSnapshot], key: Callable[[AgentSnapshot], float]
) -> AgentSnapshot | None:
    """The candidate with the lowest key; ties → longest idle (`by_idle`)."""
    return min(candidates, key=lambda a: (key(a), *by_idle(a)), default=None)


def needs(call: CallRecord) -> tuple[Requirement, ...]:
    """What a call requires: its own requirements and its queue's."""
    return call.requirements + call.queue_requirements


def proficiency(agent: AgentSnapshot, requirements: Iterable[Requirement]) -> int:
    """Sum of the agent's levels on the named skills, each skill counted once."""
    return sum(agent.skills.get(skill, 0) for skill in {r.skill for r in requirements})
