"""Where a simulation runs: in this process, on a runtime of its own (the embedded back-end,
or a Redis given by URL) with a fresh manual-clock tenant that is removed afterwards, or on a
running server through a tenant's key."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from app.main import close_runtime, open_runtime
from app.settings import Settings
from app.simulation.engines import Engine, InProcess, OverHttp
from app.store import reads
from app.tenants import service as tenants
from app.tenants.schemas import TenantCreate


@asynccontextmanager
async def in_process(redis_url: str = "memory://") -> AsyncIterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="switchboard-sim-") as tmp:
        settings = Settings(redis_url=redis_url, database_url=f"sqlite+aiosqlite:///{tmp}/sim.db",
                            background_tasks=False, project_on_start=False,
                            log_level="WARNING")
        rt = await open_runtime(settings)
        tenant = f"sim-{secrets.token_hex(4)}"
        try:
            await tenants.create_tenant(rt, TenantCreate.model_validate(
                {"id": tenant, "clock": "manual"}))
            yield InProcess(rt, tenant)
        finally:
            await reads.forget_tenant(rt.redis, tenant)
            await close_runtime(rt)


@asynccontextmanager
async def remote(url: str, api_key: str) -> AsyncIterator[Engine]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        yield OverHttp(http, api_key)
