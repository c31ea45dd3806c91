from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import EventReader, RuntimeDep
from app.errors import invalid
from app.events import service
from app.events.schemas import EventPage

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get("", summary="Read the event stream after an id")
async def events(
    rt: RuntimeDep, who: EventReader,
    after: Annotated[str | None, Query(pattern=r"^\d{1,20}-\d{1,20}$",
                                       description="An event id; omit to start at the oldest.")]
    = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    if after is not None and any(int(part) >= 2**64 for part in after.split("-")):
        raise invalid("after", f"{after!r} is not an event id (each part must fit 64 bits)")
    return await service.page(rt, who.tenant, after, limit)
