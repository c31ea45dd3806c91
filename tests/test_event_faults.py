"""Faults around the event consumers, with real `switchboard serve` processes: PostgreSQL
unreachable during traffic (a TCP proxy in front of it is cut, then restored) and a webhook
receiver that is down while events happen, then comes back. Routing goes on throughout; once
the outside world is back, the history holds every call exactly once and the receiver gets
every event, in order per call, each signature valid."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy.engine import make_url

from tests.processes import ServerProcess, free_port, one_agent_tenant, until
from tests.support import REDIS_URL, TenantApi, forget_tenants
from tests.webhooks.receiver import Receiver, receiver

FAST = {"SWITCHBOARD_HISTORY_INTERVAL_S": "0.05", "SWITCHBOARD_WEBHOOK_INTERVAL_S": "0.05",
        "SWITCHBOARD_WEBHOOK_BACKOFF_BASE_S": "0.1", "SWITCHBOARD_WEBHOOK_BACKOFF_MAX_S": "0.5",
        "SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE": "true"}


class Proxy:
    """A TCP proxy to PostgreSQL that can be cut (every connection closed, none accepted)."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                 reuse_address=True)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.open):
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.open.update((writer, up_w))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        self.open.difference_update((writer, up_w))


async def handle_calls(t: TenantApi, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        call = await t.arrive("q")
        assert call["state"] == "offered", call
        await t.accept(call["id"])
        await t.complete(call["id"])
        ids.append(call["id"])
    return ids


async def test_postgres_down_during_traffic_history_complete_once_back(
        database_url: str, tmp_path: Path) -> None:
    url = make_url(database_url)
    proxy = Proxy(url.port or 5432)
    await proxy.start()
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server = ServerProcess("sb", via_proxy, tmp_path, **FAST)
    tenant_id = ""
    try:
        server.start()
        await server.wait_ready()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            t = await one_agent_tenant(http)
            tenant_id = t.id
            before = await handle_calls(t, 5)
            await proxy.cut()  # PostgreSQL unreachable
            during = await handle_calls(t, 10)  # routing goes on
            assert (await t.request("PUT", "/v1/queues/other", {})).status_code == 503
            await proxy.start()  # back
            after = await handle_calls(t, 5)
        db = await asyncpg.connect(database_url.replace("postgresql+asyncpg://",
                                                        "postgresql://"))
        try:
            async def written() -> list[str] | None:
                rows = await db.fetch("SELECT call_id FROM call_history WHERE tenant_id = $1",
                                      tenant_id)
                return [r["call_id"] for r in rows] if len(rows) >= 20 else None

            found = await until(written, 30, "every call in the history")
            assert sorted(found) == sorted(before + during + after)
        finally:
            await db.close()
    finally:
        server.stop()
        with contextlib.suppress(Exception):
            await proxy.cut()
        if tenant_id:
            await forget_tenants(REDIS_URL, [tenant_id])


async def test_a_receiver_down_gets_every_event_in_order_once_back(
        database_url: str, tmp_path: Path) -> None:
    server = ServerProcess("sb", database_url, tmp_path, **FAST)
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/hooks")
    tenant_id = ""
    try:
        server.start()
        await server.wait_ready()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            t = await one_agent_tenant(http)
            tenant_id = t.id
            created = await t.request("PUT", "/v1/webhooks/w", {"url": state.url,
                                                                "events": ["call.*"]})
            secret = created.json()["secret"]
            calls = await handle_calls(t, 8)  # nobody listens on the port yet
            await asyncio.sleep(1)
            assert not state.received
            with receiver(port, state):

                async def all_delivered() -> bool:
                    return len({p["id"] for p in state.verified(secret)}) >= 8 * 4

                await until(all_delivered, 30, "every event at the receiver")
            attempts = (await t.request("GET", "/v1/webhooks/w/deliveries",
                                        params={"limit": 1000})).json()["attempts"]
        assert any(a["status_code"] is None and a["error"] for a in attempts)  # refused first
        by_call: dict[str, list[str]] = {}
        for p in state.verified(secret):
            if p["type"] not in by_call.get(p["data"]["call"]["id"], []):
                by_call.setdefault(p["data"]["call"]["id"], []).append(p["type"])
        assert by_call == {c: ["call.queued", "call.offered", "call.connected",
                               "call.completed"] for c in calls}
    finally:
        server.stop()
        if tenant_id:
            await forget_tenants(REDIS_URL, [tenant_id])
