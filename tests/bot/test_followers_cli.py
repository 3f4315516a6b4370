"""Follower growth: counted per day by the dispatcher, reported by ``followers report``."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.fonts import has_cjk_font
from bot.kernel.clock import local
from bot.kernel.message import Channel
from storage.followers import FollowerDay
from tests.bot.test_chat import _write_config
from tests.conftest import BotHarness


async def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


async def test_growth_is_counted_once_per_event_and_reported(
    harness: BotHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first_day = local(harness.clock.now()).date()
    # Three follows on WeChat (two through the poster's QR code), one of them retried three
    # times at once as WeChat does; one follow on Weibo; one unfollow.
    users = [harness.user() for _ in range(3)]
    retried = users[0].event("subscribe", "qrscene_poster-1")
    answers = await asyncio.gather(*(harness.post(users[0], retried) for _ in range(3)))
    assert all(status == 200 for status, _ in answers)
    await harness.send(users[1], users[1].event("subscribe", "qrscene_poster-1"))
    await harness.send(users[2], users[2].event("subscribe"))
    await harness.chatter(Channel.WEIBO).event("subscribe")  # type: ignore[attr-defined]
    await harness.send(users[1], users[1].event("unsubscribe"))
    # A scan by a follower is not a new follow.
    await harness.send(users[2], users[2].event("SCAN", "poster-2"))
    # The next day: one more follow.
    harness.clock.advance(days=1)
    later = harness.user()
    await harness.send(later, later.event("subscribe"))

    async with harness.bot.sessions() as session:
        rows = (await session.scalars(select(FollowerDay).order_by(FollowerDay.day))).all()
    counts = {(r.channel, r.day): (r.follows, r.unfollows) for r in rows}
    second_day = first_day + timedelta(days=1)
    assert counts == {
        ("wechat", first_day): (3, 1),
        ("weibo", first_day): (1, 0),
        ("wechat", second_day): (1, 0),
    }

    config = str(_write_config(tmp_path, harness.bot.config.database_url, harness.fake.base_url))  # type: ignore[attr-defined]
    span = ["--from", first_day.isoformat(), "--to", second_day.isoformat(), "-c", config]
    status, out, _ = await _run(capsys, "followers", "report", *span)
    assert status == 0
    lines = out.splitlines()
    assert any(line.split() == [first_day.isoformat(), "4", "1", "3"] for line in lines), out
    assert any(line.split() == [second_day.isoformat(), "1", "0", "1"] for line in lines), out
    assert "新增关注 5 人，取消关注 1 人，净增长 4 人；目前关注 4 人" in out
    # poster-1 brought two followers, one of whom left again.
    assert any(line.split() == ["poster-1", "2", "1"] for line in lines), out

    status, out, _ = await _run(capsys, "followers", "report", *span, "--channel", "weibo")
    assert status == 0 and "新增关注 1 人，取消关注 0 人，净增长 1 人；目前关注 1 人" in out

    if not has_cjk_font():
        pytest.skip("no CJK font installed")
    chart = tmp_path / "growth.png"
    status, out, _ = await _run(capsys, "followers", "report", *span, "--chart", str(chart))
    assert status == 0 and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--days", "0"], "--days: must be between 1 and 366"),
        (["--from", "2026-13-01"], "--from: expected YYYY-MM-DD"),
        (["--from", "2026-12-02", "--to", "2026-12-01"], "--from: must not be after --to"),
        (["--from", "2020-01-01", "--to", "2026-01-01"], "at most 366 days"),
    ],
)
async def test_bad_periods_are_refused_naming_the_option(
    bot_context: object,
    tmp_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    config = str(_write_config(tmp_path, db_url, "sandbox"))
    status, _, err = await _run(capsys, "followers", "report", *argv, "-c", config)
    assert status == 1 and message in err
