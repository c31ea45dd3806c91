"""The dispatcher: asks a strategy, commits through one script, retries a lost race.

A wake-up (a call or an agent that became routable) arrives with the other side's best
candidates, read in the same atomic step. The strategy ranks them (its pick, then its pick of
the rest, ...); `claim` commits the first pair where the call still waits and the agent is
still free, in one round trip even when concurrent decisions wanted the same agent. When the
whole page was taken meanwhile, a fresh page is read. Nothing here waits on anything but Redis.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from app.metrics import Metrics
from app.routing.eligibility import eligible
from app.routing.records import AgentSnapshot, CallRecord
from app.routing.registry import StrategyRegistry
from app.routing.strategy import Strategy, by_rank
from app.store.records import AgentLive, AgentWake, CallWake, Reply, Wake
from app.store.scripts import Store

MAX_PAGES = 8  # fresh candidate pages per wake-up before the reconciler takes over
MAX_PAGE = 256  # a page read after a lost race doubles, up to this many candidates
# The two decisions of a strategy (DESIGN §4), as the metrics label them.
PICK_AGENT, PICK_CALL = "pick_agent", "pick_call"


@dataclass(slots=True)
class Outcome:
    """What routing did: the offers committed (by call id), the agents they went to as each
    stands after its latest offer (by agent id), and the races lost."""

    offered: dict[str, CallRecord] = field(default_factory=dict)
    agents: dict[str, AgentLive] = field(default_factory=dict)
    conflicts: int = 0


T = TypeVar("T")


def ranking(candidates: list[T], pick: Callable[[list[T]], T | None]) -> list[T]:
    """The strategy's order of preference: its pick, then its pick among the rest, ..."""
    rest, ranked = list(candidates), []
    while rest:
        choice = pick(rest)
        if choice is None:
            break
        ranked.append(choice)
        rest.remove(choice)
    return ranked


def _pick_agent(strategy: Strategy, call: CallRecord, now_ms: int,
                candidates: list[AgentSnapshot]) -> AgentSnapshot | None:
    return strategy.pick_agent(call, candidates, now_ms)


class Dispatcher:
    def __init__(self, store: Store, strategies: StrategyRegistry, metrics: Metrics) -> None:
        self.store = store
        self.strategies = strategies
        self.metrics = metrics

    async def settle(self, tenant: str, wakes: Iterable[Wake], now_ms: int) -> Outcome:
        outcome = Outcome()
        pending: deque[Wake] = deque(wakes)
        while pending:
            wake = pending.popleft()
            if isinstance(wake, CallWake):
                reply = await self._route_call(tenant, wake, now_ms, outcome)
            else:
                reply = await self._route_agent(tenant, wake, now_ms, outcome)
            if reply is not None and reply.call is not None:
                decision = PICK_AGENT if isinstance(wake, CallWake) else PICK_CALL
                self.metrics.decisions.labels(tenant, decision).inc()
                outcome.offered[reply.call.id] = reply.call
                agent_id = reply.call.agent_id or (reply.call.offer and reply.call.offer.agent_id)
                if agent_id and reply.agent is not None:
                    outcome.agents[agent_id] = reply.agent
                pending.extend(reply.wake)
        return outcome

    async def _claim(self, tenant: str, calls: list[CallRecord],
                     agents: list[AgentSnapshot]) -> Reply:
        """Commit the first still-possible pair, in the strategy's order of preference."""
        return await self.store.run(
            "claim", tenant, {"call_ids": [c.id for c in calls],
                              "agent_ids": [a.id for a in agents]},
            queues=sorted({c.queue for c in calls}),
            agent=agents[0].id if len(agents) == 1 else None,
        )

    async def _route_call(
        self, tenant: str, wake: CallWake, now_ms: int, outcome: Outcome
    ) -> Reply | None:
        strategy = self.strategies.get(wake.strategy)
        call, agents, offset, limit = wake.call, wake.agents, 0, self.store.candidate_limit
        for _ in range(MAX_PAGES):
            candidates = [a for a in agents if eligible(call, a)]
            ranked = ranking(candidates, partial(_pick_agent, strategy, call, now_ms))
            if ranked:
                reply = await self._claim(tenant, [call], ranked)
                if reply.error is None:
                    return reply
                outcome.conflicts += 1
                self.metrics.claim_conflicts.labels(tenant, PICK_AGENT).inc()
                if reply.details.get("side") == "call":
                    return None
            elif len(agents) < limit:
                return None  # every available agent was looked at
            # Every candidate was taken meanwhile: read afresh, a wider page (concurrent
            # decisions want the same few agents). None was eligible: read on.
            offset, limit = (0, min(limit * 2, MAX_PAGE)) if ranked else (offset + limit, limit)
            fresh = await self.store.run(
                "peek", tenant, {"call_id": call.id, "offset": offset, "limit": limit},
                queues=[call.queue])
            page = next((w for w in fresh.wake if isinstance(w, CallWake)), None)
            if page is None:
                return None
            call, agents = page.call, page.agents
        return None

    async def _route_agent(
        self, tenant: str, wake: AgentWake, now_ms: int, outcome: Outcome
    ) -> Reply | None:
        agent, calls, offset, limit = wake.agent, wake.calls, 0, self.store.candidate_limit
        for _ in range(MAX_PAGES):
            candidates = list({c.id: c for c in calls if eligible(c, agent)}.values())
            ranked = ranking(candidates, partial(self._pick_call, wake, agent, now_ms))
            if ranked:
                reply = await self._claim(tenant, ranked, [agent])
                if reply.error is None:
                    return reply
                outcome.conflicts += 1
                self.metrics.claim_conflicts.labels(tenant, PICK_CALL).inc()
                if reply.details.get("side") == "agent":
                    return None
            elif len(calls) < limit:
                return None
            offset, limit = (0, min(limit * 2, MAX_PAGE)) if ranked else (offset + limit, limit)
            fresh = await self.store.run(
                "peek", tenant, {"agent_id": agent.id, "offset": offset, "limit": limit},
                agent=agent.id)
            page = next((w for w in fresh.wake if isinstance(w, AgentWake)), None)
            if page is None:
                return None
            wake, agent, calls = page, page.agent, page.calls
        return None

    def _pick_call(self, wake: AgentWake, agent: AgentSnapshot, now_ms: int,
                   calls: list[CallRecord]) -> CallRecord | None:
        return self._strategy_for(wake, calls).pick_call(agent, calls, now_ms)

    def _strategy_for(self, wake: AgentWake, calls: Iterable[CallRecord]) -> Strategy:
        """Across queues, the strategy of the queue holding the best-ranked eligible call."""
        head = min(calls, key=by_rank)
        return self.strategies.get(head.strategy or wake.strategies.get(head.queue,
                                                                        "longest-idle"))
