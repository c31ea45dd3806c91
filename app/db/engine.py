"""The SQL engine: one per process, created in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


@dataclass(frozen=True, slots=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    async def dispose(self) -> None:
        await self.engine.dispose()


def open_database(url: str) -> Database:
    kwargs: dict[str, object] = {"pool_pre_ping": True}
    if url.startswith("postgresql+asyncpg"):
        # The statistics queries look expensive enough to PostgreSQL's planner for it to
        # compile them with LLVM first, which costs more (about 1 s) than running them
        # (docs/benchmarks.md, statistics). Nothing Switchboard runs gains from JIT.
        kwargs["connect_args"] = {"server_settings": {"jit": "off"}}
    elif url.startswith("sqlite"):
        # SQLite serialises writers; a short busy timeout beats "database is locked".
        kwargs = {"connect_args": {"timeout": 15}}
    engine = create_async_engine(url, **kwargs)
    return Database(engine, async_sessionmaker(engine, expire_on_commit=False))
