"""`longest-idle`: the longest-idle agent takes a call; a free agent takes the best-ranked call."""

from __future__ import annotations

from collections.abc import Sequence

from app.routing.records import AgentSnapshot, CallRecord
from app.routing.strategy import by_idle, by_rank


class LongestIdle:
    name = "longest-idle"

    def pick_agent(
        self, call: CallRecord, candidates: Sequence[AgentSnapshot], now_ms: int
    ) -> AgentSnapshot | None:
        return min(candidates, key=by_idle, default=None)

    def pick_call(
        self, agent: AgentSnapshot, waiting: Sequence[CallRecord], now_ms: int
    ) -> CallRecord | None:
        return min(waiting, key=by_rank, default=None)
