"""Real processes killed with SIGKILL mid-load (DESIGN §5: "A replica killed at any instant loses
no call and strands no agent; the reconciler and timers repair within seconds").

Each test starts `switchboard serve` processes on free 127.0.0.1 ports against the real Redis and
a fresh PostgreSQL database, drives callers and agents over HTTP, kills a process with SIGKILL
while requests are in flight, and checks: no call the client saw created is lost, no agent
stays `reserved` past its offer's deadline, waiting calls meet free agents, and after the
wind-down every call ended exactly once (the event stream replayed).
"""

from __future__ import annotations

import asyncio
import random
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
    ServerProcess,
    check_final,
    ms,
    now_ms,
    start_servers,
    tear_down,
    wind_down,
)
from tests.support import REDIS_URL, Api, unique

AGENTS = [f"agent-{i:02d}" for i in range(20)]
LIVE_STATES = {"queued", "offered", "connected", "completed", "abandoned", "timed_out"}
# Arrivals outpace 20 agents (talk 0.2–1 s), so a backlog waits when the process dies.
BEHAVIOUR = Behaviour(queues={"q": 1.0}, abandon_p=0.1, talk_s=(0.2, 1.0), retry_s=25)
ENV = {"SWITCHBOARD_RECONCILE_INTERVAL_S": "0.5"}
GRACE_MS = 1_000  # the timer sweep runs every 100 ms


async def _setup(http: httpx.AsyncClient, tenant_id: str) -> str:
    admin = await Api(http).tenant("wall", tenant_id)
    await admin.put_queue("q", offer_timeout_s=2, wrap_up_s=0)
    for agent in AGENTS:
        await admin.put_agent(agent)
    return admin.key


async def _no_agent_reserved_past_deadline(desk: Desk, within_s: float = 10) -> None:
    """Poll (bounded) until a snapshot shows every reserved agent inside its offer's time."""
    deadline = time.monotonic() + within_s
    late: list[tuple[str, str | None, int | None]] = []
    while time.monotonic() < deadline:
        late = []
        for agent in await desk.agents():
            if agent["state"] != "reserved":
                continue
            call = await desk.get(f"/v1/calls/{agent['call_id']}")
            offer = call["offer"]
            if offer is None or offer["agent_id"] != agent["id"]:
                late.append((agent["id"], agent["call_id"], None))
            elif now_ms() > ms(offer["expires_at"]) + GRACE_MS:
                late.append((agent["id"], agent["call_id"], now_ms() - ms(offer["expires_at"])))
        if not late:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"agents reserved past their offer's deadline (agent, call, late ms): "
                         f"{late}")


async def _waiting_calls_routed(desk: Desk, within_s: float = 10) -> None:
    """Poll (bounded) until no call waits while an (eligible: every agent is) agent is free."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        queued = await desk.calls("queued")
        free = [a["id"] for a in await desk.agents() if a["state"] == "available"]
        if not (queued and free):
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{len(queued)} calls wait while agents {free} are available")


async def _created_not_lost(desk: Desk, load: Load) -> None:
    assert load.created_201
    for call_id in sorted(load.created_201):
        call = await desk.get(f"/v1/calls/{call_id}")
        assert call["state"] in LIVE_STATES, call


async def _audit(desk: Desk, load: Load, since_ms: int) -> Audit:
    events = await desk.events()
    audit = Audit().replay(events)
    assert not audit.violations, "\n".join(audit.violations)
    audit.check_closed()
    assert load.created_201 <= set(audit.arrived)
    assert set(load.created.values()) <= set(audit.arrived)
    await check_final(desk, audit, AGENTS)
    expired_after = [e for e in events if e["type"] == "call.requeued"
                     and e["data"]["reason"] == "expired" and ms(e["occurred_at"]) > since_ms]
    assert expired_after, "no offer expired after the kill: the timers were not exercised"
    return audit


async def _after_the_kill(desk: Desk, load: Load, callers: list[asyncio.Task[None]],
                          killed_ms: int) -> Audit:
    """Let the load finish, then check nothing was lost or stranded, and wind down."""
    await asyncio.wait_for(asyncio.gather(*callers), 60)
    await load.stop_agents()
    assert desk.errors, "the kill went unnoticed: was it mid-load?"
    assert not desk.problems, desk.problems[:10]
    await _created_not_lost(desk, load)
    await _no_agent_reserved_past_deadline(desk)
    await _waiting_calls_routed(desk)
    await wind_down(desk)
    return await _audit(desk, load, killed_ms)


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_sigkill_mid_load_then_restart(database_url: str, tmp_path: Path) -> None:
    tenant_id = unique("crash")
    rng = random.Random(7)
    procs: list[ServerProcess] = []
    clients: list[httpx.AsyncClient] = []
    load: Load | None = None
    try:
        first = ServerProcess("first", database_url, tmp_path, **ENV)
        procs.append(first)
        first.start()
        await first.wait_ready()
        clients.append(httpx.AsyncClient(base_url=first.base_url, timeout=10))
        endpoint = Endpoint("server", clients[-1])
        desk = Desk([endpoint], await _setup(clients[-1], tenant_id), rng)
        load = Load(desk, AGENTS, BEHAVIOUR, rng)
        load.start_agents()
        callers = load.callers(300, concurrency=20, spacing_s=0.02)

        await asyncio.sleep(2.5)
        assert not all(c.done() for c in callers)
        first.kill()  # SIGKILL with requests in flight
        killed_ms = now_ms()
        await asyncio.sleep(0.5)
        second = ServerProcess("second", database_url, tmp_path, **ENV)
        procs.append(second)
        second.start()
        await second.wait_ready()
        clients.append(httpx.AsyncClient(base_url=second.base_url, timeout=10))
        endpoint.http = clients[-1]

        audit = await _after_the_kill(desk, load, callers, killed_ms)
        print(f"restart: {dict(audit.counts)}; client errors {len(desk.errors)}")
    finally:
        await tear_down(load, clients, procs, REDIS_URL, tenant_id)


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_sigkill_one_of_two_the_survivor_repairs(database_url: str,
                                                        tmp_path: Path) -> None:
    tenant_id = unique("crash")
    rng = random.Random(11)
    procs: list[ServerProcess] = []
    clients: list[httpx.AsyncClient] = []
    load: Load | None = None
    try:
        clients = await start_servers(procs, ["doomed", "survivor"], database_url, tmp_path,
                                      **ENV)
        doomed, survivor = procs
        endpoints = [Endpoint(p.name, http) for p, http in zip(procs, clients, strict=True)]
        desk = Desk(endpoints, await _setup(clients[0], tenant_id), rng)
        load = Load(desk, AGENTS, BEHAVIOUR, rng)
        load.start_agents()
        callers = load.callers(300, concurrency=20, spacing_s=0.02)

        await asyncio.sleep(2.5)
        assert not all(c.done() for c in callers)
        doomed.kill()  # SIGKILL with requests in flight; the survivor carries on alone
        killed_ms = now_ms()
        await asyncio.sleep(0.5)  # clients still try the dead one for a moment, then stop
        endpoints[0].http = None

        audit = await _after_the_kill(desk, load, callers, killed_ms)
        assert survivor.pid != doomed.pid
        print(f"survivor: {dict(audit.counts)}; client errors {len(desk.errors)}")
    finally:
        await tear_down(load, clients, procs, REDIS_URL, tenant_id)
