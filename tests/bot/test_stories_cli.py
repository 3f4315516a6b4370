"""``stories list|show|approve|reject|export`` against stories submitted over the webhook."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.kernel.message import Channel
from storage.models import AuditEvent
from storage.stories import Story
from tests.bot.test_logo_cli import run, write_config
from tests.conftest import BotHarness, Chatter
from tests.handlers.logo_support import design
from tests.handlers.test_stories import PHONE, STORY, submit_to_confirm

LONG = STORY + "后来，更多的年轻人加入了我们。"


async def _two_stories(harness: BotHarness) -> tuple[Chatter, Chatter]:
    author = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await submit_to_confirm(author, story=LONG, pictures=(design(41),))
    assert "投稿成功" in await author.say("确认")
    fan = harness.chatter(Channel.WEIBO)  # type: ignore[attr-defined]
    await submit_to_confirm(fan, story="微博网友的故事：我们给山区孩子捐了图书。", contact=None)
    assert "投稿成功" in await fan.say("确认")
    return author, fan


async def _story(harness: BotHarness, number: int) -> Story:
    async with harness.bot.sessions() as session:
        story = await session.get(Story, number)
    assert story is not None
    return story


async def test_list_and_show_mask_the_contact_unless_revealed(
    harness: BotHarness, tmp_path: Path
) -> None:
    await _two_stories(harness)
    config = write_config(harness, tmp_path)
    status, out = await run("stories", "list", "-c", config)
    assert status == 0
    header = out.splitlines()[0]
    for column in ("编号", "渠道", "投稿时间", "状态", "故事", "图片数", "联系人"):
        assert column in header
    assert "138****5678" in out and PHONE not in out and "李*师" in out
    assert "微信" in out and "微博" in out and "待审核" in out
    assert LONG[:30] + "…" in out and LONG not in out
    status, out = await run("stories", "list", "--channel", "weibo", "-c", config)
    assert "微博网友的故事" in out and "微信" not in out

    status, out = await run("stories", "show", "1", "-c", config)
    assert status == 0 and LONG in out and "李*师 138****5678" in out and PHONE not in out
    digest_name = next(line.strip() for line in out.splitlines() if line.strip().endswith(".png"))
    assert Path(digest_name).parent == (tmp_path / "cli-data" / "media" / "stories")
    async with harness.bot.sessions() as session:
        assert list(await session.scalars(select(AuditEvent))) == []

    status, out = await run("stories", "show", "1", "--reveal", "-c", config)
    assert status == 0 and f"李老师 {PHONE}" in out and "审计日志" in out
    async with harness.bot.sessions() as session:
        (event,) = await session.scalars(select(AuditEvent))
    assert event.action == "stories.reveal_contact" and event.detail == "story=1"

    status, _out = await run("stories", "show", "99", "-c", config)
    assert status == 1


async def test_approve_tells_the_author_and_reject_keeps_a_note(
    harness: BotHarness, tmp_path: Path
) -> None:
    author, _fan = await _two_stories(harness)
    config = write_config(harness, tmp_path)
    status, out = await run("stories", "approve", "1", "--note", "文字生动", "-c", config)
    assert status == 0 and "1 号故事：已通过" in out and "已通过消息通知作者" in out
    assert any("1号）已通过审核" in m for m in author.late_messages())
    story = await _story(harness, 1)
    assert story.status == "approved" and story.review_note == "文字生动" and story.reviewed_at

    status, out = await run("stories", "reject", "2", "--note", "内容不完整", "-c", config)
    assert status == 0 and "2 号故事：未通过" in out
    story = await _story(harness, 2)
    assert story.status == "rejected" and story.review_note == "内容不完整"
    status, out = await run("stories", "list", "--status", "approved", "-c", config)
    assert "已通过" in out and "未通过" not in out
    async with harness.bot.sessions() as session:
        actions = sorted((await session.scalars(select(AuditEvent.action))).all())
    assert actions == ["stories.approve", "stories.reject"]
    assert (await run("stories", "approve", "7", "-c", config))[0] == 1


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_export(
    harness: BotHarness, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await _two_stories(harness)
    config = write_config(harness, tmp_path)
    await run("stories", "reject", "2", "--note", "重复投稿", "-c", config)
    out_file = tmp_path / f"stories.{fmt}"
    status, out = await run(
        "stories", "export", "--format", fmt, "--out", str(out_file), "-c", config
    )
    assert status == 0 and "已导出 2 个故事" in out
    assert "stories: 2/2 (100%)" in capsys.readouterr().err
    if fmt == "csv":
        with out_file.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    else:
        sheet = load_workbook(out_file).active
        assert sheet is not None and sheet.title == "公益故事"
        rows = [
            ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
        ]
    header, first, second = rows
    assert header[:6] == ["编号", "渠道", "投稿时间", "状态", "故事", "图片数"]
    record = dict(zip(header, first, strict=True))
    assert record["故事"] == LONG and record["图片数"] == "1" and record["渠道"] == "微信"
    assert record["联系人"] == "李*师 138****5678" and record["同意发布"] == "是"
    assert record["图片文件"].endswith(".png")
    other = dict(zip(header, second, strict=True))
    assert other["状态"] == "未通过" and other["审核备注"] == "重复投稿" and other["联系人"] == ""
    assert not any(PHONE in cell for row in rows for cell in row)

    pending = tmp_path / f"pending.{fmt}"
    await run(
        "stories",
        "export",
        "--format",
        fmt,
        "--status",
        "pending",
        "--out",
        str(pending),
        "-c",
        config,
    )
    assert pending.exists()
