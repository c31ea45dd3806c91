"""An agent's counters for today (the `today` of the agent view, and what the load-balancing
strategies read) roll over at the tenant's local midnight, not at UTC's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.tenants.zone import offsets, projected
from tests.support import TenantApi, expect

MADRID = ZoneInfo("Europe/Madrid")


async def advance_to(tenant: TenantApi, at: datetime) -> None:
    expect(await tenant.request("POST", "/v1/clock/advance", {"to": at.isoformat()}), 200)


async def test_todays_counters_start_again_at_the_tenants_midnight(tenant: TenantApi) -> None:
    expect(await tenant.request("PATCH", "/v1/tenant", {"time_zone": "Europe/Madrid"}), 200)
    await tenant.put_queue("q", wrap_up_s=0)
    await tenant.put_agent("ana")
    now = datetime.fromtimestamp(await tenant.clock_ms() / 1000, MADRID)
    midnight = datetime.combine(now.date() + timedelta(days=2), datetime.min.time(), MADRID)

    await advance_to(tenant, midnight - timedelta(minutes=30))  # 23:30 in Madrid
    await tenant.handle_one_call("q", "ana")
    assert (await tenant.agent("ana"))["today"]["calls_handled"] == 1

    await advance_to(tenant, midnight + timedelta(minutes=30))  # 00:30 the next day
    assert (await tenant.agent("ana"))["today"]["calls_handled"] == 0
    await tenant.handle_one_call("q", "ana")
    # Both calls fell on one UTC day (Madrid is ahead of UTC): counted by UTC, this is 2.
    assert (midnight - timedelta(minutes=30)).astimezone(ZoneInfo("UTC")).date() == (
        midnight + timedelta(minutes=30)).astimezone(ZoneInfo("UTC")).date()
    assert (await tenant.agent("ana"))["today"]["calls_handled"] == 1


async def test_a_new_time_zone_moves_the_midnight(tenant: TenantApi) -> None:
    await tenant.put_queue("q", wrap_up_s=0)
    await tenant.put_agent("ana")
    tokyo = ZoneInfo("Asia/Tokyo")  # 9 hours ahead of UTC, no summer time
    now = datetime.fromtimestamp(await tenant.clock_ms() / 1000, ZoneInfo("UTC"))
    utc_midnight = datetime.combine(now.date() + timedelta(days=2), datetime.min.time(),
                                    ZoneInfo("UTC"))
    await advance_to(tenant, utc_midnight - timedelta(hours=2))  # 22:00 UTC
    await tenant.handle_one_call("q", "ana")
    assert (await tenant.agent("ana"))["today"]["calls_handled"] == 1  # the UTC day's

    # In Tokyo it is already 07:00 the next day: a day with nothing counted yet. What was
    # counted stays with the day it was counted on.
    expect(await tenant.request("PATCH", "/v1/tenant", {"time_zone": "Asia/Tokyo"}), 200)
    assert (await tenant.agent("ana"))["today"]["calls_handled"] == 0
    await tenant.handle_one_call("q", "ana")
    await advance_to(tenant, utc_midnight + timedelta(hours=1))  # a new UTC day; 10:00 Tokyo
    assert datetime.fromtimestamp(await tenant.clock_ms() / 1000, tokyo).hour == 10
    await tenant.handle_one_call("q", "ana")
    assert (await tenant.agent("ana"))["today"]["calls_handled"] == 2  # by UTC: 1


def test_a_zones_offsets_are_its_changes() -> None:
    madrid = dict(offsets("Europe/Madrid"))
    spring = round(datetime(2026, 3, 29, 1, tzinfo=UTC).timestamp() * 1000)  # 02:00 → 03:00
    autumn = round(datetime(2026, 10, 25, 1, tzinfo=UTC).timestamp() * 1000)  # 03:00 → 02:00
    assert (madrid[spring], madrid[autumn]) == (7_200_000, 3_600_000)
    assert projected("UTC") == [] and projected("Asia/Tokyo") == [[0, 32_400_000]]
