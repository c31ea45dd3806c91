"""Bad input gets a precise 4xx problem and changes nothing (DESIGN §3, §5).

One table sweeps every write endpoint (and the validated query parameters): wrong JSON types,
unknown fields, absurd numbers, over-long lists, bad ids in the path, broken or oversized bodies,
unknown references (queue, overflow queue, strategy, agent), and requests that do not fit the
current state of a call or an agent. For each case: the status, `application/problem+json`, the
`type` slug, the offending field named, and the tenant's whole visible state — every event, every
queue, agent and call, the clock — identical before and after.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from _pytest.mark.structures import ParameterSet

from app.routing.registry import StrategyRegistry
from tests.support import ADMIN_TOKEN, Api, Json, TenantApi, expect, unique

PROBLEM_JSON = "application/problem+json"
MAX_BODY = 64 * 1024
LONG_ID = "a" * 65


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    body: Any = None
    status: int = 422
    slug: str = "validation-error"
    names: tuple[str, ...] = ()
    members: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = None
    chunked: bool = False
    platform: bool = False  # POST /v1/tenants: the platform admin token, not a tenant key


def case(id_: str, method: str, path: str, body: Any = None, **kw: Any) -> ParameterSet:
    return pytest.param(Case(method, path, body, **kw), id=id_)


def bad(id_: str, method: str, path: str, body: Any, *names: str, **kw: Any) -> ParameterSet:
    """A 422 validation error naming `names`."""
    return case(id_, method, path, body, names=names, **kw)


Q = "/v1/queues/fresh"           # a queue id not taken yet
A = "/v1/agents/fresh"           # an agent id not taken yet
W = "/v1/webhooks/fresh"         # a webhook id not taken yet
CALLS = "/v1/calls"
TOO_BIG = b'{"queue": "sales", "attributes": {"pad": "' + b"x" * MAX_BODY + b'"}}'
HOOK_URL = "https://hooks.example.com/switchboard"
ALLOW_PRIVATE = "set SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE=true to allow it"


def secret_of(size: int) -> str:
    return "whsec_" + base64.b64encode(b"k" * size).decode()


def refused_url(message: str) -> dict[str, Any]:
    return {"errors": [{"field": "url", "message": message}]}


CASES: list[ParameterSet] = [
    # ---- PUT /v1/queues/{id} --------------------------------------------------------------
    bad("queue-path-leading-dash", "PUT", "/v1/queues/-bad", {}, "queue_id"),
    bad("queue-path-65-chars", "PUT", f"/v1/queues/{LONG_ID}", {}, "queue_id"),
    bad("queue-unknown-field", "PUT", Q, {"relax_after": 30}, "relax_after"),
    bad("queue-unknown-nested-field", "PUT", Q,
        {"requirements": [{"skill": "billing", "level": 3}]}, "level"),
    bad("queue-unknown-service-level-field", "PUT", Q,
        {"service_level": {"threshold_s": 20, "goal": 0.8}}, "goal"),
    bad("queue-strategy-wrong-type", "PUT", Q, {"strategy": 7}, "strategy"),
    bad("queue-requirements-not-list", "PUT", Q, {"requirements": "billing"}, "requirements"),
    bad("queue-21-requirements", "PUT", Q,
        {"requirements": [{"skill": f"s{i}"} for i in range(21)]}, "requirements"),
    bad("queue-min-level-0", "PUT", Q, {"requirements": [{"skill": "x", "min_level": 0}]},
        "min_level"),
    bad("queue-min-level-11", "PUT", Q, {"requirements": [{"skill": "x", "min_level": 11}]},
        "min_level"),
    bad("queue-skill-bad-name", "PUT", Q, {"requirements": [{"skill": "no spaces"}]}, "skill"),
    bad("queue-offer-timeout-0", "PUT", Q, {"offer_timeout_s": 0}, "offer_timeout_s"),
    bad("queue-offer-timeout-negative", "PUT", Q, {"offer_timeout_s": -5}, "offer_timeout_s"),
    bad("queue-offer-timeout-1e9", "PUT", Q, {"offer_timeout_s": 1e9}, "offer_timeout_s"),
    bad("queue-offer-timeout-nan", "PUT", Q, None, "offer_timeout_s",
        raw=b'{"offer_timeout_s": NaN}'),
    bad("queue-max-size-0", "PUT", Q, {"max_size": 0}, "max_size"),
    bad("queue-max-size-float", "PUT", Q, {"max_size": 2.5}, "max_size"),
    bad("queue-wrap-up-negative", "PUT", Q, {"wrap_up_s": -1}, "wrap_up_s"),
    bad("queue-max-wait-0", "PUT", Q, {"max_wait_s": 0}, "max_wait_s"),
    bad("queue-max-wait-1e9", "PUT", Q, {"max_wait_s": 1e9}, "max_wait_s"),
    bad("queue-priority-weight-negative", "PUT", Q, {"priority_weight_s": -1},
        "priority_weight_s"),
    bad("queue-max-missed-0", "PUT", Q, {"max_missed_offers": 0}, "max_missed_offers"),
    bad("queue-sl-target-1", "PUT", Q, {"service_level": {"target": 1}}, "target"),
    bad("queue-auto-accept-string", "PUT", Q, {"auto_accept": "yes"}, "auto_accept"),
    bad("queue-unknown-strategy", "PUT", Q, {"strategy": "telepathy"}, "strategy",
        members={"errors": [{"field": "strategy", "message":
                             "unknown strategy 'telepathy'; available: "
                             + ", ".join(StrategyRegistry.discover().names)}]}),
    bad("queue-unknown-overflow", "PUT", Q, {"max_wait_s": 60, "overflow_queue": "ghost"},
        "overflow_queue"),
    bad("queue-overflow-into-itself", "PUT", Q, {"max_wait_s": 60, "overflow_queue": "fresh"},
        "overflow_queue"),
    bad("queue-existing-overflow-into-itself", "PUT", "/v1/queues/sales",
        {"max_wait_s": 60, "overflow_queue": "sales"}, "overflow_queue"),
    bad("queue-overflow-without-max-wait", "PUT", Q, {"overflow_queue": "sales"},
        "overflow_queue", "max_wait_s"),
    bad("queue-body-not-object", "PUT", Q, ["sales"], "body"),
    bad("queue-invalid-json", "PUT", Q, None, "body", raw=b'{"name": "Billing",'),
    case("queue-body-over-64KiB", "PUT", Q, None, status=413, slug="payload-too-large",
         raw=TOO_BIG, members={"max_bytes": MAX_BODY}, names=(str(MAX_BODY),)),
    case("queue-chunked-body-over-64KiB", "PUT", Q, None, status=413,
         slug="payload-too-large", raw=TOO_BIG, chunked=True,
         members={"max_bytes": MAX_BODY}, names=(str(MAX_BODY),)),
    # ---- DELETE /v1/queues/{id} -----------------------------------------------------------
    case("queue-delete-not-empty", "DELETE", "/v1/queues/sales", status=409,
         slug="queue-not-empty", members={"queue": "sales"}, names=("sales",)),
    case("queue-delete-in-use", "DELETE", "/v1/queues/spare", status=409, slug="queue-in-use",
         members={"queue": "spare", "agents": ["dee"]}, names=("spare",)),
    case("queue-delete-unknown", "DELETE", "/v1/queues/ghost", status=404,
         slug="queue-not-found", members={"queue_id": "ghost"}, names=("ghost",)),
    # ---- PUT /v1/agents/{id} --------------------------------------------------------------
    bad("agent-path-leading-dash", "PUT", "/v1/agents/-bad", {}, "agent_id"),
    bad("agent-path-65-chars", "PUT", f"/v1/agents/{LONG_ID}", {}, "agent_id"),
    bad("agent-unknown-field", "PUT", A, {"skils": {"billing": 3}}, "skils"),
    bad("agent-skill-level-0", "PUT", A, {"skills": {"billing": 0}}, "billing"),
    bad("agent-skill-level-11", "PUT", A, {"skills": {"billing": 11}}, "billing"),
    bad("agent-skill-level-string", "PUT", A, {"skills": {"billing": "high"}}, "billing"),
    bad("agent-skill-bad-name", "PUT", A, {"skills": {"b d": 3}}, "skills"),
    bad("agent-skills-not-object", "PUT", A, {"skills": ["billing"]}, "skills"),
    bad("agent-unknown-channel", "PUT", A, {"capacity": {"fax": 1}}, "capacity"),
    bad("agent-capacity-0", "PUT", A, {"capacity": {"voice": 0}}, "voice"),
    bad("agent-capacity-51", "PUT", A, {"capacity": {"chat": 51}}, "chat"),
    bad("agent-capacity-voice-2", "PUT", A, {"capacity": {"voice": 2, "chat": 3}}, "voice"),
    bad("agent-capacity-empty", "PUT", A, {"capacity": {}}, "capacity"),
    bad("agent-capacity-huge", "PUT", A, {"capacity": {"email": 10**12}}, "email"),
    bad("agent-queues-not-list", "PUT", A, {"queues": "sales"}, "queues"),
    bad("agent-queue-bad-id", "PUT", A, {"queues": ["-bad"]}, "queues"),
    bad("agent-unknown-queue", "PUT", A, {"queues": ["sales", "ghost"]}, "queues",
        members={"errors": [{"field": "queues", "message": "unknown queue(s): 'ghost'"}]}),
    bad("agent-51-attributes", "PUT", A, {"attributes": {f"k{i}": i for i in range(51)}},
        "attributes"),
    bad("agent-attribute-nested-object", "PUT", A, {"attributes": {"team": {"n": 1}}},
        "team"),
    bad("agent-name-empty", "PUT", A, {"name": ""}, "name"),
    bad("agent-existing-unknown-queue", "PUT", "/v1/agents/ana", {"queues": ["ghost"]},
        "queues"),
    # ---- DELETE /v1/agents/{id} -----------------------------------------------------------
    case("agent-delete-busy", "DELETE", "/v1/agents/ana", status=409, slug="agent-busy",
         members={"agent_id": "ana", "state": "busy"}, names=("ana",)),
    case("agent-delete-reserved", "DELETE", "/v1/agents/bob", status=409, slug="agent-busy",
         members={"agent_id": "bob", "state": "reserved"}, names=("bob",)),
    # ---- POST /v1/agents/{id}/state -------------------------------------------------------
    bad("state-path-bad-id", "POST", "/v1/agents/-bad/state", {"state": "away"}, "agent_id"),
    bad("state-system-state", "POST", "/v1/agents/cy/state", {"state": "busy"}, "state"),
    bad("state-unknown-state", "POST", "/v1/agents/cy/state", {"state": "napping"}, "state"),
    bad("state-missing", "POST", "/v1/agents/cy/state", {}, "state"),
    bad("state-unknown-field", "POST", "/v1/agents/cy/state",
        {"state": "away", "why": "lunch"}, "why"),
    bad("state-reason-too-long", "POST", "/v1/agents/cy/state",
        {"state": "away", "reason": "x" * 201}, "reason"),
    bad("state-after-call-wrong-type", "POST", "/v1/agents/ana/state",
        {"state": "away", "after_call": "later"}, "after_call"),
    case("state-unknown-agent", "POST", "/v1/agents/ghost/state", {"state": "away"},
         status=404, slug="agent-not-found", members={"agent_id": "ghost"}, names=("ghost",)),
    case("state-busy-to-away", "POST", "/v1/agents/ana/state", {"state": "away"}, status=409,
         slug="agent-busy", members={"agent_id": "ana", "state": "busy", "requested": "away"},
         names=("busy", "away", "after_call")),
    case("state-busy-to-offline", "POST", "/v1/agents/ana/state", {"state": "offline"},
         status=409, slug="agent-busy", members={"state": "busy", "requested": "offline"},
         names=("busy", "offline")),
    case("state-reserved-to-available", "POST", "/v1/agents/bob/state",
         {"state": "available"}, status=409, slug="illegal-transition",
         members={"agent_id": "bob", "state": "reserved", "requested": "available"},
         names=("reserved", "available")),
    # ---- POST /v1/calls -------------------------------------------------------------------
    bad("arrive-queue-missing", "POST", CALLS, {"priority": 1}, "queue"),
    bad("arrive-queue-wrong-type", "POST", CALLS, {"queue": 42}, "queue"),
    bad("arrive-queue-bad-id", "POST", CALLS, {"queue": "-bad"}, "queue"),
    bad("arrive-unknown-queue", "POST", CALLS, {"queue": "ghost", "external_id": "e-ghost"},
        "queue", members={"errors": [{"field": "queue", "message": "unknown queue 'ghost'"}]}),
    bad("arrive-unknown-field", "POST", CALLS, {"queue": "sales", "urgent": True}, "urgent"),
    bad("arrive-unknown-caller-field", "POST", CALLS,
        {"queue": "sales", "caller": {"phone": "+1555"}}, "phone"),
    bad("arrive-priority-minus-1", "POST", CALLS, {"queue": "sales", "priority": -1},
        "priority"),
    bad("arrive-priority-101", "POST", CALLS, {"queue": "sales", "priority": 101}, "priority"),
    bad("arrive-priority-huge", "POST", CALLS, {"queue": "sales", "priority": 10**30},
        "priority"),
    bad("arrive-priority-word", "POST", CALLS, {"queue": "sales", "priority": "high"},
        "priority"),
    bad("arrive-priority-fraction", "POST", CALLS, {"queue": "sales", "priority": 1.5},
        "priority"),
    bad("arrive-priority-bool", "POST", CALLS, {"queue": "sales", "priority": True},
        "priority"),
    bad("arrive-unknown-channel", "POST", CALLS, {"queue": "sales", "channel": "fax"},
        "channel"),
    bad("arrive-21-requirements", "POST", CALLS,
        {"queue": "sales", "requirements": [{"skill": f"s{i}"} for i in range(21)]},
        "requirements"),
    bad("arrive-requirement-level-11", "POST", CALLS,
        {"queue": "sales", "requirements": [{"skill": "x", "min_level": 11}]}, "min_level"),
    bad("arrive-external-id-129", "POST", CALLS, {"queue": "sales", "external_id": "x" * 129},
        "external_id"),
    bad("arrive-51-attributes", "POST", CALLS,
        {"queue": "sales", "attributes": {str(i): i for i in range(51)}}, "attributes"),
    bad("arrive-attribute-list", "POST", CALLS, {"queue": "sales", "attributes": {"a": [1]}},
        "a"),
    bad("arrive-body-not-object", "POST", CALLS, ["sales"], "body"),
    bad("arrive-empty-body", "POST", CALLS, None, "body", raw=b""),
    bad("arrive-invalid-json", "POST", CALLS, None, "body", raw=b"{not json"),
    case("arrive-body-over-64KiB", "POST", CALLS, None, status=413, slug="payload-too-large",
         raw=TOO_BIG, members={"max_bytes": MAX_BODY}, names=(str(MAX_BODY),)),
    case("arrive-chunked-body-over-64KiB", "POST", CALLS, None, status=413,
         slug="payload-too-large", raw=TOO_BIG, chunked=True,
         members={"max_bytes": MAX_BODY}, names=(str(MAX_BODY),)),
    case("arrive-queue-full", "POST", CALLS, {"queue": "tiny", "external_id": "e-full"},
         status=409, slug="queue-full", members={"queue": "tiny", "max_size": 1},
         names=("tiny", "max_size")),
    # ---- PATCH /v1/calls/{id} -------------------------------------------------------------
    bad("patch-path-bad-id", "PATCH", "/v1/calls/-bad", {"priority": 1}, "call_id"),
    bad("patch-empty", "PATCH", "/v1/calls/{queued}", {}, "priority", "requirements"),
    bad("patch-unknown-field", "PATCH", "/v1/calls/{queued}", {"queue": "spare"}, "queue"),
    bad("patch-priority-minus-1", "PATCH", "/v1/calls/{queued}", {"priority": -1}, "priority"),
    bad("patch-priority-101", "PATCH", "/v1/calls/{queued}", {"priority": 101}, "priority"),
    bad("patch-priority-list", "PATCH", "/v1/calls/{queued}", {"priority": [1]}, "priority"),
    bad("patch-21-requirements", "PATCH", "/v1/calls/{queued}",
        {"requirements": [{"skill": f"s{i}"} for i in range(21)]}, "requirements"),
    bad("patch-requirement-level-0", "PATCH", "/v1/calls/{queued}",
        {"requirements": [{"skill": "x", "min_level": 0}]}, "min_level"),
    case("patch-unknown-call", "PATCH", "/v1/calls/c404", {"priority": 1}, status=404,
         slug="call-not-found", members={"call_id": "c404"}, names=("c404",)),
    case("patch-offered-call", "PATCH", "/v1/calls/{offered}", {"priority": 9}, status=409,
         slug="call-state-conflict", members={"state": "offered"}, names=("offered",)),
    case("patch-connected-call", "PATCH", "/v1/calls/{connected}", {"priority": 9},
         status=409, slug="call-state-conflict", members={"state": "connected"},
         names=("connected",)),
    case("patch-abandoned-call", "PATCH", "/v1/calls/{ended}", {"priority": 9}, status=409,
         slug="call-state-conflict", members={"state": "abandoned"}, names=("abandoned",)),
    # ---- POST /v1/calls/{id}/accept -------------------------------------------------------
    bad("accept-path-65-chars", "POST", f"/v1/calls/{LONG_ID}/accept", {"offer_id": "o1"},
        "call_id"),
    bad("accept-no-offer-id", "POST", "/v1/calls/{offered}/accept", {}, "offer_id"),
    bad("accept-offer-id-number", "POST", "/v1/calls/{offered}/accept", {"offer_id": 5},
        "offer_id"),
    bad("accept-offer-id-empty", "POST", "/v1/calls/{offered}/accept", {"offer_id": ""},
        "offer_id"),
    bad("accept-unknown-field", "POST", "/v1/calls/{offered}/accept",
        {"offer_id": "{offer}", "agent_id": "bob"}, "agent_id"),
    case("accept-unknown-call", "POST", "/v1/calls/c404/accept", {"offer_id": "o1"},
         status=404, slug="call-not-found", members={"call_id": "c404"}, names=("c404",)),
    case("accept-wrong-offer-id", "POST", "/v1/calls/{offered}/accept",
         {"offer_id": "o-not-this-one"}, status=409, slug="offer-not-current",
         members={"state": "offered"}, names=("offered",)),
    case("accept-other-calls-offer", "POST", "/v1/calls/{offered}/accept",
         {"offer_id": "{connected_offer}"}, status=409, slug="offer-not-current",
         members={"state": "offered"}, names=("offered",)),
    case("accept-queued-call", "POST", "/v1/calls/{queued}/accept", {"offer_id": "{offer}"},
         status=409, slug="call-state-conflict", members={"state": "queued"},
         names=("queued",)),
    case("accept-abandoned-call", "POST", "/v1/calls/{ended}/accept", {"offer_id": "o1"},
         status=409, slug="call-state-conflict", members={"state": "abandoned"},
         names=("abandoned",)),
    # ---- POST /v1/calls/{id}/reject -------------------------------------------------------
    bad("reject-no-offer-id", "POST", "/v1/calls/{offered}/reject", {"reason": "busy"},
        "offer_id"),
    bad("reject-reason-too-long", "POST", "/v1/calls/{offered}/reject",
        {"offer_id": "{offer}", "reason": "x" * 201}, "reason"),
    bad("reject-unknown-field", "POST", "/v1/calls/{offered}/reject",
        {"offer_id": "{offer}", "requeue": False}, "requeue"),
    case("reject-wrong-offer-id", "POST", "/v1/calls/{offered}/reject",
         {"offer_id": "o-not-this-one"}, status=409, slug="offer-not-current",
         members={"state": "offered"}, names=("offered",)),
    case("reject-queued-call", "POST", "/v1/calls/{queued}/reject", {"offer_id": "{offer}"},
         status=409, slug="call-state-conflict", members={"state": "queued"},
         names=("queued",)),
    case("reject-connected-call", "POST", "/v1/calls/{connected}/reject",
         {"offer_id": "{connected_offer}"}, status=409, slug="call-state-conflict",
         members={"state": "connected"}, names=("connected",)),
    # ---- POST /v1/calls/{id}/complete -----------------------------------------------------
    bad("complete-csat-6", "POST", "/v1/calls/{connected}/complete", {"csat": 6}, "csat"),
    bad("complete-csat-0", "POST", "/v1/calls/{connected}/complete", {"csat": 0}, "csat"),
    bad("complete-csat-word", "POST", "/v1/calls/{connected}/complete", {"csat": "great"},
        "csat"),
    bad("complete-resolved-word", "POST", "/v1/calls/{connected}/complete",
        {"resolved": "maybe"}, "resolved"),
    bad("complete-disposition-empty", "POST", "/v1/calls/{connected}/complete",
        {"disposition": ""}, "disposition"),
    bad("complete-unknown-field", "POST", "/v1/calls/{connected}/complete",
        {"resolved": True, "rating": 5}, "rating"),
    bad("complete-path-bad-id", "POST", "/v1/calls/-bad/complete", {}, "call_id"),
    case("complete-unknown-call", "POST", "/v1/calls/c404/complete", {}, status=404,
         slug="call-not-found", members={"call_id": "c404"}, names=("c404",)),
    case("complete-queued-call", "POST", "/v1/calls/{queued}/complete", {"resolved": True},
         status=409, slug="call-state-conflict", members={"state": "queued"},
         names=("queued",)),
    case("complete-offered-call", "POST", "/v1/calls/{offered}/complete", {}, status=409,
         slug="call-state-conflict", members={"state": "offered"}, names=("offered",)),
    case("complete-abandoned-call", "POST", "/v1/calls/{ended}/complete", {}, status=409,
         slug="call-state-conflict", members={"state": "abandoned"}, names=("abandoned",)),
    # ---- POST /v1/calls/{id}/transfer -----------------------------------------------------
    bad("transfer-neither", "POST", "/v1/calls/{connected}/transfer", {}, "queue", "agent_id"),
    bad("transfer-both", "POST", "/v1/calls/{connected}/transfer",
        {"queue": "sales", "agent_id": "bob"}, "queue", "agent_id"),
    bad("transfer-queue-bad-id", "POST", "/v1/calls/{connected}/transfer", {"queue": "-x"},
        "queue"),
    bad("transfer-agent-wrong-type", "POST", "/v1/calls/{connected}/transfer",
        {"agent_id": ["bob"]}, "agent_id"),
    bad("transfer-unknown-field", "POST", "/v1/calls/{connected}/transfer",
        {"queue": "sales", "warm": True}, "warm"),
    bad("transfer-unknown-queue", "POST", "/v1/calls/{connected}/transfer", {"queue": "ghost"},
        "queue"),
    bad("transfer-unknown-agent", "POST", "/v1/calls/{connected}/transfer",
        {"agent_id": "ghost"}, "agent_id",
        members={"errors": [{"field": "agent_id", "message": "unknown agent 'ghost'"}]}),
    bad("transfer-queued-to-unknown-queue", "POST", "/v1/calls/{queued}/transfer",
        {"queue": "ghost"}, "queue"),
    case("transfer-unknown-call", "POST", "/v1/calls/c404/transfer", {"queue": "sales"},
         status=404, slug="call-not-found", members={"call_id": "c404"}, names=("c404",)),
    case("transfer-to-self", "POST", "/v1/calls/{connected}/transfer", {"agent_id": "ana"},
         status=409, slug="transfer-to-self", members={"state": "connected"}),
    case("transfer-to-offline-agent", "POST", "/v1/calls/{connected}/transfer",
         {"agent_id": "cy"}, status=409, slug="agent-offline",
         members={"agent_id": "cy", "state": "connected"}, names=("cy",)),
    case("transfer-offered-call", "POST", "/v1/calls/{offered}/transfer", {"queue": "spare"},
         status=409, slug="call-state-conflict", members={"state": "offered"},
         names=("offered",)),
    case("transfer-abandoned-call", "POST", "/v1/calls/{ended}/transfer", {"queue": "sales"},
         status=409, slug="call-state-conflict", members={"state": "abandoned"},
         names=("abandoned",)),
    # ---- POST /v1/calls/{id}/abandon ------------------------------------------------------
    bad("abandon-path-bad-id", "POST", "/v1/calls/-bad/abandon", None, "call_id"),
    bad("abandon-path-65-chars", "POST", f"/v1/calls/{LONG_ID}/abandon", None, "call_id"),
    case("abandon-unknown-call", "POST", "/v1/calls/c404/abandon", status=404,
         slug="call-not-found", members={"call_id": "c404"}, names=("c404",)),
    case("abandon-connected-call", "POST", "/v1/calls/{connected}/abandon", status=409,
         slug="call-state-conflict", members={"state": "connected"}, names=("connected",)),
    # ---- POST /v1/clock/advance -----------------------------------------------------------
    bad("clock-negative", "POST", "/v1/clock/advance", {"seconds": -1}, "seconds"),
    bad("clock-word", "POST", "/v1/clock/advance", {"seconds": "soon"}, "seconds"),
    bad("clock-over-366-days", "POST", "/v1/clock/advance", {"seconds": 1e9}, "seconds"),
    bad("clock-nan", "POST", "/v1/clock/advance", None, "seconds", raw=b'{"seconds": NaN}'),
    bad("clock-neither", "POST", "/v1/clock/advance", {}, "seconds", "to"),
    bad("clock-both", "POST", "/v1/clock/advance",
        {"seconds": 1, "to": "2030-01-01T00:00:00Z"}, "seconds", "to"),
    bad("clock-to-not-a-time", "POST", "/v1/clock/advance", {"to": "tomorrow"}, "to"),
    bad("clock-to-no-zone", "POST", "/v1/clock/advance", {"to": "2030-01-01T00:00:00"}, "to"),
    bad("clock-to-in-the-past", "POST", "/v1/clock/advance", {"to": "2000-01-01T00:00:00Z"},
        "to"),
    bad("clock-to-year-9999", "POST", "/v1/clock/advance", {"to": "9999-12-31T23:59:59Z"},
        "to"),
    bad("clock-unknown-field", "POST", "/v1/clock/advance", {"seconds": 1, "fire": False},
        "fire"),
    # ---- GET query parameters -------------------------------------------------------------
    bad("events-after-garbage", "GET", "/v1/events?after=yesterday", None, "after"),
    bad("events-limit-0", "GET", "/v1/events?limit=0", None, "limit"),
    bad("events-limit-1001", "GET", "/v1/events?limit=1001", None, "limit"),
    bad("events-after-beyond-uint64", "GET",
        "/v1/events?after=99999999999999999999-99999999999999999999", None, "after"),
    bad("events-types-unknown", "GET", "/v1/events?types=call.*,call.nope", None, "types",
        "call.nope"),
    bad("events-types-empty", "GET", "/v1/events?types=", None, "types"),
    bad("events-types-51-patterns", "GET", "/v1/events?types=" + ",".join(["*"] * 51), None,
        "types"),
    bad("events-queue-bad-id", "GET", "/v1/events?queue=-x", None, "queue"),
    bad("stream-types-unknown", "GET", "/v1/events/stream?types=fax.*", None, "types", "fax.*"),
    bad("stream-queue-bad-id", "GET", "/v1/events/stream?queue=-x", None, "queue"),
    bad("stream-after-garbage", "GET", "/v1/events/stream?after=yesterday", None, "after"),
    bad("stream-after-beyond-uint64", "GET", "/v1/events/stream?after=18446744073709551616-0",
        None, "after"),
    bad("calls-limit-0", "GET", "/v1/calls?limit=0", None, "limit"),
    bad("calls-limit-1001", "GET", "/v1/calls?limit=1001", None, "limit"),
    bad("calls-limit-word", "GET", "/v1/calls?limit=many", None, "limit"),
    bad("calls-state-unknown", "GET", "/v1/calls?state=ringing", None, "state"),
    bad("calls-queue-bad-id", "GET", "/v1/calls?queue=-x", None, "queue"),
    bad("agents-state-unknown", "GET", "/v1/agents?state=napping", None, "state"),
    # ---- POST /v1/api-keys ----------------------------------------------------------------
    bad("key-unknown-role", "POST", "/v1/api-keys", {"name": "x", "role": "root"}, "role"),
    bad("key-no-name", "POST", "/v1/api-keys", {"role": "agent"}, "name"),
    bad("key-name-too-long", "POST", "/v1/api-keys", {"name": "x" * 201, "role": "agent"},
        "name"),
    bad("key-unknown-field", "POST", "/v1/api-keys",
        {"name": "x", "role": "agent", "tenant": "other"}, "tenant"),
    bad("key-name-nul", "POST", "/v1/api-keys", {"name": "a\u0000b", "role": "agent"}, "name"),
    # ---- POST /v1/tenants -----------------------------------------------------------------
    bad("tenant-id-bad", "POST", "/v1/tenants", {"id": "-bad"}, "id", platform=True),
    bad("tenant-id-65-chars", "POST", "/v1/tenants", {"id": LONG_ID}, "id", platform=True),
    bad("tenant-id-number", "POST", "/v1/tenants", {"id": 42}, "id", platform=True),
    bad("tenant-unknown-clock", "POST", "/v1/tenants", {"id": "{new_tenant}", "clock": "lunar"},
        "clock", platform=True),
    bad("tenant-unknown-field", "POST", "/v1/tenants", {"id": "{new_tenant}", "plan": "gold"},
        "plan", platform=True),
    bad("tenant-name-too-long", "POST", "/v1/tenants", {"id": "{new_tenant}", "name": "x" * 201},
        "name", platform=True),
    bad("tenant-name-nul", "POST", "/v1/tenants", {"id": "{new_tenant}", "name": "a\u0000b"},
        "name", platform=True),
    # ---- PUT /v1/webhooks/{id} ------------------------------------------------------------
    bad("webhook-path-leading-dash", "PUT", "/v1/webhooks/-bad", {"url": HOOK_URL},
        "webhook_id"),
    bad("webhook-path-65-chars", "PUT", f"/v1/webhooks/{LONG_ID}", {"url": HOOK_URL},
        "webhook_id"),
    bad("webhook-missing-url", "PUT", W, {"events": ["call.*"]}, "url"),
    bad("webhook-url-number", "PUT", W, {"url": 42}, "url"),
    bad("webhook-url-credentials", "PUT", W, {"url": "https://user:pass@hooks.example.com/"},
        "url", members=refused_url("must not contain credentials (user:password@); receivers "
                                   "authenticate deliveries by their signature")),
    bad("webhook-url-private", "PUT", W, {"url": "http://10.0.0.5/hook"}, "url",
        members=refused_url(f"10.0.0.5 is a private address; {ALLOW_PRIVATE}")),
    bad("webhook-url-loopback", "PUT", W, {"url": "http://127.0.0.1:9000/hook"}, "url",
        members=refused_url(f"127.0.0.1 is a loopback address; {ALLOW_PRIVATE}")),
    bad("webhook-url-ipv6-loopback", "PUT", W, {"url": "http://[::1]:9000/hook"}, "url",
        members=refused_url(f"::1 is a loopback address; {ALLOW_PRIVATE}")),
    bad("webhook-url-ipv4-mapped-private", "PUT", W, {"url": "http://[::ffff:192.168.1.2]/"},
        "url", members=refused_url(f"::ffff:192.168.1.2 is a private address; {ALLOW_PRIVATE}")),
    bad("webhook-url-link-local", "PUT", W, {"url": "http://169.254.169.254/latest"}, "url",
        members=refused_url(f"169.254.169.254 is a link-local address; {ALLOW_PRIVATE}")),
    bad("webhook-url-localhost", "PUT", W, {"url": "http://localhost:8080/hook"}, "url",
        members=refused_url(f"localhost is a loopback name; {ALLOW_PRIVATE}")),
    bad("webhook-url-ftp", "PUT", W, {"url": "ftp://hooks.example.com/"}, "url",
        members=refused_url("the scheme 'ftp' is not allowed; use http:// or https://")),
    bad("webhook-url-javascript", "PUT", W, {"url": "javascript:alert(1)"}, "url",
        members=refused_url("the scheme 'javascript' is not allowed; use http:// or https://")),
    bad("webhook-url-no-scheme", "PUT", W, {"url": "hooks.example.com/hook"}, "url"),
    bad("webhook-url-no-host", "PUT", W, {"url": "https:///hook"}, "url"),
    bad("webhook-url-fragment", "PUT", W, {"url": HOOK_URL + "#top"}, "url"),
    bad("webhook-url-2049-chars", "PUT", W, {"url": HOOK_URL + "/" + "a" * 2048}, "url"),
    bad("webhook-url-nul", "PUT", W, {"url": HOOK_URL + "\u0000"}, "url"),
    bad("webhook-unknown-event-type", "PUT", W, {"url": HOOK_URL, "events": ["call.ofered"]},
        "events", "call.ofered", "agent.state_changed"),
    bad("webhook-unknown-event-family", "PUT", W, {"url": HOOK_URL, "events": ["fax.*"]},
        "events", "fax.*"),
    bad("webhook-51-patterns", "PUT", W, {"url": HOOK_URL, "events": ["call.*"] * 51},
        "events"),
    bad("webhook-events-not-list", "PUT", W, {"url": HOOK_URL, "events": "call.*"}, "events"),
    bad("webhook-secret-no-prefix", "PUT", W,
        {"url": HOOK_URL, "secret": secret_of(24).removeprefix("whsec_")}, "secret"),
    bad("webhook-secret-not-base64", "PUT", W, {"url": HOOK_URL, "secret": "whsec_not*base64!"},
        "secret"),
    bad("webhook-secret-23-bytes", "PUT", W, {"url": HOOK_URL, "secret": secret_of(23)},
        "secret"),
    bad("webhook-secret-65-bytes", "PUT", W, {"url": HOOK_URL, "secret": secret_of(65)},
        "secret"),
    bad("webhook-secret-number", "PUT", W, {"url": HOOK_URL, "secret": 42}, "secret"),
    bad("webhook-description-too-long", "PUT", W, {"url": HOOK_URL, "description": "x" * 201},
        "description"),
    bad("webhook-unknown-field", "PUT", W, {"url": HOOK_URL, "headers": {"X-Key": "1"}},
        "headers"),
    # ---- GET, DELETE /v1/webhooks/{id}, POST /v1/webhooks/{id}/resume ---------------------
    case("webhook-get-unknown", "GET", "/v1/webhooks/ghost", status=404,
         slug="webhook-not-found", members={"webhook_id": "ghost"}, names=("ghost",)),
    case("webhook-delete-unknown", "DELETE", "/v1/webhooks/ghost", status=404,
         slug="webhook-not-found", members={"webhook_id": "ghost"}, names=("ghost",)),
    case("webhook-resume-unknown", "POST", "/v1/webhooks/ghost/resume", status=404,
         slug="webhook-not-found", members={"webhook_id": "ghost"}, names=("ghost",)),
    bad("webhook-resume-path-bad-id", "POST", "/v1/webhooks/-bad/resume", None, "webhook_id"),
]


@dataclass
class World:
    """A small live call centre: every call and agent state an error case needs."""

    ids: dict[str, str]
    paths: list[str]


async def build_world(t: TenantApi) -> World:
    await t.put_queue("sales", offer_timeout_s=30)
    await t.put_queue("tiny", max_size=1)
    await t.put_queue("spare")
    for agent in ("ana", "bob", "cy"):
        await t.put_agent(agent, queues=["sales"], skills={"billing": 5})
    await t.put_agent("dee", queues=["spare"])

    await t.state("ana", "available")
    connected = await t.arrive("sales", external_id="e-connected")
    connected_offer = connected["offer"]["id"]
    await t.accept(connected["id"], connected_offer)
    await t.state("bob", "available")
    offered = await t.arrive("sales", external_id="e-offered")
    assert offered["state"] == "offered"
    queued = await t.arrive("sales", external_id="e-queued")
    assert queued["state"] == "queued"
    ended = await t.arrive("sales", external_id="e-ended")
    await t.abandon(ended["id"])
    full = await t.arrive("tiny", external_id="e-full-1")
    ids = {"connected": connected["id"], "connected_offer": connected_offer,
           "offered": offered["id"], "offer": offered["offer"]["id"], "queued": queued["id"],
           "ended": ended["id"], "full": full["id"]}
    paths = ["/v1/queues", "/v1/agents", "/v1/calls?limit=1000", "/v1/clock", "/v1/webhooks",
             *(f"/v1/queues/{q}" for q in ("sales", "tiny", "spare")),
             *(f"/v1/agents/{a}" for a in ("ana", "bob", "cy", "dee")),
             *(f"/v1/calls/{ids[c]}" for c in ("connected", "offered", "queued", "ended",
                                               "full"))]
    return World(ids, paths)


async def snapshot(t: TenantApi, world: World) -> dict[str, Any]:
    """Everything the tenant can see: its whole event stream and every object."""
    state: dict[str, Any] = {"events": await t.events()}
    for path in world.paths:
        state[path] = expect(await t.request("GET", path), 200)
    for gone in ("/v1/queues/fresh", "/v1/agents/fresh", "/v1/webhooks/fresh"):
        state[gone] = (await t.request("GET", gone)).status_code
    return state


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids) if "{" in value else value
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


async def chunks(data: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def send(t: TenantApi, c: Case, ids: dict[str, str]) -> httpx.Response:
    """The request; an exception escaping the app (a 500) fails the test without its deep
    traceback."""
    failure = None
    try:
        return await _send(t, c, ids)
    except Exception as e:
        failure = f"{c.method} {c.path}: the app raised {e!r} (a 500)"
    pytest.fail(failure)


async def _send(t: TenantApi, c: Case, ids: dict[str, str]) -> httpx.Response:
    path = fill(c.path, ids)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if c.platform else dict(t.headers)
    if c.raw is not None:
        headers["content-type"] = "application/json"
        content: bytes | AsyncIterator[bytes] = chunks(c.raw) if c.chunked else c.raw
        return await t.http.request(c.method, path, content=content, headers=headers)
    return await t.http.request(c.method, path, json=fill(c.body, ids), headers=headers)


def names_in(problem: Json, name: str) -> bool:
    """The name is one segment of an `errors[].field` or appears in `detail`."""
    fields = [str(e.get("field", "")) for e in problem.get("errors", [])]
    return any(name in f.split(".") for f in fields) or name in str(problem.get("detail"))


def check_problem(response: httpx.Response, c: Case, ids: dict[str, str]) -> Json:
    where = f"{c.method} {c.path}: {response.status_code} {response.text[:500]}"
    assert response.status_code == c.status, where
    assert response.headers["content-type"].startswith(PROBLEM_JSON), where
    problem: Json = response.json()
    assert problem["type"] == f"/problems/{c.slug}", where
    assert problem["status"] == c.status, where
    assert problem["title"] and problem["detail"], where
    if c.status == 422:
        assert problem["errors"], where
        assert all(e["field"] and e["message"] for e in problem["errors"]), where
    for name in c.names:
        assert names_in(problem, fill(name, ids)), f"{name!r} not named: {where}"
    for key, value in c.members.items():
        assert problem.get(key) == fill(value, ids), f"{key}: {where}"
    return problem


@pytest.mark.parametrize("c", CASES)
async def test_bad_request_is_refused_precisely_and_changes_nothing(
        service: Api, tenant: TenantApi, c: Case) -> None:
    world = await build_world(tenant)
    ids = {**world.ids, "new_tenant": unique("t")}
    before = await snapshot(tenant, world)

    check_problem(await send(tenant, c, ids), c, ids)

    assert await snapshot(tenant, world) == before
    if c.platform and "{new_tenant}" in str(c.body):
        # The refused tenant was not created: the id is still free.
        created = await tenant.http.post("/v1/tenants", json={"id": ids["new_tenant"]},
                                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        expect(created, 201)
        service.tenants.append(ids["new_tenant"])


async def test_refused_arrival_does_not_reserve_its_external_id(tenant: TenantApi) -> None:
    world = await build_world(tenant)
    for body in ({"queue": "ghost", "external_id": "e-retry"},
                 {"queue": "tiny", "external_id": "e-retry"},
                 {"queue": "sales", "external_id": "e-retry", "priority": 101}):
        response = await tenant.request("POST", "/v1/calls", body)
        assert response.status_code in (409, 422), response.text
    retried = await tenant.request("POST", "/v1/calls", {"queue": "sales",
                                                         "external_id": "e-retry"})
    assert expect(retried, 201)["id"] not in world.ids.values()


async def test_advance_on_a_wall_clock_is_409_and_changes_nothing(service: Api) -> None:
    wall = await service.tenant("wall")
    await wall.put_queue("sales")
    events = await wall.events()
    response = await wall.request("POST", "/v1/clock/advance", {"seconds": 5})
    problem = check_problem(response, Case("POST", "/v1/clock/advance", status=409,
                                           slug="clock-not-manual",
                                           members={"mode": "wall"}), {})
    assert "wall" in problem["detail"]
    assert await wall.events() == events


async def test_validation_problem_lists_every_offending_field(tenant: TenantApi) -> None:
    response = await tenant.request("PUT", "/v1/queues/q", {
        "offer_timeout_s": -5, "wrap_up_s": -1, "max_size": 0, "colour": "red"})
    problem = check_problem(response, Case("PUT", "/v1/queues/q"), {})
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"body.offer_timeout_s", "body.wrap_up_s", "body.max_size",
                      "body.colour"}
    assert (await tenant.request("GET", "/v1/queues/q")).status_code == 404
