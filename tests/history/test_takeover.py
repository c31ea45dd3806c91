"""A replica killed (SIGKILL) while its history writer holds events it has read but not yet
written: another replica takes them over and the history ends with every call exactly once.
Real processes, real Redis, a fresh PostgreSQL database. To hold the writer mid-batch, a test
connection locks the history table; the first replica blocks on it with events pending."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app.store import keys
from tests.processes import ServerProcess, one_agent_tenant, until
from tests.support import REDIS_URL, forget_tenants, fresh_postgres

ENV = {"SWITCHBOARD_EVENTS_CLAIM_IDLE_S": "1", "SWITCHBOARD_HISTORY_INTERVAL_S": "0.05"}


@pytest.fixture
def database_url() -> Iterator[str]:
    yield from fresh_postgres()


async def test_a_killed_writers_events_are_taken_over(database_url: str,
                                                      tmp_path: Path) -> None:
    pg_url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    first = ServerProcess("first", database_url, tmp_path, **ENV)
    second = ServerProcess("second", database_url, tmp_path, **ENV)
    tenant_id = ""
    try:
        first.start()
        await first.wait_ready()
        async with httpx.AsyncClient(base_url=first.base_url, timeout=10) as http:
            t = await one_agent_tenant(http)
            tenant_id = t.id
            stream = keys.key(t.id, "events")
            lock = await asyncpg.connect(pg_url)
            held = lock.transaction()
            await held.start()
            await lock.execute("LOCK TABLE call_history IN ACCESS EXCLUSIVE MODE")
            calls = []
            for _ in range(10):
                call = await t.arrive("q")
                await t.accept(call["id"])
                await t.complete(call["id"])
                calls.append(call["id"])

            async def first_holds() -> int:
                try:
                    summary: Any = await redis.xpending(stream, "history")
                except ResponseError:  # no group yet
                    return 0
                return int(summary["pending"]) if summary else 0

            await until(first_holds, 10, "the first replica to hold events")
        first.kill()
        await held.rollback()
        await lock.close()
        assert await first_holds() > 0  # read, never written: the kill left them pending

        second.start()
        await second.wait_ready()
        db = await asyncpg.connect(pg_url)
        try:
            async def written() -> list[str] | None:
                rows = await db.fetch("SELECT call_id FROM call_history WHERE tenant_id = $1",
                                      tenant_id)
                ids = [r["call_id"] for r in rows]
                return ids if len(ids) >= len(calls) else None

            found = await until(written, 20, "the history to hold every call")
            assert sorted(found) == sorted(calls)  # every call, once (it is the primary key)
            await until(lambda: _none_pending(redis, stream), 10, "nothing left pending")
        finally:
            await db.close()
    finally:
        first.kill()
        second.stop()
        await redis.aclose()
        if tenant_id:
            await forget_tenants(REDIS_URL, [tenant_id])


async def _none_pending(redis: Redis, stream: str) -> bool:
    summary: Any = await redis.xpending(stream, "history")
    return int(summary["pending"]) == 0
