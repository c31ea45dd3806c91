"""The happy path of a call, end to end, on both back-ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.calls import service as calls
from app.calls.schemas import CallCreate
from app.store import keys
from tests.support import Api, TenantApi, talking_with_one_waiting


async def test_arrive_offer_accept_complete_wrap_up(tenant: TenantApi) -> None:
    await tenant.put_queue("billing", wrap_up_s=5, offer_timeout_s=10,
                           requirements=[{"skill": "billing", "min_level": 3}])
    await tenant.put_agent("ana", skills={"billing": 7})
    call = await tenant.arrive("billing", external_id="ext-1")
    assert call["state"] == "queued"
    assert call["position"] == 1
    assert call["waiting_reason"] == "no-agent-logged-in"

    agent = await tenant.state("ana", "available")
    assert agent["state"] == "reserved"
    assert agent["call_id"] == call["id"]

    offered = await tenant.call(call["id"])
    assert offered["state"] == "offered"
    assert offered["offer"]["agent_id"] == "ana"

    connected = await tenant.accept(call["id"])
    assert connected["state"] == "connected"
    assert connected["agent_id"] == "ana"
    assert (await tenant.agent("ana"))["state"] == "busy"

    await tenant.advance(30)
    done = await tenant.complete(call["id"], resolved=True, disposition="sale", csat=5)
    assert done["state"] == "completed"
    assert done["talk_s"] == 30
    assert (await tenant.agent("ana"))["state"] == "wrap_up"

    await tenant.advance(4.999)
    assert (await tenant.agent("ana"))["state"] == "wrap_up"
    await tenant.advance(0.001)
    ana = await tenant.agent("ana")
    assert ana["state"] == "available"
    # Per tenant-day counters survive state changes; occupancy = (30 + 5) ÷ (30 + 5 + 15).
    await tenant.advance(15)
    await tenant.state("ana", "offline")
    await tenant.advance(60)
    assert (await tenant.agent("ana"))["today"] == {
        "calls_handled": 1, "talk_s": 30.0, "wrap_up_s": 5.0, "available_s": 15.0,
        "occupancy": 0.7, "missed_offers": 0}

    events = [e for e in await tenant.events() if e["type"].startswith("call.")]
    assert [e["type"] for e in events] == [
        "call.queued", "call.offered", "call.connected", "call.completed", "call.wrap_up_ended"]
    assert events[-1]["data"] == {"call_id": call["id"], "agent_id": "ana", "wrap_s": 5}


async def test_every_key_of_a_tenant_carries_its_hash_tag(service: Api) -> None:
    """All of a tenant's keys share the slot of `{t:<tenant>}` (Redis Cluster ready)."""
    tenant = await service.tenant("manual")
    await tenant.put_queue("q", wrap_up_s=5, max_wait_s=60, offer_timeout_s=10)
    await tenant.put_agent("ana")
    call = await tenant.arrive("q", external_id="e-1")
    await tenant.state("ana", "available")
    await tenant.accept(call["id"])
    await tenant.complete(call["id"])
    await tenant.arrive("q")
    redis = service.runtime.redis
    found = [str(k) async for k in redis.scan_iter(match=f"*{tenant.id}*")]
    assert len(found) >= 10, found
    assert all(k.startswith(f"sb:{{t:{tenant.id}}}:") for k in found), found


async def test_ids_never_repeat_when_redis_comes_back_behind(service: Api) -> None:
    """A Redis restarted from an append-only file may have lost its last second of writes,
    the id counter's among them; ids issued in that second must not be issued again."""
    tenant = await service.tenant("manual")
    await tenant.put_queue("q")
    redis, seq = service.runtime.redis, keys.key(tenant.id, "seq")
    before = str(await redis.get(seq))
    first = await tenant.arrive("q")
    await redis.set(seq, before)  # the counter's increment was lost with the last second
    await asyncio.sleep(0.002)  # a restart takes longer than the clock's millisecond
    second = await tenant.arrive("q")
    assert second["id"] > first["id"]


def _count_scripts(service: Api, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The verbs the store sends to Redis, in order, from now on."""
    store = service.runtime.store
    sent: list[str] = []
    real = store._eval

    async def counting(verb: str, keys_: list[str], args: list[str | int]) -> Any:
        sent.append(verb)
        return await real(verb, keys_, args)

    monkeypatch.setattr(store, "_eval", counting)
    return sent


async def test_completing_a_call_this_process_connected_is_one_script(
        service: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request names only the call; the store remembers the agent it connected, so the
    script gets the agent's queue keys at once (freeing the agent needs them)."""
    tenant = await service.tenant("manual")
    first, second = await talking_with_one_waiting(tenant)
    sent = _count_scripts(service, monkeypatch)
    await tenant.complete(first)
    assert sent.count("complete") == 1, sent
    # the keys were the right ones: ana, free again, is offered the waiting call
    assert (await tenant.call(second))["offer"]["agent_id"] == "ana"


@pytest.mark.parametrize("memory", ["none", "stale"])
async def test_completing_without_the_right_agent_in_memory_asks_again(
        service: Api, monkeypatch: pytest.MonkeyPatch, memory: str) -> None:
    """Another replica connected the call (nothing remembered), or the memory names another
    agent: the script asks for the queue keys it lacks, and the call ends all the same."""
    tenant = await service.tenant("manual")
    first, second = await talking_with_one_waiting(tenant)
    store = service.runtime.store
    store._agent_queues.clear()
    if memory == "none":
        store._call_agents.clear()
    else:
        await tenant.put_agent("bob")
        store._call_agents[(tenant.id, first)] = "bob"
    sent = _count_scripts(service, monkeypatch)
    done = await tenant.complete(first)
    assert done["state"] == "completed"
    assert sent.count("complete") == 2, sent
    assert (await tenant.call(second))["offer"]["agent_id"] == "ana"


async def test_an_arrival_need_not_be_explained(
        service: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """`create_call(explain=False)` (the simulator) skips the read of why the call waits;
    the call is queued all the same."""
    tenant = await service.tenant("manual")
    await tenant.put_queue("q")
    sent = _count_scripts(service, monkeypatch)
    body = CallCreate.model_validate({"queue": "q"})
    plain, new = await calls.create_call(service.runtime, tenant.id, body, explain=False)
    assert new and plain.state == "queued" and plain.waiting_reason is None
    assert "explain" not in sent, sent
    explained, _ = await calls.create_call(service.runtime, tenant.id, body)
    assert explained.waiting_reason == "no-agent-logged-in"
    assert explained.position == 2
    assert sent.count("explain") == 1, sent
