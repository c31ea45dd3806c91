"""`skills`: the agent with the highest proficiency (sum of levels on the skills the call and its
queue require, each once) takes a call, tie → longest idle → id; a free agent takes the call it
serves best, tie → rank."""

from __future__ import annotations

from collections.abc import Sequence

from app.routing.longest_idle import LongestIdle
from app.routing.ordering import least_by, needs, proficiency
from app.routing.records import AgentSnapshot, CallRecord
from app.routing.strategy import by_rank


class Skills(LongestIdle):
    name = "skills"

    def pick_agent(
        self, call: CallRecord, candidates: Sequence[AgentSnapshot], now_ms: int
    ) -> AgentSnapshot | None:
        required = needs(call)
        return least_by(candidates, lambda a: -proficiency(a, required))

    def pick_call(
        self, agent: AgentSnapshot, waiting: Sequence[CallRecord], now_ms: int
    ) -> CallRecord | None:
        return min(waiting, key=lambda c: (-proficiency(agent, needs(c)), *by_rank(c)),
                   default=None)
