"""The engine against an independent simulator and against queueing theory
(docs/simulation-validation.md).

`draw` makes a trace of calls, every time already in whole milliseconds (the engine's unit);
`Replay` (app/simulation/replay.py) runs it through the engine, `ciw_waits` through the Ciw
simulator (PyPI `ciw`, Palmer et al., J. Simulation 13(1), 2019), and `compare` lists the calls
whose wait or outcome differ. In a single pool with FIFO inside strict priority classes a
call's wait does not depend on which free agent takes it, so the two must agree call by call.
`cobham` and `kpis` are for the statistical checks against the Erlang C / A formulas
(app/staffing/erlang.py) and Cobham's priority formula.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

import ciw

from app.simulation.replay import Arrival, Outcome
from app.staffing import erlang

HIGH = 5  # the priority of the high class; the other calls have 0 (higher goes first)

# What happens at a millisecond, for the search of coinciding events.
_END, _DEADLINE, _ARRIVAL = 0, 1, 2
_NUDGE_MS = 1


@dataclass(frozen=True, slots=True)
class CiwResult:
    wait_s: float  # until answered, or until the caller hung up
    answered: bool


def draw(seed: int, calls: int, agents: int, aht_s: float, load: float,
         patience_s: float | None = None, high_share: float = 0.0) -> list[Arrival]:
    """`calls` Poisson arrivals at load·N/AHT per second with exponential handle times (mean
    AHT) and, if `patience_s` is given, exponential patience with that mean; each call is of
    priority HIGH with probability `high_share`, else 0.

    Every time is rounded to the millisecond and is at least 1 ms. Then no two events may
    fall on the same millisecond — an arrival, the end of a conversation, a waiting caller's
    patience running out — since the order of simultaneous events is a convention (the
    replay ends talks first, Ciw picks at random) and would decide who is served first or
    whether a caller hangs up. The trace is run through a small integer-millisecond model of
    the queue; at the first millisecond shared by two events, one of them is moved 1 ms later
    (a handle time, else a patience, else the later arrival) and the trace is run again, until
    none coincide. Moving an event by 1 ms in ~10⁵ s of traffic changes no statistic.
    """
    rng = random.Random(seed)
    rate_per_s = load * agents / aht_s
    at_s, out = 0.0, []
    for _ in range(calls):
        at_s += rng.expovariate(rate_per_s)
        handle_s = _ms(rng.expovariate(1 / aht_s))
        patience = None if patience_s is None else _ms(rng.expovariate(1 / patience_s))
        priority = HIGH if rng.random() < high_share else 0
        out.append(Arrival(round(at_s, 3), handle_s, patience, priority))
    return _separate(out, agents)


def _ms(seconds: float) -> float:
    return max(round(seconds, 3), 0.001)


def _separate(calls: list[Arrival], agents: int) -> list[Arrival]:
    for _ in range(len(calls) + 1000):
        tie = _first_tie(_timeline(calls, agents))
        if tie is None:
            return calls
        kind, i = min(tie)  # move an end if there is one, else a deadline, else an arrival:
        if kind == _ARRIVAL:  # the later one, which keeps the arrivals in order
            i = max(j for k, j in tie if k == _ARRIVAL)
        c = calls[i]
        if kind == _END:
            calls[i] = replace(c, handle_s=round(c.handle_s + _NUDGE_MS / 1000, 3))
        elif kind == _DEADLINE:
            assert c.patience_s is not None
            calls[i] = replace(c, patience_s=round(c.patience_s + _NUDGE_MS / 1000, 3))
        else:
            calls[i] = replace(c, at_s=round(c.at_s + _NUDGE_MS / 1000, 3))
    raise RuntimeError("could not separate the events of the trace")


def _timeline(calls: Sequence[Arrival], agents: int) -> list[tuple[int, int, int]]:
    """(ms, kind, call) of every event of the trace in a single pool, strict priority, FIFO
    inside a priority. Simultaneous events are taken in any order: only the first millisecond
    they share is used, and everything before it does not depend on that order."""
    agenda: list[tuple[int, int, int]] = []
    for i, c in enumerate(calls):
        agenda.append((_to_ms(c.at_s), _ARRIVAL, i))
    heapq.heapify(agenda)
    waiting: list[tuple[int, int, int]] = []  # (-priority, arrived, call)
    connected: dict[int, int] = {}
    gone: set[int] = set()
    free = agents
    seen: list[tuple[int, int, int]] = []

    def connect(i: int, at: int) -> None:
        connected[i] = at
        heapq.heappush(agenda, (at + _to_ms(calls[i].handle_s), _END, i))

    while agenda:
        at, kind, i = heapq.heappop(agenda)
        c = calls[i]
        if kind == _ARRIVAL:
            seen.append((at, kind, i))
            if free:
                free -= 1
                connect(i, at)
            else:
                heapq.heappush(waiting, (-c.priority, at, i))
                if c.patience_s is not None:
                    heapq.heappush(agenda, (at + _to_ms(c.patience_s), _DEADLINE, i))
        elif kind == _END:
            seen.append((at, kind, i))
            free += 1
            while waiting and free:
                _, _, j = heapq.heappop(waiting)
                if j not in gone:
                    free -= 1
                    connect(j, at)
        elif connected.get(i, at) >= at:  # a deadline that did not pass while connected
            seen.append((at, kind, i))
            if i not in connected:
                gone.add(i)
    return seen


def _first_tie(events: list[tuple[int, int, int]]) -> list[tuple[int, int]] | None:
    events = sorted(events)
    for (a, _, _), (b, _, _) in pairwise(events):
        if a == b:
            return [(kind, i) for t, kind, i in events if t == a]
    return None


def _to_ms(seconds: float) -> int:
    return round(seconds * 1000)


class _Given:
    """A Ciw distribution that hands out given values. Ciw only calls `sample` and `_sample`
    (and sets `simulation`), so no base class is needed."""

    simulation: object

    def _sample(self, t: float | None = None, ind: object = None) -> float:
        return self.sample(t, ind)

    def sample(self, t: float | None = None, ind: object = None) -> float:
        raise NotImplementedError


class _ArrivalTimes(_Given):
    """The gap from now to the next of the given arrival times; after the last, never."""

    def __init__(self, times_s: list[float]) -> None:
        self.times_s = times_s
        self.next = 0

    def sample(self, t: float | None = None, ind: object = None) -> float:
        assert t is not None
        if self.next == len(self.times_s):
            return math.inf
        self.next += 1
        return self.times_s[self.next - 1] - t


class _PerCall(_Given):
    """The value drawn for this very call. Ciw numbers callers 1, 2, ... as they arrive.
    (A `Sequential` distribution would hand out service times in the order services start,
    which is not the order of arrival once callers hang up or jump the queue.)"""

    def __init__(self, values: list[float]) -> None:
        self.values = values

    def sample(self, t: float | None = None, ind: object = None) -> float:
        return self.values[ind.id_number - 1]  # type: ignore[attr-defined]


def ciw_waits(arrivals: Sequence[Arrival], agents: int) -> list[CiwResult]:
    """What Ciw gives each call, in arrival order: one node of `agents` servers, a customer
    class per priority (Ciw's priority 0 is the engine's highest), non-preemptive, FIFO inside
    a class, reneging after the call's own patience."""
    calls = sorted(arrivals, key=lambda a: a.at_s)
    times = [a.at_s for a in calls]
    if any(b <= a for a, b in pairwise(times)):
        raise ValueError("arrival times must differ (draw() makes them so)")
    priorities = sorted({a.priority for a in calls}, reverse=True)
    handles = _PerCall([a.handle_s for a in calls])
    patience = _PerCall([math.inf if a.patience_s is None else a.patience_s for a in calls])
    classes = [f"priority {p}" for p in priorities]
    network = ciw.create_network(
        arrival_distributions={
            name: [_ArrivalTimes([a.at_s for a in calls if a.priority == p])]
            for name, p in zip(classes, priorities, strict=True)},
        service_distributions={name: [handles] for name in classes},
        number_of_servers=[agents],
        reneging_time_distributions=(
            {name: [patience] for name in classes}
            if any(a.patience_s is not None for a in calls) else None),
        priority_classes={name: rank for rank, name in enumerate(classes)},
    )
    ciw.seed(0)  # Ciw draws lots only between simultaneous events, which draw() rules out
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_customers(len(calls), method="Finish")
    records = {r.id_number: r for r in simulation.get_all_records()}
    if sorted(records) != list(range(1, len(calls) + 1)):
        raise RuntimeError(f"Ciw finished {len(records)} callers, not the {len(calls)} given")
    out = []
    for number, call in enumerate(calls, start=1):
        r = records[number]
        if abs(r.arrival_date - call.at_s) > 1e-6:
            raise RuntimeError(f"Ciw caller {number} arrived at {r.arrival_date}, "
                               f"not {call.at_s}")
        if r.record_type == "service":
            out.append(CiwResult(r.service_start_date - r.arrival_date, answered=True))
        else:
            assert r.record_type == "renege", r.record_type
            out.append(CiwResult(r.exit_date - r.arrival_date, answered=False))
    return out


def compare(ours: Sequence[Outcome], theirs: Sequence[CiwResult],
            tolerance_s: float = 0.001) -> list[str]:
    """The calls whose outcome (answered or abandoned) differs, or whose wait differs by
    more than `tolerance_s`, one line each."""
    if len(ours) != len(theirs):
        return [f"{len(ours)} calls against {len(theirs)}"]
    out = []
    for i, (o, c) in enumerate(zip(ours, theirs, strict=True)):
        answered = o.connected_ms is not None
        wait = o.wait_s
        if wait is None or answered != c.answered or abs(wait - c.wait_s) > tolerance_s:
            a = o.arrival
            out.append(
                f"call {i} (arrives {a.at_s} s, handle {a.handle_s} s, patience "
                f"{a.patience_s} s, priority {a.priority}): engine "
                f"{_said(wait, answered)}, Ciw {_said(c.wait_s, c.answered)}")
    return out


def _said(wait_s: float | None, answered: bool) -> str:
    if wait_s is None:
        return "never answered nor abandoned"
    return f"{'answered' if answered else 'abandoned'} after {wait_s:.3f} s"


def cobham(rates_per_s: Sequence[float], aht_s: float, agents: int) -> list[float]:
    """Mean wait of each class, highest priority first, in M/M/N with non-preemptive strict
    priority, FIFO inside a class and one exponential handle time for all (Cobham 1954,
    "Priority assignment in waiting line problems", Oper. Res. 2(1) 70–76; the M/M/N form is
    Larson & Odoni, Urban Operations Research, 1981, §4.9.3, eq. 4.111):

        W_k = W_0 / ((1 − σ_(k−1))(1 − σ_k)),  σ_k = Σ_(i≤k) λ_i·AHT/N,  W_0 = C(N, A)·AHT/N

    W_0 is the mean time until some agent frees up, seen by an arrival: all N busy with
    probability C (Erlang C), then the first of N exponential handle times ends after AHT/N.
    """
    total = sum(rates_per_s)
    load = erlang.Load(total * erlang.SECONDS_PER_HOUR, aht_s)
    prediction = erlang.erlang_c(load, agents, 0)
    if not prediction.stable:
        raise ValueError("Erlang C is unstable: N ≤ A")
    w0 = prediction.probability_of_wait * aht_s / agents
    out, sigma = [], 0.0
    for rate in rates_per_s:
        before = sigma
        sigma += rate * aht_s / agents
        out.append(w0 / ((1 - before) * (1 - sigma)))
    return out


@dataclass(frozen=True, slots=True)
class Kpis:
    """What one run gave, over the calls counted. `service_level` is answered within the
    threshold ÷ offered (ERLANG.md); `asa_s` the mean wait of answered calls; `mean_wait_s`
    that of all calls (an abandoned call's wait is until it hung up)."""

    calls: int
    waited: float  # share of calls not answered at once
    service_level: float
    asa_s: float
    abandoned: float
    mean_wait_s: float


def kpis(waits: Iterable[tuple[float, bool]], threshold_s: float) -> Kpis:
    """KPIs of (wait, answered) pairs. A wait below half a millisecond counts as none."""
    pairs = list(waits)
    n = len(pairs)
    answered = [w for w, ok in pairs if ok]
    return Kpis(
        calls=n,
        waited=sum(1 for w, _ in pairs if w >= 0.0005) / n,
        service_level=sum(1 for w in answered if w <= threshold_s) / n,
        asa_s=sum(answered) / len(answered) if answered else 0.0,
        abandoned=(n - len(answered)) / n,
        mean_wait_s=sum(w for w, _ in pairs) / n,
    )


def engine_waits(outcomes: Iterable[Outcome]) -> list[tuple[float, bool]]:
    """(wait, answered) of each call the engine ran, for `kpis`."""
    return [(o.wait_s or 0.0, o.connected_ms is not None) for o in outcomes]
