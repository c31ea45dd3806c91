"""Tenants and API keys: SQL first, then the tenant is projected into Redis."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from app.auth import Role, new_key
from app.clock import to_datetime
from app.db import repositories as repo
from app.errors import conflict, not_found
from app.projection import project_tenant
from app.runtime import Runtime
from app.tenants.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    Tenant,
    TenantCreate,
    TenantCreated,
    TenantUpdate,
)


async def create_tenant(rt: Runtime, body: TenantCreate) -> TenantCreated:
    now = to_datetime(rt.clock.now_ms())
    key_id, key, key_hash = new_key()
    tenant = repo.TenantRow(body.id, body.name or body.id, body.clock.value, now, body.time_zone)
    try:
        async with rt.db.sessions.begin() as session:
            if await repo.get_tenant(session, body.id) is not None:
                raise conflict("tenant-exists", "Tenant exists", f"Tenant {body.id!r} exists.",
                               tenant_id=body.id)
            await repo.add_tenant(session, tenant)
            await session.flush()
            await repo.add_api_key(session, repo.KeyRow(key_id, body.id, "initial admin key",
                                                        Role.admin.value), key_hash, now)
    except IntegrityError:
        raise conflict("tenant-exists", "Tenant exists", f"Tenant {body.id!r} exists.",
                       tenant_id=body.id) from None
    await project_tenant(rt.store, rt.db, body.id)
    return TenantCreated(id=tenant.id, name=tenant.name, clock=body.clock,
                         time_zone=tenant.time_zone, created_at=now, api_key=key,
                         api_key_id=key_id)


def _view(row: repo.TenantRow) -> Tenant:
    return Tenant.model_validate({"id": row.id, "name": row.name, "clock": row.clock,
                                  "time_zone": row.time_zone, "created_at": row.created_at})


async def get_tenant(rt: Runtime, tenant: str) -> Tenant:
    async with rt.db.sessions() as session:
        row = await repo.get_tenant(session, tenant)
    if row is None:
        raise not_found("tenant", tenant)
    return _view(row)


async def update_tenant(rt: Runtime, tenant: str, body: TenantUpdate) -> Tenant:
    async with rt.db.sessions.begin() as session:
        row = await repo.update_tenant(session, tenant, body.name, body.time_zone)
    if row is None:
        raise not_found("tenant", tenant)
    if body.time_zone is not None:  # today's agent counters follow the new local midnight
        await project_tenant(rt.store, rt.db, tenant)
    return _view(row)


async def create_api_key(rt: Runtime, tenant: str, body: ApiKeyCreate) -> ApiKeyCreated:
    key_id, key, key_hash = new_key()
    async with rt.db.sessions.begin() as session:
        await repo.add_api_key(session, repo.KeyRow(key_id, tenant, body.name, body.role.value),
                               key_hash, to_datetime(rt.clock.now_ms()))
    return ApiKeyCreated(id=key_id, name=body.name, role=body.role, api_key=key)
