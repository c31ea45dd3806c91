"""Erlang C (M/M/N) and Erlang A (M/M/N+M): predictions for N agents, and the fewest agents
that meet a service level (docs/staffing.md).

Poisson arrivals at λ per second, exponential handling times with mean `aht_s` (μ = 1 / AHT),
offered traffic A = λ · AHT Erlangs. Erlang A adds exponential patience with mean `patience_s`
(θ = 1 / patience): a waiting caller hangs up at rate θ.

Nothing here computes a factorial or a power of A, so a hundred thousand agents are fine:
Erlang B comes from its recursion, which stays in [0, 1], and the Erlang A queue above N is
summed as logarithms, normalised by its largest term.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

MAX_AGENTS = 100_000
SECONDS_PER_HOUR = 3_600

# The Erlang A queue is summed until what is left is below e^-40 (4e-18) of its largest term.
_NEGLIGIBLE_LOG = 40.0
# Slack for a ratio that lands a hair above a whole number: 21 / (1 - 0.3) = 30.000000000000004.
_ROUNDING = 1e-9


class ErlangModel(StrEnum):
    erlang_c = "erlang_c"
    erlang_a = "erlang_a"


@dataclass(frozen=True, slots=True)
class Load:
    """The traffic offered to one pool of agents. No patience: callers never hang up."""

    arrival_rate_per_hour: float
    aht_s: float
    patience_s: float | None = None

    @property
    def erlangs(self) -> float:
        return self.arrival_rate_per_hour * self.aht_s / SECONDS_PER_HOUR

    @property
    def model(self) -> ErlangModel:
        return ErlangModel.erlang_c if self.patience_s is None else ErlangModel.erlang_a


@dataclass(frozen=True, slots=True)
class Prediction:
    """What N agents give. `service_level` is answered within the threshold ÷ offered;
    `asa_s` is the mean wait of answered calls, `average_wait_s` that of all calls (the same
    in Erlang C). An unstable Erlang C pool (N ≤ A) has `stable` false, SL 0, P(wait) 1 and
    infinite waits."""

    model: ErlangModel
    agents: int
    erlangs: float
    stable: bool
    service_level: float
    probability_of_wait: float
    asa_s: float
    average_wait_s: float
    abandon_rate: float
    occupancy: float


def erlang_b(erlangs: float, agents: int) -> float:
    """The blocking probability of N agents and no queue: B_k = A·B_(k-1) / (k + A·B_(k-1))."""
    b = 1.0
    for k in range(1, agents + 1):
        b = erlangs * b / (k + erlangs * b)
    return b


def predict(load: Load, agents: int, threshold_s: float) -> Prediction:
    if load.patience_s is None:
        return erlang_c(load, agents, threshold_s)
    return erlang_a(load, agents, threshold_s)


def erlang_c(load: Load, agents: int, threshold_s: float) -> Prediction:
    return _erlang_c(load, agents, erlang_b(load.erlangs, agents), threshold_s)


def _erlang_c(load: Load, agents: int, blocking: float, threshold_s: float) -> Prediction:
    """Erlang C for N agents, given Erlang B for N (the search carries it from N - 1)."""
    a, n = load.erlangs, agents
    if n <= a:
        return Prediction(ErlangModel.erlang_c, n, a, stable=False, service_level=0.0,
                          probability_of_wait=1.0, asa_s=math.inf, average_wait_s=math.inf,
                          abandon_rate=0.0, occupancy=1.0)
    wait = _probability(n * blocking / (n - a * (1 - blocking)))
    asa_s = wait * load.aht_s / (n - a)
    service_level = _probability(1 - wait * math.exp(-(n - a) * threshold_s / load.aht_s))
    return Prediction(ErlangModel.erlang_c, n, a, stable=True, service_level=service_level,
                      probability_of_wait=wait, asa_s=asa_s, average_wait_s=asa_s,
                      abandon_rate=0.0, occupancy=a / n)


def erlang_a(load: Load, agents: int, threshold_s: float) -> Prediction:
    """Erlang A for N agents, from the birth–death chain of calls in the system.

    With n calls in the system the chain moves up at λ and down at min(n, N)·μ + (n - N)⁺·θ.
    Up to N it is Erlang B's chain, so the states 0..N weigh 1 in all and state N weighs B.
    Above it, state N + i weighs B · r_i with r_i = Π_(k=1..i) λ / (Nμ + kθ), kept as a log.

    A caller arriving to N + i calls (PASTA) has i ahead. While k are ahead the queue moves at
    Nμ + kθ and the caller itself hangs up at θ, so it is answered with probability
    Π_(k=0..i) (Nμ + kθ) / (Nμ + (k+1)θ) = Nμ / (Nμ + (i+1)θ), and, if answered, after i + 1
    exponential stages at Nμ + θ, Nμ + 2θ, ..., Nμ + (i+1)θ. That sum V has e^(-θV) ~
    Beta(Nμ/θ + 1, i + 1), so P(V > t) = Σ_(j=0..i) T_j, the first i + 1 terms of a negative
    binomial: T_0 = x^(Nμ/θ + 1), T_j = T_(j-1) · (1 - x)(Nμ/θ + j) / j, x = e^(-θt).
    """
    assert load.patience_s is not None
    a, n = load.erlangs, agents
    rate_per_s = load.arrival_rate_per_hour / SECONDS_PER_HOUR
    theta = 1 / load.patience_s
    served_per_s = n / load.aht_s  # Nμ: how fast the head of the queue is taken
    blocking = erlang_b(a, n)
    if blocking == 0.0:  # underflow: so many agents that nobody waits
        return Prediction(ErlangModel.erlang_a, n, a, stable=True, service_level=1.0,
                          probability_of_wait=0.0, asa_s=0.0, average_wait_s=0.0,
                          abandon_rate=0.0, occupancy=a / n)

    log_r = _queue_log_weights(rate_per_s, served_per_s, theta)
    peak = max(log_r)
    log_queue = peak + math.log(sum(math.exp(lr - peak) for lr in log_r[1:]))
    log_blocking = math.log(blocking)
    log_total = _log_add(0.0, log_blocking + log_queue)  # 1 + B·Σ_(i≥1) r_i
    no_wait = (1 - blocking) * math.exp(-log_total)

    queue_length = 0.0  # E[Lq]
    answered_within = no_wait
    answered_wait_s = 0.0  # E[wait · 1(answered)]
    stage_mean_s = 0.0  # Σ_(k=1..i+1) 1 / (Nμ + kθ)
    late = _late(served_per_s, theta, threshold_s)
    for i, (lr, late_i) in enumerate(zip(log_r, late, strict=False)):
        p = math.exp(log_blocking + lr - log_total)
        stage_rate = served_per_s + (i + 1) * theta
        answered = served_per_s / stage_rate
        stage_mean_s += 1 / stage_rate
        queue_length += i * p
        answered_within += p * answered * (1 - late_i)
        answered_wait_s += p * answered * stage_mean_s

    average_wait_s = queue_length / rate_per_s  # Little's law
    abandon = _probability(theta * average_wait_s)
    # Some call is always answered, but in float a hopeless pool can round that share to 0.
    asa_s = answered_wait_s / (1 - abandon) if abandon < 1 else 0.0
    return Prediction(ErlangModel.erlang_a, n, a, stable=True,
                      service_level=_probability(answered_within),
                      probability_of_wait=_probability(1 - no_wait),
                      asa_s=asa_s, average_wait_s=average_wait_s,
                      abandon_rate=abandon, occupancy=_probability((1 - abandon) * a / n))


def _queue_log_weights(rate_per_s: float, served_per_s: float, theta: float) -> list[float]:
    """log r_i for i = 0, 1, ... until the rest of the queue is negligible. The ratios
    λ / (Nμ + iθ) fall with i, so once one is below 1 the tail is at most r_i · ρ / (1 - ρ)."""
    log_r = [0.0]
    peak = 0.0
    while True:
        ratio = rate_per_s / (served_per_s + len(log_r) * theta)
        lr = log_r[-1] + math.log(ratio)
        log_r.append(lr)
        peak = max(peak, lr)
        if ratio < 1 and lr - math.log1p(-ratio) < peak - _NEGLIGIBLE_LOG:
            return log_r


def _late(served_per_s: float, theta: float, threshold_s: float) -> Iterator[float]:
    """P(V > t) for a caller with 0, 1, 2, ... calls ahead: the running sum of the T_j of
    `erlang_a`, each found from the last in log space (T_0 alone underflows once Nμt passes
    ~745, while the terms near Nμt still count)."""
    if threshold_s == 0:
        while True:
            yield 1.0  # a caller who waits at all is not answered within 0 s
    log_term = -(served_per_s + theta) * threshold_s
    # log((1 - x) / θ) with x = e^(-θt), as log(t · (1 - e^-z) / z), z = θt: accurate
    # as θ → 0, where it tends to log t, and for a z that underflows to 0.
    z = theta * threshold_s
    log_step = math.log(threshold_s * (-math.expm1(-z) / z if z > 0 else 1.0))
    total = 0.0
    for j in itertools.count(1):
        total += math.exp(log_term)
        yield min(total, 1.0)
        log_term += log_step + math.log((served_per_s + j * theta) / j)


def agents_needed(load: Load, threshold_s: float, target_service_level: float,
                  max_occupancy: float | None = None,
                  max_agents: int = MAX_AGENTS) -> Prediction | None:
    """The prediction for the fewest agents (at most `max_agents`) whose service level reaches
    the target and, if given, whose A / N is at most `max_occupancy`; None if there are none."""
    least = 1
    if max_occupancy is not None:
        fewest = load.erlangs / max_occupancy - _ROUNDING
        if fewest > max_agents:
            return None
        least = max(1, math.ceil(fewest))
    if load.patience_s is None:
        return _erlang_c_needed(load, threshold_s, target_service_level, least, max_agents)
    # Every answered call holds an agent for AHT on average and an agent is sometimes idle,
    # so SL · A ≤ (1 - P(abandon)) · A < N: fewer than target · A agents never do.
    least = max(least, math.floor(target_service_level * load.erlangs) + 1)
    return _erlang_a_needed(load, threshold_s, target_service_level, least, max_agents)


def _erlang_c_needed(load: Load, threshold_s: float, target: float, least: int,
                     max_agents: int) -> Prediction | None:
    """Upwards from the first stable N, carrying Erlang B along: the answer is A + O(√A)."""
    a = load.erlangs
    first = max(least, math.floor(a) + 1)
    if first > max_agents:
        return None
    blocking = erlang_b(a, first - 1)
    for n in range(first, max_agents + 1):
        blocking = a * blocking / (n + a * blocking)
        prediction = _erlang_c(load, n, blocking, threshold_s)
        if prediction.service_level >= target:
            return prediction
    return None


def _erlang_a_needed(load: Load, threshold_s: float, target: float, least: int,
                     max_agents: int) -> Prediction | None:
    """Doubling from `least` until the target is met, then bisection (SL grows with N). Each
    try sums the chain afresh, so the number of tries is what counts: ~2·log2(answer)."""
    if least > max_agents:
        return None
    low = high = least  # every N below `low` misses the target
    prediction = erlang_a(load, high, threshold_s)
    while prediction.service_level < target:
        if high == max_agents:
            return None
        low, high = high + 1, min(2 * high, max_agents)
        prediction = erlang_a(load, high, threshold_s)
    while low < high:  # `high` meets the target
        middle = (low + high) // 2
        candidate = erlang_a(load, middle, threshold_s)
        if candidate.service_level >= target:
            high, prediction = middle, candidate
        else:
            low = middle + 1
    return prediction


def scheduled_agents(agents: int, shrinkage: float) -> int:
    """Agents to schedule so that `agents` remain after shrinkage (breaks, training, ...)."""
    return math.ceil(agents / (1 - shrinkage) - _ROUNDING)


def _probability(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def _log_add(x: float, y: float) -> float:
    """log(e^x + e^y) without overflow."""
    top = max(x, y)
    return top + math.log(math.exp(x - top) + math.exp(y - top))
