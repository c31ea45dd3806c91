"""Requirements that relax over time (DESIGN §3.2 `relax`): a call nobody can take waits until
exactly a step's `after_s`, then goes to the newly eligible agent."""

from __future__ import annotations

from tests.support import TenantApi, expect

SPANISH = [{"skill": "spanish", "min_level": 8}]


async def test_a_lower_level_step_routes_the_call_at_that_instant(tenant: TenantApi) -> None:
    await tenant.put_queue("es", requirements=SPANISH,
                           relax=[{"after_s": 30, "min_level_delta": -3},
                                  {"after_s": 90, "drop": ["spanish"]}])
    await tenant.put_agent("ana", skills={"spanish": 5})  # meets step 1 (8 - 3)
    await tenant.put_agent("bo", skills={})  # meets step 2 only
    await tenant.state("ana", "available")
    await tenant.state("bo", "available")
    call = await tenant.arrive("es")
    assert call["state"] == "queued"
    assert call["waiting_reason"] == "no-eligible-agent"

    await tenant.advance(29.999)
    assert (await tenant.call(call["id"]))["state"] == "queued"
    await tenant.advance(0.001)
    offered = await tenant.call(call["id"])
    assert offered["state"] == "offered" and offered["offer"]["agent_id"] == "ana"
    relaxed = await tenant.events({"call.relaxed"})
    assert [e["data"]["step"] for e in relaxed] == [1]


async def test_a_drop_step_and_call_level_requirements(tenant: TenantApi) -> None:
    await tenant.put_queue("es", requirements=SPANISH,
                           relax=[{"after_s": 30, "min_level_delta": -3},
                                  {"after_s": 90, "drop": ["spanish"]}])
    await tenant.put_agent("bo", skills={"billing": 2})
    await tenant.state("bo", "available")
    call = await tenant.arrive("es", requirements=[{"skill": "billing", "min_level": 4}])
    await tenant.advance(89.999)  # step 1 lowers billing to 1: but spanish 5 still needed
    assert (await tenant.call(call["id"]))["state"] == "queued"
    await tenant.advance(0.001)  # step 2 drops spanish; billing 4 - 3 = 1 ≤ 2
    assert (await tenant.call(call["id"]))["offer"]["agent_id"] == "bo"


async def test_a_rejected_call_keeps_its_step_and_a_new_queue_starts_over(
        tenant: TenantApi) -> None:
    await tenant.put_queue("es", requirements=SPANISH, offer_timeout_s=60,
                           relax=[{"after_s": 30, "min_level_delta": -3}])
    await tenant.put_queue("es2", requirements=SPANISH,
                           relax=[{"after_s": 50, "min_level_delta": -3}])
    await tenant.put_agent("ana", skills={"spanish": 5})
    await tenant.state("ana", "available")
    call = await tenant.arrive("es")
    await tenant.advance(30)
    await tenant.reject(call["id"])  # back to its place, still at step 1: offered again
    assert (await tenant.call(call["id"]))["offer"]["agent_id"] == "ana"
    await tenant.state("ana", "away")  # rescinded
    moved = await tenant.transfer(call["id"], queue="es2")
    assert moved["state"] == "queued"
    await tenant.state("ana", "available")
    await tenant.advance(49.999)
    assert (await tenant.call(call["id"]))["state"] == "queued"
    await tenant.advance(0.001)
    assert (await tenant.call(call["id"]))["offer"]["agent_id"] == "ana"


async def test_bad_relax_steps_are_refused(tenant: TenantApi) -> None:
    for relax, named in [([{"after_s": 30}], "relax"),
                         ([{"after_s": 30, "min_level_delta": -1},
                           {"after_s": 20, "min_level_delta": -1}], "relax"),
                         ([{"after_s": 0, "min_level_delta": -1}], "after_s"),
                         ([{"after_s": 5, "min_level_delta": 2}], "min_level_delta")]:
        r = await tenant.request("PUT", "/v1/queues/q", {"relax": relax})
        expect(r, 422)
        assert named in r.text
