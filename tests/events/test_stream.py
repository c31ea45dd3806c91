"""`GET /v1/events/stream`: Server-Sent Events with resume, heartbeats and filters (DESIGN §3.5).

httpx's ASGITransport hands a response over only once the app has finished it, so these tests
serve the app with uvicorn on a local port, in this process and event loop: both back-ends
(memory:// lives in the process) and a real socket for the client to drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from app.main import create_app
from app.settings import Settings
from tests.events.scenario import about, busy_day
from tests.processes import ServerProcess, free_port
from tests.support import Api, Json, TenantApi, expect, forget_tenants

HEARTBEAT_S = 0.2
WAIT_S = 3.0  # far above any one step here; reached only when a test fails


async def until(condition: Callable[[], bool]) -> None:
    """Poll the in-process server's state (uvicorn offers no event to wait on)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


@dataclass
class Served:
    api: Api
    server: uvicorn.Server


@pytest.fixture
async def served(make_settings: Callable[..., Settings]) -> AsyncIterator[Served]:
    async with serve(make_settings(sse_heartbeat_s=HEARTBEAT_S)) as running:
        yield running


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Served]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", http="h11", ws="none",
            log_config=None, timeout_graceful_shutdown=1))
        serving = asyncio.create_task(server.serve())
        try:
            await until(lambda: server.started)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                         timeout=WAIT_S) as http:
                api = Api(http, app)
                yield Served(api, server)
        finally:
            server.should_exit = True
            await serving
    await forget_tenants(settings.redis_url, api.tenants)


@pytest.fixture
async def tenant(served: Served) -> TenantApi:
    return await served.api.tenant("manual")


@dataclass(frozen=True)
class Frame:
    id: str | None = None
    event: str | None = None
    data: Json | None = None
    comment: str | None = None


class Frames:
    """The frames of one open stream, read one at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self) -> Frame:
        fields: dict[str, str] = {}
        async with asyncio.timeout(WAIT_S):
            async for line in self._lines:
                if line == "":
                    if fields:
                        break
                    continue
                name, _, value = line.partition(":")
                fields[name or "comment"] = value.removeprefix(" ")
        data = fields.get("data")
        return Frame(fields.get("id"), fields.get("event"),
                     None if data is None else json.loads(data), fields.get("comment"))

    async def events(self, count: int) -> list[Json]:
        """The next `count` events (heartbeats skipped), each checked against its frame."""
        out: list[Json] = []
        while len(out) < count:
            frame = await self.next()
            if frame.comment is None:
                assert frame.data is not None
                assert (frame.id, frame.event) == (frame.data["id"], frame.data["type"])
                out.append(frame.data)
        return out

    async def heartbeat(self) -> None:
        """The next frame is a heartbeat: nothing else was pending."""
        assert await self.next() == Frame(comment="heartbeat")


@contextlib.asynccontextmanager
async def stream(t: TenantApi, headers: dict[str, str] | None = None,
                 **params: str) -> AsyncIterator[Frames]:
    """An open stream; leaving the block drops the connection."""
    async with t.http.stream("GET", "/v1/events/stream", params=params,
                             headers={**t.headers, **(headers or {})}) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        yield Frames(response)


async def test_events_arrive_as_frames_like_polled_events(tenant: TenantApi) -> None:
    await busy_day(tenant)
    everything = await tenant.events()

    async with stream(tenant, after="0") as frames:
        assert frames.response.headers["content-type"].startswith("text/event-stream")
        assert frames.response.headers["cache-control"] == "no-cache"
        assert frames.response.headers["x-accel-buffering"] == "no"
        assert await frames.events(len(everything)) == everything
        await frames.heartbeat()


async def test_a_reconnecting_client_gets_exactly_what_it_missed(tenant: TenantApi) -> None:
    await busy_day(tenant)
    async with stream(tenant, after="0") as frames:
        seen = await frames.events(3)
    await tenant.put_agent("cy", queues=["sales"])
    await tenant.state("cy", "available")
    everything = await tenant.events()

    async with stream(tenant, {"Last-Event-ID": seen[-1]["id"]}) as frames:
        missed = await frames.events(len(everything) - 3)
        await frames.heartbeat()
        await tenant.arrive("sales")
        [new] = await frames.events(1)

    assert seen + missed == everything
    assert new["type"] == "call.queued"


async def test_without_a_position_only_new_events_come(tenant: TenantApi) -> None:
    await busy_day(tenant)
    async with stream(tenant) as frames:
        call = await tenant.arrive("sales")
        [queued] = await frames.events(1)
    assert (queued["type"], queued["data"]["call"]["id"]) == ("call.queued", call["id"])


async def test_last_event_id_wins_over_after(tenant: TenantApi) -> None:
    await busy_day(tenant)
    everything = await tenant.events()
    async with stream(tenant, {"Last-Event-ID": everything[-2]["id"]}, after="0") as frames:
        assert await frames.events(1) == everything[-1:]
        await frames.heartbeat()


async def test_heartbeats_keep_an_idle_stream_alive(tenant: TenantApi) -> None:
    loop = asyncio.get_running_loop()
    async with stream(tenant) as frames:
        started_s = loop.time()
        for _ in range(3):
            await frames.heartbeat()
        assert loop.time() - started_s >= 2 * HEARTBEAT_S  # not one after another


async def test_filters_apply_to_the_stream(tenant: TenantApi) -> None:
    await busy_day(tenant)
    wanted = [e for e in await tenant.events()
              if e["type"].startswith("call.") and about(e, "support")]

    async with stream(tenant, after="0", types="call.*", queue="support") as frames:
        assert await frames.events(len(wanted)) == wanted
        await frames.heartbeat()
        await tenant.put_agent("dee", queues=["support"])  # agent.updated: not selected
        await tenant.arrive("sales")  # another queue
        call = await tenant.arrive("support")
        [queued] = await frames.events(1)
    assert queued["data"]["call"]["id"] == call["id"]


async def test_the_request_ends_when_the_client_goes(served: Served,
                                                     tenant: TenantApi) -> None:
    for _ in range(3):
        async with stream(tenant) as frames:
            await frames.heartbeat()
    await until(lambda: not served.server.server_state.tasks)
    await busy_day(tenant)  # and Redis still serves every request


@pytest.mark.parametrize(("params", "headers", "field"), [
    ({"types": "call.nope"}, {}, "types"),
    ({"types": ""}, {}, "types"),
    ({"queue": "-x"}, {}, "queue"),
    ({"after": "yesterday"}, {}, "after"),
    ({"after": "99999999999999999999-0"}, {}, "after"),
    ({}, {"Last-Event-ID": "yesterday"}, "Last-Event-ID"),
    ({"after": "0"}, {"Last-Event-ID": "0-99999999999999999999"}, "Last-Event-ID"),
])
async def test_bad_input_is_a_problem_naming_the_field(
        tenant: TenantApi, params: dict[str, str], headers: dict[str, str], field: str) -> None:
    response = await tenant.request("GET", "/v1/events/stream", params=params,
                                    headers={**tenant.headers, **headers})
    problem = expect(response, 422)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"].split(".")[-1] for e in problem["errors"]], problem


async def test_agents_cannot_follow_the_stream(tenant: TenantApi) -> None:
    key = expect(await tenant.request("POST", "/v1/api-keys",
                                      {"name": "desk", "role": "agent"}), 201)["api_key"]
    response = await tenant.request("GET", "/v1/events/stream",
                                    headers={"Authorization": f"Bearer {key}"})
    assert expect(response, 403)["role"] == "agent"


async def test_draining_ends_open_streams_at_once(tmp_path: Path) -> None:
    """SIGTERM to `switchboard serve`: an open stream ends cleanly right away, so the
    process stops well inside its graceful timeout (3 s here) instead of waiting it out."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'sb.db'}"
    server = ServerProcess("sb", database, tmp_path)
    try:
        server.start()
        await server.wait_ready()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            t = await Api(http).tenant("manual")
            async with http.stream("GET", "/v1/events/stream", headers=t.headers) as stream:
                assert stream.status_code == 200
                started = time.monotonic()
                server.terminate()
                async for _ in stream.aiter_bytes():
                    pass  # until the server ends the stream
                ended = time.monotonic() - started
        assert ended < 2.0, ended
        # Exits on its own (uvicorn re-raises the SIGTERM it handled once it has drained).
        assert server.wait(timeout_s=5) in (0, -signal.SIGTERM)
    finally:
        server.stop()


async def test_a_stream_over_the_limit_is_refused_and_slots_come_back(
        make_settings: Callable[..., Settings]) -> None:
    async with serve(make_settings(sse_heartbeat_s=HEARTBEAT_S, sse_max_streams=2)) as served:
        t = await served.api.tenant("manual")
        streams = served.api.runtime.streams
        async with stream(t) as first, stream(t):
            await first.heartbeat()
            await until(lambda: streams.open == 2)
            refused = await t.request("GET", "/v1/events/stream")
            problem = expect(refused, 503)
            assert (problem["type"], problem["limit"]) == ("/problems/too-many-streams", 2)
            assert refused.headers["content-type"].startswith("application/problem+json")
            expect(await t.request("GET", "/v1/events"), 200)  # polling is never refused
        await until(lambda: streams.open == 0)  # the clients went: their slots are free
        async with stream(t) as again:
            await again.heartbeat()


@pytest.mark.parametrize("backend", ["redis+postgresql"])  # memory:// has no connections
async def test_followers_cannot_starve_routing_of_redis_connections(
        make_settings: Callable[..., Settings]) -> None:
    """Three streams wait in blocking reads (up to 2 s each) while routing has a pool of one
    connection: the streams wait on connections of their own, so routing goes on at once."""
    settings = make_settings(sse_heartbeat_s=30, redis_max_connections=1, sse_max_streams=3)
    async with serve(settings) as served:
        t = await served.api.tenant("manual")
        async with stream(t), stream(t), stream(t):
            await until(lambda: served.api.runtime.streams.open == 3)
            async with asyncio.timeout(WAIT_S):
                await busy_day(t)
