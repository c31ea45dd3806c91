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
    next_after: str | None = Field(description="The last id of this page (null when empty).")
