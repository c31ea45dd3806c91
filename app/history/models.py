"""Call history in SQL, written from the event stream (app/history/writer.py): one row per ended
call, one per wrap-up, one per agent-state interval. Every row is keyed so that writing the same
event twice changes nothing, in whatever order the events arrive."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base


def _tenant() -> Mapped[str]:
    return mapped_column(String(64), ForeignKey("tenants.id", ondelete="CASCADE"),
                         primary_key=True)


class CallHistory(Base):
    """An ended call, as its last event left it (`call` is the whole record, for reads)."""

    __tablename__ = "call_history"
    __table_args__ = (Index("ix_call_history_tenant_arrived", "tenant_id", "arrived_at"),
                      Index("ix_call_history_tenant_customer", "tenant_id", "customer_id"))

    tenant_id: Mapped[str] = _tenant()
    call_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    first_queue: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(64))
    queues: Mapped[list[str]] = mapped_column(JSON)
    customer_id: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))  # completed, abandoned, timed_out
    agent_id: Mapped[str | None] = mapped_column(String(64))
    arrived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_offered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    wait_ms: Mapped[int] = mapped_column(Integer)
    talk_ms: Mapped[int] = mapped_column(Integer)
    transfers: Mapped[int] = mapped_column(Integer)
    overflows: Mapped[int] = mapped_column(Integer)
    requeues: Mapped[int] = mapped_column(Integer)
    missed_offers: Mapped[int] = mapped_column(Integer)
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    disposition: Mapped[str | None] = mapped_column(String(200))
    csat: Mapped[int | None] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(48))
    call: Mapped[dict[str, Any]] = mapped_column(JSON)


class WrapUp(Base):
    """An agent's after-call work on one call (a transferred call can have several)."""

    __tablename__ = "wrap_ups"
    __table_args__ = (Index("ix_wrap_ups_tenant_call", "tenant_id", "call_id"),)

    tenant_id: Mapped[str] = _tenant()
    event_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(32))
    agent_id: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    wrap_ms: Mapped[int] = mapped_column(Integer)


class AgentInterval(Base):
    """A stretch of one agent state, closed by the event that ended it."""

    __tablename__ = "agent_intervals"
    __table_args__ = (Index("ix_agent_intervals_tenant_agent", "tenant_id", "agent_id",
                            "started_at"),)

    tenant_id: Mapped[str] = _tenant()
    event_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
