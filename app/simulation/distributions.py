"""Distributions a scenario draws durations from: handle times, patience, accept delays.

Each kind is a small frozen model with `mean` and `sample(rng)`. A scenario writes one as a
one-key mapping, `handle_time: {lognormal: {mean_s: 240, cv: 0.8}}`, which `Distribution`
reads. Empirical values can come from a file, one number per line, named relative to the
scenario file (the loader passes its folder as the validation context's `base_dir`).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Annotated

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.schemas import Strict
from app.simulation.documents import ScenarioError

MAX_S = 86_400.0  # a day: no talk, patience or delay worth simulating is longer
MAX_VALUES = 1_000_000

Seconds = Annotated[float, Field(gt=0, le=MAX_S)]


class Frozen(Strict):
    model_config = ConfigDict(frozen=True)


class Constant(Frozen):
    value_s: Annotated[float, Field(ge=0, le=MAX_S)]

    @property
    def mean(self) -> float:
        return self.value_s

    def sample(self, rng: random.Random) -> float:
        return self.value_s


class Exponential(Frozen):
    mean_s: Seconds

    @property
    def mean(self) -> float:
        return self.mean_s

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1 / self.mean_s)


class Lognormal(Frozen):
    """Given by its mean and coefficient of variation (standard deviation ÷ mean), the two
    numbers a planner knows; handle times typically have cv 0.6-1.3 (Brown et al. 2005)."""

    mean_s: Seconds
    cv: Annotated[float, Field(gt=0, le=10)]

    @property
    def mean(self) -> float:
        return self.mean_s

    @property
    def sigma(self) -> float:
        return math.sqrt(math.log(1 + self.cv ** 2))

    @property
    def mu(self) -> float:
        return math.log(self.mean_s) - self.sigma ** 2 / 2

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(self.mu, self.sigma)


class Empirical(Frozen):
    """Uniform over the values given (`values_s`) or read from `file`."""

    values_s: Annotated[list[Seconds], Field(min_length=1, max_length=MAX_VALUES)] | None = None
    file: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    _read: list[float] = PrivateAttr(default_factory=list)

    @field_validator("file")
    @classmethod
    def _exists(cls, file: str, info: ValidationInfo) -> str:
        path = base_dir(info) / file
        if not path.is_file():
            raise ValueError(f"no such file {str(path)!r}")
        return file

    @model_validator(mode="after")
    def _one_source(self, info: ValidationInfo) -> Empirical:
        if (self.values_s is None) == (self.file is None):
            raise ValueError("give exactly one of values_s, file")
        if self.file is not None:
            self._read = read_values(base_dir(info) / self.file)
        return self

    @property
    def values(self) -> list[float]:
        return self.values_s if self.values_s is not None else self._read

    @property
    def mean(self) -> float:
        return math.fsum(self.values) / len(self.values)

    def sample(self, rng: random.Random) -> float:
        return rng.choice(self.values)


Kind = Constant | Exponential | Lognormal | Empirical
KINDS = ("constant", "exponential", "lognormal", "empirical")


class Distribution(Frozen):
    """One kind, written as a one-key mapping: `{exponential: {mean_s: 300}}`."""

    constant: Constant | None = None
    exponential: Exponential | None = None
    lognormal: Lognormal | None = None
    empirical: Empirical | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Distribution:
        if sum(getattr(self, name) is not None for name in KINDS) != 1:
            raise ValueError(f"give exactly one of {', '.join(KINDS)}")
        return self

    @property
    def kind(self) -> Kind:
        return next(k for k in (self.constant, self.exponential, self.lognormal,
                                self.empirical) if k is not None)

    @property
    def mean(self) -> float:
        return self.kind.mean

    def sample(self, rng: random.Random) -> float:
        return self.kind.sample(rng)


def base_dir(info: ValidationInfo) -> Path:
    """Where the files a scenario names are: the validation context's `base_dir`."""
    return Path((info.context or {}).get("base_dir", "."))


def read_values(path: Path) -> list[float]:
    """One number of seconds (> 0) per line; blank lines and `#` comments are skipped."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError.one(file, None, "", getattr(e, "strerror", None) or str(e)) from e
    values = []
    for n, raw in enumerate(text.splitlines(), 1):
        item = raw.split("#", 1)[0].strip()
        if not item:
            continue
        try:
            value = float(item)
        except ValueError:
            raise ScenarioError.one(file, n, "", f"{item!r} is not a number") from None
        if not 0 < value <= MAX_S:
            raise ScenarioError.one(file, n, "", f"{item!r} must be greater than 0 and at "
                                    f"most {MAX_S:.0f}")
        values.append(value)
    if not values:
        raise ScenarioError.one(file, None, "", "no values")
    if len(values) > MAX_VALUES:
        raise ScenarioError.one(file, None, "", f"more than {MAX_VALUES} values")
    return values
