"""Consumer groups on a tenant's event stream (the outbox every script appends to).

Each consumer of the stream (the history writer, ...) is a Redis consumer group, and every
replica is a consumer in it: an event is handed to one of them, stays pending until it is
acknowledged, and is taken over (XAUTOCLAIM) when the replica holding it died. The stream is
trimmed only below what every group has acknowledged (and, as a safety cap, to
`SWITCHBOARD_EVENTS_MAX_LEN` by the scripts themselves).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app.store import keys
from app.store.reads import StoredEvent, stored_events


@dataclass(frozen=True, slots=True)
class GroupLag:
    """How far one consumer group is behind on one tenant's stream."""

    tenant: str
    group: str
    unacknowledged: int  # not yet delivered to the group, or delivered and not acknowledged
    oldest_age_ms: int  # how long the oldest of those has been in the stream; 0 when none


def _stream(tenant: str) -> str:
    return keys.key(tenant, "events")


async def ensure_group(redis: Redis, tenant: str, group: str) -> None:
    """The group, reading from the oldest event still in the stream."""
    try:
        await redis.xgroup_create(_stream(tenant), group, id="0", mkstream=True)
    except ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


async def read(redis: Redis, tenant: str, group: str, consumer: str,
               count: int) -> list[StoredEvent]:
    """This consumer's unacknowledged events first (a pass that failed, or ones it took over),
    then new ones."""
    stream = _stream(tenant)
    for position in ("0", ">"):
        reply: Any = await redis.xreadgroup(group, consumer, {stream: position}, count=count)
        events = stored_events(reply[0][1]) if reply else []
        if events:
            return events
    return []


async def ack(redis: Redis, tenant: str, group: str, ids: list[str]) -> None:
    if ids:
        await redis.xack(_stream(tenant), group, *ids)


async def take_over(redis: Redis, tenant: str, group: str, consumer: str, min_idle_ms: int,
                    count: int) -> int:
    """Claim events another consumer has held unacknowledged for `min_idle_ms` (it died);
    they become this consumer's, read by its next `read`. How many were taken."""
    reply: Any = await redis.xautoclaim(_stream(tenant), group, consumer, min_idle_ms,
                                        start_id="0-0", count=count, justid=True)
    return len(reply[1]) if reply else 0


def _id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


async def trim_acknowledged(redis: Redis, tenant: str, keep_after_ms: int) -> str | None:
    """Drop the events every group has acknowledged and older than `keep_after_ms` (wall ms;
    readers resuming by id need them for a while); the lowest id kept, or None when no group
    reads the stream yet (then only the length cap applies)."""
    stream = _stream(tenant)
    groups: Any = await redis.xinfo_groups(stream)
    if not groups:
        return None
    floors = []
    for g in groups:
        name = g["name"]
        pending: Any = await redis.xpending(stream, name)
        if pending and int(pending["pending"]) > 0:
            floors.append(str(pending["min"]))
        else:
            floors.append(str(g["last-delivered-id"]))
    floor = min([*floors, f"{max(keep_after_ms, 0)}-0"], key=_id)
    if floor != "0-0":
        await redis.xtrim(stream, minid=floor, approximate=False)
    return floor


async def lags(redis: Redis, tenants: Iterable[str]) -> list[GroupLag]:
    """Every group's lag on the tenants' streams, in three round trips: XINFO GROUPS
    (its `lag` and `pending`), then the oldest unacknowledged id of each group behind (its
    first pending, else the first not yet delivered). Ages are by the Redis server's clock,
    which made the ids. A stream no consumer has read yet has no groups and is left out.

    Redis answers `lag` as nil only when entries were XDEL'ed after the group's position,
    which Switchboard never does (and has no `lag` before 7.0); it then counts as 0 here, and
    the age still shows how far behind the group is."""
    names = list(tenants)
    pipe = redis.pipeline(transaction=False)
    for tenant in names:
        pipe.xinfo_groups(_stream(tenant))
    infos = await pipe.execute(raise_on_error=False)
    seconds, micros = await redis.time()  # (a cluster pipeline takes only commands with keys)
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    rows: list[tuple[str, str, int, bool]] = []  # tenant, group, unacknowledged, asked
    pipe = redis.pipeline(transaction=False)
    for tenant, groups in zip(names, infos, strict=True):
        if isinstance(groups, Exception):  # no stream yet
            continue
        for g in groups:
            name, pending, behind = str(g["name"]), int(g["pending"]), g.get("lag")
            asked = pending > 0 or behind is None or int(behind) > 0
            if pending:
                pipe.xpending(_stream(tenant), name)
            elif asked:
                pipe.xrange(_stream(tenant), f"({g['last-delivered-id']}", "+", count=1)
            rows.append((tenant, name, pending + int(behind or 0), asked))
    replies: Iterator[Any] = iter(await pipe.execute() if len(pipe) else [])
    out = []
    for tenant, group, unacknowledged, asked in rows:
        first = _first_id(next(replies)) if asked else None
        age_ms = max(0, now_ms - _id(first)[0]) if first else 0
        out.append(GroupLag(tenant, group, unacknowledged, age_ms))
    return out


def _first_id(reply: Any) -> str | None:
    """The id an XPENDING summary (its `min`) or an XRANGE (its first entry) starts with."""
    if isinstance(reply, dict):
        return str(reply["min"]) if reply.get("min") else None
    return str(reply[0][0]) if reply else None
