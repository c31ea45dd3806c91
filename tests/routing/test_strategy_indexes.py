"""Each strategy's pick comes from an index kept in that strategy's order (docs/strategies.md),
not from the first page of the longest idle: with more available agents than one candidate
page (SWITCHBOARD_CANDIDATE_LIMIT, 8), the agent each strategy must pick idles the shortest, so
it is on no longest-idle page but must still be found. Counter-ordered indexes start afresh
with each tenant-day."""

from __future__ import annotations

from typing import Any

from tests.support import TenantApi

AGENTS = [f"a{i:02d}" for i in range(20)]
CHOSEN = "a15"


async def offered_to(t: TenantApi, queue: str) -> str:
    call = await t.arrive(queue)
    assert call["state"] == "offered", call
    return str(call["offer"]["agent_id"])


async def work(t: TenantApi, agent: str, talk_s: float = 1, wait_s: float = 0) -> None:
    """`agent` becomes available, waits `wait_s`, takes one call (held for it), talks
    `talk_s` and is available again."""
    await t.state(agent, "available")
    await t.advance(wait_s)
    call = await t.arrive("work", preferred_agent={"agent_id": agent, "timeout_s": 600})
    assert call["offer"]["agent_id"] == agent, call
    await t.accept(call["id"])
    await t.advance(talk_s)
    await t.complete(call["id"])
    await t.advance(1)


async def crowd(t: TenantApi, queue: str, **agent: Any) -> None:
    """The queue under test, a work queue, and every agent but CHOSEN busy once, in id order
    (so a00 idles longest); CHOSEN last, so it idles the shortest."""
    await t.put_queue("work")
    for agent_id in AGENTS:
        await t.put_agent(agent_id, **agent)
    for agent_id in AGENTS:
        if agent_id != CHOSEN:
            await work(t, agent_id, talk_s=10)


async def test_fewest_calls_finds_the_agent_beyond_the_first_page(tenant: TenantApi) -> None:
    await tenant.put_queue("q", strategy="fewest-calls")
    await crowd(tenant, "q")
    await tenant.state(CHOSEN, "available")  # no call today
    assert await offered_to(tenant, "q") == CHOSEN


async def test_least_talk_time_finds_the_agent_beyond_the_first_page(tenant: TenantApi) -> None:
    await tenant.put_queue("q", strategy="least-talk-time")
    await crowd(tenant, "q")
    await work(tenant, CHOSEN, talk_s=2)
    assert await offered_to(tenant, "q") == CHOSEN


async def test_least_occupied_finds_the_agent_beyond_the_first_page(tenant: TenantApi) -> None:
    await tenant.put_queue("q", strategy="least-occupied")
    await crowd(tenant, "q")
    await work(tenant, CHOSEN, talk_s=10, wait_s=100)  # the same talk, far more idle time
    assert await offered_to(tenant, "q") == CHOSEN


async def test_skills_finds_the_most_proficient_beyond_the_first_page(tenant: TenantApi) -> None:
    await tenant.put_queue("q", strategy="skills",
                           requirements=[{"skill": "billing", "min_level": 2}])
    await tenant.put_queue("work")
    for agent_id in AGENTS:
        await tenant.put_agent(agent_id, skills={"billing": 9 if agent_id == CHOSEN else 3})
        await tenant.state(agent_id, "available")
        await tenant.advance(1)
    assert await offered_to(tenant, "q") == CHOSEN


async def test_round_robin_reads_on_from_the_cursor(tenant: TenantApi) -> None:
    await tenant.put_queue("rr", strategy="round-robin")
    for agent_id in reversed(AGENTS):  # a19 idles longest: ids and idle order disagree
        await tenant.put_agent(agent_id)
        await tenant.state(agent_id, "available")
        await tenant.advance(1)
    picks = [await offered_to(tenant, "rr") for _ in range(3)]
    assert picks == ["a00", "a01", "a02"]
    for agent_id in AGENTS[3:17]:
        await tenant.state(agent_id, "away")
    # Left available: a17, a18, a19; the cursor is at a02.
    assert [await offered_to(tenant, "rr") for _ in range(3)] == ["a17", "a18", "a19"]


async def test_counters_start_afresh_each_day(tenant: TenantApi) -> None:
    await tenant.put_queue("q", strategy="fewest-calls")
    await tenant.put_queue("work")
    workers, idlers = AGENTS[:10], AGENTS[10:]  # more idlers than one candidate page
    for agent_id in AGENTS:
        await tenant.put_agent(agent_id)
    for agent_id in workers:
        await work(tenant, agent_id)
    for agent_id in idlers:
        await tenant.state(agent_id, "available")
        await tenant.advance(1)
    now = await tenant.clock_ms()
    await tenant.advance((86_400_000 - now % 86_400_000) / 1000 - 1)
    first = await tenant.arrive("q")
    assert first["offer"]["agent_id"] == "a10"  # the longest idle without a call today
    await tenant.abandon(first["id"])
    await tenant.advance(1)  # a new day: nobody has a call today, so the longest idle
    assert (await tenant.agent("a00"))["today"]["calls_handled"] == 0
    assert await offered_to(tenant, "q") == "a00"
