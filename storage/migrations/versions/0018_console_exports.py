"""console exports and operator notifications: export jobs any web process can report and
serve; what each operator is told about and the QR scene that binds their WeChat (issue 12)

Revision ID: 0018_console_exports
Revises: 0017_perftx_inbound_user_index
Create Date: 2026-11-30 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0018_console_exports"
down_revision: str | Sequence[str] | None = "0017_perftx_inbound_user_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_exports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("file", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=128), nullable=False),
        sa.Column("personal", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_exports")),
    )
    with op.batch_alter_table("console_exports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_exports_owner"), ["owner"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_console_exports_updated_at"), ["updated_at"], unique=False
        )


    with op.batch_alter_table("console_operators", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notify_pushes", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("notify_inbox", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("bind_scene", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("bind_scene_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_console_operators_bind_scene"), ["bind_scene"]
        )
    # Admins who bound an openid before were told about pushes: they keep that.
    op.execute(
        "UPDATE console_operators SET notify_pushes = true "
        "WHERE role = 'admin' AND notify_openid IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("console_operators", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_console_operators_bind_scene"), type_="unique")
        batch_op.drop_column("bind_scene_until")
        batch_op.drop_column("bind_scene")
        batch_op.drop_column("notify_inbox")
        batch_op.drop_column("notify_pushes")
    op.drop_table("console_exports")
