"""The records a strategy decides on: a call and its candidate agents, as plain data.
Lua's cjson writes an empty list as `{}`, so lists are read with `_list`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def opt_int(value: object) -> int | None:
    return None if value is None else round(cast(float, value))


def opt_str(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Requirement:
    skill: str
    min_level: int


def requirements(value: object) -> tuple[Requirement, ...]:
    return tuple(Requirement(str(r["skill"]), int(r["min_level"])) for r in as_list(value))


@dataclass(frozen=True, slots=True)
class Offer:
    id: str
    agent_id: str
    offered_ms: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call as Redis holds it (DESIGN §3.4)."""

    id: str
    queue: str
    state: str
    priority: int
    rank: float
    arrived_ms: int
    entered_ms: int
    channel: str = "voice"
    external_id: str | None = None
    caller: dict[str, Any] = field(default_factory=dict)
    requirements: tuple[Requirement, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    offer: Offer | None = None
    agent_id: str | None = None
    target_agent: str | None = None
    connected_ms: int | None = None
    ended_ms: int | None = None
    talk_ms: int | None = None
    transfers: int = 0
    overflows: int = 0
    requeues: int = 0
    missed_offers: int = 0
    resolved: bool | None = None
    disposition: str | None = None
    csat: int | None = None
    accepted_offer_id: str | None = None
    preferred_until_ms: int | None = None
    # Given with a routing decision, not stored with the call:
    queue_requirements: tuple[Requirement, ...] = ()
    strategy: str | None = None  # the strategy of the call's queue
    # The queue's and the call's requirements at the call's relaxation step (None: unknown).
    effective_requirements: tuple[Requirement, ...] | None = None
    cursor: str | None = None  # round-robin: the agent last offered a call of this queue

    @classmethod
    def parse(cls, raw: str | dict[str, Any]) -> CallRecord:
        d = json.loads(raw) if isinstance(raw, str) else raw
        o = as_dict(d.get("offer"))
        offer = (
            Offer(str(o["id"]), str(o["agent_id"]), round(o["offered_ms"]), round(o["expires_ms"]))
            if o else None
        )
        return cls(
            id=d["id"], queue=d["queue"], state=d["state"], priority=int(d.get("priority", 0)),
            rank=float(d["rank"]), arrived_ms=round(d["arrived_ms"]),
            entered_ms=round(d["entered_ms"]), channel=d.get("channel", "voice"),
            external_id=opt_str(d.get("external_id")), caller=as_dict(d.get("caller")),
            requirements=requirements(d.get("requirements")),
            attributes=as_dict(d.get("attributes")), offer=offer,
            agent_id=opt_str(d.get("agent_id")), target_agent=opt_str(d.get("target_agent")),
            connected_ms=opt_int(d.get("connected_ms")), ended_ms=opt_int(d.get("ended_ms")),
            talk_ms=opt_int(d.get("talk_ms")), transfers=int(d.get("transfers") or 0),
            overflows=int(d.get("overflows") or 0), requeues=int(d.get("requeues") or 0),
            missed_offers=int(d.get("missed_offers") or 0), resolved=d.get("resolved"),
            disposition=opt_str(d.get("disposition")), csat=opt_int(d.get("csat")),
            accepted_offer_id=opt_str(d.get("accepted_offer_id")),
            preferred_until_ms=opt_int(d.get("preferred_until_ms")),
            queue_requirements=requirements(d.get("queue_requirements")),
            strategy=opt_str(d.get("strategy")),
            effective_requirements=requirements(d["effective_requirements"])
            if "effective_requirements" in d else None,
            cursor=opt_str(d.get("cursor")),
        )


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    """What a strategy sees of a candidate agent."""

    id: str
    idle_since_ms: int
    skills: dict[str, int]
    attributes: dict[str, Any]
    # Today's counters (tenant-day, UTC), for the strategies that balance load.
    calls_today: int = 0
    talk_ms_today: float = 0
    occupancy_today: float = 0.0  # (talk + wrap-up) ÷ (talk + wrap-up + available)
    contacts: int = 0  # calls in hand (offered, connected, in wrap-up): chats share an agent
    rooms: frozenset[str] = frozenset({"voice"})  # channels it can take one more call of

    @classmethod
    def parse(cls, d: dict[str, Any]) -> AgentSnapshot:
        talk, wrap, idle = (float(d.get(k) or 0) for k in ("talk_ms", "wrap_ms", "avail_ms"))
        worked = talk + wrap
        return cls(str(d["id"]), round(d.get("idle_since_ms") or 0),
                   {str(k): int(v) for k, v in as_dict(d.get("skills")).items()},
                   as_dict(d.get("attributes")), int(float(d.get("handled") or 0)), talk,
                   worked / (worked + idle) if worked + idle > 0 else 0.0,
                   int(d.get("contacts") or 0), frozenset(map(str, as_list(d.get("rooms")))))
