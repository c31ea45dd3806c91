from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Event(BaseModel):
    id: str = Field(description="Stream id; pass it as `after` to read on from here.")
    type: str
    occurred_at: datetime
    data: dict[str, object]


class EventPage(BaseModel):
    events: list[Event]
    next_after: str | None = Field(description="The last id of this page (null when empty).")
