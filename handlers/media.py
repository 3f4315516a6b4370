"""Pictures people send inside a flow: downloaded through the channel's media API before the
message's transaction, checked by their content with Pillow and stored by SHA-256.

Shared by the logo contest (投稿) and story submissions (投稿故事); each passes its own media
directory and limits, and turns a ``Refused`` reason into its own wording. Each declares its
folder (``MediaFolder``) so the periodic purge finds pictures nothing refers to any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from bot.kernel.clients import ApiError
from bot.kernel.context import BotContext
from bot.kernel.message import Inbound, Kind
from bot.kernel.privacy import private_dir
from handlers.feature import MediaFolder
from storage.db import Session, after_commit

# Beyond this many pixels a picture is refused before decoding (a small file can unpack huge).
MAX_PIXELS = 25_000_000
FORMATS = {"PNG": "png", "JPEG": "jpg"}
TEMP_PREFIX = ".upload-"


@dataclass(frozen=True)
class ImageRules:
    """Where accepted pictures go and what they must be."""

    directory: Path
    max_bytes: int
    min_pixels: int


@dataclass(frozen=True)
class StoredImage:
    """A checked picture, stored as ``file_name`` under the rules' directory."""

    sha256: str
    file_name: str


@dataclass(frozen=True)
class Refused:
    """Why a sent file is not accepted: ``reason`` is one of kind, download, big, type, huge,
    small; ``params`` fill the caller's text for it."""

    reason: str
    params: dict[str, Any] = field(default_factory=dict)


def file_size(size: int) -> str:
    """'5MB', '2.5MB' or '300KB', as people read file sizes."""
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f}".removesuffix(".0") + "MB"
    return f"{max(1, round(size / 1024))}KB"


def check_and_store(data: bytes, rules: ImageRules) -> StoredImage | Refused:
    """Check the bytes are a PNG or JPEG of acceptable size and store them (blocking: run in a
    thread). The file is named by content, so storing the same picture twice is harmless."""
    if len(data) > rules.max_bytes:
        return Refused("big", {"size": file_size(len(data))})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
                if kind not in FORMATS:
                    return Refused("type")
                if width * height > MAX_PIXELS:
                    return Refused("huge", {"width": width, "height": height})
                image.load()  # decodes everything: a truncated or corrupt file fails here
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Warning):
        return Refused("type")
    if min(width, height) < rules.min_pixels:
        return Refused("small", {"width": width, "height": height})
    digest = hashlib.sha256(data).hexdigest()
    name = f"{digest}.{FORMATS[kind]}"
    target = rules.directory / name
    if target.exists():
        # Fresh again for the orphan purge: a flow in progress now holds it.
        os.utime(target)
    else:
        private_dir(rules.directory)  # stories hold people's photos: 0700, files 0600
        # Write then rename: a reader (the gallery) never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=rules.directory, prefix=TEMP_PREFIX)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    return StoredImage(digest, name)


async def fetch_image(bot: BotContext, msg: Inbound, rules: ImageRules) -> StoredImage | Refused:
    """Download the user's picture through the channel's media API, check and store it."""
    if msg.kind is not Kind.IMAGE or not msg.media_id:
        return Refused("kind")
    try:
        data, _declared = await bot.client(msg.channel).download_media(msg.media_id, msg.media_url)
    except (ApiError, aiohttp.ClientError, TimeoutError, OSError, KeyError):
        return Refused("download")
    # The declared content type is not trusted: Pillow reads what the bytes are.
    return await asyncio.to_thread(check_and_store, data, rules)


def _orphans(directories: set[Path], keep: set[str], before: float) -> list[Path]:
    """Stored pictures (and left-over temporary files) not in ``keep``, unchanged since
    ``before`` (a POSIX time). Blocking: run in a thread."""
    found = []
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            stored = path.suffix.lstrip(".") in FORMATS.values() and len(path.stem) == 64
            if not (stored or path.name.startswith(TEMP_PREFIX)) or path.name in keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < before:
                    found.append(path)
    return found


async def purge_orphan_pictures(bot: BotContext, folders: Sequence[MediaFolder]) -> int:
    """Delete pictures in ``folders`` nothing refers to: sent inside a flow that was then
    cancelled or expired. A picture is kept for a flow's lifetime (plus an hour) after it was
    last sent, so a flow in progress never loses one. Returns how many files went."""
    config = bot.config
    grace = timedelta(minutes=config.limits.flow_timeout_minutes) + timedelta(hours=1)
    before = (bot.clock.now() - grace).timestamp()
    keep: set[str] = set()
    async with bot.sessions() as session:
        for folder in folders:
            keep.update(await folder.referenced(session))
    directories = {folder.path(config) for folder in folders}
    orphans = await asyncio.to_thread(_orphans, directories, keep, before)
    for path in orphans:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return len(orphans)


def remove_after_commit(session: Session, path: Path) -> None:
    """Delete the stored picture ``path`` once ``session``'s transaction commits.

    Never before: a rollback (a lost race, a failure later in the message) must find the file
    the row still names. A picture stored again since this call (the same design sent in
    another flow, which refreshes the file's time) is left to ``purge_orphan_pictures``, which
    knows what rows refer to."""
    requested = time.time()

    def remove() -> None:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime <= requested:
                path.unlink()

    after_commit(session, remove)
