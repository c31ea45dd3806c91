from __future__ import annotations

from itertools import pairwise
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.schemas import Id, Name, Requirements, SkillName, Strict

Seconds = Annotated[float, Field(gt=0, le=86_400)]


class ServiceLevel(Strict):
    threshold_s: Seconds = 20
    target: Annotated[float, Field(gt=0, lt=1)] = 0.8


class RelaxStep(Strict):
    """After `after_s` in the queue, lower every required level by `min_level_delta` (never
    below 1) and drop the skills named; steps add up."""

    after_s: Seconds
    min_level_delta: Annotated[int, Field(ge=-9, le=0)] = 0
    drop: Annotated[list[SkillName], Field(max_length=20)] = []

    @model_validator(mode="after")
    def _does_something(self) -> RelaxStep:
        if self.min_level_delta == 0 and not self.drop:
            raise ValueError("a relax step needs min_level_delta < 0 or skills to drop")
        return self


class QueueConfig(Strict):
    name: Name | None = None
    strategy: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "longest-idle"
    requirements: Requirements = []
    priority_weight_s: Seconds | None = Field(
        None, description="Seconds of waiting one priority point is worth; null = strict.")
    max_wait_s: Seconds | None = Field(
        None, description="Longest wait in this queue (from entering it); null = no limit.")
    overflow_queue: Id | None = None
    max_size: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    offer_timeout_s: Annotated[float, Field(gt=0, le=3_600)] = 20
    auto_accept: bool = False
    wrap_up_s: Annotated[float, Field(ge=0, le=3_600)] = 0
    max_missed_offers: Annotated[int, Field(ge=1, le=100)] | None = Field(
        None, description="Missed offers in a row that send an agent away; null = never.")
    relax: Annotated[list[RelaxStep], Field(
        max_length=10, description="Steps that widen who may take a waiting call.")] = []
    service_level: ServiceLevel = ServiceLevel()

    @model_validator(mode="after")
    def _relax_in_time_order(self) -> QueueConfig:
        times = [step.after_s for step in self.relax]
        if any(b <= a for a, b in pairwise(times)):
            raise ValueError("relax steps need strictly increasing after_s")
        return self

    @model_validator(mode="after")
    def _overflow_needs_wait(self) -> QueueConfig:
        if self.overflow_queue is not None and self.max_wait_s is None:
            raise ValueError("overflow_queue needs max_wait_s (when to overflow)")
        return self


class Queue(QueueConfig):
    model_config = ConfigDict(strict=False)  # built by the service, not sent by a client

    id: str
    version: int


class QueueList(BaseModel):
    queues: list[Queue]
