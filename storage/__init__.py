"""Persistence: SQLAlchemy 2.x async models, repositories and Alembic migrations."""
