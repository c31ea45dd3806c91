"""Queue and agent statistics on an exact scenario: every figure of DESIGN §3.6 asserted.

One agent (ana) serves queue q (20 s threshold, 10 s wrap-up, auto-accept); times are
seconds after a 15-minute boundary T0:

    c1  arrives 0 (customer A), answered 0, completed 30 resolved csat 5
    c2  arrives 5 (customer B), answered 40 (35 s), transferred to tech at 60; abandons
        there at 80 (20 s in tech)
    c3  arrives 8, abandons 9 (short, within the threshold)
    c4  arrives 12, abandons 50 (38 s)
    c5  arrives 45 (customer A again), answered 70 (25 s), completed 90 resolved csat 3
    c6  arrives 100, answered 100, completed 130 not resolved
    ana away 150 .. 1010
    c7  arrives 1000, answered 1010 (10 s), completed 1040; ana offline at 1100
"""

from __future__ import annotations

from typing import Any

from tests.stats.helpers import iso, report, to_boundary, until, write_history
from tests.support import Api, TenantApi


async def scenario(service: Api, t: TenantApi) -> int:
    await t.put_queue("q", auto_accept=True, wrap_up_s=10,
                      service_level={"threshold_s": 20, "target": 0.8})
    await t.put_queue("tech")
    await t.put_agent("ana", queues=["q"])
    t0 = await to_boundary(t)
    await t.state("ana", "available")
    c1 = (await t.arrive("q", caller={"customer_id": "A"}))["id"]
    await until(t, t0, 5)
    c2 = (await t.arrive("q", caller={"customer_id": "B"}))["id"]
    await until(t, t0, 8)
    c3 = (await t.arrive("q"))["id"]
    await until(t, t0, 9)
    await t.abandon(c3)
    await until(t, t0, 12)
    c4 = (await t.arrive("q", caller={"customer_id": "C"}))["id"]
    await until(t, t0, 30)
    await t.complete(c1, resolved=True, csat=5)
    await until(t, t0, 45)  # wrap-up ends at 40: c2 answered
    assert (await t.call(c2))["state"] == "connected"
    c5 = (await t.arrive("q", caller={"customer_id": "A"}))["id"]
    await until(t, t0, 50)
    await t.abandon(c4)
    await until(t, t0, 60)
    await t.transfer(c2, queue="tech")
    await until(t, t0, 80)  # c5 answered at 70
    await t.abandon(c2)
    await until(t, t0, 90)
    await t.complete(c5, resolved=True, csat=3)
    await until(t, t0, 100)
    c6 = (await t.arrive("q"))["id"]
    await until(t, t0, 130)
    await t.complete(c6, resolved=False)
    await until(t, t0, 150)
    await t.state("ana", "away", reason="training")
    await until(t, t0, 1000)
    c7 = (await t.arrive("q"))["id"]
    await until(t, t0, 1010)
    await t.state("ana", "available")
    await until(t, t0, 1040)
    await t.complete(c7)
    await until(t, t0, 1100)
    await t.state("ana", "offline")
    await write_history(service, t)
    return t0


def by_queue(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["queue"]: q for q in body["queues"]}


def figures(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("start", "end")}


FIRST = {
    "offered": 6, "answered": 4, "abandoned": 2, "abandoned_short": 1, "timed_out": 0,
    "overflowed": 0, "transferred": 1, "completed": 3, "missed_offers": 0,
    "service_level": 0.4, "service_level_offered": 0.333333, "asa_s": 15.0, "aht_s": 35.0,
    "avg_talk_s": 25.0, "avg_wrap_up_s": 10.0, "longest_wait_s": 38.0,
    "abandon_rate": 0.333333, "transfer_rate": 0.25, "fcr_rate": 0.333333, "csat": 4.0,
}
SECOND = {
    "offered": 1, "answered": 1, "abandoned": 0, "abandoned_short": 0, "timed_out": 0,
    "overflowed": 0, "transferred": 0, "completed": 1, "missed_offers": 0,
    "service_level": 1.0, "service_level_offered": 1.0, "asa_s": 10.0, "aht_s": 40.0,
    "avg_talk_s": 30.0, "avg_wrap_up_s": 10.0, "longest_wait_s": 10.0, "abandon_rate": 0.0,
    "transfer_rate": 0.0, "fcr_rate": 0.0, "csat": None,
}
TECH = {
    "offered": 1, "answered": 0, "abandoned": 1, "abandoned_short": 0, "timed_out": 0,
    "overflowed": 0, "transferred": 0, "completed": 0, "missed_offers": 0,
    "service_level": None, "service_level_offered": 0.0, "asa_s": None, "aht_s": None,
    "avg_talk_s": None, "avg_wrap_up_s": None, "longest_wait_s": 20.0, "abandon_rate": 1.0,
    "transfer_rate": None, "fcr_rate": None, "csat": None,
}
EMPTY = {**{k: 0 for k in FIRST}, **{k: None for k, v in FIRST.items() if isinstance(v, float)}}


async def test_every_queue_figure_per_interval_of_arrival(service: Api,
                                                           tenant: TenantApi) -> None:
    t0 = await scenario(service, tenant)
    body = await report(tenant, "queues", t0, t0 + 1_800_000, interval_s=900)
    queues = by_queue(body)
    assert sorted(queues) == ["q", "tech"]
    q = queues["q"]
    assert [figures(i) for i in q["intervals"]] == [FIRST, SECOND]
    assert [i["start"] for i in q["intervals"]] == [iso(t0).replace("Z", ".000Z"),
                                                   iso(t0 + 900_000).replace("Z", ".000Z")]
    assert figures(queues["tech"]["intervals"][0]) == TECH
    assert figures(queues["tech"]["intervals"][1]) == EMPTY
    total = figures(q["total"])
    assert (total["offered"], total["answered"], total["service_level"], total["asa_s"],
            total["aht_s"], total["longest_wait_s"]) == (7, 5, round(3 / 6, 6), 14.0, 36.0,
                                                          38.0)

    # One interval over both; a queue asked for alone; short abandons at another limit.
    one = await report(tenant, "queues", t0, t0 + 1_800_000, interval_s=1800, queue="q",
                       short_abandon_s=0.5)
    assert [x["queue"] for x in one["queues"]] == ["q"]
    assert figures(one["queues"][0]["intervals"][0])["offered"] == 7
    assert figures(one["queues"][0]["intervals"][0])["abandoned_short"] == 0


async def test_agent_figures_split_at_interval_boundaries(service: Api,
                                                          tenant: TenantApi) -> None:
    t0 = await scenario(service, tenant)
    body = await report(tenant, "agents", t0, t0 + 1_800_000, interval_s=900)
    ana = {a["agent_id"]: a for a in body["agents"]}["ana"]
    first, second = (figures(i) for i in ana["intervals"])
    assert first == {
        "offers": 4, "accepted": 4, "rejected": 0, "missed_offers": 0, "rescinded": 0,
        "answered": 4, "handled": 4, "transferred": 1, "completed": 3, "aht_s": 35.0,
        "avg_talk_s": 25.0, "avg_wrap_up_s": 10.0, "csat": 4.0, "available_s": 10.0,
        "reserved_s": 0.0, "busy_s": 100.0, "wrap_up_s": 40.0, "away_s": 750.0,
        "occupancy": round(140 / 150, 6)}
    assert second == {
        "offers": 1, "accepted": 1, "rejected": 0, "missed_offers": 0, "rescinded": 0,
        "answered": 1, "handled": 1, "transferred": 0, "completed": 1, "aht_s": 40.0,
        "avg_talk_s": 30.0, "avg_wrap_up_s": 10.0, "csat": None, "available_s": 50.0,
        "reserved_s": 0.0, "busy_s": 30.0, "wrap_up_s": 10.0, "away_s": 110.0,
        "occupancy": round(40 / 90, 6)}
    assert figures(ana["total"])["away_s"] == 860.0
