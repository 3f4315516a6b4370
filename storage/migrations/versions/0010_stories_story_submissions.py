"""story submissions

Revision ID: 0010_stories
Revises: 0009_follower_days
Create Date: 2026-11-24 23:55:23.329764
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0010_stories"
down_revision: str | Sequence[str] | None = "0009_follower_days"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact_name_enc", sa.Text(), nullable=True),
        sa.Column("contact_phone_enc", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stories_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_stories_user_id"), ["user_id"], unique=False)

    op.create_table(
        "story_media",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("story_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=255), nullable=True),
        sa.Column("media_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name=op.f("fk_story_media_story_id_stories")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_media")),
        sa.UniqueConstraint("story_id", "position", name=op.f("uq_story_media_story_id_position")),
    )
    with op.batch_alter_table("story_media", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_story_media_story_id"), ["story_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("story_media", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_story_media_story_id"))

    op.drop_table("story_media")
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stories_user_id"))
        batch_op.drop_index(batch_op.f("ix_stories_status"))

    op.drop_table("stories")
