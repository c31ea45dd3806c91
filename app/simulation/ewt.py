"""How good the estimated wait is: the engine's estimate, the (n + 1)·AHT/N predictor and a
queue-average predictor, side by side on the same simulated calls (docs/kpis.md).

Only calls that had to wait are scored (a call offered at once is estimated 0 by every
predictor); the real wait of an abandoned call is unknown, so only answered calls count.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

from app.simulation.replay import Arrival, Outcome

RECENT = 100  # calls the queue average looks back on


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    agents: int
    aht_s: float
    load: float  # offered Erlangs ÷ agents
    calls: int
    handle: str = "exponential"  # or "lognormal"
    cv: float = 1.0  # coefficient of variation of lognormal handle times
    wrap_up_s: float = 0.0
    high_priority_share: float = 0.0  # the rest are priority 0

    def arrivals(self, seed: int) -> list[Arrival]:
        rng = random.Random(seed)
        handle_mean = self.aht_s - self.wrap_up_s  # talk; wrap-up is the engine's
        rate = self.load * self.agents / self.aht_s
        sigma = math.sqrt(math.log(1 + self.cv ** 2))
        mu = math.log(handle_mean) - sigma ** 2 / 2
        at, out = 0.0, []
        for _ in range(self.calls):
            at += rng.expovariate(rate)
            talk = (rng.expovariate(1 / handle_mean) if self.handle == "exponential"
                    else rng.lognormvariate(mu, sigma))
            priority = 5 if rng.random() < self.high_priority_share else 0
            out.append(Arrival(round(at, 3), max(round(talk, 3), 0.001), priority=priority))
        return out


@dataclass(frozen=True, slots=True)
class Errors:
    mae_s: float
    rmse_s: float


@dataclass(frozen=True, slots=True)
class Scores:
    scenario: Scenario
    scored: int  # calls that waited and were answered
    mean_wait_s: float
    engine: Errors
    position_rate: Errors  # (n + 1)·AHT/N with the true mean handle time
    position_rate_learnt: Errors  # the same with the handle time the engine had learnt
    queue_average: Errors


def _errors(pairs: list[tuple[float, float]]) -> Errors:
    n = len(pairs)
    return Errors(round(sum(abs(p - w) for p, w in pairs) / n, 2),
                  round(math.sqrt(sum((p - w) ** 2 for p, w in pairs) / n), 2))


def score(scenario: Scenario, outcomes: list[Outcome]) -> Scores:
    """Each predictor against the real waits, warm-up (the first 5 %) left out."""
    recent: deque[float] = deque(maxlen=RECENT)
    answered = sorted((o for o in outcomes if o.connected_ms is not None),
                      key=lambda o: o.connected_ms or 0)
    engine, standard, learnt, average = [], [], [], []
    warm_up = len(outcomes) // 20
    k = 0
    for i, o in enumerate(outcomes):
        while k < len(answered) and (answered[k].connected_ms or 0) <= o.arrived_ms:
            recent.append(answered[k].wait_s or 0.0)
            k += 1
        wait = o.wait_s
        if i < warm_up or o.position is None or o.connected_ms is None or wait is None:
            continue
        queue_average = sum(recent) / len(recent) if recent else 0.0
        engine.append((o.estimated_wait_s or 0.0, wait))
        standard.append((o.position * scenario.aht_s / scenario.agents, wait))
        learnt.append((o.position * (o.aht_s or 0.0) / scenario.agents, wait))
        average.append((queue_average, wait))
    if not engine:
        raise ValueError(f"{scenario.name}: no call waited; simulate more calls")
    return Scores(scenario, len(engine), round(sum(w for _, w in engine) / len(engine), 2),
                  _errors(engine), _errors(standard), _errors(learnt), _errors(average))
