"""The call lifecycle (DESIGN §3.4): each verb is one script, then whoever it woke is routed."""

from __future__ import annotations

from app.calls.schemas import (
    CallCreate,
    CallPatch,
    CallView,
    Complete,
    OfferAnswer,
    Reject,
    Transfer,
)
from app.clock import at
from app.errors import SwitchboardError, conflict, invalid, not_found
from app.history.models import CallHistory
from app.routing.records import CallRecord
from app.runtime import Runtime
from app.store import reads
from app.store.records import Reply, Waiting


def estimated_wait_s(waiting: Waiting | None) -> float | None:
    """The engine's estimate (app/store/lua/staffing.lua `staffing_for`), in seconds; None
    while the queue has no handle times yet or nobody eligible is at work."""
    if waiting is None or waiting.estimate_ms is None:
        return None
    return round(waiting.estimate_ms / 1000, 3)


def call_view(call: CallRecord, position: int | None = None,
              waiting: Waiting | None = None) -> CallView:
    queued = call.state == "queued"
    offer = call.offer
    return CallView.model_validate({
        "id": call.id, "external_id": call.external_id, "queue": call.queue,
        "state": call.state, "priority": call.priority, "channel": call.channel,
        "caller": call.caller,
        "requirements": [{"skill": r.skill, "min_level": r.min_level}
                         for r in call.requirements],
        "attributes": call.attributes,
        "position": position if queued else None,
        "estimated_wait_s": estimated_wait_s(waiting) if queued else None,
        "waiting_reason": waiting.reason if queued and waiting else None,
        "waiting": {"reason": waiting.reason, "agents_logged_in": waiting.agents_logged_in,
                    "agents_eligible": waiting.agents_eligible,
                    "agents_eligible_available": waiting.agents_eligible_available,
                    "agents_working": waiting.agents_working,
                    "aht_s": round(waiting.aht_ms / 1000, 3) if waiting.aht_ms else None}
        if queued and waiting else None,
        "offer": {"id": offer.id, "agent_id": offer.agent_id,
                  "offered_at": at(offer.offered_ms),
                  "expires_at": at(offer.expires_ms)} if offer else None,
        "agent_id": call.agent_id,
        "transfer_agent_id": call.target_agent
        if queued and call.preferred_until_ms is None else None,
        "preferred_agent_id": call.target_agent if queued and call.preferred_until_ms else None,
        "preferred_until": at(call.preferred_until_ms) if queued else None,
        "arrived_at": at(call.arrived_ms), "queued_at": at(call.entered_ms),
        "connected_at": at(call.connected_ms), "ended_at": at(call.ended_ms),
        "talk_s": None if call.talk_ms is None else call.talk_ms / 1000,
        "transfers": call.transfers, "overflows": call.overflows,
        "missed_offers": call.missed_offers, "resolved": call.resolved,
        "disposition": call.disposition, "csat": call.csat,
    })


def _raise_for(reply: Reply, call_id: str) -> None:
    err, d = reply.error, reply.details
    if err is None:
        return
    state = d.get("state")
    if err == "call-not-found":
        raise not_found("call", call_id)
    if err == "unknown-queue":
        raise invalid("queue", f"unknown queue {d.get('queue')!r}")
    if err == "unknown-preferred-agent":
        raise invalid("preferred_agent.agent_id", f"unknown agent {d.get('agent_id')!r}")
    if err == "unknown-agent":
        raise invalid("agent_id", f"unknown agent {d.get('agent_id')!r}")
    if err == "queue-full":
        raise conflict("queue-full", "Queue is full",
                       f"Queue {d.get('queue')!r} holds its max_size of {d.get('max_size')} "
                       "waiting calls.", queue=d.get("queue"), max_size=d.get("max_size"))
    if err == "call-state":
        raise conflict("call-state-conflict", "Not in this call state",
                       f"Call {call_id!r} is {state}; this request does not apply.",
                       call_id=call_id, state=state)
    if err == "offer-mismatch":
        raise conflict("offer-not-current", "Offer is not current",
                       f"That offer of call {call_id!r} is no longer open (rescinded, expired "
                       "or answered); the call is " + str(state) + ".",
                       call_id=call_id, state=state)
    if err == "offer-expired":
        raise conflict("offer-expired", "Offer expired",
                       f"The offer of call {call_id!r} passed its deadline.",
                       call_id=call_id, state=state)
    if err == "agent-offline":
        raise conflict("agent-offline", "Agent is offline",
                       f"Agent {d.get('agent_id')!r} is offline and cannot take a transfer.",
                       agent_id=d.get("agent_id"), state=state)
    if err == "transfer-to-self":
        raise conflict("transfer-to-self", "Transfer to the same agent",
                       f"Call {call_id!r} is already with that agent.", state=state)
    raise SwitchboardError(500, "internal-error", "Internal error", f"unexpected {err!r}")


async def _explained(rt: Runtime, tenant: str, call: CallRecord) -> CallView:
    if call.state != "queued":
        return call_view(call)
    reply = await rt.run("explain", tenant, {"call_ids": [call.id]}, queues=[call.queue])
    if not reply.items:
        return call_view(call)
    item = reply.items[0]
    return call_view(item.call, item.position, item.waiting)


async def _routed(rt: Runtime, tenant: str, reply: Reply, call_id: str, *,
                  explain: bool = True) -> CallView:
    """Route whoever the verb woke, then show the call as it now stands (with why it waits,
    unless `explain` is False)."""
    _raise_for(reply, call_id)
    outcome = await rt.settle(tenant, reply)
    call = outcome.offered.get(call_id) or reply.call
    if call is None:
        raise not_found("call", call_id)
    if explain and call.state == "queued" and call_id not in outcome.offered:
        return await _explained(rt, tenant, call)
    return call_view(call)


async def create_call(rt: Runtime, tenant: str, body: CallCreate, *,
                      explain: bool = True) -> tuple[CallView, bool]:
    """The call, and whether it is new (False: the external_id was seen before). A caller
    that has no use for why a waiting call waits (the simulator) passes `explain=False` and
    saves the script that reads it."""
    fields = body.model_dump(mode="json", exclude_none=True)
    fields.setdefault("external_id", None)
    reply = await rt.run("enqueue", tenant, {"call": fields}, queues=[body.queue])
    _raise_for(reply, "")
    if reply.repeated and reply.call is not None:
        return (await _explained(rt, tenant, reply.call) if explain
                else call_view(reply.call)), False
    assert reply.call is not None
    return await _routed(rt, tenant, reply, reply.call.id, explain=explain), True


async def get_call(rt: Runtime, tenant: str, call_id: str) -> CallView:
    call = await reads.call(rt.redis, tenant, call_id)
    if call is None:
        # Ended calls leave Redis after SWITCHBOARD_ENDED_CALL_RETENTION_S; the history keeps them.
        async with rt.db.sessions() as session:
            row = await session.get(CallHistory, (tenant, call_id))
        if row is None:
            raise not_found("call", call_id)
        return call_view(CallRecord.parse(row.call))
    return await _explained(rt, tenant, call)


async def list_calls(rt: Runtime, tenant: str, queue: str | None, state: str | None,
                     limit: int) -> list[CallView]:
    calls = await reads.calls(rt.redis, tenant, queue=queue, state=state, limit=limit)
    waiting = [c for c in calls if c.state == "queued"]
    explained = {}
    if waiting:
        reply = await rt.run("explain", tenant, {"call_ids": [c.id for c in waiting]},
                             queues=sorted({c.queue for c in waiting}))
        explained = {i.call.id: i for i in reply.items}
    views = []
    for c in calls:
        item = explained.get(c.id)
        views.append(call_view(item.call, item.position, item.waiting) if item else call_view(c))
    return views


async def accept(rt: Runtime, tenant: str, call_id: str, body: OfferAnswer) -> CallView:
    reply = await rt.run("accept", tenant, {"call_id": call_id, "offer_id": body.offer_id})
    return await _routed(rt, tenant, reply, call_id)


async def reject(rt: Runtime, tenant: str, call_id: str, body: Reject) -> CallView:
    reply = await rt.run("reject", tenant, {"call_id": call_id, "offer_id": body.offer_id,
                                            "reason": body.reason})
    return await _routed(rt, tenant, reply, call_id)


async def abandon(rt: Runtime, tenant: str, call_id: str) -> CallView:
    reply = await rt.run("abandon", tenant, {"call_id": call_id})
    return await _routed(rt, tenant, reply, call_id)


async def complete(rt: Runtime, tenant: str, call_id: str, body: Complete) -> CallView:
    reply = await rt.run("complete", tenant, {"call_id": call_id,
                                              **body.model_dump(exclude_none=True)})
    return await _routed(rt, tenant, reply, call_id)


async def transfer(rt: Runtime, tenant: str, call_id: str, body: Transfer) -> CallView:
    reply = await rt.run("transfer", tenant, {"call_id": call_id, "queue": body.queue,
                                              "agent_id": body.agent_id},
                         queues=[body.queue] if body.queue else [])
    return await _routed(rt, tenant, reply, call_id)


async def patch(rt: Runtime, tenant: str, call_id: str, body: CallPatch) -> CallView:
    request: dict[str, object] = {"call_id": call_id}
    if body.priority is not None:
        request["priority"] = body.priority
    if body.requirements is not None:
        request["requirements"] = [r.model_dump() for r in body.requirements]
    if body.attributes is not None:
        request["attributes"] = body.attributes
    reply = await rt.run("patch", tenant, request)
    return await _routed(rt, tenant, reply, call_id)
