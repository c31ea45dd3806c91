from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from app.schemas import Strict
from app.staffing.erlang import MAX_AGENTS, ErlangModel

# Rates and durations have a floor a little above 0 (0.001 per hour, 1 ms): far below it
# 1 / duration or rate / 3600 leaves the range of a float, and such inputs mean nothing anyway.
Duration = Annotated[float, Field(ge=0.001, le=86_400)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


class ErlangRequest(Strict):
    """Erlang C, or Erlang A when `patience_s` is given. With `agents`: the prediction for
    them. Without: the fewest agents meeting `target_service_level` within `threshold_s`."""

    arrival_rate_per_hour: Annotated[float, Field(ge=0.001, le=100_000)] = Field(
        description="Calls offered per hour (Poisson).")
    aht_s: Duration = Field(description="Average handling time: talk + wrap-up.")
    threshold_s: Annotated[float, Field(ge=0, le=86_400)] = Field(
        description="Answered within this many seconds counts towards the service level.")
    target_service_level: Fraction | None = Field(
        None, description="Required when `agents` is absent.")
    # Up to an hour: the queue the chain sums grows with λ · patience (≤ 100_000 states here).
    patience_s: Annotated[float, Field(ge=0.001, le=3_600)] | None = Field(
        None, description="Mean time a caller waits before hanging up: Erlang A. Null: "
                          "Erlang C, nobody hangs up.")
    shrinkage: Annotated[float, Field(ge=0, lt=1)] = Field(
        0, description="Share of paid time not on the phones; scheduled = ⌈N / (1 - s)⌉.")
    max_occupancy: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None, description="When searching: also N ≥ offered Erlangs ÷ max_occupancy.")
    agents: Annotated[int, Field(ge=1, le=MAX_AGENTS)] | None = Field(
        None, description="Predict for this many agents instead of searching.")


class ErlangAnswer(BaseModel):
    model: ErlangModel
    traffic_erlangs: float = Field(description="Offered load: arrivals per second × AHT.")
    agents: int = Field(description="Agents needed, or the agents given.")
    scheduled_agents: int = Field(description="Agents to schedule once shrinkage is taken.")
    stable: bool = Field(description="False for Erlang C with agents ≤ traffic: the queue "
                                     "grows without end (waits are then null).")
    service_level: float = Field(description="Answered within threshold_s ÷ offered.")
    probability_of_wait: float
    asa_s: float | None = Field(description="Mean wait of answered calls.")
    average_wait_s: float | None = Field(description="Mean wait of all calls, abandoned too.")
    abandon_rate: float = Field(description="Abandoned ÷ offered; 0 for Erlang C.")
    occupancy: float = Field(description="Carried load ÷ agents.")
