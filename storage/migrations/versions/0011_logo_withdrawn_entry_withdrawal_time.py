"""logo entries: when the author withdrew the entry (撤回投稿)

Revision ID: 0011_logo_withdrawn
Revises: 0010_stories
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0011_logo_withdrawn"
down_revision: str | Sequence[str] | None = "0010_stories"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The new status value needs no schema change (status is a plain string column).
    with op.batch_alter_table("logo_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("logo_entries", schema=None) as batch_op:
        batch_op.drop_column("withdrawn_at")
