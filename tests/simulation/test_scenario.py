"""Scenario files, their refusals (file, line and field named), the distributions, trace
replay, and the plan drawn from a seed (examples/README.md)."""

from __future__ import annotations

import json
import math
import random
import statistics
from collections import Counter
from pathlib import Path

import pytest

from app.simulation.distributions import Distribution, Lognormal
from app.simulation.documents import ScenarioError
from app.simulation.plan import Plan, PlannedCall, plan
from app.simulation.scenario import Scenario, load_scenario

EXAMPLES = Path(__file__).parents[2] / "examples"

HEADER = ("vru+line\tcall_id\tcustomer_id\tpriority\ttype\tdate\tvru_entry\tvru_exit\tvru_time"
          "\tq_start\tq_exit\tq_time\toutcome\tser_start\tser_exit\tser_time\tserver")

# A small trace of 1999-01-04 and 1999-01-05 (line numbers in comments).
ROWS = [
    # 2: served after queueing, high priority, a known customer
    "AA0101\t1\t555\t2\tPS\t990104\t9:00:00\t9:00:06\t6\t9:00:06\t9:00:40\t34\tAGENT"
    "\t9:00:40\t9:03:40\t180\tDANA",
    # 3: hung up after 45 s in queue
    "AA0101\t2\t0\t0\tPS\t990104\t9:10:00\t9:10:05\t5\t9:10:05\t9:10:50\t45\tHANG"
    "\t0:00:00\t0:00:00\t0\tNO_SERVER",
    # 4: never queued, an agent took it at once (the IVR's clock runs 5 s late: -5)
    "AA0101\t3\t0\t1\tNW\t990104\t10:00:00\t9:59:55\t-5\t0:00:00\t0:00:00\t0\tAGENT"
    "\t10:00:08\t10:02:08\t120\tGILI",
    # 5: hung up in the IVR, never queued: not replayed
    "AA0101\t4\t0\t0\tPS\t990104\t11:00:00\t11:00:09\t9\t0:00:00\t0:00:00\t0\tHANG"
    "\t0:00:00\t0:00:00\t0\tNO_SERVER",
    # 6: a phantom: not replayed
    "AA0101\t5\t0\t0\tPS\t990104\t12:00:00\t12:00:06\t6\t12:00:06\t12:00:20\t14\tPHANTOM"
    "\t12:00:19\t12:00:25\t6\tNO_SERVER",
    # 7: a type mapped to no queue
    "AA0101\t6\t0\t0\tTT\t990104\t13:00:00\t13:00:06\t6\t13:00:06\t13:00:30\t24\tAGENT"
    "\t13:00:30\t13:01:00\t30\tDANA",
    # 8: queued before midnight, answered after it
    "AA0101\t7\t777\t0\tPS\t990104\t23:59:50\t23:59:56\t6\t23:59:56\t0:00:30\t34\tAGENT"
    "\t0:00:30\t0:02:30\t120\tAVNI",
    # 9: entered the IVR before midnight, an agent took it after (never queued)
    "AA0101\t8\t0\t0\tNW\t990104\t23:59:57\t23:59:57\t0\t0:00:00\t0:00:00\t0\tAGENT"
    "\t0:00:14\t0:02:21\t127\tAVNI",
    # 10: the next day; a 0 s service is under a second
    "AA0101\t9\t0\t0\tPS\t990105\t8:00:00\t8:00:05\t5\t8:00:05\t8:00:10\t5\tAGENT"
    "\t8:00:10\t8:00:10\t0\tDANA",
]

TRACE_SCENARIO = """\
name: trace
start: "2026-01-05T00:00:00+02:00"
queues:
  - id: retail
  - id: new
agents:
  - id_prefix: a-
    count: 2
trace:
  file: trace.tsv
  queues: {PS: retail, NW: new}
"""

MMN = """\
name: test
seed: 3
start: "2026-01-05T08:00:00Z"
duration_s: 3600
queues:
  - id: q
    arrivals: {poisson: {rate_per_hour: 60}}
    handle_time: {exponential: {mean_s: 100}}
agents:
  - id_prefix: a-
    count: 2
    config: {queues: [q]}
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Scenario:
    return load_scenario(write(tmp_path, text, name))


def refused(tmp_path: Path, text: str, name: str = "scenario.yaml",
            skip_bad_rows: bool = False) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, text, name), skip_bad_rows=skip_bad_rows)
    return caught.value


def line_of(text: str, marker: str) -> int:
    """The 1-based line holding `marker`, which must appear once."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(found) == 1, marker
    return found[0]


# --- examples -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mmn.yaml", "mmn.json", "two-skills.yaml",
                                  "bank-1999-01-04.yaml"])
def test_each_example_loads_and_plans(name: str) -> None:
    drawn = plan(load_scenario(EXAMPLES / name))
    assert drawn.calls and drawn.agents and drawn.queues
    assert [c.at_s for c in drawn.calls] == sorted(c.at_s for c in drawn.calls)
    assert len({c.external_id for c in drawn.calls}) == len(drawn.calls)
    assert all(c.handle_s > 0 and (c.patience_s is None or c.patience_s > 0)
               for c in drawn.calls)
    assert len({a.id for a in drawn.agents}) == len(drawn.agents)


def test_the_json_example_is_the_yaml_one() -> None:
    assert plan(load_scenario(EXAMPLES / "mmn.json")) == plan(load_scenario(EXAMPLES / "mmn.yaml"))


def test_the_bank_example_replays_its_day() -> None:
    drawn = plan(load_scenario(EXAMPLES / "bank-1999-01-04.yaml"))
    assert drawn.skipped_types == {"TT": 85}
    assert drawn.skipped_calls == {"never-queued": 70, "phantom": 8}
    assert len(drawn.calls) == 1671
    assert Counter(c.queue for c in drawn.calls)["retail"] == 1330


def test_two_skills_draws_priorities_patience_and_behaviour() -> None:
    drawn = plan(load_scenario(EXAMPLES / "two-skills.yaml"))
    billing = [c for c in drawn.calls if c.queue == "billing"]
    assert {c.priority for c in billing} == {0, 5}
    assert all(c.patience_s is not None for c in drawn.calls)
    blend = next(a for a in drawn.agents if a.id == "blend-01")
    assert blend.shifts == ((0.0, 7200.0), (9000.0, 14400.0))
    assert next(a for a in drawn.agents if a.id == "supp-06").shifts == ((1800.0, None),)
    assert blend.accept_delay is not None and blend.accept_delay.mean == 3
    assert drawn.queues["billing"]["max_missed_offers"] == 2


# --- the plan ---------------------------------------------------------------------------------

def test_the_same_seed_gives_the_same_plan_and_another_a_different_one(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLES / "two-skills.yaml")
    first = plan(scenario)
    assert plan(load_scenario(EXAMPLES / "two-skills.yaml")) == first
    other = plan(scenario, seed=8)
    assert other.seed == 8 and first.seed == 7
    assert [c.at_s for c in other.calls] != [c.at_s for c in first.calls]
    assert [a.seed for a in other.agents] != [a.seed for a in first.agents]


def test_adding_an_agent_leaves_every_call_as_it_was(tmp_path: Path) -> None:
    before = plan(load(tmp_path, MMN))
    after = plan(load(tmp_path, MMN.replace("count: 2", "count: 3")))
    assert after.calls == before.calls
    assert after.agents[:2] == before.agents
    assert before.calls[0] == PlannedCall(
        external_id="c000001", queue="q", at_s=before.calls[0].at_s, priority=0,
        channel=before.calls[0].channel, requirements=(), handle_s=before.calls[0].handle_s,
        patience_s=None)


def test_poisson_arrivals_come_at_the_rate(tmp_path: Path) -> None:
    text = MMN.replace("duration_s: 3600", "duration_s: 200000").replace(
        "rate_per_hour: 60", "rate_per_hour: 720")
    counts = [len(plan(load(tmp_path, text), seed=seed).calls) for seed in (1, 2)]
    expected = 720 * 200_000 / 3600  # 40_000
    for n in counts:
        assert abs(n - expected) < 4 * math.sqrt(expected)
    assert counts[0] != counts[1]


def test_per_interval_rates_are_respected(tmp_path: Path) -> None:
    text = MMN.replace("duration_s: 3600", "duration_s: 36000").replace(
        "{poisson: {rate_per_hour: 60}}",
        "{poisson: {interval_s: 12000, rates_per_hour: [0, 600, 1800]}}")
    drawn = plan(load(tmp_path, text))
    per_interval = Counter(int(c.at_s // 12000) for c in drawn.calls)
    assert per_interval[0] == 0
    for k, rate in ((1, 600), (2, 1800)):
        expected = rate * 12000 / 3600
        assert abs(per_interval[k] - expected) < 4 * math.sqrt(expected)
    assert drawn.horizon_s == drawn.calls[-1].at_s < 36000


def test_priorities_come_in_their_shares(tmp_path: Path) -> None:
    text = MMN.replace("duration_s: 3600", "duration_s: 36000").replace(
        "    handle_time:", "    priorities: [{priority: 0, share: 0.75}, {priority: 9, share:"
        " 0.25}]\n    handle_time:").replace("rate_per_hour: 60", "rate_per_hour: 1000")
    drawn = plan(load(tmp_path, text))
    high = sum(c.priority == 9 for c in drawn.calls)
    n = len(drawn.calls)
    assert abs(high - n / 4) < 4 * math.sqrt(n * 0.25 * 0.75)


def test_times_are_rounded_to_the_millisecond(tmp_path: Path) -> None:
    drawn = plan(load(tmp_path, MMN))
    for c in drawn.calls:
        assert round(c.at_s, 3) == c.at_s and round(c.handle_s, 3) == c.handle_s


# --- distributions ----------------------------------------------------------------------------

def test_lognormal_has_its_mean_and_cv() -> None:
    rng = random.Random(11)
    lognormal = Lognormal(mean_s=240, cv=0.8)
    draws = [lognormal.sample(rng) for _ in range(200_000)]
    mean = statistics.fmean(draws)
    assert abs(mean - 240) < 4 * 240 * 0.8 / math.sqrt(len(draws))
    assert statistics.stdev(draws) / mean == pytest.approx(0.8, rel=0.05)


def test_the_distributions_have_their_means() -> None:
    rng = random.Random(3)
    for written, mean in (({"constant": {"value_s": 0}}, 0.0),
                          ({"exponential": {"mean_s": 50}}, 50.0),
                          ({"empirical": {"values_s": [1, 2, 6]}}, 3.0)):
        distribution = Distribution.model_validate(written)
        assert distribution.mean == mean
        draws = [distribution.sample(rng) for _ in range(40_000)]
        assert statistics.fmean(draws) == pytest.approx(mean, abs=0.05 * mean + 1e-9)
    assert {Distribution.model_validate({"empirical": {"values_s": [1, 2, 6]}}).sample(rng)
            for _ in range(100)} == {1, 2, 6}


def test_empirical_values_come_from_a_file_next_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "talk.txt").write_text("# talk times\n100\n\n200  # long\n", encoding="utf-8")
    text = MMN.replace("{exponential: {mean_s: 100}}", "{empirical: {file: talk.txt}}")
    drawn = plan(load(tmp_path, text))
    assert {c.handle_s for c in drawn.calls} == {100, 200}


def test_an_empirical_file_with_a_bad_line_is_refused(tmp_path: Path) -> None:
    (tmp_path / "talk.txt").write_text("100\nlong\n", encoding="utf-8")
    text = MMN.replace("{exponential: {mean_s: 100}}", "{empirical: {file: talk.txt}}")
    error = refused(tmp_path, text)
    assert str(error) == f"{tmp_path / 'talk.txt'}:2: 'long' is not a number"


# --- trace replay -----------------------------------------------------------------------------

def write_trace(tmp_path: Path, rows: list[str]) -> None:
    (tmp_path / "trace.tsv").write_text("\r\n".join([HEADER, *rows]) + "\r\n", encoding="utf-8")


def test_a_trace_replays_arrivals_talk_times_and_patience(tmp_path: Path) -> None:
    write_trace(tmp_path, ROWS)
    drawn = plan(load(tmp_path, TRACE_SCENARIO.replace(
        "  queues: {", '  dates: ["1999-01-04", "1999-01-05"]\n  queues: {')))
    day = 86_400.0
    hung_up = next(c for c in drawn.calls if c.patience_s is not None)
    assert hung_up.handle_s in {180, 120}  # drawn from the retail calls served
    expected = [
        PlannedCall("c000001", "retail", 9 * 3600 + 6, 2, hung_up.channel, (), 180, None, "555"),
        PlannedCall("c000002", "retail", 9 * 3600 + 605, 0, hung_up.channel, (),
                    hung_up.handle_s, 45, None),
        PlannedCall("c000003", "new", 10 * 3600 + 8, 1, hung_up.channel, (), 120, None),
        PlannedCall("c000004", "retail", day - 4, 0, hung_up.channel, (), 120, None, "777"),
        PlannedCall("c000005", "new", day + 14, 0, hung_up.channel, (), 127, None),
        PlannedCall("c000006", "retail", day + 8 * 3600 + 5, 0, hung_up.channel, (), 1, None),
    ]
    assert drawn.calls == expected
    assert drawn.skipped_types == {"TT": 1}
    assert drawn.skipped_calls == {"never-queued": 1, "phantom": 1}
    assert drawn.skipped_rows == 0
    assert drawn.duration_s == 2 * day
    assert drawn.agents[0].shifts == ((0.0, None),)


def test_a_trace_replays_only_the_dates_asked_for_back_to_back(tmp_path: Path) -> None:
    write_trace(tmp_path, ROWS)
    drawn = plan(load(tmp_path, TRACE_SCENARIO.replace(
        "  queues: {", '  dates: ["1999-01-05", "1999-01-04"]\n  queues: {')))
    assert drawn.calls[0].at_s == 8 * 3600 + 5  # 1999-01-05 first
    assert drawn.calls[1].at_s == 86_400 + 9 * 3600 + 6
    drawn = plan(load(tmp_path, TRACE_SCENARIO.replace(
        "  queues: {", '  dates: ["1999-01-04"]\n  queues: {').replace(
        "queues:\n  - id: retail", "duration_s: 36000\nqueues:\n  - id: retail")))
    assert [c.at_s for c in drawn.calls] == [32406, 33005]
    assert drawn.skipped_calls["after-end"] == 3


def test_a_trace_with_malformed_rows_is_refused_with_the_line_and_column(
        tmp_path: Path) -> None:
    bad_number = ROWS[1].replace("\t45\t", "\tabc\t")
    short = "\t".join(ROWS[2].split("\t")[:15])
    write_trace(tmp_path, [ROWS[0], bad_number, short, *ROWS[3:]])
    error = refused(tmp_path, TRACE_SCENARIO)
    assert str(error) == f"{tmp_path / 'trace.tsv'}:3: q_time: 'abc' is not a number"
    write_trace(tmp_path, [ROWS[0], short, *ROWS[3:]])
    error = refused(tmp_path, TRACE_SCENARIO)
    assert (error.line, error.field) == (3, "")
    assert str(error).endswith(":3: expected 17 tab-separated columns, found 15")


def test_malformed_rows_can_be_skipped_and_are_counted(tmp_path: Path) -> None:
    bad_number = ROWS[1].replace("\t45\t", "\tabc\t")
    short = "\t".join(ROWS[2].split("\t")[:15])
    bad_time = ROWS[3].replace("11:00:00", "11:60:00")
    write_trace(tmp_path, [ROWS[0], bad_number, short, bad_time, *ROWS[4:]])
    scenario = load_scenario(write(tmp_path, TRACE_SCENARIO), skip_bad_rows=True)
    drawn = plan(scenario)
    assert drawn.skipped_rows == 3
    assert [c.at_s for c in drawn.calls][:1] == [9 * 3600 + 6]


def test_a_trace_without_its_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / "trace.tsv").write_text("\n".join(ROWS), encoding="utf-8")
    error = refused(tmp_path, TRACE_SCENARIO, skip_bad_rows=True)
    assert error.line == 1 and "expected the header" in str(error)


# --- refusals ---------------------------------------------------------------------------------

BAD = [
    ("unknown key", MMN.replace("    handle_time:", "    handel_time: {}\n    handle_time:"),
     "handel_time: {}", "queues[0].handel_time", "unknown key"),
    ("negative rate", MMN.replace("rate_per_hour: 60", "rate_per_hour: -5"),
     "rate_per_hour: -5", "queues[0].arrivals.poisson.rate_per_hour",
     "must be greater than 0, not -5"),
    ("lognormal without cv", MMN.replace(
        "    handle_time: {exponential: {mean_s: 100}}",
        "    handle_time:\n      lognormal:\n        mean_s: 100"),
     "      lognormal:", "queues[0].handle_time.lognormal.cv", "missing"),
    ("two kinds", MMN.replace("{exponential: {mean_s: 100}}",
                              "{exponential: {mean_s: 100}, constant: {value_s: 1}}"),
     "handle_time:", "queues[0].handle_time",
     "give exactly one of constant, exponential, lognormal, empirical"),
    ("shares", MMN.replace("    handle_time:", "    priorities:\n      - {priority: 0, share:"
                           " 0.5}\n      - {priority: 1, share: 0.4}\n    handle_time:"),
     "    priorities:", "queues[0].priorities", "shares must sum to 1, not 0.9"),
    ("unknown queue in an agent", MMN.replace("config: {queues: [q]}",
                                              "config:\n      queues: [q,\n        r]"),
     "        r]", "agents[0].config.queues[1]", "unknown queue 'r'"),
    ("an agent's config", MMN.replace("config: {queues: [q]}",
                                      "config: {queues: [q], capacity: {voice: 2}}"),
     "capacity: {voice: 2}", "agents[0].config",
     "capacity: voice take one call at a time (at most 1)"),
    ("shifts overlap", MMN.replace("    count: 2", "    count: 2\n    shifts: [{start_s: 0,"
                                   " end_s: 100}, {start_s: 50}]"),
     "shifts:", "agents[0].shifts", "shifts[1] starts before shifts[0] ends"),
    ("text for a number", MMN.replace("duration_s: 3600", "duration_s: '3600'"),
     "duration_s:", "duration_s", "must be a valid number, not '3600'"),
    ("no handle time", MMN.replace("    handle_time: {exponential: {mean_s: 100}}\n", ""),
     "- id: q", "queues[0].handle_time", "missing (arrivals need a talk time)"),
    ("a key twice", MMN.replace("seed: 3", "seed: 3\nseed: 4"), "seed: 4", "seed",
     "given twice"),
    ("the same agent twice", MMN + "  - id_prefix: a-\n", "id_prefix: a-",
     "agents[1].id_prefix", "makes 'a-01', as agents[0] does"),
]


TRACE_BAD = [
    ("unknown queue in the trace", TRACE_SCENARIO.replace("NW: new}", "NW: news}"),
     "NW: news", "trace.queues.NW", "unknown queue 'news'"),
    ("a day not in the trace", TRACE_SCENARIO.replace(
        "  queues: {", '  dates:\n    - "1999-01-04"\n    - "1999-02-01"\n  queues: {'),
     '"1999-02-01"', "trace.dates[1]", "1999-02-01 has no rows in the trace"),
    ("a date as a number", TRACE_SCENARIO.replace("  queues: {", "  dates: [990104]\n  queues: {"),
     "dates:", "trace.dates[0]", "must be text, like 2026-01-05 or 2026-01-05T08:00:00Z"),
    ("no trace file", TRACE_SCENARIO.replace("file: trace.tsv", "file: nowhere.tsv"),
     "file: nowhere.tsv", "trace.file", "no such file"),
    ("a queue fed by nothing", TRACE_SCENARIO.replace("  - id: new\n", "  - id: new\n  - id: x\n"),
     "- id: x", "queues[2].arrivals", "missing: no arrivals, and no trace type maps here"),
    ("start without an offset", TRACE_SCENARIO.replace("+02:00", ""), "start:", "start",
     "must have timezone info, not '2026-01-05T00:00:00'"),
    ("unknown time zone", TRACE_SCENARIO.replace(
        "queues:\n  - id: retail", "time_zone: Mars/Olympus\nqueues:\n  - id: retail"),
     "time_zone:", "time_zone", "unknown time zone 'Mars/Olympus'"),
    ("overflow cycle", TRACE_SCENARIO.replace(
        "  - id: retail\n  - id: new\n",
        "  - id: retail\n    config: {max_wait_s: 60, overflow_queue: new}\n"
        "  - id: new\n    config: {max_wait_s: 60, overflow_queue: retail}\n"),
     "overflow_queue: new}", "queues[0].config.overflow_queue",
     "overflows back into this queue: retail -> new -> retail"),
]


@pytest.mark.parametrize(("text", "marker", "field", "message"),
                         [pytest.param(*case[1:], id=case[0]) for case in TRACE_BAD])
def test_a_bad_trace_scenario_is_refused_with_its_line_and_field(
        tmp_path: Path, text: str, marker: str, field: str, message: str) -> None:
    write_trace(tmp_path, ROWS)
    error = refused(tmp_path, text)
    named = [p for p in error.problems if (p.line, p.field) == (line_of(text, marker), field)]
    assert named and message in named[0].message, str(error)


def test_overflow_targets_are_created_first(tmp_path: Path) -> None:
    write_trace(tmp_path, ROWS)
    drawn = plan(load(tmp_path, TRACE_SCENARIO.replace(
        "  - id: retail\n", "  - id: retail\n    config: {max_wait_s: 60, overflow_queue: new}\n")))
    assert list(drawn.queues) == ["new", "retail"]


@pytest.mark.parametrize(("text", "marker", "field", "message"),
                         [pytest.param(*case[1:], id=case[0]) for case in BAD])
def test_a_bad_yaml_scenario_is_refused_with_its_line_and_field(
        tmp_path: Path, text: str, marker: str, field: str, message: str) -> None:
    error = refused(tmp_path, text)
    line = [n for n, line in enumerate(text.splitlines(), 1) if marker in line][-1]
    assert str(error) == f"{tmp_path / 'scenario.yaml'}:{line}: {field}: {message}"
    assert (error.line, error.field) == (line, field)


def mmn_json(**changes: object) -> str:
    data = json.loads((EXAMPLES / "mmn.json").read_text(encoding="utf-8"))
    data["queues"][0]["arrivals"]["poisson"].update(changes)
    return json.dumps(data, indent=2)


def test_a_bad_json_scenario_is_refused_with_its_line_and_field(tmp_path: Path) -> None:
    text = mmn_json(rate_per_hour=-5)
    error = refused(tmp_path, text, "scenario.json")
    assert str(error) == (
        f"{tmp_path / 'scenario.json'}:{line_of(text, '-5')}: "
        "queues[0].arrivals.poisson.rate_per_hour: must be greater than 0, not -5")
    text = mmn_json(rate=1)
    error = refused(tmp_path, text, "scenario.json")
    assert (error.line, error.field) == (line_of(text, '"rate"'), "queues[0].arrivals.poisson.rate")
    assert str(error).endswith(": unknown key")
    data = json.loads(mmn_json())
    data["agents"][0]["config"]["queues"] = ["sales", "billing"]
    text = json.dumps(data, indent=1)
    error = refused(tmp_path, text, "scenario.json")
    assert (error.line, error.field) == (line_of(text, '"billing"'), "agents[0].config.queues[1]")


def test_broken_syntax_is_refused_with_its_line(tmp_path: Path) -> None:
    error = refused(tmp_path, MMN.replace("seed: 3", "seed: [3"))
    assert error.line is not None and error.line >= line_of(MMN, "seed: 3")
    error = refused(tmp_path, '{\n  "name": "x",\n  "seed": 1,,\n}', "scenario.json")
    assert error.line == 3


def test_every_problem_is_named_in_line_order(tmp_path: Path) -> None:
    text = MMN.replace("seed: 3", "seed: -1").replace("mean_s: 100", "mean_s: 0")
    error = refused(tmp_path, text)
    assert [(p.line, p.field) for p in error.problems] == [
        (line_of(text, "seed: -1"), "seed"),
        (line_of(text, "mean_s: 0"), "queues[0].handle_time.exponential.mean_s")]


def test_a_plan_is_a_value(tmp_path: Path) -> None:
    drawn: Plan = plan(load(tmp_path, MMN))
    assert drawn.queues == {"q": drawn.queues["q"]} and drawn.queues["q"]["wrap_up_s"] == 0
    assert drawn.start.isoformat() == "2026-01-05T08:00:00+00:00"
