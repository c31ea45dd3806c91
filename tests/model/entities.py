"""The reference model's data: queue and agent configurations (as sent to the API) and the
model's own view of an agent and a call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from tests.support import Json

Req = tuple[tuple[str, int], ...]
"""Required skills: (skill, minimum level) pairs."""


def requirements_json(requirements: Req) -> list[Json]:
    return [{"skill": skill, "min_level": level} for skill, level in requirements]


@dataclass(frozen=True)
class RelaxStep:
    """After `after_s` in the queue, lower every required level by `delta` and drop `drop`."""

    after_s: int
    delta: int = 0
    drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueSpec:
    """A queue's configuration; the defaults are the API's."""

    id: str
    strategy: str = "longest-idle"
    weight_s: int | None = None          # priority_weight_s; None = strict priority
    requirements: Req = ()
    relax: tuple[RelaxStep, ...] = ()
    max_wait_s: int | None = None
    overflow: str | None = None
    max_size: int | None = None
    offer_timeout_ms: int = 20_000
    wrap_up_ms: int = 0
    max_missed: int | None = None        # missed offers in a row that send an agent away

    def config(self) -> Json:
        """The body of PUT /v1/queues/{id}."""
        return {"strategy": self.strategy, "priority_weight_s": self.weight_s,
                "requirements": requirements_json(self.requirements),
                "relax": [{"after_s": step.after_s, "min_level_delta": step.delta,
                           "drop": list(step.drop)} for step in self.relax],
                "max_wait_s": self.max_wait_s, "overflow_queue": self.overflow,
                "max_size": self.max_size, "offer_timeout_s": self.offer_timeout_ms / 1000,
                "wrap_up_s": self.wrap_up_ms / 1000, "max_missed_offers": self.max_missed}

    def relaxed(self, requirements: Req, upto: int) -> Req:
        """`requirements` after relax steps 1..`upto`: levels lowered by the sum of their
        deltas (never below 1), dropped skills removed."""
        delta = sum(step.delta for step in self.relax[:upto])
        dropped = {skill for step in self.relax[:upto] for skill in step.drop}
        return tuple((skill, max(1, level + delta)) for skill, level in requirements
                     if skill not in dropped)

    def loosest(self) -> Req:
        """The queue's requirements once every relax step has passed."""
        return self.relaxed(self.requirements, len(self.relax))


class AgentSpec(NamedTuple):
    """An agent's configuration, as sent to PUT /v1/agents/{id}."""

    id: str
    skills: dict[str, int]
    queues: list[str]                    # [] = a member of every queue


@dataclass
class MAgent:
    """An agent as the model sees it."""

    id: str
    skills: dict[str, int]
    queues: list[str]
    state: str = "offline"
    idle_since: int | None = None
    reason: str | None = None
    call_id: str | None = None
    missed_in_row: int = 0
    wrap_due: int | None = None

    @classmethod
    def of(cls, spec: AgentSpec) -> MAgent:
        return cls(spec.id, dict(spec.skills), list(spec.queues))


def meets(agent: MAgent, requirements: Req) -> bool:
    return all(agent.skills.get(skill, 0) >= level for skill, level in requirements)


@dataclass
class MCall:
    """A call as the model sees it: the fields every scenario uses (a scenario subclasses it
    for its own)."""

    id: str
    queue: str
    priority: int
    requirements: Req
    arrived_ms: int
    entered_ms: int                      # when it entered its current queue
    rank: int
    state: str = "queued"
    offer_agent: str | None = None
    offer_id: str | None = None          # learned from the service (ids are opaque)
    offer_expires: int | None = None
    accepted_offer_id: str | None = None
    agent_id: str | None = None
    missed_offers: int = 0

    def drop_offer(self) -> None:
        self.offer_agent = self.offer_id = self.offer_expires = None


@dataclass(frozen=True)
class CallWake:
    """A call became routable: the agents that could take it, read at that moment."""

    call_id: str
    agents: tuple[str, ...]
