"""`switchboard erlang`: the same answers and the same validation as the API."""

from __future__ import annotations

import json

import pytest

from app.cli import main

E1 = ["erlang", "--rate-per-hour", "200", "--aht", "180", "--threshold", "20"]


def test_e1_agents_needed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(E1) == 0
    out = capsys.readouterr().out
    assert out.startswith("erlang_c: 10 Erlangs offered\n")
    assert "agents needed             14\n" in out
    assert "scheduled (0% shrinkage)  14\n" in out
    assert "service level (20 s)      88.84%\n" in out
    assert "ASA (answered calls)      7.84 s\n" in out


def test_e1_with_shrinkage_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*E1, "--target", "0.8", "--shrinkage", "0.3", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["model"], answer["agents"], answer["scheduled_agents"]) == ("erlang_c", 14,
                                                                               20)
    assert answer["service_level"] == pytest.approx(0.8884, abs=1e-4)


def test_e4_given_agents(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*E1, "--patience", "300", "--agents", "14", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["model"] == "erlang_a" and answer["agents"] == 14
    assert answer["service_level"] == pytest.approx(0.916792, abs=1e-4)


def test_unstable_pool(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*E1, "--agents", "10"]) == 0
    out = capsys.readouterr().out
    assert "(unstable: agents ≤ Erlangs)" in out and "unbounded" in out


@pytest.mark.parametrize(("args", "named"), [
    (["--rate-per-hour", "0", "--aht", "180", "--threshold", "20"],
     "--rate-per-hour (arrival_rate_per_hour)"),
    ([*E1[1:], "--target", "1"], "--target (target_service_level)"),
    ([*E1[1:], "--patience", "-3"], "--patience (patience_s)"),
    ([*E1[1:], "--shrinkage", "1"], "--shrinkage (shrinkage)"),
    ([*E1[1:], "--aht", "nan"], "--aht (aht_s)"),
])
def test_bad_input_exits_2_naming_the_field(capsys: pytest.CaptureFixture[str],
                                            args: list[str], named: str) -> None:
    assert main(["erlang", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {named}: ") and captured.err.count("\n") == 1


def test_an_unreachable_target_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["erlang", "--rate-per-hour", "100000", "--aht", "7200", "--threshold",
                 "20"]) == 1
    assert "No number of agents up to 100000" in capsys.readouterr().err
