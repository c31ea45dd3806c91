"""The long-lived resources of one process, created in the lifespan and reached through
`deps.RuntimeDep`: settings, Redis, SQL, the store, the strategies, the dispatcher and the
metrics."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from app.auth import KeyCache
from app.clock import WallClock
from app.db.engine import Database
from app.errors import SwitchboardError
from app.events.streams import Streams
from app.metrics import Metrics
from app.projection import project_tenant
from app.routing.dispatcher import Dispatcher, Outcome
from app.routing.registry import StrategyRegistry
from app.settings import Settings
from app.store.records import Reply
from app.store.scripts import Store, TenantNotProjected


@dataclass(slots=True)
class Runtime:
    settings: Settings
    clock: WallClock
    redis: Redis
    db: Database
    store: Store
    strategies: StrategyRegistry
    dispatcher: Dispatcher
    keys: KeyCache
    metrics: Metrics
    streams: Streams

    async def run(self, verb: str, tenant: str, request: dict[str, object], *,
                  queues: tuple[str, ...] | list[str] = (), agent: str | None = None) -> Reply:
        """Run a store verb, projecting the tenant first if this Redis has not seen it."""
        try:
            return await self.store.run(verb, tenant, request, queues=queues, agent=agent)
        except TenantNotProjected:
            if not await project_tenant(self.store, self.db, tenant):
                raise SwitchboardError(404, "tenant-not-found", "Tenant not found",
                                       f"No tenant {tenant!r}.") from None
            return await self.store.run(verb, tenant, request, queues=queues, agent=agent)

    async def settle(self, tenant: str, reply: Reply) -> Outcome:
        """Route whoever the reply woke up."""
        return await self.dispatcher.settle(tenant, reply.wake, reply.now_ms)
