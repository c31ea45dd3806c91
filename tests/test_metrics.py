"""Prometheus metrics on `GET /metrics` (DESIGN §3.8, docs/metrics.md): requests by route
template, routing decisions and claim conflicts, timer lag, webhook attempts, event-stream lag,
and the switch that turns the route off. Every scrape is parsed with prometheus_client's own
parser."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from app.clock import SystemClock
from app.events.consumers import GroupConsumer
from app.history.consumer import HistoryConsumer
from app.main import create_app
from app.metrics import CONTENT_TYPE, UNMATCHED, Metrics
from app.settings import Settings
from app.store import stream
from app.timers.service import fire_due
from app.webhooks.fanout import Fanout
from app.webhooks.sender import Sender
from tests.support import Api, TenantApi, expect, forget_tenants
from tests.webhooks.receiver import Receiver, receiver


@pytest.fixture
def service_settings() -> dict[str, Any]:
    """Webhooks to the loopback receiver, retried quickly."""
    return {"webhook_allow_private": True, "webhook_backoff_base_s": 0.05,
            "webhook_backoff_max_s": 0.1}


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE
    return response.text


def values(text: str, name: str, **labels: str) -> list[float]:
    """The values of the samples called `name` whose labels include `labels`."""
    return [s.value for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def value(text: str, name: str, **labels: str) -> float:
    """The one sample matching, or 0 when there is none."""
    found = values(text, name, **labels)
    assert len(found) <= 1, f"{name} {labels}: several samples {found}"
    return found[0] if found else 0.0


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[Api]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard") as http:
            yield Api(http, app)


# requests ------------------------------------------------------------------------------------


async def test_requests_are_counted_by_route_template_and_status(service: Api,
                                                                 tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    call = await tenant.arrive("q")
    expect(await tenant.request("GET", "/v1/calls/c-nowhere"), 404)
    expect(await service.http.get("/no/such/route"), 404)
    expect(await service.http.get(f"/v1/calls/{call['id']}/nowhere"), 404)

    text = await scrape(service.http)
    requests = "switchboard_http_requests_total"
    assert value(text, requests, method="POST", route="/v1/calls", status="201") == 1
    assert value(text, requests, method="GET", route="/v1/calls/{call_id}", status="404") == 1
    assert value(text, requests, method="GET", route=UNMATCHED, status="404") == 2
    assert value(text, "switchboard_http_request_duration_seconds_count", method="POST",
                 route="/v1/calls", status="201") == 1
    routes = {s.labels["route"] for f in text_string_to_metric_families(text)
              for s in f.samples if "route" in s.labels}
    assert not [r for r in routes if "c-nowhere" in r or call["id"] in r or "no/such" in r]
    assert value(text, "switchboard_metrics_sampler_failures_total") == 0

    again = await scrape(service.http)  # the first scrape was counted too
    assert value(again, requests, method="GET", route="/metrics", status="200") == 1


# routing ---------------------------------------------------------------------------------------


async def test_decisions_and_a_lost_claim_are_counted(service: Api, tenant: TenantApi) -> None:
    rt = service.runtime
    await tenant.put_queue("q")
    await tenant.put_agent("ana")
    waiting = await tenant.arrive("q")  # nobody is available: it waits
    # Ana becomes available, and the wake-up (Ana with the waiting call) is settled twice:
    # the second claim is the replica that lost the race.
    reply = await rt.run("agent_state", tenant.id, {"agent_id": "ana", "state": "available",
                                                    "reason": None, "after_call": False},
                         agent="ana")
    won = await rt.settle(tenant.id, reply)
    lost = await rt.settle(tenant.id, reply)
    assert list(won.offered) == [waiting["id"]]
    assert (lost.offered, lost.conflicts) == ({}, 1)

    await tenant.put_agent("bob")
    await tenant.state("bob", "available")
    offered = await tenant.arrive("q")  # a call arrives and Bob is picked for it
    assert offered["state"] == "offered"

    text = await scrape(service.http)
    decisions, conflicts = ("switchboard_routing_decisions_total",
                            "switchboard_routing_claim_conflicts_total")
    assert value(text, decisions, tenant=tenant.id, decision="pick_call") == 1
    assert value(text, decisions, tenant=tenant.id, decision="pick_agent") == 1
    assert value(text, conflicts, tenant=tenant.id, decision="pick_call") == 1
    assert value(text, conflicts, tenant=tenant.id, decision="pick_agent") == 0


# timers ----------------------------------------------------------------------------------------


class SteppedClock:
    """Real time until moved on by hand (so a wall-clock timer is late by an exact amount)."""

    def __init__(self) -> None:
        self.now = SystemClock().now_ms()

    def now_ms(self) -> int:
        return self.now


async def test_timer_lag_is_observed_for_the_wall_clock_sweep_only(
        make_settings: Callable[..., Settings]) -> None:
    clock = SteppedClock()
    app = create_app(make_settings(), clock)
    async with running(app) as api:
        try:
            wall = await api.tenant("wall")
            await wall.put_queue("q", offer_timeout_s=1)
            await wall.put_agent("ana")
            await wall.state("ana", "available")
            call = await wall.arrive("q")
            assert call["state"] == "offered"
            clock.now += 1_250  # the sweep comes 250 ms after the offer expired
            assert await fire_due(api.runtime, wall.id, clock.now, manual=False) == 1

            manual = await api.tenant("manual")  # its timers fire on time, by definition
            await manual.put_queue("q", offer_timeout_s=1)
            await manual.put_agent("ana")
            await manual.state("ana", "available")
            await manual.arrive("q")
            assert (await manual.advance(5))["fired"] >= 1

            text = await scrape(api.http)
            lag = "switchboard_timer_lag_seconds"
            assert value(text, f"{lag}_count", kind="offer") == 1
            assert value(text, f"{lag}_sum", kind="offer") == pytest.approx(0.25)
            assert value(text, f"{lag}_bucket", kind="offer", le="0.25") == 1
            assert value(text, f"{lag}_bucket", kind="offer", le="0.1") == 0
        finally:
            await forget_tenants(app.state.runtime.settings.redis_url, api.tenants)


async def test_timer_kinds_stay_a_small_set() -> None:
    metrics = Metrics()
    metrics.timer_fired("wrap|ana|w1", 40)
    metrics.timer_fired("something|new", -5)  # a clock step back is no negative lag
    metrics.timer_fired(None, 10)
    text = (await metrics.exposition()).decode()
    assert value(text, "switchboard_timer_lag_seconds_sum", kind="wrap") == pytest.approx(0.04)
    assert value(text, "switchboard_timer_lag_seconds_count", kind="other") == 2
    assert value(text, "switchboard_timer_lag_seconds_sum", kind="other") == pytest.approx(0.01)


# webhooks --------------------------------------------------------------------------------------


@pytest.fixture
def hooks() -> Any:
    with receiver() as r:
        yield r


async def test_webhook_attempts_are_counted_by_outcome(service: Api, tenant: TenantApi,
                                                       hooks: Receiver) -> None:
    rt = service.runtime
    expect(await tenant.request("PUT", "/v1/webhooks/w1",
                                {"url": hooks.url, "events": ["call.queued"]}), 200)
    hooks.answer = lambda _: (503, {})  # down at first
    await tenant.put_queue("q")
    await tenant.arrive("q")
    sender = Sender(rt)
    try:
        await Fanout(rt).tenant_step(tenant.id)
        assert await sender.step() == 1
        attempts = "switchboard_webhook_attempts_total"
        text = await scrape(service.http)
        assert value(text, attempts, tenant=tenant.id, outcome="retrying") == 1
        assert value(text, attempts, tenant=tenant.id, outcome="delivered") == 0

        hooks.answer = None  # back: 200
        deadline = time.monotonic() + 10
        while value(text, attempts, tenant=tenant.id, outcome="delivered") == 0:
            assert time.monotonic() < deadline, "the retry was never delivered"
            await asyncio.sleep(0.05)
            await sender.step()
            text = await scrape(service.http)
    finally:
        await sender.close()
    assert value(text, attempts, tenant=tenant.id, outcome="delivered") == 1
    assert [r.status for r in hooks.received] == [503] * (len(hooks.received) - 1) + [200]
    assert value(text, "switchboard_webhook_attempt_duration_seconds_count") == len(
        hooks.received)


# event-stream lag ------------------------------------------------------------------------------


async def test_event_stream_lag_counts_what_each_group_has_not_acknowledged(
        service: Api, tenant: TenantApi) -> None:
    rt = service.runtime
    history, fanout = HistoryConsumer(rt), Fanout(rt)
    consumers: list[GroupConsumer] = [history, fanout]

    def lag(text: str, consumer: GroupConsumer) -> tuple[float, float]:
        labels = {"tenant": tenant.id, "group": consumer.group}
        return (value(text, "switchboard_event_stream_unacknowledged_events", **labels),
                value(text, "switchboard_event_stream_oldest_unacknowledged_age_seconds",
                      **labels))

    await tenant.put_queue("q")
    for consumer in consumers:  # the groups exist once their consumer has run
        await consumer.tenant_step(tenant.id)
    text = await scrape(service.http)
    assert [lag(text, c) for c in consumers] == [(0, 0), (0, 0)]

    before = len(await tenant.events())
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    await tenant.arrive("q")
    new = len(await tenant.events()) - before
    assert new >= 3
    await asyncio.sleep(0.05)
    text = await scrape(service.http)
    for consumer in consumers:  # not yet delivered to either group
        unacked, age_s = lag(text, consumer)
        assert unacked == new
        assert 0.04 <= age_s < 60

    # Delivered to the history group but not acknowledged (a replica mid-pass): still owed.
    taken = await stream.read(rt.redis, tenant.id, history.group, "probe", 2)
    assert len(taken) == 2
    text = await scrape(service.http)
    assert lag(text, history)[0] == new
    assert lag(text, history)[1] >= 0.04

    await stream.ack(rt.redis, tenant.id, history.group, [e.id for e in taken])
    assert await history.tenant_step(tenant.id) == new - 2
    text = await scrape(service.http)
    assert lag(text, history) == (0, 0)
    assert lag(text, fanout)[0] == new

    assert await fanout.tenant_step(tenant.id) == new
    text = await scrape(service.http)
    assert [lag(text, c) for c in consumers] == [(0, 0), (0, 0)]


async def test_a_failing_sampler_is_skipped_and_counted() -> None:
    metrics = Metrics()

    async def broken() -> list[GaugeMetricFamily]:
        raise ConnectionError("Redis is away")

    async def fine() -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily("switchboard_test_gauge", "A gauge read at scrape time.",
                                  value=7)]

    metrics.register_sampler("broken", broken)
    metrics.register_sampler("fine", fine)
    text = (await metrics.exposition()).decode()
    assert value(text, "switchboard_test_gauge") == 7
    assert value(text, "switchboard_metrics_sampler_failures_total", sampler="broken") == 1


# the switch ------------------------------------------------------------------------------------


async def test_metrics_can_be_turned_off(make_settings: Callable[..., Settings]) -> None:
    async with running(create_app(make_settings(metrics_enabled=False))) as api:
        response = await api.http.get("/metrics")
        assert response.status_code == 404
        assert response.json()["type"].endswith("/route-not-found")
        expect(await api.http.get("/healthz"), 200)


async def test_queue_depth_longest_wait_and_agents_by_state(service: Api,
                                                            tenant: TenantApi) -> None:
    t = tenant
    await t.put_queue("q")
    await t.put_agent("ana", queues=["q"])
    await t.put_agent("bo", queues=["q"])
    await t.state("ana", "available")
    await t.state("bo", "away")
    first = await t.arrive("q")
    await t.accept(first["id"])
    await t.advance(60)
    await t.complete(first["id"])  # ana learns a 60 s handle time, then takes the next call
    busy = await t.arrive("q")
    await t.accept(busy["id"])
    await t.arrive("q")
    await t.advance(7)
    await t.arrive("q")
    text = await scrape(service.http)
    mine = {"tenant": t.id, "queue": "q"}
    assert value(text, "switchboard_queue_waiting_calls", **mine) == 2
    assert value(text, "switchboard_queue_offered_calls", **mine) == 0
    assert value(text, "switchboard_queue_longest_wait_seconds", **mine) == 7
    assert value(text, "switchboard_queue_estimated_wait_seconds", **mine) == (60 - 7) + 2 * 60
    assert value(text, "switchboard_agents", tenant=t.id, state="busy") == 1
    assert value(text, "switchboard_agents", tenant=t.id, state="away") == 1
