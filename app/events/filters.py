"""Event types and the filters that select them (`call.*`, `agent.state_changed`, `*`), shared by
the event stream, the polling endpoint and webhook subscriptions."""

from __future__ import annotations

from collections.abc import Iterable

EVENT_TYPES: tuple[str, ...] = (
    "call.queued", "call.offered", "call.connected", "call.completed", "call.abandoned",
    "call.timed_out", "call.overflowed", "call.transferred", "call.requeued", "call.updated",
    "call.relaxed", "call.preference_expired", "call.wrap_up_ended",
    "agent.state_changed", "agent.updated",
    "queue.updated",
    "webhook.paused", "webhook.resumed",
)
FAMILIES = frozenset(t.split(".", 1)[0] for t in EVENT_TYPES)
MAX_PATTERNS = 50


def unknown_patterns(patterns: Iterable[str]) -> list[str]:
    """The patterns that select no event type: neither a type, `<family>.*`, nor `*`."""
    return [p for p in patterns
            if not (p == "*" or p in EVENT_TYPES
                    or (p.endswith(".*") and p[:-2] in FAMILIES))]


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Does any pattern select this type? No patterns at all selects every type."""
    any_pattern = False
    for p in patterns:
        any_pattern = True
        if p == "*" or p == event_type or (p.endswith(".*")
                                           and event_type.startswith(p[:-1])):
            return True
    return not any_pattern
