"""The tenant's event stream as the outside world sees it: calls rendered like the API's call
view, times as RFC 3339."""

from __future__ import annotations

from typing import Any

from app.calls.service import call_view
from app.clock import rfc3339, to_datetime
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


async def page(rt: Runtime, tenant: str, after: str | None, limit: int) -> EventPage:
    events = [render(e) for e in await reads.events(rt.redis, tenant, after, limit)]
    return EventPage(events=events, next_after=events[-1].id if events else after)
