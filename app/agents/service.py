"""Agents: configuration in SQL projected into Redis, and the agent state machine."""

from __future__ import annotations

from app.agents.schemas import Agent, AgentConfig, AgentStateChange
from app.clock import at, to_datetime
from app.db import repositories as repo
from app.errors import SwitchboardError, conflict, invalid, not_found
from app.projection import agent_request
from app.routing.records import as_dict, as_list
from app.runtime import Runtime
from app.store import reads
from app.store.records import AgentLive


def agent_view(agent_id: str, config: dict[str, object], version: int, live: AgentLive,
               today: reads.AgentDay | None = None) -> Agent:
    pending = ({"state": live.pending_state, "reason": live.pending_reason}
               if live.pending_state else None)
    return Agent.model_validate({
        **config, "id": agent_id, "version": version, "state": live.state, "reason": live.reason,
        "idle_since": at(live.idle_since_ms) if live.state == "available" else None,
        "state_since": at(live.state_since_ms), "call_id": live.call_id,
        "offer_id": live.offer_id, "missed_offers_in_row": live.missed_in_row,
        "contacts": [{"call_id": c.call_id, "channel": c.channel, "stage": c.stage,
                      "offer_id": c.offer_id} for c in live.contacts],
        "pending": pending,
        "today": None if today is None else _today(today),
    })


def _today(day: reads.AgentDay) -> dict[str, float]:
    worked = day.talk_ms + day.wrap_ms
    return {"calls_handled": day.calls_handled, "talk_s": day.talk_ms / 1000,
            "wrap_up_s": day.wrap_ms / 1000, "available_s": day.available_ms / 1000,
            "occupancy": round(worked / (worked + day.available_ms), 6)
            if worked + day.available_ms > 0 else 0.0,
            "missed_offers": day.missed_offers}


async def put_agent(rt: Runtime, tenant: str, agent_id: str, body: AgentConfig) -> Agent:
    config = body.model_dump(mode="json")
    async with rt.db.sessions.begin() as session:
        known = {q.id for q in await repo.list_configs(session, "queue", tenant)}
        unknown = [q for q in body.queues if q not in known]
        if unknown:
            raise invalid("queues", f"unknown queue(s): {', '.join(map(repr, unknown))}")
        version = await repo.put_config(session, "agent", tenant, agent_id, config,
                                        to_datetime(rt.clock.now_ms()))
    reply = await rt.run("upsert_agent", tenant, agent_request(agent_id, config, version),
                         queues=sorted(known), agent=agent_id)
    await rt.settle(tenant, reply)
    return await get_agent(rt, tenant, agent_id)


async def get_agent(rt: Runtime, tenant: str, agent_id: str) -> Agent:
    async with rt.db.sessions() as session:
        row = await repo.get_config(session, "agent", tenant, agent_id)
    if row is None:
        raise not_found("agent", agent_id)
    [live] = await reads.agents_live(rt.redis, tenant, [agent_id])
    now = await reads.tenant_now_ms(rt.redis, tenant, rt.clock.now_ms())
    [today] = await reads.agent_days(rt.redis, tenant, [agent_id], now)
    return agent_view(agent_id, row.config, row.version, live, today)


async def list_agents(rt: Runtime, tenant: str, state: str | None) -> list[Agent]:
    async with rt.db.sessions() as session:
        rows = await repo.list_configs(session, "agent", tenant)
    ids = [r.id for r in rows]
    lives = await reads.agents_live(rt.redis, tenant, ids)
    now = await reads.tenant_now_ms(rt.redis, tenant, rt.clock.now_ms())
    days = await reads.agent_days(rt.redis, tenant, ids, now)
    views = [agent_view(r.id, r.config, r.version, live, day)
             for r, live, day in zip(rows, lives, days, strict=True)]
    return [v for v in views if state is None or v.state == state]


async def delete_agent(rt: Runtime, tenant: str, agent_id: str) -> None:
    async with rt.db.sessions.begin() as session:
        if not await repo.delete_config(session, "agent", tenant, agent_id):
            raise not_found("agent", agent_id)
        reply = await rt.run("delete_agent", tenant, {"agent_id": agent_id}, agent=agent_id)
        if reply.error == "agent-busy":
            state = reply.details.get("from")
            raise conflict("agent-busy", "Agent is busy",
                           f"Agent {agent_id!r} is {state}; it can be deleted when it holds "
                           "no call.", agent_id=agent_id, state=state)
        if reply.error not in (None, "agent-not-found"):
            raise SwitchboardError(500, "internal-error", "Internal error", str(reply.error))


async def set_state(rt: Runtime, tenant: str, agent_id: str, body: AgentStateChange) -> Agent:
    reply = await rt.run("agent_state", tenant, {
        "agent_id": agent_id, "state": body.state, "reason": body.reason,
        "after_call": body.after_call}, agent=agent_id)
    if reply.error == "agent-not-found":
        raise not_found("agent", agent_id)
    if reply.error in ("agent-busy", "illegal-transition"):
        before, after = reply.details.get("from"), reply.details.get("to")
        busy = reply.error == "agent-busy"
        raise conflict(
            str(reply.error), "Agent is busy" if busy else "Illegal state transition",
            f"Agent {agent_id!r} is {before} and cannot go {after}"
            + (" now; send after_call: true to apply it when the call ends." if busy else "."),
            agent_id=agent_id, state=before, requested=after)
    outcome = await rt.settle(tenant, reply)
    live = outcome.agents.get(agent_id) or reply.agent or AgentLive()  # as routing left it
    # The projected configuration came back with the reply: no SQL on the routing path.
    projected = as_dict(reply.details.get("config"))
    # Lua's cjson cannot tell an empty list from an empty object: restore them by field.
    config = {"name": projected.get("name"), "queues": as_list(projected.get("queues")),
              **{k: as_dict(projected.get(k)) for k in ("skills", "capacity", "attributes")}}
    return agent_view(agent_id, config, int(projected.get("version") or 0), live)
