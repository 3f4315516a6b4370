"""logo contest: submissions (design file, encrypted author), phases, vote rate, burst flags

Revision ID: 0007_logo_submissions
Revises: 0005_merge
Create Date: 2026-11-25 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0007_logo_submissions"
down_revision: str | Sequence[str] | None = "0005_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite cannot add a unique constraint in place: batch mode rebuilds the table.
    with op.batch_alter_table("logo_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("image_path", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("author_name_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("author_phone_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("phone_index", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_logo_entries_phone_index"), ["phone_index"], unique=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_logo_entries_image_hash"), ["image_hash"]
        )

    op.create_table(
        "logo_phases",
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("phase", name=op.f("pk_logo_phases")),
    )
    op.create_table(
        "logo_vote_rates",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "user_id", "minute", name=op.f("pk_logo_vote_rates")),
    )
    op.create_table(
        "logo_vote_flags",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scene", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vote_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logo_vote_flags")),
        sa.UniqueConstraint(
            "scene", "window_start", name=op.f("uq_logo_vote_flags_scene_window_start")
        ),
    )


def downgrade() -> None:
    op.drop_table("logo_vote_flags")
    op.drop_table("logo_vote_rates")
    op.drop_table("logo_phases")
    with op.batch_alter_table("logo_entries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_logo_entries_image_hash"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_logo_entries_phone_index"))
        batch_op.drop_column("phone_index")
        batch_op.drop_column("author_phone_enc")
        batch_op.drop_column("author_name_enc")
        batch_op.drop_column("image_path")
