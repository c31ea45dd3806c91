"""Event-type filters: exact types, `<family>.*`, `*`, and what counts as unknown."""

from __future__ import annotations

import pytest

from app.events.filters import EVENT_TYPES, matches, unknown_patterns


@pytest.mark.parametrize(("patterns", "event_type", "selected"), [
    ([], "call.queued", True),
    (["*"], "agent.updated", True),
    (["call.*"], "call.offered", True),
    (["call.*"], "agent.state_changed", False),
    (["agent.state_changed"], "agent.state_changed", True),
    (["agent.state_changed"], "agent.updated", False),
    (["call.offered", "queue.*"], "queue.updated", True),
    (["call.*"], "callx.offered", False),
])
def test_matches(patterns: list[str], event_type: str, selected: bool) -> None:
    assert matches(patterns, event_type) is selected


def test_unknown_patterns_are_named() -> None:
    assert unknown_patterns(["call.*", "*", *EVENT_TYPES]) == []
    assert unknown_patterns(["call.ofered", "fax.*", "call", "call.**", ""]) == [
        "call.ofered", "fax.*", "call", "call.**", ""]
