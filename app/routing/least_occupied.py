"""`least-occupied`: the agent with the lowest occupancy today takes a call,
tie → longest idle → id; a free agent takes the best-ranked call."""

from __future__ import annotations

from collections.abc import Sequence

from app.routing.longest_idle import LongestIdle
from app.routing.ordering import least_by
from app.routing.records import AgentSnapshot, CallRecord


class LeastOccupied(LongestIdle):
    name = "least-occupied"

    def pick_agent(
        self, call: CallRecord, candidates: Sequence[AgentSnapshot], now_ms: int
    ) -> AgentSnapshot | None:
        return least_by(candidates, lambda a: a.occupancy_today)
