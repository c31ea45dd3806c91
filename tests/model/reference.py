"""The part of the reference model that every scenario shares, written from DESIGN §3.2–3.4 and
§3.7 and docs/routing.md, not from the app's code:

- an offer reserves the agent for the queue's offer timeout; accept connects the call, reject or
  expiry puts it back in its place (same rank) and the agent available with idle_since = now;
  `max_missed` expiries in a row send the agent away ("missed-offers");
- complete starts the queue's wrap-up (none: the agent is available at once);
- a queue's waiting calls are ordered by rank (`arrival − priority × weight`, strict with a null
  weight), then arrival, then call id;
- whoever becomes routable inside one request is routed in the order the request made them
  routable ("wake-ups"), each with the candidates read when it was made;
- on a manual clock due timers fire one at a time in (due ms, member) order, each routed before
  the next; members start with their kind, so at one ms `offer|…` < `pref|…` < `relax|…` <
  `wait|…` < `wrap|…`, then by call or agent id.

A scenario subclasses `ReferenceModel` with its routing rules (what an agent's wake-up reads,
how a call or a free agent is routed) and its own call fields, timers and operations.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Generic, NamedTuple, TypeVar

from tests.model.entities import CallWake, MAgent, MCall, QueueSpec, meets

CallT = TypeVar("CallT", bound=MCall)
AgentWakeT = TypeVar("AgentWakeT")

STRICT = 10_000_000_000_000  # the priority factor of a queue with priority_weight_s null


class Timer(NamedTuple):
    """A due timer; timers sort as the service fires them."""

    due_ms: int
    kind: str                            # the first part of the member: offer, wait, wrap, …
    owner: str                           # call or agent id


class ReferenceModel(ABC, Generic[CallT, AgentWakeT]):
    """Agents, calls and a clock; each operation returns the status the service should answer."""

    def __init__(self, now_ms: int, queues: Iterable[QueueSpec],
                 agents: Iterable[MAgent]) -> None:
        self.now = now_ms
        self.queues = {q.id: q for q in queues}
        self.agents = {a.id: a for a in agents}
        self.calls: dict[str, CallT] = {}

    # eligibility and order
    @staticmethod
    def member(agent: MAgent, queue: str) -> bool:
        return not agent.queues or queue in agent.queues

    def indexed_queues(self, agent: MAgent) -> list[str]:
        """Queues whose index of available agents may hold the agent: a member that meets the
        queue's fully relaxed requirements."""
        return [q for q, spec in self.queues.items()
                if self.member(agent, q) and meets(agent, spec.loosest())]

    def rank(self, queue: str, arrived_ms: int, priority: int) -> int:
        weight = self.queues[queue].weight_s
        return arrived_ms - priority * (STRICT if weight is None else weight * 1000)

    def waiting(self, queue: str) -> list[CallT]:
        """A queue's waiting calls in routing order."""
        found = [c for c in self.calls.values() if c.state == "queued" and c.queue == queue]
        return sorted(found, key=lambda c: (c.rank, c.arrived_ms, c.id))

    def position(self, call: MCall) -> int | None:
        if call.state != "queued":
            return None
        return [c.id for c in self.waiting(call.queue)].index(call.id) + 1

    def full(self, queue: str) -> bool:
        max_size = self.queues[queue].max_size
        return max_size is not None and len(self.waiting(queue)) >= max_size

    # wake-ups and routing: the scenario's rules
    def call_wake(self, call: CallT) -> CallWake:
        """The call became routable: the available agents in its queue's index."""
        return CallWake(call.id, tuple(a.id for a in self.agents.values()
                                       if a.state == "available"
                                       and call.queue in self.indexed_queues(a)))

    @abstractmethod
    def agent_wake(self, agent: MAgent) -> AgentWakeT:
        """The agent became free: the calls it could take, read at that moment."""

    @abstractmethod
    def route_call(self, wake: CallWake) -> None: ...

    @abstractmethod
    def route_agent(self, wake: AgentWakeT) -> None: ...

    def settle(self, wakes: Sequence[CallWake | AgentWakeT]) -> None:
        """Route the wake-ups of one request, in the order it made them."""
        for wake in wakes:
            if isinstance(wake, CallWake):
                self.route_call(wake)
            else:
                self.route_agent(wake)

    def claim(self, call: CallT, agent: MAgent) -> None:
        call.state = "offered"
        call.offer_agent = agent.id
        call.offer_id = None
        call.offer_expires = self.now + self.queues[call.queue].offer_timeout_ms
        agent.state = "reserved"
        agent.reason = None
        agent.call_id = call.id

    # transitions
    def set_state(self, agent: MAgent, state: str, reason: str | None = None) -> None:
        agent.state = state
        agent.reason = reason
        if state == "available":
            agent.idle_since = self.now

    def release(self, agent: MAgent, state: str,
                reason: str | None = None) -> list[CallWake | AgentWakeT]:
        agent.call_id = None
        agent.wrap_due = None
        self.set_state(agent, state, reason)
        return [self.agent_wake(agent)] if state == "available" else []

    def requeue(self, call: CallT) -> list[CallWake | AgentWakeT]:
        """An offer ends without a connection: back to its place, same rank."""
        call.drop_offer()
        call.state = "queued"
        return [self.call_wake(call)]

    # operations: each returns the expected status
    def agent_state(self, agent_id: str, to: str, reason: str | None = None) -> int:
        agent = self.agents[agent_id]
        before = agent.state
        if before == "busy":
            return 409
        if before == to:
            if to == "away":
                self.set_state(agent, to, reason)   # a new away replaces the old reason
            return 200
        if before == "reserved":
            if to == "available":
                return 409
            assert agent.call_id is not None
            call = self.calls[agent.call_id]
            wakes = self.requeue(call) if call.state == "offered" else []
            agent.call_id = None
            self.set_state(agent, to, reason)
            self.settle(wakes)
            return 200
        if before == "wrap_up":
            self.settle(self.release(agent, to, reason))
            return 200
        self.set_state(agent, to, reason)
        self.settle([self.agent_wake(agent)] if to == "available" else [])
        return 200

    def accept(self, call: CallT, offer_id: str) -> int:
        if call.state == "connected" and call.accepted_offer_id == offer_id:
            return 200
        if call.state != "offered" or call.offer_id != offer_id:
            return 409
        assert call.offer_agent is not None
        agent = self.agents[call.offer_agent]
        call.state = "connected"
        call.agent_id = agent.id
        call.accepted_offer_id = offer_id
        call.drop_offer()
        agent.state = "busy"
        agent.reason = None
        agent.missed_in_row = 0
        return 200

    def reject(self, call: CallT, offer_id: str) -> int:
        if call.state != "offered" or call.offer_id != offer_id:
            return 409
        assert call.offer_agent is not None
        agent = self.agents[call.offer_agent]
        wakes = self.requeue(call)
        wakes += self.release(agent, "available")
        self.settle(wakes)
        return 200

    def abandon(self, call: CallT) -> int:
        if call.state == "abandoned":
            return 200
        if call.state not in ("queued", "offered"):
            return 409
        wakes: list[CallWake | AgentWakeT] = []
        if call.state == "offered":
            assert call.offer_agent is not None
            wakes = self.release(self.agents[call.offer_agent], "available")
            call.drop_offer()
        call.state = "abandoned"
        self.settle(wakes)
        return 200

    def complete(self, call: CallT) -> int:
        if call.state == "completed":
            return 200
        if call.state != "connected":
            return 409
        assert call.agent_id is not None
        agent = self.agents[call.agent_id]
        call.state = "completed"
        wrap_up_ms = self.queues[call.queue].wrap_up_ms
        if wrap_up_ms > 0:
            agent.call_id = None
            agent.wrap_due = self.now + wrap_up_ms
            self.set_state(agent, "wrap_up")
        else:
            self.settle(self.release(agent, "available"))
        return 200

    # timers
    def timers(self) -> list[Timer]:
        """The pending timers: offer expiries and wrap-up ends (a scenario adds its own)."""
        out = [Timer(c.offer_expires, "offer", c.id) for c in self.calls.values()
               if c.state == "offered" and c.offer_expires is not None]
        out += [Timer(a.wrap_due, "wrap", a.id) for a in self.agents.values()
                if a.state == "wrap_up" and a.wrap_due is not None]
        return out

    def advance(self, seconds: float) -> None:
        target = self.now + round(seconds * 1000)
        while due := [t for t in self.timers() if t.due_ms <= target]:
            timer = min(due)
            self.now = max(self.now, timer.due_ms)
            self.fire(timer)
        self.now = max(self.now, target)

    def fire(self, timer: Timer) -> None:
        if timer.kind == "offer":
            self.expire_offer(self.calls[timer.owner])
        elif timer.kind == "wrap":
            self.settle(self.release(self.agents[timer.owner], "available"))
        else:
            raise AssertionError(f"the model has no rule for the timer {timer}")

    def expire_offer(self, call: CallT) -> None:
        assert call.offer_agent is not None
        agent = self.agents[call.offer_agent]
        max_missed = self.queues[call.queue].max_missed  # the offering queue's (before overflow)
        call.missed_offers += 1
        wakes = self.requeue(call)
        agent.missed_in_row += 1
        if max_missed is not None and agent.missed_in_row >= max_missed:
            agent.missed_in_row = 0
            wakes += self.release(agent, "away", "missed-offers")
        else:
            wakes += self.release(agent, "available")
        self.settle(wakes)
