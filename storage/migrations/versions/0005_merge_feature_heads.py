"""merge the volunteers, logo and schedules heads into one line

Revision ID: 0005_merge
Revises: 0002_volunteers, 0003_logo, 0004_schedules
Create Date: 2026-11-24 22:10:00
"""

from collections.abc import Sequence

revision: str = "0005_merge"
down_revision: str | Sequence[str] | None = ("0002_volunteers", "0003_logo", "0004_schedules")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # a merge point only: later migrations build on one head


def downgrade() -> None:
    pass
