"""Strategies by name: the built-ins and those installed under the `switchboard.strategies`
entry-point group. A name that does not resolve fails at start-up, loudly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points

from app.routing.fewest_calls import FewestCalls
from app.routing.least_occupied import LeastOccupied
from app.routing.least_talk_time import LeastTalkTime
from app.routing.longest_idle import LongestIdle
from app.routing.priority import Priority
from app.routing.random_pick import RandomPick
from app.routing.round_robin import RoundRobin
from app.routing.skills import Skills
from app.routing.strategy import Strategy

ENTRY_POINT_GROUP = "switchboard.strategies"


class UnknownStrategy(LookupError):
    def __init__(self, name: str, available: Iterable[str]) -> None:
        self.name = name
        self.available = sorted(available)
        super().__init__(f"unknown strategy {name!r}; available: {', '.join(self.available)}")


class StrategyRegistry:
    def __init__(self, strategies: Mapping[str, Strategy]) -> None:
        self._strategies = dict(strategies)

    @classmethod
    def discover(cls) -> StrategyRegistry:
        found: dict[str, Strategy] = {
            s.name: s
            for s in (LongestIdle(), Priority(), Skills(), RoundRobin(), FewestCalls(),
                      LeastTalkTime(), LeastOccupied(), RandomPick())
        }
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in found:
                raise RuntimeError(f"strategy {ep.name!r} is registered twice ({ep.value})")
            found[ep.name] = ep.load()()
        return cls(found)

    @property
    def names(self) -> list[str]:
        return sorted(self._strategies)

    def get(self, name: str) -> Strategy:
        try:
            return self._strategies[name]
        except KeyError:
            raise UnknownStrategy(name, self._strategies) from None
