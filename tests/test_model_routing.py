"""A model-based test of routing across queues: seeded random walks on a manual-clock tenant with
three queues (longest-idle with relaxation, skills, priority), agents of different skills and
memberships, calls with their own requirements and sometimes a preferred agent. Every step the
whole live state (who is offered which call, every agent's state) is compared with an in-memory
reference model written from docs/routing.md and docs/strategies.md:

- eligibility = the agent is in the queue's index (member, meets the queue's fully relaxed
  requirements) and meets the queue's and the call's requirements at the call's relax step
  (step k: levels lowered by the sum of the deltas of steps 1..k, never below 1, dropped skills
  removed; steps count from entering the queue);
- a preferred agent holds the call alone (whatever membership and requirements) until its
  timeout (`call.preference_expired`) or until the call is offered to anyone;
- agent for a call: longest-idle/priority → earliest idle_since, id; skills → highest sum of
  levels on the queue's + call's required skills (each once), then longest idle, id;
- call for a free agent, across its queues: the strategy of the queue holding the best-ranked
  eligible call decides (rank = arrival − priority × weight, strict with a null weight);
- a reject / expiry puts the call back with its rank and relax step, the agent available with
  idle_since = now; wake-ups of one request are routed in the order they were made, each with
  the candidates read when it was made;
- timers due at the same ms fire in the order of their members (offer < pref < relax < wrap,
  then call / agent id), each routed before the next.

What every scenario shares (offers, agent states, timers, the driver and the comparison) is in
`tests/model/`; this file adds the routing rules above, the relaxed / preference_expired events,
and a check at the end that the walk exercised offers, relaxation and expired preferences.

On a mismatch the failure names the seed and the step and prints the operation log; rerun one
seed with `pytest tests/test_model_routing.py -k seed2`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from tests.model.entities import (
    AgentSpec,
    CallWake,
    MAgent,
    MCall,
    QueueSpec,
    RelaxStep,
    Req,
    meets,
    requirements_json,
)
from tests.model.reference import ReferenceModel, Timer
from tests.model.walk import STEPS, ClockSteps, Op, Walk, configure, each_seed, ms_of
from tests.support import Json, TenantApi

OFFER_TIMEOUT_MS = 10_000
MAX_MISSED = 3
CANDIDATE_LIMIT = 8          # SWITCHBOARD_CANDIDATE_LIMIT's default: one page per queue
LIVE_CAP = 7                 # live calls per queue kept below one page (see op_arrive)
MAX_PAGES = 8

QUEUES = [
    QueueSpec("qli", "longest-idle", requirements=(("billing", 5),),
              relax=(RelaxStep(20, delta=-2), RelaxStep(40, drop=("billing",))), max_size=5,
              offer_timeout_ms=OFFER_TIMEOUT_MS, max_missed=MAX_MISSED),
    QueueSpec("qsk", "skills", weight_s=30, requirements=(("spanish", 2),), max_size=5,
              offer_timeout_ms=OFFER_TIMEOUT_MS, wrap_up_ms=2_000, max_missed=MAX_MISSED),
    QueueSpec("qpr", "priority", weight_s=10, max_size=5,
              offer_timeout_ms=OFFER_TIMEOUT_MS, max_missed=MAX_MISSED),
]
AGENTS = [
    AgentSpec("a1", {"billing": 6, "spanish": 3}, []),
    AgentSpec("a2", {"billing": 3, "spanish": 6}, ["qli", "qsk"]),
    AgentSpec("a3", {"billing": 4}, ["qli"]),
    AgentSpec("a4", {"billing": 1, "spanish": 8}, ["qsk", "qpr"]),
    AgentSpec("a5", {"billing": 2, "spanish": 2}, []),
    AgentSpec("a6", {"french": 5}, ["qpr"]),
]
CALL_REQUIREMENTS: dict[str, list[Req]] = {
    "qli": [(), (), (("spanish", 4),), (("billing", 7),), (("spanish", 2), ("billing", 3))],
    "qsk": [(), (), (("billing", 2),), (("spanish", 7),), (("french", 1),)],
    "qpr": [(), (), (("spanish", 3),), (("french", 4),), (("billing", 2),)],
}
PREFERENCE_TIMEOUTS = [2.5, 5, 15, 30]


# The reference model ---------------------------------------------------------------------------

@dataclass
class RoutingCall(MCall):
    relax_step: int = 0
    target: str | None = None           # the preferred agent while it holds the call
    preferred_until: int | None = None


@dataclass(frozen=True)
class SnapCall:
    id: str
    queue: str
    rank: int
    arrived_ms: int
    eligible: bool                   # for the woken agent, as read with the wake-up


@dataclass(frozen=True)
class AgentWake:
    agent_id: str
    calls: tuple[SnapCall, ...]
    strategies: tuple[tuple[str, str], ...]


def proficiency(agent: MAgent, requirements: Req) -> int:
    return sum(agent.skills.get(s, 0) for s in {s for s, _ in requirements})


class RoutingModel(ReferenceModel[RoutingCall, AgentWake]):
    def __init__(self, now_ms: int) -> None:
        super().__init__(now_ms, QUEUES, [MAgent.of(spec) for spec in AGENTS])
        self.events: list[tuple[str, str, int | None]] = []   # relaxed / preference_expired
        self.seen: Counter[str] = Counter()    # what the walk exercised (see test below)

    # eligibility
    def requirements_at(self, call: RoutingCall, step: int) -> Req:
        """The queue's and the call's requirements at relax step `step`."""
        spec = self.queues[call.queue]
        return spec.relaxed(spec.requirements, step) + spec.relaxed(call.requirements, step)

    def needs(self, call_queue: str, call_requirements: Req) -> Req:
        return call_requirements + self.queues[call_queue].requirements

    def eligible(self, call: RoutingCall, agent: MAgent) -> bool:
        if call.target is not None:
            return call.target == agent.id
        return (call.queue in self.indexed_queues(agent)
                and meets(agent, self.requirements_at(call, call.relax_step)))

    def live(self, queue: str) -> int:
        return sum(c.queue == queue and c.state in ("queued", "offered")
                   for c in self.calls.values())

    # wake-ups, read when made
    def call_wake(self, call: RoutingCall) -> CallWake:
        if call.target is not None:
            target = self.agents[call.target]
            return CallWake(call.id, (target.id,) if target.state == "available" else ())
        return super().call_wake(call)

    def agent_wake(self, agent: MAgent, targeted: bool = True) -> AgentWake:
        queues = self.indexed_queues(agent)
        seen: dict[str, RoutingCall] = {}
        for q in queues:
            for c in self.waiting(q)[:CANDIDATE_LIMIT]:
                seen.setdefault(c.id, c)
        if targeted:
            held = sorted((c for c in self.calls.values()
                           if c.state == "queued" and c.target == agent.id), key=lambda c: c.id)
            for c in held[:CANDIDATE_LIMIT]:
                seen.setdefault(c.id, c)
        calls = tuple(SnapCall(c.id, c.queue, c.rank, c.arrived_ms, self.eligible(c, agent))
                      for c in seen.values())
        strategies = tuple((q, self.queues[q].strategy) for q in queues)
        return AgentWake(agent.id, calls, strategies)

    # routing
    def agent_order(self, call: RoutingCall) -> Callable[[MAgent], tuple[int, int, str]]:
        skills = self.queues[call.queue].strategy == "skills"
        needs = self.needs(call.queue, call.requirements)

        def key(a: MAgent) -> tuple[int, int, str]:
            return (-proficiency(a, needs) if skills else 0, a.idle_since or 0, a.id)
        return key

    def route_call(self, wake: CallWake) -> None:
        for _ in range(MAX_PAGES):
            call = self.calls[wake.call_id]
            if call.state != "queued":
                return
            candidates = [self.agents[a] for a in wake.agents
                          if self.eligible(call, self.agents[a])]
            if not candidates:
                return                      # fewer agents than one page: all were looked at
            ranked = sorted(candidates, key=self.agent_order(call))
            free = [a for a in ranked if a.state == "available"]
            if free and free[0] != min(free, key=lambda a: (a.idle_since or 0, a.id)):
                self.seen["skills chose other than longest idle"] += 1
            if free:
                self.claim(call, free[0])
                return
            wake = self.call_wake(call)     # all taken meanwhile: a fresh page

    def route_agent(self, wake: AgentWake) -> None:
        for _ in range(MAX_PAGES):
            agent = self.agents[wake.agent_id]
            if agent.state != "available":
                return
            rest = [c for c in wake.calls if c.eligible]
            if not rest:
                return                      # fewer calls than one page per queue
            ranked: list[SnapCall] = []
            while rest:
                head = min(rest, key=lambda c: (c.rank, c.arrived_ms, c.id))
                # The strategy of the queue holding the best-ranked eligible call decides,
                # also for a held call of a queue the agent is not indexed in.
                if self.queues[head.queue].strategy == "skills":
                    pick = min(rest, key=lambda c: (
                        -proficiency(agent, self.needs(c.queue, self.calls[c.id].requirements)),
                        c.rank, c.arrived_ms, c.id))
                    if not ranked and pick is not head:
                        self.seen["free agent: skills over rank"] += 1
                else:
                    pick = head
                ranked.append(pick)
                rest.remove(pick)
            for snap in ranked:
                call = self.calls[snap.id]
                if call.state == "queued" and self.eligible(call, agent):
                    self.claim(call, agent)
                    return
            wake = self.agent_wake(agent, targeted=False)   # a fresh page (peek)

    def claim(self, call: RoutingCall, agent: MAgent) -> None:
        """An offer ends the preferred agent's hold."""
        self.seen["offer"] += 1
        if call.target is not None:
            self.seen["offer to preferred agent"] += 1
        elif not meets(agent, self.requirements_at(call, 0)):
            self.seen["offer thanks to relaxation"] += 1
        call.target = call.preferred_until = None
        super().claim(call, agent)

    # timers: a preferred agent's hold ends, a relax step passes
    def timers(self) -> list[Timer]:
        out = super().timers()
        for c in self.calls.values():
            if c.state == "queued" and c.preferred_until is not None:
                out.append(Timer(c.preferred_until, "pref", c.id))
            steps = self.queues[c.queue].relax
            if c.state in ("queued", "offered") and c.relax_step < len(steps):
                out.append(Timer(c.entered_ms + steps[c.relax_step].after_s * 1000, "relax",
                                 c.id))
        return out

    def fire(self, timer: Timer) -> None:
        if timer.kind == "pref":
            call = self.calls[timer.owner]
            call.target = call.preferred_until = None
            self.events.append(("call.preference_expired", call.id, None))
            self.seen["preference expired"] += 1
            self.settle([self.call_wake(call)])
        elif timer.kind == "relax":
            call = self.calls[timer.owner]
            call.relax_step += 1
            self.events.append(("call.relaxed", call.id, call.relax_step))
            self.seen["relaxed"] += 1
            if call.state == "queued":
                self.settle([self.call_wake(call)])
        else:
            super().fire(timer)

    # operations: each returns the expected status
    def arrive_status(self, queue: str) -> int:
        return 409 if self.full(queue) else 201

    def arrive(self, call_id: str, queue: str, priority: int, requirements: Req,
               preferred: tuple[str, float] | None) -> None:
        call = RoutingCall(call_id, queue, priority, requirements, self.now, self.now,
                           self.rank(queue, self.now, priority))
        if preferred is not None:
            call.target = preferred[0]
            call.preferred_until = self.now + round(preferred[1] * 1000)
        self.calls[call_id] = call
        self.settle([self.call_wake(call)])


# The walk --------------------------------------------------------------------------------------

class RoutingWalk(Walk[RoutingCall]):
    """Also checks the relaxed / preference_expired events and that the walk exercised the
    rules at all."""

    model: RoutingModel
    CLOCK_STEPS = ClockSteps((2.0, 5.0, 10.0, 20.0), 0.2, (1, 14_000))

    async def setup(self) -> None:
        self.model = RoutingModel(await self.start(QUEUES, AGENTS))
        self.log.append(f"setup at {self.model.now}")

    # operations with chosen arguments
    async def do_arrive(self, queue: str, priority: int = 0, requirements: Req = (),
                        preferred: tuple[str, float] | None = None) -> str | None:
        body: Json = {"queue": queue, "priority": priority,
                      "requirements": requirements_json(requirements)}
        if preferred is not None:
            body["preferred_agent"] = {"agent_id": preferred[0], "timeout_s": preferred[1]}
        self.log.append(f"arrive queue={queue} priority={priority} requirements="
                        f"{list(requirements)} preferred={preferred}")
        expected = self.model.arrive_status(queue)
        response = await self.send("POST", "/v1/calls", body)
        self.status(response, expected)
        if expected != 201:
            return None
        call_id = str(response.json()["id"])
        self.log[-1] += f" -> {call_id}"
        self.model.arrive(call_id, queue, priority, requirements, preferred)
        return call_id

    # random choices
    def operations(self) -> list[tuple[Op, int]]:
        return [(self.op_arrive, 22), (self.op_state, 16), (self.op_accept, 13),
                (self.op_reject, 8), (self.op_abandon, 5), (self.op_complete, 12),
                (self.op_advance, 24)]

    def pick_call(self, states: tuple[str, ...]) -> RoutingCall | None:
        found = [c for c in self.model.calls.values() if c.state in states]
        return self.rng.choice(found) if found else None

    async def op_arrive(self) -> None:
        queue = self.rng.choice([q.id for q in QUEUES])
        if self.model.live(queue) >= LIVE_CAP:
            # Keep every queue within one candidate page (strategies see the first page only;
            # docs/strategies.md "Limits today").
            return await self.op_advance()
        priority = self.rng.randint(0, 2)
        requirements = self.rng.choice(CALL_REQUIREMENTS[queue])
        preferred: tuple[str, float] | None = None
        if self.rng.random() < 0.4:
            preferred = (self.rng.choice([a.id for a in AGENTS]),
                         self.rng.choice(PREFERENCE_TIMEOUTS))
        await self.do_arrive(queue, priority, requirements, preferred)

    async def op_answer(self, verb: str) -> None:
        call = self.pick_call(("offered",))
        if call is None:
            return await self.op_state()
        stale = self.rng.random() < 0.08
        await self.do_call(verb, call.id, "o-stale" if stale else call.offer_id)

    # comparison
    def check_call(self, view: Json, call: RoutingCall) -> None:
        super().check_call(view, call)
        # A hold is shown while the call waits; an ended call holds nothing.
        where = f"call {call.id}"
        held = call.state == "queued"
        self.same(f"{where} preferred_agent_id", view["preferred_agent_id"],
                  call.target if held else None)
        self.same(f"{where} preferred_until", ms_of(view["preferred_until"]),
                  call.preferred_until if held else None)

    async def check_events(self) -> None:
        seen: list[tuple[str, str, int | None]] = []
        for e in await self.api.events({"call.relaxed", "call.preference_expired"}):
            step = e["data"].get("step") if e["type"] == "call.relaxed" else None
            seen.append((e["type"], e["data"]["call"]["id"], step))
        self.same("relaxed / preference_expired events", seen, self.model.events)

    async def run(self, steps: int) -> None:
        await super().run(steps)
        await self.check_events()
        seen = self.model.seen
        if not (seen["offer"] and seen["relaxed"] and seen["preference expired"]):
            self.fail(f"the walk exercised too little: {dict(seen)}")


@each_seed
async def test_routing_walk_matches_model(tenant: TenantApi, seed: int) -> None:
    await RoutingWalk(tenant, seed).run(STEPS)


# Scripted: the rules the walk relies on, one at a time -------------------------------------------

async def scripted(tenant: TenantApi) -> RoutingWalk:
    walk = RoutingWalk(tenant, seed=-1)
    await walk.setup()
    return walk


async def test_relaxation_widens_eligibility_step_by_step(tenant: TenantApi) -> None:
    """qli needs billing 5 (a1 only), billing 3 after 20 s (a2, a3), nothing after 40 s (a5)."""
    w = await scripted(tenant)
    for agent in ("a5", "a3", "a2"):
        await w.do_state(agent, "available")
        await w.do_advance(1)
    c = await w.do_arrive("qli")
    assert c is not None
    await w.check_all()
    assert w.model.calls[c].state == "queued"
    await w.do_advance(20)
    await w.check_all()
    assert w.model.calls[c].offer_agent == "a3"     # longest idle of a3, a2
    await w.do_call("reject", c)
    await w.check_all()
    assert w.model.calls[c].offer_agent == "a2"
    await w.do_call("reject", c)                    # a3 then a2 at the back: a3 again
    await w.check_all()
    await w.do_state("a3", "away")                  # rescinded: a2 (a5 lacks billing 3)
    await w.check_all()
    assert w.model.calls[c].offer_agent == "a2"
    await w.do_state("a2", "away")
    await w.check_all()
    await w.do_advance(20)                          # step 2 at 40 s drops billing: a5
    await w.check_all()
    assert w.model.calls[c].offer_agent == "a5"
    await w.check_events()


async def test_preferred_agent_holds_until_timeout(tenant: TenantApi) -> None:
    """a6 (not a member of qsk, no spanish) is preferred: it holds the call alone; once the
    hold expires the skills strategy picks a4 (spanish 8) over a1."""
    w = await scripted(tenant)
    await w.do_state("a1", "available")
    await w.do_state("a4", "available")
    c = await w.do_arrive("qsk", preferred=("a6", 5))
    assert c is not None
    await w.check_all()
    await w.do_advance(2)
    await w.do_state("a6", "available")
    await w.check_all()
    assert w.model.calls[c].offer_agent == "a6"
    await w.do_call("reject", c)                    # the hold is over: skills decides
    await w.check_all()
    assert w.model.calls[c].offer_agent == "a4"
    c2 = await w.do_arrive("qsk", preferred=("a3", 5))
    assert c2 is not None
    await w.do_advance(5)
    await w.check_all()
    assert w.model.calls[c2].offer_agent == "a1"
    await w.check_events()


async def test_held_call_of_a_skills_queue_uses_skills_for_the_free_agent(
        tenant: TenantApi) -> None:
    """a6 (qpr only, french 5) is preferred for a qsk call s (best rank, needs spanish: 0 for
    a6); a qpr call p needs french (5 for a6). The best-ranked eligible call is s, in the skills
    queue, so skills decides: a6 serves p best and takes it."""
    await configure(tenant, QUEUES, [a for a in AGENTS if a.id == "a6"])
    p = await tenant.arrive("qpr", requirements=[{"skill": "french", "min_level": 4}])
    await tenant.advance(1)
    s = await tenant.arrive("qsk", priority=2, preferred_agent={"agent_id": "a6", "timeout_s": 30})
    await tenant.state("a6", "available")
    assert (await tenant.call(s["id"]))["state"] == "queued"
    assert (await tenant.call(p["id"]))["offer"]["agent_id"] == "a6"
