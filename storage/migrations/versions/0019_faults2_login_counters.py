"""failed console logins are counted in rate_counters (the shared WindowCounter): drop the
table that kept one row per failure

Revision ID: 0019_faults2_login_counters
Revises: 0018_console_exports
Create Date: 2026-11-30 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0019_faults2_login_counters"
down_revision: str | Sequence[str] | None = "0018_console_exports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Failures of the last lock window are forgotten: at worst an attacker gets one window's
    # tries more, once, at the upgrade.
    with op.batch_alter_table("console_login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_console_login_failures_key")
    op.drop_table("console_login_failures")


def downgrade() -> None:
    op.create_table(
        "console_login_failures",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_login_failures")),
    )
    with op.batch_alter_table("console_login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_console_login_failures_key", ["scope", "key", "at"], unique=False)
