"""A model-based test of the call lifecycle: seeded random walks on a manual-clock tenant,
every response and the whole live state checked against a small in-memory reference model.

The model is written from DESIGN §3.2–3.4 and §3.7, not from the app's code:

- routing is longest-idle (earliest `idle_since`, tie → agent id) for a call, and lowest rank
  (`arrival − priority × weight`, or strict priority with a null weight; tie → arrival, call id)
  for a free agent, over the agent's queues; eligibility = queue membership + the queue's and the
  call's requirements;
- whoever becomes routable inside one request is routed in the order the request made them
  routable (a re-queued call first, then the agent freed by the same step);
- a manual clock fires due timers one at a time in (due ms, timer member) order, each routing at
  its own due time before the next (members: `offer|<call>|…` < `wait|<call>|…` < `wrap|<agent>|…`).

A failure names the seed and the step and prints the operation log; rerun one seed with
`pytest tests/test_model.py -k 'seed3'`.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support import TenantApi

Json = dict[str, Any]
Req = tuple[tuple[str, int], ...]

SEEDS = list(range(6))
STEPS = 150
OFFER_TIMEOUT_MS = 10_000
WRAP_UP_MS = 5_000
MAX_MISSED = 2
CANDIDATE_LIMIT = 16
MAX_PAGES = 8


@dataclass(frozen=True)
class QueueSpec:
    id: str
    strategy: str
    weight_s: int | None
    requirements: Req
    max_wait_s: int | None
    overflow: str | None
    max_size: int | None

    def config(self) -> Json:
        return {"strategy": self.strategy, "priority_weight_s": self.weight_s,
                "requirements": [{"skill": s, "min_level": lv} for s, lv in self.requirements],
                "max_wait_s": self.max_wait_s, "overflow_queue": self.overflow,
                "max_size": self.max_size, "offer_timeout_s": OFFER_TIMEOUT_MS / 1000,
                "wrap_up_s": WRAP_UP_MS / 1000, "max_missed_offers": MAX_MISSED}


# q2 first: q1 overflows into it.
QUEUES = [
    QueueSpec("q2", "priority", 20, (), 90, None, 5),
    QueueSpec("q1", "longest-idle", None, (("billing", 3),), 60, "q2", 4),
]
AGENT_POOL: list[tuple[str, dict[str, int], list[str]]] = [
    ("a1", {"billing": 5, "spanish": 7}, []),
    ("a2", {"billing": 2}, []),                      # not enough billing for q1
    ("a3", {"billing": 8}, ["q1"]),
    ("a4", {"billing": 3, "spanish": 4}, ["q2"]),
    ("a5", {"spanish": 9}, ["q1", "q2"]),           # member of q1 but lacks billing
]
CALL_REQUIREMENTS: list[Req] = [(), (), (), (("spanish", 5),), (("spanish", 3),),
                                (("billing", 7),)]
ADVANCES = [0.0, 1.0, 5.0, 9.999, 10.0, 30.0, 0.001, 2.5]


def ms_of(value: str | None) -> int | None:
    if value is None:
        return None
    return round(datetime.fromisoformat(value).timestamp() * 1000)


# The reference model ---------------------------------------------------------------------------

@dataclass
class MCall:
    id: str
    queue: str
    priority: int
    requirements: Req
    arrived_ms: int
    entered_ms: int
    rank: int
    external_id: str | None
    state: str = "queued"
    offer_agent: str | None = None
    offer_id: str | None = None        # learned from the service (ids are opaque)
    offer_expires: int | None = None
    agent_id: str | None = None
    wait_due: int | None = None
    wait_expired: bool = False
    overflows: int = 0
    missed_offers: int = 0
    accepted_offer_id: str | None = None
    offer_ids: list[str] = field(default_factory=list)


@dataclass
class MAgent:
    id: str
    skills: dict[str, int]
    queues: list[str]
    state: str = "offline"
    idle_since: int | None = None
    reason: str | None = None
    call_id: str | None = None
    missed_in_row: int = 0
    wrap_due: int | None = None


@dataclass(frozen=True)
class CallWake:
    call_id: str
    agents: tuple[str, ...]     # the queue's available agents when the call became routable


@dataclass(frozen=True)
class AgentWake:
    agent_id: str
    calls: tuple[str, ...]      # the waiting calls of its queues when it became free


Wake = CallWake | AgentWake


class Model:
    def __init__(self, now: int, agents: list[MAgent]) -> None:
        self.now = now
        self.queues = {q.id: q for q in QUEUES}
        self.agents = {a.id: a for a in agents}
        self.calls: dict[str, MCall] = {}
        self.external: dict[str, str] = {}

    # eligibility and order
    @staticmethod
    def meets(agent: MAgent, requirements: Req) -> bool:
        return all(agent.skills.get(s, 0) >= lv for s, lv in requirements)

    def member(self, agent: MAgent, queue: str) -> bool:
        return not agent.queues or queue in agent.queues

    def eligible_queues(self, agent: MAgent) -> list[str]:
        return [q for q, spec in self.queues.items()
                if self.member(agent, q) and self.meets(agent, spec.requirements)]

    def indexed(self, agent: MAgent, queue: str) -> bool:
        return agent.state == "available" and queue in self.eligible_queues(agent)

    def rank(self, queue: str, arrived_ms: int, priority: int) -> int:
        weight = self.queues[queue].weight_s
        factor = 10_000_000_000_000 if weight is None else weight * 1000
        return arrived_ms - priority * factor

    def waiting(self, queue: str) -> list[MCall]:
        """A queue's waiting calls in routing order."""
        found = [c for c in self.calls.values() if c.state == "queued" and c.queue == queue]
        return sorted(found, key=lambda c: (c.rank, c.arrived_ms, c.id))

    def position(self, call: MCall) -> int | None:
        if call.state != "queued":
            return None
        return [c.id for c in self.waiting(call.queue)].index(call.id) + 1

    def waiting_counts(self, call: MCall) -> tuple[str, int, int, int]:
        spec = self.queues[call.queue]
        logged_in = eligible = available = 0
        for a in self.agents.values():
            if self.member(a, call.queue) and a.state != "offline":
                logged_in += 1
                if self.meets(a, spec.requirements) and self.meets(a, call.requirements):
                    eligible += 1
                    available += a.state == "available"
        reason = ("no-agent-logged-in" if logged_in == 0
                  else "no-eligible-agent" if eligible == 0 else "all-eligible-busy")
        return reason, logged_in, eligible, available

    # wake-ups and routing
    def call_wake(self, call: MCall) -> CallWake:
        return CallWake(call.id, tuple(a.id for a in self.agents.values()
                                       if self.indexed(a, call.queue)))

    def agent_wake(self, agent: MAgent) -> AgentWake:
        queues = self.eligible_queues(agent)
        return AgentWake(agent.id, tuple(c.id for c in self.calls.values()
                                         if c.state == "queued" and c.queue in queues))

    def settle(self, wakes: list[Wake]) -> None:
        pending: deque[Wake] = deque(wakes)
        while pending:
            wake = pending.popleft()
            if isinstance(wake, CallWake):
                self.route_call(wake)
            else:
                self.route_agent(wake)

    def route_call(self, wake: CallWake) -> None:
        call = self.calls[wake.call_id]
        snapshot = list(wake.agents)
        for _ in range(MAX_PAGES):
            candidates = [a for a in snapshot if self.meets(self.agents[a], call.requirements)]
            lost = False
            while candidates:
                pick = min(candidates, key=lambda a: (self.agents[a].idle_since or 0, a))
                if call.state != "queued":
                    return
                agent = self.agents[pick]
                if agent.state != "available" or call.queue not in self.eligible_queues(agent):
                    candidates.remove(pick)
                    lost = True
                    continue
                self.claim(call, agent)
                return
            if (not lost and len(snapshot) < CANDIDATE_LIMIT) or call.state != "queued":
                return
            snapshot = list(self.call_wake(call).agents)
        return

    def route_agent(self, wake: AgentWake) -> None:
        agent = self.agents[wake.agent_id]
        snapshot = list(wake.calls)
        for _ in range(MAX_PAGES):
            candidates = [c for c in snapshot if self.meets(agent, self.calls[c].requirements)]
            lost = False
            while candidates:
                best = min((self.calls[c] for c in candidates),
                           key=lambda c: (c.rank, c.arrived_ms, c.id))
                if best.state != "queued":
                    candidates.remove(best.id)
                    lost = True
                    continue
                if agent.state != "available" or best.queue not in self.eligible_queues(agent):
                    return
                self.claim(best, agent)
                return
            if (not lost and len(snapshot) < CANDIDATE_LIMIT) or agent.state != "available":
                return
            snapshot = list(self.agent_wake(agent).calls)

    def claim(self, call: MCall, agent: MAgent) -> None:
        call.state = "offered"
        call.offer_agent = agent.id
        call.offer_id = None
        call.offer_expires = self.now + OFFER_TIMEOUT_MS
        agent.state = "reserved"
        agent.reason = None
        agent.call_id = call.id

    # transitions
    def set_state(self, agent: MAgent, state: str, reason: str | None) -> None:
        agent.state = state
        agent.reason = reason
        if state == "available":
            agent.idle_since = self.now

    def release(self, agent: MAgent, state: str, reason: str | None = None) -> list[Wake]:
        agent.call_id = None
        agent.wrap_due = None
        self.set_state(agent, state, reason)
        return [self.agent_wake(agent)] if state == "available" else []

    def enter_queue(self, call: MCall, queue: str) -> None:
        spec = self.queues[queue]
        call.queue = queue
        call.entered_ms = self.now
        call.wait_expired = False
        call.rank = self.rank(queue, call.arrived_ms, call.priority)
        call.wait_due = None if spec.max_wait_s is None else self.now + spec.max_wait_s * 1000
        call.state = "queued"

    def max_wait_reached(self, call: MCall) -> list[Wake]:
        overflow = self.queues[call.queue].overflow
        call.wait_due = None
        if overflow is not None:
            call.overflows += 1
            self.enter_queue(call, overflow)
            return [self.call_wake(call)]
        call.state = "timed_out"
        return []

    def requeue(self, call: MCall) -> list[Wake]:
        """An offer ends without a connection: back to its place, same rank."""
        call.offer_agent = call.offer_id = call.offer_expires = None
        if call.wait_expired:
            return self.max_wait_reached(call)
        call.state = "queued"
        return [self.call_wake(call)]

    # operations: each returns the expected status
    def arrive_status(self, queue: str, external_id: str | None) -> int:
        if external_id is not None and external_id in self.external:
            return 200
        spec = self.queues[queue]
        if spec.max_size is not None and len(self.waiting(queue)) >= spec.max_size:
            return 409
        return 201

    def arrive(self, call_id: str, queue: str, priority: int, requirements: Req,
               external_id: str | None) -> None:
        call = MCall(call_id, queue, priority, requirements, self.now, self.now, 0, external_id)
        self.calls[call_id] = call
        if external_id is not None:
            self.external[external_id] = call_id
        self.enter_queue(call, queue)
        self.settle([self.call_wake(call)])

    def agent_state(self, agent_id: str, to: str, reason: str | None) -> int:
        agent = self.agents[agent_id]
        before = agent.state
        if before == "busy":
            return 409
        if before == to:
            if to == "away":
                self.set_state(agent, to, reason)
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

    def accept(self, call: MCall, offer_id: str) -> int:
        if call.state == "connected" and call.accepted_offer_id == offer_id:
            return 200
        if call.state != "offered" or call.offer_id != offer_id:
            return 409
        assert call.offer_agent is not None
        agent = self.agents[call.offer_agent]
        call.state = "connected"
        call.agent_id = agent.id
        call.accepted_offer_id = offer_id
        call.offer_agent = call.offer_id = call.offer_expires = None
        call.wait_due = None
        agent.state = "busy"
        agent.reason = None
        agent.missed_in_row = 0
        return 200

    def reject(self, call: MCall, offer_id: str) -> int:
        if call.state != "offered" or call.offer_id != offer_id:
            return 409
        assert call.offer_agent is not None
        agent = self.agents[call.offer_agent]
        wakes = self.requeue(call)
        wakes += self.release(agent, "available")
        self.settle(wakes)
        return 200

    def abandon(self, call: MCall) -> int:
        if call.state == "abandoned":
            return 200
        if call.state not in ("queued", "offered"):
            return 409
        wakes: list[Wake] = []
        if call.state == "offered":
            assert call.offer_agent is not None
            wakes = self.release(self.agents[call.offer_agent], "available")
            call.offer_agent = call.offer_id = call.offer_expires = None
        call.wait_due = None
        call.state = "abandoned"
        self.settle(wakes)
        return 200

    def complete(self, call: MCall) -> int:
        if call.state == "completed":
            return 200
        if call.state != "connected":
            return 409
        assert call.agent_id is not None
        agent = self.agents[call.agent_id]
        agent.call_id = None
        agent.wrap_due = self.now + WRAP_UP_MS
        self.set_state(agent, "wrap_up", None)
        call.state = "completed"
        return 200

    def patch(self, call: MCall, priority: int) -> int:
        if call.state != "queued":
            return 409
        call.priority = priority
        call.rank = self.rank(call.queue, call.arrived_ms, priority)
        self.settle([self.call_wake(call)])
        return 200

    def advance(self, seconds: float) -> int:
        target = self.now + round(seconds * 1000)
        while True:
            due: list[tuple[int, int, str]] = []
            for c in self.calls.values():
                if c.state == "offered" and c.offer_expires is not None:
                    due.append((c.offer_expires, 0, c.id))
                if c.wait_due is not None and c.state in ("queued", "offered"):
                    due.append((c.wait_due, 1, c.id))
            for a in self.agents.values():
                if a.state == "wrap_up" and a.wrap_due is not None:
                    due.append((a.wrap_due, 2, a.id))
            due = [d for d in due if d[0] <= target]
            if not due:
                break
            at, kind, ident = min(due)
            self.now = max(self.now, at)
            self.fire(kind, ident)
        self.now = max(self.now, target)
        return 200

    def fire(self, kind: int, ident: str) -> None:
        if kind == 0:                       # offer expired
            call = self.calls[ident]
            assert call.offer_agent is not None
            agent = self.agents[call.offer_agent]
            call.missed_offers += 1
            wakes = self.requeue(call)
            agent.missed_in_row += 1
            if agent.missed_in_row >= MAX_MISSED:
                agent.missed_in_row = 0
                wakes += self.release(agent, "away", "missed-offers")
            else:
                wakes += self.release(agent, "available")
            self.settle(wakes)
        elif kind == 1:                     # max wait
            call = self.calls[ident]
            call.wait_due = None
            if call.state == "queued":
                self.settle(self.max_wait_reached(call))
            else:
                call.wait_expired = True
        else:                               # wrap-up ends
            self.settle(self.release(self.agents[ident], "available"))


# The walk --------------------------------------------------------------------------------------

class Mismatch(AssertionError):
    pass


class Walk:
    def __init__(self, api: TenantApi, seed: int) -> None:
        self.api = api
        self.seed = seed
        self.rng = random.Random(seed)
        self.log: list[str] = []
        self.step = 0
        self.model: Model
        self.externals: list[str] = []
        self.listed: dict[str, list[str]] = {}

    # plumbing
    def fail(self, what: str) -> None:
        log = "\n".join(f"  {i:3d}. {line}" for i, line in enumerate(self.log))
        raise Mismatch(f"seed={self.seed} step={self.step}: {what}\noperation log:\n{log}")

    def same(self, what: str, service: object, model: object) -> None:
        if service != model:
            self.fail(f"{what}: service {service!r} != model {model!r}")

    async def send(self, method: str, path: str, body: Json | None = None,
                   params: dict[str, str] | None = None) -> httpx.Response:
        return await self.api.request(method, path, body, params=params)

    async def get(self, path: str, params: dict[str, str] | None = None) -> Json:
        response = await self.send("GET", path, params=params)
        if response.status_code != 200:
            self.fail(f"GET {path}: {response.status_code} {response.text}")
        body: Json = response.json()
        return body

    def status(self, response: httpx.Response, expected: int) -> None:
        if response.status_code != expected:
            self.fail(f"{response.request.method} {response.request.url.path}: status "
                      f"{response.status_code} (body {response.text}) != model {expected}")

    # setup
    async def setup(self, chosen: list[int] | None = None) -> None:
        for spec in QUEUES:
            await self.api.put_queue(spec.id, **spec.config())
        if chosen is None:
            count = self.rng.randint(3, len(AGENT_POOL))
            chosen = sorted(self.rng.sample(range(len(AGENT_POOL)), count))
        agents: list[MAgent] = []
        for i in chosen:
            agent_id, skills, queues = AGENT_POOL[i]
            await self.api.put_agent(agent_id, skills=skills, queues=queues)
            agents.append(MAgent(agent_id, dict(skills), list(queues)))
        self.model = Model(await self.api.clock_ms(), agents)
        self.log.append(f"setup: agents {[a.id for a in agents]}")

    # operations
    def pick_call(self, prefer: tuple[str, ...]) -> MCall | None:
        calls = list(self.model.calls.values())
        if not calls:
            return None
        preferred = [c for c in calls if c.state in prefer]
        if preferred and self.rng.random() < 0.85:
            return self.rng.choice(preferred)
        return self.rng.choice(calls)

    def offer_id_for(self, call: MCall) -> str:
        if call.offer_id is not None and self.rng.random() < 0.8:
            return call.offer_id
        stale = [*call.offer_ids, "o999999999999"]
        return self.rng.choice(stale)

    # operations with chosen arguments (the random walk and the scripted scenarios)
    async def do_arrive(self, queue: str, priority: int = 0, requirements: Req = (),
                        external: str | None = None) -> str | None:
        m = self.model
        body: Json = {"queue": queue, "priority": priority,
                      "requirements": [{"skill": s, "min_level": lv} for s, lv in requirements]}
        if external is not None:
            body["external_id"] = external
        self.log.append(f"arrive queue={queue} priority={priority} "
                        f"requirements={list(requirements)} external_id={external}")
        expected = m.arrive_status(queue, external)
        response = await self.send("POST", "/v1/calls", body)
        self.status(response, expected)
        if expected == 409:
            return None
        view: Json = response.json()
        call_id = str(view["id"])
        if expected == 201:
            m.arrive(call_id, queue, priority, requirements, external)
            if external is not None:
                self.externals.append(external)
            self.log[-1] += f" -> {call_id}"
        else:
            self.same("repeated external_id: call id", call_id, m.external[external or ""])
        self.check_view(view, m.calls[call_id])
        return call_id

    async def do_state(self, agent_id: str, to: str, reason: str | None = None) -> None:
        before = self.model.agents[agent_id].state
        self.log.append(f"agent {agent_id} {before} -> {to} reason={reason}")
        expected = self.model.agent_state(agent_id, to, reason)
        body: Json = {"state": to, **({"reason": reason} if reason else {})}
        response = await self.send("POST", f"/v1/agents/{agent_id}/state", body)
        self.status(response, expected)
        view: Json = response.json()
        if expected == 200:
            self.same(f"agent {agent_id} state in response", view["state"],
                      self.model.agents[agent_id].state)
        else:
            self.same(f"agent {agent_id} state in 409", view.get("state"), before)

    async def do_call(self, verb: str, call_id: str, offer_id: str | None = None,
                      priority: int = 0) -> None:
        call = self.model.calls[call_id]
        before = call.state
        body: Json | None = None
        method, path = "POST", f"/v1/calls/{call_id}/{verb}"
        if verb == "accept":
            offer_id = offer_id or call.offer_id or "o-none"
            body, expected = {"offer_id": offer_id}, self.model.accept(call, offer_id)
        elif verb == "reject":
            offer_id = offer_id or call.offer_id or "o-none"
            body, expected = {"offer_id": offer_id}, self.model.reject(call, offer_id)
        elif verb == "abandon":
            expected = self.model.abandon(call)
        elif verb == "complete":
            body, expected = {"resolved": True}, self.model.complete(call)
        else:
            assert verb == "patch"
            method, path = "PATCH", f"/v1/calls/{call_id}"
            body, expected = {"priority": priority}, self.model.patch(call, priority)
        self.log.append(f"{verb} {call_id} ({before})"
                        + (f" offer={offer_id}" if offer_id else "")
                        + (f" priority={priority}" if verb == "patch" else ""))
        response = await self.send(method, path, body)
        self.status(response, expected)
        view: Json = response.json()
        if expected == 200:
            self.check_view(view, call)
        else:
            self.same(f"{verb} {call_id}: state in 409", view.get("state"), before)

    async def do_advance(self, seconds: float) -> None:
        self.log.append(f"advance {seconds}")
        self.model.advance(seconds)
        response = await self.send("POST", "/v1/clock/advance", {"seconds": seconds})
        self.status(response, 200)
        self.same("clock after advance", ms_of(response.json()["now"]), self.model.now)

    # random choices
    async def op_arrive(self) -> None:
        queue = self.rng.choice([q.id for q in QUEUES])
        priority = self.rng.randint(0, 3)
        requirements = self.rng.choice(CALL_REQUIREMENTS)
        roll = self.rng.random()
        external: str | None = None
        if roll < 0.15 and self.externals:
            external = self.rng.choice(self.externals)
        elif roll < 0.85:
            external = f"x-{self.seed}-{self.step}"
        await self.do_arrive(queue, priority, requirements, external)

    async def op_state(self) -> None:
        agent_id = self.rng.choice(sorted(self.model.agents))
        to = self.rng.choice(["available", "available", "available", "away", "offline"])
        reason = self.rng.choice([None, "break"]) if to == "away" else None
        await self.do_state(agent_id, to, reason)

    async def op_offer_answer(self, verb: str) -> None:
        offered = any(c.state == "offered" for c in self.model.calls.values())
        if not offered and self.rng.random() < 0.6:
            return await self.op_state()
        call = self.pick_call(("offered",))
        if call is None:
            return await self.op_advance()
        await self.do_call(verb, call.id, self.offer_id_for(call))

    async def op_accept(self) -> None:
        await self.op_offer_answer("accept")

    async def op_reject(self) -> None:
        await self.op_offer_answer("reject")

    async def op_abandon(self) -> None:
        call = self.pick_call(("queued", "offered"))
        if call is None:
            return await self.op_advance()
        await self.do_call("abandon", call.id)

    async def op_complete(self) -> None:
        call = self.pick_call(("connected",))
        if call is None:
            return await self.op_advance()
        await self.do_call("complete", call.id)

    async def op_patch(self) -> None:
        call = self.pick_call(("queued",))
        if call is None:
            return await self.op_advance()
        await self.do_call("patch", call.id, priority=self.rng.randint(0, 3))

    async def op_advance(self) -> None:
        if self.rng.random() < 0.75:
            seconds = self.rng.choice(ADVANCES)
        else:
            seconds = self.rng.randint(0, 20_000) / 1000
        await self.do_advance(seconds)

    # comparison
    def check_view(self, view: Json, call: MCall) -> None:
        m = self.model
        where = f"call {call.id}"
        self.same(f"{where} state", view["state"], call.state)
        self.same(f"{where} queue", view["queue"], call.queue)
        self.same(f"{where} priority", view["priority"], call.priority)
        self.same(f"{where} position", view["position"], m.position(call))
        self.same(f"{where} overflows", view["overflows"], call.overflows)
        self.same(f"{where} missed_offers", view["missed_offers"], call.missed_offers)
        self.same(f"{where} agent_id", view["agent_id"], call.agent_id)
        self.same(f"{where} arrived_at", ms_of(view["arrived_at"]), call.arrived_ms)
        self.same(f"{where} queued_at", ms_of(view["queued_at"]), call.entered_ms)
        offer = view["offer"]
        if call.state != "offered":
            self.same(f"{where} offer", offer, None)
        else:
            if offer is None:
                self.fail(f"{where}: service shows no offer, model offered to {call.offer_agent}")
            self.same(f"{where} offer agent", offer["agent_id"], call.offer_agent)
            self.same(f"{where} offer expires", ms_of(offer["expires_at"]), call.offer_expires)
            if call.offer_id is None:
                if offer["id"] in call.offer_ids:
                    self.fail(f"{where}: offer id {offer['id']} reused")
                call.offer_id = offer["id"]
                call.offer_ids.append(offer["id"])
            self.same(f"{where} offer id", offer["id"], call.offer_id)
        if call.state == "queued":
            reason, logged_in, eligible, available = m.waiting_counts(call)
            self.same(f"{where} waiting_reason", view["waiting_reason"], reason)
            self.same(f"{where} waiting counts",
                      (view["waiting"]["agents_logged_in"], view["waiting"]["agents_eligible"],
                       view["waiting"]["agents_eligible_available"]),
                      (logged_in, eligible, available))
        else:
            self.same(f"{where} waiting_reason", view["waiting_reason"], None)

    async def check_all(self) -> None:
        m = self.model
        views = {v["id"]: v for v in (await self.get("/v1/calls", {"limit": "1000"}))["calls"]}
        self.same("call ids", sorted(views), sorted(m.calls))
        for call in m.calls.values():
            self.check_view(views[call.id], call)
        for queue in m.queues:
            # Positions above already pin the order; the queue listing is read when it changed.
            order = [c.id for c in m.waiting(queue)]
            if self.listed.get(queue) == order:
                continue
            listed = await self.get("/v1/calls", {"queue": queue, "limit": "1000"})
            self.same(f"queue {queue} routing order", [c["id"] for c in listed["calls"]], order)
            self.listed[queue] = order
        agents = {a["id"]: a for a in (await self.get("/v1/agents"))["agents"]}
        for agent in m.agents.values():
            view = agents[agent.id]
            where = f"agent {agent.id}"
            self.same(f"{where} state", view["state"], agent.state)
            self.same(f"{where} reason", view["reason"], agent.reason)
            self.same(f"{where} call_id", view["call_id"],
                      agent.call_id if agent.state in ("reserved", "busy") else None)
            self.same(f"{where} missed_offers_in_row", view["missed_offers_in_row"],
                      agent.missed_in_row)
            if agent.state == "available":
                self.same(f"{where} idle_since", ms_of(view["idle_since"]), agent.idle_since)
            if agent.state == "reserved":
                assert agent.call_id is not None
                self.same(f"{where} offer_id", view["offer_id"],
                          m.calls[agent.call_id].offer_id)
        # Invariant the model does not need to spell out: no eligible pair is left unrouted.
        for call in m.calls.values():
            if call.state == "queued" and m.waiting_counts(call)[3] > 0:
                self.fail(f"model left {call.id} waiting with an eligible agent available")

    async def check_one(self, call_id: str) -> None:
        self.check_view(await self.get(f"/v1/calls/{call_id}"), self.model.calls[call_id])

    async def run(self, steps: int) -> None:
        await self.setup()
        ops = [(self.op_arrive, 20), (self.op_state, 16), (self.op_accept, 14),
               (self.op_reject, 6), (self.op_abandon, 6), (self.op_complete, 10),
               (self.op_advance, 22), (self.op_patch, 6)]
        functions = [f for f, _ in ops]
        weights = [w for _, w in ops]
        for step in range(steps):
            self.step = step
            [op] = self.rng.choices(functions, weights)
            await op()
            await self.check_all()
            touched = [c.id for c in self.model.calls.values() if c.state in ("queued", "offered")]
            if touched and step % 3 == 0:
                await self.check_one(self.rng.choice(touched))


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])
async def test_random_walk_matches_model(tenant: TenantApi, seed: int) -> None:
    await Walk(tenant, seed).run(STEPS)


# Scripted walks: timer ties where the firing order decides the outcome ---------------------------

async def scripted(tenant: TenantApi, agents: list[int]) -> Walk:
    walk = Walk(tenant, seed=-1)
    await walk.setup(agents)
    return walk


async def checked(walk: Walk, *steps: Awaitable[object]) -> None:
    for step in steps:
        walk.step += 1
        await step
        await walk.check_all()


async def test_tie_offer_expiry_fires_before_wrap_end(tenant: TenantApi) -> None:
    """At one instant a1's wrap-up ends and a3's offer of c2 expires: `offer|…` < `wrap|…`, so
    c2 re-queues while a1 is still wrapping up and a3, freed next, takes it again."""
    w = await scripted(tenant, [0, 2])  # a1 (any queue), a3 (q1)
    await checked(w, w.do_state("a1", "available"), w.do_advance(1),
                  w.do_state("a3", "available"))
    c1 = await w.do_arrive("q1")
    assert c1 is not None
    await checked(w, w.do_call("accept", c1))
    c2 = await w.do_arrive("q1")
    assert c2 is not None and w.model.calls[c2].offer_agent == "a3"
    await checked(w, w.do_advance(5), w.do_call("complete", c1), w.do_advance(5))
    assert w.model.calls[c2].offer_agent == "a3"
    assert w.model.agents["a1"].state == "available"


async def test_tie_offer_expiry_fires_before_max_wait(tenant: TenantApi) -> None:
    """An offer expires at the instant the call's max wait is reached: the expiry fires first
    (re-offered to the only agent), then max wait marks the ringing call; a later reject
    overflows it to q2."""
    w = await scripted(tenant, [0])  # a1 only
    await checked(w, w.do_state("a1", "available"))
    c = await w.do_arrive("q1")
    assert c is not None
    for _ in range(10):  # each reject re-offers to a1 at once: the last offer ends at 60 s
        await checked(w, w.do_advance(5), w.do_call("reject", c))
    await checked(w, w.do_advance(10))
    call = w.model.calls[c]
    assert (call.state, call.queue, call.offer_agent, call.wait_expired) == (
        "offered", "q1", "a1", True)
    await checked(w, w.do_call("reject", c))
    assert (call.queue, call.overflows) == ("q2", 1)


async def test_repeated_external_id_is_200(tenant: TenantApi) -> None:
    """Found by the walk: enqueue.lua replied `existing`, the reply parser reads `repeated`,
    so every repeat answered 201 (DESIGN §3.4 says 200)."""
    await tenant.put_queue("q")
    first = await tenant.request("POST", "/v1/calls", {"queue": "q", "external_id": "x-1"})
    assert first.status_code == 201
    again = await tenant.request("POST", "/v1/calls", {"queue": "q", "external_id": "x-1"})
    assert again.json()["id"] == first.json()["id"]
    assert again.status_code == 200
