"""Timers on the manual clock (DESIGN §3.7): each fires at its due time, exactly once, in time
order, seeing the clock at its own due time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from app.store import keys
from tests.support import Api, Json, TenantApi, expect


def ms(ts: str) -> int:
    return round(datetime.fromisoformat(ts).timestamp() * 1000)


def iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


async def advance_ms(t: TenantApi, millis: int) -> Json:
    return await t.advance(millis / 1000)


async def of_call(t: TenantApi, call_id: str, kind: str) -> list[Json]:
    return [e for e in await t.events({kind}) if e["data"]["call"]["id"] == call_id]


async def of_agent(t: TenantApi, agent: str, state: str) -> list[Json]:
    return [e for e in await t.events({"agent.state_changed"})
            if e["data"]["agent_id"] == agent and e["data"]["state"] == state]


# offer expiry -------------------------------------------------------------------------------


async def test_offer_expires_at_its_deadline_once(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=10)
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    call = await tenant.arrive("q")
    offer = (await tenant.call(call["id"]))["offer"]
    due = ms(offer["expires_at"])
    assert due == await tenant.clock_ms() + 10_000

    await advance_ms(tenant, 9_999)
    view = await tenant.call(call["id"])
    assert (view["state"], view["offer"]["id"], view["missed_offers"]) == (
        "offered", offer["id"], 0)
    assert (await tenant.agent("ana"))["missed_offers_in_row"] == 0
    assert await of_call(tenant, call["id"], "call.requeued") == []

    fired = await advance_ms(tenant, 1)
    assert fired["fired"] == 1
    requeued = await of_call(tenant, call["id"], "call.requeued")
    assert len(requeued) == 1
    assert requeued[0]["data"]["reason"] == "expired"
    assert requeued[0]["data"]["offer_id"] == offer["id"]
    assert ms(requeued[0]["occurred_at"]) == due
    ana = await tenant.agent("ana")
    assert ana["missed_offers_in_row"] == 1
    # Back to available (idle since the deadline) and, as the only agent, offered it again.
    became_available = await of_agent(tenant, "ana", "available")
    assert ms(became_available[-1]["occurred_at"]) == due
    view = await tenant.call(call["id"])
    assert view["missed_offers"] == 1
    assert view["offer"]["id"] != offer["id"]
    assert ms(view["offer"]["offered_at"]) == due

    await advance_ms(tenant, 9_999)
    assert len(await of_call(tenant, call["id"], "call.requeued")) == 1
    assert (await tenant.call(call["id"]))["missed_offers"] == 1


async def test_expired_offer_keeps_place_and_cannot_be_accepted(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=10, max_missed_offers=1)
    await tenant.put_agent("ana")
    ids = await tenant.arrive_spaced("q", 3)
    await tenant.state("ana", "available")
    offer = (await tenant.call(ids[0]))["offer"]
    await tenant.advance(10)
    back = await tenant.call(ids[0])
    assert (back["state"], back["position"]) == ("queued", 1)
    body = expect(await tenant.request("POST", f"/v1/calls/{ids[0]}/accept",
                                       {"offer_id": offer["id"]}), 409)
    assert body["state"] == "queued"
    listed = expect(await tenant.request("GET", "/v1/calls", params={"queue": "q"}), 200)
    assert [c["id"] for c in listed["calls"]] == ids


async def test_max_missed_offers_sends_agent_away_at_due_time(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=10, max_missed_offers=2)
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    call = await tenant.arrive("q")
    start = await tenant.clock_ms()
    # First miss at +10 s (re-offered at once), second due at +20 s.
    await advance_ms(tenant, 19_999)
    ana = await tenant.agent("ana")
    assert (ana["state"], ana["missed_offers_in_row"]) == ("reserved", 1)
    assert await of_agent(tenant, "ana", "away") == []

    await advance_ms(tenant, 1)
    ana = await tenant.agent("ana")
    assert (ana["state"], ana["reason"], ana["missed_offers_in_row"]) == (
        "away", "missed-offers", 0)
    assert ms(ana["state_since"]) == start + 20_000
    view = await tenant.call(call["id"])
    assert (view["state"], view["missed_offers"], view["position"]) == ("queued", 2, 1)

    await tenant.advance(60)
    assert len(await of_agent(tenant, "ana", "away")) == 1
    assert len(await of_call(tenant, call["id"], "call.requeued")) == 2
    assert (await tenant.agent("ana"))["state"] == "away"


async def test_accept_resets_missed_in_row(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=10, max_missed_offers=2, wrap_up_s=0)
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    c1 = await tenant.arrive("q")
    await tenant.advance(10)
    assert (await tenant.agent("ana"))["missed_offers_in_row"] == 1
    await tenant.accept(c1["id"])
    assert (await tenant.agent("ana"))["missed_offers_in_row"] == 0
    await tenant.complete(c1["id"])
    # One more miss is one in a row, not two: ana stays in.
    await tenant.arrive("q")
    await tenant.advance(10)
    ana = await tenant.agent("ana")
    assert ana["missed_offers_in_row"] == 1
    assert ana["state"] == "reserved"


# wrap-up ------------------------------------------------------------------------------------


async def test_wrap_up_ends_at_its_due_time_once(tenant: TenantApi) -> None:
    await tenant.put_queue("q", wrap_up_s=15)
    await tenant.put_agent("ana")
    await tenant.handle_one_call("q", "ana")
    due = await tenant.clock_ms() + 15_000

    await advance_ms(tenant, 14_999)
    assert (await tenant.agent("ana"))["state"] == "wrap_up"
    assert await of_agent(tenant, "ana", "available") != []
    availables = len(await of_agent(tenant, "ana", "available"))

    await advance_ms(tenant, 1)
    ana = await tenant.agent("ana")
    assert ana["state"] == "available"
    assert ms(ana["idle_since"]) == due
    assert len(await of_agent(tenant, "ana", "available")) == availables + 1

    await tenant.advance(100)
    assert len(await of_agent(tenant, "ana", "available")) == availables + 1
    assert ms((await tenant.agent("ana"))["idle_since"]) == due


# max wait -----------------------------------------------------------------------------------


async def test_max_wait_times_out_at_due_time_once(tenant: TenantApi) -> None:
    await tenant.put_queue("q", max_wait_s=30)
    call = await tenant.arrive("q")
    due = ms(call["queued_at"]) + 30_000

    await advance_ms(tenant, 29_999)
    view = await tenant.call(call["id"])
    assert (view["state"], view["position"]) == ("queued", 1)
    assert await tenant.events({"call.timed_out"}) == []

    await advance_ms(tenant, 1)
    view = await tenant.call(call["id"])
    assert view["state"] == "timed_out"
    assert ms(view["ended_at"]) == due
    listed = expect(await tenant.request("GET", "/v1/calls", params={"queue": "q"}), 200)
    assert listed["calls"] == []
    timed_out = await tenant.events({"call.timed_out"})
    assert len(timed_out) == 1
    assert ms(timed_out[0]["occurred_at"]) == due

    await tenant.advance(100)
    assert len(await tenant.events({"call.timed_out"})) == 1


async def test_max_wait_overflows_then_new_queue_max_wait(tenant: TenantApi) -> None:
    await tenant.put_queue("general", max_wait_s=40)
    await tenant.put_queue("billing", max_wait_s=30, overflow_queue="general")
    call = await tenant.arrive("billing")
    await tenant.advance(5)
    late = await tenant.arrive("general")  # arrived after the call: stays behind it
    start = ms(call["queued_at"])

    await advance_ms(tenant, 24_999)
    view = await tenant.call(call["id"])
    assert (view["state"], view["queue"], view["overflows"]) == ("queued", "billing", 0)
    assert await tenant.events({"call.overflowed"}) == []

    await advance_ms(tenant, 1)
    view = await tenant.call(call["id"])
    assert (view["state"], view["queue"], view["overflows"]) == ("queued", "general", 1)
    assert view["arrived_at"] == call["arrived_at"]
    assert ms(view["queued_at"]) == start + 30_000
    assert view["position"] == 1
    assert (await tenant.call(late["id"]))["position"] == 2
    overflowed = await tenant.events({"call.overflowed"})
    assert len(overflowed) == 1
    assert ms(overflowed[0]["occurred_at"]) == start + 30_000
    assert (overflowed[0]["data"]["from_queue"], overflowed[0]["data"]["queue"]) == (
        "billing", "general")

    # general's own max wait counts from entering it: 40 s later, not from arrival.
    await advance_ms(tenant, 39_999)
    assert (await tenant.call(call["id"]))["state"] == "queued"
    assert len(await tenant.events({"call.overflowed"})) == 1
    await advance_ms(tenant, 1)
    view = await tenant.call(call["id"])
    assert (view["state"], view["queue"]) == ("timed_out", "general")
    assert ms(view["ended_at"]) == start + 70_000
    await tenant.advance(100)
    assert len(await of_call(tenant, call["id"], "call.timed_out")) == 1
    assert len(await tenant.events({"call.overflowed"})) == 1


async def test_max_wait_while_ringing_then_reject_times_out(tenant: TenantApi) -> None:
    await tenant.put_queue("q", max_wait_s=30, offer_timeout_s=60)
    await tenant.put_agent("ana")
    call = await tenant.arrive("q")
    await tenant.advance(25)
    await tenant.state("ana", "available")
    await tenant.advance(10)  # max wait passes while ringing: marked only
    view = await tenant.call(call["id"])
    assert (view["state"], view["offer"]["agent_id"]) == ("offered", "ana")
    assert await tenant.events({"call.timed_out"}) == []

    now = await tenant.clock_ms()
    after = await tenant.reject(call["id"])
    assert after["state"] == "timed_out"
    assert ms(after["ended_at"]) == now
    assert await of_call(tenant, call["id"], "call.requeued") == []
    assert len(await tenant.events({"call.timed_out"})) == 1
    assert (await tenant.agent("ana"))["state"] == "available"


async def test_max_wait_while_ringing_then_expiry_overflows(tenant: TenantApi) -> None:
    await tenant.put_queue("general")
    await tenant.put_queue("billing", max_wait_s=30, overflow_queue="general",
                           offer_timeout_s=20)
    await tenant.put_agent("ana", queues=["billing"])
    call = await tenant.arrive("billing")
    await tenant.advance(25)
    await tenant.state("ana", "available")  # offered at +25 s, expires at +45 s
    await tenant.advance(10)
    assert (await tenant.call(call["id"]))["state"] == "offered"
    start = ms(call["queued_at"])

    await advance_ms(tenant, 9_999)
    assert (await tenant.call(call["id"]))["state"] == "offered"
    await advance_ms(tenant, 1)
    view = await tenant.call(call["id"])
    assert (view["state"], view["queue"], view["overflows"]) == ("queued", "general", 1)
    assert view["missed_offers"] == 1
    assert ms(view["queued_at"]) == start + 45_000
    overflowed = await tenant.events({"call.overflowed"})
    assert len(overflowed) == 1
    assert ms(overflowed[0]["occurred_at"]) == start + 45_000
    ana = await tenant.agent("ana")
    assert (ana["state"], ana["missed_offers_in_row"]) == ("available", 1)


async def test_accepted_call_ignores_a_passed_max_wait(tenant: TenantApi) -> None:
    await tenant.put_queue("q", max_wait_s=30, offer_timeout_s=60)
    await tenant.put_agent("ana")
    call = await tenant.arrive("q")
    await tenant.advance(25)
    await tenant.state("ana", "available")
    await tenant.advance(10)
    await tenant.accept(call["id"])
    await tenant.advance(100)
    assert (await tenant.call(call["id"]))["state"] == "connected"
    assert await tenant.events({"call.timed_out"}) == []


# order and the clock API --------------------------------------------------------------------


async def test_timers_fire_in_time_order_each_at_its_due_time(tenant: TenantApi) -> None:
    await tenant.put_queue("slow", offer_timeout_s=20, max_missed_offers=1)
    await tenant.put_queue("fast", offer_timeout_s=10, max_missed_offers=1)
    await tenant.put_agent("bob", queues=["slow"])
    await tenant.put_agent("ana", queues=["fast"])
    await tenant.state("bob", "available")
    await tenant.state("ana", "available")
    c_slow = await tenant.arrive("slow")
    c_fast = await tenant.arrive("fast")
    t = await tenant.clock_ms()

    advanced = await tenant.advance(30)
    assert advanced["fired"] == 2
    assert ms(advanced["now"]) == t + 30_000
    requeued = await tenant.events({"call.requeued"})
    assert [(e["data"]["call"]["id"], ms(e["occurred_at"])) for e in requeued] == [
        (c_fast["id"], t + 10_000), (c_slow["id"], t + 20_000)]
    assert ms((await tenant.agent("ana"))["state_since"]) == t + 10_000
    assert ms((await tenant.agent("bob"))["state_since"]) == t + 20_000


async def test_timers_armed_while_advancing_fire_in_the_same_advance(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=10)
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    call = await tenant.arrive("q")
    t = await tenant.clock_ms()

    await tenant.advance(25)
    requeued = await of_call(tenant, call["id"], "call.requeued")
    assert [ms(e["occurred_at"]) for e in requeued] == [t + 10_000, t + 20_000]
    offer = (await tenant.call(call["id"]))["offer"]
    assert (ms(offer["offered_at"]), ms(offer["expires_at"])) == (t + 20_000, t + 30_000)
    assert (await tenant.call(call["id"]))["missed_offers"] == 2


async def test_advance_on_wall_clock_tenant_is_409(service: Api) -> None:
    wall = await service.tenant("wall")
    clock = expect(await wall.request("GET", "/v1/clock"), 200)
    assert clock["mode"] == "wall"
    r = await wall.request("POST", "/v1/clock/advance", {"seconds": 5})
    body = expect(r, 409)
    assert body["type"] == "/problems/clock-not-manual"
    r = await wall.request("POST", "/v1/clock/advance", {"to": iso(4_000_000_000_000)})
    assert expect(r, 409)["type"] == "/problems/clock-not-manual"


async def test_advance_zero_seconds_changes_nothing_when_nothing_due(tenant: TenantApi) -> None:
    await tenant.put_queue("q", wrap_up_s=10)
    await tenant.put_agent("ana")
    await tenant.handle_one_call("q", "ana")
    now = await tenant.clock_ms()
    advanced = await tenant.advance(0)
    assert (advanced["fired"], ms(advanced["now"])) == (0, now)
    assert await tenant.clock_ms() == now
    assert (await tenant.agent("ana"))["state"] == "wrap_up"


async def test_advance_to_a_time(tenant: TenantApi) -> None:
    await tenant.put_queue("q", max_wait_s=60)
    call = await tenant.arrive("q")
    t = await tenant.clock_ms()

    advanced = expect(await tenant.request("POST", "/v1/clock/advance",
                                           {"to": iso(t + 59_999)}), 200)
    assert (advanced["fired"], ms(advanced["now"])) == (0, t + 59_999)
    assert (await tenant.call(call["id"]))["state"] == "queued"
    advanced = expect(await tenant.request("POST", "/v1/clock/advance",
                                           {"to": iso(t + 60_000)}), 200)
    assert (advanced["fired"], ms(advanced["now"])) == (1, t + 60_000)
    assert (await tenant.call(call["id"]))["state"] == "timed_out"

    r = await tenant.request("POST", "/v1/clock/advance", {"to": iso(t + 1_000)})
    assert r.status_code == 422
    assert await tenant.clock_ms() == t + 60_000
    # The same instant is not "before now": fine, and nothing fires twice.
    same = expect(await tenant.request("POST", "/v1/clock/advance",
                                       {"to": iso(t + 60_000)}), 200)
    assert same["fired"] == 0
    assert len(await tenant.events({"call.timed_out"})) == 1


async def test_advance_needs_exactly_one_of_seconds_and_to(tenant: TenantApi) -> None:
    t = await tenant.clock_ms()
    for body in ({}, {"seconds": 1, "to": iso(t + 1_000)}, {"seconds": -1}):
        r = await tenant.request("POST", "/v1/clock/advance", body)
        assert r.status_code == 422, body
    assert await tenant.clock_ms() == t


# A timer due exactly now exists only if something put it there without advancing the clock:
# the API never arms a timer at a zero delay. To check `seconds: 0` fires it, the test moves
# an armed wrap-up timer to "now" in the tenant's timer set directly.


async def test_advance_zero_seconds_fires_timers_due_now(service: Api) -> None:
    api, redis = service, service.runtime.redis
    tenant = await api.tenant("manual")
    await tenant.put_queue("q", wrap_up_s=10)
    await tenant.put_agent("ana")
    await tenant.handle_one_call("q", "ana")
    now = await tenant.clock_ms()
    timers_key = keys.key(tenant.id, "timers")
    members = [m.decode() if isinstance(m, bytes) else str(m)
               for m in await redis.zrange(timers_key, 0, -1)]
    [wrap] = [m for m in members if m.startswith("wrap|ana|")]
    assert await redis.zadd(timers_key, {wrap: now}, xx=True, ch=True) == 1

    advanced = await tenant.advance(0)
    assert (advanced["fired"], ms(advanced["now"])) == (1, now)
    ana = await tenant.agent("ana")
    assert ana["state"] == "available"
    assert ms(ana["idle_since"]) == now


async def test_max_wait_while_ringing_then_rescind_times_out(tenant: TenantApi) -> None:
    await tenant.put_queue("q", max_wait_s=30, offer_timeout_s=60)
    await tenant.put_agent("ana")
    call = await tenant.arrive("q")
    await tenant.advance(25)
    await tenant.state("ana", "available")
    await tenant.advance(10)
    assert (await tenant.call(call["id"]))["state"] == "offered"
    now = await tenant.clock_ms()
    ana = await tenant.state("ana", "away", reason="break")
    assert ana["state"] == "away"
    view = await tenant.call(call["id"])
    assert (view["state"], ms(view["ended_at"])) == ("timed_out", now)
    assert await of_call(tenant, call["id"], "call.requeued") == []


async def test_timers_of_different_kinds_fire_in_time_order(tenant: TenantApi) -> None:
    await tenant.put_queue("wrap", wrap_up_s=5)
    await tenant.put_queue("ring", offer_timeout_s=9, max_missed_offers=1)
    await tenant.put_queue("wait", max_wait_s=7)
    await tenant.put_agent("ana", queues=["wrap"])
    await tenant.put_agent("bob", queues=["ring"])
    await tenant.state("ana", "available")
    talk = await tenant.arrive("wrap")
    await tenant.accept(talk["id"])
    await tenant.state("bob", "available")
    t = await tenant.clock_ms()
    await tenant.complete(talk["id"])  # wrap-up ends at +5 s
    await tenant.arrive("ring")  # offer to bob expires at +9 s
    await tenant.arrive("wait")  # times out at +7 s

    advanced = await tenant.advance(20)
    assert advanced["fired"] == 3
    seen = [(e["type"], ms(e["occurred_at"])) for e in await tenant.events()
            if ms(e["occurred_at"]) > t
            and e["type"] in ("agent.state_changed", "call.timed_out", "call.requeued")]
    assert seen == [("agent.state_changed", t + 5_000), ("call.timed_out", t + 7_000),
                    ("call.requeued", t + 9_000), ("agent.state_changed", t + 9_000)]


async def test_accept_a_millisecond_before_deadline_disarms_it(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=10)
    await tenant.put_agent("ana")
    await tenant.state("ana", "available")
    call = await tenant.arrive("q")
    await advance_ms(tenant, 9_999)
    assert (await tenant.accept(call["id"]))["state"] == "connected"
    advanced = await tenant.advance(60)
    assert advanced["fired"] == 0
    assert (await tenant.call(call["id"]))["state"] == "connected"
    assert (await tenant.agent("ana"))["state"] == "busy"
    assert await tenant.events({"call.requeued"}) == []


async def test_advance_to_accepts_any_utc_offset(tenant: TenantApi) -> None:
    t = await tenant.clock_ms()
    target = datetime.fromtimestamp((t + 90_000) / 1000, tz=UTC).astimezone(
        timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")
    assert target.endswith("+02:00")
    advanced = expect(await tenant.request("POST", "/v1/clock/advance", {"to": target}), 200)
    assert ms(advanced["now"]) == t + 90_000
    r = await tenant.request("POST", "/v1/clock/advance", {"to": target[:-6]})
    assert r.status_code == 422  # a time without a zone is refused
