"""`switchboard simulate`: a scenario file in, a terminal summary, an HTML report and every
call's outcome out; the same seed gives the same calls; a bad file is refused by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main

SCENARIO = """\
name: Small M/M/3
seed: 4
start: "2026-01-05T08:00:00Z"
duration_s: 1800
queues:
  - id: q
    config: {wrap_up_s: 0, service_level: {threshold_s: 20, target: 0.8}}
    arrivals: {poisson: {rate_per_hour: 60}}
    handle_time: {exponential: {mean_s: 150}}
    patience: {exponential: {mean_s: 120}}
agents:
  - id_prefix: a
    count: 3
    config: {queues: [q]}
"""


def simulate(tmp_path: Path, *extra: str, text: str = SCENARIO) -> tuple[int, Path, Path]:
    scenario = tmp_path / "small.yaml"
    scenario.write_text(text)
    report, outcomes = tmp_path / "small.html", tmp_path / "small.json"
    code = main(["simulate", str(scenario), "--quiet", "--report", str(report),
                 "--json", str(outcomes), *extra])
    return code, report, outcomes


def test_summary_report_and_outcomes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, outcomes = simulate(tmp_path)
    assert code == 0
    out = capsys.readouterr().out
    assert "Small M/M/3:" in out and "service level (of offered)" in out
    assert "Erlang A (patience 120 s): 60 calls/h, AHT 150 s, 3 agents" in out
    page = report.read_text()
    assert page.count("data:image/png;base64,") == 3 and "Erlang prediction" in page
    calls = json.loads(outcomes.read_text())["calls"]
    assert len(calls) > 20
    assert {c["outcome"] for c in calls} <= {"completed", "abandoned"}
    answered = [c for c in calls if c["connected_s"] is not None]
    assert all(c["connected_s"] >= c["arrived_s"] for c in answered)


def test_same_seed_same_calls_other_seed_other_calls(tmp_path: Path) -> None:
    first = json.loads(simulate(tmp_path)[2].read_text())
    again = json.loads(simulate(tmp_path)[2].read_text())
    other = json.loads(simulate(tmp_path, "--seed", "5")[2].read_text())
    assert first == again
    assert first["calls"] != other["calls"]


def test_a_bad_scenario_is_refused_with_its_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = SCENARIO.replace("rate_per_hour: 60", "rate_per_hour: -60")
    code, report, _ = simulate(tmp_path, text=bad)
    assert code == 2 and not report.exists()
    err = capsys.readouterr().err
    assert "small.yaml:8: queues[0].arrivals.poisson.rate_per_hour" in err
