"""Imports every model module so ``Base.metadata`` knows all tables (Alembic, tests)."""

from storage import (  # noqa: F401
    activities,
    followers,
    keys,
    logo,
    models,
    ratelimit,
    schedules,
    stories,
    volunteers,
)
