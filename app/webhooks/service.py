"""Webhook subscriptions: configuration in SQL. Delivery reads them from there."""

from __future__ import annotations

import json
import secrets

import httpx
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app.clock import rfc3339, to_datetime
from app.db import repositories as repo
from app.db.models import Webhook as WebhookModel
from app.errors import conflict, invalid, not_found
from app.events.filters import EVENT_TYPES, unknown_patterns
from app.runtime import Runtime
from app.webhooks.outbox import WebhookAttempt, WebhookDelivery
from app.webhooks.schemas import (
    Attempt,
    AttemptList,
    PingResult,
    Webhook,
    WebhookConfig,
    WebhookCreated,
    WebhookStatus,
)
from app.webhooks.secret import new_secret
from app.webhooks.sender import append_event, post
from app.webhooks.targets import RefusedTarget, check_url


def _webhook(row: repo.WebhookRow) -> Webhook:
    return Webhook(id=row.id, url=row.url, events=row.events, description=row.description,
                   status=WebhookStatus(row.status), paused_reason=row.paused_reason,
                   version=row.version, created_at=row.created_at, updated_at=row.updated_at)


def _check(rt: Runtime, body: WebhookConfig) -> None:
    try:
        check_url(body.url, allow_private=rt.settings.webhook_allow_private)
    except RefusedTarget as e:
        raise invalid("url", str(e)) from None
    if unknown := unknown_patterns(body.events):
        raise invalid("events", f"unknown event types {', '.join(map(repr, unknown))}; "
                      f"use a type, '<family>.*' or '*'; types: {', '.join(EVENT_TYPES)}")


async def put_webhook(rt: Runtime, tenant: str, webhook_id: str,
                      body: WebhookConfig) -> WebhookCreated:
    """Create or replace. A replacement is whole: a secret left out is a new secret."""
    _check(rt, body)
    secret = body.secret or new_secret()
    try:
        async with rt.db.sessions.begin() as session:
            row = await repo.put_webhook(
                session, tenant, webhook_id, url=body.url, events=body.events, secret=secret,
                description=body.description, now=to_datetime(rt.clock.now_ms()))
    except IntegrityError:
        # Two PUTs created the same webhook at once; this one lost.
        raise conflict("webhook-conflict", "Webhook changed concurrently",
                       f"Webhook {webhook_id!r} was created by another request; retry.",
                       webhook_id=webhook_id) from None
    return WebhookCreated(**_webhook(row).model_dump(), secret=row.secret)


async def get_webhook(rt: Runtime, tenant: str, webhook_id: str) -> Webhook:
    async with rt.db.sessions() as session:
        row = await repo.get_webhook(session, tenant, webhook_id)
    if row is None:
        raise not_found("webhook", webhook_id)
    return _webhook(row)


async def list_webhooks(rt: Runtime, tenant: str) -> list[Webhook]:
    async with rt.db.sessions() as session:
        return [_webhook(r) for r in await repo.list_webhooks(session, tenant)]


async def delete_webhook(rt: Runtime, tenant: str, webhook_id: str) -> None:
    async with rt.db.sessions.begin() as session:
        if not await repo.delete_webhook(session, tenant, webhook_id):
            raise not_found("webhook", webhook_id)
        await session.execute(delete(WebhookDelivery).where(  # undelivered ones go with it
            WebhookDelivery.tenant_id == tenant, WebhookDelivery.webhook_id == webhook_id))


async def resume_webhook(rt: Runtime, tenant: str, webhook_id: str) -> Webhook:
    """A paused webhook becomes active again (event `webhook.resumed`); an active one stays
    as it is."""
    async with rt.db.sessions.begin() as session:
        before = await repo.get_webhook(session, tenant, webhook_id)
        row = await repo.set_webhook_status(session, tenant, webhook_id, WebhookStatus.active,
                                            None, to_datetime(rt.clock.now_ms()))
        # Its failures start counting afresh; held deliveries go out at once, in order.
        await session.execute(update(WebhookModel).where(
            WebhookModel.tenant_id == tenant, WebhookModel.id == webhook_id)
            .values(failing_since=None))
    if row is None or before is None:
        raise not_found("webhook", webhook_id)
    if before.status == WebhookStatus.paused:
        await append_event(rt, tenant, "webhook.resumed", {"webhook_id": webhook_id})
    return _webhook(row)


async def attempts(rt: Runtime, tenant: str, webhook_id: str, limit: int) -> AttemptList:
    async with rt.db.sessions() as session:
        if await repo.get_webhook(session, tenant, webhook_id) is None:
            raise not_found("webhook", webhook_id)
        a = WebhookAttempt
        rows = (await session.execute(
            select(a).where(a.tenant_id == tenant, a.webhook_id == webhook_id)
            .order_by(a.id.desc()).limit(limit))).scalars()
        return AttemptList(attempts=[Attempt.model_validate(r, from_attributes=True)
                                     for r in rows])


async def ping(rt: Runtime, tenant: str, webhook_id: str) -> PingResult:
    """Send a `webhook.ping` now, whatever the subscription's filters and status; the attempt
    is logged like any other."""
    async with rt.db.sessions() as session:
        hook = await session.get(WebhookModel, (tenant, webhook_id))
    if hook is None:
        raise not_found("webhook", webhook_id)
    event_id = f"ping-{secrets.token_hex(8)}"
    now = rt.clock.now_ms()
    body = json.dumps({"id": event_id, "type": "webhook.ping", "occurred_at": rfc3339(now),
                       "data": {"webhook_id": webhook_id}}, separators=(",", ":")).encode()
    async with httpx.AsyncClient(follow_redirects=False) as client:
        result = await post(client, hook.url, hook.secret, event_id, body,
                            allow_private=rt.settings.webhook_allow_private,
                            timeout_s=rt.settings.webhook_timeout_s)
    async with rt.db.sessions.begin() as session:
        session.add(WebhookAttempt(
            tenant_id=tenant, webhook_id=webhook_id, event_id=event_id,
            event_type="webhook.ping", attempt=1, attempted_at=to_datetime(now),
            status_code=result.status_code, latency_ms=result.latency_ms, error=result.error))
    return PingResult(status_code=result.status_code, latency_ms=result.latency_ms,
                      error=result.error)
