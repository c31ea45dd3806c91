"""Who may take a call. Queue membership and the queue's loosest requirements are kept in the
per-queue index of available agents; this checks room for the call's channel, and the call's
requirements and its queue's at the call's relaxation step (`effective_requirements`,
computed with the candidates)."""

from __future__ import annotations

from app.routing.records import AgentSnapshot, CallRecord


def eligible(call: CallRecord, agent: AgentSnapshot) -> bool:
    if call.channel not in agent.rooms:
        return False
    if call.target_agent is not None:
        return agent.id == call.target_agent
    needed = call.effective_requirements
    if needed is None:
        needed = call.requirements
    return all(agent.skills.get(r.skill, 0) >= r.min_level for r in needed)
