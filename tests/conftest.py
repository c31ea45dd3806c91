"""Fixtures: the service on both back-ends, real Redis + PostgreSQL and the embedded
memory:// + SQLite, with a schema migrated once per session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db.migrate import upgrade
from app.main import create_app
from app.settings import Settings
from tests.clusters import RedisClusterProcesses
from tests.support import (
    ADMIN_TOKEN,
    REDIS_URL,
    Api,
    TenantApi,
    forget_tenants,
    fresh_postgres,
)

BACKENDS = ["redis+postgresql", "memory+sqlite"]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    for url in fresh_postgres():
        asyncio.run(upgrade(url))
        yield url


@pytest.fixture
def database_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own, empty (for `switchboard serve` processes, which
    migrate it themselves)."""
    yield from fresh_postgres()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sql') / 'switchboard.db'}"
    asyncio.run(upgrade(url))
    return url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcesses]:
    """Three primaries on loopback ports, for the tests parametrized with "cluster+postgresql"
    (started once per test process, on first use)."""
    cluster = RedisClusterProcesses(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def make_settings(request: pytest.FixtureRequest, backend: str, postgres_url: str,
                  sqlite_url: str) -> Callable[..., Settings]:
    real = backend != "memory+sqlite"
    redis_url = {"redis+postgresql": REDIS_URL, "memory+sqlite": "memory://"}.get(backend)
    if backend == "cluster+postgresql":
        redis_url = request.getfixturevalue("redis_cluster").url

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "redis_url": redis_url,
            "database_url": postgres_url if real else sqlite_url,
            "admin_token": ADMIN_TOKEN, "auto_migrate": False, "background_tasks": False,
            "project_on_start": False, "log_level": "WARNING", **overrides,
        }
        return Settings(**values)

    return make


@pytest.fixture
def service_settings() -> dict[str, Any]:
    """Settings a test module wants different for its `service` (override this fixture)."""
    return {}


@pytest.fixture
async def service(make_settings: Callable[..., Settings],
                  service_settings: dict[str, Any]) -> AsyncIterator[Api]:
    """The app in process (lifespan run), reached through httpx."""
    settings = make_settings(**service_settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard") as http:
            api = Api(http, app)
            yield api
    await forget_tenants(settings.redis_url, api.tenants)


@pytest.fixture
async def tenant(service: Api) -> TenantApi:
    """A manual-clock tenant."""
    return await service.tenant("manual")


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
