"""An example third-party strategy: agents in alphabetical order of id, calls in routing order.

Installed by the test suite (`pip install -e tests/plugin_example`), registered through the
`switchboard.strategies` entry-point group, and selected by a queue with
`"strategy": "alphabetical"`.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.routing.records import AgentSnapshot, CallRecord
from app.routing.strategy import by_rank


class Alphabetical:
    def pick_agent(
        self, call: CallRecord, candidates: Sequence[AgentSnapshot], now_ms: int
    ) -> AgentSnapshot | None:
        return min(candidates, key=lambda a: a.id, default=None)

    def pick_call(
        self, agent: AgentSnapshot, waiting: Sequence[CallRecord], now_ms: int
    ) -> CallRecord | None:
        return min(waiting, key=by_rank, default=None)
