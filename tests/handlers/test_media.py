"""Stored pictures: the periodic purge removes only what nothing refers to, after a grace."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path

from PIL import Image

from bot.kernel.clock import FakeClock
from bot.kernel.context import BotContext
from bot.kernel.message import Channel, UserKey
from handlers.logo_phases import logo_media_path
from handlers.media import ImageRules, StoredImage, check_and_store, purge_orphan_pictures
from handlers.registry import media_folders
from handlers.stories import stories_media_path
from storage.logo import add_entry
from storage.stories import add_story


def _file(directory: Path, name: str, age: timedelta, clock: FakeClock) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(b"picture")
    stamp = (clock.now() - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


async def test_purge_removes_only_old_unreferenced_pictures(
    bot_context: BotContext, clock: FakeClock
) -> None:
    logo_dir, story_dir = (
        logo_media_path(bot_context.config),
        stories_media_path(bot_context.config),
    )
    old, fresh = timedelta(days=2), timedelta(minutes=5)
    design = _file(logo_dir, "a" * 64 + ".png", old, clock)
    picture = _file(story_dir, "b" * 64 + ".jpg", old, clock)
    cancelled = _file(logo_dir, "c" * 64 + ".png", old, clock)  # its flow was cancelled
    abandoned = _file(story_dir, "d" * 64 + ".jpg", old, clock)
    in_progress = _file(story_dir, "e" * 64 + ".jpg", fresh, clock)  # a flow still running
    half_written = _file(logo_dir, ".upload-x1", old, clock)
    unrelated = _file(logo_dir, "README.txt", old, clock)
    now = clock.now()
    async with bot_context.sessions() as session, session.begin():
        await add_entry(
            session, channel="wechat", user_id="u1", title="t", now=now,
            image_hash="a" * 64, image_path=design.name,
        )  # fmt: skip
        await add_story(
            session, UserKey(Channel.WECHAT, "gh", "u2"), text="一个故事" * 5,
            consent_at=now, now=now, pictures=[("b" * 64, picture.name)],
        )  # fmt: skip
    assert await purge_orphan_pictures(bot_context, media_folders()) == 3
    assert {p.exists() for p in (cancelled, abandoned, half_written)} == {False}
    assert {p.exists() for p in (design, picture, in_progress, unrelated)} == {True}
    assert await purge_orphan_pictures(bot_context, media_folders()) == 0


def test_storing_a_picture_again_makes_it_fresh(tmp_path: Path, clock: FakeClock) -> None:
    """The same picture sent in a new flow: the purge's clock for it starts again."""
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), "green").save(buffer, "PNG")
    rules = ImageRules(tmp_path, 5_000_000, 100)
    stored = check_and_store(buffer.getvalue(), rules)
    assert isinstance(stored, StoredImage)
    path = tmp_path / stored.file_name
    os.utime(path, (1_000_000, 1_000_000))
    assert check_and_store(buffer.getvalue(), rules) == stored
    assert path.stat().st_mtime > 1_000_000
