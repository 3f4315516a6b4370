"""``db upgrade``: apply the Alembic migrations."""

from __future__ import annotations

import argparse
import asyncio

from bot.cli.common import Subcommands, command_group, load


def register(sub: Subcommands) -> None:
    """Add the db command."""
    action = command_group(sub, "db", "database schema")
    up = action("upgrade", "apply all migrations (safe to run again)", upgrade)
    up.add_argument("--revision", default="heads", help="target revision (default: heads)")


def upgrade(args: argparse.Namespace) -> int:
    """Migrate the configured database."""
    from storage.migrate import upgrade as run_upgrade

    config = load(args)
    asyncio.run(run_upgrade(config.database_url, args.revision))
    print("database is up to date")
    return 0
