"""Certificates name the volunteer in full: private files, deleted on 注销, purged when old
(issue 15, defect 5)."""

from __future__ import annotations

import os
import stat
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.fonts import has_cjk_font
from bot.kernel.clock import SHANGHAI
from handlers import certificate
from tests.conftest import BotHarness, Chatter
from tests.handlers.test_volunteers import volunteer_with_hours

pytestmark = pytest.mark.skipif(not has_cjk_font(), reason="no CJK font installed")


def _mode(path: os.PathLike[str]) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_certificate_is_private_and_goes_with_the_volunteer(
    harness: BotHarness, chatter: Chatter
) -> None:
    vid = await volunteer_with_hours(harness, chatter, Decimal("20"))
    # 00:30 on Dec 1 in Shanghai is still Nov 30 in UTC: the certificate has the campaign's day.
    harness.clock.set(datetime(2026, 12, 1, 0, 30, tzinfo=SHANGHAI).astimezone(UTC))
    await chatter.say("志愿证书")
    folder = harness.bot.config.data_path / certificate.FOLDER
    files = list(folder.glob(f"volunteer-{vid}-*.png"))
    assert [f.name for f in files] == [f"volunteer-{vid}-2026-12-01.png"]
    assert _mode(files[0]) == 0o600 and _mode(folder) == 0o700
    # Another volunteer's certificate stays.
    other = folder / certificate.file_name(vid + 1000, harness.clock.now().date())
    other.write_bytes(b"png")
    await chatter.say("注销志愿者")
    assert "已删除" in await chatter.say("确认注销")
    assert not files[0].exists() and other.exists()


def test_old_certificates_are_purged(tmp_path: os.PathLike[str]) -> None:
    from pathlib import Path

    folder = Path(tmp_path)
    old = folder / "volunteer-1-2026-01-01.png"
    fresh = folder / "volunteer-2-2026-01-02.png"
    unrelated = folder / "notes.txt"
    for path in (old, fresh, unrelated):
        path.write_bytes(b"x")
    day_ago = time.time() - certificate.KEEP_SECONDS - 60
    os.utime(old, (day_ago, day_ago))
    os.utime(unrelated, (day_ago, day_ago))
    assert certificate.purge_old(folder) == 1
    assert not old.exists() and fresh.exists() and unrelated.exists()


async def test_sqlite_file_and_its_folder_are_private(tmp_path: os.PathLike[str]) -> None:
    from pathlib import Path

    from storage.db import create_engine

    path = Path(tmp_path) / "data" / "bot.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (x int)")
    finally:
        await engine.dispose()
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700


async def test_the_periodic_purge_takes_old_certificates(harness: BotHarness) -> None:
    from bot.app import purge_once

    folder = harness.bot.config.data_path / certificate.FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    old = folder / "volunteer-7-2026-01-01.png"
    old.write_bytes(b"x")
    day_ago = time.time() - certificate.KEEP_SECONDS - 60
    os.utime(old, (day_ago, day_ago))
    done = await purge_once(harness.bot)
    # The bot's own periodic purge, started with it, may have got there first.
    assert "volunteers.purge_certificates" in done and not old.exists()
