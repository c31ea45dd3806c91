"""The time range of a statistics request, cut into intervals.

SQL groups the history by 15-minute steps from `from`; the steps are then summed into the
intervals asked for. Intervals are whole steps: 15 minutes up to a day, dividing a day. A day
interval is a calendar day in the tenant's time zone (23 or 25 hours across a daylight-saving
change), so a day range must run from one local midnight to another.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.errors import SwitchboardError, invalid

STEP_MS = 900_000
DAY_S = 86_400
MAX_RANGE = timedelta(days=92)
MAX_INTERVALS = 3_000


@dataclass(frozen=True, slots=True)
class Range:
    """Interval boundaries in epoch ms: interval i is [bounds[i], bounds[i + 1])."""

    bounds: tuple[int, ...]

    @property
    def start_ms(self) -> int:
        return self.bounds[0]

    @property
    def end_ms(self) -> int:
        return self.bounds[-1]

    @property
    def count(self) -> int:
        return len(self.bounds) - 1

    def interval_of(self, at_ms: int) -> int | None:
        if not self.start_ms <= at_ms < self.end_ms:
            return None
        return bisect_right(self.bounds, at_ms) - 1


def _bad(field: str, message: str) -> SwitchboardError:
    return invalid(field, message)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def cut(start: datetime, end: datetime, interval_s: int, time_zone: str) -> Range:
    """Check the range against the rules above and cut it; 422 naming what is wrong."""
    if start.tzinfo is None or end.tzinfo is None:
        raise _bad("from" if start.tzinfo is None else "to",
                   "needs a time zone offset (e.g. 2026-11-02T00:00:00Z)")
    if end <= start:
        raise _bad("to", "must be after from")
    if end - start > MAX_RANGE:
        raise _bad("to", f"the range is longer than {MAX_RANGE.days} days")
    if interval_s < 900 or interval_s % 900 or DAY_S % interval_s:
        raise _bad("interval_s", "must be a whole number of 15 minutes that divides a day "
                   "(900, 1800, 3600, ..., 86400)")
    if _ms(start) % STEP_MS or _ms(end) % STEP_MS:
        raise _bad("from" if _ms(start) % STEP_MS else "to",
                   "must fall on a 15-minute boundary")
    if interval_s == DAY_S:
        bounds = _local_days(start, end, ZoneInfo(time_zone))
    else:
        span = _ms(end) - _ms(start)
        if span % (interval_s * 1000):
            raise _bad("interval_s", f"{interval_s} s does not divide the range "
                       f"({span // 1000} s) into whole intervals")
        bounds = tuple(range(_ms(start), _ms(end) + 1, interval_s * 1000))
    if len(bounds) - 1 > MAX_INTERVALS:
        raise _bad("interval_s", f"the range holds {len(bounds) - 1} intervals; at most "
                   f"{MAX_INTERVALS} (choose a longer interval)")
    return Range(bounds)


def _local_days(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[int, ...]:
    first, last = start.astimezone(zone), end.astimezone(zone)
    for field, t in (("from", first), ("to", last)):
        if (t.hour, t.minute, t.second, t.microsecond) != (0, 0, 0, 0):
            raise _bad(field, f"day intervals run from midnight to midnight in {zone.key}; "
                       f"{t.isoformat()} is not a midnight there")
    bounds = []
    day = first.date()
    while True:
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        bounds.append(_ms(midnight))
        if midnight >= last:
            return tuple(bounds)
        day += timedelta(days=1)


def today(now_ms: int, time_zone: str) -> Range:
    """From the tenant's last local midnight to now (at least one step)."""
    zone = ZoneInfo(time_zone)
    local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return Range((_ms(midnight), max(now_ms + 1, _ms(midnight) + 1)))
