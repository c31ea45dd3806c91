"""Configuration is written to SQL and projected into Redis. A tenant is projected on first use
by a Redis (start-up, a Redis restart without persistence, a tenant created by the CLI while a
server runs); each queue and agent carries its SQL version, so an older projection never
overwrites a newer one."""

from __future__ import annotations

from typing import Any

from app.db import repositories as repo
from app.db.engine import Database
from app.store import reads
from app.store.scripts import Store
from app.tenants import zone


def queue_request(queue_id: str, config: dict[str, Any], version: int) -> dict[str, object]:
    return {"queue": queue_id, "config": {**config, "version": version}}


def agent_request(agent_id: str, config: dict[str, Any], version: int) -> dict[str, object]:
    return {"agent_id": agent_id, "config": {**config, "version": version}}


async def project_tenant(store: Store, db: Database, tenant_id: str) -> bool:
    """False when SQL has no such tenant."""
    async with db.sessions() as session:
        tenant = await repo.get_tenant(session, tenant_id)
        if tenant is None:
            return False
        queues = await repo.list_configs(session, "queue", tenant_id)
        agents = await repo.list_configs(session, "agent", tenant_id)
    queue_ids = [q.id for q in queues]
    for q in queues:
        await store.run("upsert_queue", tenant_id, queue_request(q.id, q.config, q.version),
                        queues=[q.id])
    for a in agents:
        await store.run("upsert_agent", tenant_id, agent_request(a.id, a.config, a.version),
                        queues=queue_ids, agent=a.id)
    await store.run("project_tenant", tenant_id,
                    {"id": tenant.id, "clock": tenant.clock, "start_ms": store.clock.now_ms(),
                     "offsets": zone.projected(tenant.time_zone)})
    await reads.mark_projected(store.redis, tenant_id)
    return True


async def reproject_stale(store: Store, db: Database, tenant_id: str) -> int:
    """Project again what Redis holds older than SQL (a projection that failed after its SQL
    commit, say); returns how many objects were projected."""
    async with db.sessions() as session:
        queues = await repo.list_configs(session, "queue", tenant_id)
        agents = await repo.list_configs(session, "agent", tenant_id)
    queue_ids = [q.id for q in queues]
    projected = await reads.config_versions(store.redis, tenant_id, "qcfg", queue_ids)
    stale = 0
    for q in queues:
        if projected.get(q.id, 0) < q.version:
            await store.run("upsert_queue", tenant_id, queue_request(q.id, q.config, q.version),
                            queues=[q.id])
            stale += 1
    projected = await reads.config_versions(store.redis, tenant_id, "acfg", [a.id for a in agents])
    for a in agents:
        if projected.get(a.id, 0) < a.version:
            await store.run("upsert_agent", tenant_id, agent_request(a.id, a.config, a.version),
                            queues=queue_ids, agent=a.id)
            stale += 1
    return stale
