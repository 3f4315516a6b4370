"""activities, enrolments, ledger activity and volunteer district/availability

Revision ID: 0006_activities
Revises: 0005_merge
Create Date: 2026-11-24 22:02:13.199569

The ledger's new UNIQUE(volunteer_id, activity_id) leaves operators' adjustments alone: their
activity_id is NULL, and NULLs are distinct in unique keys on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0006_activities"
down_revision: str | Sequence[str] | None = "0005_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("title", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=100), nullable=False),
        sa.Column("city", sa.String(length=32), nullable=False),
        sa.Column("hours", sa.Numeric(precision=6, scale=2), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("enrolled", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "enrolled >= 0 AND enrolled <= capacity",
            name=op.f("ck_activities_enrolled_within_capacity"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index("ix_activities_code", ["code"], unique=False)
        batch_op.create_index(
            "ix_activities_status_starts_at", ["status", "starts_at"], unique=False
        )

    op.create_table(
        "activity_enrolments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "activity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "volunteer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("told_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_activity_enrolments_activity_id_activities"),
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_activity_enrolments_volunteer_id_volunteers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_enrolments")),
        sa.UniqueConstraint(
            "activity_id",
            "volunteer_id",
            name=op.f("uq_activity_enrolments_activity_id_volunteer_id"),
        ),
    )
    with op.batch_alter_table("activity_enrolments", schema=None) as batch_op:
        batch_op.create_index("ix_activity_enrolments_volunteer_id", ["volunteer_id"], unique=False)

    with op.batch_alter_table("volunteer_hours", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "activity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index("ix_volunteer_hours_at", ["at"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_volunteer_hours_volunteer_id_activity_id"),
            ["volunteer_id", "activity_id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_volunteer_hours_activity_id_activities"),
            "activities",
            ["activity_id"],
            ["id"],
        )

    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("district", sa.String(length=32), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("availability", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.drop_column("availability")
        batch_op.drop_column("district")

    with op.batch_alter_table("volunteer_hours", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_volunteer_hours_activity_id_activities"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("uq_volunteer_hours_volunteer_id_activity_id"), type_="unique"
        )
        batch_op.drop_index("ix_volunteer_hours_at")
        batch_op.drop_column("activity_id")

    with op.batch_alter_table("activity_enrolments", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_enrolments_volunteer_id")

    op.drop_table("activity_enrolments")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_status_starts_at")
        batch_op.drop_index("ix_activities_code")

    op.drop_table("activities")
