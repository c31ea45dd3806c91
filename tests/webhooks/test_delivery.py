"""Webhook delivery (DESIGN §3.5) to a real HTTP receiver on loopback: Standard Webhooks
signatures checked with the `standardwebhooks` library, every event at least once and in order
per call, retries with backoff through a receiver that is down, Retry-After, pausing a
subscription that keeps failing and resuming it, the attempts log, a ping, and the caller's
last calls in `call.offered`."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import func, select

from app.clock import to_datetime
from app.webhooks.fanout import Fanout
from app.webhooks.outbox import WebhookDelivery
from app.webhooks.sender import Sender
from tests.support import Api, Json, TenantApi, expect
from tests.webhooks.receiver import Receiver, receiver


@pytest.fixture
def service_settings() -> dict[str, Any]:
    """Loopback targets allowed, quick retries."""
    return {"webhook_allow_private": True, "webhook_backoff_base_s": 0.05,
            "webhook_backoff_max_s": 0.2}


@pytest.fixture
def hooks() -> Any:
    with receiver() as r:
        yield r


async def subscribe(t: TenantApi, url: str, events: list[str]) -> str:
    created = expect(await t.request("PUT", "/v1/webhooks/w1", {"url": url, "events": events}),
                     200)
    return str(created["secret"])


async def drain(service: Api, tenant: str, seconds: float = 10) -> int:
    """Fan out and send until nothing is pending (or `seconds` pass); deliveries left."""
    rt = service.runtime
    fanout, sender = Fanout(rt), Sender(rt)
    deadline = time.monotonic() + seconds
    try:
        while True:
            await fanout.tenant_step(tenant)
            await sender.step()
            left = await pending(service, tenant)
            if left == 0 or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.02)
    finally:
        await sender.close()


async def pending(service: Api, tenant: str) -> int:
    async with service.runtime.db.sessions() as session:
        return int((await session.execute(
            select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.tenant_id == tenant,
                WebhookDelivery.status == "pending"))).scalar_one())


async def traffic(t: TenantApi, calls: int = 4) -> list[str]:
    await t.put_queue("q", wrap_up_s=0)
    await t.put_agent("ana")
    await t.state("ana", "available")
    ids = []
    for _ in range(calls):
        call = await t.arrive("q")
        await t.accept(call["id"])
        await t.advance(5)
        await t.complete(call["id"])
        ids.append(call["id"])
    return ids


def by_call(payloads: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for p in payloads:
        out[p["data"]["call"]["id"]].append(p["type"])
    return dict(out)


async def stream_types(t: TenantApi, prefix: str) -> list[tuple[str, str]]:
    return [(e["id"], e["type"]) for e in await t.events() if e["type"].startswith(prefix)]


async def test_every_event_signed_and_in_order_per_call(service: Api, hooks: Receiver) -> None:
    t = await service.tenant()
    secret = await subscribe(t, hooks.url, ["call.*"])
    ids = await traffic(t)
    assert await drain(service, t.id) == 0
    payloads = hooks.verified(secret)  # raises on any bad signature
    expected = await stream_types(t, "call.")
    assert sorted((p["id"], p["type"]) for p in payloads) == sorted(expected)  # each once
    assert by_call(payloads) == {c: ["call.queued", "call.offered", "call.connected",
                                     "call.completed"] for c in ids}
    ids_sent = [r.headers["webhook-id"] for r in hooks.received]
    assert len(set(ids_sent)) == len(ids_sent)


async def test_a_receiver_that_is_down_gets_everything_once_back(service: Api,
                                                                 hooks: Receiver) -> None:
    t = await service.tenant()
    secret = await subscribe(t, hooks.url, ["call.*", "agent.state_changed"])
    down_until = time.time() + 1.0
    hooks.answer = lambda r: (503, {}) if time.time() < down_until else (200, {})
    await traffic(t, calls=3)
    assert await drain(service, t.id, seconds=15) == 0
    payloads = hooks.verified(secret)  # failed attempts were signed too
    assert any(r.status == 503 for r in hooks.received)
    accepted = [p for p, r in zip(payloads, hooks.received, strict=True) if r.status == 200]
    ids = [p["id"] for p in accepted]
    wanted = [i for i, ty in await stream_types(t, "")
              if ty.startswith(("call.", "agent.state_changed"))]
    assert sorted(set(ids)) == sorted(wanted)  # every event arrived
    # Each call's events were accepted in the stream's order (one at a time per call).
    for call_id, types in by_call([p for p in accepted if "call" in p["data"]]).items():
        assert types == ["call.queued", "call.offered", "call.connected", "call.completed"], (
            call_id, types)
    attempts = expect(await t.request("GET", "/v1/webhooks/w1/deliveries"), 200)["attempts"]
    failed = [a for a in attempts if a["status_code"] == 503]
    assert failed and all(a["error"] == "HTTP 503" and a["latency_ms"] >= 0 for a in failed)
    assert len(attempts) == len(hooks.received)


async def test_retry_after_is_honoured(service: Api, hooks: Receiver) -> None:
    t = await service.tenant()
    await subscribe(t, hooks.url, ["queue.updated"])
    answers = iter([(429, {"Retry-After": "1"})])
    hooks.answer = lambda r: next(answers, (200, {}))
    await t.put_queue("q")
    assert await drain(service, t.id) == 0
    first, second = hooks.received
    assert second.at - first.at >= 1.0
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # the same message


async def test_a_failing_subscription_is_paused_and_resumed(service: Api,
                                                            hooks: Receiver) -> None:
    service.runtime.settings.webhook_pause_after_s = 0.3
    t = await service.tenant()
    secret = await subscribe(t, hooks.url, ["queue.updated"])
    hooks.answer = lambda r: (500, {})
    await t.put_queue("q")
    assert await drain(service, t.id, seconds=2) == 1  # still pending: paused, not dropped
    hook = expect(await t.request("GET", "/v1/webhooks/w1"), 200)
    assert hook["status"] == "paused"
    assert "HTTP 500" in hook["paused_reason"]
    paused = [e for e in await t.events() if e["type"] == "webhook.paused"]
    assert [e["data"]["webhook_id"] for e in paused] == ["w1"]
    tries = len(hooks.received)
    await asyncio.sleep(0.3)
    assert await drain(service, t.id, seconds=0.5) == 1
    assert len(hooks.received) == tries  # nothing is sent while paused
    hooks.answer = None
    expect(await t.request("POST", "/v1/webhooks/w1/resume"), 200)
    resumed = [e for e in await t.events() if e["type"] == "webhook.resumed"]
    assert [e["data"]["webhook_id"] for e in resumed] == ["w1"]
    expect(await t.request("POST", "/v1/webhooks/w1/resume"), 200)  # already active
    assert len([e for e in await t.events() if e["type"] == "webhook.resumed"]) == 1
    assert await drain(service, t.id) == 0
    assert [p["type"] for p in hooks.verified(secret)][-1] == "queue.updated"


async def test_ping(service: Api, hooks: Receiver) -> None:
    t = await service.tenant()
    secret = await subscribe(t, hooks.url, ["call.*"])
    result = expect(await t.request("POST", "/v1/webhooks/w1/test"), 200)
    assert (result["status_code"], result["error"]) == (200, None)
    [payload] = hooks.verified(secret)
    assert payload["type"] == "webhook.ping"
    hooks.answer = lambda r: (404, {})
    failed = expect(await t.request("POST", "/v1/webhooks/w1/test"), 200)
    assert (failed["status_code"], failed["error"]) == (404, "HTTP 404")


async def test_call_offered_carries_the_callers_last_calls(service: Api,
                                                           hooks: Receiver) -> None:
    from app.history.consumer import HistoryConsumer

    t = await service.tenant()
    await t.put_queue("q")
    await t.put_agent("ana", attributes={"sip": "sip:ana@pbx"})
    await t.state("ana", "available")
    earlier = await t.arrive("q", caller={"customer_id": "c-1"})
    await t.accept(earlier["id"])
    await t.complete(earlier["id"], disposition="sale")
    await HistoryConsumer(service.runtime).tenant_step(t.id)
    secret = await subscribe(t, hooks.url, ["call.offered"])
    await t.arrive("q", caller={"customer_id": "c-1"})
    assert await drain(service, t.id) == 0
    offered = [p for p in hooks.verified(secret) if p["type"] == "call.offered"][-1]
    data: Json = offered["data"]
    assert data["agent"]["attributes"] == {"sip": "sip:ana@pbx"}
    assert data["offer"]["id"] and data["offer"]["expires_at"]
    assert [(c["call_id"], c["agent_id"], c["outcome"], c["disposition"])
            for c in data["recent_calls"]] == [(earlier["id"], "ana", "completed", "sale")]


async def test_finished_deliveries_and_attempts_are_forgotten_after_retention(
        service: Api, hooks: Receiver) -> None:
    from app.timers.background import Background

    t = await service.tenant()
    await subscribe(t, hooks.url, ["queue.updated"])
    await t.put_queue("sent")
    assert await drain(service, t.id) == 0
    hooks.answer = lambda r: (500, {})
    await t.put_queue("stuck")
    assert await drain(service, t.id, seconds=0.3) == 1
    service.runtime.settings.webhook_log_retention_s = 0.001
    await asyncio.sleep(0.01)
    await Background(service.runtime).forget_webhook_log()
    async with service.runtime.db.sessions() as session:
        left = (await session.execute(select(WebhookDelivery.status).where(
            WebhookDelivery.tenant_id == t.id))).scalars().all()
    assert left == ["pending"]  # the delivered one is gone; the one still retried stays
    attempts = expect(await t.request("GET", "/v1/webhooks/w1/deliveries"), 200)["attempts"]
    assert attempts == []


async def test_a_sender_stopped_mid_pass_gives_its_leases_back(service: Api,
                                                               hooks: Receiver) -> None:
    """A replica that stops between leasing and sending (SIGTERM) lets another replica send
    at once, not after the lease has run out."""
    t = await service.tenant("manual")
    secret = await subscribe(t, hooks.url, ["call.*"])
    await traffic(t, calls=1)
    rt = service.runtime
    await Fanout(rt).tenant_step(t.id)
    stopping = Sender(rt)
    lines = await stopping._lease(to_datetime(rt.clock.now_ms()))
    assert lines, "nothing leased"
    assert await Sender(rt).step() == 0  # leased by the other sender: left alone
    await stopping.close()  # stops before sending
    assert await drain(service, t.id, seconds=5) == 0
    assert len({p["id"] for p in hooks.verified(secret)}) == 4
