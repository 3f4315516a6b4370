"""logo contest

Revision ID: 0003_logo
Revises: 0001_core
Create Date: 2026-11-24 10:40:08.215576
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0003_logo"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "logo_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=64), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("image_hash", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logo_entries")),
    )
    with op.batch_alter_table("logo_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_logo_entries_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_logo_entries_user_id"), ["user_id"], unique=False)

    op.create_table(
        "logo_votes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("vote_date", sa.Date(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("entry_slot", sa.Integer(), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["logo_entries.id"], name=op.f("fk_logo_votes_entry_id_logo_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logo_votes")),
        sa.UniqueConstraint(
            "channel",
            "user_id",
            "vote_date",
            "slot",
            name=op.f("uq_logo_votes_channel_user_id_vote_date_slot"),
        ),
        sa.UniqueConstraint(
            "entry_id",
            "channel",
            "user_id",
            "vote_date",
            "entry_slot",
            name=op.f("uq_logo_votes_entry_id_channel_user_id_vote_date_entry_slot"),
        ),
    )
    with op.batch_alter_table("logo_votes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_logo_votes_entry_id"), ["entry_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("logo_votes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_logo_votes_entry_id"))

    op.drop_table("logo_votes")
    with op.batch_alter_table("logo_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_logo_entries_user_id"))
        batch_op.drop_index(batch_op.f("ix_logo_entries_status"))

    op.drop_table("logo_entries")
