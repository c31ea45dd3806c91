"""Webhook fan-out: a consumer group `webhooks` on every tenant's event stream turns each event
into one outbox row per subscription that selects it (app/webhooks/outbox.py), then
acknowledges it. A `call.offered` delivery carries the caller's last calls from the history,
for the screen pop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import rfc3339, to_datetime
from app.db.models import Webhook
from app.events.consumers import GroupConsumer
from app.events.filters import matches
from app.events.service import render
from app.history.models import CallHistory
from app.history.writer import insert_for
from app.routing.records import as_dict
from app.store.reads import StoredEvent
from app.webhooks.outbox import WebhookDelivery, order_key

GROUP = "webhooks"
RECENT_CALLS = 5


def line_of(event: StoredEvent) -> str:
    """What a delivery keeps its order within: the call, else the agent, else the type."""
    data = event.data
    call_id = as_dict(data.get("call")).get("id") or data.get("call_id")
    if call_id:
        return f"call:{call_id}"
    if data.get("agent_id"):
        return f"agent:{data['agent_id']}"
    return event.type


async def recent_calls(session: AsyncSession, tenant: str, customer_id: str) -> list[Any]:
    rows = await session.execute(
        select(CallHistory).where(CallHistory.tenant_id == tenant,
                                  CallHistory.customer_id == customer_id)
        .order_by(CallHistory.ended_at.desc()).limit(RECENT_CALLS))
    return [{"call_id": r.call_id, "ended_at": rfc3339(r.ended_at.timestamp() * 1000),
             "queue": r.queue, "agent_id": r.agent_id, "outcome": r.outcome,
             "disposition": r.disposition} for r in rows.scalars()]


async def _payload(session: AsyncSession, tenant: str, event: StoredEvent) -> dict[str, Any]:
    payload = render(event).model_dump(mode="json")
    if event.type == "call.offered":
        caller = as_dict(as_dict(event.data.get("call")).get("caller"))
        customer = caller.get("customer_id")
        payload["data"]["recent_calls"] = (
            await recent_calls(session, tenant, str(customer)) if customer else [])
    return payload


async def outbox_rows(session: AsyncSession, tenant: str, events: list[StoredEvent],
                      now_ms: int) -> list[dict[str, Any]]:
    hooks = list((await session.execute(
        select(Webhook).where(Webhook.tenant_id == tenant))).scalars())
    out: list[dict[str, Any]] = []
    for event in events:
        wanted = [w for w in hooks if matches(w.events, event.type)]
        if not wanted:
            continue
        payload = await _payload(session, tenant, event)
        for hook in wanted:
            out.append({
                "tenant_id": tenant, "webhook_id": hook.id, "event_id": event.id,
                "seq": order_key(event.id), "line": line_of(event), "event_type": event.type,
                "payload": payload, "status": "pending", "attempts": 0,
                "created_at": to_datetime(now_ms), "next_attempt_at": to_datetime(now_ms)})
    return out


class Fanout(GroupConsumer):
    """The `webhooks` consumer group: each batch of events becomes outbox rows."""

    group = GROUP

    async def handle(self, session: AsyncSession, tenant: str,
                     events: Sequence[StoredEvent]) -> None:
        rows = await outbox_rows(session, tenant, list(events), self.rt.clock.now_ms())
        if rows:
            await session.execute(insert_for(session, WebhookDelivery.__table__)
                                  .values(rows).on_conflict_do_nothing())
