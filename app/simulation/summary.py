"""What a simulation run comes to: the KPIs of DESIGN §3.6 from the run's own log, overall,
per queue and over time.

The caller's view throughout: a call's wait runs from its arrival to its answer (or to its
end, unanswered), whichever queues it passed through; it counts in the queue it ended in.
Service level uses that queue's threshold. Handle time is talk plus the queue's wrap-up.
Agent occupancy is (busy + wrap_up) ÷ (busy + wrap_up + available + reserved) time.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from app.simulation.runner import CallLog, Result

WORKING = ("busy", "wrap_up")
READY = ("available", "reserved")


@dataclass(frozen=True, slots=True)
class Figures:
    offered: int
    answered: int
    abandoned: int
    timed_out: int
    unfinished: int
    service_level: float | None
    service_level_offered: float | None
    asa_s: float | None
    mean_wait_s: float | None
    abandon_rate: float | None
    aht_s: float | None


@dataclass(frozen=True, slots=True)
class Interval:
    start_s: float  # after the start
    offered: int
    service_level: float | None
    mean_waiting: float  # time-average of calls waiting


@dataclass(frozen=True, slots=True)
class Summary:
    duration_s: float
    overall: Figures
    queues: dict[str, Figures]
    occupancy: dict[str, float | None]  # per agent
    mean_occupancy: float | None
    intervals: list[Interval]
    interval_s: int
    answered_waits_s: list[float] = field(repr=False)
    abandoned_waits_s: list[float] = field(repr=False)


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


def figures(calls: list[CallLog], queues: dict[str, dict[str, Any]]) -> Figures:
    answered = [c for c in calls if c.connected_ms is not None]
    abandoned = [c for c in calls if c.outcome == "abandoned"]
    in_sl = sum(1 for c in answered if (c.wait_ms or 0) <= _threshold_ms(queues, c.queue))
    ab_in_sl = sum(1 for c in abandoned if (c.wait_ms or 0) <= _threshold_ms(queues, c.queue))
    waits = [c.wait_ms for c in calls if c.wait_ms is not None]
    handled = [c.planned.handle_s + float(queues.get(c.queue, {}).get("wrap_up_s", 0) or 0)
               for c in answered if c.outcome == "completed"]
    return Figures(
        offered=len(calls), answered=len(answered), abandoned=len(abandoned),
        timed_out=sum(1 for c in calls if c.outcome == "timed_out"),
        unfinished=sum(1 for c in calls if c.ended_ms is None and c.connected_ms is None),
        service_level=_ratio(in_sl, len(calls) - ab_in_sl),
        service_level_offered=_ratio(in_sl, len(calls)),
        asa_s=_ratio(sum(c.wait_ms or 0 for c in answered) / 1000, len(answered)),
        mean_wait_s=_ratio(sum(waits) / 1000, len(waits)),
        abandon_rate=_ratio(len(abandoned), len(calls)),
        aht_s=_ratio(sum(handled), len(handled)))


def _threshold_ms(queues: dict[str, dict[str, Any]], queue: str) -> float:
    sl = queues.get(queue, {}).get("service_level") or {}
    return float(sl.get("threshold_s", 20)) * 1000


def occupancy(result: Result) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for agent in result.agents:
        spent: dict[str, int] = defaultdict(int)
        marks = [*agent.states, ("end", result.end_ms)]
        for (state, since), (_, until) in pairwise(marks):
            spent[state] += max(until - since, 0)
        working = sum(spent[s] for s in WORKING)
        out[agent.planned.id] = _ratio(working, working + sum(spent[s] for s in READY))
    return out


def over_time(result: Result, queues: dict[str, dict[str, Any]],
              interval_s: int) -> list[Interval]:
    """Offered and service level by interval of arrival; calls waiting, time-averaged."""
    span_ms = max(result.end_ms - result.start_ms, 1)
    count = max(1, math.ceil(span_ms / (interval_s * 1000)))
    by_interval: list[list[CallLog]] = [[] for _ in range(count)]
    waiting_ms = [0] * count
    for c in result.calls:
        if not c.call_id:
            continue
        i = min((c.arrived_ms - result.start_ms) // (interval_s * 1000), count - 1)
        by_interval[i].append(c)
        until = c.connected_ms if c.connected_ms is not None else (c.ended_ms or result.end_ms)
        _spread(waiting_ms, c.arrived_ms - result.start_ms, until - result.start_ms,
                interval_s * 1000)
    out = []
    for i, calls in enumerate(by_interval):
        f = figures(calls, queues)
        width = min(interval_s * 1000, span_ms - i * interval_s * 1000)
        out.append(Interval(i * interval_s, f.offered, f.service_level,
                            waiting_ms[i] / max(width, 1)))
    return out


def _spread(into: list[int], lo: int, hi: int, width: int) -> None:
    """Add the time [lo, hi) spends in each interval of `width`."""
    while lo < hi:
        i = min(lo // width, len(into) - 1)
        upto = min(hi, (i + 1) * width) if i < len(into) - 1 else hi
        into[i] += upto - lo
        lo = upto


def summarise(result: Result, queues: dict[str, dict[str, Any]],
              interval_s: int | None = None) -> Summary:
    calls = [c for c in result.calls if c.call_id]
    duration_s = (result.end_ms - result.start_ms) / 1000
    if interval_s is None:  # about 48 to 96 points whatever the length
        interval_s = next((s for s in (300, 900, 1800, 3600, 7200, 14400, 86400)
                           if duration_s / s <= 96), 86400)
    per_queue: dict[str, list[CallLog]] = defaultdict(list)
    for c in calls:
        per_queue[c.queue].append(c)
    occ = occupancy(result)
    known = [v for v in occ.values() if v is not None]
    return Summary(
        duration_s=duration_s, overall=figures(calls, queues),
        queues={q: figures(cs, queues) for q, cs in sorted(per_queue.items())},
        occupancy=occ, mean_occupancy=sum(known) / len(known) if known else None,
        intervals=over_time(result, queues, interval_s), interval_s=interval_s,
        answered_waits_s=[(c.wait_ms or 0) / 1000 for c in calls if c.connected_ms is not None],
        abandoned_waits_s=[(c.wait_ms or 0) / 1000 for c in calls if c.outcome == "abandoned"])
