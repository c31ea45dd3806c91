"""Statistics from the SQL history and the live view from Redis (DESIGN §3.6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.clock import at, to_datetime
from app.db import repositories as repo
from app.errors import not_found
from app.routing.records import as_dict, as_list
from app.runtime import Runtime
from app.stats import figures, queries
from app.stats.ranges import Range, cut, today
from app.stats.schemas import (
    AgentStatsReport,
    Overview,
    QueueRealtime,
    QueueStatsReport,
)


async def tenant_zone(rt: Runtime, tenant: str) -> str:
    async with rt.db.sessions() as session:
        row = await repo.get_tenant(session, tenant)
    if row is None:
        raise not_found("tenant", tenant)
    return row.time_zone


async def queue_configs(rt: Runtime, tenant: str) -> dict[str, dict[str, Any]]:
    async with rt.db.sessions() as session:
        return {q.id: q.config for q in await repo.list_configs(session, "queue", tenant)}


def _series(per_interval: dict[int, figures.Sums], rng: Range,
            figure: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(total, intervals): every interval of the range, empty ones too."""
    rows = []
    for i in range(rng.count):
        start, end = figures.bounds_of(rng, i)
        rows.append({"start": start, "end": end, **figure(per_interval.get(i, {}))})
    start, end = to_datetime(rng.start_ms), to_datetime(rng.end_ms)
    return {"start": start, "end": end, **figure(figures.total(per_interval))}, rows


def _each(names: list[str], sums: dict[str, dict[int, figures.Sums]], rng: Range,
          figure: Any, key: str) -> list[dict[str, Any]]:
    """A total and every interval for each name (queue or agent), in order."""
    out = []
    for name in names:
        total, rows = _series(sums.get(name, {}), rng, figure)
        out.append({key: name, "total": total, "intervals": rows})
    return out


async def _queue_sums(rt: Runtime, tenant: str, rng: Range, queues: list[str] | None,
                      short_ms: int) -> dict[str, dict[int, figures.Sums]]:
    async with rt.db.sessions() as session:
        rows = await queries.queue_steps(session, tenant, rng.start_ms, rng.end_ms, queues,
                                         short_ms)
    return figures.by_interval(rows, "queue", rng)


async def queue_sums_by_step(rt: Runtime, tenant: str, rng: Range,
                             queue: str) -> dict[int, figures.Sums]:
    """One queue's sums per 15-minute step of the range."""
    async with rt.db.sessions() as session:
        rows = await queries.queue_steps(session, tenant, rng.start_ms, rng.end_ms, [queue], 0)
    return {int(r["step"]): {k: int(v or 0) for k, v in r.items() if k not in ("queue", "step")}
            for r in rows}


async def queue_stats(rt: Runtime, tenant: str, start: datetime, end: datetime,
                      interval_s: int, queue: str | None,
                      short_abandon_s: float) -> QueueStatsReport:
    zone = await tenant_zone(rt, tenant)
    rng = cut(start, end, interval_s, zone)
    configured = await queue_configs(rt, tenant)
    if queue is not None and queue not in configured:
        raise not_found("queue", queue)
    sums = await _queue_sums(rt, tenant, rng, None if queue is None else [queue],
                             round(short_abandon_s * 1000))
    names = [queue] if queue is not None else sorted({*configured, *sums})
    out = _each(names, sums, rng, figures.queue_figures, "queue")
    return QueueStatsReport.model_validate({
        "from": to_datetime(rng.start_ms), "to": to_datetime(rng.end_ms),
        "interval_s": interval_s, "time_zone": zone, "short_abandon_s": short_abandon_s,
        "queues": out})


async def agent_stats(rt: Runtime, tenant: str, start: datetime, end: datetime,
                      interval_s: int, agent: str | None) -> AgentStatsReport:
    zone = await tenant_zone(rt, tenant)
    rng = cut(start, end, interval_s, zone)
    async with rt.db.sessions() as session:
        configured = {a.id for a in await repo.list_configs(session, "agent", tenant)}
        if agent is not None and agent not in configured:
            raise not_found("agent", agent)
        calls = await queries.agent_steps(session, tenant, rng.start_ms, rng.end_ms)
        offers = await queries.offer_steps(session, tenant, rng.start_ms, rng.end_ms)
        states = await queries.state_intervals(session, tenant, to_datetime(rng.start_ms),
                                               to_datetime(rng.end_ms))
    merged: dict[str, dict[int, figures.Sums]] = {}
    for part in (figures.by_interval(calls, "agent_id", rng),
                 figures.offers_by_interval(offers, rng), figures.state_time(states, rng)):
        for name, per in part.items():
            for i, sums in per.items():
                figures.add(merged.setdefault(name, {}).setdefault(i, {}), sums)
    names = [agent] if agent is not None else sorted({*configured, *merged})
    out = _each(names, merged, rng, figures.agent_figures, "agent_id")
    return AgentStatsReport.model_validate({
        "from": to_datetime(rng.start_ms), "to": to_datetime(rng.end_ms),
        "interval_s": interval_s, "time_zone": zone, "agents": out})


# Live ---------------------------------------------------------------------------------------


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 3)


async def _live(rt: Runtime, tenant: str,
                queues: list[str]) -> tuple[int, list[dict[str, Any]], dict[str, int]]:
    reply = await rt.run("realtime", tenant, {"report": queues}, queues=queues)
    return (reply.now_ms, [as_dict(q) for q in as_list(reply.details.get("queues"))],
            {str(k): int(v) for k, v in as_dict(reply.details.get("agents")).items()})


async def _realtime(rt: Runtime, tenant: str, queues: dict[str, dict[str, Any]],
                    zone: str) -> tuple[int, list[QueueRealtime], dict[str, int]]:
    now, live, everyone = await _live(rt, tenant, sorted(queues))
    day = today(now, zone)
    sums = await _queue_sums(rt, tenant, day, sorted(queues), 0)
    views = []
    for q in live:
        name = str(q["queue"])
        done = figures.queue_figures(figures.total(sums.get(name, {})))
        sl = queues[name].get("service_level") or {}
        oldest = q.get("oldest_entered_ms")
        views.append(QueueRealtime.model_validate({
            "queue": name, "at": at(now), "waiting": q["waiting"], "offered": q["offered"],
            "longest_wait_s": None if oldest is None else _seconds(max(now - oldest, 0)),
            "agents": dict(q.get("agents") or {}),
            "agents_logged_in": q["agents_logged_in"], "agents_eligible": q["agents_eligible"],
            "agents_eligible_available": q["agents_eligible_available"],
            "agents_working": q["agents_working"],
            "aht_s": _seconds(q["aht_ms"]) if q.get("aht_ms") else None,
            "estimated_wait_s": _seconds(q.get("estimate_ms")),
            "service_level_target": sl.get("target", 0.8),
            "service_level_threshold_s": sl.get("threshold_s", 20),
            "today": {"from": to_datetime(day.start_ms),
                      **{k: done[k] for k in ("offered", "answered", "abandoned",
                                              "service_level", "service_level_offered",
                                              "abandon_rate", "asa_s")}},
        }))
    return now, views, everyone


async def queue_realtime(rt: Runtime, tenant: str, queue: str) -> QueueRealtime:
    zone = await tenant_zone(rt, tenant)
    configs = await queue_configs(rt, tenant)
    if queue not in configs:
        raise not_found("queue", queue)
    _, views, _ = await _realtime(rt, tenant, {queue: configs[queue]}, zone)
    if not views:
        raise not_found("queue", queue)
    return views[0]


async def overview(rt: Runtime, tenant: str) -> Overview:
    zone = await tenant_zone(rt, tenant)
    now, views, everyone = await _realtime(rt, tenant, await queue_configs(rt, tenant), zone)
    waits = [v.longest_wait_s for v in views if v.longest_wait_s is not None]
    return Overview(at=to_datetime(now), time_zone=zone, waiting=sum(v.waiting for v in views),
                    longest_wait_s=max(waits, default=None), agents=everyone, queues=views)
