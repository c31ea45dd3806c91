"""Strategies selected per queue and routing over HTTP: a third-party plug-in installed from
tests/plugin_example, today's counters reaching the load-balancing strategies, and the
round-robin cursor kept in Redis."""

from __future__ import annotations

from tests.support import TenantApi, expect


async def offered_to(tenant: TenantApi, queue: str) -> str:
    call = await tenant.arrive(queue)
    assert call["state"] == "offered", call
    return str(call["offer"]["agent_id"])


async def test_a_plug_in_strategy_routes_calls(tenant: TenantApi) -> None:
    refused = await tenant.request("PUT", "/v1/queues/q", {"strategy": "nope"})
    assert expect(refused, 422)["type"] == "/problems/validation-error"
    assert "alphabetical" in refused.json()["detail"]

    queue = await tenant.put_queue("q", strategy="alphabetical")
    assert queue["strategy"] == "alphabetical"
    for agent in ("zed", "bob", "amy"):  # zed idles longest
        await tenant.put_agent(agent)
        await tenant.state(agent, "available")
        await tenant.advance(1)
    assert await offered_to(tenant, "q") == "amy"
    assert await offered_to(tenant, "q") == "bob"


async def test_fewest_calls_sees_todays_counters(tenant: TenantApi) -> None:
    await tenant.put_queue("fewest", strategy="fewest-calls")
    await tenant.put_queue("idle", strategy="longest-idle")
    await tenant.put_agent("ana")
    await tenant.put_agent("bo")
    await tenant.handle_one_call("idle", "ana")  # ana: 1 call today, available again
    await tenant.advance(10)
    await tenant.state("bo", "available")  # bo: idle less long, no call yet
    await tenant.advance(10)
    assert await offered_to(tenant, "fewest") == "bo"
    assert await offered_to(tenant, "idle") == "ana"


async def test_round_robin_follows_agent_ids_after_the_last_offered(tenant: TenantApi) -> None:
    await tenant.put_queue("rr", strategy="round-robin")
    for agent in ("c", "b", "a"):
        await tenant.put_agent(agent)
        await tenant.state(agent, "available")
        await tenant.advance(1)
    picks = []
    for _ in range(4):
        call = await tenant.arrive("rr")
        picks.append(call["offer"]["agent_id"])
        await tenant.accept(call["id"])
        await tenant.complete(call["id"])  # wrap_up_s 0: available again at once
    assert picks == ["a", "b", "c", "a"]
