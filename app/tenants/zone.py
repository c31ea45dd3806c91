"""A tenant's UTC offsets over time, for the live state's per-day counters: Redis keeps them
as a sorted set (the offset from each change on), so a script finds the tenant's local day
for any instant, manual clocks in the past included, with one lookup."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

DAY_MS = 86_400_000
SPAN = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _offset_ms(zone: ZoneInfo, at_ms: int) -> int:
    offset = datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(zone).utcoffset()
    return 0 if offset is None else round(offset.total_seconds() * 1000)


@cache
def offsets(time_zone: str) -> tuple[tuple[int, int], ...]:
    """(from ms, offset ms) at the start of the span and at every change within it; one
    entry (0) for a zone that never changes. Changes are found day by day, then to the
    second (zones move at most once a day)."""
    zone = ZoneInfo(time_zone)
    start, end = (round(t.timestamp() * 1000) for t in SPAN)
    out = [(start, _offset_ms(zone, start))]
    day = start
    while day < end:
        following = day + DAY_MS
        if _offset_ms(zone, following) != out[-1][1]:
            low, high = day, following  # the change is in (low, high]
            while high - low > 1000:
                middle = (low + high) // 2 // 1000 * 1000
                if _offset_ms(zone, middle) == out[-1][1]:
                    low = middle
                else:
                    high = middle
            out.append((high, _offset_ms(zone, high)))
        day = following
    return tuple(out)


def projected(time_zone: str) -> list[list[int]]:
    """The offsets as the tenant's projection carries them: none for a zone always at UTC."""
    changes = offsets(time_zone)
    return [] if changes == ((changes[0][0], 0),) else [list(c) for c in changes]
