"""Who may take a call. Queue membership and the queue's requirements are kept in the
per-queue index of available agents; this checks what is particular to the call."""

from __future__ import annotations

from app.routing.records import AgentSnapshot, CallRecord


def eligible(call: CallRecord, agent: AgentSnapshot) -> bool:
    if call.target_agent is not None:
        return agent.id == call.target_agent
    return all(agent.skills.get(r.skill, 0) >= r.min_level for r in call.requirements)
