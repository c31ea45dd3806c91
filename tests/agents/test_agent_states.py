"""The agent state machine (DESIGN §3.3): available/away/offline, after_call, rescinding an
offer, illegal transitions, idle_since and the longest-idle order."""

from __future__ import annotations

from datetime import datetime

from tests.support import Json, TenantApi, expect


def ms(ts: str) -> int:
    return round(datetime.fromisoformat(ts).timestamp() * 1000)


async def set_state(t: TenantApi, agent: str, body: Json, status: int) -> Json:
    return expect(await t.request("POST", f"/v1/agents/{agent}/state", body), status)


async def state_changes(t: TenantApi, agent: str) -> list[Json]:
    return [e for e in await t.events({"agent.state_changed"})
            if e["data"]["agent_id"] == agent]


async def waiting_ids(t: TenantApi, queue: str) -> list[str]:
    body = expect(await t.request("GET", "/v1/calls", params={"queue": queue}), 200)
    return [c["id"] for c in body["calls"] if c["state"] == "queued"]


async def busy_with_call(t: TenantApi, agent: str, queue: str = "q") -> Json:
    await t.state(agent, "available")
    call = await t.arrive(queue)
    assert (await t.call(call["id"]))["offer"]["agent_id"] == agent
    return await t.accept(call["id"])


async def test_new_agent_is_offline_and_available_sets_idle_since(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    created = await tenant.put_agent("ana")
    assert created["state"] == "offline"
    assert created["idle_since"] is None
    await tenant.advance(3)
    now = await tenant.clock_ms()
    ana = await tenant.state("ana", "available")
    assert ana["state"] == "available"
    assert ms(ana["idle_since"]) == now
    assert ms(ana["state_since"]) == now
    assert (await tenant.agent("ana"))["idle_since"] == ana["idle_since"]
    listed = expect(await tenant.request("GET", "/v1/agents", params={"state": "available"}),
                    200)
    assert [a["id"] for a in listed["agents"]] == ["ana"]


async def test_same_state_again_is_a_no_op(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    await tenant.put_agent("ana")
    first = await tenant.state("ana", "available")
    await tenant.advance(10)
    again = await tenant.state("ana", "available")
    assert again["state"] == "available"
    assert again["idle_since"] == first["idle_since"]
    assert again["state_since"] == first["state_since"]
    assert len(await state_changes(tenant, "ana")) == 1


async def test_away_offline_and_back(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    await tenant.put_agent("ana")
    away = await tenant.state("ana", "away", reason="lunch")
    assert (away["state"], away["reason"]) == ("away", "lunch")
    await tenant.advance(1)
    offline = await tenant.state("ana", "offline")
    assert (offline["state"], offline["reason"]) == ("offline", None)
    await tenant.state("ana", "available")
    await tenant.state("ana", "away", reason="training")
    # An away agent is never offered calls.
    call = await tenant.arrive("q")
    assert (await tenant.call(call["id"]))["state"] == "queued"
    assert (await tenant.agent("ana"))["idle_since"] is None
    kinds = [(e["data"]["previous"], e["data"]["state"]) for e in await state_changes(
        tenant, "ana")]
    assert kinds == [("offline", "away"), ("away", "offline"), ("offline", "available"),
                     ("available", "away")]


async def test_unknown_agent_is_404(tenant: TenantApi) -> None:
    body = await set_state(tenant, "ghost", {"state": "available"}, 404)
    assert body["type"] == "/problems/agent-not-found"


async def test_longest_idle_agent_gets_the_call(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    for name in ("ana", "bob", "carol"):
        await tenant.put_agent(name)
        await tenant.state(name, "available")
        await tenant.advance(1)
    # ana leaves and comes back: she is now the most recently idle.
    await tenant.state("ana", "away", reason="coffee")
    again = await tenant.state("ana", "available")
    assert ms(again["idle_since"]) == await tenant.clock_ms()
    got = []
    for _ in range(3):
        call = await tenant.arrive("q")
        got.append((await tenant.call(call["id"]))["offer"]["agent_id"])
    assert got == ["bob", "carol", "ana"]


async def test_busy_agent_refuses_away_without_after_call(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    await tenant.put_agent("ana")
    call = await busy_with_call(tenant, "ana")
    body = await set_state(tenant, "ana", {"state": "away", "reason": "lunch"}, 409)
    assert body["type"] == "/problems/agent-busy"
    assert (body["state"], body["requested"]) == ("busy", "away")
    body = await set_state(tenant, "ana", {"state": "available"}, 409)
    assert body["type"] == "/problems/agent-busy"
    ana = await tenant.agent("ana")
    assert (ana["state"], ana["call_id"], ana["pending"]) == ("busy", call["id"], None)


async def test_after_call_applies_when_wrap_up_ends(tenant: TenantApi) -> None:
    await tenant.put_queue("q", wrap_up_s=10)
    await tenant.put_agent("ana")
    call = await busy_with_call(tenant, "ana")
    pending = await tenant.state("ana", "away", reason="lunch", after_call=True)
    assert pending["state"] == "busy"
    assert pending["pending"] == {"state": "away", "reason": "lunch"}
    assert (await tenant.agent("ana"))["pending"] == {"state": "away", "reason": "lunch"}

    await tenant.complete(call["id"])
    ana = await tenant.agent("ana")
    assert ana["state"] == "wrap_up"
    assert ana["pending"] == {"state": "away", "reason": "lunch"}
    start = await tenant.clock_ms()
    await tenant.advance(10)
    ana = await tenant.agent("ana")
    assert (ana["state"], ana["reason"], ana["pending"]) == ("away", "lunch", None)
    assert ms(ana["state_since"]) == start + 10_000
    # It never passed through available, so it took no call.
    assert "available" not in [e["data"]["state"] for e in (await state_changes(
        tenant, "ana"))[-2:]]


async def test_after_call_without_wrap_up_applies_at_completion(tenant: TenantApi) -> None:
    await tenant.put_queue("q", wrap_up_s=0)
    await tenant.put_agent("ana")
    call = await busy_with_call(tenant, "ana")
    waiting = await tenant.arrive("q")
    await tenant.state("ana", "offline", after_call=True)
    await tenant.complete(call["id"])
    ana = await tenant.agent("ana")
    assert (ana["state"], ana["pending"]) == ("offline", None)
    assert (await tenant.call(waiting["id"]))["state"] == "queued"


async def test_after_call_available_cancels_pending(tenant: TenantApi) -> None:
    await tenant.put_queue("q", wrap_up_s=0)
    await tenant.put_agent("ana")
    call = await busy_with_call(tenant, "ana")
    await tenant.state("ana", "away", reason="lunch", after_call=True)
    cancelled = await tenant.state("ana", "available", after_call=True)
    assert (cancelled["state"], cancelled["pending"]) == ("busy", None)
    await tenant.complete(call["id"])
    assert (await tenant.agent("ana"))["state"] == "available"


async def test_available_during_wrap_up_ends_it_early(tenant: TenantApi) -> None:
    await tenant.put_queue("q", wrap_up_s=30)
    await tenant.put_agent("ana")
    call = await busy_with_call(tenant, "ana")
    await tenant.complete(call["id"])
    await tenant.advance(5)
    now = await tenant.clock_ms()
    ana = await tenant.state("ana", "available")
    assert ana["state"] == "available"
    assert ms(ana["idle_since"]) == now
    # The wrap-up timer was dropped: nothing happens when it would have been due.
    before = len(await state_changes(tenant, "ana"))
    await tenant.advance(60)
    assert len(await state_changes(tenant, "ana")) == before
    assert (await tenant.agent("ana"))["idle_since"] == ana["idle_since"]


async def test_away_during_wrap_up(tenant: TenantApi) -> None:
    await tenant.put_queue("q", wrap_up_s=30)
    await tenant.put_agent("ana")
    call = await busy_with_call(tenant, "ana")
    await tenant.complete(call["id"])
    ana = await tenant.state("ana", "away", reason="break")
    assert (ana["state"], ana["reason"]) == ("away", "break")
    await tenant.advance(60)
    assert (await tenant.agent("ana"))["state"] == "away"


async def test_away_while_reserved_rescinds_offer_keeping_place(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=60, max_missed_offers=1)
    await tenant.put_agent("ana")
    ids = await tenant.arrive_spaced("q", 3)
    await tenant.state("ana", "available")
    offer = (await tenant.call(ids[0]))["offer"]
    assert offer["agent_id"] == "ana"
    await tenant.advance(2)
    now = await tenant.clock_ms()

    ana = await tenant.state("ana", "away", reason="headset")
    assert (ana["state"], ana["reason"], ana["call_id"]) == ("away", "headset", None)
    assert ana["missed_offers_in_row"] == 0
    back = await tenant.call(ids[0])
    assert (back["state"], back["position"], back["offer"]) == ("queued", 1, None)
    assert back["missed_offers"] == 0
    assert await waiting_ids(tenant, "q") == ids
    requeued = [e for e in await tenant.events({"call.requeued"})
                if e["data"]["call"]["id"] == ids[0]]
    assert len(requeued) == 1
    assert requeued[0]["data"]["reason"] == "rescinded"
    assert requeued[0]["data"]["offer_id"] == offer["id"]
    assert ms(requeued[0]["occurred_at"]) == now
    # The rescinded offer's deadline never fires.
    await tenant.advance(120)
    assert (await tenant.call(ids[0]))["state"] == "queued"
    assert len(await tenant.events({"call.requeued"})) == 1
    accept = await tenant.request("POST", f"/v1/calls/{ids[0]}/accept",
                                  {"offer_id": offer["id"]})
    assert expect(accept, 409)["state"] == "queued"


async def test_offline_while_reserved_hands_call_to_next_agent(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=60)
    await tenant.put_agent("ana")
    await tenant.put_agent("bob")
    await tenant.state("ana", "available")
    await tenant.advance(1)
    await tenant.state("bob", "available")
    call = await tenant.arrive("q")
    assert (await tenant.call(call["id"]))["offer"]["agent_id"] == "ana"
    assert (await tenant.state("ana", "offline"))["state"] == "offline"
    now_call = await tenant.call(call["id"])
    assert now_call["state"] == "offered"
    assert now_call["offer"]["agent_id"] == "bob"
    assert (await tenant.agent("bob"))["state"] == "reserved"


async def test_reserved_to_available_is_illegal(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=60)
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    call = await tenant.arrive("q")
    before = await tenant.agent("ana")
    body = await set_state(tenant, "ana", {"state": "available"}, 409)
    assert body["type"] == "/problems/illegal-transition"
    assert (body["state"], body["requested"]) == ("reserved", "available")
    after = await tenant.agent("ana")
    assert (after["state"], after["call_id"], after["offer_id"]) == (
        "reserved", call["id"], before["offer_id"])
    assert (await tenant.call(call["id"]))["state"] == "offered"
