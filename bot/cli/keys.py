"""``keys show|rotate``: the data key's id, and re-encrypting personal data under a new key."""

from __future__ import annotations

import argparse
import asyncio

from bot.cli.common import CommandError, Progress, Subcommands, command_group, load
from bot.kernel.context import BotContext


def register(sub: Subcommands) -> None:
    """Add the keys command."""
    action = command_group(sub, "keys", "the data key encrypting personal data: show, rotate")
    action("show", "the configured key's id and the database's", run_show)
    rotate = action(
        "rotate",
        "re-encrypt all personal data under a new key (refused while the bot serves)",
        run_rotate,
    )
    rotate.add_argument("--batch", type=int, default=500, help="rows a transaction (500)")


def run_show(args: argparse.Namespace) -> int:
    """Print the key ids, configured and recorded."""
    return asyncio.run(_show(args))


async def _show(args: argparse.Namespace) -> int:
    from bot.app import build_context, close_context
    from storage.keys import recorded_keys

    bot = build_context(load(args))
    try:
        async with bot.sessions() as session:
            keys = await recorded_keys(session)
    finally:
        await close_context(bot)
    source = bot.cipher.source
    origin = f"{source.origin} (not written yet)" if source.generated else source.origin
    print(f"configured: {bot.cipher.key_id}  from {origin}")
    for key_id, state in sorted(keys.items()):
        print(f"database:   {key_id}  {state}")
    if not keys:
        print("database:   none recorded (recorded at the next start)")
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    """Re-encrypt under a new key, with progress per table."""
    if args.batch < 1:
        raise CommandError("--batch: must be at least 1")
    return asyncio.run(_rotate(args))


async def _refuse_while_serving(bot: BotContext) -> None:
    """A process serving this database would write personal data under the old key while
    the rows are re-encrypted: refuse, naming the processes (their presence leases)."""
    from datetime import UTC, datetime

    from storage.leases import PRESENCE_TTL_SECONDS, serving

    running = await serving(bot.sessions, datetime.now(UTC))
    if running:
        names = "; ".join(owner for owner, _ in sorted(running))
        raise CommandError(
            f"the bot is running against this database ({names}): stop every serve process "
            "(web and scheduler) first, then rotate. A process that died without stopping "
            f"is forgotten {PRESENCE_TTL_SECONDS:.0f} s after its last sign of life"
        )


async def _rotate(args: argparse.Namespace) -> int:
    from bot.app import build_context, close_context
    from bot.keys import rotate
    from storage.db import is_sqlite
    from storage.migrate import ensure_schema

    config = load(args)
    if is_sqlite(config.database_url):
        await ensure_schema(config.database_url)
    bot = build_context(config)
    if bot.cipher.source.generated:
        raise CommandError(f"no data key: {bot.cipher.source.origin} does not exist")
    try:
        await _refuse_while_serving(bot)
        done = await rotate(bot, lambda label, total: Progress(label, total), args.batch)
    finally:
        await close_context(bot)
    total = sum(done.rewritten.values())
    print(f"re-encrypted {total} rows under data key {done.new_id} (was {done.old_id})")
    if done.key_file is not None:
        print(f"the new key is in {done.key_file}; the old one was moved to {done.retired_file}")
        print("back up the new key with the next database backup; keep the old one for older")
        print("backups only, away from this machine")
    else:
        print(
            f"set BOT_SECURITY_DATA_KEY (or security.data_key) to the content of "
            f"{config.data_path / 'data.key.next'}, then delete that file; the bot refuses to "
            "start with the old key from now on"
        )
    return 0
