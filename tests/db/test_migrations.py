"""Alembic migrations: up, down and up again, on SQLite and PostgreSQL; schema == models."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, pool, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import migrate
from app.db.models import Base
from app.history import models as _history_models  # noqa: F401 (registers its tables)
from app.webhooks import outbox as _webhook_outbox  # noqa: F401 (registers its tables)

T = TypeVar("T")

# Any database on the test server will do; the tests create (and drop) their own.
PG_URL = os.environ.get(
    "SWITCHBOARD_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)

EXPECTED_COLUMNS = {
    "tenants": {"id", "name", "clock", "time_zone", "created_at"},
    "api_keys": {"id", "tenant_id", "name", "role", "key_hash", "created_at"},
    "queues": {"tenant_id", "id", "config", "version", "updated_at"},
    "agents": {"tenant_id", "id", "config", "version", "updated_at"},
    "webhooks": {"tenant_id", "id", "url", "events", "secret", "description", "status",
                 "paused_reason", "failing_since", "version", "created_at", "updated_at"},
    "call_history": {
        "tenant_id", "call_id", "external_id", "channel", "priority", "first_queue", "queue",
        "queues", "customer_id", "outcome", "agent_id", "arrived_at", "first_offered_at",
        "connected_at", "ended_at", "wait_ms", "talk_ms", "transfers", "overflows", "requeues",
        "missed_offers", "resolved", "disposition", "csat", "event_id", "call"},
    "wrap_ups": {"tenant_id", "event_id", "call_id", "agent_id", "ended_at", "wrap_ms"},
    "agent_intervals": {"tenant_id", "event_id", "agent_id", "state", "reason", "started_at",
                        "ended_at"},
    "call_legs": {
        "tenant_id", "call_id", "leg", "queue", "channel", "customer_id", "entered_ms",
        "connected_ms", "left_ms", "outcome", "agent_id", "wait_ms", "talk_ms",
        "sl_threshold_ms", "missed_offers", "resolved", "csat"},
    "offer_outcomes": {"tenant_id", "event_id", "agent_id", "call_id", "queue", "at_ms",
                       "outcome"},
    "webhook_deliveries": {
        "tenant_id", "webhook_id", "event_id", "seq", "line", "event_type", "payload", "status",
        "attempts", "created_at", "next_attempt_at", "locked_until", "done_at", "last_error"},
    "webhook_attempts": {"id", "tenant_id", "webhook_id", "event_id", "event_type", "attempt",
                         "attempted_at", "status_code", "latency_ms", "error"},
}


async def _postgres_database() -> AsyncIterator[str]:
    """A fresh, uniquely named PostgreSQL database, dropped afterwards."""
    admin_url = make_url(PG_URL).set(database="postgres")
    name = f"sb_mig_{secrets.token_hex(6)}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}"
    else:
        async for url in _postgres_database():
            yield url


async def _run(url: str, fn: Callable[[Connection], T]) -> T:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _columns(conn: Connection) -> dict[str, set[str]]:
    insp = inspect(conn)
    return {
        table: {column["name"] for column in insp.get_columns(table)}
        for table in insp.get_table_names()
        if table != "alembic_version"
    }


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _schema_diffs(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    diffs: list[Any] = compare_metadata(context, Base.metadata)
    return diffs


def test_current_head() -> None:
    assert migrate.current_head() == "0005"


async def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    await migrate.upgrade(database_url)
    assert await _run(database_url, _columns) == EXPECTED_COLUMNS
    assert await _run(database_url, _revision) == migrate.current_head()

    await migrate.downgrade(database_url, "base")
    assert await _run(database_url, _columns) == {}
    assert await _run(database_url, _revision) is None

    await migrate.upgrade(database_url)
    assert await _run(database_url, _columns) == EXPECTED_COLUMNS
    assert await _run(database_url, _revision) == migrate.current_head()


async def test_schema_matches_models(database_url: str) -> None:
    await migrate.upgrade(database_url)
    assert await _run(database_url, _schema_diffs) == []


def _constraints(conn: Connection) -> dict[str, Any]:
    insp = inspect(conn)
    return {
        table: {
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "fks": [
                (fk["constrained_columns"], fk["referred_table"], fk["options"].get("ondelete"))
                for fk in insp.get_foreign_keys(table)
            ],
            "unique": sorted(u["column_names"] for u in insp.get_unique_constraints(table)),
            "indexes": sorted(
                (i["column_names"], bool(i["unique"]))
                for i in insp.get_indexes(table)
                # PostgreSQL backs unique constraints with an index; SQLite reports them too.
                if not i.get("duplicates_constraint") and i["column_names"] != ["key_hash"]
            ),
        }
        for table in EXPECTED_COLUMNS
    }


async def test_keys_and_indexes(database_url: str) -> None:
    await migrate.upgrade(database_url)
    cascade_to_tenants = [(["tenant_id"], "tenants", "CASCADE")]
    assert await _run(database_url, _constraints) == {
        "tenants": {"pk": ["id"], "fks": [], "unique": [], "indexes": []},
        "api_keys": {
            "pk": ["id"],
            "fks": cascade_to_tenants,
            "unique": [["key_hash"]],
            "indexes": [(["tenant_id"], False)],
        },
        "queues": {
            "pk": ["tenant_id", "id"],
            "fks": cascade_to_tenants,
            "unique": [],
            "indexes": [],
        },
        "agents": {
            "pk": ["tenant_id", "id"],
            "fks": cascade_to_tenants,
            "unique": [],
            "indexes": [],
        },
        "webhooks": {"pk": ["tenant_id", "id"], "fks": cascade_to_tenants, "unique": [],
                     "indexes": []},
        "call_history": {
            "pk": ["tenant_id", "call_id"], "fks": cascade_to_tenants, "unique": [],
            "indexes": [(["tenant_id", "arrived_at"], False),
                        (["tenant_id", "customer_id"], False)],
        },
        "wrap_ups": {"pk": ["tenant_id", "event_id"], "fks": cascade_to_tenants, "unique": [],
                     "indexes": [(["tenant_id", "call_id"], False)]},
        "agent_intervals": {
            "pk": ["tenant_id", "event_id"], "fks": cascade_to_tenants, "unique": [],
            "indexes": [(["tenant_id", "agent_id", "started_at"], False)],
        },
        "call_legs": {
            "pk": ["tenant_id", "call_id", "leg"], "fks": cascade_to_tenants, "unique": [],
            "indexes": [(["tenant_id", "agent_id", "connected_ms"], False),
                        (["tenant_id", "entered_ms"], False),
                        (["tenant_id", "queue", "customer_id", "entered_ms"], False)],
        },
        "offer_outcomes": {"pk": ["tenant_id", "event_id"], "fks": cascade_to_tenants,
                           "unique": [], "indexes": [(["tenant_id", "at_ms"], False)]},
        "webhook_deliveries": {
            "pk": ["tenant_id", "webhook_id", "event_id"], "fks": cascade_to_tenants,
            "unique": [],
            "indexes": [(["status", "seq"], False),
                        (["tenant_id", "webhook_id", "line", "status", "seq"], False)],
        },
        "webhook_attempts": {
            "pk": ["id"], "fks": cascade_to_tenants, "unique": [],
            "indexes": [(["tenant_id", "webhook_id", "id"], False)],
        },
    }
