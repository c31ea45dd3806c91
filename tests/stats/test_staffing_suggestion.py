"""`GET /v1/queues/{id}/staffing`: agents per interval of the day from the queue's own history,
checked against Erlang C on the same rate and handle time."""

from __future__ import annotations

from app.staffing import erlang
from tests.stats.helpers import until, write_history
from tests.support import Api, TenantApi, expect

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


async def test_agents_per_hour_from_yesterdays_calls(service: Api, tenant: TenantApi) -> None:
    t = tenant
    await t.put_queue("q", service_level={"threshold_s": 20, "target": 0.8})
    await t.put_agent("ana", queues=["q"])
    await t.state("ana", "available")
    now = await t.clock_ms()
    hour = now // HOUR_MS * HOUR_MS
    if hour + HOUR_MS - now < 10 * 60_000:  # room for ten calls of 50 s in this hour
        await until(t, now, (hour + HOUR_MS - now) / 1000)
        hour += HOUR_MS
    start = await t.clock_ms()
    for i in range(10):
        call = await t.arrive("q")
        await t.accept(call["id"])
        await until(t, start, i * 55 + 50)
        await t.complete(call["id"])
        await until(t, start, (i + 1) * 55)
    await write_history(service, t)
    midnight = (hour // DAY_MS + 1) * DAY_MS
    await until(t, start, (midnight + 60_000 - start) / 1000)  # tomorrow: those were yesterday

    body = expect(await t.request("GET", "/v1/queues/q/staffing",
                                  params={"days": "1", "interval_s": "3600",
                                          "shrinkage": "0.25"}), 200)
    assert (body["days"], body["offered"], body["aht_s"], body["model"]) == (1, 10, 50.0,
                                                                            "erlang_c")
    assert len(body["intervals"]) == 24
    slot = (hour % DAY_MS) // HOUR_MS
    busy = body["intervals"][slot]
    assert busy["start"] == f"{slot:02d}:00"
    assert (busy["offered_per_day"], busy["arrival_rate_per_hour"], busy["aht_s"]) == (
        10.0, 10.0, 50.0)
    expected = erlang.agents_needed(erlang.Load(10, 50), 20, 0.8)
    assert expected is not None
    assert busy["agents"] == expected.agents
    assert busy["scheduled_agents"] == erlang.scheduled_agents(expected.agents, 0.25)
    assert busy["service_level"] == round(expected.service_level, 6)
    quiet = body["intervals"][(slot + 1) % 24]
    assert (quiet["arrival_rate_per_hour"], quiet["agents"], quiet["aht_s"]) == (0.0, 0, 50.0)

    # Two days: the same calls spread over twice the time; with patience, Erlang A.
    two = expect(await t.request("GET", "/v1/queues/q/staffing",
                                 params={"days": "2", "interval_s": "3600",
                                         "patience_s": "60"}), 200)
    assert two["model"] == "erlang_a"
    assert two["intervals"][slot]["arrival_rate_per_hour"] == 5.0


async def test_bad_requests_name_what_is_wrong(tenant: TenantApi) -> None:
    await tenant.put_queue("q")
    for params, field in (({"days": "0"}, "query.days"), ({"days": "93"}, "query.days"),
                          ({"interval_s": "86400"}, "interval_s"),
                          ({"interval_s": "1000"}, "interval_s"),
                          ({"shrinkage": "1"}, "query.shrinkage"),
                          ({"patience_s": "0"}, "query.patience_s")):
        problem = expect(await tenant.request("GET", "/v1/queues/q/staffing", params=params),
                         422)
        assert field in {e["field"] for e in problem["errors"]}, problem
    problem = expect(await tenant.request("GET", "/v1/queues/nope/staffing"), 404)
    assert problem["type"] == "/problems/queue-not-found"
