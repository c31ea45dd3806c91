"""Estimated wait (DESIGN §3.6): position-aware, from the calls ahead, the eligible agents at
work, the queue's recent handle times and when busy agents free up; the same figure in the
arrival response, the `call.queued` event and `GET /v1/calls/{id}`."""

from __future__ import annotations

from tests.support import TenantApi


async def handle(t: TenantApi, agent_talk_s: list[float]) -> None:
    """One call per talk time, handled one after another by whoever is free."""
    for talk in agent_talk_s:
        call = await t.arrive("q")
        await t.accept(call["id"])
        await t.advance(talk)
        await t.complete(call["id"])


async def queued_event(t: TenantApi, call_id: str) -> dict:  # type: ignore[type-arg]
    events = await t.events({"call.queued"})
    return next(e["data"] for e in events if e["data"]["call"]["id"] == call_id)


async def test_regular_handle_times_count_down_the_busy_agent(tenant: TenantApi) -> None:
    t = tenant
    await t.put_queue("q")
    await t.put_agent("ana", queues=["q"])
    await t.state("ana", "available")
    first = await t.arrive("q")
    assert first["position"] is None and first["estimated_wait_s"] is None  # offered at once
    assert (await queued_event(t, first["id"]))["estimated_wait_s"] == 0
    await t.accept(first["id"])
    await t.advance(100)
    await t.complete(first["id"])  # a handle time of 100 s, no spread yet

    busy = await t.arrive("q")
    await t.accept(busy["id"])
    await t.advance(10)
    c1 = await t.arrive("q")
    assert (c1["position"], c1["estimated_wait_s"]) == (1, 90.0)
    event = await queued_event(t, c1["id"])
    assert (event["position"], event["estimated_wait_s"]) == (1, 90.0)
    await t.advance(10)
    c2 = await t.arrive("q")
    assert (c2["position"], c2["estimated_wait_s"]) == (2, 80.0 + 100.0)
    assert (await t.call(c1["id"]))["estimated_wait_s"] == 80.0

    # Past the mean the agent is due any moment: the next one in line waits a full turn.
    await t.advance(150)
    assert (await t.call(c1["id"]))["estimated_wait_s"] == 0.0
    assert (await t.call(c2["id"]))["estimated_wait_s"] == 100.0


async def test_random_handle_times_lean_on_the_pool_rate(tenant: TenantApi) -> None:
    """Handle times 50 s and 150 s: mean 100 s, squared coefficient of variation 0.25; the
    time to the first free agent is 0.25 × 100 / 1 + 0.75 × (100 − 10)."""
    t = tenant
    await t.put_queue("q")
    await t.put_agent("ana", queues=["q"])
    await t.state("ana", "available")
    await handle(t, [50, 150])
    busy = await t.arrive("q")
    await t.accept(busy["id"])
    await t.advance(10)
    c1 = await t.arrive("q")
    assert c1["estimated_wait_s"] == 0.25 * 100 + 0.75 * 90


async def test_wrap_up_ends_at_a_known_time_and_free_agents_take_calls_ahead(
        tenant: TenantApi) -> None:
    t = tenant
    await t.put_queue("q", wrap_up_s=30)
    for agent in ("ana", "bo"):
        await t.put_agent(agent, queues=["q"])
    await t.state("ana", "available")
    await handle(t, [70])  # handle time 70 + 30 = 100 s; ana in wrap-up until +30 s
    await t.advance(12)
    c1 = await t.arrive("q")
    assert (c1["waiting"]["agents_working"], c1["estimated_wait_s"]) == (1, 18.0)
    # An away agent is not at work; once available it is counted and takes the call.
    await t.state("bo", "away")
    assert (await t.call(c1["id"]))["waiting"]["agents_working"] == 1
    await t.state("bo", "available")
    assert (await t.call(c1["id"]))["state"] == "offered"


async def test_no_estimate_without_anyone_at_work(tenant: TenantApi) -> None:
    t = tenant
    await t.put_queue("q")
    await t.put_agent("ana", queues=["q"])
    await t.state("ana", "available")
    await handle(t, [60])
    await t.state("ana", "away")
    call = await t.arrive("q")
    assert (call["position"], call["estimated_wait_s"]) == (1, None)
    assert (await queued_event(t, call["id"]))["estimated_wait_s"] is None
