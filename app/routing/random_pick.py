"""`random`: an agent uniformly among the candidates, from a generator seeded with the call id and
the decision time (same inputs, same pick); a free agent takes the best-ranked call."""

from __future__ import annotations

import random
from collections.abc import Sequence

from app.routing.longest_idle import LongestIdle
from app.routing.records import AgentSnapshot, CallRecord


class RandomPick(LongestIdle):
    name = "random"

    def pick_agent(
        self, call: CallRecord, candidates: Sequence[AgentSnapshot], now_ms: int
    ) -> AgentSnapshot | None:
        if not candidates:
            return None
        rng = random.Random(f"{call.id}|{now_ms}")
        return rng.choice(sorted(candidates, key=lambda a: a.id))
