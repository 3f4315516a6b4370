"""Imports every model module so ``Base.metadata`` knows all tables (Alembic, tests)."""

from storage import activities, followers, logo, models, schedules, volunteers  # noqa: F401
