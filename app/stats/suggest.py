"""Agents per interval of the day for a queue, from its own recent history (DESIGN §3.6):
arrivals per time of day averaged over the last days, the handle time of those intervals, and
Erlang C (or A, given a patience) at the queue's service-level target."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.errors import invalid, not_found
from app.runtime import Runtime
from app.staffing import erlang
from app.stats import figures, service
from app.stats.ranges import DAY_S, STEP_MS, Range
from app.stats.schemas import StaffingInterval, StaffingSuggestion
from app.store import reads


def _days_before(now_ms: int, days: int, zone: ZoneInfo) -> Range:
    """The `days` whole local days before today."""
    today = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(zone).date()
    first = today - timedelta(days=days)
    return Range((int(datetime.combine(first, time(), zone).timestamp() * 1000),
                  int(datetime.combine(today, time(), zone).timestamp() * 1000)))


async def suggest(rt: Runtime, tenant: str, queue: str, days: int, interval_s: int,
                  shrinkage: float, max_occupancy: float | None,
                  patience_s: float | None) -> StaffingSuggestion:
    if interval_s < 900 or interval_s % 900 or DAY_S % interval_s or interval_s == DAY_S:
        raise invalid("interval_s", "must be a whole number of 15 minutes that divides a day "
                      "into more than one interval (900, 1800, 3600, ..., 43200)")
    zone_name = await service.tenant_zone(rt, tenant)
    configs = await service.queue_configs(rt, tenant)
    if queue not in configs:
        raise not_found("queue", queue)
    sl = configs[queue].get("service_level") or {}
    target, threshold = float(sl.get("target", 0.8)), float(sl.get("threshold_s", 20))
    zone = ZoneInfo(zone_name)
    now = await reads.tenant_now_ms(rt.redis, tenant, rt.clock.now_ms())
    span = _days_before(now, days, zone)
    steps = await service.queue_sums_by_step(rt, tenant, span, queue)
    # Steps by time of day in the tenant's zone, then intervals of the day.
    per_slot: dict[int, figures.Sums] = defaultdict(dict)
    for step, sums in steps.items():
        local = datetime.fromtimestamp((span.start_ms + step * STEP_MS) / 1000, UTC)
        local = local.astimezone(zone)
        slot = (local.hour * 3600 + local.minute * 60) // interval_s
        figures.add(per_slot[slot], sums)
    overall = figures.total(per_slot)
    overall_aht = _aht_s(overall)
    intervals = []
    for slot in range(DAY_S // interval_s):
        sums = per_slot.get(slot, {})
        rate = sums.get("offered", 0) / days * 3600 / interval_s
        aht = _aht_s(sums) or overall_aht
        start = timedelta(seconds=slot * interval_s)
        row: dict[str, object] = {"start": _hhmm(start),
                                  "end": _hhmm(start + timedelta(seconds=interval_s)),
                                  "offered_per_day": round(sums.get("offered", 0) / days, 3),
                                  "arrival_rate_per_hour": round(rate, 3), "aht_s": aht}
        if rate > 0 and aht is not None:
            found = erlang.agents_needed(erlang.Load(rate, aht, patience_s), threshold, target,
                                         max_occupancy)
            if found is not None:
                row.update(agents=found.agents,
                           scheduled_agents=erlang.scheduled_agents(found.agents, shrinkage),
                           service_level=round(found.service_level, 6),
                           occupancy=round(found.occupancy, 6),
                           abandon_rate=round(found.abandon_rate, 6))
        elif rate == 0:
            row.update(agents=0, scheduled_agents=0)
        intervals.append(StaffingInterval.model_validate(row))
    return StaffingSuggestion.model_validate({
        "queue": queue, "from": datetime.fromtimestamp(span.start_ms / 1000, UTC),
        "to": datetime.fromtimestamp(span.end_ms / 1000, UTC), "days": days,
        "interval_s": interval_s, "time_zone": zone_name,
        "model": erlang.ErlangModel.erlang_c if patience_s is None
        else erlang.ErlangModel.erlang_a,
        "target_service_level": target, "threshold_s": threshold, "shrinkage": shrinkage,
        "offered": overall.get("offered", 0), "aht_s": overall_aht, "intervals": intervals})


def _aht_s(sums: figures.Sums) -> float | None:
    handled = sums.get("handled", 0)
    return None if not handled else round((sums["talk_ms"] + sums["wrap_ms"]) / handled / 1000,
                                          3)


def _hhmm(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
