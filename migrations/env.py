"""Alembic environment: async engines (aiosqlite, asyncpg), metadata from app.db.models.

The database URL comes from ``config.attributes["url"]`` (set by app.db.migrate), else from
the SWITCHBOARD_DATABASE_URL environment variable, else the local SQLite default.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.models import Base
from app.history import models as _history_models  # noqa: F401 (registers its tables)
from app.webhooks import outbox as _webhook_outbox  # noqa: F401 (registers its tables)

DEFAULT_URL = "sqlite+aiosqlite:///./switchboard.db"

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    url = config.attributes.get("url")
    if isinstance(url, str) and url:
        return url
    return os.environ.get("SWITCHBOARD_DATABASE_URL") or DEFAULT_URL


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of executing it (``alembic upgrade --sql``)."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    asyncio.run(run_async_migrations())


# The alembic CLI configures logging from alembic.ini; app.db.migrate turns that off so
# that running migrations from inside the service does not replace its logging setup.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
