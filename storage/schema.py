"""Imports every model module so ``Base.metadata`` knows all tables (Alembic, tests)."""

import storage.volunteers  # noqa: F401
from storage import models  # noqa: F401
