"""Call states beyond the happy path (DESIGN §3.2, §3.4): reject, abandon, complete, transfer,
patch, idempotency, max_size, auto_accept, keeping rank, waiting reasons, priority order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.support import Json, TenantApi, expect, talking_with_one_waiting


def ms(ts: str) -> int:
    return round(datetime.fromisoformat(ts).timestamp() * 1000)


async def waiting_ids(t: TenantApi, queue: str) -> list[str]:
    body = expect(await t.request("GET", "/v1/calls", params={"queue": queue}), 200)
    return [c["id"] for c in body["calls"] if c["state"] == "queued"]


async def refused(t: TenantApi, method: str, path: str, body: Any, status: int = 409) -> Json:
    return expect(await t.request(method, path, body), status)


async def call_events(t: TenantApi, call_id: str, kind: str | None = None) -> list[Json]:
    return [e for e in await t.events()
            if e["type"].startswith("call.") and e["data"]["call"]["id"] == call_id
            and (kind is None or e["type"] == kind)]


async def offered_to(t: TenantApi, call_id: str, agent_id: str) -> Json:
    call = await t.call(call_id)
    assert call["state"] == "offered", call
    assert call["offer"]["agent_id"] == agent_id
    return call


# reject -------------------------------------------------------------------------------------


async def test_reject_frees_agent_to_back_of_longest_idle_line(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=60)
    for name in ("ana", "bob", "carol"):
        await tenant.put_agent(name)
        await tenant.state(name, "available")
        await tenant.advance(1)
    c1 = await tenant.arrive("q")
    await offered_to(tenant, c1["id"], "ana")
    await tenant.advance(5)
    reject_ms = await tenant.clock_ms()

    after = await tenant.reject(c1["id"])
    # The call went back and the next longest-idle agent (bob) got it at once.
    assert after["state"] == "offered"
    assert after["offer"]["agent_id"] == "bob"
    ana = await tenant.agent("ana")
    assert ana["state"] == "available"
    assert ms(ana["idle_since"]) == reject_ms

    # carol idled since before ana's reject: she is next, then ana.
    c2 = await tenant.arrive("q")
    await offered_to(tenant, c2["id"], "carol")
    c3 = await tenant.arrive("q")
    await offered_to(tenant, c3["id"], "ana")

    requeued = await call_events(tenant, c1["id"], "call.requeued")
    assert len(requeued) == 1
    assert requeued[0]["data"]["reason"] == "rejected"
    assert requeued[0]["data"]["agent_id"] == "ana"
    assert ms(requeued[0]["occurred_at"]) == reject_ms


async def test_rejected_call_keeps_its_place(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=60)
    await tenant.put_agent("ana")
    calls = await tenant.arrive_spaced("q", 3)
    await tenant.state("ana", "available")
    first = await offered_to(tenant, calls[0], "ana")
    assert await waiting_ids(tenant, "q") == calls[1:]

    await tenant.reject(calls[0])
    # Had it lost its rank it would be behind the others and ana would get calls[1].
    again = await offered_to(tenant, calls[0], "ana")
    assert again["offer"]["id"] != first["offer"]["id"]
    assert await waiting_ids(tenant, "q") == calls[1:]
    assert (await tenant.call(calls[1]))["position"] == 1


async def test_reject_counts_nothing(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=60, max_missed_offers=1)
    await tenant.put_agent("ana")
    await tenant.put_agent("bob")
    await tenant.state("ana", "available")
    c1 = await tenant.arrive("q")
    await offered_to(tenant, c1["id"], "ana")
    await tenant.state("bob", "available")

    after = await tenant.reject(c1["id"])
    assert after["offer"]["agent_id"] == "bob"
    assert after["missed_offers"] == 0
    ana = await tenant.agent("ana")
    assert ana["state"] == "available"
    assert ana["missed_offers_in_row"] == 0
    assert ana["reason"] is None


async def test_reject_of_stale_offer_or_queued_call_is_409_and_changes_nothing(
        tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=60)
    await tenant.put_agent("ana")
    c1 = await tenant.arrive("q")
    body = await refused(tenant, "POST", f"/v1/calls/{c1['id']}/reject", {"offer_id": "o-x"})
    assert body["state"] == "queued"

    await tenant.state("ana", "available")
    offer = (await offered_to(tenant, c1["id"], "ana"))["offer"]
    body = await refused(tenant, "POST", f"/v1/calls/{c1['id']}/reject", {"offer_id": "nope"})
    assert body["type"] == "/problems/offer-not-current"
    assert body["state"] == "offered"
    still = await offered_to(tenant, c1["id"], "ana")
    assert still["offer"]["id"] == offer["id"]
    assert (await tenant.agent("ana"))["state"] == "reserved"
    assert await call_events(tenant, c1["id"], "call.requeued") == []


# abandon ------------------------------------------------------------------------------------


async def test_abandon_queued_call_moves_the_others_up(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    ids = [(await tenant.arrive("q"))["id"] for _ in range(3)]
    await tenant.advance(7)
    now = await tenant.clock_ms()

    gone = await tenant.abandon(ids[0])
    assert gone["state"] == "abandoned"
    assert gone["position"] is None
    assert ms(gone["ended_at"]) == now
    assert await waiting_ids(tenant, "q") == ids[1:]
    assert (await tenant.call(ids[2]))["position"] == 2

    # A repeat is answered with the same outcome, and emits nothing more.
    assert (await tenant.abandon(ids[0]))["state"] == "abandoned"
    assert len(await call_events(tenant, ids[0], "call.abandoned")) == 1


async def test_abandon_offered_call_rescinds_offer_and_frees_agent(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=30)
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    c1 = await tenant.arrive("q")
    c2 = await tenant.arrive("q")
    offer = (await offered_to(tenant, c1["id"], "ana"))["offer"]

    gone = await tenant.abandon(c1["id"])
    assert gone["state"] == "abandoned"
    assert gone["offer"] is None
    # ana is free again and takes the next waiting call.
    await offered_to(tenant, c2["id"], "ana")
    body = await refused(tenant, "POST", f"/v1/calls/{c1['id']}/accept",
                         {"offer_id": offer["id"]})
    assert body["state"] == "abandoned"
    # The old offer's deadline does not fire on the abandoned call.
    await tenant.advance(31)
    assert (await tenant.call(c1["id"]))["state"] == "abandoned"
    assert await call_events(tenant, c1["id"], "call.requeued") == []


async def test_abandon_connected_call_is_409(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    c1 = await tenant.arrive("q")
    await tenant.accept(c1["id"])
    body = await refused(tenant, "POST", f"/v1/calls/{c1['id']}/abandon", None)
    assert body["state"] == "connected"
    assert (await tenant.call(c1["id"]))["state"] == "connected"
    assert (await tenant.agent("ana"))["state"] == "busy"


# complete -----------------------------------------------------------------------------------


async def test_complete_records_outcome_and_refuses_wrong_state(tenant: TenantApi) -> None:
    await tenant.put_queue("q", wrap_up_s=10)
    await tenant.put_agent("ana")
    c1 = await tenant.arrive("q")
    body = await refused(tenant, "POST", f"/v1/calls/{c1['id']}/complete", {"resolved": True})
    assert body["state"] == "queued"
    assert (await tenant.call(c1["id"]))["state"] == "queued"

    await tenant.state("ana", "available")
    await tenant.accept(c1["id"])
    await tenant.advance(42.5)
    now = await tenant.clock_ms()
    done = await tenant.complete(c1["id"], resolved=False, disposition="callback", csat=2)
    assert done["state"] == "completed"
    assert done["talk_s"] == 42.5
    assert (done["resolved"], done["disposition"], done["csat"]) == (False, "callback", 2)
    assert ms(done["ended_at"]) == now
    assert done["agent_id"] == "ana"
    ana = await tenant.agent("ana")
    assert ana["state"] == "wrap_up"
    assert ms(ana["state_since"]) == now
    # A repeat returns the completed call and emits nothing more.
    assert (await tenant.complete(c1["id"]))["state"] == "completed"
    assert len(await call_events(tenant, c1["id"], "call.completed")) == 1


async def test_complete_without_wrap_up_frees_agent_in_same_request(tenant: TenantApi) -> None:
    c1, c2 = await talking_with_one_waiting(tenant)
    await tenant.advance(3)
    now = await tenant.clock_ms()

    await tenant.complete(c1)
    # ana went available at once and was offered the waiting call in the same request.
    await offered_to(tenant, c2, "ana")
    changes = [e for e in await tenant.events({"agent.state_changed"})
               if e["data"]["agent_id"] == "ana"]
    assert [c["data"]["state"] for c in changes[-2:]] == ["available", "reserved"]
    assert "wrap_up" not in [c["data"]["state"] for c in changes]
    assert ms(changes[-2]["occurred_at"]) == now


# transfer -----------------------------------------------------------------------------------


async def connected(t: TenantApi, queue: str, agent: str) -> Json:
    call = await t.arrive(queue)
    await offered_to(t, call["id"], agent)
    return await t.accept(call["id"])


async def test_transfer_to_queue_keeps_arrival_and_rank(tenant: TenantApi) -> None:
    await tenant.put_queue("sales", wrap_up_s=8)
    await tenant.put_queue("tech")
    await tenant.put_agent("ana", queues=["sales"])
    await tenant.state("ana", "available")
    c1 = await connected(tenant, "sales", "ana")
    await tenant.advance(5)
    later = await tenant.arrive("tech")  # arrived after c1
    await tenant.advance(5)
    now = await tenant.clock_ms()

    moved = await tenant.transfer(c1["id"], queue="tech")
    assert moved["state"] == "queued"
    assert moved["queue"] == "tech"
    assert moved["transfers"] == 1
    assert moved["agent_id"] is None
    assert moved["arrived_at"] == c1["arrived_at"]
    assert ms(moved["queued_at"]) == now
    assert moved["position"] == 1
    assert await waiting_ids(tenant, "tech") == [c1["id"], later["id"]]
    ana = await tenant.agent("ana")
    assert ana["state"] == "wrap_up"
    ev = await call_events(tenant, c1["id"], "call.transferred")
    assert len(ev) == 1
    assert ev[0]["data"]["from_queue"] == "sales"
    assert ev[0]["data"]["queue"] == "tech"
    assert ev[0]["data"]["from_agent_id"] == "ana"


async def test_transfer_to_agent_holds_call_for_that_agent(tenant: TenantApi) -> None:
    await tenant.put_queue("q", wrap_up_s=0)
    for name in ("ana", "bob", "carol"):
        await tenant.put_agent(name)
    await tenant.state("bob", "away", reason="lunch")
    await tenant.state("ana", "available")
    c1 = await connected(tenant, "q", "ana")

    held = await tenant.transfer(c1["id"], agent_id="bob")
    assert held["state"] == "queued"
    assert held["queue"] == "q"
    assert held["transfer_agent_id"] == "bob"
    assert held["waiting_reason"] == "preferred-agent-hold"
    assert held["transfers"] == 1
    # ana (wrap_up_s 0) is available but must not get the call; nor carol.
    assert (await tenant.agent("ana"))["state"] == "available"
    await tenant.state("carol", "available")
    assert (await tenant.agent("carol"))["state"] == "available"
    assert (await tenant.call(c1["id"]))["state"] == "queued"

    await tenant.state("bob", "available")
    offered = await offered_to(tenant, c1["id"], "bob")
    assert offered["arrived_at"] == c1["arrived_at"]
    done = await tenant.accept(c1["id"])
    assert done["agent_id"] == "bob"


async def test_transfer_to_offline_agent_is_409_and_changes_nothing(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    await tenant.put_agent("ana")
    await tenant.put_agent("bob")
    await tenant.state("ana", "available")
    c1 = await connected(tenant, "q", "ana")
    body = await refused(tenant, "POST", f"/v1/calls/{c1['id']}/transfer", {"agent_id": "bob"})
    assert body["type"] == "/problems/agent-offline"
    call = await tenant.call(c1["id"])
    assert (call["state"], call["agent_id"], call["transfers"]) == ("connected", "ana", 0)
    assert (await tenant.agent("ana"))["state"] == "busy"
    assert await call_events(tenant, c1["id"], "call.transferred") == []


async def test_transfer_of_queued_call_and_refusal_when_ended(tenant: TenantApi) -> None:
    await tenant.put_queue("a")
    await tenant.put_queue("b")
    c1 = await tenant.arrive("a")
    moved = await tenant.transfer(c1["id"], queue="b")
    assert (moved["state"], moved["queue"], moved["transfers"]) == ("queued", "b", 1)
    assert await waiting_ids(tenant, "a") == []
    assert await waiting_ids(tenant, "b") == [c1["id"]]
    await tenant.abandon(c1["id"])
    body = await refused(tenant, "POST", f"/v1/calls/{c1['id']}/transfer", {"queue": "a"})
    assert body["state"] == "abandoned"


# patch --------------------------------------------------------------------------------------


async def test_patch_priority_reranks_at_once(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    await tenant.put_agent("ana")
    ids = await tenant.arrive_spaced("q", 3)
    r = await tenant.request("PATCH", f"/v1/calls/{ids[2]}", {"priority": 5})
    patched = expect(r, 200)
    assert patched["priority"] == 5
    assert patched["position"] == 1
    assert await waiting_ids(tenant, "q") == [ids[2], ids[0], ids[1]]

    await tenant.state("ana", "available")
    offered = await offered_to(tenant, ids[2], "ana")
    r = await tenant.request("PATCH", f"/v1/calls/{ids[2]}", {"priority": 0})
    body = expect(r, 409)
    assert body["state"] == "offered"
    assert (await tenant.call(ids[2]))["priority"] == 5
    assert (await tenant.call(ids[2]))["offer"]["id"] == offered["offer"]["id"]


async def test_patch_attributes_merge_and_requirements(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    await tenant.put_agent("ana", skills={"fr": 5})
    c1 = await tenant.arrive("q", attributes={"a": 1, "b": 2},
                             requirements=[{"skill": "de", "min_level": 1}])
    await tenant.state("ana", "available")
    assert (await tenant.call(c1["id"]))["state"] == "queued"
    r = await tenant.request("PATCH", f"/v1/calls/{c1['id']}",
                             {"attributes": {"a": None, "c": 3},
                              "requirements": [{"skill": "fr", "min_level": 3}]})
    patched = expect(r, 200)
    assert patched["attributes"] == {"b": 2, "c": 3}
    # The relaxed requirement lets the available agent take it at once.
    assert patched["state"] == "offered"
    assert patched["offer"]["agent_id"] == "ana"


# idempotency, max_size, auto_accept ---------------------------------------------------------


async def test_same_external_id_returns_same_call_and_no_event(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    first = await tenant.arrive("q", external_id="CA1")
    await tenant.advance(2)
    again = await tenant.arrive("q", external_id="CA1")
    assert again["id"] == first["id"]
    assert again["arrived_at"] == first["arrived_at"]
    assert again["position"] == 1
    assert await waiting_ids(tenant, "q") == [first["id"]]
    assert len(await tenant.events({"call.queued"})) == 1


async def test_same_external_id_answers_200(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    r1 = await tenant.request("POST", "/v1/calls", {"queue": "q", "external_id": "CA1"})
    first = expect(r1, 201)
    r2 = await tenant.request("POST", "/v1/calls", {"queue": "q", "external_id": "CA1"})
    assert r2.status_code == 200
    assert r2.json()["id"] == first["id"]


async def test_max_size_refuses_new_arrivals(tenant: TenantApi) -> None:
    await tenant.put_queue("q", max_size=2)
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    offered = await tenant.arrive("q")  # offered at once: not waiting
    assert offered["state"] == "offered"
    c2 = await tenant.arrive("q")
    await tenant.arrive("q")
    r = await tenant.request("POST", "/v1/calls", {"queue": "q", "external_id": "full"})
    body = expect(r, 409)
    assert body["type"] == "/problems/queue-full"
    assert len(await waiting_ids(tenant, "q")) == 2
    assert len(await tenant.events({"call.queued"})) == 3

    await tenant.abandon(c2["id"])
    r = await tenant.request("POST", "/v1/calls", {"queue": "q", "external_id": "full"})
    assert expect(r, 201)["state"] == "queued"


async def test_auto_accept_connects_in_arrival_response(tenant: TenantApi) -> None:
    await tenant.put_queue("q", auto_accept=True)
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    now = await tenant.clock_ms()
    call = await tenant.arrive("q")
    assert call["state"] == "connected"
    assert call["agent_id"] == "ana"
    assert ms(call["connected_at"]) == now
    ana = await tenant.agent("ana")
    assert (ana["state"], ana["call_id"]) == ("busy", call["id"])
    types = [e["type"] for e in await call_events(tenant, call["id"])]
    assert types == ["call.queued", "call.offered", "call.connected"]


# waiting reasons and priority order ---------------------------------------------------------


async def test_waiting_reason_follows_agents(tenant: TenantApi) -> None:
    await tenant.put_queue("q", requirements=[{"skill": "billing", "min_level": 5}])
    await tenant.put_agent("junior", skills={"billing": 2})
    await tenant.put_agent("senior", skills={"billing": 8})
    c0 = await tenant.arrive("q")
    assert c0["waiting_reason"] == "no-agent-logged-in"
    assert c0["waiting"]["agents_logged_in"] == 0

    await tenant.state("junior", "available")
    view = await tenant.call(c0["id"])
    assert view["waiting_reason"] == "no-eligible-agent"
    assert (view["waiting"]["agents_logged_in"], view["waiting"]["agents_eligible"]) == (1, 0)

    await tenant.state("senior", "available")
    await tenant.accept(c0["id"])
    c1 = await tenant.arrive("q")
    assert c1["waiting_reason"] == "all-eligible-busy"
    assert c1["waiting"] == {"reason": "all-eligible-busy", "agents_logged_in": 2,
                             "agents_eligible": 1, "agents_eligible_available": 0,
                             "agents_working": 1, "aht_s": None}


async def test_strict_priority_then_fifo(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    low1 = (await tenant.arrive("q", priority=0))["id"]
    await tenant.advance(1)
    high1 = (await tenant.arrive("q", priority=5))["id"]
    await tenant.advance(1)
    low2 = (await tenant.arrive("q", priority=0))["id"]
    await tenant.advance(3600)
    high2 = (await tenant.arrive("q", priority=5))["id"]
    top = (await tenant.arrive("q", priority=9))["id"]
    assert await waiting_ids(tenant, "q") == [top, high1, high2, low1, low2]
    assert [(await tenant.call(i))["position"] for i in (top, high2, low2)] == [1, 3, 5]

    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    await offered_to(tenant, top, "ana")


async def test_weighted_priority_rank(tenant: TenantApi) -> None:
    await tenant.put_queue("q", priority_weight_s=10)
    c1 = (await tenant.arrive("q", priority=0))["id"]  # rank t
    await tenant.advance(5)
    c2 = (await tenant.arrive("q", priority=1))["id"]  # rank t+5-10 = t-5
    await tenant.advance(10)
    c3 = (await tenant.arrive("q", priority=1))["id"]  # rank t+15-10 = t+5
    await tenant.advance(1)
    c4 = (await tenant.arrive("q", priority=2))["id"]  # rank t+16-20 = t-4
    assert await waiting_ids(tenant, "q") == [c2, c4, c1, c3]
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    await offered_to(tenant, c2, "ana")


async def test_transfer_to_busy_agent_waits_until_it_is_free(tenant: TenantApi) -> None:
    await tenant.put_queue("q", wrap_up_s=0)
    await tenant.put_agent("ana")
    await tenant.put_agent("bob")
    await tenant.state("bob", "available")
    bobs = await connected(tenant, "q", "bob")
    await tenant.state("ana", "available")
    c1 = await connected(tenant, "q", "ana")

    held = await tenant.transfer(c1["id"], agent_id="bob")
    assert (held["state"], held["transfer_agent_id"]) == ("queued", "bob")
    assert held["waiting_reason"] == "preferred-agent-hold"
    await tenant.complete(bobs["id"])
    offered = await offered_to(tenant, c1["id"], "bob")
    assert offered["transfers"] == 1
    assert (await tenant.agent("ana"))["state"] == "available"
