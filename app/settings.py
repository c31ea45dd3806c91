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
    # Webhooks: targets on private, loopback or link-local addresses are refused unless allowed
    # (a receiver inside the same network; tests).
    webhook_allow_private: bool = False
    background_tasks: bool = True
    # Project every SQL tenant into Redis at start-up (else each is projected on first use).
    project_on_start: bool = True
    log_level: str = "INFO"
