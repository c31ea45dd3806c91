"""Time. The wall clock is read here and nowhere else; a manual tenant's clock lives in Redis
and moves only through `POST /v1/clock/advance` (see app/timers)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol


class ClockMode(StrEnum):
    wall = "wall"
    manual = "manual"


class WallClock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    """The process's real-time clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


def to_datetime(ms: int | float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def rfc3339(ms: int | float | None) -> str | None:
    """RFC 3339 UTC with milliseconds, e.g. 2026-11-22T16:09:05.123Z."""
    if ms is None:
        return None
    return to_datetime(ms).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def at(ms: int | float | None) -> datetime | None:
    """An optional ms timestamp as an aware datetime (the API serialises it with ms)."""
    return None if ms is None else to_datetime(ms)
