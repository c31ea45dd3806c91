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

What every scenario shares (offers, agent states, timers, the driver and the comparison) is in
`tests/model/`; this file adds max wait and overflow, priority changes, repeated external ids
and the waiting reason, and besides the live state it checks every reply, each queue's listing
and that no eligible call and agent are left apart.

A failure names the seed and the step and prints the operation log; rerun one seed with
`pytest tests/test_model.py -k 'seed3'`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field

import httpx

from tests.model.entities import (
    AgentSpec,
    CallWake,
    MAgent,
    MCall,
    QueueSpec,
    Req,
    meets,
    requirements_json,
)
from tests.model.reference import ReferenceModel, Timer
from tests.model.walk import STEPS, ClockSteps, Op, Walk, each_seed, ms_of
from tests.support import Json, TenantApi

OFFER_TIMEOUT_MS = 10_000
WRAP_UP_MS = 5_000
MAX_MISSED = 2
CANDIDATE_LIMIT = 8
MAX_PAGES = 8

# q2 first: q1 overflows into it.
QUEUES = [
    QueueSpec("q2", "priority", weight_s=20, max_wait_s=90, max_size=5,
              offer_timeout_ms=OFFER_TIMEOUT_MS, wrap_up_ms=WRAP_UP_MS, max_missed=MAX_MISSED),
    QueueSpec("q1", "longest-idle", requirements=(("billing", 3),), max_wait_s=60,
              overflow="q2", max_size=4, offer_timeout_ms=OFFER_TIMEOUT_MS,
              wrap_up_ms=WRAP_UP_MS, max_missed=MAX_MISSED),
]
AGENT_POOL = [
    AgentSpec("a1", {"billing": 5, "spanish": 7}, []),
    AgentSpec("a2", {"billing": 2}, []),                      # not enough billing for q1
    AgentSpec("a3", {"billing": 8}, ["q1"]),
    AgentSpec("a4", {"billing": 3, "spanish": 4}, ["q2"]),
    AgentSpec("a5", {"spanish": 9}, ["q1", "q2"]),           # member of q1 but lacks billing
]
CALL_REQUIREMENTS: list[Req] = [(), (), (), (("spanish", 5),), (("spanish", 3),),
                                (("billing", 7),)]


# The reference model ---------------------------------------------------------------------------

@dataclass
class LifecycleCall(MCall):
    external_id: str | None = None
    wait_due: int | None = None
    wait_expired: bool = False           # max wait reached while ringing: acts when it ends
    overflows: int = 0
    offer_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AgentWake:
    agent_id: str
    calls: tuple[str, ...]      # the waiting calls of its queues when it became free


class LifecycleModel(ReferenceModel[LifecycleCall, AgentWake]):
    def __init__(self, now_ms: int, agents: list[MAgent]) -> None:
        super().__init__(now_ms, QUEUES, agents)
        self.external: dict[str, str] = {}

    def waiting_counts(self, call: LifecycleCall) -> tuple[str, int, int, int]:
        """(waiting_reason, agents logged in, eligible, eligible and available), as a waiting
        call's view shows them."""
        spec = self.queues[call.queue]
        logged_in = eligible = available = 0
        for a in self.agents.values():
            if self.member(a, call.queue) and a.state != "offline":
                logged_in += 1
                if meets(a, spec.requirements) and meets(a, call.requirements):
                    eligible += 1
                    available += a.state == "available"
        reason = ("no-agent-logged-in" if logged_in == 0
                  else "no-eligible-agent" if eligible == 0 else "all-eligible-busy")
        return reason, logged_in, eligible, available

    # routing: longest idle for a call, lowest rank for a free agent
    def agent_wake(self, agent: MAgent) -> AgentWake:
        queues = self.indexed_queues(agent)
        return AgentWake(agent.id, tuple(c.id for c in self.calls.values()
                                         if c.state == "queued" and c.queue in queues))

    def route_call(self, wake: CallWake) -> None:
        call = self.calls[wake.call_id]
        snapshot = list(wake.agents)
        for _ in range(MAX_PAGES):
            candidates = [a for a in snapshot if meets(self.agents[a], call.requirements)]
            lost = False
            while candidates:
                pick = min(candidates, key=lambda a: (self.agents[a].idle_since or 0, a))
                if call.state != "queued":
                    return
                agent = self.agents[pick]
                if agent.state != "available" or call.queue not in self.indexed_queues(agent):
                    candidates.remove(pick)
                    lost = True
                    continue
                self.claim(call, agent)
                return
            if (not lost and len(snapshot) < CANDIDATE_LIMIT) or call.state != "queued":
                return
            snapshot = list(self.call_wake(call).agents)

    def route_agent(self, wake: AgentWake) -> None:
        agent = self.agents[wake.agent_id]
        snapshot = list(wake.calls)
        for _ in range(MAX_PAGES):
            candidates = [c for c in snapshot if meets(agent, self.calls[c].requirements)]
            lost = False
            while candidates:
                best = min((self.calls[c] for c in candidates),
                           key=lambda c: (c.rank, c.arrived_ms, c.id))
                if best.state != "queued":
                    candidates.remove(best.id)
                    lost = True
                    continue
                if agent.state != "available" or best.queue not in self.indexed_queues(agent):
                    return
                self.claim(best, agent)
                return
            if (not lost and len(snapshot) < CANDIDATE_LIMIT) or agent.state != "available":
                return
            snapshot = list(self.agent_wake(agent).calls)

    # max wait and overflow
    def enter_queue(self, call: LifecycleCall, queue: str) -> None:
        spec = self.queues[queue]
        call.queue = queue
        call.entered_ms = self.now
        call.wait_expired = False
        call.rank = self.rank(queue, call.arrived_ms, call.priority)
        call.wait_due = None if spec.max_wait_s is None else self.now + spec.max_wait_s * 1000
        call.state = "queued"

    def max_wait_reached(self, call: LifecycleCall) -> list[CallWake | AgentWake]:
        overflow = self.queues[call.queue].overflow
        call.wait_due = None
        if overflow is not None:
            call.overflows += 1
            self.enter_queue(call, overflow)
            return [self.call_wake(call)]
        call.state = "timed_out"
        return []

    def requeue(self, call: LifecycleCall) -> list[CallWake | AgentWake]:
        """Back to its place, unless its max wait passed while it rang."""
        if call.wait_expired:
            call.drop_offer()
            return self.max_wait_reached(call)
        return super().requeue(call)

    def timers(self) -> list[Timer]:
        return super().timers() + [
            Timer(c.wait_due, "wait", c.id) for c in self.calls.values()
            if c.wait_due is not None and c.state in ("queued", "offered")]

    def fire(self, timer: Timer) -> None:
        if timer.kind != "wait":
            return super().fire(timer)
        call = self.calls[timer.owner]
        call.wait_due = None
        if call.state == "queued":
            self.settle(self.max_wait_reached(call))
        else:
            call.wait_expired = True

    # operations: each returns the expected status
    def arrive_status(self, queue: str, external_id: str | None) -> int:
        if external_id is not None and external_id in self.external:
            return 200
        return 409 if self.full(queue) else 201

    def arrive(self, call_id: str, queue: str, priority: int, requirements: Req,
               external_id: str | None) -> None:
        call = LifecycleCall(call_id, queue, priority, requirements, self.now, self.now, 0,
                             external_id=external_id)
        self.calls[call_id] = call
        if external_id is not None:
            self.external[external_id] = call_id
        self.enter_queue(call, queue)
        self.settle([self.call_wake(call)])

    def patch(self, call: LifecycleCall, priority: int) -> int:
        if call.state != "queued":
            return 409
        call.priority = priority
        call.rank = self.rank(call.queue, call.arrived_ms, priority)
        self.settle([self.call_wake(call)])
        return 200


# The walk --------------------------------------------------------------------------------------

class LifecycleWalk(Walk[LifecycleCall]):
    """Also checks every reply, one call's own view now and then, and each queue's listing."""

    model: LifecycleModel
    AWAY_REASONS = (None, "break")
    CLOCK_STEPS = ClockSteps((0.0, 1.0, 5.0, 9.999, 10.0, 30.0, 0.001, 2.5), 0.75, (0, 20_000))

    def __init__(self, api: TenantApi, seed: int) -> None:
        super().__init__(api, seed)
        self.externals: list[str] = []
        self.listed: dict[str, list[str]] = {}

    async def setup(self, chosen: list[int] | None = None) -> None:
        """A random 3..5 of the agent pool (or the `chosen` ones)."""
        if chosen is None:
            count = self.rng.randint(3, len(AGENT_POOL))
            chosen = sorted(self.rng.sample(range(len(AGENT_POOL)), count))
        specs = [AGENT_POOL[i] for i in chosen]
        agents = [MAgent.of(spec) for spec in specs]
        self.model = LifecycleModel(await self.start(QUEUES, specs), agents)
        self.log.append(f"setup: agents {[a.id for a in agents]}")

    # operations with chosen arguments (the random walk and the scripted scenarios)
    async def do_arrive(self, queue: str, priority: int = 0, requirements: Req = (),
                        external: str | None = None) -> str | None:
        m = self.model
        body: Json = {"queue": queue, "priority": priority,
                      "requirements": requirements_json(requirements)}
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
        self.check_call(view, m.calls[call_id])
        return call_id

    async def do_state(self, agent_id: str, to: str,
                       reason: str | None = None) -> httpx.Response:
        before = self.model.agents[agent_id].state
        response = await super().do_state(agent_id, to, reason)
        view: Json = response.json()
        if response.status_code == 200:
            self.same(f"agent {agent_id} state in response", view["state"],
                      self.model.agents[agent_id].state)
        else:
            self.same(f"agent {agent_id} state in 409", view.get("state"), before)
        return response

    async def do_call(self, verb: str, call_id: str,
                      offer_id: str | None = None) -> httpx.Response:
        call = self.model.calls[call_id]
        before = call.state
        response = await super().do_call(verb, call_id, offer_id)
        self.check_reply(response, call, verb, before)
        return response

    async def do_patch(self, call_id: str, priority: int) -> None:
        call = self.model.calls[call_id]
        before = call.state
        expected = self.model.patch(call, priority)
        self.log.append(f"patch {call_id} ({before}) priority={priority}")
        response = await self.send("PATCH", f"/v1/calls/{call_id}", {"priority": priority})
        self.status(response, expected)
        self.check_reply(response, call, "patch", before)

    # random choices
    def operations(self) -> list[tuple[Op, int]]:
        return [(self.op_arrive, 20), (self.op_state, 16), (self.op_accept, 14),
                (self.op_reject, 6), (self.op_abandon, 6), (self.op_complete, 10),
                (self.op_advance, 22), (self.op_patch, 6)]

    def pick_call(self, states: tuple[str, ...]) -> LifecycleCall | None:
        """Mostly one in `states`, sometimes any call (the service must refuse)."""
        calls = list(self.model.calls.values())
        if not calls:
            return None
        preferred = [c for c in calls if c.state in states]
        if preferred and self.rng.random() < 0.85:
            return self.rng.choice(preferred)
        return self.rng.choice(calls)

    def offer_id_for(self, call: LifecycleCall) -> str:
        if call.offer_id is not None and self.rng.random() < 0.8:
            return call.offer_id
        stale = [*call.offer_ids, "o999999999999"]
        return self.rng.choice(stale)

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

    async def op_answer(self, verb: str) -> None:
        offered = any(c.state == "offered" for c in self.model.calls.values())
        if not offered and self.rng.random() < 0.6:
            return await self.op_state()
        call = self.pick_call(("offered",))
        if call is None:
            return await self.op_advance()
        await self.do_call(verb, call.id, self.offer_id_for(call))

    async def op_patch(self) -> None:
        call = self.pick_call(("queued",))
        if call is None:
            return await self.op_advance()
        await self.do_patch(call.id, self.rng.randint(0, 3))

    # comparison
    def check_call(self, view: Json, call: LifecycleCall) -> None:
        super().check_call(view, call)
        where = f"call {call.id}"
        self.same(f"{where} priority", view["priority"], call.priority)
        self.same(f"{where} overflows", view["overflows"], call.overflows)
        self.same(f"{where} arrived_at", ms_of(view["arrived_at"]), call.arrived_ms)
        if call.state != "queued":
            self.same(f"{where} waiting_reason", view["waiting_reason"], None)
            return
        reason, logged_in, eligible, available = self.model.waiting_counts(call)
        self.same(f"{where} waiting_reason", view["waiting_reason"], reason)
        self.same(f"{where} waiting counts",
                  (view["waiting"]["agents_logged_in"], view["waiting"]["agents_eligible"],
                   view["waiting"]["agents_eligible_available"]),
                  (logged_in, eligible, available))

    def learn_offer_id(self, where: str, call: LifecycleCall, offer_id: str) -> None:
        if offer_id in call.offer_ids:
            self.fail(f"{where}: offer id {offer_id} reused")
        super().learn_offer_id(where, call, offer_id)
        call.offer_ids.append(offer_id)

    def check_reply(self, response: httpx.Response, call: LifecycleCall, verb: str,
                    before: str) -> None:
        """A call operation's reply: the call's view, or on a 409 its unchanged state."""
        view: Json = response.json()
        if response.status_code == 200:
            self.check_call(view, call)
        else:
            self.same(f"{verb} {call.id}: state in 409", view.get("state"), before)

    def check_agent(self, view: Json, agent: MAgent) -> None:
        super().check_agent(view, agent)
        if agent.state == "reserved":
            assert agent.call_id is not None
            self.same(f"agent {agent.id} offer_id", view["offer_id"],
                      self.model.calls[agent.call_id].offer_id)

    async def check_all(self) -> None:
        await super().check_all()
        await self.check_queue_orders()
        # Invariant the model does not need to spell out: no eligible pair is left unrouted.
        for call in self.model.calls.values():
            if call.state == "queued" and self.model.waiting_counts(call)[3] > 0:
                self.fail(f"model left {call.id} waiting with an eligible agent available")

    async def check_queue_orders(self) -> None:
        # Positions already pin the order; the queue listing is read when it changed.
        for queue in self.model.queues:
            order = [c.id for c in self.model.waiting(queue)]
            if self.listed.get(queue) == order:
                continue
            listed = await self.get("/v1/calls", {"queue": queue, "limit": "1000"})
            self.same(f"queue {queue} routing order", [c["id"] for c in listed["calls"]], order)
            self.listed[queue] = order

    async def check_step(self) -> None:
        """The whole live state, and every third step one waiting or ringing call's own view."""
        await super().check_step()
        touched = [c.id for c in self.model.calls.values() if c.state in ("queued", "offered")]
        if touched and self.step % 3 == 0:
            call_id = self.rng.choice(touched)
            self.check_call(await self.get(f"/v1/calls/{call_id}"), self.model.calls[call_id])


@each_seed
async def test_random_walk_matches_model(tenant: TenantApi, seed: int) -> None:
    await LifecycleWalk(tenant, seed).run(STEPS)


# Scripted walks: timer ties where the firing order decides the outcome ---------------------------

async def scripted(tenant: TenantApi, agents: list[int]) -> LifecycleWalk:
    walk = LifecycleWalk(tenant, seed=-1)
    await walk.setup(agents)
    return walk


async def checked(walk: LifecycleWalk, *steps: Awaitable[object]) -> None:
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
