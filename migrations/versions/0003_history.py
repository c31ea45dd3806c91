"""Call history: ended calls, wrap-ups and agent-state intervals, written from the event stream.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant() -> list[Any]:
    return [sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE")]


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "call_history",
        *_tenant(),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("first_queue", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
        _at("arrived_at"), _at("first_offered_at", True), _at("connected_at", True),
        _at("ended_at"),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in (
            "wait_ms", "talk_ms", "transfers", "overflows", "requeues", "missed_offers")),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("disposition", sa.String(200), nullable=True),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.String(48), nullable=False),
        sa.Column("call", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "call_id"),
    )
    op.create_index("ix_call_history_tenant_arrived", "call_history", ["tenant_id", "arrived_at"])
    op.create_index("ix_call_history_tenant_customer", "call_history",
                    ["tenant_id", "customer_id"])
    op.create_table(
        "wrap_ups",
        *_tenant(),
        sa.Column("event_id", sa.String(48), nullable=False),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        _at("ended_at"),
        sa.Column("wrap_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "event_id"),
    )
    op.create_index("ix_wrap_ups_tenant_call", "wrap_ups", ["tenant_id", "call_id"])
    op.create_table(
        "agent_intervals",
        *_tenant(),
        sa.Column("event_id", sa.String(48), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        _at("started_at"), _at("ended_at"),
        sa.PrimaryKeyConstraint("tenant_id", "event_id"),
    )
    op.create_index("ix_agent_intervals_tenant_agent", "agent_intervals",
                    ["tenant_id", "agent_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_agent_intervals_tenant_agent", table_name="agent_intervals")
    op.drop_table("agent_intervals")
    op.drop_index("ix_wrap_ups_tenant_call", table_name="wrap_ups")
    op.drop_table("wrap_ups")
    op.drop_index("ix_call_history_tenant_customer", table_name="call_history")
    op.drop_index("ix_call_history_tenant_arrived", table_name="call_history")
    op.drop_table("call_history")
