"""`round-robin`: the next agent by id after the queue's cursor (the agent last offered a call of
the queue), wrapping to the smallest id; a free agent takes the best-ranked call."""

from __future__ import annotations

from collections.abc import Sequence

from app.routing.longest_idle import LongestIdle
from app.routing.records import AgentSnapshot, CallRecord


class RoundRobin(LongestIdle):
    name = "round-robin"

    def pick_agent(
        self, call: CallRecord, candidates: Sequence[AgentSnapshot], now_ms: int
    ) -> AgentSnapshot | None:
        ordered = sorted(candidates, key=lambda a: a.id)
        cursor = call.cursor
        if cursor is not None:
            for candidate in ordered:
                if candidate.id > cursor:
                    return candidate
        return ordered[0] if ordered else None
