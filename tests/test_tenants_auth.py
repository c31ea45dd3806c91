"""Tenants, API keys and roles (DESIGN §3.1), and the operational endpoints (§3.8)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.main import create_app
from app.settings import Settings
from tests.support import ADMIN_TOKEN, Api, Json, TenantApi, expect, unique

PROBLEM_JSON = "application/problem+json"
ROLES = ("admin", "telephony", "agent", "supervisor")


def problem(response: httpx.Response, status: int, slug: str) -> Json:
    where = f"{response.request.method} {response.request.url.path}: {response.text[:400]}"
    assert response.status_code == status, where
    assert response.headers["content-type"].startswith(PROBLEM_JSON), where
    body: Json = response.json()
    assert body["type"] == f"/problems/{slug}", where
    assert body["status"] == status and body["title"] and body["detail"], where
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def new_key(t: TenantApi, role: str) -> str:
    body = expect(await t.request("POST", "/v1/api-keys", {"name": f"{role} key", "role": role}),
                  201)
    assert body["role"] == role
    key: str = body["api_key"]
    return key


async def seed(t: TenantApi) -> dict[str, str]:
    """Queues, agents and a call in each live state: connected (ana), offered (bob), queued."""
    await t.put_queue("sales")
    await t.put_queue("spare")
    for agent in ("ana", "bob", "cy"):
        await t.put_agent(agent, queues=["sales"])
    await t.state("ana", "available")
    connected = await t.arrive("sales", external_id="e-connected")
    await t.accept(connected["id"])
    await t.state("bob", "available")
    offered = await t.arrive("sales", external_id="e-offered")
    queued = await t.arrive("sales", external_id="e-queued")
    return {"connected": connected["id"], "offered": offered["id"],
            "offer": offered["offer"]["id"], "queued": queued["id"]}


async def snapshot(t: TenantApi, ids: dict[str, str]) -> dict[str, Any]:
    state: dict[str, Any] = {"events": await t.events()}
    for path in ("/v1/queues", "/v1/agents", "/v1/calls?limit=1000", "/v1/clock",
                 *(f"/v1/calls/{ids[c]}" for c in ("connected", "offered", "queued"))):
        state[path] = expect(await t.request("GET", path), 200)
    return state


# ---- operations -------------------------------------------------------------------------

async def test_healthz_and_readyz(service: Api) -> None:
    assert expect(await service.http.get("/healthz"), 200) == {"status": "ok"}
    assert expect(await service.http.get("/readyz"), 200) == {"status": "ready", "sql": "ok"}


@pytest.mark.parametrize("method,path", [("GET", "/v1/nowhere"), ("POST", "/v2/calls"),
                                         ("GET", "/")])
async def test_unknown_route_is_a_404_problem(service: Api, method: str, path: str) -> None:
    problem(await service.http.request(method, path), 404, "route-not-found")


async def test_wrong_method_is_a_405_problem(tenant: TenantApi) -> None:
    problem(await tenant.request("DELETE", "/v1/calls"), 405, "method-not-allowed")


# ---- tenants ----------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-token"),
    pytest.param(bearer("not-the-admin-token"), id="wrong-token"),
    pytest.param(bearer(ADMIN_TOKEN + "x"), id="token-with-suffix"),
    pytest.param({"Authorization": f"Basic {ADMIN_TOKEN}"}, id="wrong-scheme"),
])
async def test_tenant_creation_needs_the_platform_token(service: Api,
                                                        headers: dict[str, str]) -> None:
    tenant_id = unique("t")
    response = await service.http.post("/v1/tenants", json={"id": tenant_id}, headers=headers)
    problem(response, 401, "unauthorized")
    # Not created: the id is still free.
    expect(await service.http.post("/v1/tenants", json={"id": tenant_id},
                                   headers=bearer(ADMIN_TOKEN)), 201)
    service.tenants.append(tenant_id)


async def test_a_tenant_admin_key_cannot_create_tenants(tenant: TenantApi) -> None:
    response = await tenant.http.post("/v1/tenants", json={"id": unique("t")},
                                      headers=tenant.headers)
    problem(response, 401, "unauthorized")


async def test_tenant_creation_is_off_without_an_admin_token(
        make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(admin_token=None))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard") as http:
            for headers in ({}, bearer(ADMIN_TOKEN)):
                response = await http.post("/v1/tenants", json={"id": unique("t")},
                                           headers=headers)
                body = problem(response, 403, "admin-token-not-set")
                assert "SWITCHBOARD_ADMIN_TOKEN" in body["detail"]


async def test_duplicate_tenant_is_409_and_keeps_the_first(service: Api) -> None:
    first = await service.tenant("manual")
    await first.put_queue("sales")
    response = await service.http.post("/v1/tenants", json={"id": first.id, "clock": "wall"},
                                       headers=bearer(ADMIN_TOKEN))
    body = problem(response, 409, "tenant-exists")
    assert body["tenant_id"] == first.id
    assert "api_key" not in body
    # The first tenant and its key are untouched; its clock is still manual.
    assert expect(await first.request("GET", "/v1/clock"), 200)["mode"] == "manual"
    assert [q["id"] for q in expect(await first.request("GET", "/v1/queues"), 200)["queues"]] \
        == ["sales"]


async def test_created_tenant_gets_a_working_admin_key(service: Api) -> None:
    tenant_id = unique("t")
    body = expect(await service.http.post(
        "/v1/tenants", json={"id": tenant_id, "name": "Acme", "clock": "manual"},
        headers=bearer(ADMIN_TOKEN)), 201)
    service.tenants.append(tenant_id)
    assert body["id"] == tenant_id and body["name"] == "Acme" and body["clock"] == "manual"
    assert body["api_key"].startswith("sb_")
    assert expect(await service.http.get("/v1/clock", headers=bearer(body["api_key"])),
                  200)["mode"] == "manual"


# ---- keys are stored hashed -------------------------------------------------------------

async def test_keys_are_shown_once_and_stored_as_sha256(
        service: Api, make_settings: Callable[..., Settings]) -> None:
    tenant_id = unique("t")
    created = expect(await service.http.post("/v1/tenants", json={"id": tenant_id},
                                             headers=bearer(ADMIN_TOKEN)), 201)
    service.tenants.append(tenant_id)
    t = TenantApi(service.http, tenant_id, created["api_key"])
    extra = expect(await t.request("POST", "/v1/api-keys",
                                   {"name": "desk", "role": "agent"}), 201)
    assert extra["name"] == "desk" and extra["api_key"].startswith("sb_")
    keys = {created["api_key_id"]: created["api_key"], extra["id"]: extra["api_key"]}

    engine = create_async_engine(make_settings().database_url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT id, tenant_id, name, role, key_hash, created_at FROM api_keys "
                "WHERE tenant_id = :tenant ORDER BY name"), {"tenant": tenant_id})).all()
    finally:
        await engine.dispose()
    assert {r.id for r in rows} == set(keys)
    assert {r.id: r.role for r in rows} == {created["api_key_id"]: "admin", extra["id"]: "agent"}
    for row in rows:
        key = keys[row.id]
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
        secret = key.split("_", 2)[2]  # sb_<hex id>_<secret>; the secret may hold "_"
        for value in row:
            assert key not in str(value) and secret not in str(value), row


# ---- roles ------------------------------------------------------------------------------

# (request id, method, path, body, the roles admitted)
TENANT_ADMIN = {"admin"}
CALL_HANDLERS = {"admin", "telephony", "agent"}
READERS = set(ROLES)
MATRIX = [
    ("put-queue", "PUT", "/v1/queues/sales", {"offer_timeout_s": 30}, TENANT_ADMIN),
    ("delete-queue", "DELETE", "/v1/queues/spare", None, TENANT_ADMIN),
    ("put-agent", "PUT", "/v1/agents/bo", {}, TENANT_ADMIN),
    ("delete-agent", "DELETE", "/v1/agents/cy", None, TENANT_ADMIN),
    ("create-key", "POST", "/v1/api-keys", {"name": "k", "role": "admin"}, TENANT_ADMIN),
    ("advance-clock", "POST", "/v1/clock/advance", {"seconds": 1}, TENANT_ADMIN),
    ("agent-state", "POST", "/v1/agents/bob/state", {"state": "away"},
     {"admin", "agent", "supervisor"}),
    ("arrive", "POST", "/v1/calls", {"queue": "sales"}, {"admin", "telephony"}),
    ("patch", "PATCH", "/v1/calls/{queued}", {"priority": 5}, {"admin", "telephony"}),
    ("abandon", "POST", "/v1/calls/{queued}/abandon", None, {"admin", "telephony"}),
    ("accept", "POST", "/v1/calls/{offered}/accept", {"offer_id": "{offer}"}, CALL_HANDLERS),
    ("reject", "POST", "/v1/calls/{offered}/reject", {"offer_id": "{offer}"}, CALL_HANDLERS),
    ("complete", "POST", "/v1/calls/{connected}/complete", {}, CALL_HANDLERS),
    ("transfer", "POST", "/v1/calls/{queued}/transfer", {"queue": "sales"}, CALL_HANDLERS),
    ("list-queues", "GET", "/v1/queues", None, READERS),
    ("get-queue", "GET", "/v1/queues/sales", None, READERS),
    ("list-agents", "GET", "/v1/agents", None, READERS),
    ("get-agent", "GET", "/v1/agents/ana", None, READERS),
    ("list-calls", "GET", "/v1/calls", None, READERS),
    ("get-call", "GET", "/v1/calls/{queued}", None, READERS),
    ("get-clock", "GET", "/v1/clock", None, READERS),
    ("events", "GET", "/v1/events", None, {"admin", "supervisor", "telephony"}),
]


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name,method,path,body,admitted",
                         [pytest.param(*row, id=str(row[0])) for row in MATRIX])
async def test_role_matrix(tenant: TenantApi, role: str, name: str, method: str, path: str,
                           body: Any, admitted: set[str]) -> None:
    ids = await seed(tenant)
    key = tenant.key if role == "admin" else await new_key(tenant, role)
    before = await snapshot(tenant, ids)
    response = await tenant.request(method, fill(path, ids), fill(body, ids),
                                    headers=bearer(key))
    if role in admitted:
        assert response.status_code < 400, f"{role} {name}: {response.text[:400]}"
    else:
        body_ = problem(response, 403, "forbidden")
        assert body_["role"] == role
        assert role in body_["detail"]
        assert await snapshot(tenant, ids) == before


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-key"),
    pytest.param(bearer("sb_000000000000_garbage"), id="garbage-key"),
    pytest.param(bearer(""), id="empty-key"),
    pytest.param(bearer(ADMIN_TOKEN), id="platform-token-as-key"),
    pytest.param({"Authorization": "Token abc"}, id="wrong-scheme"),
])
@pytest.mark.parametrize("method,path,body", [
    ("GET", "/v1/queues", None), ("PUT", "/v1/queues/sales", {}),
    ("POST", "/v1/calls", {"queue": "sales"}), ("POST", "/v1/agents/ana/state",
                                                 {"state": "away"}),
    ("GET", "/v1/events", None), ("POST", "/v1/api-keys", {"name": "k", "role": "admin"}),
])
async def test_no_or_bad_key_is_401_and_changes_nothing(
        tenant: TenantApi, headers: dict[str, str], method: str, path: str, body: Any) -> None:
    ids = await seed(tenant)
    before = await snapshot(tenant, ids)
    problem(await tenant.http.request(method, path, json=body, headers=headers), 401,
            "unauthorized")
    assert await snapshot(tenant, ids) == before


async def test_a_key_of_another_tenant_sees_404_never_403(service: Api) -> None:
    a = await service.tenant("manual")
    b = await service.tenant("manual")
    ids = await seed(a)
    before = await snapshot(a, ids)
    not_found: list[tuple[str, str, Any, str]] = [
        ("GET", "/v1/queues/sales", None, "queue-not-found"),
        ("GET", "/v1/agents/ana", None, "agent-not-found"),
        ("GET", "/v1/calls/{queued}", None, "call-not-found"),
        ("POST", "/v1/agents/ana/state", {"state": "offline"}, "agent-not-found"),
        ("DELETE", "/v1/queues/sales", None, "queue-not-found"),
        ("DELETE", "/v1/agents/ana", None, "agent-not-found"),
        ("PATCH", "/v1/calls/{queued}", {"priority": 9}, "call-not-found"),
        ("POST", "/v1/calls/{queued}/abandon", None, "call-not-found"),
        ("POST", "/v1/calls/{queued}/transfer", {"agent_id": "ana"}, "call-not-found"),
        ("POST", "/v1/calls/{offered}/accept", {"offer_id": "{offer}"}, "call-not-found"),
        ("POST", "/v1/calls/{offered}/reject", {"offer_id": "{offer}"}, "call-not-found"),
        ("POST", "/v1/calls/{connected}/complete", {}, "call-not-found"),
        ("POST", "/v1/calls/{connected}/transfer", {"queue": "sales"}, "call-not-found"),
    ]
    for method, path, body, slug in not_found:
        problem(await b.request(method, fill(path, ids), fill(body, ids)), 404, slug)
    # B's reads list nothing of A's; an arrival naming A's queue is an unknown queue for B.
    assert expect(await b.request("GET", "/v1/queues"), 200)["queues"] == []
    assert expect(await b.request("GET", "/v1/agents"), 200)["agents"] == []
    assert expect(await b.request("GET", "/v1/calls"), 200)["calls"] == []
    assert [e["type"] for e in await b.events()] == []
    body = problem(await b.request("POST", "/v1/calls", {"queue": "sales"}), 422,
                   "validation-error")
    assert body["errors"][0]["field"] == "queue"
    # B putting a queue with A's id makes B's own queue; A is unchanged by all of it.
    expect(await b.request("PUT", "/v1/queues/sales", {"offer_timeout_s": 5}), 200)
    assert await snapshot(a, ids) == before
