"""The data key and the database agree, or the bot does not start; key rotation.

Personal data is encrypted with the data key (``bot.privacy.Cipher``) and found by a blind
index derived from it. Started with another key, every read of that data would fail and the
duplicate-phone check would miss, so start-up compares the key's id with the one recorded in
the database (``storage.keys``) and refuses with a message naming both.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.kernel.config import ConfigError
from bot.kernel.context import BotContext
from bot.kernel.privacy import KEY_FILE, Cipher, KeySource, create_key_file, key_id
from storage.keys import (
    ACTIVE,
    ENCRYPTED,
    NEXT,
    EncryptedTable,
    batch,
    count_rows,
    finish_rotation,
    forget_keys,
    is_ciphertext,
    record_key,
    recorded_keys,
    sample_ciphertext,
)

NEXT_KEY_FILE = "data.key.next"


class DataKeyError(ConfigError):
    """The configured data key is not the one the database's data is encrypted under."""


async def check_data_key(bot: BotContext) -> None:
    """Refuse (DataKeyError) unless the database's data is under ``bot.cipher``'s key;
    record the key for a database that has none recorded yet."""
    cipher = bot.cipher
    source = cipher.source
    async with bot.sessions() as session, session.begin():
        keys = await recorded_keys(session)
        sample = await sample_ciphertext(session)
    upcoming = [k for k, state in keys.items() if state == NEXT]
    if sample is None and not upcoming:
        # Nothing is encrypted yet: a recorded key protects nothing, so this one is adopted.
        if cipher.key_id not in keys:
            await _adopt(bot)
        return
    if not keys:
        if source.generated or not cipher.can_decrypt(str(sample)):
            # Data from before key ids were recorded, under some other key.
            raise DataKeyError(_mismatch(source, cipher.key_id, None, bot.config.data_path))
        await _adopt(bot)
        return
    if upcoming:
        raise DataKeyError(
            f"a rotation to data key {upcoming[0]} is unfinished: run `python -m bot keys "
            "rotate` again with the current key to complete it (nothing is lost meanwhile)"
        )
    active = [k for k, state in keys.items() if state == ACTIVE]
    if cipher.key_id not in active:
        raise DataKeyError(
            _mismatch(source, cipher.key_id, active[0] if active else None, bot.config.data_path)
        )


async def _adopt(bot: BotContext) -> None:
    """Write a generated key to its file (never over another) and record it as the only key."""
    source = bot.cipher.source
    if source.generated and source.path and not create_key_file(source.path, source.key):
        # Another process of this installation wrote one first: use that one.
        bot.cipher = Cipher(source.path.read_text().strip(), source)
    with contextlib.suppress(IntegrityError):  # another process recorded it meanwhile
        async with bot.sessions() as session, session.begin():
            await forget_keys(session)
            await record_key(session, bot.cipher.key_id, ACTIVE, bot.clock.now())


def _mismatch(source: KeySource, configured: str, recorded: str | None, data_dir: Path) -> str:
    held = f"data key {recorded}" if recorded else "another data key"
    if source.generated:
        return (
            f"{source.origin} is missing, but the database holds personal data encrypted under "
            f"{held}: restore that file from the backup taken with the database (no new key "
            "was written)"
        )
    hint = ""
    pending = data_dir / NEXT_KEY_FILE
    if recorded and pending.exists() and key_id(pending.read_text().strip()) == recorded:
        hint = f"; {pending} holds it (a key rotation stopped before installing it)"
    return (
        f"the database holds personal data encrypted under {held}, but the configured key "
        f"({source.origin}) is data key {configured}: start with the key backed up together "
        f"with this database{hint}. Another key would leave that data unreadable and the "
        "duplicate-phone check blind"
    )


@dataclass
class Rotation:
    """What ``rotate`` did: rows rewritten per table, and where the new key now is."""

    old_id: str
    new_id: str
    rewritten: dict[str, int]
    key_file: Path | None
    retired_file: Path | None


ProgressFactory = Callable[[str, int], Any]  # (label, total) -> object with advance(n), finish()


async def rotate(bot: BotContext, progress: ProgressFactory, batch_size: int = 500) -> Rotation:
    """Re-encrypt every personal value under a new key, batch by batch (one transaction
    each), recomputing the blind indexes; resumable: a value already under the new key is
    left alone. The web processes must be stopped meanwhile (they would write under the old
    key). The new key is kept in ``data.key.next`` (0600) until the database switches over."""
    old = bot.cipher
    data_dir = bot.config.data_path
    async with bot.sessions() as session:
        keys = await recorded_keys(session)
    if keys.get(old.key_id) != ACTIVE:
        raise DataKeyError(
            f"the configured key is data key {old.key_id}, not the database's active key "
            f"({', '.join(k for k, s in keys.items() if s == ACTIVE) or 'none recorded'})"
        )
    next_path = data_dir / NEXT_KEY_FILE
    upcoming = [k for k, state in keys.items() if state == NEXT]
    if next_path.exists():
        new = Cipher(next_path.read_text().strip())
        if upcoming and upcoming[0] != new.key_id:
            raise DataKeyError(f"{next_path} is not data key {upcoming[0]} being rotated to")
    elif upcoming:
        raise DataKeyError(f"the rotation to data key {upcoming[0]} needs {next_path}")
    else:
        from cryptography.fernet import Fernet

        new = Cipher(Fernet.generate_key().decode())
        create_key_file(next_path, new.source.key)
    if new.key_id == old.key_id:
        raise DataKeyError(f"{next_path} holds the current key: delete it, then rotate again")
    if not upcoming:
        async with bot.sessions() as session, session.begin():
            await record_key(session, new.key_id, NEXT, bot.clock.now())
    rewritten = {}
    for table in ENCRYPTED:
        rewritten[table.model.__tablename__] = await _rotate_table(
            bot, table, old, new, progress, batch_size
        )
    async with bot.sessions() as session, session.begin():
        await finish_rotation(session, old.key_id, new.key_id)
    key_file, retired = _install(old, new, next_path, data_dir)
    return Rotation(old.key_id, new.key_id, rewritten, key_file, retired)


async def _rotate_table(
    bot: BotContext,
    table: EncryptedTable,
    old: Cipher,
    new: Cipher,
    progress: ProgressFactory,
    batch_size: int,
) -> int:
    async with bot.sessions() as session:
        total = await count_rows(session, table)
    meter = progress(table.model.__tablename__, total)
    after, rewritten = 0, 0
    while True:
        async with bot.sessions() as session, session.begin():
            rows = await batch(session, table, batch_size, after)
            for row in rows:
                rewritten += _reencrypt(row, table, old, new)
        if not rows:
            break
        after = rows[-1].id
        meter.advance(len(rows))
    meter.finish()
    return rewritten


def _reencrypt(row: Any, table: EncryptedTable, old: Cipher, new: Cipher) -> int:
    plain: dict[str, str] = {}
    changed = False
    for name in table.columns:
        value = getattr(row, name)
        if not is_ciphertext(value):
            continue
        if new.can_decrypt(value):  # done by an earlier, interrupted run
            plain[name] = new.decrypt(value)
            continue
        plain[name] = old.decrypt(value)  # ValueError: damaged under the old key too
        setattr(row, name, new.encrypt(plain[name]))
        changed = True
    for index, source in table.index.items():
        if source in plain:
            setattr(row, index, new.blind_index(plain[source]))
    return int(changed)


def _install(
    old: Cipher, new: Cipher, next_path: Path, data_dir: Path
) -> tuple[Path | None, Path | None]:
    """Put the new key where the old one was read from, when that was the key file; the old
    file is kept beside it (old backups need it). Otherwise the operator installs it."""
    if old.source.path is None:
        return None, None
    retired = data_dir / f"{KEY_FILE}.retired-{old.key_id}"
    os.replace(old.source.path, retired)
    os.replace(next_path, old.source.path)
    return old.source.path, retired
