"""All SQL of the configuration: tenants, API keys, queues and agents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import AgentConfig, ApiKey, ConfigModel, QueueConfig, Tenant


@dataclass(frozen=True, slots=True)
class TenantRow:
    id: str
    name: str
    clock: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: str
    tenant_id: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class ConfigRow:
    id: str
    config: dict[str, Any]
    version: int


def _tenant(row: Tenant) -> TenantRow:
    return TenantRow(row.id, row.name, row.clock, row.created_at)


async def get_tenant(session: AsyncSession, tenant_id: str) -> TenantRow | None:
    row = await session.get(Tenant, tenant_id)
    return None if row is None else _tenant(row)


async def list_tenants(session: AsyncSession) -> list[TenantRow]:
    rows = await session.scalars(select(Tenant).order_by(Tenant.id))
    return [_tenant(r) for r in rows]


async def add_tenant(session: AsyncSession, tenant: TenantRow) -> None:
    session.add(Tenant(id=tenant.id, name=tenant.name, clock=tenant.clock,
                       created_at=tenant.created_at))


async def add_api_key(
    session: AsyncSession, key: KeyRow, key_hash: str, created_at: datetime
) -> None:
    session.add(ApiKey(id=key.id, tenant_id=key.tenant_id, name=key.name, role=key.role,
                       key_hash=key_hash, created_at=created_at))


async def find_api_key(session: AsyncSession, key_hash: str) -> KeyRow | None:
    row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
    return None if row is None else KeyRow(row.id, row.tenant_id, row.name, row.role)


_CONFIG: dict[str, type[ConfigModel]] = {"queue": QueueConfig, "agent": AgentConfig}


async def get_config(
    session: AsyncSession, kind: str, tenant_id: str, object_id: str
) -> ConfigRow | None:
    row = await session.get(_CONFIG[kind], (tenant_id, object_id))
    return None if row is None else ConfigRow(row.id, dict(row.config), row.version)


async def list_configs(session: AsyncSession, kind: str, tenant_id: str) -> list[ConfigRow]:
    model = _CONFIG[kind]
    rows = await session.scalars(
        select(model).where(model.tenant_id == tenant_id).order_by(model.id)
    )
    return [ConfigRow(r.id, dict(r.config), r.version) for r in rows]


async def put_config(
    session: AsyncSession, kind: str, tenant_id: str, object_id: str,
    config: dict[str, Any], now: datetime,
) -> int:
    """Insert or replace; returns the new version (1 for a new object)."""
    model = _CONFIG[kind]
    row = await session.get(model, (tenant_id, object_id), with_for_update=True)
    if row is None:
        session.add(model(tenant_id=tenant_id, id=object_id, config=config, version=1,
                          updated_at=now))
        return 1
    row.config = config
    row.version += 1
    row.updated_at = now
    return row.version


async def delete_config(session: AsyncSession, kind: str, tenant_id: str, object_id: str) -> bool:
    model = _CONFIG[kind]
    result = await session.execute(
        delete(model).where(model.tenant_id == tenant_id, model.id == object_id)
    )
    return bool(getattr(result, "rowcount", 0))
