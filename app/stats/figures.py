"""Sums per step into figures per interval: the definitions of DESIGN §3.6, in one place.

A ratio whose denominator is zero is None (no calls is not a 0 % service level)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from app.clock import to_datetime
from app.stats.ranges import STEP_MS, Range

Sums = dict[str, int]
MAXED = frozenset({"longest_wait_ms"})
STATES = ("available", "reserved", "busy", "wrap_up", "away")


def _ratio(num: float, den: float, scale: float = 1.0) -> float | None:
    return None if den <= 0 else round(num / den / scale, 6)


def add(into: Sums, sums: Sums) -> None:
    for k, v in sums.items():
        into[k] = max(into.get(k, 0), v) if k in MAXED else into.get(k, 0) + v


def by_interval(rows: Iterable[dict[str, Any]], key: str, rng: Range,
                skip: Iterable[str] = ()) -> dict[str, dict[int, Sums]]:
    """{key value: {interval: sums}} from rows of (key, step, sums...)."""
    out: dict[str, dict[int, Sums]] = defaultdict(dict)
    dropped = {key, "step", *skip}
    for row in rows:
        i = rng.interval_of(rng.start_ms + int(row["step"]) * STEP_MS)
        if i is None:
            continue
        add(out[str(row[key])].setdefault(i, {}),
             {k: int(v or 0) for k, v in row.items() if k not in dropped})
    return out


def total(per_interval: dict[int, Sums]) -> Sums:
    out: Sums = {}
    for sums in per_interval.values():
        add(out, sums)
    return out


def queue_figures(s: Sums) -> dict[str, Any]:
    offered, answered = s.get("offered", 0), s.get("answered", 0)
    handled = s.get("handled", 0)
    talk, wrap = s.get("talk_ms", 0), s.get("wrap_ms", 0)
    in_threshold = s.get("answered_in_threshold", 0)
    return {
        "offered": offered, "answered": answered, "abandoned": s.get("abandoned", 0),
        "abandoned_short": s.get("abandoned_short", 0), "timed_out": s.get("timed_out", 0),
        "overflowed": s.get("overflowed", 0), "transferred": s.get("transferred", 0),
        "completed": s.get("completed", 0), "missed_offers": s.get("missed_offers", 0),
        "service_level": _ratio(in_threshold,
                                offered - s.get("abandoned_in_threshold", 0)),
        "service_level_offered": _ratio(in_threshold, offered),
        "asa_s": _ratio(s.get("answered_wait_ms", 0), answered, 1000),
        "aht_s": _ratio(talk + wrap, handled, 1000),
        "avg_talk_s": _ratio(talk, handled, 1000),
        "avg_wrap_up_s": _ratio(wrap, handled, 1000),
        "longest_wait_s": s["longest_wait_ms"] / 1000 if offered else None,
        "abandon_rate": _ratio(s.get("abandoned", 0), offered),
        "transfer_rate": _ratio(s.get("transferred", 0), answered),
        "fcr_rate": _ratio(s.get("resolved_first", 0), s.get("completed", 0)),
        "csat": _ratio(s.get("csat_sum", 0), s.get("csat_count", 0)),
    }


def agent_figures(s: Sums) -> dict[str, Any]:
    handled = s.get("handled", 0)
    talk, wrap = s.get("talk_ms", 0), s.get("wrap_ms", 0)
    working = s.get("busy_ms", 0) + s.get("wrap_up_ms", 0)
    ready = s.get("available_ms", 0) + s.get("reserved_ms", 0)
    out: dict[str, Any] = {
        "offers": sum(s.get(k, 0) for k in ("accepted", "rejected", "expired", "rescinded")),
        "accepted": s.get("accepted", 0), "rejected": s.get("rejected", 0),
        "missed_offers": s.get("expired", 0), "rescinded": s.get("rescinded", 0),
        "answered": s.get("answered", 0), "handled": handled,
        "transferred": s.get("transferred", 0), "completed": s.get("completed", 0),
        "aht_s": _ratio(talk + wrap, handled, 1000),
        "avg_talk_s": _ratio(talk, handled, 1000),
        "avg_wrap_up_s": _ratio(wrap, handled, 1000),
        "csat": _ratio(s.get("csat_sum", 0), s.get("csat_count", 0)),
        "occupancy": _ratio(working, working + ready),
    }
    for state in STATES:
        out[f"{state}_s"] = s.get(f"{state}_ms", 0) / 1000
    return out


def offers_by_interval(rows: Iterable[dict[str, Any]], rng: Range) -> dict[str, dict[int, Sums]]:
    """Offer outcomes as sums named by outcome."""
    return by_interval(({"agent_id": r["agent_id"], "step": r["step"], r["outcome"]: r["n"]}
                        for r in rows), "agent_id", rng)


def state_time(intervals: Iterable[tuple[str, str, datetime, datetime]],
               rng: Range) -> dict[str, dict[int, Sums]]:
    """Each agent's time per state, cut at the interval boundaries."""
    out: dict[str, dict[int, Sums]] = defaultdict(dict)
    for agent, state, started, ended in intervals:
        if state not in STATES:
            continue
        lo = max(int(started.timestamp() * 1000), rng.start_ms)
        hi = min(int(ended.timestamp() * 1000), rng.end_ms)
        i = rng.interval_of(lo)
        while i is not None and lo < hi:
            upto = min(hi, rng.bounds[i + 1])
            sums = out[agent].setdefault(i, {})
            sums[f"{state}_ms"] = sums.get(f"{state}_ms", 0) + upto - lo
            lo, i = upto, (i + 1 if i + 1 < rng.count else None)
    return out


def bounds_of(rng: Range, i: int) -> tuple[datetime, datetime]:
    return to_datetime(rng.bounds[i]), to_datetime(rng.bounds[i + 1])
