"""``db upgrade``: apply the Alembic migrations."""

from __future__ import annotations

import argparse
import asyncio

from bot.cli.common import add_config_arg, load


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the db command."""
    p = sub.add_parser("db", help="database schema")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dsub.add_parser("upgrade", help="apply all migrations (safe to run again)")
    add_config_arg(up)
    up.add_argument("--revision", default="heads", help="target revision (default: heads)")
    up.set_defaults(func=upgrade)


def upgrade(args: argparse.Namespace) -> int:
    """Migrate the configured database."""
    from storage.migrate import upgrade as run_upgrade

    config = load(args)
    asyncio.run(run_upgrade(config.database_url, args.revision))
    print("database is up to date")
    return 0
