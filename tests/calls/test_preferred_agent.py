"""Preferred agent (DESIGN §3.4): a named agent, or the agent who last completed a call for the
same customer, holds the call alone until timeout_s; then any eligible agent may take it."""

from __future__ import annotations

from tests.support import TenantApi, expect


async def setup(tenant: TenantApi) -> None:
    await tenant.put_queue("q", offer_timeout_s=60)
    for agent in ("ana", "bo"):
        await tenant.put_agent(agent)


async def test_named_agent_holds_the_call_until_its_timeout(tenant: TenantApi) -> None:
    await setup(tenant)
    await tenant.state("bo", "available")
    await tenant.state("ana", "away")
    call = await tenant.arrive("q", preferred_agent={"agent_id": "ana", "timeout_s": 30})
    assert call["state"] == "queued"
    assert call["waiting_reason"] == "preferred-agent-hold"
    assert call["preferred_agent_id"] == "ana"
    assert call["transfer_agent_id"] is None

    await tenant.advance(29.999)
    assert (await tenant.call(call["id"]))["state"] == "queued"  # bo is free, yet waits
    await tenant.advance(0.001)
    now = await tenant.call(call["id"])
    assert now["state"] == "offered" and now["offer"]["agent_id"] == "bo"
    assert now["preferred_agent_id"] is None
    assert len(await tenant.events({"call.preference_expired"})) == 1


async def test_the_preferred_agent_gets_it_when_free(tenant: TenantApi) -> None:
    await setup(tenant)
    await tenant.state("bo", "available")  # bo idles longer
    await tenant.advance(5)
    await tenant.state("ana", "available")
    call = await tenant.arrive("q", preferred_agent={"agent_id": "ana", "timeout_s": 30})
    assert call["state"] == "offered" and call["offer"]["agent_id"] == "ana"
    await tenant.advance(60)
    assert not await tenant.events({"call.preference_expired"}), "no timer after the offer"


async def test_an_agent_freed_during_the_hold_takes_the_call(tenant: TenantApi) -> None:
    await setup(tenant)
    call = await tenant.arrive("q", preferred_agent={"agent_id": "ana", "timeout_s": 30})
    await tenant.advance(10)
    await tenant.state("ana", "available")
    assert (await tenant.call(call["id"]))["offer"]["agent_id"] == "ana"


async def test_last_agent_of_the_customer(tenant: TenantApi) -> None:
    await setup(tenant)
    await tenant.state("bo", "available")
    first = await tenant.arrive("q", caller={"customer_id": "c-42"})
    assert first["offer"]["agent_id"] == "bo"
    await tenant.accept(first["id"])
    await tenant.complete(first["id"])  # bo is the last agent of c-42
    await tenant.state("bo", "away")
    await tenant.state("ana", "available")

    again = await tenant.arrive("q", caller={"customer_id": "c-42"},
                                preferred_agent={"last_agent": True, "timeout_s": 20})
    assert again["state"] == "queued" and again["preferred_agent_id"] == "bo"
    await tenant.state("bo", "available")
    assert (await tenant.call(again["id"]))["offer"]["agent_id"] == "bo"

    stranger = await tenant.arrive("q", caller={"customer_id": "c-new"},
                                   preferred_agent={"last_agent": True, "timeout_s": 20})
    assert stranger["preferred_agent_id"] is None  # no last agent: routed as usual
    assert stranger["offer"]["agent_id"] == "ana"


async def test_bad_preferences_are_refused(tenant: TenantApi) -> None:
    await setup(tenant)
    before = await tenant.events()
    cases: list[tuple[dict[str, object], dict[str, str], str]] = [
        ({"agent_id": "nobody", "timeout_s": 30}, {}, "preferred_agent.agent_id"),
        ({"last_agent": True, "timeout_s": 30}, {}, "customer_id"),
        ({"agent_id": "ana", "timeout_s": 0}, {}, "timeout_s"),
        ({"agent_id": "ana", "last_agent": True, "timeout_s": 5}, {}, "last_agent"),
        ({"agent_id": "ana"}, {}, "timeout_s"),
    ]
    for preference, caller, named in cases:
        r = await tenant.request("POST", "/v1/calls", {"queue": "q", "caller": caller,
                                                        "preferred_agent": preference})
        body = expect(r, 422)
        assert named in r.text, (preference, body)
    assert await tenant.events() == before
