"""Migration 0002 (webhooks): up, down and up again, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import migrate
from tests.support import fresh_postgres

COLUMNS = {"tenant_id", "id", "url", "events", "secret", "description", "status",
           "paused_reason", "version", "created_at", "updated_at"}
NULLABLE = {"description", "paused_reason"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}"
    else:
        yield from fresh_postgres()


def _webhooks_table(conn: Connection) -> dict[str, Any] | None:
    insp = inspect(conn)
    if "webhooks" not in insp.get_table_names():
        return None
    return {
        "columns": {c["name"]: c["nullable"] for c in insp.get_columns("webhooks")},
        "pk": insp.get_pk_constraint("webhooks")["constrained_columns"],
        "fks": [(fk["constrained_columns"], fk["referred_table"], fk["options"].get("ondelete"))
                for fk in insp.get_foreign_keys("webhooks")],
    }


async def _table(url: str) -> dict[str, Any] | None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_webhooks_table)
    finally:
        await engine.dispose()


async def test_webhooks_up_down_up(database_url: str) -> None:
    expected = {"columns": {name: name in NULLABLE for name in COLUMNS},
                "pk": ["tenant_id", "id"], "fks": [(["tenant_id"], "tenants", "CASCADE")]}
    await migrate.upgrade(database_url, "0002")
    assert await _table(database_url) == expected
    await migrate.downgrade(database_url, "0001")
    assert await _table(database_url) is None
    await migrate.upgrade(database_url, "0002")
    assert await _table(database_url) == expected
