"""Everything random in a scenario, drawn in advance from its seed: each call's arrival, queue,
priority, talk time and patience, and each agent's shifts and behaviour seed. The runner
only replays it, so the same scenario and seed give the same calls, call by call.

Each purpose draws from its own generator, seeded from (seed, purpose, queue or agent id):
adding an agent, a queue or a patience distribution leaves every other draw as it was.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from app.agents.schemas import Channel
from app.simulation.distributions import Distribution, Empirical
from app.simulation.scenario import PriorityShare, QueueSpec, Scenario, creation_order
from app.simulation.trace import DAY_S, Outcome

MIN_S = 0.001  # a drawn duration rounded to the millisecond stays > 0
RequirementBody = dict[str, str | int]


@dataclass(frozen=True, slots=True)
class PlannedCall:
    external_id: str  # c000001, c000002, ... in arrival order
    queue: str
    at_s: float  # after the start, to the millisecond
    priority: int
    channel: Channel
    requirements: tuple[RequirementBody, ...]  # as in POST /v1/calls
    handle_s: float  # talk once connected, > 0, to the millisecond
    patience_s: float | None  # hangs up if still unanswered after it; None: waits forever
    customer_id: str | None = None  # from a trace


# A PlannedCall but its external id, which comes from its place in time.
_Draft = tuple[str, float, int, Channel, tuple[RequirementBody, ...], float, float | None,
               str | None]


@dataclass(frozen=True, slots=True)
class PlannedAgent:
    id: str
    config: dict[str, object]  # a PUT /v1/agents body
    shifts: tuple[tuple[float, float | None], ...]  # (start_s, end_s); None: to the end
    accept_delay: Distribution | None  # None: offers are accepted at once
    miss_probability: float  # chance that an offer is left to ring out
    seed: int  # for the runner's draws of this agent's behaviour


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    seed: int
    start: datetime
    time_zone: str | None
    duration_s: float  # arrivals stop here (with a trace and no duration_s: its days)
    horizon_s: float  # the last arrival (0 without calls)
    queues: dict[str, dict[str, object]]  # PUT /v1/queues bodies, overflow targets first
    agents: list[PlannedAgent]
    calls: list[PlannedCall]  # by arrival
    skipped_rows: int  # malformed trace rows left out (load_scenario(skip_bad_rows=True))
    skipped_types: dict[str, int]  # trace rows of types mapped to no queue, by type
    skipped_calls: dict[str, int]  # other trace rows left out: phantom, never-queued, after-end


def derive_seed(seed: int, *parts: str) -> int:
    """A 64-bit seed for one purpose; hashing keeps it independent of every other."""
    digest = hashlib.sha256("\x1f".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _rng(seed: int, *parts: str) -> random.Random:
    return random.Random(derive_seed(seed, *parts))


def _ms(seconds: float) -> float:
    return max(round(seconds, 3), MIN_S)


def plan(scenario: Scenario, seed: int | None = None) -> Plan:
    """The scenario's calls and agents, drawn from `seed` (default: the scenario's)."""
    seed = scenario.seed if seed is None else seed
    trace = scenario.trace
    duration_s = scenario.duration_s or (len(trace.days) * float(DAY_S) if trace else 0.0)
    drafts: list[_Draft] = []
    for q in scenario.queues:
        drafts += _poisson_calls(q, duration_s, seed)
    skipped_types: Counter[str] = Counter()
    skipped_calls: Counter[str] = Counter()
    if trace is not None:
        drafts += _trace_calls(scenario, seed, skipped_types, skipped_calls)
    drafts.sort(key=lambda d: d[1])  # stable: ties keep queue order, then the trace's
    calls = [PlannedCall(f"c{n:06d}", *d) for n, d in enumerate(drafts, 1)]
    agents = [
        PlannedAgent(
            id=agent_id, config=group.config.model_dump(mode="json"),
            shifts=tuple((s.start_s, s.end_s) for s in group.shifts) or ((0.0, None),),
            accept_delay=group.accept_delay, miss_probability=group.miss_probability,
            seed=derive_seed(seed, "agent", agent_id))
        for group in scenario.agents for agent_id in group.ids]
    return Plan(
        name=scenario.name, seed=seed, start=scenario.start, time_zone=scenario.time_zone,
        duration_s=duration_s, horizon_s=calls[-1].at_s if calls else 0.0,
        queues={q.id: q.config.model_dump(mode="json") for q in creation_order(scenario)},
        agents=agents, calls=calls,
        skipped_rows=trace.skipped_rows if trace else 0,
        skipped_types=dict(sorted(skipped_types.items())),
        skipped_calls=dict(sorted(skipped_calls.items())))


def _poisson_calls(q: QueueSpec, duration_s: float, seed: int) -> list[_Draft]:
    if q.arrivals is None or q.handle_time is None:
        return []
    arrivals = _rng(seed, "arrivals", q.id)
    handle, patience, priority = (_rng(seed, purpose, q.id)
                                  for purpose in ("handle", "patience", "priority"))
    requirements = _requirements(q)
    return [(q.id, round(at_s, 3), _priority(q.priorities, priority), q.channel, requirements,
             _ms(q.handle_time.sample(handle)),
             None if q.patience is None else _ms(q.patience.sample(patience)), None)
            for at_s in poisson_times(q.arrivals.poisson.intervals(duration_s), arrivals)]


def poisson_times(intervals: Iterable[tuple[float, float, float]],
                  rng: random.Random) -> list[float]:
    """Arrival times of a Poisson process whose rate is constant in each (start_s, end_s,
    rate per hour) interval: exponential gaps, started afresh at each interval's start,
    which the process's lack of memory makes exact."""
    times = []
    for start_s, end_s, rate_per_hour in intervals:
        if rate_per_hour <= 0:
            continue
        at = start_s + rng.expovariate(rate_per_hour / 3600)
        while at < end_s:
            times.append(at)
            at += rng.expovariate(rate_per_hour / 3600)
    return times


def _priority(shares: list[PriorityShare], rng: random.Random) -> int:
    if not shares:
        return 0
    u, total = rng.random(), 0.0
    for share in shares:
        total += share.share
        if u < total:
            return share.priority
    return shares[-1].priority  # the shares' rounding


def _requirements(q: QueueSpec) -> tuple[RequirementBody, ...]:
    return tuple({"skill": r.skill, "min_level": r.min_level} for r in q.requirements)


def _trace_calls(scenario: Scenario, seed: int, skipped_types: Counter[str],
                 skipped_calls: Counter[str]) -> list[_Draft]:
    """The replayed days' calls: arrival when it queued (or, never queued, when an agent
    took it), its real talk time if served, its real time in queue as patience if it hung
    up. A call that hung up never talked: its talk time is drawn from the queue's
    handle_time, or else from the talk times of the calls served in that queue."""
    trace = scenario.trace
    assert trace is not None
    specs = {q.id: q for q in scenario.queues}
    served = trace.served_times()
    unserved_talk = {
        q.id: q.handle_time or Distribution(empirical=Empirical(values_s=served[q.id]))
        for q in scenario.queues if q.handle_time is not None or served.get(q.id)}
    rngs: dict[str, random.Random] = {}
    calls: list[_Draft] = []
    for day, row in trace.replayed():
        queue = trace.queues.get(row.type)
        if queue is None:
            skipped_types[row.type] += 1
            continue
        arrival_s = row.arrival_s
        if row.outcome is Outcome.phantom:
            skipped_calls["phantom"] += 1
            continue
        if arrival_s is None:
            skipped_calls["never-queued"] += 1
            continue
        at_s = float(day * DAY_S + arrival_s)
        if scenario.duration_s is not None and at_s >= scenario.duration_s:
            skipped_calls["after-end"] += 1
            continue
        if row.outcome is Outcome.agent:
            # whole seconds in the file: a 0 is under a second
            handle_s, patience_s = float(max(row.service_time_s, 1)), None
        else:
            rng = rngs.setdefault(queue, _rng(seed, "trace-handle", queue))
            handle_s = _ms(unserved_talk[queue].sample(rng))
            patience_s = _ms(float(row.queue_time_s))
        calls.append((queue, at_s, row.priority, specs[queue].channel,
                      _requirements(specs[queue]), handle_s, patience_s, row.customer_id))
    return calls
