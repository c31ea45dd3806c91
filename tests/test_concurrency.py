"""Two service instances on one Redis under concurrent load (DESIGN §2 "Two replicas can never
give one agent two calls or one call two agents", §5 "Nothing is lost").

Two apps, each with its own lifespan (timer sweep and reconciler running) and its own client,
share the real Redis and PostgreSQL. 1,000+ callers arrive through either app, 120 agents
answer through either app; some callers hang up, some agents reject, let offers expire or
step away. Afterwards the event stream is replayed: no agent ever held two calls, no call was
offered to two agents at once, and every call ended exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from tests.processes import Audit, Behaviour, Desk, Endpoint, Load, check_final, wind_down
from tests.support import Api, forget_tenants, unique

CALLS = 1_000
AGENTS = 120


@contextlib.asynccontextmanager
async def running(app: FastAPI, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as http:
            yield http


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize("backend", ["redis+postgresql", "cluster+postgresql"])
async def test_two_instances_one_redis_under_load(
        make_settings: Callable[..., Settings]) -> None:
    started = time.monotonic()
    settings = make_settings(background_tasks=True, reconcile_interval_s=0.5)
    tenant_id = unique("conc")
    rng = random.Random(20_240_611)
    try:
        async with running(create_app(settings), "a") as http_a, \
                running(create_app(settings), "b") as http_b:
            admin = await Api(http_a).tenant("wall", tenant_id)
            # Both queues take every agent; "short" has a max wait some calls will reach.
            await admin.put_queue("main", offer_timeout_s=2, wrap_up_s=0, max_wait_s=10)
            await admin.put_queue("short", offer_timeout_s=2, wrap_up_s=0, max_wait_s=0.5)
            # Nobody has "night-desk": these calls always wait, and so time out or abandon.
            await admin.put_queue("closed", max_wait_s=0.3,
                                  requirements=[{"skill": "night-desk", "min_level": 1}])
            agents = [f"agent-{i:03d}" for i in range(AGENTS)]
            for agent in agents:
                await admin.put_agent(agent)

            desk = Desk([Endpoint("a", http_a), Endpoint("b", http_b)], admin.key, rng)
            behaviour = Behaviour(queues={"main": 0.83, "short": 0.15, "closed": 0.02},
                                  abandon_p=0.2, abandon_after_s=(0.05, 1.0))
            load = Load(desk, agents, behaviour, rng)
            try:
                load.start_agents()
                await asyncio.gather(*load.callers(CALLS, concurrency=50))
                await load.stop_agents()
                await wind_down(desk)
            except BaseException:
                await load.cancel()
                raise

            events = await desk.events()
            audit = Audit().replay(events)
            assert not desk.problems, desk.problems[:10]
            assert not desk.errors, desk.errors[:10]
            assert not audit.violations, "\n".join(audit.violations)
            audit.check_closed()
            assert len(audit.arrived) == CALLS == len(load.created_201)
            assert set(audit.arrived) == load.created_201
            await check_final(desk, audit, agents)
            print(f"concurrency: {dict(audit.counts)}; 503s retried: {len(desk.unavailable)}; "
                  f"{time.monotonic() - started:.1f}s")
            # The load did what it is for: contention, every way of ending, both sides racing.
            counts = audit.counts
            assert counts["call.completed"] >= 300, dict(counts)
            assert counts["call.abandoned"] >= 5, dict(counts)
            assert counts["call.timed_out"] >= 1, dict(counts)
            assert counts["call.requeued"] >= 20, dict(counts)
            assert audit.max_held >= 50, audit.max_held
    finally:
        await forget_tenants(settings.redis_url, [tenant_id])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["redis+postgresql"])
async def test_one_instance_takes_300_concurrent_arrivals(service: Api) -> None:
    tenant = await service.tenant("wall")
    await tenant.put_queue("q")
    responses = await asyncio.gather(*(
        tenant.request("POST", "/v1/calls", {"queue": "q", "external_id": f"x-{i}"})
        for i in range(300)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 300}, (statuses, next(
        (r.text for r in responses if r.status_code != 201), None))
