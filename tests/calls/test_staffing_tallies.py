"""The staffing tallies behind a waiting call's estimate (DESIGN §3.6, §6) are kept as agents
change, so an estimate does not read every logged-in agent. After every step of a random
walk through the API (configuration changes, state changes, offers rung out, wrap-ups,
transfers, deletions), what they say equals what reading every logged-in agent says: in the
estimate of every waiting call and in the supervisor's view (counts by state included)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.support import Api, Json, TenantApi

QUEUES = ("q1", "q2", "q3")
AGENTS = ("ana", "bo", "cy", "di", "ed")


def queue_config(rng: random.Random) -> Json:
    config: Json = {"offer_timeout_s": rng.choice([5, 10]), "wrap_up_s": rng.choice([0, 5, 20])}
    if rng.random() < 0.5:
        config["requirements"] = [{"skill": "a", "min_level": rng.randint(1, 5)}]
        if rng.random() < 0.5:
            config["relax"] = [{"after_s": 10, "min_level_delta": -2}]
    return config


def agent_config(rng: random.Random) -> Json:
    return {"skills": {"a": rng.randint(1, 5)},
            "queues": rng.sample(QUEUES, rng.randint(0, 2)),  # none: every queue
            "capacity": rng.choice([{"voice": 1}, {"chat": 2}, {"voice": 1, "chat": 2}])}


async def step(t: TenantApi, rng: random.Random, calls: list[str]) -> None:
    """One random request; refusals (an illegal transition, a busy agent) are part of it."""
    kind = rng.choices(
        ["queue", "agent", "state", "arrive", "answer", "end", "advance", "delete"],
        weights=[1, 2, 6, 6, 6, 4, 4, 1])[0]
    agent = rng.choice(AGENTS)
    if kind == "queue":
        await t.request("PUT", f"/v1/queues/{rng.choice(QUEUES)}", queue_config(rng))
    elif kind == "agent":
        await t.request("PUT", f"/v1/agents/{agent}", agent_config(rng))
    elif kind == "state":
        body: Json = {"state": rng.choice(["available", "available", "away", "offline"])}
        if rng.random() < 0.3:
            body["after_call"] = True
        await t.request("POST", f"/v1/agents/{agent}/state", body)
    elif kind == "arrive":
        body = {"queue": rng.choice(QUEUES), "channel": rng.choice(["voice", "voice", "chat"])}
        if rng.random() < 0.2:
            body["requirements"] = [{"skill": "a", "min_level": 2}]
        response = await t.request("POST", "/v1/calls", body)
        if response.status_code == 201:
            calls.append(response.json()["id"])
    elif kind in ("answer", "end") and calls:
        call_id = rng.choice(calls)
        call = (await t.request("GET", f"/v1/calls/{call_id}")).json()
        if kind == "answer" and call.get("state") == "offered":
            verb = rng.choice(["accept", "accept", "reject"])
            await t.request("POST", f"/v1/calls/{call_id}/{verb}",
                            {"offer_id": call["offer"]["id"]})
        elif kind == "end" and call.get("state") == "connected":
            if rng.random() < 0.2:
                await t.request("POST", f"/v1/calls/{call_id}/transfer",
                                {"queue": rng.choice(QUEUES)})
            else:
                await t.request("POST", f"/v1/calls/{call_id}/complete", {})
        elif kind == "end" and call.get("state") == "queued":
            await t.request("POST", f"/v1/calls/{call_id}/abandon")
    elif kind == "advance":
        await t.advance(rng.choice([1, 3, 6, 12]))
    elif kind == "delete":
        await t.request("DELETE", f"/v1/agents/{agent}")


async def explained(service: Api, tenant: str, calls: list[str],
                    exact: bool) -> dict[str, Any]:
    reply = await service.runtime.store.run(
        "explain", tenant, {"call_ids": calls, "exact": exact}, queues=list(QUEUES))
    return {i.call.id: i.waiting for i in reply.items if i.waiting is not None}


async def supervised(service: Api, tenant: str, exact: bool) -> dict[str, Any]:
    """The supervisor's view (`realtime`) of every queue: states, counts and estimates."""
    reply = await service.runtime.store.run(
        "realtime", tenant, {"report": list(QUEUES), "exact": exact}, queues=list(QUEUES))
    return reply.details


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_tallies_say_what_reading_every_agent_says(service: Api, seed: int) -> None:
    rng = random.Random(seed)
    t = await service.tenant("manual")
    for q in QUEUES:
        await t.put_queue(q, **queue_config(rng))
    for a in AGENTS:
        await t.put_agent(a, **agent_config(rng))
    calls: list[str] = []
    compared = 0
    for n in range(160):
        await step(t, rng, calls)
        tallied = await explained(service, t.id, calls, exact=False)
        read = await explained(service, t.id, calls, exact=True)
        assert tallied == read, f"step {n}"
        compared += len(read)
        view = await supervised(service, t.id, exact=False)
        assert view == await supervised(service, t.id, exact=True), f"step {n}"
    assert compared > 300  # the walk kept calls waiting to compare on


async def test_deleting_a_queue_forgets_its_tallies(service: Api) -> None:
    t = await service.tenant("manual")
    await t.put_queue("gone")
    await t.put_agent("ana", queues=["gone"])
    await t.state("ana", "away")
    waiting = await t.arrive("gone")
    assert waiting["waiting"]["agents_logged_in"] == 1  # the tallies are built
    await t.abandon(waiting["id"])
    await t.request("PUT", "/v1/agents/ana", {"queues": []})
    assert (await t.request("DELETE", "/v1/queues/gone")).status_code == 204
    staff = await service.runtime.redis.hgetall(f"sb:{{t:{t.id}}}:staff")
    assert not [f for f in staff if "gone" in str(f)], staff
    await t.put_queue("gone")  # again: built afresh, ana (a member of every queue) counted
    again = await t.arrive("gone")
    assert again["waiting"]["agents_logged_in"] == 1
