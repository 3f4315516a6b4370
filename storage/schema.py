"""Imports every model module so ``Base.metadata`` knows all tables (Alembic, tests)."""

from storage import (
    logo,  # noqa: F401
    models,  # noqa: F401
)
