from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.agents.schemas import Channel
from app.schemas import (
    Attributes,
    Id,
    Lax,
    Priority,
    Requirement,
    Requirements,
    Strict,
    Text,
    Timestamp,
)

ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class CallState(StrEnum):
    queued = "queued"
    offered = "offered"
    connected = "connected"
    completed = "completed"
    abandoned = "abandoned"
    timed_out = "timed_out"


class WaitingReason(StrEnum):
    no_agent_logged_in = "no-agent-logged-in"
    no_eligible_agent = "no-eligible-agent"
    all_eligible_busy = "all-eligible-busy"
    preferred_agent_hold = "preferred-agent-hold"


class Caller(Strict):
    number: Annotated[str, StringConstraints(max_length=64)] | None = None
    name: Text | None = None
    customer_id: Annotated[str, StringConstraints(max_length=128)] | None = None


class PreferredAgent(Strict):
    agent_id: Id | None = Field(None, description="This agent, if it exists.")
    last_agent: bool = Field(
        False, description="The agent who last completed a call for caller.customer_id.")
    timeout_s: Annotated[float, Field(gt=0, le=3_600)] = Field(
        description="How long only the preferred agent may take the call.")

    @model_validator(mode="after")
    def _one(self) -> PreferredAgent:
        if (self.agent_id is None) == (not self.last_agent):
            raise ValueError("give exactly one of agent_id, last_agent: true")
        return self


class CallCreate(Strict):
    queue: Id
    external_id: ExternalId | None = Field(
        None, description="The front-end's id; the same id again returns the existing call.")
    priority: Priority = 0
    channel: Annotated[Channel, Lax] = Channel.voice
    caller: Caller = Caller()
    requirements: Requirements = []
    preferred_agent: PreferredAgent | None = None
    attributes: Attributes = {}

    @model_validator(mode="after")
    def _last_agent_needs_customer(self) -> CallCreate:
        if self.preferred_agent and self.preferred_agent.last_agent and (
                self.caller.customer_id is None):
            raise ValueError("preferred_agent.last_agent needs caller.customer_id")
        return self


class CallPatch(Strict):
    priority: Priority | None = None
    requirements: Requirements | None = None
    attributes: Attributes | None = Field(
        None, description="Merged into the call's attributes; a null value removes a key.")

    @model_validator(mode="after")
    def _not_empty(self) -> CallPatch:
        if self.priority is None and self.requirements is None and self.attributes is None:
            raise ValueError("give at least one of priority, requirements, attributes")
        return self


class OfferAnswer(Strict):
    offer_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Reject(OfferAnswer):
    reason: Text | None = None


class Complete(Strict):
    resolved: bool | None = None
    disposition: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    csat: Annotated[int, Field(ge=1, le=5)] | None = None


class Transfer(Strict):
    queue: Id | None = None
    agent_id: Id | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Transfer:
        if (self.queue is None) == (self.agent_id is None):
            raise ValueError("give exactly one of queue, agent_id")
        return self


class OfferView(BaseModel):
    id: str
    agent_id: str
    offered_at: Timestamp
    expires_at: Timestamp


class Waiting(BaseModel):
    reason: WaitingReason
    agents_logged_in: int = Field(description="Members of the queue not offline.")
    agents_eligible: int = Field(description="Of those, meeting the queue's and call's needs.")
    agents_eligible_available: int
    agents_working: int = Field(description="Eligible agents at work: available, or busy and "
                                "not leaving after their call. The N of the wait estimate.")
    aht_s: float | None = Field(description="The queue's recent handle time (talk + wrap-up) "
                                "behind the wait estimate; null before its first call.")


class CallView(BaseModel):
    id: str
    external_id: str | None
    queue: str
    state: CallState
    priority: int
    channel: Channel
    caller: Caller
    requirements: list[Requirement]
    attributes: dict[str, object]
    position: int | None = Field(description="1 = next; null unless queued.")
    estimated_wait_s: float | None = Field(
        description="Expected seconds until offered, from the calls ahead, the eligible agents "
        "at work, the queue's recent handle times and when busy agents free up (see "
        "docs/kpis.md). Null unless queued, or while the queue has no handle times yet.")
    waiting_reason: WaitingReason | None
    waiting: Waiting | None
    offer: OfferView | None
    agent_id: str | None = Field(description="The agent on the call (connected, completed).")
    transfer_agent_id: str | None = Field(description="Waiting for this agent (transfer).")
    preferred_agent_id: str | None = Field(
        description="Only this agent may take the call until preferred_until.")
    preferred_until: Timestamp | None
    arrived_at: Timestamp
    queued_at: Timestamp = Field(description="When it entered its current queue.")
    connected_at: Timestamp | None
    ended_at: Timestamp | None
    talk_s: float | None
    transfers: int
    overflows: int
    missed_offers: int
    resolved: bool | None
    disposition: str | None
    csat: int | None


class CallList(BaseModel):
    calls: list[CallView]
