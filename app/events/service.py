"""The tenant's event stream as the outside world sees it: calls rendered like the API's call
view, times as RFC 3339; read by page (polling) or followed as Server-Sent Events."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.calls.service import call_view
from app.clock import rfc3339, to_datetime
from app.events.filters import matches
from app.events.schemas import Event, EventPage
from app.routing.records import CallRecord
from app.runtime import Runtime
from app.store import reads
from app.store.reads import StoredEvent


def _public(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in ("member_of", "eligible", "rank", "entry"):
                continue
            if k.endswith("_ms") and isinstance(v, int | float):
                name = k[:-3]
                out[name if name.endswith("_since") else name + "_at"] = rfc3339(v)
            else:
                out[k] = _public(v)
        return out
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def render(event: StoredEvent) -> Event:
    call = event.data.get("call")
    data: dict[str, Any] = _public({k: v for k, v in event.data.items() if k != "call"})
    if isinstance(call, dict):
        data["call"] = call_view(CallRecord.parse(call)).model_dump(mode="json")
    return Event(id=event.id, type=event.type, occurred_at=to_datetime(event.at_ms), data=data)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which events a reader wants: type patterns (none: every type) and a queue (none: any)."""

    types: tuple[str, ...] = ()
    queue: str | None = None

    def selects(self, event: StoredEvent) -> bool:
        return matches(self.types, event.type) and (self.queue is None
                                                    or self.queue in _queues(event.data))


def _queues(data: dict[str, Any]) -> set[object]:
    """The queues an event concerns; agent events concern none."""
    call = data.get("call")
    return {data.get("queue"), data.get("from_queue"),
            call.get("queue") if isinstance(call, dict) else None} - {None}


# One filtered poll reads at most this many events per event asked for, so a rare match in a
# long stream costs a bounded request; the reader goes on from `next_after`.
SCAN_PER_EVENT = 10


async def page(rt: Runtime, tenant: str, after: str | None, limit: int,
               selection: Selection = Selection()) -> EventPage:
    """Up to `limit` selected events after `after`. `next_after` is the last event read,
    selected or not, so the next page neither skips nor repeats."""
    found: list[Event] = []
    position, budget = after, limit * SCAN_PER_EVENT
    while len(found) < limit and budget > 0:
        size = min(limit, budget)
        batch = await reads.events(rt.redis, tenant, position, size)
        for event in batch:
            position = event.id
            if selection.selects(event):
                found.append(render(event))
                if len(found) == limit:
                    break
        if len(batch) < size:
            break  # the end of the stream
        budget -= size
    return EventPage(events=found, next_after=position)


def frame(event: Event) -> str:
    """One Server-Sent Event; the data is one line (JSON escapes newlines)."""
    return f"id: {event.id}\nevent: {event.type}\ndata: {event.model_dump_json()}\n\n"


HEARTBEAT = ": heartbeat\n\n"
STREAM_BATCH = 100
class Drain:
    """Started when the process begins to drain (`switchboard serve` on SIGTERM): open
    streams end. A plain flag with per-loop waiters, so it serves any event loop."""

    def __init__(self) -> None:
        self.started = False
        self._waiters: set[asyncio.Future[None]] = set()

    def start(self) -> None:
        self.started = True
        for waiter in list(self._waiters):
            waiter.get_loop().call_soon_threadsafe(_wake, waiter)

    async def wait(self) -> None:
        if self.started:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


DRAINING = Drain()


async def follow(rt: Runtime, tenant: str, after: str | None, selection: Selection,
                 disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[str]:
    """Selected events after `after` as SSE frames, as they happen. Without `after` the stream
    starts at its end as of this call (not of the first read, which may come later)."""
    rt.streams.check()
    position = after if after is not None else await reads.last_event_id(rt.redis, tenant)
    return _frames(rt, tenant, position, selection, disconnected)


async def _until_draining(read: Awaitable[list[StoredEvent]]) -> list[StoredEvent]:
    """The read's events, or none as soon as the process starts draining."""
    reading = asyncio.ensure_future(read)
    draining = asyncio.ensure_future(DRAINING.wait())
    try:
        await asyncio.wait((reading, draining), return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when the request itself is cancelled (the client went away)
        draining.cancel()
        finished = reading.done()
        if not finished:
            reading.cancel()
    return reading.result() if finished else []


async def _frames(rt: Runtime, tenant: str, position: str, selection: Selection,
                  disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[str]:
    """Frames, with a heartbeat comment after `sse_heartbeat_s` without one; ends when the
    client goes (a disconnect seen, or the task cancelled while it waits)."""
    heartbeat_s = rt.settings.sse_heartbeat_s
    loop = asyncio.get_running_loop()
    last_sent_s = loop.time()
    with rt.streams.slot() as served:
        while served and not DRAINING.started and not await disconnected():
            wait_s = last_sent_s + heartbeat_s - loop.time()
            if wait_s <= 0:
                yield HEARTBEAT
                last_sent_s = loop.time()
                continue
            batch = await _until_draining(reads.wait_events(
                rt.streams.redis, tenant, position, STREAM_BATCH, math.ceil(wait_s * 1000)))
            frames = []
            for event in batch:
                position = event.id
                if selection.selects(event):
                    frames.append(frame(render(event)))
            if frames:
                yield "".join(frames)
                last_sent_s = loop.time()
