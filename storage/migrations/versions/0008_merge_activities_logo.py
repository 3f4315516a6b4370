"""merge the activities and logo-submission heads

Revision ID: 0008_merge
Revises: 0006_activities, 0007_logo_submissions
Create Date: 2026-11-24 23:30:00
"""

from collections.abc import Sequence

revision: str = "0008_merge"
down_revision: str | Sequence[str] | None = ("0006_activities", "0007_logo_submissions")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # a merge point only: later migrations build on one head


def downgrade() -> None:
    pass
