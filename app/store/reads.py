"""Plain reads of live state (no script): agents, calls, events, the clock.

The client decodes replies (decode_responses=True), so every reply is text; `_text` states it
once for the type checker instead of casting at every call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from app.routing.records import CallRecord, as_dict
from app.store import keys
from app.store.records import AgentLive


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: str
    type: str
    at_ms: int
    data: dict[str, Any]


def _text(values: Iterable[Any]) -> list[str]:
    return [str(v) for v in values]


async def _hmget(redis: Redis, key: str, fields: list[str]) -> list[str | None]:
    rows: list[Any] = await redis.hmget(key, fields)
    return [None if r is None else str(r) for r in rows]


async def agents_live(redis: Redis, tenant: str, agent_ids: list[str]) -> list[AgentLive]:
    if not agent_ids:
        return []
    return [AgentLive.parse(r) for r in await _hmget(redis, keys.key(tenant, "agents"), agent_ids)]


async def call(redis: Redis, tenant: str, call_id: str) -> CallRecord | None:
    [raw] = await _hmget(redis, keys.key(tenant, "calls"), [call_id])
    return None if raw is None else CallRecord.parse(raw)


async def calls(redis: Redis, tenant: str, *, queue: str | None, state: str | None,
                limit: int) -> list[CallRecord]:
    """A queue's waiting calls in routing order, or any calls by arrival (newest last)."""
    calls_key = keys.key(tenant, "calls")
    if queue is not None and state in (None, "queued"):
        ids = _text(await redis.zrange(keys.waiting(tenant, queue), 0, limit - 1))
        if not ids:
            return []
        return [CallRecord.parse(r) for r in await _hmget(redis, calls_key, ids) if r is not None]
    rows: list[Any] = await redis.hvals(calls_key)
    found = [CallRecord.parse(str(r)) for r in rows]
    found = [c for c in found
             if (queue is None or c.queue == queue) and (state is None or c.state == state)]
    found.sort(key=lambda c: (c.arrived_ms, c.id))
    return found[:limit]


def stored_events(rows: Iterable[Any]) -> list[StoredEvent]:
    """Stream entries (id, fields) as events; entries deleted since they were listed are
    skipped."""
    return [StoredEvent(str(event_id), str(fields["type"]), round(float(fields["at"])),
                        as_dict(json.loads(fields["data"])))
            for event_id, fields in rows if fields]


async def events(redis: Redis, tenant: str, after: str | None, limit: int) -> list[StoredEvent]:
    start = f"({after}" if after else "-"
    rows: list[Any] = await redis.xrange(keys.key(tenant, "events"), min=start, max="+",  # type: ignore[assignment]
                                         count=limit)
    return stored_events(rows)


async def events_and_first_timer(
        redis: Redis, tenant: str, after: str, limit: int
) -> tuple[list[StoredEvent], tuple[str, int] | None]:
    """`events` and `first_timer` in one round trip (a driver that reads both after every
    step: the simulator)."""
    pipe = redis.pipeline(transaction=False)
    pipe.xrange(keys.key(tenant, "events"), min=f"({after}", max="+", count=limit)
    pipe.zrange(keys.key(tenant, "timers"), 0, 0, withscores=True)
    rows, first = await pipe.execute()
    return stored_events(rows), _first_timer(first)


async def last_event_id(redis: Redis, tenant: str) -> str:
    """The id of the newest event, or "0-0" when the stream is empty."""
    rows: list[Any] = await redis.xrevrange(keys.key(tenant, "events"), count=1)  # type: ignore[assignment]
    return str(rows[0][0]) if rows else "0-0"


# A blocking read must answer before the pool's socket timeout (5 s, store/connection.py), or
# a quiet stream would read as Redis being down.
MAX_BLOCK_MS = 2_000


async def wait_events(redis: Redis, tenant: str, after: str, limit: int,
                      block_ms: int) -> list[StoredEvent]:
    """Events after `after`; when there are none yet, wait up to `block_ms` (at most
    `MAX_BLOCK_MS`) for the first. The connection is back in the pool on return."""
    key = keys.key(tenant, "events")
    reply: list[Any] = await redis.xread({key: after}, count=limit,  # type: ignore[assignment]
                                         block=max(1, min(block_ms, MAX_BLOCK_MS)))
    return stored_events(reply[0][1]) if reply else []


async def manual_now_ms(redis: Redis, tenant: str) -> int | None:
    raw = await redis.get(keys.key(tenant, "clock"))
    return None if raw is None else round(float(raw))


async def clock_mode(redis: Redis, tenant: str) -> str | None:
    [mode] = await _hmget(redis, keys.key(tenant, "meta"), ["clock"])
    return mode


async def tenants(redis: Redis) -> list[str]:
    members: Iterable[Any] = await redis.smembers(keys.TENANTS)
    return sorted(_text(members))


async def forget_tenant(redis: Redis, tenant: str) -> None:
    """Remove every key of a tenant from Redis (a simulation's tenant, when it is done)."""
    found = [k async for k in redis.scan_iter(match=keys.prefix(tenant) + "*")]
    if found:
        await redis.delete(*found)
    await redis.srem(keys.TENANTS, tenant)


async def mark_projected(redis: Redis, tenant: str) -> None:
    await redis.sadd(keys.TENANTS, tenant)


async def first_timer(redis: Redis, tenant: str) -> tuple[str, int] | None:
    rows: list[Any] = await redis.zrange(keys.key(tenant, "timers"), 0, 0, withscores=True)
    return _first_timer(rows)


def _first_timer(rows: list[Any]) -> tuple[str, int] | None:
    """The member and due ms of `ZRANGE timers 0 0 WITHSCORES`, or None."""
    return (str(rows[0][0]), round(float(rows[0][1]))) if rows else None


async def queue_ids(redis: Redis, tenant: str) -> list[str]:
    names: Iterable[Any] = await redis.hkeys(keys.key(tenant, "qcfg"))
    return sorted(_text(names))


async def purge_ended(redis: Redis, tenant: str, before_ms: int, batch: int = 500) -> int:
    """Forget ended calls older than the retention (history lives in SQL)."""
    ended_key, calls_key = keys.key(tenant, "ended"), keys.key(tenant, "calls")
    ids = _text(await redis.zrangebyscore(ended_key, "-inf", before_ms, start=0, num=batch))
    if not ids:
        return 0
    rows = await _hmget(redis, calls_key, ids)
    external = [e for e in (CallRecord.parse(r).external_id for r in rows if r) if e]
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hdel(calls_key, *ids)
        if external:
            pipe.hdel(keys.key(tenant, "ext"), *external)
        pipe.zrem(ended_key, *ids)
        await pipe.execute()
    return len(ids)


@dataclass(frozen=True, slots=True)
class AgentDay:
    """An agent's counters for one day, the tenant's local calendar day; no state change
    resets them."""

    calls_handled: int = 0
    talk_ms: float = 0
    missed_offers: int = 0
    wrap_ms: float = 0
    available_ms: float = 0


COUNTERS = ("handled", "talk_ms", "missed", "wrap_ms", "avail_ms")


async def local_day(redis: Redis, tenant: str, at_ms: int) -> int:
    """The tenant's local day of an instant, as the scripts count it (common.lua, day)."""
    change: list[Any] = await redis.zrevrangebyscore(keys.key(tenant, "tz"), at_ms, "-inf",
                                                     start=0, num=1)
    offset = int(str(change[0]).rsplit(":", 1)[1]) if change else 0
    return (at_ms + offset) // 86_400_000


async def agent_days(redis: Redis, tenant: str, agent_ids: list[str],
                     now_ms: int) -> list[AgentDay]:
    day = await local_day(redis, tenant, now_ms)
    fields = [f"{day}|{a}|{c}" for a in agent_ids for c in COUNTERS]
    if not fields:
        return []
    values = [float(v or 0) for v in await _hmget(redis, keys.key(tenant, "stats"), fields)]
    return [AgentDay(int(values[i]), values[i + 1], int(values[i + 2]), values[i + 3],
                     values[i + 4])
            for i in range(0, len(values), len(COUNTERS))]


async def tenant_now_ms(redis: Redis, tenant: str, wall_ms: int) -> int:
    manual = await manual_now_ms(redis, tenant)
    return wall_ms if manual is None else manual


async def config_versions(redis: Redis, tenant: str, kind: str, ids: list[str]) -> dict[str, int]:
    """The versions of projected configurations (kind: "qcfg" or "acfg"); absent = missing."""
    if not ids:
        return {}
    rows = await _hmget(redis, keys.key(tenant, kind), ids)
    return {i: int(json.loads(r).get("version") or 0) for i, r in zip(ids, rows, strict=True)
            if r is not None}
