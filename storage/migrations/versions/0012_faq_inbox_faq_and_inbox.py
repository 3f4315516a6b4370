"""FAQ topics, questions, outcomes and waiting choices; the operator inbox, replies, duty roster

Revision ID: 0012_faq_inbox
Revises: 0011_logo_withdrawn
Create Date: 2026-11-30 05:07:21.255092
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0012_faq_inbox"
down_revision: str | Sequence[str] | None = "0011_logo_withdrawn"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "faq_choices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_choices")),
        sa.UniqueConstraint(
            "channel", "account", "user_id", name=op.f("uq_faq_choices_channel_account_user_id")
        ),
    )
    op.create_table(
        "faq_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("campaign", sa.String(length=32), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_entries")),
        sa.UniqueConstraint("slug", name=op.f("uq_faq_entries_slug")),
    )
    op.create_table(
        "inbox_duty_operators",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_duty_operators")),
        sa.UniqueConstraint("name", name=op.f("uq_inbox_duty_operators_name")),
    )
    op.create_table(
        "inbox_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("msg_key", sa.String(length=128), nullable=False),
        sa.Column("text_enc", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_items")),
        sa.UniqueConstraint(
            "channel", "account", "msg_key", name=op.f("uq_inbox_items_channel_account_msg_key")
        ),
    )
    with op.batch_alter_table("inbox_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbox_items_person", ["channel", "account", "user_id"], unique=False
        )
        batch_op.create_index("ix_inbox_items_status", ["status", "created_at"], unique=False)

    op.create_table(
        "faq_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("msg_key", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["faq_entries.id"], name=op.f("fk_faq_events_entry_id_faq_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_events")),
        sa.UniqueConstraint(
            "channel", "account", "msg_key", name=op.f("uq_faq_events_channel_account_msg_key")
        ),
    )
    with op.batch_alter_table("faq_events", schema=None) as batch_op:
        batch_op.create_index("ix_faq_events_at", ["at"], unique=False)

    op.create_table(
        "faq_questions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["faq_entries.id"], name=op.f("fk_faq_questions_entry_id_faq_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_questions")),
        sa.UniqueConstraint("entry_id", "text", name=op.f("uq_faq_questions_entry_id_text")),
    )
    with op.batch_alter_table("faq_questions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_faq_questions_entry_id"), ["entry_id"], unique=False)

    op.create_table(
        "inbox_replies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["inbox_items.id"], name=op.f("fk_inbox_replies_item_id_inbox_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_replies")),
    )
    with op.batch_alter_table("inbox_replies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_replies_item_id"), ["item_id"], unique=False)
        batch_op.create_index(
            "ix_inbox_replies_person", ["channel", "account", "user_id", "at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("inbox_replies", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_replies_person")
        batch_op.drop_index(batch_op.f("ix_inbox_replies_item_id"))

    op.drop_table("inbox_replies")
    with op.batch_alter_table("faq_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_faq_questions_entry_id"))

    op.drop_table("faq_questions")
    with op.batch_alter_table("faq_events", schema=None) as batch_op:
        batch_op.drop_index("ix_faq_events_at")

    op.drop_table("faq_events")
    with op.batch_alter_table("inbox_items", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_items_status")
        batch_op.drop_index("ix_inbox_items_person")

    op.drop_table("inbox_items")
    op.drop_table("inbox_duty_operators")
    op.drop_table("faq_entries")
    op.drop_table("faq_choices")
