"""Imports every module of this package so ``Base.metadata`` knows all tables (Alembic, tests).

Found by listing the package, not by name: a feature's new ``storage/<feature>.py`` is part of
the schema (and of the migration check in tests) without an edit here.
"""

import importlib
import pkgutil

import storage

# Not model modules: the migrations themselves and the code that runs them.
_NOT_MODELS = frozenset({"migrations", "migrate", "schema"})

for _module in pkgutil.iter_modules(storage.__path__):
    if _module.name not in _NOT_MODELS:
        importlib.import_module(f"storage.{_module.name}")
