"""POST /v1/staffing/erlang (DESIGN §3.6): ERLANG.md's E1 and E4 through the API, any tenant
key admitted, and every bad input a 422 problem naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from app.staffing.erlang import MAX_AGENTS
from tests.support import Json, TenantApi, expect

URL = "/v1/staffing/erlang"
PROBLEM_JSON = "application/problem+json"
E1 = {"arrival_rate_per_hour": 200, "aht_s": 180, "threshold_s": 20}  # A = 10 Erlangs


async def erlang(t: TenantApi, body: Json, status: int = 200,
                 headers: dict[str, str] | None = None) -> Json:
    return expect(await t.request("POST", URL, body, headers=headers), status)


async def test_e1_agents_needed_with_shrinkage(tenant: TenantApi) -> None:
    answer = await erlang(tenant, {**E1, "target_service_level": 0.8, "shrinkage": 0.3})
    assert answer["model"] == "erlang_c" and answer["stable"] is True
    assert answer["traffic_erlangs"] == pytest.approx(10)
    assert (answer["agents"], answer["scheduled_agents"]) == (14, 20)
    assert answer["service_level"] == pytest.approx(0.8884, abs=1e-4)
    assert answer["probability_of_wait"] == pytest.approx(0.1741, abs=1e-4)
    assert answer["asa_s"] == pytest.approx(7.84, abs=0.005)
    assert answer["average_wait_s"] == answer["asa_s"]
    assert answer["occupancy"] == pytest.approx(0.7143, abs=1e-4)
    assert answer["abandon_rate"] == 0


async def test_e1_given_agents(tenant: TenantApi) -> None:
    answer = await erlang(tenant, {**E1, "agents": 13})
    assert (answer["agents"], answer["scheduled_agents"]) == (13, 13)
    assert answer["service_level"] == pytest.approx(0.7956, abs=1e-4)
    # The agents given win over a target; max_occupancy only bounds a search.
    same = await erlang(tenant, {**E1, "agents": 13, "target_service_level": 0.9,
                                 "max_occupancy": 0.5})
    assert same == answer


async def test_e1_with_max_occupancy(tenant: TenantApi) -> None:
    answer = await erlang(tenant, {**E1, "target_service_level": 0.8, "max_occupancy": 0.65})
    assert answer["agents"] == 16 and answer["occupancy"] <= 0.65


async def test_too_few_agents_for_erlang_c_is_unstable_not_an_error(tenant: TenantApi) -> None:
    answer = await erlang(tenant, {**E1, "agents": 10})
    assert answer["stable"] is False
    assert (answer["service_level"], answer["probability_of_wait"]) == (0, 1)
    assert answer["asa_s"] is None and answer["average_wait_s"] is None


async def test_e4_erlang_a(tenant: TenantApi) -> None:
    answer = await erlang(tenant, {**E1, "patience_s": 300, "agents": 14})
    assert answer["model"] == "erlang_a" and answer["stable"] is True
    assert answer["probability_of_wait"] == pytest.approx(0.14526, abs=1e-4)
    assert answer["abandon_rate"] == pytest.approx(0.013984, abs=1e-4)
    assert answer["occupancy"] == pytest.approx(0.704297, abs=1e-4)
    assert answer["average_wait_s"] == pytest.approx(4.20, abs=0.005)
    assert answer["service_level"] == pytest.approx(0.916792, abs=1e-4)
    needed = await erlang(tenant, {**E1, "patience_s": 300, "target_service_level": 0.8})
    assert needed["model"] == "erlang_a" and needed["agents"] == 13


async def test_any_tenant_key_may_ask_but_not_anonymous_callers(tenant: TenantApi) -> None:
    key = expect(await tenant.request("POST", "/v1/api-keys",
                                      {"name": "desk", "role": "agent"}), 201)["api_key"]
    answer = await erlang(tenant, {**E1, "agents": 14},
                          headers={"Authorization": f"Bearer {key}"})
    assert answer["agents"] == 14
    response = await tenant.http.post(URL, json={**E1, "agents": 14})
    assert response.status_code == 401


def problem(body: Json, slug: str) -> list[str]:
    assert body["type"] == f"/problems/{slug}" and body["status"] == 422, body
    return [str(e["field"]) for e in body.get("errors", [])]


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("rate-0", {"arrival_rate_per_hour": 0}, "arrival_rate_per_hour"),
    ("rate-negative", {"arrival_rate_per_hour": -200}, "arrival_rate_per_hour"),
    ("rate-absurd", {"arrival_rate_per_hour": 1e9}, "arrival_rate_per_hour"),
    ("rate-string", {"arrival_rate_per_hour": "200"}, "arrival_rate_per_hour"),
    ("aht-0", {"aht_s": 0}, "aht_s"),
    ("aht-negative", {"aht_s": -180}, "aht_s"),
    ("threshold-negative", {"threshold_s": -1}, "threshold_s"),
    ("target-0", {"target_service_level": 0}, "target_service_level"),
    ("target-1", {"target_service_level": 1}, "target_service_level"),
    ("target-1.5", {"target_service_level": 1.5}, "target_service_level"),
    ("patience-0", {"patience_s": 0}, "patience_s"),
    ("patience-negative", {"patience_s": -300}, "patience_s"),
    ("shrinkage-1", {"shrinkage": 1}, "shrinkage"),
    ("shrinkage-negative", {"shrinkage": -0.1}, "shrinkage"),
    ("max-occupancy-0", {"max_occupancy": 0}, "max_occupancy"),
    ("max-occupancy-1.1", {"max_occupancy": 1.1}, "max_occupancy"),
    ("agents-0", {"agents": 0}, "agents"),
    ("agents-over-cap", {"agents": MAX_AGENTS + 1}, "agents"),
    ("agents-fraction", {"agents": 14.5}, "agents"),
    ("unknown-field", {"patience": 300}, "patience"),
]


@pytest.mark.parametrize(("change", "field"), [pytest.param(c, f, id=i) for i, c, f in BAD])
async def test_bad_input_is_a_422_naming_the_field(tenant: TenantApi, change: Json,
                                                   field: str) -> None:
    response = await tenant.request("POST", URL, {**E1, "target_service_level": 0.8, **change})
    assert response.headers["content-type"] == PROBLEM_JSON
    fields = problem(expect(response, 422), "validation-error")
    assert fields == [f"body.{field}"]


async def test_a_missing_field_is_named(tenant: TenantApi) -> None:
    body = {"arrival_rate_per_hour": 200, "threshold_s": 20, "agents": 14}
    assert problem(await erlang(tenant, body, 422), "validation-error") == ["body.aht_s"]


async def test_neither_target_nor_agents_is_a_422(tenant: TenantApi) -> None:
    body = await erlang(tenant, E1, 422)
    assert problem(body, "validation-error") == ["target_service_level"]
    assert "target_service_level" in body["detail"]


async def test_a_target_no_number_of_agents_reaches_is_a_422(tenant: TenantApi) -> None:
    # 100,000 calls an hour of 2 hours each: 200,000 Erlangs, beyond any allowed pool.
    huge = {"arrival_rate_per_hour": 100_000, "aht_s": 7_200, "threshold_s": 20,
            "target_service_level": 0.8}
    body = await erlang(tenant, huge, 422)
    problem(body, "target-unreachable")
    assert body["max_agents"] == MAX_AGENTS and body["traffic_erlangs"] == pytest.approx(2e5)
    assert str(MAX_AGENTS) in body["detail"]
    # max_occupancy alone can put the answer beyond the cap too.
    capped = await erlang(tenant, {**E1, "target_service_level": 0.8, "max_occupancy": 1e-5},
                          422)
    problem(capped, "target-unreachable")
    assert "occupancy" in capped["detail"]
