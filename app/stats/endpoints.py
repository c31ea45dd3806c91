from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.deps import Reader, RuntimeDep
from app.schemas import ID_PATTERN
from app.stats import service, suggest
from app.stats.schemas import (
    AgentStatsReport,
    Overview,
    QueueRealtime,
    QueueStatsReport,
    StaffingSuggestion,
)

router = APIRouter(prefix="/v1", tags=["statistics"])

From = Annotated[datetime, Query(alias="from", description="Start, RFC 3339 with offset, on a "
                                 "15-minute boundary (a local midnight for day intervals).")]
To = Annotated[datetime, Query(description="End (exclusive); at most 92 days after `from`.")]
IntervalS = Annotated[int, Query(description="900, 1800, 3600, ... dividing a day; 86400 = "
                                 "calendar days in the tenant's time zone.")]


@router.get("/stats/queues", summary="Queue statistics per interval, from the call history")
async def queue_stats(
    rt: RuntimeDep, who: Reader, start: From, to: To, interval_s: IntervalS = 900,
    queue: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    short_abandon_s: Annotated[float, Query(ge=0, le=600, description="Abandons within this "
                                            "are counted in `abandoned_short`.")] = 5,
) -> QueueStatsReport:
    return await service.queue_stats(rt, who.tenant, start, to, interval_s, queue,
                                     short_abandon_s)


@router.get("/stats/agents", summary="Agent statistics per interval, from the history")
async def agent_stats(
    rt: RuntimeDep, who: Reader, start: From, to: To, interval_s: IntervalS = 900,
    agent: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> AgentStatsReport:
    return await service.agent_stats(rt, who.tenant, start, to, interval_s, agent)


@router.get("/queues/{queue_id}/realtime", summary="A queue now: waiting calls, agents, "
            "estimated wait, today's service level")
async def queue_realtime(rt: RuntimeDep, who: Reader,
                         queue_id: Annotated[str, Path(pattern=ID_PATTERN)]) -> QueueRealtime:
    return await service.queue_realtime(rt, who.tenant, queue_id)


@router.get("/realtime", summary="Every queue now, and the tenant's agents by state")
async def overview(rt: RuntimeDep, who: Reader) -> Overview:
    return await service.overview(rt, who.tenant)


@router.get("/queues/{queue_id}/staffing", summary="Agents needed per interval of the day, from "
            "the queue's recent arrivals and handle times", tags=["staffing"])
async def queue_staffing(
    rt: RuntimeDep, who: Reader, queue_id: Annotated[str, Path(pattern=ID_PATTERN)],
    days: Annotated[int, Query(ge=1, le=92, description="Whole days of history before "
                               "today to average.")] = 28,
    interval_s: Annotated[int, Query(description="900, 1800, 3600, ... dividing a day.")] = 1800,
    shrinkage: Annotated[float, Query(ge=0, lt=1)] = 0,
    max_occupancy: Annotated[float | None, Query(gt=0, le=1)] = None,
    patience_s: Annotated[float | None, Query(ge=0.001, le=3600, description="Mean patience: "
                                              "Erlang A instead of C.")] = None,
) -> StaffingSuggestion:
    return await suggest.suggest(rt, who.tenant, queue_id, days, interval_s, shrinkage,
                                 max_occupancy, patience_s)
