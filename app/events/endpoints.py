from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from app.deps import EventReader, RuntimeDep
from app.errors import invalid
from app.events import service
from app.events.filters import MAX_PATTERNS, unknown_patterns
from app.events.schemas import STREAM_FORMAT, EventPage
from app.schemas import ID_PATTERN

router = APIRouter(prefix="/v1/events", tags=["events"])

EVENT_ID = r"^\d{1,20}-\d{1,20}$"
EVENT_ID_OR_0 = r"^0$|" + EVENT_ID  # where a stream starts: `0` is before the oldest event


def _check_id(field: str, event_id: str | None) -> str | None:
    if event_id is not None and any(int(part) >= 2**64 for part in event_id.split("-")):
        raise invalid(field, f"{event_id!r} is not an event id (each part must fit 64 bits)")
    return event_id


async def selection(
    types: Annotated[str | None, Query(
        description="Comma-separated type patterns: `call.offered`, `call.*`, `*`; omit for "
                    "every type.", examples=["call.*,agent.state_changed"])] = None,
    queue: Annotated[str | None, Query(
        pattern=ID_PATTERN, description="Only events about this queue (a call in it, moving "
                                        "from or to it, its configuration); agent events have "
                                        "none.")] = None,
) -> service.Selection:
    patterns = () if types is None else tuple(p.strip() for p in types.split(","))
    if len(patterns) > MAX_PATTERNS:
        raise invalid("types", f"at most {MAX_PATTERNS} patterns")
    if unknown := unknown_patterns(patterns):
        raise invalid("types", f"no event type matches {', '.join(map(repr, unknown))}")
    return service.Selection(patterns, queue)


Selected = Annotated[service.Selection, Depends(selection)]


@router.get("", summary="Read the event stream after an id")
async def events(
    rt: RuntimeDep, who: EventReader, selected: Selected,
    after: Annotated[str | None, Query(pattern=EVENT_ID,
                                       description="An event id; omit to start at the oldest.")]
    = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    after = _check_id("after", after)
    return await service.page(rt, who.tenant, after, limit, selected)


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


@router.get("/stream", summary="Follow the event stream (Server-Sent Events)",
            response_class=EventStreamResponse,
            responses={200: {"description": STREAM_FORMAT,
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def stream(
    request: Request, rt: RuntimeDep, who: EventReader, selected: Selected,
    after: Annotated[str | None, Query(
        pattern=EVENT_ID_OR_0,
        description="Start after this event id; `0` for the oldest. Omit for new events only.")]
    = None,
    last_event_id: Annotated[str | None, Header(
        alias="Last-Event-ID", pattern=EVENT_ID_OR_0,
        description="The id of the last event received; a reconnecting client sends it and "
                    "wins over `after`.")] = None,
) -> EventStreamResponse:
    """The tenant's events as they happen. Without `Last-Event-ID` or `after` the stream starts
    at its end (new events only). The same `types` and `queue` filters as polling apply."""
    last_event_id, after = _check_id("Last-Event-ID", last_event_id), _check_id("after", after)
    frames = await service.follow(rt, who.tenant, last_event_id or after, selected,
                                  request.is_disconnected)
    # no-cache and no proxy buffering: each frame must reach the client when it is sent.
    return EventStreamResponse(frames, headers={"Cache-Control": "no-cache",
                                                "X-Accel-Buffering": "no"})
