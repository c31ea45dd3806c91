"""The statistics' SQL: sums per 15-minute step of the history, for app/stats/figures.py to add
up into intervals. Plain SQL that PostgreSQL and SQLite read alike: times are epoch
milliseconds in BIGINT columns, so a step is an integer division."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.history.models import AgentInterval
from app.stats.ranges import STEP_MS

FCR_WINDOW_MS = 7 * 86_400_000

_ANSWERED = "l.connected_ms IS NOT NULL"
_HANDLED = f"{_ANSWERED} AND l.outcome IN ('completed', 'transferred')"
_WRAP = ("(SELECT COALESCE(SUM(w.wrap_ms), 0) FROM wrap_ups w WHERE w.tenant_id = l.tenant_id "
         "AND w.call_id = l.call_id AND w.agent_id = l.agent_id)")
_FIRST_CONTACT = (
    "NOT EXISTS (SELECT 1 FROM call_legs p WHERE p.tenant_id = l.tenant_id "
    "AND p.queue = l.queue AND p.customer_id = l.customer_id AND p.call_id <> l.call_id "
    "AND p.entered_ms >= l.entered_ms - :fcr_window AND p.entered_ms < l.entered_ms)")


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _sum(condition: str, value: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN {value} ELSE 0 END)"


QUEUE_SUMS = {
    "offered": "COUNT(*)",
    "answered": _count(_ANSWERED),
    "abandoned": _count("l.outcome = 'abandoned'"),
    "abandoned_short": _count("l.outcome = 'abandoned' AND l.wait_ms <= :short_ms"),
    "timed_out": _count("l.outcome = 'timed_out'"),
    "overflowed": _count("l.outcome = 'overflowed'"),
    "answered_in_threshold": _count(f"{_ANSWERED} AND l.wait_ms <= l.sl_threshold_ms"),
    "abandoned_in_threshold": _count("l.outcome = 'abandoned' AND "
                                     "l.wait_ms <= l.sl_threshold_ms"),
    "answered_wait_ms": _sum(_ANSWERED, "l.wait_ms"),
    "longest_wait_ms": "MAX(l.wait_ms)",
    "handled": _count(_HANDLED),
    "talk_ms": _sum(_HANDLED, "l.talk_ms"),
    "wrap_ms": _sum(_HANDLED, _WRAP),
    "transferred": _count(f"{_ANSWERED} AND l.outcome = 'transferred'"),
    "completed": _count("l.outcome = 'completed'"),
    "resolved_first": _count(f"l.outcome = 'completed' AND l.resolved = TRUE AND "
                             f"{_FIRST_CONTACT}"),
    "csat_sum": "SUM(COALESCE(l.csat, 0))",
    "csat_count": "COUNT(l.csat)",
    "missed_offers": "SUM(l.missed_offers)",
}

AGENT_SUMS = {
    "answered": "COUNT(*)",
    "handled": _count(_HANDLED),
    "talk_ms": _sum(_HANDLED, "l.talk_ms"),
    "wrap_ms": _sum(_HANDLED, _WRAP),
    "transferred": _count("l.outcome = 'transferred'"),
    "completed": _count("l.outcome = 'completed'"),
    "csat_sum": "SUM(COALESCE(l.csat, 0))",
    "csat_count": "COUNT(l.csat)",
}

Row = dict[str, Any]


def _select(sums: dict[str, str]) -> str:
    return ", ".join(f"{expr} AS {name}" for name, expr in sums.items())


async def _rows(session: AsyncSession, sql: str, params: dict[str, Any]) -> list[Row]:
    result = await session.execute(text(sql), params)
    names = ("queue", "agent_id", "outcome")
    return [{k: v if v is None or k in names else int(v) for k, v in row._mapping.items()}
            for row in result]


async def queue_steps(session: AsyncSession, tenant: str, start_ms: int, end_ms: int,
                      queues: Sequence[str] | None, short_ms: int) -> list[Row]:
    """Per queue and step of entry: the sums behind every queue figure."""
    where = ""
    params: dict[str, Any] = {"tenant": tenant, "start": start_ms, "end": end_ms,
                              "short_ms": short_ms, "fcr_window": FCR_WINDOW_MS}
    if queues is not None:
        names = {f"q{i}": q for i, q in enumerate(queues)}
        where = f" AND l.queue IN ({', '.join(':' + n for n in names)})" if names else " AND 0=1"
        params.update(names)
    sql = (f"SELECT l.queue AS queue, (l.entered_ms - :start) / {STEP_MS} AS step, "
           f"{_select(QUEUE_SUMS)} FROM call_legs l "
           f"WHERE l.tenant_id = :tenant AND l.entered_ms >= :start AND l.entered_ms < :end"
           f"{where} GROUP BY l.queue, step")
    return await _rows(session, sql, params)


async def agent_steps(session: AsyncSession, tenant: str, start_ms: int,
                      end_ms: int) -> list[Row]:
    """Per agent and step of connection: the calls it answered and how it handled them."""
    sql = (f"SELECT l.agent_id AS agent_id, (l.connected_ms - :start) / {STEP_MS} AS step, "
           f"{_select(AGENT_SUMS)} FROM call_legs l "
           f"WHERE l.tenant_id = :tenant AND l.agent_id IS NOT NULL "
           f"AND l.connected_ms >= :start AND l.connected_ms < :end GROUP BY l.agent_id, step")
    return await _rows(session, sql, {"tenant": tenant, "start": start_ms, "end": end_ms})


async def offer_steps(session: AsyncSession, tenant: str, start_ms: int,
                      end_ms: int) -> list[Row]:
    """Per agent, step and outcome: how the offers made to it ended."""
    sql = (f"SELECT o.agent_id AS agent_id, (o.at_ms - :start) / {STEP_MS} AS step, "
           f"o.outcome AS outcome, COUNT(*) AS n FROM offer_outcomes o "
           f"WHERE o.tenant_id = :tenant AND o.at_ms >= :start AND o.at_ms < :end "
           f"GROUP BY o.agent_id, step, o.outcome")
    return await _rows(session, sql, {"tenant": tenant, "start": start_ms, "end": end_ms})


async def state_intervals(session: AsyncSession, tenant: str, start: datetime,
                          end: datetime) -> list[tuple[str, str, datetime, datetime]]:
    """Agent-state intervals overlapping the range, as (agent, state, start, end) in UTC."""
    a = AgentInterval
    result = await session.execute(
        select(a.agent_id, a.state, a.started_at, a.ended_at)
        .where(a.tenant_id == tenant, a.ended_at > start, a.started_at < end))
    return [(agent, state, _utc(s), _utc(e)) for agent, state, s, e in result]


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
