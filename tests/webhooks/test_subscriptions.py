"""Webhook subscriptions (DESIGN §3.5): create, replace, read, delete, resume; the secret."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.clock import to_datetime
from app.db import repositories as repo
from app.main import create_app
from app.settings import Settings
from tests.support import Api, Json, TenantApi, expect, forget_tenants

HOOK = {"url": "https://hooks.example.com/switchboard", "events": ["call.*",
                                                                  "agent.state_changed"]}
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
SHOWN = {"id", "url", "events", "description", "status", "paused_reason", "version",
         "created_at", "updated_at"}


async def put(t: TenantApi, webhook_id: str, body: Json) -> Json:
    return expect(await t.request("PUT", f"/v1/webhooks/{webhook_id}", body), 200)


async def get(t: TenantApi, webhook_id: str) -> Json:
    return expect(await t.request("GET", f"/v1/webhooks/{webhook_id}"), 200)


async def listed(t: TenantApi) -> list[Json]:
    webhooks: list[Json] = expect(await t.request("GET", "/v1/webhooks"), 200)["webhooks"]
    return webhooks


async def pause(service: Api, t: TenantApi, webhook_id: str, reason: str) -> None:
    """What delivery does to a receiver that keeps failing."""
    rt = service.runtime
    async with rt.db.sessions.begin() as session:
        assert await repo.set_webhook_status(session, t.id, webhook_id, "paused", reason,
                                             to_datetime(rt.clock.now_ms()))


async def test_create_get_list_replace_delete(tenant: TenantApi) -> None:
    created = await put(tenant, "crm", {**HOOK, "description": "CRM screen pop"})
    assert set(created) == SHOWN | {"secret"}
    assert created["id"] == "crm" and created["url"] == HOOK["url"]
    assert created["events"] == HOOK["events"]
    assert created["description"] == "CRM screen pop"
    assert (created["status"], created["paused_reason"], created["version"]) == (
        "active", None, 1)
    assert created["created_at"] == created["updated_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created["created_at"])

    shown = {k: v for k, v in created.items() if k != "secret"}
    assert await get(tenant, "crm") == shown
    await put(tenant, "all", {"url": "http://hooks.example.com/all", "events": []})
    assert [w["id"] for w in await listed(tenant)] == ["all", "crm"]
    assert (await listed(tenant))[1] == shown

    replaced = await put(tenant, "crm", {"url": "https://other.example.com/hook",
                                         "events": ["*"], "secret": SECRET})
    assert replaced["version"] == 2 and replaced["secret"] == SECRET
    assert replaced["events"] == ["*"] and replaced["description"] is None
    assert replaced["created_at"] == created["created_at"]
    assert await get(tenant, "crm") == {k: v for k, v in replaced.items() if k != "secret"}

    expect(await tenant.request("DELETE", "/v1/webhooks/crm"), 204)
    gone = await tenant.request("GET", "/v1/webhooks/crm")
    assert expect(gone, 404)["type"] == "/problems/webhook-not-found"
    expect(await tenant.request("DELETE", "/v1/webhooks/crm"), 404)
    assert [w["id"] for w in await listed(tenant)] == ["all"]
    # A deleted id can be used again: a new subscription, version 1.
    assert (await put(tenant, "crm", HOOK))["version"] == 1


async def test_events_default_to_every_event(tenant: TenantApi) -> None:
    assert (await put(tenant, "all", {"url": HOOK["url"]}))["events"] == []


async def test_secret_is_generated_in_the_standard_webhooks_format(tenant: TenantApi) -> None:
    secrets = [(await put(tenant, f"h{i}", HOOK))["secret"] for i in range(3)]
    secrets.append((await put(tenant, "h0", HOOK))["secret"])  # a replacement without one
    for secret in secrets:
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{32}", secret), secret
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24
    assert len(set(secrets)) == 4


async def test_secret_is_shown_once_and_kept_as_given(service: Api, tenant: TenantApi) -> None:
    generated = (await put(tenant, "gen", HOOK))["secret"]
    await put(tenant, "given", {**HOOK, "secret": SECRET})
    for response in (await tenant.request("GET", "/v1/webhooks/gen"),
                     await tenant.request("GET", "/v1/webhooks/given"),
                     await tenant.request("GET", "/v1/webhooks")):
        assert "secret" not in response.text and "whsec_" not in response.text
        assert generated not in response.text and SECRET not in response.text
    async with service.runtime.db.sessions() as session:
        stored = {w.id: w.secret for w in await repo.list_webhooks(session, tenant.id)}
    assert stored == {"gen": generated, "given": SECRET}


async def test_a_paused_webhook_is_resumed(service: Api, tenant: TenantApi) -> None:
    await put(tenant, "crm", HOOK)
    await tenant.advance(60)
    await pause(service, tenant, "crm", "failing for 24 h: HTTP 503")
    paused = await get(tenant, "crm")
    assert (paused["status"], paused["paused_reason"]) == ("paused", "failing for 24 h: HTTP 503")

    # A replacement changes the configuration, not the status: resuming is explicit.
    replaced = await put(tenant, "crm", {**HOOK, "url": "https://fixed.example.com/"})
    assert (replaced["status"], replaced["paused_reason"], replaced["version"]) == (
        "paused", "failing for 24 h: HTTP 503", 2)

    resumed = expect(await tenant.request("POST", "/v1/webhooks/crm/resume"), 200)
    assert (resumed["status"], resumed["paused_reason"], resumed["version"]) == (
        "active", None, 2)
    assert "secret" not in resumed
    assert await get(tenant, "crm") == resumed
    # Resuming an active webhook changes nothing.
    assert expect(await tenant.request("POST", "/v1/webhooks/crm/resume"), 200) == resumed
    missing = await tenant.request("POST", "/v1/webhooks/ghost/resume")
    assert expect(missing, 404)["webhook_id"] == "ghost"


async def test_a_refused_replacement_changes_nothing(tenant: TenantApi) -> None:
    before = await put(tenant, "crm", HOOK)
    for body in ({**HOOK, "url": "http://10.0.0.5/hook"}, {**HOOK, "events": ["call.ofered"]},
                 {**HOOK, "secret": "whsec_short"}, {**HOOK, "colour": "red"}):
        response = await tenant.request("PUT", "/v1/webhooks/crm", body)
        assert response.status_code == 422, response.text
    assert await get(tenant, "crm") == {k: v for k, v in before.items() if k != "secret"}


async def test_refusals_name_the_field_and_the_reason(tenant: TenantApi) -> None:
    private = expect(await tenant.request(
        "PUT", "/v1/webhooks/crm", {**HOOK, "url": "http://10.0.0.5/hook"}), 422)
    assert private["detail"] == ("url: 10.0.0.5 is a private address; "
                                 "set SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE=true to allow it")
    assert private["errors"] == [{"field": "url", "message": private["detail"][5:]}]
    unknown = expect(await tenant.request(
        "PUT", "/v1/webhooks/crm", {**HOOK, "events": ["call.*", "call.ofered", "fax.*"]}), 422)
    assert unknown["detail"].startswith(
        "events: unknown event types 'call.ofered', 'fax.*'; use a type, '<family>.*' or '*'; "
        "types: call.queued, call.offered,")
    assert "agent.state_changed" in unknown["detail"]


@pytest.mark.parametrize("role", ["telephony", "agent", "supervisor"])
async def test_only_admins_manage_webhooks(tenant: TenantApi, role: str) -> None:
    await put(tenant, "crm", HOOK)
    key = expect(await tenant.request("POST", "/v1/api-keys", {"name": role, "role": role}),
                 201)["api_key"]
    headers = {"Authorization": f"Bearer {key}"}
    for method, path, body in (("PUT", "/v1/webhooks/crm", HOOK), ("PUT", "/v1/webhooks/new", HOOK),
                               ("GET", "/v1/webhooks/crm", None), ("GET", "/v1/webhooks", None),
                               ("DELETE", "/v1/webhooks/crm", None),
                               ("POST", "/v1/webhooks/crm/resume", None)):
        problem = expect(await tenant.request(method, path, body, headers=headers), 403)
        assert problem["type"] == "/problems/forbidden" and problem["role"] == role
    assert [w["id"] for w in await listed(tenant)] == ["crm"]
    assert (await get(tenant, "crm"))["version"] == 1


async def test_tenants_do_not_see_each_others_webhooks(service: Api, tenant: TenantApi) -> None:
    other = await service.tenant("manual")
    mine = await put(tenant, "crm", HOOK)
    assert await listed(other) == []
    for method, path in (("GET", "/v1/webhooks/crm"), ("DELETE", "/v1/webhooks/crm"),
                         ("POST", "/v1/webhooks/crm/resume")):
        problem = expect(await other.request(method, path), 404)
        assert problem["type"] == "/problems/webhook-not-found"
    theirs = await put(other, "crm", {"url": "https://other.example.com/"})
    assert theirs["version"] == 1 and theirs["secret"] != mine["secret"]
    assert await get(tenant, "crm") == {k: v for k, v in mine.items() if k != "secret"}


@pytest.fixture
async def private_ok(make_settings: Callable[..., Settings]) -> AsyncIterator[TenantApi]:
    """A tenant of a service that allows private targets (a receiver in the same network)."""
    settings = make_settings(webhook_allow_private=True)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sb") as http:
        api = Api(http, app)
        yield await api.tenant("manual")
    await forget_tenants(settings.redis_url, api.tenants)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8081/hook", "http://[::1]:8081/",
                                 "http://localhost:8081/", "http://10.0.0.5/hook"])
async def test_private_targets_when_allowed(private_ok: TenantApi, url: str) -> None:
    assert (await put(private_ok, "local", {"url": url}))["url"] == url


@pytest.mark.parametrize("backend", ["redis+postgresql"], indirect=True)
async def test_deleting_a_tenant_deletes_its_webhooks(
        tenant: TenantApi, make_settings: Callable[..., Settings]) -> None:
    # SQLite enforces the same ON DELETE CASCADE only with PRAGMA foreign_keys=ON.
    await put(tenant, "crm", HOOK)
    engine = create_async_engine(make_settings().database_url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM tenants WHERE id = :t"), {"t": tenant.id})
            count = await conn.scalar(text("SELECT count(*) FROM webhooks WHERE tenant_id = :t"),
                                      {"t": tenant.id})
    finally:
        await engine.dispose()
    assert count == 0
