"""Settings from the environment (prefix SWITCHBOARD_). With nothing set the service runs on a
bare machine: embedded Redis (memory://) and a local SQLite file."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore")

    redis_url: str = "memory://"
    redis_max_connections: int = Field(128, ge=1)
    database_url: str = "sqlite+aiosqlite:///./switchboard.db"
    admin_token: SecretStr | None = None
    # Run Alembic to head at start-up (the embedded default wants it; production runs the Job).
    auto_migrate: bool = True

    max_body_bytes: int = Field(64 * 1024, gt=0)
    # The event stream keeps what some consumer group has not acknowledged, and every event for
    # at least events_retention_s (for polling and SSE clients resuming); events_max_len is a
    # safety cap on its length whatever the consumers say.
    events_retention_s: float = Field(86_400.0, ge=0)
    events_max_len: int = Field(1_000_000, gt=0)
    # Candidates read per wake-up: enough for concurrent decisions to find a free one in one
    # claim; each one read costs Redis time on every arrival.
    candidate_limit: int = Field(8, ge=1, le=1000)
    timer_sweep_interval_s: float = Field(0.1, gt=0)
    reconcile_interval_s: float = Field(2.0, gt=0)
    # How often configuration that Redis holds older than SQL is projected again.
    reproject_interval_s: float = Field(30.0, gt=0)
    ended_call_retention_s: float = Field(86_400.0, gt=0)
    api_key_cache_ttl_s: float = Field(30.0, ge=0)
    # Event stream: heartbeat comments keep idle SSE connections (and proxies) alive.
    sse_heartbeat_s: float = Field(15.0, gt=0)
    # The event streams one process serves at once. Each waits on a Redis connection of a pool
    # of its own, apart from the one routing uses, so followers cannot starve routing; one
    # more is refused with 503 `too-many-streams` (polling GET /v1/events is never refused).
    sse_max_streams: int = Field(64, ge=1, le=10_000)
    # Webhooks: targets on private, loopback or link-local addresses are refused unless allowed
    # (a receiver inside the same network; tests).
    webhook_allow_private: bool = False
    # History: how often each replica writes new events into SQL, events per transaction, and
    # how long another replica's unacknowledged events wait before this one takes them over.
    history_interval_s: float = Field(0.2, gt=0)
    history_batch: int = Field(500, ge=1, le=10_000)
    events_claim_idle_s: float = Field(30.0, gt=0)
    # Webhook delivery: sender passes, deliveries leased per pass, requests in flight, request
    # timeout, retry backoff (doubling from base to max, with jitter), how long a delivery is
    # retried, and how long a subscription may fail without a success before it is paused.
    webhook_interval_s: float = Field(0.2, gt=0)
    webhook_batch: int = Field(200, ge=1, le=10_000)
    webhook_concurrency: int = Field(16, ge=1, le=1000)
    webhook_timeout_s: float = Field(10.0, gt=0)
    webhook_backoff_base_s: float = Field(1.0, gt=0)
    webhook_backoff_max_s: float = Field(600.0, gt=0)
    webhook_retry_window_s: float = Field(86_400.0, gt=0)
    webhook_pause_after_s: float = Field(3_600.0, gt=0)
    # Finished deliveries and the attempts log are kept this long, then deleted.
    webhook_log_retention_s: float = Field(7 * 86_400.0, gt=0)
    # GET /metrics (Prometheus; unauthenticated, like /healthz): false answers 404.
    metrics_enabled: bool = True
    background_tasks: bool = True
    # Project every SQL tenant into Redis at start-up (else each is projected on first use).
    project_on_start: bool = True
    log_level: str = "INFO"
