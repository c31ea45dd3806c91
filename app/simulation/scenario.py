"""The scenario file `switchboard simulate` runs: queues, agents, arrivals, durations, agent
behaviour, and optionally a trace to replay. The format is documented, with examples, in
examples/README.md.

`load_scenario` reads a .yaml, .yml or .json file and refuses a bad one with a
`ScenarioError` naming the file, the line and the field: the models check each value, then
`_cross_references` checks what one part says about another (queue ids, shares, coverage).
Files the scenario names (a trace, empirical values) are read relative to it, during
validation, through the context's `base_dir` and `skip_bad_rows`.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from collections.abc import Iterator
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.agents.schemas import AgentConfig, Channel
from app.queues.schemas import QueueConfig
from app.schemas import ID_PATTERN, Id, Lax, Name, Priority, Requirements
from app.simulation.distributions import Distribution, Frozen, base_dir
from app.simulation.documents import Loc, Problem, ScenarioError, read_document
from app.simulation.trace import DAY_S, Outcome, Trace, TraceCall, read_anonymous_bank

MAX_DURATION_S = 31 * DAY_S
MAX_RATE_PER_HOUR = 1_000_000.0
MAX_CALLS = 1_000_000  # per queue and scenario, expected: the plan is held in memory
MAX_AGENTS = 10_000  # per group
SHARES_TOLERANCE = 1e-9


def _text(value: object) -> object:
    """Dates and times are written as text; a number would be read as Unix time."""
    if not isinstance(value, str):
        raise ValueError("must be text, like 2026-01-05 or 2026-01-05T08:00:00Z")
    return value


Day = Annotated[date, Lax, BeforeValidator(_text)]
Moment = Annotated[AwareDatetime, Lax, BeforeValidator(_text)]
DurationS = Annotated[float, Field(gt=0, le=MAX_DURATION_S)]
Rate = Annotated[float, Field(ge=0, le=MAX_RATE_PER_HOUR)]


class Poisson(Frozen):
    """Random arrivals at `rate_per_hour` all along, or at `rates_per_hour[k]` during the k-th
    `interval_s` (the intervals of a forecast; 0 = none then)."""

    rate_per_hour: Annotated[float, Field(gt=0, le=MAX_RATE_PER_HOUR)] | None = None
    interval_s: DurationS | None = None
    rates_per_hour: Annotated[list[Rate], Field(min_length=1, max_length=10_000)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Poisson:
        constant = self.rate_per_hour is not None
        if constant == (self.interval_s is not None or self.rates_per_hour is not None) or (
                not constant and (self.interval_s is None or self.rates_per_hour is None)):
            raise ValueError("give rate_per_hour, or interval_s and rates_per_hour")
        return self

    def intervals(self, duration_s: float) -> Iterator[tuple[float, float, float]]:
        """(start_s, end_s, rate per hour) up to `duration_s`."""
        if self.rate_per_hour is not None:
            yield 0.0, duration_s, self.rate_per_hour
            return
        assert self.interval_s is not None and self.rates_per_hour is not None
        for k, rate in enumerate(self.rates_per_hour):
            start = k * self.interval_s
            if start >= duration_s:
                return
            yield start, min(start + self.interval_s, duration_s), rate

    def expected_calls(self, duration_s: float) -> float:
        return sum((end - start) * rate / 3600 for start, end, rate in self.intervals(duration_s))


class Arrivals(Frozen):
    poisson: Poisson


class PriorityShare(Frozen):
    priority: Priority
    share: Annotated[float, Field(gt=0, le=1)]


class QueueSpec(Frozen):
    """A queue, its configuration, and the calls that come to it (unless a trace feeds it)."""

    id: Id
    config: QueueConfig = QueueConfig()
    arrivals: Arrivals | None = None
    handle_time: Distribution | None = None  # talk; wrap-up is the queue's wrap_up_s
    patience: Distribution | None = None  # None: callers wait forever
    priorities: Annotated[list[PriorityShare], Field(max_length=101)] = []
    channel: Annotated[Channel, Lax] = Channel.voice
    requirements: Requirements = []

    @field_validator("priorities")
    @classmethod
    def _shares(cls, shares: list[PriorityShare]) -> list[PriorityShare]:
        if len({s.priority for s in shares}) != len(shares):
            raise ValueError("each priority once")
        total = math.fsum(s.share for s in shares)
        if shares and abs(total - 1) > SHARES_TOLERANCE:
            raise ValueError(f"shares must sum to 1, not {total:g}")
        return shares


class Shift(Frozen):
    start_s: Annotated[float, Field(ge=0, le=MAX_DURATION_S)]
    end_s: Annotated[float, Field(gt=0, le=MAX_DURATION_S)] | None = None  # None: to the end

    @model_validator(mode="after")
    def _ends_after_start(self) -> Shift:
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self


class AgentGroup(Frozen):
    """`count` agents alike, with ids `id_prefix` + 01, 02, ... (as many digits as needed)."""

    id_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")]
    count: Annotated[int, Field(ge=1, le=MAX_AGENTS)] = 1
    config: AgentConfig = AgentConfig()
    shifts: Annotated[list[Shift], Field(max_length=100)] = []  # empty: the whole run
    accept_delay: Distribution | None = None  # None: offers are accepted at once
    miss_probability: Annotated[float, Field(ge=0, le=1)] = 0.0

    @field_validator("shifts")
    @classmethod
    def _in_order(cls, shifts: list[Shift]) -> list[Shift]:
        for k, (a, b) in enumerate(pairwise(shifts)):
            if a.end_s is None or b.start_s < a.end_s:
                raise ValueError(f"shifts[{k + 1}] starts before shifts[{k}] ends")
        return shifts

    @property
    def ids(self) -> list[str]:
        width = max(2, len(str(self.count)))
        return [f"{self.id_prefix}{n:0{width}d}" for n in range(1, self.count + 1)]


class TraceSpec(Frozen):
    """A trace replayed: the calls of `dates` (default: every day in the file), day after
    day from the scenario's start, of the types mapped to queues."""

    file: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    format: Literal["anonymous-bank"] = "anonymous-bank"
    dates: Annotated[list[Day], Field(max_length=366)] = []
    queues: Annotated[dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Id],
                      Field(min_length=1, max_length=100)]
    _trace: Trace = PrivateAttr(default_factory=lambda: Trace([], 0))

    @field_validator("file")
    @classmethod
    def _exists(cls, file: str, info: ValidationInfo) -> str:
        if not (base_dir(info) / file).is_file():
            raise ValueError(f"no such file {str(base_dir(info) / file)!r}")
        return file

    @model_validator(mode="after")
    def _read(self, info: ValidationInfo) -> TraceSpec:
        self._trace = read_anonymous_bank(
            base_dir(info) / self.file,
            skip_bad_rows=bool((info.context or {}).get("skip_bad_rows", False)))
        return self

    @property
    def loaded(self) -> Trace:
        return self._trace

    @property
    def skipped_rows(self) -> int:
        return self._trace.skipped_rows

    @property
    def days(self) -> list[date]:
        return self.dates or self._trace.days

    def replayed(self) -> Iterator[tuple[int, TraceCall]]:
        """(day number from 0, call) for each row of the days replayed, in file order."""
        by_day: dict[date, list[TraceCall]] = {}
        for call in self._trace.calls:
            by_day.setdefault(call.day, []).append(call)
        for k, day in enumerate(self.days):
            for call in by_day.get(day, []):
                yield k, call

    def served_times(self) -> dict[str, list[float]]:
        """Queue id -> talk times of the calls replayed there that an agent answered: what
        the calls that hung up would have talked, unless the queue has a handle_time."""
        times: dict[str, list[float]] = {}
        for _, call in self.replayed():
            queue = self.queues.get(call.type)
            if queue is not None and call.outcome is Outcome.agent and (
                    call.arrival_s is not None and call.service_time_s > 0):
                times.setdefault(queue, []).append(float(call.service_time_s))
        return times


class Scenario(Frozen):
    """A scenario file, checked value by value (`load_scenario` checks the rest)."""

    name: Name
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    start: Moment  # the simulated clock starts here
    time_zone: Annotated[str, StringConstraints(max_length=64)] | None = None  # for the report
    duration_s: DurationS | None = None  # arrivals stop; default with a trace: its days
    queues: Annotated[list[QueueSpec], Field(min_length=1, max_length=1000)]
    agents: Annotated[list[AgentGroup], Field(max_length=1000)] = []
    trace: TraceSpec | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is not None:
            try:
                zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe"
                raise ValueError(f"unknown time zone {zone!r}") from None
        return zone


def load_scenario(path: Path | str, *, skip_bad_rows: bool = False) -> Scenario:
    """The scenario in `path`, checked; a trace's malformed rows are refused, or, with
    `skip_bad_rows`, left out and counted (`scenario.trace.skipped_rows`)."""
    path = Path(path)
    document = read_document(path)
    try:
        scenario = Scenario.model_validate(document.data, context={
            "base_dir": path.parent, "skip_bad_rows": skip_bad_rows})
    except ValidationError as e:
        raise document.refuse(e) from None
    problems = [document.problem(loc, message) for loc, message in _cross_references(scenario)]
    if problems:
        raise ScenarioError(sorted(problems, key=_by_line))
    return scenario


def _by_line(problem: Problem) -> int:
    return problem.line or 0


def _cross_references(s: Scenario) -> Iterator[tuple[Loc, str]]:
    """What one part of a valid-looking scenario says about another."""
    where: dict[str, int] = {}
    for i, q in enumerate(s.queues):
        if q.id in where:
            yield ("queues", i, "id"), f"{q.id!r} is also queues[{where[q.id]}]"
        where.setdefault(q.id, i)
    yield from _overflows(s, where)
    owner: dict[str, int] = {}
    for i, group in enumerate(s.agents):
        for agent_id in group.ids:
            if not re.match(ID_PATTERN, agent_id):
                yield ("agents", i, "id_prefix"), f"makes {agent_id!r}, longer than 64"
                break
            if agent_id in owner:
                yield ("agents", i, "id_prefix"), (
                    f"makes {agent_id!r}, as agents[{owner[agent_id]}] does")
                break
            owner[agent_id] = i
        for j, queue in enumerate(group.config.queues):
            if queue not in where:
                yield ("agents", i, "config", "queues", j), f"unknown queue {queue!r}"
    fed: set[str] = set()
    served: set[str] = set()
    if s.trace is not None:
        for type_, queue in s.trace.queues.items():
            if queue not in where:
                yield ("trace", "queues", type_), f"unknown queue {queue!r}"
            fed.add(queue)
        present = set(s.trace.loaded.days)
        for k, day in enumerate(s.trace.dates):
            if day not in present:
                yield ("trace", "dates", k), f"{day} has no rows in the trace"
        served = {queue for queue, times in s.trace.served_times().items() if times}
    for i, q in enumerate(s.queues):
        yield from _feeding(s, i, q, fed, served)


def _feeding(s: Scenario, i: int, q: QueueSpec, fed: set[str],
             served: set[str]) -> Iterator[tuple[Loc, str]]:
    if q.arrivals is None:
        if q.id not in fed:
            yield ("queues", i, "arrivals"), "missing: no arrivals, and no trace type maps here"
        elif q.handle_time is None and q.id not in served:
            yield ("queues", i, "handle_time"), (
                "missing: the trace has no served call here to draw the talk times of "
                "unserved ones from")
        return
    poisson = q.arrivals.poisson
    if q.handle_time is None:
        yield ("queues", i, "handle_time"), "missing (arrivals need a talk time)"
    if s.duration_s is None:
        yield ("duration_s",), "missing (Poisson arrivals stop there)"
        return
    if poisson.interval_s is not None and poisson.rates_per_hour is not None:
        covered = poisson.interval_s * len(poisson.rates_per_hour)
        if covered < s.duration_s:
            yield ("queues", i, "arrivals", "poisson", "rates_per_hour"), (
                f"cover {covered:g} s, less than duration_s ({s.duration_s:g})")
    expected = poisson.expected_calls(s.duration_s)
    if expected > MAX_CALLS:
        yield ("queues", i, "arrivals", "poisson"), (
            f"about {expected:,.0f} calls; at most {MAX_CALLS:,} in a scenario")


def _overflows(s: Scenario, where: dict[str, int]) -> Iterator[tuple[Loc, str]]:
    """Overflow targets exist, and no queue overflows back into itself (the queues are
    created targets first)."""
    target = {q.id: q.config.overflow_queue for q in s.queues}
    for i, q in enumerate(s.queues):
        loc: Loc = ("queues", i, "config", "overflow_queue")
        if q.config.overflow_queue is None:
            continue
        if q.config.overflow_queue not in where:
            yield loc, f"unknown queue {q.config.overflow_queue!r}"
            continue
        chain: list[str] = [q.id]
        at: str | None = q.config.overflow_queue
        while at is not None and at in target and at not in chain:
            chain.append(at)
            at = target[at]
        if at == q.id:
            yield loc, "overflows back into this queue: " + " -> ".join([*chain, at])


def creation_order(s: Scenario) -> list[QueueSpec]:
    """The queues with each overflow target before the queues overflowing into it."""
    by_id = {q.id: q for q in s.queues}
    done: dict[str, QueueSpec] = {}

    def add(q: QueueSpec, chain: tuple[str, ...]) -> None:
        if q.id in done or q.id in chain:  # a cycle (refused on load) stops here
            return
        target = by_id.get(q.config.overflow_queue or "")
        if target is not None:
            add(target, (*chain, q.id))
        done[q.id] = q

    for q in s.queues:
        add(q, ())
    return list(done.values())
