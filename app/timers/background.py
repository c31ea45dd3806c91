"""What every replica runs besides requests: the timer sweep for wall-clock tenants and the
reconciler. Both are safe to run on any number of replicas at once: every change they make is
one atomic script, and a timer fires only for the replica that removes it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from app.clock import ClockMode, to_datetime
from app.errors import SwitchboardError
from app.history.consumer import HistoryConsumer
from app.projection import project_tenant, reproject_stale
from app.runtime import Runtime
from app.store import reads
from app.timers.service import fire_due
from app.webhooks.fanout import Fanout
from app.webhooks.outbox import forget_old
from app.webhooks.sender import Sender

log = structlog.get_logger("switchboard.background")

JANITOR_INTERVAL_S = 60.0


class Background:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._tasks: list[asyncio.Task[None]] = []
        self._modes: dict[str, str] = {}
        self._stopping = asyncio.Event()
        self._history = HistoryConsumer(rt)
        self._fanout = Fanout(rt)
        self._sender: Sender | None = None

    def start(self) -> None:
        s = self.rt.settings
        self._tasks = [
            asyncio.create_task(self._loop("timers", s.timer_sweep_interval_s, self.sweep)),
            asyncio.create_task(self._loop("reconciler", s.reconcile_interval_s, self.reconcile)),
            asyncio.create_task(self._loop("reprojection", s.reproject_interval_s,
                                           self.reproject)),
            asyncio.create_task(self._loop("history", s.history_interval_s, self.history)),
            asyncio.create_task(self._loop("webhook fan-out", s.webhook_interval_s,
                                           self.fanout)),
            asyncio.create_task(self._loop("webhook sender", s.webhook_interval_s, self.send)),
            asyncio.create_task(self._loop("webhook log", JANITOR_INTERVAL_S,
                                           self.forget_webhook_log)),
        ]

    async def stop(self) -> None:
        """Let the current pass finish (its scripts are atomic anyway), then stop."""
        self._stopping.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=5)
        if self._sender is not None:
            await self._sender.close()

    async def _loop(self, name: str, interval_s: float,
                    step: Callable[[], Awaitable[None]]) -> None:
        while not self._stopping.is_set():
            try:
                await step()
            except Exception:
                # Redis or SQL away: log and go on; the next pass repairs what this one missed.
                log.warning("background pass failed", task=name, exc_info=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=interval_s)

    async def _mode(self, tenant: str) -> str | None:
        mode = self._modes.get(tenant)
        if mode is None:
            mode = await reads.clock_mode(self.rt.redis, tenant)
            if mode is not None:
                self._modes[tenant] = mode
        return mode

    async def _each_tenant(self, name: str, step: Callable[[str], Awaitable[None]]) -> None:
        """One tenant's failure (say, one this replica's SQL does not know) must not hold up
        the others."""
        for tenant in await reads.tenants(self.rt.redis):
            try:
                await step(tenant)
            except SwitchboardError as e:
                log.warning("background pass skipped a tenant", task=name, tenant=tenant,
                            error=e.detail)

    async def sweep(self) -> None:
        await self._each_tenant("timers", self._sweep_tenant)

    async def _sweep_tenant(self, tenant: str) -> None:
        if await self._mode(tenant) != ClockMode.wall:
            return
        first = await reads.first_timer(self.rt.redis, tenant)
        now = self.rt.clock.now_ms()
        if first is not None and first[1] <= now:
            await fire_due(self.rt, tenant, now, manual=False)

    async def reconcile(self) -> None:
        """Route any queue with a waiting call and a free eligible agent (a replica may have
        died between an arrival and its claim), and forget long-ended calls."""
        await self._each_tenant("reconciler", self._reconcile_tenant)

    async def _reconcile_tenant(self, tenant: str) -> None:
        rt = self.rt
        queues = await reads.queue_ids(rt.redis, tenant)
        reply = await rt.run("peek", tenant, {}, queues=queues)
        outcome = await rt.settle(tenant, reply)
        if outcome.offered:
            log.info("reconciler routed calls", tenant=tenant, calls=len(outcome.offered))
        cutoff = rt.clock.now_ms() - round(rt.settings.ended_call_retention_s * 1000)
        if await self._mode(tenant) == ClockMode.wall:
            await reads.purge_ended(rt.redis, tenant, cutoff)

    async def fanout(self) -> None:
        """Turn new events into webhook deliveries (app/webhooks/fanout.py)."""
        await self._fanout.step()

    async def send(self) -> None:
        """Send the webhook deliveries due (app/webhooks/sender.py)."""
        if self._sender is None:
            self._sender = Sender(self.rt)
        for _ in range(50):  # on at once while there is work; then wait for the next pass
            if not await self._sender.step() or self._stopping.is_set():
                break

    async def forget_webhook_log(self) -> None:
        """Finished deliveries and attempts older than SWITCHBOARD_WEBHOOK_LOG_RETENTION_S."""
        before = to_datetime(self.rt.clock.now_ms()
                             - round(self.rt.settings.webhook_log_retention_s * 1000))
        async with self.rt.db.sessions.begin() as session:
            await forget_old(session, before)

    async def history(self) -> None:
        """Write new events into the SQL history (app/history/consumer.py)."""
        await self._history.step()

    async def reproject(self) -> None:
        """Configuration whose projection failed after its SQL commit (Redis was down) is
        projected again here."""
        await self._each_tenant("reprojection", self._reproject_tenant)

    async def _reproject_tenant(self, tenant: str) -> None:
        stale = await reproject_stale(self.rt.store, self.rt.db, tenant)
        if stale:
            log.info("configuration projected again", tenant=tenant, objects=stale)

    async def project_all(self) -> None:
        """At start-up: make sure this Redis knows every tenant in SQL."""
        from app.db import repositories as repo

        async with self.rt.db.sessions() as session:
            tenants = await repo.list_tenants(session)
        for tenant in tenants:
            await project_tenant(self.rt.store, self.rt.db, tenant.id)
