"""Redis goes away: requests fail fast with 503 backend-unavailable and change nothing; when
Redis comes back (empty: no persistence) the service recovers by itself, re-projecting the
tenant's configuration from SQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio.cluster import RedisCluster

from app.main import create_app
from app.settings import Settings
from app.store import keys
from tests.processes import RedisProcess, free_port
from tests.support import ADMIN_TOKEN, expect, forget_tenants, unique


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    redis = RedisProcess(free_port(), tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["redis+postgresql"], indirect=True)
async def test_redis_outage_fails_fast_and_recovers(
        own_redis: RedisProcess, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(redis_url=f"redis://127.0.0.1:{own_redis.port}/0")
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sb") as http:
        tenant = expect(await http.post("/v1/tenants", json={"id": f"outage-{own_redis.port}"},
                                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}), 201)
        auth = {"Authorization": f"Bearer {tenant['api_key']}"}
        expect(await http.put("/v1/queues/q", json={}, headers=auth), 200)
        first = expect(await http.post("/v1/calls", json={"queue": "q"}, headers=auth), 201)

        own_redis.kill()
        started = time.monotonic()
        down = await http.post("/v1/calls", json={"queue": "q"}, headers=auth)
        elapsed = time.monotonic() - started
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["type"] == "/problems/backend-unavailable"
        assert down.json()["backend"] == "Redis"
        assert elapsed < 5, f"503 took {elapsed:.1f}s"
        assert (await http.get("/readyz")).status_code == 503

        own_redis.start()  # empty: the tenant and its queue come back from SQL
        deadline = time.monotonic() + 10
        while True:
            again = await http.post("/v1/calls", json={"queue": "q"}, headers=auth)
            if again.status_code == 201 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert again.status_code == 201, again.text
        assert again.json()["queue"] == "q"
        assert again.json()["id"] != first["id"], "call ids must not repeat after data loss"
        assert (await http.get("/readyz")).status_code == 200


@pytest.mark.parametrize("backend", ["redis+postgresql", "cluster+postgresql"], indirect=True)
async def test_an_exhausted_redis_pool_says_so(make_settings: Callable[..., Settings]) -> None:
    """Every connection busy is not Redis being down: the 503 says which it is."""
    app = create_app(make_settings(redis_max_connections=1))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sb") as http:
        tenant = expect(await http.post("/v1/tenants", json={"id": unique("pool")},
                                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}), 201)
        auth = {"Authorization": f"Bearer {tenant['api_key']}"}
        expect(await http.put("/v1/queues/q", json={}, headers=auth), 200)
        redis = app.state.runtime.redis
        if isinstance(redis, RedisCluster):
            async def hold() -> None:  # the one connection to the tenant's shard blocks
                await redis.blpop([keys.key(tenant["id"], "held")], timeout=9)

            held = asyncio.create_task(hold())
            await asyncio.sleep(0.2)
            try:
                busy = await http.post("/v1/calls", json={"queue": "q"}, headers=auth)
            finally:
                held.cancel()
        else:  # the pool's one connection is taken: the request waits 5 s for it, in vain
            connection = await redis.connection_pool.get_connection()
            try:
                busy = await http.post("/v1/calls", json={"queue": "q"}, headers=auth)
            finally:
                await redis.connection_pool.release(connection)
        assert busy.status_code == 503, busy.text
        assert busy.json()["backend"] == "Redis"
        assert "connection of this replica is busy" in busy.json()["detail"]
        await forget_tenants(make_settings().redis_url, [tenant["id"]])
