"""Call-by-call traces to replay: the "Anonymous Bank" format (Technion SEE lab, 1999; see
../shared/data/README.md): tab-separated, a header line, 17 columns, times of day `h:mm:ss`
with no date roll-over, durations in whole seconds.

A row that does not parse is refused as `file:line: column: problem`, or, when asked, skipped
and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path

from app.simulation.documents import ScenarioError

COLUMNS = ("vru+line", "call_id", "customer_id", "priority", "type", "date", "vru_entry",
           "vru_exit", "vru_time", "q_start", "q_exit", "q_time", "outcome", "ser_start",
           "ser_exit", "ser_time", "server")
DAY_S = 86_400
# A time of day this much before the call entered the IVR is on the next day (the file has
# no roll-over); smaller gaps are the file's clock skew (vru_exit up to a minute early).
ROLL_OVER_S = DAY_S // 2

_TIME = re.compile(r"^(\d{1,2}):([0-5]\d):([0-5]\d)$")
_INT = re.compile(r"^-?\d{1,9}$")


class Outcome(StrEnum):
    agent = "AGENT"  # served
    hang = "HANG"  # the caller hung up
    phantom = "PHANTOM"  # not a real call: to be ignored (the data set's README)


@dataclass(frozen=True, slots=True)
class TraceCall:
    line: int
    call_id: str
    customer_id: str | None  # the file's 0 = unknown
    priority: int
    type: str
    day: date
    entered_s: int  # into the IVR, after the day's midnight
    queued_s: int | None  # entered the queue, after the day's midnight (may pass 86_400)
    served_s: int | None  # an agent answered, likewise
    queue_time_s: int
    service_time_s: int
    outcome: Outcome

    @property
    def arrival_s(self) -> int | None:
        """When the call reached the agents' queue: it queued, or, never queued, an agent
        took it straight away; None for a call that did neither (left in the IVR)."""
        if self.queued_s is not None:
            return self.queued_s
        return self.served_s if self.outcome is Outcome.agent else None


@dataclass(frozen=True, slots=True)
class Trace:
    calls: list[TraceCall]
    skipped_rows: int  # malformed rows left out (skip_bad_rows)

    @property
    def days(self) -> list[date]:
        return sorted({call.day for call in self.calls})


class _BadRow(Exception):
    def __init__(self, column: str, message: str) -> None:
        self.column, self.message = column, message


def read_anonymous_bank(path: Path, *, skip_bad_rows: bool = False) -> Trace:
    """Every row of the file; a malformed row is refused, or skipped and counted."""
    file = str(path)
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError.one(file, None, "", getattr(e, "strerror", None) or str(e)) from e
    if not rows or tuple(rows[0].split("\t")) != COLUMNS:
        raise ScenarioError.one(file, 1, "", "expected the header " + "\\t".join(COLUMNS))
    calls, skipped = [], 0
    for n, row in enumerate(rows[1:], 2):
        if not row.strip():
            continue
        try:
            calls.append(_call(n, row.split("\t")))
        except _BadRow as bad:
            if not skip_bad_rows:
                raise ScenarioError.one(file, n, bad.column, bad.message) from None
            skipped += 1
    return Trace(calls, skipped)


def _call(line: int, cells: list[str]) -> TraceCall:
    if len(cells) != len(COLUMNS):
        raise _BadRow("", f"expected {len(COLUMNS)} tab-separated columns, found {len(cells)}")
    row = dict(zip(COLUMNS, cells, strict=True))
    entered = _time(row, "vru_entry")
    _integer(row, "vru_time")  # may be negative in the file: the IVR's clock skew
    for name in ("vru_exit", "q_exit", "ser_exit"):
        _time(row, name)
    priority = _integer(row, "priority")
    if not 0 <= priority <= 100:
        raise _BadRow("priority", f"{row['priority']!r} is not a priority (0 to 100)")
    try:
        outcome = Outcome(row["outcome"])
    except ValueError:
        raise _BadRow("outcome", f"{row['outcome']!r} is not AGENT, HANG or PHANTOM") from None
    for name in ("call_id", "type"):
        if not row[name]:
            raise _BadRow(name, "empty")
    customer = row["customer_id"]
    return TraceCall(
        line=line, call_id=row["call_id"], customer_id=None if customer in ("", "0") else customer,
        priority=priority, type=row["type"], day=_date(row), entered_s=entered,
        queued_s=_moment(row, "q_start", entered), served_s=_moment(row, "ser_start", entered),
        queue_time_s=_duration(row, "q_time"), service_time_s=_duration(row, "ser_time"),
        outcome=outcome)


def _time(row: dict[str, str], name: str) -> int:
    match = _TIME.match(row[name])
    if not match or int(match[1]) > 23:
        raise _BadRow(name, f"{row[name]!r} is not a time of day (h:mm:ss)")
    return int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3])


def _moment(row: dict[str, str], name: str, entered_s: int) -> int | None:
    """A time of day after the IVR entry, None for the file's 0:00:00 (never happened)."""
    at = _time(row, name)
    if at == 0:
        return None
    return at + DAY_S if at < entered_s - ROLL_OVER_S else at


def _integer(row: dict[str, str], name: str) -> int:
    if not _INT.match(row[name]):
        raise _BadRow(name, f"{row[name]!r} is not a number")
    return int(row[name])


def _duration(row: dict[str, str], name: str) -> int:
    value = _integer(row, name)
    if value < 0:
        raise _BadRow(name, f"{row[name]!r} is negative")
    return value


def _date(row: dict[str, str]) -> date:
    text = row["date"]
    try:
        if len(text) != 6 or not text.isdigit():
            raise ValueError
        year = int(text[:2])  # yymmdd: the data set is from 1999
        return date(year + (1900 if year >= 70 else 2000), int(text[2:4]), int(text[4:]))
    except ValueError:
        raise _BadRow("date", f"{text!r} is not a date (yymmdd)") from None
