"""What the statistics endpoints answer (DESIGN §3.6; definitions in docs/kpis.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.schemas import Timestamp
from app.staffing.erlang import ErlangModel

RATIO = "None when its denominator is zero."


class QueueFigures(BaseModel):
    start: Timestamp
    end: Timestamp
    offered: int = Field(description="Calls that entered the queue in the interval.")
    answered: int = Field(description="Of those, connected to an agent from this queue.")
    abandoned: int
    abandoned_short: int = Field(description="Abandoned within `short_abandon_s`.")
    timed_out: int
    overflowed: int
    transferred: int = Field(description="Answered here, then transferred out.")
    completed: int
    missed_offers: int = Field(description="Offers from this queue that expired unanswered.")
    service_level: float | None = Field(
        description="Answered within the threshold ÷ (offered − abandoned within the "
        f"threshold). {RATIO}")
    service_level_offered: float | None = Field(
        description=f"Answered within the threshold ÷ offered. {RATIO}")
    asa_s: float | None = Field(description="Mean wait of answered calls.")
    aht_s: float | None = Field(description="Mean talk + wrap-up of handled calls.")
    avg_talk_s: float | None
    avg_wrap_up_s: float | None
    longest_wait_s: float | None = Field(description="Longest wait, answered or not.")
    abandon_rate: float | None = Field(description=f"Abandoned ÷ offered. {RATIO}")
    transfer_rate: float | None = Field(description=f"Transferred ÷ answered. {RATIO}")
    fcr_rate: float | None = Field(
        description="Resolved on first contact ÷ completed; first contact = no call of the "
        f"same customer_id in this queue in the previous 7 days. {RATIO}")
    csat: float | None = Field(description="Mean CSAT of completed calls that have one.")


class QueueStats(BaseModel):
    queue: str
    total: QueueFigures
    intervals: list[QueueFigures]


class QueueStatsReport(BaseModel):
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    interval_s: int
    time_zone: str
    short_abandon_s: float
    queues: list[QueueStats]


class AgentFigures(BaseModel):
    start: Timestamp
    end: Timestamp
    offers: int = Field(description="Offers that ended in the interval, however they ended.")
    accepted: int
    rejected: int
    missed_offers: int = Field(description="Offers that expired unanswered.")
    rescinded: int
    answered: int = Field(description="Calls connected to the agent in the interval.")
    handled: int = Field(description="Of those, completed or transferred by the agent.")
    transferred: int
    completed: int
    aht_s: float | None
    avg_talk_s: float | None
    avg_wrap_up_s: float | None
    csat: float | None
    available_s: float
    reserved_s: float
    busy_s: float
    wrap_up_s: float
    away_s: float
    occupancy: float | None = Field(
        description="(busy + wrap_up) ÷ (busy + wrap_up + available + reserved) time. "
        f"{RATIO}")


class AgentStats(BaseModel):
    agent_id: str
    total: AgentFigures
    intervals: list[AgentFigures]


class AgentStatsReport(BaseModel):
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    interval_s: int
    time_zone: str
    agents: list[AgentStats]


class Today(BaseModel):
    from_: Timestamp = Field(alias="from", description="The tenant's last local midnight.")
    offered: int
    answered: int
    abandoned: int
    service_level: float | None
    service_level_offered: float | None
    abandon_rate: float | None
    asa_s: float | None


class QueueRealtime(BaseModel):
    queue: str
    at: Timestamp
    waiting: int = Field(description="Calls queued, not yet offered.")
    offered: int = Field(description="Calls of the queue being offered (ringing).")
    longest_wait_s: float | None = Field(description="The longest a queued call has waited.")
    agents: dict[str, int] = Field(description="Members logged in, by state.")
    agents_logged_in: int
    agents_eligible: int
    agents_eligible_available: int
    agents_working: int
    aht_s: float | None = Field(description="Recent handle time (talk + wrap-up).")
    estimated_wait_s: float | None = Field(description="For a new voice call now.")
    service_level_target: float
    service_level_threshold_s: float
    today: Today


class Overview(BaseModel):
    at: Timestamp
    time_zone: str
    waiting: int
    longest_wait_s: float | None
    agents: dict[str, int] = Field(description="Every logged-in agent of the tenant, by state.")
    queues: list[QueueRealtime]


class StaffingInterval(BaseModel):
    start: str = Field(description="Local time of day, HH:MM.")
    end: str
    offered_per_day: float = Field(description="Calls that entered the queue in this interval, "
                                   "averaged over the days looked at.")
    arrival_rate_per_hour: float
    aht_s: float | None = Field(description="Handle time of the interval's calls; the queue's "
                                "over all intervals where none was handled.")
    agents: int | None = Field(None, description="Agents needed on the phones; null when no "
                               "handle time is known or no number reaches the target.")
    scheduled_agents: int | None = Field(None, description="With shrinkage.")
    service_level: float | None = None
    occupancy: float | None = None
    abandon_rate: float | None = None


class StaffingSuggestion(BaseModel):
    queue: str
    from_: Timestamp = Field(alias="from", description="The history looked at: whole local "
                             "days before today.")
    to: Timestamp
    days: int
    interval_s: int
    time_zone: str
    model: ErlangModel
    target_service_level: float
    threshold_s: float
    shrinkage: float
    offered: int
    aht_s: float | None
    intervals: list[StaffingInterval]
