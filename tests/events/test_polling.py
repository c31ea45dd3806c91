"""Polling `GET /v1/events` with filters: the types and queue selected, and paging that never
skips or repeats however sparse the matches (DESIGN §3.5)."""

from __future__ import annotations

from typing import Any

import pytest

from app.events.filters import matches
from tests.events.scenario import about, busy_day
from tests.support import Json, TenantApi, expect


async def poll(t: TenantApi, **params: Any) -> Json:
    return expect(await t.request("GET", "/v1/events", params=params), 200)


async def read_all(t: TenantApi, **params: Any) -> list[Json]:
    """Every page until `next_after` stops moving."""
    out: list[Json] = []
    after = None
    while True:
        page = await poll(t, **params, **({"after": after} if after else {}))
        out.extend(page["events"])
        if page["next_after"] == after:
            return out
        after = page["next_after"]


@pytest.mark.parametrize("types", ["call.*", "agent.state_changed,call.queued", "*",
                                   "queue.updated, call.transferred"])
async def test_types_select_matching_events_only(tenant: TenantApi, types: str) -> None:
    await busy_day(tenant)
    everything = await tenant.events()
    patterns = [p.strip() for p in types.split(",")]

    page = await poll(tenant, types=types, limit=1000)

    assert page["events"] == [e for e in everything if matches(patterns, e["type"])]
    assert page["events"]
    assert page["next_after"] == everything[-1]["id"]


async def test_queue_selects_the_events_about_it(tenant: TenantApi) -> None:
    await busy_day(tenant)
    everything = await tenant.events()

    for queue in ("sales", "support"):
        page = await poll(tenant, queue=queue, limit=1000)
        assert page["events"] == [e for e in everything if about(e, queue)]
        assert not [e for e in page["events"] if e["type"].startswith("agent.")]
    sales = {e["type"] for e in (await poll(tenant, queue="sales", limit=1000))["events"]}
    assert {"queue.updated", "call.queued", "call.transferred"} <= sales


async def test_types_and_queue_together(tenant: TenantApi) -> None:
    await busy_day(tenant)
    everything = await tenant.events()

    page = await poll(tenant, types="call.queued", queue="support", limit=1000)

    assert page["events"] == [e for e in everything
                              if e["type"] == "call.queued" and about(e, "support")]
    assert len(page["events"]) == 1


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_paging_with_a_filter_never_skips_or_repeats(tenant: TenantApi,
                                                           limit: int) -> None:
    await busy_day(tenant)
    everything = await tenant.events()

    paged = await read_all(tenant, types="call.*", queue="sales", limit=limit)

    assert [e["id"] for e in paged] == [e["id"] for e in everything
                                        if e["type"].startswith("call.") and about(e, "sales")]


async def test_a_sparse_filter_stops_at_the_scan_cap_and_resumes_there(
        tenant: TenantApi) -> None:
    await tenant.put_agent("ana")
    for _ in range(8):
        await tenant.state("ana", "available")
        await tenant.state("ana", "away")
    await tenant.put_queue("sales")
    await tenant.arrive("sales")
    everything = await tenant.events()
    first_call = next(i for i, e in enumerate(everything) if e["type"] == "call.queued")
    assert first_call > 10

    page = await poll(tenant, types="call.queued", limit=1)

    # At most 10 events are read for one asked: none matched, the position moved past them.
    assert page == {"events": [], "next_after": everything[9]["id"]}
    assert await read_all(tenant, types="call.queued", limit=1) == [everything[first_call]]


async def test_next_after_is_the_last_event_read_even_when_it_does_not_match(
        tenant: TenantApi) -> None:
    await busy_day(tenant)
    await tenant.put_agent("cy")  # an agent event last: no queue
    everything = await tenant.events()

    page = await poll(tenant, queue="sales", limit=1000)

    assert page["next_after"] == everything[-1]["id"]
    assert page["events"][-1]["id"] != everything[-1]["id"]
    assert await poll(tenant, queue="sales", after=page["next_after"]) == {
        "events": [], "next_after": page["next_after"]}


async def test_unknown_type_patterns_are_named(tenant: TenantApi) -> None:
    response = await tenant.request("GET", "/v1/events",
                                    params={"types": "call.*,call.nope,fax.*"})

    assert expect(response, 422)["errors"] == [
        {"field": "types", "message": "no event type matches 'call.nope', 'fax.*'"}]
