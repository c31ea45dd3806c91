"""Run a planned day of traffic through the real engine on a manual clock.

The plan (app/simulation/plan.py) fixes every call in advance: when it arrives, where, how
long it talks once answered and how long its caller waits before hanging up. The engine
decides everything else: who is offered which call and when, offer expiry, wrap-up, overflow.
Agents behave as the plan says: they log in and out with their shifts, answer an offer after
their accept delay, or let it ring out (a missed offer).

The clock moves only to the next moment something happens, which is the earliest of the
driver's agenda (arrivals, hang-ups, ends of conversations, accepts, shift changes) and the
engine's next timer (`GET /v1/clock` says when), so every consequence is seen at its own
millisecond. After each step the engine's events say what it did (offers, connections,
endings, state changes); the run keeps its own log of them for the summary.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.simulation.engines import Engine, Refused, SeenEvent

# What the driver does at one millisecond, in this order.
TALK_END, PATIENCE, ACCEPT, SHIFT_END, SHIFT_START, ARRIVAL = range(6)


class Distribution(Protocol):
    def sample(self, rng: random.Random) -> float: ...


class PlannedCall(Protocol):
    @property
    def external_id(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def at_s(self) -> float: ...
    @property
    def priority(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def handle_s(self) -> float: ...
    @property
    def patience_s(self) -> float | None: ...
    @property
    def requirements(self) -> Sequence[Any]: ...
    @property
    def customer_id(self) -> str | None: ...


class PlannedAgent(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def miss_probability(self) -> float: ...
    @property
    def seed(self) -> int: ...
    @property
    def config(self) -> Mapping[str, Any]: ...
    @property
    def shifts(self) -> Sequence[tuple[float, float | None]]: ...
    @property
    def accept_delay(self) -> Distribution | None: ...


class Plan(Protocol):
    @property
    def calls(self) -> Sequence[PlannedCall]: ...
    @property
    def agents(self) -> Sequence[PlannedAgent]: ...
    @property
    def queues(self) -> Mapping[str, Mapping[str, Any]]: ...


@dataclass(slots=True)
class CallLog:
    planned: PlannedCall
    call_id: str = ""
    arrived_ms: int = 0
    offers: int = 0
    connected_ms: int | None = None
    agent_id: str | None = None
    ended_ms: int | None = None
    outcome: str | None = None  # completed, abandoned, timed_out
    queue: str = ""  # the queue it ended in
    offer_id: str | None = None  # the open offer

    @property
    def wait_ms(self) -> int | None:
        """Arrival to answer, or to the end for an unanswered call."""
        end = self.connected_ms if self.connected_ms is not None else self.ended_ms
        return None if end is None else end - self.arrived_ms


@dataclass(slots=True)
class AgentLog:
    planned: PlannedAgent
    # (state, from ms), in order; the last one lasts until the run's end
    states: list[tuple[str, int]] = field(default_factory=list)
    offers: int = 0
    missed: int = 0


@dataclass(slots=True)
class Result:
    start_ms: int
    end_ms: int
    calls: list[CallLog]
    agents: list[AgentLog]
    steps: int
    unfinished: int  # calls still waiting when nothing more could happen


class Run:
    def __init__(self, engine: Engine, plan: Plan,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.engine = engine
        self.plan = plan
        self.progress = progress
        self._agenda: list[tuple[int, int, int, str]] = []
        self._order = 0
        self._calls = {c.external_id: CallLog(c) for c in plan.calls}
        self._by_id: dict[str, CallLog] = {}
        self._agents = {a.id: AgentLog(a) for a in plan.agents}
        self._rngs = {a.id: random.Random(a.seed) for a in plan.agents}
        self._accepts: dict[str, str] = {}  # agenda key -> offer id
        self._arrived = 0

    def _plan(self, at_ms: int, kind: int, key: str) -> None:
        self._order += 1
        heapq.heappush(self._agenda, (at_ms, kind, self._order, key))

    async def run(self) -> Result:
        engine = self.engine
        start, _ = await engine.clock()
        await engine.events()  # read from here on
        for queue_id, body in self.plan.queues.items():
            await engine.put_queue(queue_id, dict(body))
        for a in self.plan.agents:
            await engine.put_agent(a.id, dict(a.config))
            for begin, end in a.shifts:
                self._plan(start + round(begin * 1000), SHIFT_START, a.id)
                if end is not None:  # else logged in to the end
                    self._plan(start + round(end * 1000), SHIFT_END, a.id)
        for c in self.plan.calls:
            self._plan(start + round(c.at_s * 1000), ARRIVAL, c.external_id)
        steps = 0
        last: tuple[int, int | None] | None = None
        while True:
            now, timer = await engine.clock()
            due = [t for t in (self._agenda[0][0] if self._agenda else None, timer)
                   if t is not None]
            if not due:
                break
            target = max(min(due), now)
            acted = bool(self._agenda) and self._agenda[0][0] <= target
            if not acted and last == (target, timer):
                raise RuntimeError(f"the engine's timer due at {timer} ms did not fire")
            last = (target, timer)
            await engine.advance_to(target)
            self._seen(await engine.events())
            while self._agenda and self._agenda[0][0] <= target:
                at_ms, kind, _, key = heapq.heappop(self._agenda)
                await self._act(at_ms, kind, key)
                self._seen(await engine.events())
            steps += 1
        end, _ = await engine.clock()
        unfinished = sum(1 for c in self._calls.values() if c.ended_ms is None)
        return Result(start, end, list(self._calls.values()), list(self._agents.values()),
                      steps, unfinished)

    async def _act(self, at_ms: int, kind: int, key: str) -> None:
        engine = self.engine
        try:
            if kind == ARRIVAL:
                await self._arrive(at_ms, self._calls[key])
            elif kind == PATIENCE:
                c = self._calls[key]
                if c.connected_ms is None and c.ended_ms is None:
                    await engine.abandon(c.call_id)
            elif kind == ACCEPT:
                call_id, offer_id = key.split("|", 1)
                c = self._by_id[call_id]
                if c.offer_id == offer_id and c.connected_ms is None and c.ended_ms is None:
                    await engine.accept(call_id, offer_id)
            elif kind == TALK_END:
                await engine.complete(self._calls[key].call_id)
            elif kind == SHIFT_START:
                await engine.set_state(key, {"state": "available"})
            elif kind == SHIFT_END:
                await engine.set_state(key, {"state": "offline", "after_call": True})
        except Refused:
            pass  # overtaken at the same millisecond (e.g. the offer expired first)

    async def _arrive(self, at_ms: int, c: CallLog) -> None:
        p = c.planned
        body: dict[str, Any] = {"queue": p.queue, "external_id": p.external_id,
                                "priority": p.priority, "channel": p.channel}
        if p.requirements:
            body["requirements"] = list(p.requirements)
        if p.customer_id:
            body["caller"] = {"customer_id": p.customer_id}
        view = await self.engine.arrive(body)
        c.call_id, c.arrived_ms, c.queue = str(view["id"]), at_ms, p.queue
        self._by_id[c.call_id] = c
        if p.patience_s is not None:
            self._plan(at_ms + round(p.patience_s * 1000), PATIENCE, p.external_id)
        self._arrived += 1
        if self.progress:
            self.progress(self._arrived, len(self._calls))

    def _seen(self, events: list[SeenEvent]) -> None:
        for e in events:
            d = e.data
            if e.type == "agent.state_changed":
                log = self._agents.get(str(d.get("agent_id")))
                if log is not None and not d.get("pending"):
                    log.states.append((str(d["state"]), e.at_ms))
                continue
            call = d.get("call")
            c = self._by_id.get(str(call.get("id"))) if isinstance(call, dict) else None
            if c is None:
                continue
            if e.type == "call.offered":
                self._offered(e, c, d)
            elif e.type == "call.connected":
                c.connected_ms, c.agent_id, c.offer_id = e.at_ms, str(d["agent_id"]), None
                self._plan(e.at_ms + round(c.planned.handle_s * 1000), TALK_END,
                           c.planned.external_id)
            elif e.type == "call.requeued":
                if d.get("reason") == "expired" and str(d.get("agent_id")) in self._agents:
                    self._agents[str(d["agent_id"])].missed += 1
                c.offer_id = None
            elif e.type in ("call.completed", "call.abandoned", "call.timed_out"):
                c.ended_ms, c.outcome = e.at_ms, e.type.split(".", 1)[1]
                c.queue = str(call.get("queue", c.queue)) if isinstance(call, dict) else c.queue

    def _offered(self, e: SeenEvent, c: CallLog, d: dict[str, Any]) -> None:
        offer = d.get("offer") or {}
        agent_id = str((d.get("agent") or {}).get("id"))
        c.offers += 1
        c.offer_id = str(offer.get("id"))
        c.queue = str(d.get("queue") or c.queue)
        log = self._agents.get(agent_id)
        if log is None:
            return
        log.offers += 1
        if self.plan.queues.get(c.queue, {}).get("auto_accept"):
            return  # the engine connects it at once
        rng = self._rngs[agent_id]
        if rng.random() < log.planned.miss_probability:
            return  # it rings out: the engine's offer timer expires it
        delay = log.planned.accept_delay
        wait_ms = 0 if delay is None else round(delay.sample(rng) * 1000)
        self._plan(e.at_ms + wait_ms, ACCEPT, f"{c.call_id}|{c.offer_id}")
