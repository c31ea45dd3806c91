"""Statistics refuse ranges and intervals they cannot report, naming what is wrong."""

from __future__ import annotations

import pytest

from tests.stats.helpers import STEP_MS, iso, to_boundary
from tests.support import ADMIN_TOKEN, Api, TenantApi, expect

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


async def refused(t: TenantApi, kind: str, params: dict[str, str], field: str,
                  words: str) -> None:
    problem = expect(await t.request("GET", f"/v1/stats/{kind}", params=params), 422)
    assert problem["type"] == "/problems/validation-error"
    fields = {e["field"] for e in problem["errors"]}
    assert field in fields, problem
    assert words in problem["detail"], problem


@pytest.mark.parametrize("kind", ["queues", "agents"])
async def test_ranges_and_intervals_that_make_no_sense(tenant: TenantApi, kind: str) -> None:
    t0 = await to_boundary(tenant)
    cases = [
        ({"from": iso(t0), "to": iso(t0)}, "to", "must be after from"),
        ({"from": iso(t0), "to": iso(t0 - STEP_MS)}, "to", "must be after from"),
        ({"from": iso(t0), "to": iso(t0 + 93 * DAY_MS)}, "to", "longer than 92 days"),
        ({"from": iso(t0), "to": iso(t0 + HOUR_MS), "interval_s": "1000"}, "interval_s",
         "15 minutes"),
        ({"from": iso(t0), "to": iso(t0 + HOUR_MS), "interval_s": "0"}, "interval_s",
         "15 minutes"),
        ({"from": iso(t0), "to": iso(t0 + 5 * STEP_MS), "interval_s": "3600"}, "interval_s",
         "does not divide the range"),
        ({"from": iso(t0 + 60_000), "to": iso(t0 + HOUR_MS)}, "from", "15-minute boundary"),
        ({"from": iso(t0), "to": iso(t0 + 40 * DAY_MS), "interval_s": "900"}, "interval_s",
         "at most 3000"),
        ({"from": iso(t0).replace("Z", ""), "to": iso(t0 + HOUR_MS)}, "from",
         "time zone offset"),
        ({"from": "yesterday", "to": iso(t0)}, "query.from", "datetime"),
    ]
    for params, field, words in cases:
        await refused(tenant, kind, params, field, words)
    day = (t0 // DAY_MS) * DAY_MS
    await refused(tenant, kind, {"from": iso(day + HOUR_MS), "to": iso(day + DAY_MS + HOUR_MS),
                                 "interval_s": "86400"}, "from", "not a midnight")


async def test_unknown_queue_or_agent_is_a_404(tenant: TenantApi) -> None:
    t0 = await to_boundary(tenant)
    span = {"from": iso(t0), "to": iso(t0 + HOUR_MS)}
    problem = expect(await tenant.request("GET", "/v1/stats/queues",
                                          params={**span, "queue": "nope"}), 404)
    assert problem["type"] == "/problems/queue-not-found"
    problem = expect(await tenant.request("GET", "/v1/stats/agents",
                                          params={**span, "agent": "nope"}), 404)
    assert problem["type"] == "/problems/agent-not-found"


async def test_day_intervals_are_local_calendar_days(tenant: TenantApi) -> None:
    """Across the change to summer time in Madrid a day has 23 hours."""
    expect(await tenant.request("PATCH", "/v1/tenant", {"time_zone": "Europe/Madrid"}), 200)
    body = expect(await tenant.request("GET", "/v1/stats/queues", params={
        "from": "2026-03-28T00:00:00+01:00", "to": "2026-03-31T00:00:00+02:00",
        "interval_s": "86400"}), 200)
    assert body["time_zone"] == "Europe/Madrid"
    assert body["from"] == "2026-03-27T23:00:00.000Z"
    await tenant.put_queue("q")
    body = expect(await tenant.request("GET", "/v1/stats/queues", params={
        "from": "2026-03-28T00:00:00+01:00", "to": "2026-03-31T00:00:00+02:00",
        "interval_s": "86400"}), 200)
    starts = [i["start"] for i in body["queues"][0]["intervals"]]
    assert starts == ["2026-03-27T23:00:00.000Z", "2026-03-28T23:00:00.000Z",
                      "2026-03-29T22:00:00.000Z"]


async def test_time_zone_must_be_a_known_iana_name(service: Api, tenant: TenantApi) -> None:
    problem = expect(await tenant.request("PATCH", "/v1/tenant", {"time_zone": "Mars/Base"}),
                     422)
    assert "unknown time zone 'Mars/Base'" in problem["detail"]
    problem = expect(await tenant.request("PATCH", "/v1/tenant", {"time_zone": "Europe"}), 422)
    assert "unknown time zone 'Europe'" in problem["detail"]
    assert expect(await tenant.request("GET", "/v1/tenant"), 200)["time_zone"] == "UTC"
    created = expect(await service.http.post(
        "/v1/tenants", json={"id": "tz-bad", "time_zone": "CET+"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}), 422)
    assert created["errors"][0]["field"] == "body.time_zone"
