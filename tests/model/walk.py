"""The driver of a model-based walk: each operation goes to the service and to the reference
model, the status must match, and after every step the whole live state (every call, every
agent) must match the model.

A scenario subclasses `Walk` with its setup, its random choices (which operations, how often,
with which arguments) and whatever it compares beyond the shared fields. On a mismatch
`Mismatch` names the seed and the step and prints the operation log.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, NoReturn

import httpx
import pytest

from tests.model.entities import AgentSpec, MAgent, QueueSpec
from tests.model.reference import CallT, ReferenceModel
from tests.support import Json, TenantApi

Op = Callable[[], Awaitable[None]]

SEEDS = list(range(6))
STEPS = 150                      # steps of one seeded walk
each_seed = pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])


def ms_of(value: str | None) -> int | None:
    if value is None:
        return None
    return round(datetime.fromisoformat(value).timestamp() * 1000)


async def configure(api: TenantApi, queues: Sequence[QueueSpec],
                    agents: Sequence[AgentSpec]) -> None:
    for spec in queues:
        await api.put_queue(spec.id, **spec.config())
    for agent in agents:
        await api.put_agent(agent.id, skills=agent.skills, queues=agent.queues)


@dataclass(frozen=True)
class ClockSteps:
    """How a walk moves the clock: with probability `listed_share` by one of `listed_s`,
    otherwise by a random whole number of ms in `random_ms` (both ends included)."""

    listed_s: tuple[float, ...]
    listed_share: float
    random_ms: tuple[int, int]


class Mismatch(AssertionError):
    """The service and the reference model disagree."""


class Walk(ABC, Generic[CallT]):
    """One seeded walk (seed -1: a scripted one) on one tenant. A scenario narrows `model` to
    its own model class."""

    model: ReferenceModel[CallT, Any]
    CLOCK_STEPS: ClassVar[ClockSteps]
    AWAY_REASONS: ClassVar[tuple[str | None, ...]] = ()   # drawn from when going away

    def __init__(self, api: TenantApi, seed: int) -> None:
        self.api = api
        self.seed = seed
        self.rng = random.Random(seed)
        self.log: list[str] = []
        self.step = 0

    # plumbing
    def fail(self, what: str) -> NoReturn:
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
    @abstractmethod
    async def setup(self) -> None:
        """Configure the tenant and create `self.model`."""

    async def start(self, queues: Sequence[QueueSpec], agents: Sequence[AgentSpec]) -> int:
        """Configure the queues and agents; the tenant's clock (ms)."""
        await configure(self.api, queues, agents)
        return await self.api.clock_ms()

    # operations with chosen arguments (the random walk and the scripted scenarios)
    async def do_state(self, agent_id: str, to: str,
                       reason: str | None = None) -> httpx.Response:
        before = self.model.agents[agent_id].state
        self.log.append(f"agent {agent_id} {before} -> {to}"
                        + (f" reason={reason}" if reason else ""))
        expected = self.model.agent_state(agent_id, to, reason)
        body: Json = {"state": to, **({"reason": reason} if reason else {})}
        response = await self.send("POST", f"/v1/agents/{agent_id}/state", body)
        self.status(response, expected)
        return response

    async def do_call(self, verb: str, call_id: str,
                      offer_id: str | None = None) -> httpx.Response:
        """accept, reject (with `offer_id`, by default the current offer), abandon, complete."""
        m = self.model
        call = m.calls[call_id]
        before = call.state
        body: Json | None = None
        if verb == "accept":
            offer_id = offer_id or call.offer_id or "o-none"
            body, expected = {"offer_id": offer_id}, m.accept(call, offer_id)
        elif verb == "reject":
            offer_id = offer_id or call.offer_id or "o-none"
            body, expected = {"offer_id": offer_id}, m.reject(call, offer_id)
        elif verb == "abandon":
            expected = m.abandon(call)
        else:
            assert verb == "complete"
            body, expected = {"resolved": True}, m.complete(call)
        self.log.append(f"{verb} {call_id} ({before})" + (f" offer={offer_id}" if offer_id else ""))
        response = await self.send("POST", f"/v1/calls/{call_id}/{verb}", body)
        self.status(response, expected)
        return response

    async def do_advance(self, seconds: float) -> None:
        self.log.append(f"advance {seconds}")
        self.model.advance(seconds)
        response = await self.send("POST", "/v1/clock/advance", {"seconds": seconds})
        self.status(response, 200)
        self.same("clock after advance", ms_of(response.json()["now"]), self.model.now)

    # random choices
    @abstractmethod
    def operations(self) -> list[tuple[Op, int]]:
        """The walk's operations and their weights."""

    @abstractmethod
    def pick_call(self, states: tuple[str, ...]) -> CallT | None:
        """A call to act on, in one of `states` (or, as the scenario likes, any)."""

    @abstractmethod
    async def op_answer(self, verb: str) -> None:
        """Answer an offer: accept or reject."""

    async def op_state(self) -> None:
        agent_id = self.rng.choice(sorted(self.model.agents))
        to = self.rng.choice(["available", "available", "available", "away", "offline"])
        reason = self.rng.choice(self.AWAY_REASONS) if to == "away" and self.AWAY_REASONS else None
        await self.do_state(agent_id, to, reason)

    async def op_advance(self) -> None:
        steps = self.CLOCK_STEPS
        if self.rng.random() < steps.listed_share:
            seconds = self.rng.choice(steps.listed_s)
        else:
            seconds = self.rng.randint(*steps.random_ms) / 1000
        await self.do_advance(seconds)

    async def op_accept(self) -> None:
        await self.op_answer("accept")

    async def op_reject(self) -> None:
        await self.op_answer("reject")

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

    # comparison
    def check_call(self, view: Json, call: CallT) -> None:
        """A call's view against the model (a scenario adds its own fields)."""
        where = f"call {call.id}"
        self.same(f"{where} state", view["state"], call.state)
        self.same(f"{where} queue", view["queue"], call.queue)
        self.same(f"{where} position", view["position"], self.model.position(call))
        self.same(f"{where} missed_offers", view["missed_offers"], call.missed_offers)
        self.same(f"{where} agent_id", view["agent_id"], call.agent_id)
        self.same(f"{where} queued_at", ms_of(view["queued_at"]), call.entered_ms)
        self.check_offer(where, view["offer"], call)

    def check_offer(self, where: str, offer: Json | None, call: CallT) -> None:
        if call.state != "offered":
            self.same(f"{where} offer", offer, None)
            return
        if offer is None:
            self.fail(f"{where}: service shows no offer, model offered to {call.offer_agent}")
        self.same(f"{where} offer agent", offer["agent_id"], call.offer_agent)
        self.same(f"{where} offer expires", ms_of(offer["expires_at"]), call.offer_expires)
        if call.offer_id is None:
            self.learn_offer_id(where, call, str(offer["id"]))
        self.same(f"{where} offer id", offer["id"], call.offer_id)

    def learn_offer_id(self, where: str, call: CallT, offer_id: str) -> None:
        """The model offered without knowing the (opaque) id: take the service's."""
        call.offer_id = offer_id

    def check_agent(self, view: Json, agent: MAgent) -> None:
        where = f"agent {agent.id}"
        self.same(f"{where} state", view["state"], agent.state)
        self.same(f"{where} reason", view["reason"], agent.reason)
        self.same(f"{where} call_id", view["call_id"],
                  agent.call_id if agent.state in ("reserved", "busy") else None)
        self.same(f"{where} missed_offers_in_row", view["missed_offers_in_row"],
                  agent.missed_in_row)
        if agent.state == "available":
            self.same(f"{where} idle_since", ms_of(view["idle_since"]), agent.idle_since)

    async def check_all(self) -> None:
        """Every call and every agent the service shows against the model."""
        m = self.model
        views = {v["id"]: v for v in (await self.get("/v1/calls", {"limit": "1000"}))["calls"]}
        self.same("call ids", sorted(views), sorted(m.calls))
        for call in m.calls.values():
            self.check_call(views[call.id], call)
        agents = {a["id"]: a for a in (await self.get("/v1/agents"))["agents"]}
        for agent in m.agents.values():
            self.check_agent(agents[agent.id], agent)

    async def check_step(self) -> None:
        """What is checked after each step of the walk."""
        await self.check_all()

    async def run(self, steps: int) -> None:
        await self.setup()
        ops = self.operations()
        functions = [f for f, _ in ops]
        weights = [w for _, w in ops]
        for step in range(steps):
            self.step = step
            [op] = self.rng.choices(functions, weights)
            await op()
            await self.check_step()
