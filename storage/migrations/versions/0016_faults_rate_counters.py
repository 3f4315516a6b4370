"""rate counters: the per-user rate limit shared by all web processes (issue 15, part 11)

Revision ID: 0016_faults_rate_counters
Revises: 0015_faults_data_keys
Create Date: 2026-11-30 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0016_faults_rate_counters"
down_revision: str | Sequence[str] | None = "0015_faults_data_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "minute", name=op.f("pk_rate_counters")),
    )
    with op.batch_alter_table("rate_counters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_counters_minute"), ["minute"], unique=False)


def downgrade() -> None:
    op.drop_table("rate_counters")
