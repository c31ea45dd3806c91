"""Turn events into history rows. Idempotent and order-free: an ended call and its legs are
upserted from its ending event (a call ends once); a wrap-up, an agent-state interval and an
offer's outcome are keyed by the event that closed them and inserted only if new."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import at, to_datetime
from app.history.models import AgentInterval, CallHistory, CallLeg, OfferOutcome, WrapUp
from app.routing.records import as_dict, as_list
from app.store.reads import StoredEvent

ENDINGS = {"call.completed": "completed", "call.abandoned": "abandoned",
           "call.timed_out": "timed_out"}


def _ms(value: Any) -> int:
    return round(float(value or 0))


def call_row(tenant: str, event: StoredEvent) -> dict[str, Any]:
    call = as_dict(event.data.get("call"))
    queues = [str(q) for q in as_list(call.get("path"))] or [str(call["queue"])]
    answered = call.get("first_connected_ms") or call.get("connected_ms")
    return {
        "tenant_id": tenant, "call_id": str(call["id"]),
        "external_id": call.get("external_id"), "channel": call.get("channel") or "voice",
        "priority": int(call.get("priority") or 0), "first_queue": queues[0],
        "queue": str(call["queue"]), "queues": queues,
        "customer_id": as_dict(call.get("caller")).get("customer_id"),
        "outcome": ENDINGS[event.type], "agent_id": call.get("agent_id"),
        "arrived_at": to_datetime(_ms(call["arrived_ms"])),
        "first_offered_at": at(call.get("first_offered_ms")),
        "connected_at": at(answered), "ended_at": to_datetime(event.at_ms),
        "wait_ms": _ms(answered or event.at_ms) - _ms(call["arrived_ms"]),
        "talk_ms": _ms(call.get("talk_ms")), "transfers": int(call.get("transfers") or 0),
        "overflows": int(call.get("overflows") or 0), "requeues": int(call.get("requeues") or 0),
        "missed_offers": int(call.get("missed_offers") or 0), "resolved": call.get("resolved"),
        "disposition": call.get("disposition"), "csat": call.get("csat"),
        "event_id": event.id, "call": call,
    }


def leg_rows(tenant: str, event: StoredEvent) -> list[dict[str, Any]]:
    """One row per queue the call entered. A call recorded before legs existed is one leg."""
    call = as_dict(event.data.get("call"))
    outcome = ENDINGS[event.type]
    legs = [as_dict(leg) for leg in as_list(call.get("legs"))] or [{
        "queue": call.get("queue"), "entered_ms": call.get("arrived_ms"),
        "connected_ms": call.get("first_connected_ms"), "agent_id": call.get("agent_id"),
        "talk_ms": call.get("talk_ms"), "sl_threshold_s": 20}]
    customer = as_dict(call.get("caller")).get("customer_id")
    rows = []
    for n, leg in enumerate(legs, start=1):
        last = n == len(legs)
        entered, connected = _ms(leg["entered_ms"]), leg.get("connected_ms")
        left = _ms(leg.get("left_ms") or event.at_ms)
        rows.append({
            "tenant_id": tenant, "call_id": str(call["id"]), "leg": n,
            "queue": str(leg["queue"]), "channel": call.get("channel") or "voice",
            "customer_id": customer, "entered_ms": entered,
            "connected_ms": None if connected is None else _ms(connected), "left_ms": left,
            "outcome": str(leg.get("outcome") or outcome),
            "agent_id": leg.get("agent_id"),
            "wait_ms": (left if connected is None else _ms(connected)) - entered,
            "talk_ms": _ms(leg.get("talk_ms")),
            "sl_threshold_ms": round(float(leg.get("sl_threshold_s") or 0) * 1000),
            "missed_offers": int(leg.get("missed") or 0),
            "resolved": call.get("resolved") if last and outcome == "completed" else None,
            "csat": call.get("csat") if last and outcome == "completed" else None,
        })
    return rows


OFFER_OUTCOMES = {"rejected", "expired", "rescinded"}


def offer_row(tenant: str, event: StoredEvent) -> dict[str, Any] | None:
    """How an offer ended, from `call.connected` (accepted) or `call.requeued`."""
    d = event.data
    call = as_dict(d.get("call"))
    if event.type == "call.connected":
        outcome = "accepted"
    elif d.get("reason") in OFFER_OUTCOMES and d.get("agent_id"):
        outcome = str(d["reason"])
    else:
        return None
    return {"tenant_id": tenant, "event_id": event.id, "agent_id": str(d["agent_id"]),
            "call_id": str(call["id"]), "queue": str(call["queue"]), "at_ms": event.at_ms,
            "outcome": outcome}


def wrap_row(tenant: str, event: StoredEvent) -> dict[str, Any]:
    d = event.data
    return {"tenant_id": tenant, "event_id": event.id, "call_id": str(d["call_id"]),
            "agent_id": str(d["agent_id"]), "ended_at": to_datetime(event.at_ms),
            "wrap_ms": round(float(d.get("wrap_s") or 0) * 1000)}


def interval_row(tenant: str, event: StoredEvent) -> dict[str, Any] | None:
    d = event.data
    if d.get("previous_since_ms") is None or d.get("previous") is None:
        return None  # a pending after-call request, or an agent's first state
    return {"tenant_id": tenant, "event_id": event.id, "agent_id": str(d["agent_id"]),
            "state": str(d["previous"]), "reason": d.get("previous_reason"),
            "started_at": to_datetime(_ms(d["previous_since_ms"])),
            "ended_at": to_datetime(event.at_ms)}


def insert_for(session: AsyncSession, table: Any) -> Any:
    """An INSERT with ON CONFLICT for the session's dialect (PostgreSQL or SQLite)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))


async def write(session: AsyncSession, tenant: str, events: Sequence[StoredEvent]) -> int:
    """Write what these events say into the history; the rows written (new or replaced)."""
    calls = [call_row(tenant, e) for e in events if e.type in ENDINGS]
    legs = [r for e in events if e.type in ENDINGS for r in leg_rows(tenant, e)]
    offers = [r for e in events if e.type in ("call.connected", "call.requeued")
              if (r := offer_row(tenant, e)) is not None]
    wraps = [wrap_row(tenant, e) for e in events if e.type == "call.wrap_up_ended"]
    intervals = [r for e in events if e.type == "agent.state_changed"
                 if (r := interval_row(tenant, e)) is not None]
    if calls:
        table = CallHistory.__table__
        stmt = insert_for(session, table).values(calls)
        update = {c.name: stmt.excluded[c.name] for c in table.columns
                  if c.name not in ("tenant_id", "call_id")}
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["tenant_id", "call_id"], set_=update))
    if legs:
        table = CallLeg.__table__
        stmt = insert_for(session, table).values(legs)
        update = {c.name: stmt.excluded[c.name] for c in table.columns
                  if c.name not in ("tenant_id", "call_id", "leg")}
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["tenant_id", "call_id", "leg"], set_=update))
    for model, rows in ((WrapUp, wraps), (AgentInterval, intervals), (OfferOutcome, offers)):
        if rows:
            await session.execute(insert_for(session, model.__table__)
                                  .values(rows).on_conflict_do_nothing())
    return len(calls) + len(legs) + len(wraps) + len(intervals) + len(offers)
