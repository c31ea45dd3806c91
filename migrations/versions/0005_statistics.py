"""Statistics: a row per queue a call entered, a row per ended offer, the tenant's time zone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(64), server_default="UTC",
                                   nullable=False))
    op.create_table(
        "call_legs",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("leg", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=True),
        sa.Column("entered_ms", sa.BigInteger(), nullable=False),
        sa.Column("connected_ms", sa.BigInteger(), nullable=True),
        sa.Column("left_ms", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("wait_ms", sa.BigInteger(), nullable=False),
        sa.Column("talk_ms", sa.BigInteger(), nullable=False),
        sa.Column("sl_threshold_ms", sa.BigInteger(), nullable=False),
        sa.Column("missed_offers", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "call_id", "leg"),
    )
    op.create_index("ix_call_legs_tenant_entered", "call_legs", ["tenant_id", "entered_ms"])
    op.create_index("ix_call_legs_tenant_customer", "call_legs",
                    ["tenant_id", "queue", "customer_id", "entered_ms"])
    op.create_index("ix_call_legs_tenant_agent", "call_legs",
                    ["tenant_id", "agent_id", "connected_ms"])
    op.create_table(
        "offer_outcomes",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(48), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "event_id"),
    )
    op.create_index("ix_offer_outcomes_tenant_at", "offer_outcomes", ["tenant_id", "at_ms"])


def downgrade() -> None:
    op.drop_index("ix_offer_outcomes_tenant_at", table_name="offer_outcomes")
    op.drop_table("offer_outcomes")
    op.drop_index("ix_call_legs_tenant_agent", table_name="call_legs")
    op.drop_index("ix_call_legs_tenant_customer", table_name="call_legs")
    op.drop_index("ix_call_legs_tenant_entered", table_name="call_legs")
    op.drop_table("call_legs")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("time_zone")
