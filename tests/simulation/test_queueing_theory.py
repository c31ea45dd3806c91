"""Simulated KPIs against queueing theory: Erlang C (P(wait), service level, ASA), Erlang A
(the same and P(abandon)) and Cobham's per-class mean waits under strict priority
(app/staffing/erlang.py, app/simulation/ciw_check.py; docs/simulation-validation.md).

Two kinds of run, each a set of R independent replications (seeds); the first 10 % of each
replication's calls are left out, since every run starts with nobody waiting:

- Through the engine (real Redis, manual clock), a small case per model: R = 8 replications
  of 60 calls with 2 agents. Each replication is also checked call by call against Ciw, so
  its KPIs are distributed exactly as Ciw's on the same design; their standard deviation σ is
  measured on 200 Ciw replications of that design (other seeds), and a figure passes if the
  mean of the R engine replications is within k·σ/√R of the formula, k = 4. Why σ from Ciw
  and not from the 8 engine replications: mean waits of short runs are very skewed (mostly
  small, now and then large), so the spread of 8 of them is often far too small and a
  Student-t interval fails a correct engine in 3–7 % of seed sets. With σ known, 300 sets of
  8 Ciw replications per case gave |z| ≤ 3.4 for every figure, none beyond 4; for a normal
  mean, |z| > 4 has probability 6·10⁻⁵. The price of 480 calls: one σ/√R is 7–13 % of
  P(wait), SL and P(abandon) and 15–37 % of a mean wait, so these runs catch gross errors.
- Through Ciw alone, the cases of shared/validation/ERLANG.md (E1–E4, and E3's traffic in two
  priority classes): R = 8 replications of 4,000 calls. Every call the engine runs waits what
  Ciw gives it (test_ciw_equivalence.py, and the engine runs here), so Ciw's long runs speak
  for the engine at a hundredth of its cost. Here the replications are long enough for their
  means to be near normal, and the standard error is their own spread, s/√R; a figure passes
  within k·s/√R, k = 5.41 = the two-sided 0.1 % point of Student's t with R − 1 = 7 degrees
  of freedom (a correct simulator fails a given figure with probability 0.001). The standard
  error is then 1–3 % of SL, 4–13 % of P(wait), 11 % of E4's P(abandon) and 5–26 % of a
  mean wait (E2's 55 agents at 87 % mix slowest).

Runs are seeded and the engine is deterministic on a manual clock, so a pass stays a pass; k
decides what a run can detect. The formulas themselves are checked against ERLANG.md's
figures here too (and in tests/staffing/test_erlang.py).
"""

from __future__ import annotations

import asyncio
import math
import statistics
from dataclasses import dataclass, field

import pytest

from app.simulation.ciw_check import HIGH, ciw_waits, cobham, compare, draw, engine_waits, kpis
from app.simulation.replay import Arrival, Replay
from app.staffing import erlang
from tests.support import Api

Figures = dict[str, float]

ENGINE_SEEDS = range(1, 9)
ENGINE_CALLS = 60
REFERENCE_SEEDS = range(10_001, 10_201)  # Ciw replications that measure σ
K_KNOWN_SIGMA = 4.0
CIW_SEEDS = range(1, 9)
CIW_CALLS = 4_000
K_STUDENT_7 = 5.408  # t(7) two-sided 0.1 %


@pytest.fixture(params=["redis+postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Real Redis only: the engine is the same on both back-ends (the other tests show it), and
    replays are slow on the embedded one."""
    return str(request.param)


@dataclass(frozen=True)
class Case:
    agents: int
    aht_s: float
    erlangs: float
    threshold_s: float
    patience_s: float | None = None
    high_share: float = 0.0
    book: Figures = field(default_factory=dict)  # ERLANG.md's figures for the formula

    @property
    def rate_per_s(self) -> float:
        return self.erlangs / self.aht_s

    def draw(self, seed: int, calls: int) -> list[Arrival]:
        return draw(seed, calls, self.agents, self.aht_s, self.erlangs / self.agents,
                    self.patience_s, self.high_share)

    def expected(self) -> Figures:
        p = erlang.predict(erlang.Load(self.rate_per_s * erlang.SECONDS_PER_HOUR, self.aht_s,
                                       self.patience_s), self.agents, self.threshold_s)
        out = {"P(wait)": p.probability_of_wait, "SL": p.service_level, "ASA": p.asa_s,
               "P(abandon)": p.abandon_rate, "mean wait": p.average_wait_s}
        if self.high_share:
            high, low = cobham([self.rate_per_s * self.high_share,
                                self.rate_per_s * (1 - self.high_share)],
                               self.aht_s, self.agents)
            out |= {"wait, high": high, "wait, low": low}
        return out

    def figures(self, arrivals: list[Arrival], waits: list[tuple[float, bool]]) -> Figures:
        """The KPIs of one replication, its first 10 % left out."""
        skip = len(arrivals) // 10
        k = kpis(waits[skip:], self.threshold_s)
        out = {"P(wait)": k.waited, "SL": k.service_level, "ASA": k.asa_s,
               "P(abandon)": k.abandoned, "mean wait": k.mean_wait_s}
        if self.high_share:
            for name, high in (("wait, high", True), ("wait, low", False)):
                w = [wait for a, (wait, _) in zip(arrivals[skip:], waits[skip:], strict=True)
                     if (a.priority == HIGH) == high]
                out[name] = sum(w) / len(w) if w else 0.0
        return out

    def ciw_figures(self, seed: int, calls: int) -> Figures:
        arrivals = self.draw(seed, calls)
        return self.figures(arrivals, [(c.wait_s, c.answered)
                                       for c in ciw_waits(arrivals, self.agents)])


def misses(runs: list[Figures], expected: Figures, names: list[str],
           se: dict[str, float], k: float) -> list[str]:
    """The figures whose mean over the runs is more than k standard errors from expected."""
    out = []
    for name in names:
        mean = statistics.fmean(r[name] for r in runs)
        if abs(mean - expected[name]) > k * se[name]:
            out.append(f"{name}: {mean:.4g} against {expected[name]:.4g}, "
                       f"{abs(mean - expected[name]) / se[name]:.1f} > {k} standard errors "
                       f"of {se[name]:.3g}")
    return out


async def engine_check(service: Api, case: Case, names: list[str]) -> None:
    async def replication(seed: int) -> Figures:
        arrivals = case.draw(seed, ENGINE_CALLS)
        t = await service.tenant("manual")
        await t.put_queue("q", auto_accept=True, max_size=100_000)
        for i in range(case.agents):
            await t.put_agent(f"a{i}", queues=["q"])
            await t.state(f"a{i}", "available")
        ours = await Replay(service.http, t.key, "q").run(arrivals)
        assert compare(ours, ciw_waits(arrivals, case.agents)) == []
        return case.figures(arrivals, engine_waits(ours))

    # Tenants are independent: running the replications together overlaps their I/O.
    runs = await asyncio.gather(*(replication(s) for s in ENGINE_SEEDS))
    reference = [case.ciw_figures(s, ENGINE_CALLS) for s in REFERENCE_SEEDS]
    se = {n: statistics.stdev(r[n] for r in reference) / math.sqrt(len(runs)) for n in names}
    assert misses(list(runs), case.expected(), names, se, K_KNOWN_SIGMA) == []


def ciw_check(case: Case, names: list[str]) -> None:
    expected = case.expected()
    for name, figure in case.book.items():  # the formula gives ERLANG.md's figures
        assert expected[name] == pytest.approx(figure, rel=2e-3), name
    runs = [case.ciw_figures(s, CIW_CALLS) for s in CIW_SEEDS]
    se = {n: statistics.stdev(r[n] for r in runs) / math.sqrt(len(runs)) for n in names}
    assert misses(runs, expected, names, se, K_STUDENT_7) == []


async def test_engine_matches_erlang_c(service: Api) -> None:
    await engine_check(service, Case(agents=2, aht_s=180, erlangs=1.2, threshold_s=20),
                       ["P(wait)", "SL", "ASA"])


async def test_engine_matches_erlang_a(service: Api) -> None:
    case = Case(agents=2, aht_s=180, erlangs=1.6, threshold_s=20, patience_s=120)
    await engine_check(service, case, ["P(wait)", "SL", "ASA", "P(abandon)", "mean wait"])


async def test_engine_matches_cobham(service: Api) -> None:
    case = Case(agents=2, aht_s=180, erlangs=1.2, threshold_s=20, high_share=0.5)
    await engine_check(service, case, ["P(wait)", "mean wait", "wait, high", "wait, low"])


E1 = Case(agents=14, aht_s=180, erlangs=10, threshold_s=20,
          book={"P(wait)": 0.1741, "SL": 0.8884, "ASA": 7.84})
E2 = Case(agents=55, aht_s=240, erlangs=48, threshold_s=15,
          book={"P(wait)": 0.2387, "SL": 0.8459, "ASA": 8.18})
E3 = Case(agents=12, aht_s=300, erlangs=10, threshold_s=30,
          book={"P(wait)": 0.44939, "SL": 0.63207})
E4 = Case(agents=14, aht_s=180, erlangs=10, threshold_s=20, patience_s=300,
          book={"P(wait)": 0.14526, "P(abandon)": 0.013984, "SL": 0.916792,
                "mean wait": 4.20})


@pytest.mark.parametrize("case", [E1, E2, E3], ids=["E1", "E2", "E3"])
def test_ciw_matches_erlang_c_on_the_erlang_md_cases(case: Case) -> None:
    ciw_check(case, ["P(wait)", "SL", "ASA"])


def test_ciw_matches_erlang_a_on_e4() -> None:
    ciw_check(E4, ["P(wait)", "SL", "ASA", "P(abandon)", "mean wait"])


def test_ciw_matches_cobham_on_e3_traffic_in_two_classes() -> None:
    case = Case(agents=12, aht_s=300, erlangs=10, threshold_s=30, high_share=0.3)
    ciw_check(case, ["P(wait)", "mean wait", "wait, high", "wait, low"])


def test_cobham_keeps_erlang_c_mean_wait() -> None:
    """One class is Erlang C; in two, the call-weighted mean wait is Erlang C's (the work does
    not depend on the order calls are taken in: Kleinrock's conservation law)."""
    asa_s = E3.expected()["ASA"]
    assert cobham([E3.rate_per_s], E3.aht_s, E3.agents) == [pytest.approx(asa_s)]
    high, low = cobham([0.3 * E3.rate_per_s, 0.7 * E3.rate_per_s], E3.aht_s, E3.agents)
    assert high < asa_s < low
    assert 0.3 * high + 0.7 * low == pytest.approx(asa_s)
