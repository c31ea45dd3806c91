"""Test support: fresh databases and a small client for one tenant's API."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.runtime import Runtime
from app.store import reads
from app.store.connection import open_redis


def _worker_redis_url(url: str) -> str:
    """Under pytest-xdist each worker takes its own database of the test Redis (gw0 → 0,
    gw1 → 1, ...), so one worker's background sweeps never meet another's tenants."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not url.startswith("redis://"):
        return url
    return urlunsplit(urlsplit(url)._replace(path=f"/{int(worker[2:])}"))


REDIS_URL = _worker_redis_url(
    os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
PG_URL = os.environ.get("SWITCHBOARD_TEST_DATABASE_URL",
                        "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
ADMIN_TOKEN = "test-admin-token"

Json = dict[str, Any]


async def _admin(sql: str) -> None:
    admin = create_async_engine(make_url(PG_URL).set(database="postgres"),
                                isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    try:
        async with admin.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await admin.dispose()


def fresh_postgres() -> Iterator[str]:
    """A new, uniquely named PostgreSQL database (dropped afterwards); runs its own loop so
    session-wide fixtures need no session-wide event loop."""
    name = f"sb_test_{secrets.token_hex(6)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def forget_tenants(redis_url: str, tenants: list[str]) -> None:
    """Remove what the tests' tenants left in a shared Redis."""
    if not redis_url.startswith("redis"):
        return
    redis = open_redis(redis_url)
    try:
        for tenant in tenants:
            await reads.forget_tenant(redis, tenant)
    finally:
        await redis.aclose()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def expect(response: httpx.Response, status: int) -> Json:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: expected {status}, "
        f"got {response.status_code}: {response.text}")
    if response.status_code == 204:
        return {}
    body: Json = response.json()
    return body


class TenantApi:
    """One tenant's API through an admin key, with factories for the common steps."""

    def __init__(self, http: httpx.AsyncClient, tenant_id: str, key: str) -> None:
        self.http = http
        self.id = tenant_id
        self.key = key
        self.headers = {"Authorization": f"Bearer {key}"}

    async def request(self, method: str, path: str, json: Any = None,
                      headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return await self.http.request(method, path, json=json,
                                       headers=headers or self.headers, **kw)

    async def put_queue(self, queue_id: str, **config: Any) -> Json:
        return expect(await self.request("PUT", f"/v1/queues/{queue_id}", config), 200)

    async def put_agent(self, agent_id: str, **config: Any) -> Json:
        return expect(await self.request("PUT", f"/v1/agents/{agent_id}", config), 200)

    async def state(self, agent_id: str, state: str, **extra: Any) -> Json:
        return expect(await self.request("POST", f"/v1/agents/{agent_id}/state",
                                         {"state": state, **extra}), 200)

    async def agent(self, agent_id: str) -> Json:
        return expect(await self.request("GET", f"/v1/agents/{agent_id}"), 200)

    async def arrive(self, queue: str, **fields: Any) -> Json:
        response = await self.request("POST", "/v1/calls", {"queue": queue, **fields})
        return expect(response, 200 if response.status_code == 200 else 201)

    async def arrive_spaced(self, queue: str, count: int, gap_s: float = 1) -> list[str]:
        """`count` calls into `queue`, `gap_s` apart on the manual clock; their ids."""
        ids = []
        for _ in range(count):
            ids.append((await self.arrive(queue))["id"])
            await self.advance(gap_s)
        return ids

    async def handle_one_call(self, queue: str, agent_id: str) -> Json:
        """An agent takes one call from available to completed; the completed call."""
        await self.state(agent_id, "available")
        call = await self.arrive(queue)
        await self.accept(call["id"])
        return await self.complete(call["id"])

    async def call(self, call_id: str) -> Json:
        return expect(await self.request("GET", f"/v1/calls/{call_id}"), 200)

    async def accept(self, call_id: str, offer_id: str | None = None) -> Json:
        offer_id = offer_id or (await self.call(call_id))["offer"]["id"]
        return expect(await self.request("POST", f"/v1/calls/{call_id}/accept",
                                          {"offer_id": offer_id}), 200)

    async def reject(self, call_id: str, offer_id: str | None = None) -> Json:
        offer_id = offer_id or (await self.call(call_id))["offer"]["id"]
        return expect(await self.request("POST", f"/v1/calls/{call_id}/reject",
                                          {"offer_id": offer_id}), 200)

    async def abandon(self, call_id: str) -> Json:
        return expect(await self.request("POST", f"/v1/calls/{call_id}/abandon"), 200)

    async def complete(self, call_id: str, **fields: Any) -> Json:
        return expect(await self.request("POST", f"/v1/calls/{call_id}/complete", fields), 200)

    async def transfer(self, call_id: str, **target: Any) -> Json:
        return expect(await self.request("POST", f"/v1/calls/{call_id}/transfer", target), 200)

    async def advance(self, seconds: float) -> Json:
        return expect(await self.request("POST", "/v1/clock/advance", {"seconds": seconds}), 200)

    async def clock_ms(self) -> int:
        from datetime import datetime

        now = expect(await self.request("GET", "/v1/clock"), 200)["now"]
        return round(datetime.fromisoformat(now).timestamp() * 1000)

    async def events(self, types: set[str] | None = None) -> list[Json]:
        out: list[Json] = []
        after: str | None = None
        while True:
            params = {"limit": "1000", **({"after": after} if after else {})}
            page = expect(await self.request("GET", "/v1/events", params=params), 200)
            out.extend(page["events"])
            if len(page["events"]) < 1000:
                break
            after = page["next_after"]
        return [e for e in out if types is None or e["type"] in types]


async def talking_with_one_waiting(tenant: TenantApi) -> tuple[str, str]:
    """Queue `q` without wrap-up: ana talks on one call and a second call waits. Returns
    (the call ana talks on, the waiting call)."""
    await tenant.put_queue("q", wrap_up_s=0)
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    first = await tenant.arrive("q")
    await tenant.accept(first["id"])
    second = await tenant.arrive("q")
    assert (await tenant.call(second["id"]))["state"] == "queued"
    return first["id"], second["id"]


class Api:
    """The service behind an httpx client; creates tenants with the platform admin token.
    `app` is set when the service runs in this process (its runtime is then reachable)."""

    def __init__(self, http: httpx.AsyncClient, app: FastAPI | None = None) -> None:
        self.http = http
        self.app = app
        self.tenants: list[str] = []

    @property
    def runtime(self) -> Runtime:
        assert self.app is not None, "the service does not run in this process"
        return cast(Runtime, self.app.state.runtime)

    async def tenant(self, clock: str = "manual", tenant_id: str | None = None) -> TenantApi:
        tenant_id = tenant_id or unique("t")
        body = expect(await self.http.post(
            "/v1/tenants", json={"id": tenant_id, "clock": clock},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}), 201)
        self.tenants.append(tenant_id)
        return TenantApi(self.http, tenant_id, body["api_key"])
