"""The strategy plug point (DESIGN §4).

A strategy makes two decisions, both pure: time arrives as an argument, randomness from a seed
derived from the decision's inputs. Candidates given to a strategy are already eligible (queue
membership, requirements, transfer target), so a strategy only orders them. Ties end on agent id,
then call id, so every decision is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.routing.records import AgentSnapshot, CallRecord


class Strategy(Protocol):
    def pick_agent(
        self, call: CallRecord, candidates: Sequence[AgentSnapshot], now_ms: int
    ) -> AgentSnapshot | None:
        """The agent for a call that arrived or came back to its queue."""
        ...

    def pick_call(
        self, agent: AgentSnapshot, waiting: Sequence[CallRecord], now_ms: int
    ) -> CallRecord | None:
        """The call for an agent that became free, over all the agent's queues."""
        ...


def by_rank(call: CallRecord) -> tuple[float, int, str]:
    """Routing order: rank (priority and arrival, see DESIGN §3.2), then arrival, then id."""
    return (call.rank, call.arrived_ms, call.id)


def by_idle(agent: AgentSnapshot) -> tuple[int, int, str]:
    """Longest idle: fewest calls in hand (only chats and e-mails share an agent), then the
    earliest `idle_since`, then id."""
    return (agent.contacts, agent.idle_since_ms, agent.id)
