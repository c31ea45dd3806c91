from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas import Attributes, Id, Lax, Name, SkillLevel, SkillName, Strict, Timestamp


class Channel(StrEnum):
    voice = "voice"
    chat = "chat"
    email = "email"
    video = "video"
    callback = "callback"


REAL_TIME = frozenset({Channel.voice, Channel.video, Channel.callback})


class AgentState(StrEnum):
    offline = "offline"
    away = "away"
    available = "available"
    reserved = "reserved"
    busy = "busy"
    wrap_up = "wrap_up"


Reason = Name


class AgentConfig(Strict):
    name: Name | None = None
    skills: Annotated[dict[SkillName, SkillLevel], Field(max_length=100)] = {}
    queues: Annotated[list[Id], Field(max_length=100, description="Empty: every queue.")] = []
    capacity: Annotated[
        dict[Annotated[Channel, Lax], Annotated[int, Field(ge=1, le=50)]],
        Field(min_length=1, description=(
            "Calls at once per channel; a channel left out is never offered. voice, video "
            "and callback (at most 1) are taken one at a time with nothing else in hand; "
            "chat and email share the agent up to their counts."))] = {Channel.voice: 1}
    attributes: Attributes = {}

    @model_validator(mode="after")
    def _real_time_one_at_a_time(self) -> AgentConfig:
        over = sorted(ch.value for ch, n in self.capacity.items() if ch in REAL_TIME and n > 1)
        if over:
            raise ValueError(f"capacity: {', '.join(over)} take one call at a time (at most 1)")
        return self


class ContactStage(StrEnum):
    offered = "offered"
    connected = "connected"
    wrap_up = "wrap_up"


class Contact(BaseModel):
    """A call the agent holds. Real-time channels (voice, video, callback) are held one at a
    time and block the others; chats and e-mails share the agent up to its capacity for each."""

    call_id: str
    channel: Channel
    stage: ContactStage
    offer_id: str | None = None


class PendingState(BaseModel):
    state: AgentState
    reason: str | None = None


class AgentToday(BaseModel):
    """Counters for the tenant's current local day (its time zone, from local midnight);
    state changes never reset them."""

    calls_handled: int = 0
    talk_s: float = 0
    wrap_up_s: float = 0
    available_s: float = Field(0, description="Time available, counted when it ends.")
    occupancy: float = Field(0, description="(talk + wrap-up) ÷ (talk + wrap-up + available)")
    missed_offers: int = 0


class Agent(AgentConfig):
    model_config = ConfigDict(strict=False)  # built by the service, not sent by a client

    id: str
    version: int
    state: AgentState
    reason: str | None = None
    idle_since: Timestamp | None = Field(None, description="When the agent last became available.")
    state_since: Timestamp | None = None
    call_id: str | None = Field(None, description="The latest call it rings or talks on.")
    offer_id: str | None = Field(None, description="That call's offer.")
    contacts: list[Contact] = Field([], description="Every call it holds, by call id.")
    missed_offers_in_row: int = 0
    pending: PendingState | None = Field(
        None, description="A state asked for with after_call, applied when the call ends.")
    today: AgentToday | None = Field(None, description="Absent in state-change replies.")


class AgentList(BaseModel):
    agents: list[Agent]


class AgentStateChange(Strict):
    state: Literal["available", "away", "offline"]
    reason: Reason | None = None
    after_call: bool = Field(
        False, description="While busy: apply the state when the call (and wrap-up) ends.")
