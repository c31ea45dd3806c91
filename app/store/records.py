"""What the scripts return, as typed records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.routing.records import AgentSnapshot, CallRecord, as_dict, as_list, opt_int, opt_str

JsonObject = dict[str, object]


@dataclass(frozen=True, slots=True)
class Contact:
    """A call an agent holds: `offered`, `connected` or in `wrap_up`."""

    call_id: str
    channel: str
    stage: str
    offer_id: str | None


@dataclass(frozen=True, slots=True)
class AgentLive:
    """An agent's live state as Redis holds it (DESIGN §3.3)."""

    state: str = "offline"
    reason: str | None = None
    idle_since_ms: int | None = None
    state_since_ms: int | None = None
    call_id: str | None = None
    offer_id: str | None = None
    missed_in_row: int = 0
    pending_state: str | None = None
    pending_reason: str | None = None
    contacts: tuple[Contact, ...] = ()

    @classmethod
    def parse(cls, raw: str | dict[str, Any] | None) -> AgentLive:
        if raw is None:
            return cls()
        d = json.loads(raw) if isinstance(raw, str) else raw
        pending = as_dict(d.get("after_call"))
        return cls(
            state=d.get("state", "offline"), reason=opt_str(d.get("reason")),
            idle_since_ms=opt_int(d.get("idle_since_ms")),
            state_since_ms=opt_int(d.get("state_since_ms")), call_id=opt_str(d.get("call_id")),
            offer_id=opt_str(d.get("offer_id")), missed_in_row=int(d.get("missed_in_row") or 0),
            pending_state=opt_str(pending.get("state")),
            pending_reason=opt_str(pending.get("reason")),
            contacts=tuple(sorted(
                (Contact(str(call_id), str(c.get("channel", "voice")), str(c.get("stage")),
                         opt_str(c.get("offer_id")))
                 for call_id, c in as_dict(d.get("contacts")).items()),
                key=lambda c: c.call_id)),
        )


@dataclass(frozen=True, slots=True)
class CallWake:
    """A call became routable; `agents` are the queue's best available agents."""

    call: CallRecord
    strategy: str
    agents: tuple[AgentSnapshot, ...]


@dataclass(frozen=True, slots=True)
class AgentWake:
    """An agent became available; `calls` are the heads of its queues (and calls sent to it)."""

    agent: AgentSnapshot
    strategies: dict[str, str]
    calls: tuple[CallRecord, ...]


Wake = CallWake | AgentWake


def wakes(value: object) -> list[Wake]:
    out: list[Wake] = []
    for w in as_list(value):
        if "call" in w:
            out.append(CallWake(CallRecord.parse(w["call"]), str(w.get("strategy")),
                                tuple(AgentSnapshot.parse(a) for a in as_list(w.get("agents")))))
        else:
            out.append(AgentWake(AgentSnapshot.parse(w["agent"]),
                                 {str(k): str(v) for k, v in as_dict(w.get("strategies")).items()},
                                 tuple(CallRecord.parse(c) for c in as_list(w.get("calls")))))
    return out


@dataclass(frozen=True, slots=True)
class Waiting:
    reason: str
    agents_logged_in: int
    agents_eligible: int
    agents_eligible_available: int
    agents_working: int
    aht_ms: float
    estimate_ms: float | None

    @classmethod
    def parse(cls, w: dict[str, Any]) -> Waiting | None:
        if not w:
            return None
        estimate = w.get("estimate_ms")
        return cls(str(w["reason"]), int(w["agents_logged_in"]), int(w["agents_eligible"]),
                   int(w["agents_eligible_available"]), int(w.get("agents_working") or 0),
                   float(w.get("aht_ms") or 0),
                   None if estimate is None else float(estimate))


@dataclass(frozen=True, slots=True)
class Explained:
    """A call with its position and, while it waits, why."""

    call: CallRecord
    position: int | None
    waiting: Waiting | None


_PARSED = frozenset({"error", "call", "wake", "now", "items"})


@dataclass(frozen=True, slots=True)
class Reply:
    """One script's answer. `error` is a slug the service turns into a problem."""

    now_ms: int
    error: str | None = None
    details: JsonObject = field(default_factory=dict)
    call: CallRecord | None = None
    agent: AgentLive | None = None
    position: int | None = None
    wake: tuple[Wake, ...] = ()
    repeated: bool = False
    items: tuple[Explained, ...] = ()
    # timer steps
    fired: str | None = None
    peek: str | None = None
    idle: bool = False
    next_timer: str | None = None

    @classmethod
    def parse(cls, raw: str) -> Reply:
        d: dict[str, Any] = json.loads(raw)
        call = d.get("call")
        return cls(
            now_ms=round(d.get("now") or 0),
            error=opt_str(d.get("error")),
            details={k: v for k, v in d.items() if k not in _PARSED},
            call=CallRecord.parse(call) if isinstance(call, dict) else None,
            agent=AgentLive.parse(d["agent"]) if isinstance(d.get("agent"), dict) else None,
            position=opt_int(d.get("position")),
            wake=tuple(wakes(d.get("wake"))),
            repeated=bool(d.get("repeated") or d.get("unchanged")),
            items=tuple(Explained(CallRecord.parse(i["call"]), opt_int(i.get("position")),
                                  Waiting.parse(as_dict(i.get("waiting"))))
                        for i in as_list(d.get("items"))),
            fired=opt_str(d.get("fired")), peek=opt_str(d.get("peek")), idle=bool(d.get("idle")),
            next_timer=opt_str(d.get("next")),
        )
