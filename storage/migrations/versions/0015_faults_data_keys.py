"""data keys: the id of the key personal data is encrypted under (issue 15, defect 4)

Revision ID: 0015_faults_data_keys
Revises: 0014_console_operators
Create Date: 2026-11-30 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0015_faults_data_keys"
down_revision: str | Sequence[str] | None = "0014_console_operators"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_data_keys")),
    )


def downgrade() -> None:
    op.drop_table("data_keys")
