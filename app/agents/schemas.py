from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas import Attributes, Id, Lax, Name, SkillLevel, SkillName, Strict, Timestamp


class Channel(StrEnum):
    voice = "voice"
    chat = "chat"
    email = "email"
    video = "video"
    callback = "callback"


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
    capacity: Annotated[dict[Annotated[Channel, Lax], Annotated[int, Field(ge=1, le=50)]],
                        Field(min_length=1, description="Calls at once per channel.")] = {
                            Channel.voice: 1}
    attributes: Attributes = {}


class PendingState(BaseModel):
    state: AgentState
    reason: str | None = None


class AgentToday(BaseModel):
    """Counters for the tenant's current day (UTC); state changes never reset them."""

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
    call_id: str | None = None
    offer_id: str | None = None
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
