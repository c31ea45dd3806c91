"""The live view of queues (DESIGN §3.6) and the tenant's "today" in its own time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.stats.helpers import iso, until, write_history
from tests.support import Api, TenantApi, expect

DAY_MS = 86_400_000


async def realtime(t: TenantApi, queue: str) -> dict:  # type: ignore[type-arg]
    return expect(await t.request("GET", f"/v1/queues/{queue}/realtime"), 200)


async def test_waiting_calls_agents_and_estimated_wait(service: Api, tenant: TenantApi) -> None:
    t = tenant
    await t.put_queue("q", requirements=[{"skill": "billing", "min_level": 3}], wrap_up_s=0,
                      service_level={"threshold_s": 30, "target": 0.9})
    await t.put_agent("ana", queues=["q"], skills={"billing": 5})
    await t.put_agent("bo", queues=["q"], skills={"billing": 5})
    await t.put_agent("cy", queues=["q"], skills={"billing": 1})  # a member, not eligible
    await t.put_queue("other")
    await t.put_agent("dee", queues=["other"], skills={"billing": 9})  # not a member
    for agent in ("ana", "bo", "cy", "dee"):
        await t.state(agent, "available")
    await t.state("dee", "away", reason="lunch")
    start = await t.clock_ms()

    view = await realtime(t, "q")
    assert (view["waiting"], view["offered"], view["longest_wait_s"]) == (0, 0, None)
    assert view["agents"] == {"available": 3}
    assert (view["agents_logged_in"], view["agents_eligible"],
            view["agents_eligible_available"], view["agents_working"]) == (3, 2, 2, 2)
    assert view["estimated_wait_s"] is None  # no handle time learnt yet
    assert (view["service_level_target"], view["service_level_threshold_s"]) == (0.9, 30)

    # Two calls answered and completed: a handle time of 60 s is learnt.
    first = [(await t.arrive("q"))["id"] for _ in range(2)]
    for call_id in first:
        await t.accept(call_id)
    await until(t, start, 60)
    for call_id in first:
        await t.complete(call_id)

    # Both busy again, then three calls wait.
    busy = [(await t.arrive("q"))["id"] for _ in range(2)]
    for call_id in busy:
        await t.accept(call_id)
    waiting = []
    for _ in range(3):
        waiting.append((await t.arrive("q"))["id"])
        await t.advance(5)
    view = await realtime(t, "q")
    assert (view["waiting"], view["offered"], view["longest_wait_s"]) == (3, 0, 15.0)
    assert view["agents"] == {"busy": 2, "available": 1}
    assert view["aht_s"] == 60.0
    assert (view["agents_eligible_available"], view["agents_working"]) == (0, 2)
    # Regular handle times (no variance yet): the first agent frees in 60 - 15 = 45 s, then
    # one every 30 s; the new call is fourth in line.
    assert view["estimated_wait_s"] == 45 + 3 * 30.0

    # Today: the two completed calls, answered at once; one call abandoned.
    await t.abandon(waiting[-1])
    await write_history(service, t)
    view = await realtime(t, "q")
    assert view["waiting"] == 2
    assert {k: view["today"][k] for k in ("offered", "answered", "abandoned", "asa_s")} == {
        "offered": 3, "answered": 2, "abandoned": 1, "asa_s": 0.0}

    overview = expect(await t.request("GET", "/v1/realtime"), 200)
    assert [q["queue"] for q in overview["queues"]] == ["other", "q"]
    assert overview["waiting"] == 2
    assert overview["longest_wait_s"] == 15.0
    assert overview["agents"] == {"busy": 2, "available": 1, "away": 1}
    assert overview["time_zone"] == "UTC"

    unknown = expect(await t.request("GET", "/v1/queues/nope/realtime"), 404)
    assert unknown["type"] == "/problems/queue-not-found"


async def test_today_starts_at_the_tenants_local_midnight(service: Api,
                                                          tenant: TenantApi) -> None:
    t = tenant
    await t.put_queue("q")
    now = await t.clock_ms()
    midnight = (now // DAY_MS + 1) * DAY_MS  # the next midnight in UTC
    await until(t, now, (midnight - 60_000 - now) / 1000)
    await t.abandon((await t.arrive("q"))["id"])  # yesterday, in UTC
    await until(t, midnight, 60)
    await t.abandon((await t.arrive("q"))["id"])  # today
    await write_history(service, t)

    view = await realtime(t, "q")
    assert view["today"]["from"] == iso(midnight).replace("Z", ".000Z")
    assert view["today"]["offered"] == 1

    # In New York both calls were made on the same day, which began five hours before.
    tz = expect(await t.request("PATCH", "/v1/tenant", {"time_zone": "America/New_York"}), 200)
    assert tz["time_zone"] == "America/New_York"
    view = await realtime(t, "q")
    began = datetime.fromisoformat(view["today"]["from"])
    assert began.astimezone(UTC).hour == 5 and view["today"]["offered"] == 2
    assert expect(await t.request("GET", "/v1/tenant"), 200)["time_zone"] == "America/New_York"
