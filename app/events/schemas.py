from __future__ import annotations

from pydantic import BaseModel, Field

from app.schemas import Timestamp


class Event(BaseModel):
    id: str = Field(description="Stream id; pass it as `after` to read on from here.")
    type: str
    occurred_at: Timestamp
    data: dict[str, object]


class EventPage(BaseModel):
    events: list[Event]
    next_after: str | None = Field(
        description="The id of the last event read, selected by the filters or not; pass it as "
                    "`after` for the next page. The stream's end is reached when it comes back "
                    "unchanged (null: nothing read yet).")


STREAM_FORMAT = """Server-Sent Events, one frame per event:

    id: <event id>
    event: <event type>
    data: <the event as one JSON line, as in GET /v1/events>

A comment line `: heartbeat` is sent after `sse_heartbeat_s` without a frame. A client that
reconnects with `Last-Event-ID` receives the events it missed, in order."""
