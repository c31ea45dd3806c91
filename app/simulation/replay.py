"""Replay calls through the real engine on a manual-clock tenant, over the public HTTP API.

The driver knows each call's arrival time and handle time in advance (and, optionally, its
patience); the engine decides who takes which call and when. Time moves only by
`POST /v1/clock/advance`, straight to the next thing that happens: an arrival, the end of a
conversation or of its wrap-up, or a caller running out of patience. The wrap-up timers are
the engine's own; the driver only stops the clock where they end, so that a call connected
then is seen at that time. Offers are accepted at once (the queue's `auto_accept`). Any
client will do: the app in process (httpx's ASGI transport) or a server.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

# What the driver does at a moment, in this order at the same millisecond; WRAP_END only
# moves the clock there so that the agent's next call is seen connected when it is.
TALK_END, PATIENCE, ARRIVAL, WRAP_END = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Arrival:
    at_s: float  # after the start
    handle_s: float  # talk time once connected
    patience_s: float | None = None  # abandons if still waiting after this long
    priority: int = 0


@dataclass(slots=True)
class Outcome:
    """What happened to one call, and what the engine told it on arrival."""

    arrival: Arrival
    call_id: str = ""
    position: int | None = None
    estimated_wait_s: float | None = None
    aht_s: float | None = None  # the queue's recent handle time the engine knew on arrival
    arrived_ms: int = 0
    connected_ms: int | None = None
    abandoned_ms: int | None = None

    @property
    def wait_s(self) -> float | None:
        end = self.connected_ms if self.connected_ms is not None else self.abandoned_ms
        return None if end is None else (end - self.arrived_ms) / 1000


@dataclass
class Replay:
    http: httpx.AsyncClient
    api_key: str
    queue: str
    wrap_up_s: float = 0.0  # the queue's, so that the clock stops where agents free up
    outcomes: list[Outcome] = field(default_factory=list)
    _after: str | None = None
    # (time, order, kind, external id): what happens next, in time order
    _agenda: list[tuple[int, int, int, str]] = field(default_factory=list)
    _order: int = 0
    _by_ext: dict[str, Outcome] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    async def _call(self, method: str, path: str, json: Any = None,
                    params: dict[str, str] | None = None) -> Any:
        response = await self.http.request(method, path, json=json, params=params,
                                           headers=self.headers)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    async def now_ms(self) -> int:
        return _ms((await self._call("GET", "/v1/clock"))["now"])

    async def _advance_to(self, at_ms: int) -> None:
        await self._call("POST", "/v1/clock/advance", {"to": _iso(at_ms)})

    async def _connected(self) -> list[tuple[str, int]]:
        """Calls connected since the last look: (external id, when)."""
        out = []
        while True:
            params = {"types": "call.connected", "limit": "1000"}
            if self._after:
                params["after"] = self._after
            page = await self._call("GET", "/v1/events", params=params)
            for e in page["events"]:
                out.append((str(e["data"]["call"]["external_id"]), _ms(e["occurred_at"])))
            self._after = page["next_after"] or self._after
            if len(page["events"]) < 1000:
                return out

    async def run(self, arrivals: list[Arrival]) -> list[Outcome]:
        """Every call, start to end; outcomes in arrival order."""
        start = await self.now_ms()
        await self._connected()  # start reading events from here
        self.outcomes = [Outcome(a) for a in sorted(arrivals, key=lambda a: a.at_s)]
        self._by_ext = {f"r{i}": o for i, o in enumerate(self.outcomes)}
        for i, o in enumerate(self.outcomes):
            self._plan(start + round(o.arrival.at_s * 1000), ARRIVAL, f"r{i}")
        while self._agenda:
            at, _, kind, ext = heapq.heappop(self._agenda)
            await self._advance_to(at)
            await self._note_connections()
            o = self._by_ext[ext]
            if kind == ARRIVAL:
                await self._arrive(o, ext)
                if o.connected_ms is None and o.arrival.patience_s is not None:
                    self._plan(at + round(o.arrival.patience_s * 1000), PATIENCE, ext)
            elif kind == PATIENCE and o.connected_ms is None:
                await self._call("POST", f"/v1/calls/{o.call_id}/abandon")
                o.abandoned_ms = at
            elif kind == TALK_END:
                await self._call("POST", f"/v1/calls/{o.call_id}/complete", {})
                if self.wrap_up_s > 0:
                    self._plan(at + round(self.wrap_up_s * 1000), WRAP_END, ext)
            await self._note_connections()
        return self.outcomes

    def _plan(self, at_ms: int, kind: int, ext: str) -> None:
        self._order += 1
        heapq.heappush(self._agenda, (at_ms, self._order, kind, ext))

    async def _note_connections(self) -> None:
        """Calls the engine connected: their conversations end after their handle times."""
        for ext, when in await self._connected():
            o = self._by_ext[ext]
            o.connected_ms = when
            self._plan(when + round(o.arrival.handle_s * 1000), TALK_END, ext)

    async def _arrive(self, o: Outcome, ext: str) -> None:
        body = await self._call("POST", "/v1/calls", {
            "queue": self.queue, "external_id": ext, "priority": o.arrival.priority})
        o.call_id = str(body["id"])
        o.arrived_ms = _ms(body["arrived_at"])
        o.position = body["position"]
        o.estimated_wait_s = body["estimated_wait_s"]
        o.aht_s = (body.get("waiting") or {}).get("aht_s")


def _ms(value: str) -> int:
    return round(datetime.fromisoformat(value).timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
