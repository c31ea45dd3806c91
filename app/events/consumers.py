"""What every consumer of the tenants' event streams shares (the history writer, the webhook
fan-out): a Redis consumer group per stream, every replica a consumer in it; each batch is
handled in one SQL transaction and acknowledged once committed; events a dead replica left
unacknowledged are taken over after `events_claim_idle_s`; the stream is trimmed below what
every group acknowledged. SQL down: nothing is acknowledged and the events wait in the stream.
A tenant that SQL does not know (deleted, or another deployment's sharing this Redis) is left
alone."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Sequence

import structlog
from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Tenant
from app.runtime import Runtime
from app.store import reads, stream
from app.store.reads import StoredEvent

log = structlog.get_logger("switchboard.events")

MAX_BATCHES = 20  # per tenant per pass; then the other tenants get their turn
UNKNOWN_RECHECK_S = 60.0


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class GroupConsumer:
    group: str  # the consumer group's name

    def __init__(self, rt: Runtime, name: str | None = None) -> None:
        self.rt = rt
        self.name = name or consumer_name()
        self._grouped: set[str] = set()
        self._known: set[str] = set()  # tenants SQL knows: asked once
        self._unknown: dict[str, float] = {}  # tenant -> when SQL last did not know it

    async def handle(self, session: AsyncSession, tenant: str,
                     events: Sequence[StoredEvent]) -> None:
        raise NotImplementedError

    async def step(self) -> int:
        """One pass over every tenant: the events handled. A tenant that fails (SQL down)
        holds up no other."""
        done = 0
        for tenant in await reads.tenants(self.rt.redis):
            try:
                if await self._knows(tenant):
                    done += await self.tenant_step(tenant)
            except Exception:
                log.warning("events not handled", group=self.group, tenant=tenant,
                            exc_info=True)
        return done

    async def _knows(self, tenant: str) -> bool:
        """Whether SQL knows the tenant: asked once per tenant it knows, and again after
        UNKNOWN_RECHECK_S for one it did not."""
        if tenant in self._known:
            return True
        seen = self._unknown.get(tenant)
        if seen is not None and time.monotonic() - seen < UNKNOWN_RECHECK_S:
            return False
        async with self.rt.db.sessions() as session:
            known = await session.get(Tenant, tenant) is not None
        if known:
            self._known.add(tenant)
            self._unknown.pop(tenant, None)
        else:
            self._unknown[tenant] = time.monotonic()
        return known

    async def tenant_step(self, tenant: str) -> int:
        rt, s = self.rt, self.rt.settings
        if tenant not in self._grouped:
            await stream.ensure_group(rt.redis, tenant, self.group)
            self._grouped.add(tenant)
        try:
            await stream.take_over(rt.redis, tenant, self.group, self.name,
                                   round(s.events_claim_idle_s * 1000), s.history_batch)
            done = 0
            for _ in range(MAX_BATCHES):
                events = await stream.read(rt.redis, tenant, self.group, self.name,
                                           s.history_batch)
                if not events:
                    break
                async with rt.db.sessions.begin() as session:
                    await self.handle(session, tenant, events)
                await stream.ack(rt.redis, tenant, self.group, [e.id for e in events])
                done += len(events)
        except ResponseError as e:
            if "NOGROUP" in str(e):  # the stream was deleted (tenant data lost): start over
                self._grouped.discard(tenant)
                return 0
            raise
        if done:
            keep_after_ms = rt.clock.now_ms() - round(s.events_retention_s * 1000)
            await stream.trim_acknowledged(rt.redis, tenant, keep_after_ms)
        return done
