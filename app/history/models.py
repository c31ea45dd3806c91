"""Call history in SQL, written from the event stream (app/history/writer.py): one row per ended
call and one per queue it entered (a leg), one per wrap-up, one per agent-state interval, one
per ended offer. Every row is keyed so that writing the same
event twice changes nothing, in whatever order the events arrive."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String
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


class CallLeg(Base):
    """One queue a call entered (arrival, overflow or transfer) and how it left it: the row the
    per-queue statistics count (docs/kpis.md). Times are epoch milliseconds, for interval
    arithmetic that reads the same in every SQL dialect."""

    __tablename__ = "call_legs"
    __table_args__ = (Index("ix_call_legs_tenant_entered", "tenant_id", "entered_ms"),
                      Index("ix_call_legs_tenant_customer", "tenant_id", "queue", "customer_id",
                            "entered_ms"),
                      Index("ix_call_legs_tenant_agent", "tenant_id", "agent_id",
                            "connected_ms"))

    tenant_id: Mapped[str] = _tenant()
    call_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    leg: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1 = the queue it arrived in
    queue: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str | None] = mapped_column(String(200))
    entered_ms: Mapped[int] = mapped_column(BigInteger)
    connected_ms: Mapped[int | None] = mapped_column(BigInteger)
    left_ms: Mapped[int] = mapped_column(BigInteger)
    # completed, abandoned, timed_out, overflowed, transferred
    outcome: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    wait_ms: Mapped[int] = mapped_column(BigInteger)
    talk_ms: Mapped[int] = mapped_column(BigInteger)
    sl_threshold_ms: Mapped[int] = mapped_column(BigInteger)
    missed_offers: Mapped[int] = mapped_column(Integer)
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    csat: Mapped[int | None] = mapped_column(Integer)


class OfferOutcome(Base):
    """How an offer to an agent ended: accepted, rejected, expired or rescinded."""

    __tablename__ = "offer_outcomes"
    __table_args__ = (Index("ix_offer_outcomes_tenant_at", "tenant_id", "at_ms"),)

    tenant_id: Mapped[str] = _tenant()
    event_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(64))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(16))
