from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from app.events.filters import MAX_PATTERNS
from app.schemas import Strict, Text, Timestamp
from app.webhooks.secret import secret_key
from app.webhooks.targets import MAX_URL_LENGTH


def _valid_secret(secret: str) -> str:
    secret_key(secret)
    return secret


class WebhookStatus(StrEnum):
    active = "active"
    paused = "paused"


Pattern = Annotated[str, StringConstraints(max_length=64)]


class WebhookConfig(Strict):
    url: Annotated[str, Field(description=(
        f"http(s) URL, at most {MAX_URL_LENGTH} characters, without credentials or fragment; "
        "private addresses only with SWITCHBOARD_WEBHOOK_ALLOW_PRIVATE."))]
    events: Annotated[list[Pattern], Field(max_length=MAX_PATTERNS, description=(
        "Event types, `<family>.*` or `*`; empty: every event."))] = []
    secret: Annotated[str, AfterValidator(_valid_secret), Field(description=(
        "`whsec_` + base64 of 24 to 64 bytes; generated when left out."))] | None = None
    description: Text | None = None


class Webhook(BaseModel):
    """A subscription as GET shows it: never the secret."""

    id: str
    url: str
    events: list[str]
    description: str | None
    status: WebhookStatus
    paused_reason: str | None
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class WebhookCreated(Webhook):
    """The PUT response: the only place the secret is shown."""

    secret: str


class WebhookList(BaseModel):
    webhooks: list[Webhook]


class Attempt(BaseModel):
    """One try at delivering one event (or a ping)."""

    event_id: str
    event_type: str
    attempt: int = Field(description="1 for the first try of this event, then 2, ...")
    attempted_at: Timestamp
    status_code: int | None = Field(description="The receiver's answer; null: none came.")
    latency_ms: int
    error: str | None = Field(description="Null when the receiver answered 2xx.")


class AttemptList(BaseModel):
    attempts: list[Attempt] = Field(description="Newest first.")


class PingResult(BaseModel):
    status_code: int | None
    latency_ms: int
    error: str | None
