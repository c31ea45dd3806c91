"""The SQL history written from the event stream (app/history): every ended call with its
timestamps, queues, agent, wait, talk, wrap-up, outcome and counts; agent-state intervals;
written once however often an event is delivered, taken over from a dead consumer, and the
stream trimmed only below what every group acknowledged."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.db.engine import open_database
from app.history import writer
from app.history.consumer import GROUP, HistoryConsumer
from app.history.models import AgentInterval, CallHistory, CallLeg, WrapUp
from app.store import keys, stream
from tests.processes import free_port
from tests.support import Api, expect


def ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


async def rows(service: Api, model: Any, tenant: str) -> list[Any]:
    async with service.runtime.db.sessions() as session:
        result = await session.execute(select(model).where(model.tenant_id == tenant))
        return list(result.scalars())


async def calls_by_id(service: Api, tenant: str) -> dict[str, CallHistory]:
    return {r.call_id: r for r in await rows(service, CallHistory, tenant)}


async def test_an_answered_transferred_call_and_its_wrap_ups(service: Api) -> None:
    t = await service.tenant()
    await t.put_queue("sales", wrap_up_s=10)
    await t.put_queue("tech", wrap_up_s=5)
    await t.put_agent("ana", queues=["sales"])
    await t.put_agent("bo", queues=["tech"])
    start = await t.clock_ms()
    call = await t.arrive("sales", external_id="CA1", priority=2, caller={"customer_id": "c-9"})
    await t.advance(3)
    await t.state("ana", "available")  # offered after 3 s of waiting
    await t.advance(2)
    await t.accept(call["id"])  # answered at +5 s
    await t.advance(60)
    await t.state("bo", "available")
    await t.transfer(call["id"], queue="tech")  # ana: 60 s talk, then 10 s wrap-up
    await t.advance(1)
    await t.accept(call["id"])
    await t.advance(30)
    await t.complete(call["id"], resolved=True, disposition="fixed", csat=4)
    await t.advance(5)  # bo's wrap-up ends
    await HistoryConsumer(service.runtime).tenant_step(t.id)
    row = (await calls_by_id(service, t.id))[call["id"]]
    assert (row.outcome, row.external_id, row.priority, row.channel) == (
        "completed", "CA1", 2, "voice")
    assert (row.first_queue, row.queue, row.queues) == ("sales", "tech", ["sales", "tech"])
    assert (row.agent_id, row.customer_id) == ("bo", "c-9")
    assert ms(row.arrived_at) == start
    assert ms(row.first_offered_at) - start == 3_000  # type: ignore[arg-type]
    assert ms(row.connected_at) - start == 5_000  # type: ignore[arg-type]
    assert ms(row.ended_at) - start == 96_000
    assert (row.wait_ms, row.talk_ms, row.transfers, row.overflows) == (5_000, 90_000, 1, 0)
    assert (row.resolved, row.disposition, row.csat, row.missed_offers) == (True, "fixed", 4, 0)
    wraps = sorted((w.agent_id, w.wrap_ms) for w in await rows(service, WrapUp, t.id))
    assert wraps == [("ana", 10_000), ("bo", 5_000)]
    # The call is read from SQL once Redis no longer holds it.
    await service.runtime.redis.hdel(keys.key(t.id, "calls"), call["id"])
    view = await t.call(call["id"])
    assert (view["state"], view["queue"], view["agent_id"]) == ("completed", "tech", "bo")


async def test_abandoned_and_timed_out_calls(service: Api) -> None:
    t = await service.tenant()
    await t.put_queue("q", max_wait_s=30)
    gone = await t.arrive("q")
    await t.advance(4)
    await t.abandon(gone["id"])
    late = await t.arrive("q")
    await t.advance(30)
    await HistoryConsumer(service.runtime).tenant_step(t.id)
    found = await calls_by_id(service, t.id)
    assert (found[gone["id"]].outcome, found[gone["id"]].wait_ms) == ("abandoned", 4_000)
    assert (found[late["id"]].outcome, found[late["id"]].wait_ms) == ("timed_out", 30_000)
    assert found[late["id"]].connected_at is None


async def test_agent_state_intervals(service: Api) -> None:
    t = await service.tenant()
    await t.put_queue("q", wrap_up_s=7)
    await t.put_agent("ana")
    await t.state("ana", "available")
    await t.advance(10)
    call = await t.arrive("q")
    await t.advance(2)
    await t.accept(call["id"])
    await t.advance(20)
    await t.complete(call["id"])
    await t.advance(7)
    await t.state("ana", "away", reason="lunch")
    await t.advance(60)
    await t.state("ana", "offline")
    await HistoryConsumer(service.runtime).tenant_step(t.id)
    found = sorted(await rows(service, AgentInterval, t.id), key=lambda r: r.started_at)
    assert [(r.state, r.reason, ms(r.ended_at) - ms(r.started_at)) for r in found] == [
        ("offline", None, 0), ("available", None, 10_000), ("reserved", None, 2_000),
        ("busy", None, 20_000), ("wrap_up", None, 7_000), ("available", None, 0),
        ("away", "lunch", 60_000)]


async def test_each_event_is_written_once_and_a_dead_consumers_events_are_taken_over(
        service: Api) -> None:
    t = await service.tenant()
    await t.put_queue("q")
    ids = [(await t.arrive("q"))["id"] for _ in range(3)]
    for call_id in ids:
        await t.abandon(call_id)
    redis = service.runtime.redis
    await stream.ensure_group(redis, t.id, GROUP)
    # A consumer reads every event and dies before writing or acknowledging them.
    taken = await stream.read(redis, t.id, GROUP, "dead", 100)
    assert len(taken) >= 6
    survivor = HistoryConsumer(service.runtime, name="survivor")
    assert await survivor.tenant_step(t.id) == 0  # too recent to be taken over
    service.runtime.settings.events_claim_idle_s = 0.001
    await asyncio.sleep(0.01)  # idle longer than that
    assert await survivor.tenant_step(t.id) == len(taken)
    assert sorted(await calls_by_id(service, t.id)) == sorted(ids)
    # Delivered again (say the acknowledgement was lost): nothing changes.
    async with service.runtime.db.sessions.begin() as session:
        assert await writer.write(session, t.id, taken) == 6  # 3 calls, each with its leg
    assert sorted(await calls_by_id(service, t.id)) == sorted(ids)
    assert len(await rows(service, CallLeg, t.id)) == 3
    pending: Any = await redis.xpending(keys.key(t.id, "events"), GROUP)
    assert pending["pending"] == 0


async def test_the_stream_is_trimmed_below_what_every_group_acknowledged(
        service: Api) -> None:
    t = await service.tenant()
    await t.put_queue("q")
    redis = service.runtime.redis
    events_key = keys.key(t.id, "events")
    service.runtime.settings.events_retention_s = 0  # (events are kept a day by default)
    await stream.ensure_group(redis, t.id, GROUP)
    await stream.ensure_group(redis, t.id, "slow")
    for _ in range(5):
        await t.abandon((await t.arrive("q"))["id"])
    total = await redis.xlen(events_key)
    slow = await stream.read(redis, t.id, "slow", "s1", 4)
    await stream.ack(redis, t.id, "slow", [slow[0].id, slow[1].id])  # two of four
    await HistoryConsumer(service.runtime).tenant_step(t.id)  # history acknowledges every event
    assert await first_id(redis, events_key) == slow[2].id  # "slow" still holds the 3rd
    assert await redis.xlen(events_key) == total - 2
    await stream.ack(redis, t.id, "slow", [slow[2].id, slow[3].id])
    await stream.trim_acknowledged(redis, t.id, service.runtime.clock.now_ms())
    assert await first_id(redis, events_key) == slow[3].id  # the last one "slow" was given
    assert await redis.xlen(events_key) == total - 3


async def first_id(redis: Any, key: str) -> str:
    rows: Any = await redis.xrange(key, count=1)
    return str(rows[0][0])


@pytest.mark.parametrize("backend", ["redis+postgresql"], indirect=True)
async def test_sql_down_then_back_every_call_written_once(service: Api) -> None:
    t = await service.tenant()
    await t.put_queue("q")
    await t.put_agent("ana")
    await t.state("ana", "available")
    rt = service.runtime
    consumer = HistoryConsumer(rt)
    healthy = rt.db
    rt.db = open_database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
    handled = []
    try:
        for _ in range(20):  # routing goes on without SQL
            call = await t.arrive("q")
            await t.accept(call["id"])
            await t.complete(call["id"])
            handled.append(call["id"])
            with pytest.raises(OSError):
                await consumer.tenant_step(t.id)
    finally:
        await rt.db.dispose()
        rt.db = healthy
    pending: Any = await rt.redis.xpending(keys.key(t.id, "events"), GROUP)
    assert pending["pending"] > 0  # read, never acknowledged
    await consumer.tenant_step(t.id)
    found = await rows(service, CallHistory, t.id)
    assert sorted(r.call_id for r in found) == sorted(handled)
    assert all(r.outcome == "completed" for r in found)
    pending = await rt.redis.xpending(keys.key(t.id, "events"), GROUP)
    assert pending["pending"] == 0


async def test_events_are_kept_for_the_retention_time_once_acknowledged(service: Api) -> None:
    t = await service.tenant()
    await t.put_queue("q")
    await t.abandon((await t.arrive("q"))["id"])
    events_key = keys.key(t.id, "events")
    before = await service.runtime.redis.xlen(events_key)
    assert await HistoryConsumer(service.runtime).tenant_step(t.id) == before
    assert await service.runtime.redis.xlen(events_key) == before  # a day, by default
    page = expect(await t.request("GET", "/v1/events"), 200)
    assert len(page["events"]) == before
