"""Operator commands of the logo contest: review (author told), results, chart, voiding."""

from __future__ import annotations

import asyncio
import csv
import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.fonts import has_cjk_font
from bot.kernel.message import Channel
from handlers.logo_review import tell_author
from storage import logo as store
from storage.models import AuditEvent, Notice
from tests.conftest import (
    ACCOUNT,
    AES_KEY,
    APP_ID,
    DATA_KEY,
    TOKEN,
    WEIBO_ACCOUNT,
    BotHarness,
    Chatter,
)
from tests.handlers.logo_support import (
    PHASES,
    PHONE,
    add_approved,
    design,
    shanghai,
    submit_to_confirm,
)


def write_config(harness: BotHarness, tmp_path: Path, extra: str = "") -> str:
    """A config file for the CLI pointing at the harness's database and fake API (``extra``:
    more TOML, e.g. a [logo] section)."""
    cfg = harness.bot.config
    path = tmp_path / "bot.toml"
    path.write_text(
        f"""
[server]
data_dir = "{tmp_path / "cli-data"}"
[database]
url = "{cfg.database_url}"
[wechat]
app_id = "{APP_ID}"
app_secret = "test-secret"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
account_id = "{ACCOUNT}"
api_base_url = "{harness.fake.base_url}"
[security]
data_key = "{DATA_KEY}"
[log]
format = "text"
"""
        + extra,
        encoding="utf-8",
    )
    return str(path)


async def run(*argv: str) -> tuple[int, str]:
    """Run the CLI in a thread; returns (status, stdout)."""
    out = io.StringIO()

    def call() -> int:
        with redirect_stdout(out):
            return main(list(argv))

    status = await asyncio.to_thread(call)
    return status, out.getvalue()


async def new_entry(
    harness: BotHarness,
    user: str,
    title: str,
    status: str = "pending",
    channel: Channel = Channel.WECHAT,
) -> int:
    async with harness.bot.sessions() as session, session.begin():
        entry = await store.add_entry(
            session,
            channel=channel.value,
            account=ACCOUNT if channel is Channel.WECHAT else WEIBO_ACCOUNT,
            user_id=user,
            title=title,
            now=harness.clock.now(),
            status=status,
        )
        return entry.id


async def test_review_inside_window_messages_the_author(
    chatter: Chatter, harness: BotHarness
) -> None:
    await chatter.say("你好")
    await harness.drain()  # the message log of read-only replies is written behind
    number = await new_entry(harness, chatter.user_id, "中原绿叶", channel=chatter.channel)
    async with harness.bot.sessions() as session, session.begin():
        entry = await store.review_entry(session, number, "approved", harness.clock.now())
        assert entry is not None
        assert await tell_author(harness.bot, session, entry) == "sent"
    assert any("已通过审核" in m and f"投票 {number}" in m for m in chatter.late_messages())


async def test_review_outside_window_waits_for_next_message(
    chatter: Chatter, harness: BotHarness
) -> None:
    await chatter.say("你好")
    await harness.drain()
    number = await new_entry(harness, chatter.user_id, "中原绿叶", channel=chatter.channel)
    harness.clock.advance(hours=49)
    async with harness.bot.sessions() as session, session.begin():
        entry = await store.review_entry(session, number, "rejected", harness.clock.now(), "非原创")
        assert entry is not None
        assert await tell_author(harness.bot, session, entry) == "notice"
    assert chatter.late_messages() == []
    reply = await chatter.say("你好")
    assert "未通过审核" in reply and "非原创" in reply


async def test_cli_reject_records_audit_and_notice(harness: BotHarness, tmp_path: Path) -> None:
    config = write_config(harness, tmp_path)
    number = await new_entry(harness, "author-1", "同心圆")
    status, out = await run("logos", "reject", str(number), "--reason", "图片不清晰", "-c", config)
    assert status == 0 and "rejected" in out
    async with harness.bot.sessions() as session:
        notice = (await session.scalars(select(Notice))).one()
        assert "图片不清晰" in notice.text and notice.user_id == "author-1"
        audit = (await session.scalars(select(AuditEvent))).one()
        assert audit.action == "logo.reject" and f"entry={number}" in audit.detail
    status, out = await run("logos", "list", "-c", config)
    assert status == 0 and "同心圆" in out and "未通过" in out
    assert (await run("logos", "approve", "999", "-c", config))[0] == 1


async def test_results_csv_png_and_void(
    chatter: Chatter, harness: BotHarness, tmp_path: Path
) -> None:
    config = write_config(harness, tmp_path)
    a = await new_entry(harness, "x", "中原绿叶", "approved")
    b = await new_entry(harness, "y", "e起同心", "approved")
    other = harness.chatter()  # type: ignore[attr-defined]
    assert "投票成功" in await chatter.say(f"投票 {a}")
    assert "投票成功" in await other.say(f"投票 {a}")
    assert "投票成功" in await other.say(f"投票 {b}")
    status, out = await run("votes", "results", "-c", config)
    assert status == 0
    lines = out.splitlines()
    # Each entry's votes, then split by the voters' channel (微信, 微博).
    split_a = ["2", "0"] if chatter.channel is Channel.WECHAT else ["1", "1"]
    assert "微信" in lines[0] and "微博" in lines[0]
    first = next(line for line in lines if "中原绿叶" in line)
    assert first.split() == ["1", str(a), "中原绿叶", "2", *split_a]
    assert any(line.split()[-1] == "3" for line in lines if line[:4].isdigit())
    status, out = await run("votes", "results", "--format", "csv", "-c", config)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["rank", "number", "title", "votes", "wechat", "weibo"]
    assert rows[1] == ["1", str(a), "中原绿叶", "2", *split_a]
    assert rows[2] == ["2", str(b), "e起同心", "1", "1", "0"]
    status, out = await run(
        "votes", "void", str(a), "--user", other.user_id, "--reason", "刷票", "-c", config
    )
    assert status == 0 and "voided 1" in out
    async with harness.bot.sessions() as session:
        assert {n: c for n, _t, c in await store.ranking(session)} == {a: 1, b: 1}
        audit = (await session.scalars(select(AuditEvent))).one()
        assert audit.action == "votes.void" and "刷票" in audit.detail
    if not has_cjk_font():
        pytest.skip("no CJK font installed")
    png = tmp_path / "votes.png"
    status, _ = await run("votes", "results", "--format", "png", "-o", str(png), "-c", config)
    assert status == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_vote_limits_are_validated() -> None:
    from bot.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"logo\.votes_per_day"):
        load_config(None, env={}, overrides={"logo": {"votes_per_day": 0}})
    with pytest.raises(ConfigError, match=r"logo\.votes_per_entry_per_day"):
        load_config(None, env={}, overrides={"logo": {"votes_per_entry_per_day": 5}})


# -- submissions, phases, flags ----------------------------------------------------------------


async def test_list_masks_the_author(harness: BotHarness, tmp_path: Path) -> None:
    config = write_config(harness, tmp_path)
    chatter = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await submit_to_confirm(chatter, design(50), title="同心圆")
    assert "投稿成功" in await chatter.say("确认")
    status, out = await run("logos", "list", "-c", config)
    assert status == 0
    assert "同心圆" in out and "张*丰" in out and "138****5678" in out
    assert "张三丰" not in out and PHONE not in out and "待审核" in out
    assert (
        "渠道" in out
        and next(line for line in out.splitlines() if "同心圆" in line).split()[1] == "微信"
    )


async def test_phase_set_show_clear(harness: BotHarness, tmp_path: Path) -> None:
    config = write_config(harness, tmp_path)
    chatter = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    status, out = await run("logos", "phase", "show", "-c", config)
    assert status == 0 and "目前作品征集和投票同时开放" in out
    status, out = await run(
        "logos",
        "phase",
        "set",
        "voting",
        "--from",
        "2026-03-25 09:00",
        "--to",
        "2026-04-10",
        "-c",
        config,
    )
    assert status == 0
    assert "2026-03-25 09:00" in out and "2026-04-10 24:00" in out and "database" in out
    # Every process reads the setting: this bot (another process than the CLI) at once.
    harness.clock.set(shanghai("2026-03-10 12:00"))
    assert "公开投票将于 3月25日 09:00 开始" in await chatter.say("投票")
    assert "现在不能投稿" in await chatter.say("投稿")  # only voting is scheduled now
    harness.clock.set(shanghai("2026-03-26 12:00"))
    assert "当前为公开投票阶段" in await chatter.say("我的投票")
    status, out = await run("logos", "phase", "clear", "voting", "-c", config)
    assert status == 0 and "目前作品征集和投票同时开放" in out
    assert "发送您的设计作品图片" in await chatter.say("投稿")
    async with harness.bot.sessions() as session:
        actions = [a.action for a in (await session.scalars(select(AuditEvent))).all()]
    assert actions == ["logo.phase_set", "logo.phase_clear"]
    assert (await run("logos", "phase", "clear", "voting", "-c", config))[0] == 1


async def test_phase_set_is_checked_against_the_config(harness: BotHarness, tmp_path: Path) -> None:
    logo = "\n[logo]\n" + "\n".join(f'{k} = "{v}"' for k, v in PHASES.items()) + "\n"
    config = write_config(harness, tmp_path, logo)
    err = io.StringIO()
    with redirect_stderr(err):
        status, _ = await run(
            "logos", "phase", "set", "voting", "--from", "2026-03-15", "-c", config
        )
    assert status == 1
    assert "--from: voting must not start before review ends (2026-03-24 24:00)" in err.getvalue()
    with redirect_stderr(err):
        status, _ = await run("logos", "phase", "set", "voting", "--from", "3/25", "-c", config)
    assert status == 1 and "--from: expected YYYY-MM-DD HH:MM" in err.getvalue()
    # Moving results later is fine and overrides the config's.
    status, out = await run(
        "logos", "phase", "set", "results", "--from", "2026-04-20 10:00", "-c", config
    )
    assert status == 0 and "database (overrides config)" in out
    harness.clock.set(shanghai("2026-04-16 12:00"))
    chatter = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    assert "结果公布将于 4月20日 10:00 开始" in await chatter.say("投票")


@pytest.mark.config(logo={"burst_threshold": 2})
async def test_flags_and_voiding_a_scene(harness: BotHarness, tmp_path: Path) -> None:
    config = write_config(harness, tmp_path)
    (number,) = await add_approved(harness, "中原绿叶")
    harness.clock.set(shanghai("2026-03-30 12:00"))
    fans = [harness.chatter(Channel.WECHAT) for _ in range(3)]  # type: ignore[attr-defined]
    for fan in fans:
        await fan.event("subscribe", "poster-9")
        assert "投票成功" in await fan.say(f"投票 {number}")
    loyal = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    assert "投票成功" in await loyal.say(f"投票 {number}")
    status, out = await run("votes", "flags", "-c", config)
    assert status == 0 and "poster-9" in out and "2026-03-30 12:00" in out
    assert out.split("poster-9")[1].split()[2] == "3"  # votes in the flagged window
    status, out = await run(
        "votes",
        "void",
        "--scene",
        "poster-9",
        "--since",
        "2026-03-30 11:00",
        "--reason",
        "同一二维码集中刷票",
        "-c",
        config,
    )
    assert status == 0 and "voided 3 votes" in out and "scene poster-9" in out
    async with harness.bot.sessions() as session:
        assert await store.ranking(session) == [(number, "中原绿叶", 1)]
        audit = (await session.scalars(select(AuditEvent))).one()
    assert audit.action == "votes.void" and "scene=poster-9" in audit.detail
    assert "同一二维码集中刷票" in audit.detail
    assert (await run("votes", "void", "--reason", "x", "-c", config))[0] == 1


async def test_no_flags(harness: BotHarness, tmp_path: Path) -> None:
    status, out = await run("votes", "flags", "-c", write_config(harness, tmp_path))
    assert status == 0 and "no bursts flagged" in out


@pytest.mark.config(logo=PHASES)
async def test_approval_during_review_says_when_voting_opens(
    chatter: Chatter, harness: BotHarness
) -> None:
    harness.clock.set(shanghai("2026-03-22 10:00"))
    await chatter.say("你好")
    await harness.drain()
    number = await new_entry(harness, chatter.user_id, "中原绿叶", channel=chatter.channel)
    async with harness.bot.sessions() as session, session.begin():
        entry = await store.review_entry(session, number, "approved", harness.clock.now())
        assert entry is not None
        assert await tell_author(harness.bot, session, entry) == "sent"
    (told,) = chatter.late_messages()
    assert "已通过审核" in told and "公开投票将于 3月25日 09:00 开始" in told
    assert f"届时回复【投票 {number}】" in told
