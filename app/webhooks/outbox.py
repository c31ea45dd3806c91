"""The webhook outbox in SQL: one delivery per (subscription, event), sent in event order per
call (or per agent), and every attempt made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, delete
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base


def order_key(event_id: str) -> str:
    """A stream id as text that sorts like the id: '1700000000000-12' → fixed width."""
    ms, _, seq = event_id.partition("-")
    return f"{int(ms):015d}-{int(seq or 0):010d}"


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The sender walks pending deliveries in event order, and looks back along a line for
        # an earlier one still pending: both read only pending rows.
        Index("ix_webhook_deliveries_due", "status", "seq"),
        Index("ix_webhook_deliveries_line", "tenant_id", "webhook_id", "line", "status", "seq"),
    )

    tenant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    seq: Mapped[str] = mapped_column(String(32))  # order_key(event_id)
    # Deliveries of one line go out one at a time, in order: a call's events, an agent's.
    line: Mapped[str] = mapped_column(String(80))
    event_type: Mapped[str] = mapped_column(String(48))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_webhook", "tenant_id", "webhook_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"))
    webhook_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(48))
    event_type: Mapped[str] = mapped_column(String(48))
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


async def forget_old(session: Any, before: datetime) -> int:
    """Drop finished deliveries and attempts older than `before`; the rows removed."""
    d, a = WebhookDelivery, WebhookAttempt
    done = await session.execute(delete(d).where(d.status != "pending", d.done_at < before))
    tried = await session.execute(delete(a).where(a.attempted_at < before))
    return int(getattr(done, "rowcount", 0) or 0) + int(getattr(tried, "rowcount", 0) or 0)
