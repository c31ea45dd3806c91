"""The two ways a simulation reaches the engine: in process (the service functions the HTTP
endpoints call, on a runtime of its own) or over HTTP to a running server. Both speak the
public API's bodies, so a scenario behaves the same either way."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel

from app.agents import service as agents
from app.agents.schemas import AgentConfig, AgentStateChange
from app.calls import service as calls
from app.calls.schemas import CallCreate, Complete, OfferAnswer
from app.clock import rfc3339
from app.errors import SwitchboardError
from app.queues import service as queues
from app.queues.schemas import QueueConfig
from app.runtime import Runtime
from app.store import reads
from app.timers.service import fire_due

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SeenEvent:
    type: str
    at_ms: int
    data: Json


class Refused(Exception):
    """The engine said no (a 4xx): the simulation asked for something no longer possible,
    e.g. accepting an offer that has just expired."""


class Engine(Protocol):
    async def put_queue(self, queue_id: str, body: Json) -> None: ...
    async def put_agent(self, agent_id: str, body: Json) -> None: ...
    async def set_state(self, agent_id: str, body: Json) -> None: ...
    async def arrive(self, body: Json) -> Json: ...
    async def accept(self, call_id: str, offer_id: str) -> None: ...
    async def abandon(self, call_id: str) -> None: ...
    async def complete(self, call_id: str) -> None: ...
    async def clock(self) -> tuple[int, int | None]:
        """(now, the next timer's due time or None), in epoch ms."""
        ...
    async def advance_to(self, at_ms: int) -> None: ...
    async def events(self) -> list[SeenEvent]:
        """Events since the last call (the first call starts from now)."""
        ...


M = TypeVar("M", bound=BaseModel)


def _body(model: type[M], body: Json) -> M:
    """Parsed exactly as the HTTP endpoint parses it."""
    return model.model_validate_json(json.dumps(body))


class InProcess:
    """The engine on a runtime of this process, one manual-clock tenant."""

    def __init__(self, rt: Runtime, tenant: str) -> None:
        self.rt = rt
        self.tenant = tenant
        self._after: str | None = None
        self._now: int | None = None
        # The first timer, read with the events after the last step; None once anything
        # has changed since (every verb, advancing the clock).
        self._first: tuple[tuple[str, int] | None] | None = None

    async def _do(self, work: Any) -> Any:
        self._first = None
        try:
            return await work
        except SwitchboardError as e:
            if 400 <= e.status < 500:
                raise Refused(f"{e.slug}: {e.detail}") from None
            raise

    async def put_queue(self, queue_id: str, body: Json) -> None:
        await self._do(queues.put_queue(self.rt, self.tenant, queue_id,
                                        _body(QueueConfig, body)))

    async def put_agent(self, agent_id: str, body: Json) -> None:
        await self._do(agents.put_agent(self.rt, self.tenant, agent_id,
                                        _body(AgentConfig, body)))

    async def set_state(self, agent_id: str, body: Json) -> None:
        await self._do(agents.set_state(self.rt, self.tenant, agent_id,
                                        _body(AgentStateChange, body)))

    async def arrive(self, body: Json) -> Json:
        view, _ = await self._do(calls.create_call(self.rt, self.tenant,
                                                   _body(CallCreate, body), explain=False))
        return dict(view.model_dump(mode="json"))

    async def accept(self, call_id: str, offer_id: str) -> None:
        await self._do(calls.accept(self.rt, self.tenant, call_id,
                                    OfferAnswer(offer_id=offer_id)))

    async def abandon(self, call_id: str) -> None:
        await self._do(calls.abandon(self.rt, self.tenant, call_id))

    async def complete(self, call_id: str) -> None:
        await self._do(calls.complete(self.rt, self.tenant, call_id, Complete()))

    async def clock(self) -> tuple[int, int | None]:
        if self._now is None:  # only this run moves the clock
            self._now = await reads.tenant_now_ms(self.rt.redis, self.tenant,
                                                  self.rt.clock.now_ms())
        if self._first is None:
            self._first = (await reads.first_timer(self.rt.redis, self.tenant),)
        first = self._first[0]
        return self._now, None if first is None else first[1]

    async def advance_to(self, at_ms: int) -> None:
        """What `POST /v1/clock/advance` does for a manual clock, without reading back what
        this run already knows."""
        self._first = None
        await fire_due(self.rt, self.tenant, at_ms, manual=True)
        self._now = at_ms

    async def events(self) -> list[SeenEvent]:
        """The new events, and the first timer read in the same round trip: `clock` (which
        the run asks next) needs no other while nothing has changed."""
        if self._after is None:
            self._after = await reads.last_event_id(self.rt.redis, self.tenant)
            return []
        out: list[SeenEvent] = []
        while True:
            page, first = await reads.events_and_first_timer(
                self.rt.redis, self.tenant, self._after, 1000)
            self._first = (first,)
            out.extend(SeenEvent(e.type, e.at_ms, e.data) for e in page)
            if page:
                self._after = page[-1].id
            if len(page) < 1000:
                return out


class OverHttp:
    """A running server, through its public API with a tenant key."""

    def __init__(self, http: httpx.AsyncClient, api_key: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self._after: str | None = None

    async def _call(self, method: str, path: str, body: Any = None,
                    params: dict[str, str] | None = None) -> Any:
        response = await self.http.request(method, path, json=body, params=params,
                                           headers=self.headers)
        if 400 <= response.status_code < 500:
            raise Refused(f"{method} {path}: {response.status_code} {response.text}")
        response.raise_for_status()
        return response.json() if response.content else None

    async def put_queue(self, queue_id: str, body: Json) -> None:
        await self._call("PUT", f"/v1/queues/{queue_id}", body)

    async def put_agent(self, agent_id: str, body: Json) -> None:
        await self._call("PUT", f"/v1/agents/{agent_id}", body)

    async def set_state(self, agent_id: str, body: Json) -> None:
        await self._call("POST", f"/v1/agents/{agent_id}/state", body)

    async def arrive(self, body: Json) -> Json:
        return dict(await self._call("POST", "/v1/calls", body))

    async def accept(self, call_id: str, offer_id: str) -> None:
        await self._call("POST", f"/v1/calls/{call_id}/accept", {"offer_id": offer_id})

    async def abandon(self, call_id: str) -> None:
        await self._call("POST", f"/v1/calls/{call_id}/abandon")

    async def complete(self, call_id: str) -> None:
        await self._call("POST", f"/v1/calls/{call_id}/complete", {})

    async def clock(self) -> tuple[int, int | None]:
        view = await self._call("GET", "/v1/clock")
        if view["mode"] != "manual":
            raise Refused("the tenant's clock is not manual: simulations need a manual clock")
        nxt = view.get("next_timer_at")
        return _ms(view["now"]), None if nxt is None else _ms(nxt)

    async def advance_to(self, at_ms: int) -> None:
        await self._call("POST", "/v1/clock/advance", {"to": rfc3339(at_ms)})

    async def events(self) -> list[SeenEvent]:
        if self._after is None:
            page = await self._call("GET", "/v1/events", params={"limit": "1"})
            self._after = page["next_after"] or "0-0"
            while page["events"]:
                page = await self._call("GET", "/v1/events",
                                        params={"after": self._after, "limit": "1000"})
                self._after = page["next_after"] or self._after
            return []
        out: list[SeenEvent] = []
        while True:
            page = await self._call("GET", "/v1/events",
                                    params={"after": self._after, "limit": "1000"})
            out.extend(SeenEvent(e["type"], _ms(e["occurred_at"]), e["data"])
                       for e in page["events"])
            self._after = page["next_after"] or self._after
            if len(page["events"]) < 1000:
                return out


def _ms(value: str) -> int:
    return round(datetime.fromisoformat(value).timestamp() * 1000)
