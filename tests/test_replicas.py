"""Many replicas and the faults of production (DESIGN §2, §5), with real processes.

Three `switchboard serve` processes share one Redis and one PostgreSQL; callers and agents
spread their requests over all three, and a webhook receiver subscribes to every call event.
One replica gets SIGTERM mid-load and drains; later Redis itself is killed and started again
from its append-only file. Each test checks the invariants, not just the absence of errors:
no agent ever holds two calls, every call ends exactly once, nothing acknowledged is lost,
and every event reaches the webhook receiver.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import (
    Audit,
    Behaviour,
    Desk,
    Endpoint,
    Load,
    RedisProcess,
    ServerProcess,
    check_final,
    free_port,
    start_servers,
    tear_down,
    until,
    wind_down,
)
from tests.support import REDIS_URL, Api, Json, unique
from tests.webhooks.receiver import Receiver, receiver

AGENTS = [f"agent-{i:02d}" for i in range(24)]
BEHAVIOUR = Behaviour(queues={"q": 1.0}, abandon_p=0.1, talk_s=(0.2, 0.8), retry_s=25)
ENV = {"SWITCHBOARD_RECONCILE_INTERVAL_S": "0.5", "SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE": "true",
       "SWITCHBOARD_WEBHOOK_INTERVAL_S": "0.05", "SWITCHBOARD_WEBHOOK_BACKOFF_BASE_S": "0.1",
       "SWITCHBOARD_WEBHOOK_BACKOFF_MAX_S": "0.5", "SWITCHBOARD_HISTORY_INTERVAL_S": "0.1",
       # A replica's unacknowledged events (and leased deliveries) pass to another soon.
       "SWITCHBOARD_EVENTS_CLAIM_IDLE_S": "2"}
# Refused connections, and a request sent on an idle keep-alive connection just as the draining
# replica closed it (seen as a close or a reset): the request never ran, and the client sends it
# again elsewhere. A timeout would mean a request the replica took and never answered.
RETRYABLE = ("ConnectError", "RemoteProtocolError", "ReadError")


async def set_up(http: httpx.AsyncClient, tenant_id: str, hooks: Receiver) -> tuple[str, str]:
    admin = await Api(http).tenant("wall", tenant_id)
    await admin.put_queue("q", offer_timeout_s=2, wrap_up_s=0)
    for agent in AGENTS:
        await admin.put_agent(agent)
    created = await admin.request("PUT", "/v1/webhooks/all", {"url": hooks.url,
                                                               "events": ["call.*"]})
    assert created.status_code in (200, 201), created.text
    return admin.key, str(created.json()["secret"])


async def finish(desk: Desk, load: Load, callers: list[asyncio.Task[None]]) -> Audit:
    """Let the callers finish, stop the agents, end every open call; the audited stream."""
    await asyncio.wait_for(asyncio.gather(*callers), 90)
    await load.stop_agents()
    assert not desk.problems, desk.problems[:10]
    await wind_down(desk)
    events = await desk.events()
    audit = Audit().replay(events)
    assert not audit.violations, "\n".join(audit.violations)
    audit.check_closed()
    await check_final(desk, audit, AGENTS)
    return audit


async def every_event_delivered(desk: Desk, hooks: Receiver, secret: str) -> None:
    """Every call event of the stream reached the receiver (at least once; ids dedupe)."""
    wanted = {e["id"] for e in await desk.events() if e["type"].startswith("call.")}

    async def delivered() -> bool:
        return wanted <= {p["id"] for p in hooks.verified(secret)}

    # Well inside the 60 s webhook lease: a lease left behind would show here.
    await until(delivered, 30, f"{len(wanted)} events at the webhook receiver")


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_three_replicas_under_load_one_drained_by_sigterm(database_url: str,
                                                                tmp_path: Path) -> None:
    tenant_id = unique("replicas")
    rng = random.Random(2026)
    procs: list[ServerProcess] = []
    clients: list[httpx.AsyncClient] = []
    load: Load | None = None
    try:
        with receiver() as hooks:
            clients = await start_servers(procs, ["a", "b", "c"], database_url, tmp_path,
                                          **ENV)
            key, secret = await set_up(clients[0], tenant_id, hooks)
            endpoints = [Endpoint(p.name, http) for p, http in zip(procs, clients, strict=True)]
            desk = Desk(endpoints, key, rng)
            load = Load(desk, AGENTS, BEHAVIOUR, rng)
            load.start_agents()
            callers = load.callers(400, concurrency=24, spacing_s=0.015)

            await asyncio.sleep(2.5)
            assert not all(c.done() for c in callers)
            drained = procs[2]
            drained.terminate()  # SIGTERM with requests in flight
            started = time.monotonic()
            code = await asyncio.to_thread(drained.wait, 15)
            # After a complete drain uvicorn re-raises the SIGTERM it caught (exit 143).
            assert code in (0, -signal.SIGTERM), drained.log()
            assert "Traceback" not in drained.log() and "ERROR" not in drained.log()
            assert time.monotonic() - started < 8, "drain took longer than its grace period"
            endpoints[2].http = None

            drain_s = time.monotonic() - started
            audit = await finish(desk, load, callers)
            finished_s = time.monotonic() - started
            # Every caller was answered; requests the draining replica refused went again.
            assert len(load.created) == 400
            assert load.created_201 <= set(audit.arrived)
            assert not desk.unavailable, desk.unavailable[:5]
            odd = [e for e in desk.errors if not e.split(": ", 1)[1].startswith(RETRYABLE)]
            assert not odd, odd[:5]
            assert audit.counts["call.completed"] >= 80, dict(audit.counts)  # real work done
            await every_event_delivered(desk, hooks, secret)
            print(f"three replicas: {dict(audit.counts)}; refused during the drain: "
                  f"{len(desk.errors)}; drained in {drain_s:.1f} s, calls done at "
                  f"{finished_s:.1f} s, events delivered at {time.monotonic() - started:.1f} s")
    finally:
        await tear_down(load, clients, procs, REDIS_URL, tenant_id)


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_redis_killed_and_restarted_from_its_append_only_file_mid_load(
        database_url: str, tmp_path: Path) -> None:
    redis = RedisProcess(free_port(), tmp_path, appendonly=True)
    redis.start()
    redis_url = f"redis://127.0.0.1:{redis.port}/0"
    tenant_id = unique("aof")
    rng = random.Random(99)
    procs: list[ServerProcess] = []
    clients: list[httpx.AsyncClient] = []
    load: Load | None = None
    try:
        with receiver() as hooks:
            clients = await start_servers(procs, ["a", "b"], database_url, tmp_path, **ENV,
                                          SWITCHBOARD_REDIS_URL=redis_url)
            key, secret = await set_up(clients[0], tenant_id, hooks)
            desk = Desk([Endpoint(p.name, h) for p, h in zip(procs, clients, strict=True)],
                        key, rng)
            load = Load(desk, AGENTS, BEHAVIOUR, rng)
            load.start_agents()
            callers = load.callers(300, concurrency=20, spacing_s=0.02)

            await asyncio.sleep(2.5)
            acknowledged = dict(load.created)  # external id -> call id, answered before
            assert acknowledged and not all(c.done() for c in callers)
            redis.kill()  # SIGKILL: no shutdown, no final fsync
            # While Redis is down, requests fail fast with 503 and change nothing.
            started = time.monotonic()
            down = await clients[1].post("/v1/calls", json={"queue": "q"},
                                         headers=desk.headers)
            assert down.status_code == 503, down.text
            assert down.json()["backend"] == "Redis"
            assert time.monotonic() - started < 5
            await asyncio.sleep(1)
            redis.start()  # the same directory: the append-only file is replayed

            audit = await finish(desk, load, callers)
            assert desk.unavailable, "the outage went unnoticed: was it mid-load?"
            # Every call acknowledged before the kill is still known, and ended once.
            assert set(acknowledged.values()) <= set(audit.arrived)
            for call_id in acknowledged.values():
                call: Json = await desk.get(f"/v1/calls/{call_id}")
                assert call["state"] in ("completed", "abandoned", "timed_out"), call
            assert len(load.created) == 300
            await every_event_delivered(desk, hooks, secret)
            print(f"redis restart: {dict(audit.counts)}; 503s retried: "
                  f"{len(desk.unavailable)}")
    finally:
        await tear_down(load, clients, procs, redis_url, tenant_id)
        redis.kill()
