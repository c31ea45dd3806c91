"""All SQL of the configuration: tenants, API keys, queues, agents and webhooks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import AgentConfig, ApiKey, ConfigModel, QueueConfig, Tenant, Webhook


@dataclass(frozen=True, slots=True)
class TenantRow:
    id: str
    name: str
    clock: str
    created_at: datetime
    time_zone: str = "UTC"


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
    return TenantRow(row.id, row.name, row.clock, row.created_at, row.time_zone)


async def get_tenant(session: AsyncSession, tenant_id: str) -> TenantRow | None:
    row = await session.get(Tenant, tenant_id)
    return None if row is None else _tenant(row)


async def list_tenants(session: AsyncSession) -> list[TenantRow]:
    rows = await session.scalars(select(Tenant).order_by(Tenant.id))
    return [_tenant(r) for r in rows]


async def add_tenant(session: AsyncSession, tenant: TenantRow) -> None:
    session.add(Tenant(id=tenant.id, name=tenant.name, clock=tenant.clock,
                       time_zone=tenant.time_zone, created_at=tenant.created_at))


async def update_tenant(session: AsyncSession, tenant_id: str, name: str | None,
                        time_zone: str | None) -> TenantRow | None:
    row = await session.get(Tenant, tenant_id)
    if row is None:
        return None
    if name is not None:
        row.name = name
    if time_zone is not None:
        row.time_zone = time_zone
    return _tenant(row)


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


@dataclass(frozen=True, slots=True)
class WebhookRow:
    id: str
    url: str
    events: list[str]
    secret: str
    description: str | None
    status: str
    paused_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time written here is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _webhook(row: Webhook) -> WebhookRow:
    return WebhookRow(row.id, row.url, list(row.events), row.secret, row.description,
                      row.status, row.paused_reason, row.version, _utc(row.created_at),
                      _utc(row.updated_at))


async def get_webhook(session: AsyncSession, tenant_id: str, webhook_id: str) -> WebhookRow | None:
    row = await session.get(Webhook, (tenant_id, webhook_id))
    return None if row is None else _webhook(row)


async def list_webhooks(session: AsyncSession, tenant_id: str) -> list[WebhookRow]:
    rows = await session.scalars(
        select(Webhook).where(Webhook.tenant_id == tenant_id).order_by(Webhook.id)
    )
    return [_webhook(r) for r in rows]


async def put_webhook(
    session: AsyncSession, tenant_id: str, webhook_id: str, *, url: str, events: list[str],
    secret: str, description: str | None, now: datetime,
) -> WebhookRow:
    """Insert (active, version 1) or replace the configuration; a replacement keeps the status
    and creation time and gets the next version."""
    row = await session.get(Webhook, (tenant_id, webhook_id), with_for_update=True)
    if row is None:
        row = Webhook(tenant_id=tenant_id, id=webhook_id, status="active", paused_reason=None,
                      version=0, created_at=now)
        session.add(row)
    row.url, row.events, row.secret, row.description = url, events, secret, description
    row.version += 1
    row.updated_at = now
    await session.flush()
    return _webhook(row)


async def set_webhook_status(
    session: AsyncSession, tenant_id: str, webhook_id: str, status: str,
    reason: str | None, now: datetime,
) -> WebhookRow | None:
    """Pause (with a reason) or resume; None if there is no such webhook. Setting the status a
    webhook already has changes nothing."""
    row = await session.get(Webhook, (tenant_id, webhook_id), with_for_update=True)
    if row is None:
        return None
    if (row.status, row.paused_reason) != (status, reason):
        row.status, row.paused_reason, row.updated_at = status, reason, now
        await session.flush()
    return _webhook(row)


async def delete_webhook(session: AsyncSession, tenant_id: str, webhook_id: str) -> bool:
    result = await session.execute(
        delete(Webhook).where(Webhook.tenant_id == tenant_id, Webhook.id == webhook_id)
    )
    return bool(getattr(result, "rowcount", 0))
