"""Capacity per channel (DESIGN §3.3, docs/routing.md "Channels"): real-time calls (voice,
video, callback) one at a time with nothing else in hand; chats and e-mails share an agent up
to its capacity for each; `busy` once no room is left on any channel; the agent with the fewest
contacts in hand, then the longest idle, takes the next one."""

from __future__ import annotations

import json

from app.store import keys
from tests.support import Api, Json, TenantApi, expect


async def offered_to(t: TenantApi, call_id: str) -> str | None:
    offer = (await t.call(call_id))["offer"]
    return None if offer is None else str(offer["agent_id"])


async def chats(t: TenantApi, count: int, queue: str = "chat") -> list[str]:
    return [(await t.arrive(queue, channel="chat"))["id"] for _ in range(count)]


async def waiting_reason(t: TenantApi, call_id: str) -> Json:
    call = await t.call(call_id)
    assert call["state"] == "queued", call
    return dict(call["waiting"])


def stages(agent: Json) -> dict[str, str]:
    return {c["call_id"]: c["stage"] for c in agent["contacts"]}


async def test_three_chats_at_once_then_busy_then_room_again(tenant: TenantApi) -> None:
    await tenant.put_queue("chat")
    await tenant.put_agent("ana", capacity={"chat": 3})
    await tenant.state("ana", "available")
    first, second, third, fourth = await chats(tenant, 4)
    for call_id in (first, second, third):
        assert await offered_to(tenant, call_id) == "ana"
    assert (await waiting_reason(tenant, fourth))["reason"] == "all-eligible-busy"
    ana = await tenant.agent("ana")
    assert ana["state"] == "reserved"  # no room left; offers ring
    assert stages(ana) == {first: "offered", second: "offered", third: "offered"}
    for call_id in (first, second, third):
        await tenant.accept(call_id)
    assert (await tenant.agent("ana"))["state"] == "busy"
    await tenant.complete(second)
    # The freed room takes the waiting chat in the same request.
    assert await offered_to(tenant, fourth) == "ana"
    ana = await tenant.agent("ana")
    assert stages(ana) == {first: "connected", third: "connected", fourth: "offered"}
    assert ana["state"] == "busy"


async def test_an_agent_with_room_left_stays_available(tenant: TenantApi) -> None:
    await tenant.put_queue("chat")
    await tenant.put_agent("ana", capacity={"chat": 2})
    await tenant.state("ana", "available")
    [call_id] = await chats(tenant, 1)
    await tenant.accept(call_id)
    ana = await tenant.agent("ana")
    assert ana["state"] == "available"
    assert ana["call_id"] == call_id
    assert ana["contacts"] == [{"call_id": call_id, "channel": "chat", "stage": "connected",
                                "offer_id": ana["offer_id"]}]
    await tenant.complete(call_id)
    ana = await tenant.agent("ana")
    assert (ana["state"], ana["contacts"], ana["call_id"]) == ("available", [], None)
    assert ana["today"]["calls_handled"] == 1


async def test_voice_blocks_chats_and_chats_block_voice(tenant: TenantApi) -> None:
    await tenant.put_queue("voice")
    await tenant.put_queue("chat")
    await tenant.put_agent("ana", capacity={"voice": 1, "chat": 3})
    await tenant.state("ana", "available")
    voice = await tenant.arrive("voice")
    await tenant.accept(voice["id"])
    assert (await tenant.agent("ana"))["state"] == "busy"
    [chat] = await chats(tenant, 1)
    assert (await waiting_reason(tenant, chat))["reason"] == "all-eligible-busy"
    await tenant.complete(voice["id"])
    assert await offered_to(tenant, chat) == "ana"  # free again: the chat goes to her
    await tenant.accept(chat)
    # One chat in hand: room for two more chats, none for a voice call.
    assert (await tenant.agent("ana"))["state"] == "available"
    second_voice = await tenant.arrive("voice")
    why = await waiting_reason(tenant, second_voice["id"])
    assert (why["reason"], why["agents_eligible"], why["agents_eligible_available"]) == (
        "all-eligible-busy", 1, 0)
    [another_chat] = await chats(tenant, 1)
    assert await offered_to(tenant, another_chat) == "ana"
    await tenant.put_agent("bo")
    await tenant.state("bo", "available")
    assert await offered_to(tenant, second_voice["id"]) == "bo"


async def test_a_channel_without_capacity_is_never_offered(tenant: TenantApi) -> None:
    await tenant.put_queue("chat")
    await tenant.put_agent("ana")  # voice only, the default
    await tenant.state("ana", "available")
    [chat] = await chats(tenant, 1)
    why = await waiting_reason(tenant, chat)
    assert (why["reason"], why["agents_logged_in"], why["agents_eligible"]) == (
        "no-eligible-agent", 1, 0)
    await tenant.put_agent("ana", capacity={"voice": 1, "email": 2})
    assert await offered_to(tenant, chat) is None
    await tenant.put_agent("ana", capacity={"voice": 1, "chat": 1})
    assert await offered_to(tenant, chat) == "ana"  # the new capacity routes at once


async def test_chats_spread_fewest_contacts_first_then_longest_idle(tenant: TenantApi) -> None:
    await tenant.put_queue("chat")
    for agent in ("ana", "bo"):
        await tenant.put_agent(agent, capacity={"chat": 2})
    await tenant.state("bo", "available")
    await tenant.advance(1)
    await tenant.state("ana", "available")
    calls = await chats(tenant, 4)
    assert [await offered_to(tenant, c) for c in calls] == ["bo", "ana", "bo", "ana"]


async def test_waiting_chats_all_go_to_an_agent_who_logs_in(tenant: TenantApi) -> None:
    await tenant.put_queue("chat")
    await tenant.put_agent("ana", capacity={"chat": 3, "email": 1})
    calls = await chats(tenant, 4)
    email = (await tenant.arrive("chat", channel="email"))["id"]
    await tenant.state("ana", "available")
    assert [await offered_to(tenant, c) for c in calls] == ["ana", "ana", "ana", None]
    assert await offered_to(tenant, email) == "ana"  # e-mail shares the agent with chats
    assert (await tenant.agent("ana"))["state"] == "reserved"


async def test_wrap_up_holds_the_chat_slot_until_it_ends(tenant: TenantApi) -> None:
    await tenant.put_queue("chat", wrap_up_s=10)
    await tenant.put_agent("ana", capacity={"chat": 1})
    await tenant.state("ana", "available")
    first, second = await chats(tenant, 2)
    await tenant.accept(first)
    await tenant.complete(first)
    ana = await tenant.agent("ana")
    assert (ana["state"], stages(ana)) == ("wrap_up", {first: "wrap_up"})
    await tenant.advance(9.999)
    assert await offered_to(tenant, second) is None
    await tenant.advance(0.001)
    assert await offered_to(tenant, second) == "ana"


async def test_going_away_with_chats_in_hand(tenant: TenantApi) -> None:
    await tenant.put_queue("chat")
    await tenant.put_agent("ana", capacity={"chat": 3})
    await tenant.state("ana", "available")
    talking, ringing = await chats(tenant, 2)
    await tenant.accept(talking)
    refused = expect(await tenant.request("POST", "/v1/agents/ana/state", {"state": "away"}),
                     409)
    assert refused["type"].endswith("/agent-busy")
    assert (await tenant.call(ringing))["state"] == "offered"  # refused: nothing changed
    pending = await tenant.state("ana", "away", reason="lunch", after_call=True)
    assert pending["pending"] == {"state": "away", "reason": "lunch"}
    assert pending["state"] == "busy"  # no new contacts while the pending state waits
    [later] = await chats(tenant, 1)
    assert await offered_to(tenant, later) is None
    await tenant.accept(ringing)
    await tenant.complete(talking)
    assert (await tenant.agent("ana"))["state"] == "busy"
    await tenant.complete(ringing)
    ana = await tenant.agent("ana")
    assert (ana["state"], ana["reason"], ana["pending"]) == ("away", "lunch", None)
    assert await offered_to(tenant, later) is None


async def test_away_rescinds_ringing_chats_and_ends_wrap_ups(tenant: TenantApi) -> None:
    await tenant.put_queue("chat", wrap_up_s=30)
    await tenant.put_agent("ana", capacity={"chat": 2})
    await tenant.state("ana", "available")
    done, ringing = await chats(tenant, 2)
    await tenant.accept(done)
    await tenant.complete(done)
    assert stages(await tenant.agent("ana")) == {done: "wrap_up", ringing: "offered"}
    away = await tenant.state("ana", "away")
    assert (away["state"], away["contacts"]) == ("away", [])
    call = await tenant.call(ringing)
    assert (call["state"], call["offer"]) == ("queued", None)
    requeued = await tenant.events({"call.requeued"})
    assert [(e["data"]["call"]["id"], e["data"]["reason"]) for e in requeued] == [
        (ringing, "rescinded")]
    await tenant.advance(30)  # the ended wrap-up's timer fires nothing
    assert (await tenant.agent("ana"))["state"] == "away"


async def test_missed_offers_with_chats_in_hand_go_away_after_them(tenant: TenantApi) -> None:
    await tenant.put_queue("chat", offer_timeout_s=5, max_missed_offers=1)
    await tenant.put_agent("ana", capacity={"chat": 2})
    await tenant.state("ana", "available")
    talking, missed = await chats(tenant, 2)
    await tenant.accept(talking)
    await tenant.advance(5)
    ana = await tenant.agent("ana")
    assert (ana["state"], ana["pending"]) == ("busy", {"state": "away",
                                                       "reason": "missed-offers"})
    assert (await tenant.call(missed))["state"] == "queued"
    await tenant.complete(talking)
    ana = await tenant.agent("ana")
    assert (ana["state"], ana["reason"]) == ("away", "missed-offers")


async def test_an_agent_holding_chats_cannot_be_deleted(tenant: TenantApi) -> None:
    await tenant.put_queue("chat")
    await tenant.put_agent("ana", capacity={"chat": 2})
    await tenant.state("ana", "available")
    [call_id] = await chats(tenant, 1)
    await tenant.accept(call_id)
    refused = expect(await tenant.request("DELETE", "/v1/agents/ana"), 409)
    assert refused["type"].endswith("/agent-busy")
    assert (await tenant.agent("ana"))["contacts"][0]["call_id"] == call_id


async def test_transfer_to_an_agent_waits_for_room_on_the_channel(tenant: TenantApi) -> None:
    await tenant.put_queue("chat")
    await tenant.put_agent("ana", capacity={"chat": 1})
    await tenant.put_agent("bo", capacity={"chat": 1})
    await tenant.state("ana", "available")
    first, second = await chats(tenant, 2)
    await tenant.accept(first)
    await tenant.state("bo", "available")
    await tenant.accept(second)
    moved = await tenant.transfer(first, agent_id="bo")
    assert moved["state"] == "queued"  # bo has no room: it waits for him alone
    await tenant.complete(second)
    assert await offered_to(tenant, first) == "bo"


async def test_an_agent_record_from_before_contacts_finishes_its_call(service: Api) -> None:
    """A live record written by a version without contacts (one voice call: call_id, or a
    wrap-up timer) is read as that one contact, so an upgrade strands nobody."""
    tenant = await service.tenant()
    await tenant.put_queue("q", wrap_up_s=5)
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    call = await tenant.arrive("q")
    await tenant.accept(call["id"])
    redis = service.runtime.redis
    agents_key = keys.key(tenant.id, "agents")

    async def as_before_contacts() -> None:
        live = json.loads(str(await redis.hget(agents_key, "ana")))
        [contact] = live.pop("contacts").values()
        live.pop("ix", None)
        if contact["stage"] == "wrap_up":  # then: no call_id, the timer's token on the agent
            live["wrap_token"] = contact["wrap"]
            live.pop("call_id", None)
        await redis.hset(agents_key, "ana", json.dumps(live))

    await as_before_contacts()
    await tenant.complete(call["id"])
    assert (await tenant.agent("ana"))["state"] == "wrap_up"
    await as_before_contacts()  # the wrap-up's contact: known by its timer alone
    await tenant.advance(5)
    ana = await tenant.agent("ana")
    assert (ana["state"], ana["contacts"]) == ("available", [])
    second = await tenant.arrive("q")
    assert second["offer"]["agent_id"] == "ana"
