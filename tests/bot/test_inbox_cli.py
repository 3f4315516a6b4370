"""``inbox`` and ``faq`` commands against questions asked over the webhook."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.kernel.message import Channel
from storage.models import AuditEvent
from tests.bot.test_logo_cli import run, write_config
from tests.conftest import BotHarness

PHONE = "13812345678"


async def test_inbox_list_show_reply_learn(harness: BotHarness, tmp_path: Path) -> None:
    person = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    assert "转给工作人员" in await person.say(f"快递员电话{PHONE}打不通怎么办")
    await harness.drain()
    config = write_config(harness, tmp_path)

    status, out = await run("inbox", "list", "-c", config)
    assert status == 0
    for column in ("编号", "渠道", "用户", "状态", "原因", "内容"):
        assert column in out.splitlines()[0]
    assert "待处理" in out and "未能回答" in out and "138****5678" in out and PHONE not in out
    assert person.user_id not in out  # ids are shortened in lists

    status, out = await run("inbox", "show", "1", "-c", config)
    assert status == 0 and "可回复" in out and "138****5678" in out and PHONE not in out

    status, out = await run(
        "inbox", "reply", "1", "--canned", "later", "--as", "alice", "-c", config
    )
    assert status == 0 and "sent" in out
    assert any("正在核实" in m for m in person.late_messages())

    status, out = await run("inbox", "reply", "1", "--canned", "nope", "-c", config)
    assert status == 1

    status, out = await run(
        "inbox",
        "learn",
        "1",
        "--topic",
        "contact",
        "--question",
        "快递员电话打不通怎么办",
        "--as",
        "alice",
        "-c",
        config,
    )
    assert status == 0 and "contact" in out
    status, out = await run("faq", "show", "contact", "-c", config)
    assert "快递员电话打不通怎么办" in out and "operator" in out

    status, out = await run("inbox", "top", "--days", "7", "-c", config)
    assert status == 0 and "138****5678" in out and "1" in out

    status, out = await run("inbox", "list", "--status", "answered", "-c", config)
    assert "已回复" in out

    async with harness.bot.sessions() as session:
        actions = [
            (a.actor, a.action) for a in (await session.execute(select(AuditEvent))).scalars()
        ]
    assert actions == [("cli:alice", "inbox.reply"), ("cli:alice", "faq.learn")]


async def test_faq_commands(harness: BotHarness, tmp_path: Path) -> None:
    person = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await person.say("孩子上网要注意什么")
    await person.say("怎么投稿")
    await person.say("1")
    config = write_config(harness, tmp_path)

    status, out = await run("faq", "list", "-c", config)
    assert status == 0 and "green_tips" in out and "相似问法数" in out

    status, out = await run("faq", "try", "孩子上网要注意什么", "-c", config)
    assert status == 0 and "直接回答" in out and "green_tips" in out
    status, out = await run("faq", "try", "今天天气怎么样", "-c", config)
    assert "转人工" in out

    status, out = await run("faq", "hits", "-c", config, "--chart", str(tmp_path / "hits.png"))
    assert status == 0 and "green_tips" in out and "stories" in out
    assert "直接回答 1" in out and "列出选项 1" in out and "选择后回答 1" in out
    assert (tmp_path / "hits.png").stat().st_size > 1000

    status, out = await run(
        "faq",
        "add",
        "office",
        "--title",
        "办公地点",
        "--answer",
        "请在本号留言。",
        "--question",
        "你们在哪里办公",
        "-c",
        config,
    )
    assert status == 0
    status, out = await run(
        "faq", "add", "office", "--title", "x", "--answer", "y", "--question", "z", "-c", config
    )
    assert status == 1
    status, out = await run("faq", "disable", "office", "-c", config)
    assert status == 0
    status, out = await run("faq", "list", "-c", config)
    assert "office" in out and "off" in out
    status, out = await run("faq", "seed", "-c", config)
    assert status == 0 and "0 added" in out
