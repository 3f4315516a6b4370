"""我的投稿 and 撤回投稿 N over the real webhook on both channels: the author's own entries, the
confirm step, what a withdrawal deletes (name, phone, design file) and hides (gallery, vote
list, results), refusals (someone else's entry, unknown numbers, after the results), retries,
and what operators see."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.kernel.message import Channel
from handlers.logo_phases import logo_media_path
from storage import logo as store
from storage.logo import LogoEntry, LogoVote
from storage.models import AuditEvent, Conversation
from tests.bot.test_gallery import get
from tests.bot.test_logo_cli import run, write_config
from tests.conftest import ACCOUNT, WEIBO_ACCOUNT, BotHarness, Chatter
from tests.handlers.logo_support import PHASES, PHONE, design, shanghai, submit_to_confirm
from tests.handlers.test_activities import say_thrice_at_once


def account_of(chatter: Chatter) -> str:
    return ACCOUNT if chatter.channel is Channel.WECHAT else WEIBO_ACCOUNT


async def submitted(chatter: Chatter, harness: BotHarness, seed: int, title: str) -> LogoEntry:
    """An entry sent by ``chatter`` through the real flow (so its design file exists)."""
    await submit_to_confirm(chatter, design(seed), title=title)
    assert "投稿成功" in await chatter.say("确认")
    async with harness.bot.sessions() as session:
        entry = await session.scalar(select(LogoEntry).where(LogoEntry.title == title))
    assert entry is not None
    return entry


async def approve(harness: BotHarness, number: int) -> None:
    async with harness.bot.sessions() as session, session.begin():
        await store.review_entry(session, number, "approved", harness.clock.now())


async def entry_row(harness: BotHarness, number: int) -> LogoEntry:
    async with harness.bot.sessions() as session:
        entry = await session.get(LogoEntry, number)
    assert entry is not None
    return entry


async def own_entry(
    harness: BotHarness, chatter: Chatter, title: str, status: str, **fields: object
) -> int:
    """An entry inserted directly as ``chatter``'s (no design file); returns its number."""
    fields.setdefault("channel", chatter.channel.value)
    fields.setdefault("account", account_of(chatter))
    fields.setdefault("user_id", chatter.user_id)
    async with harness.bot.sessions() as session, session.begin():
        entry = await store.add_entry(
            session,
            title=title,
            now=harness.clock.now(),
            status=status,
            author_name_enc=harness.bot.cipher.encrypt("张三丰"),
            author_phone_enc=harness.bot.cipher.encrypt(PHONE),
            **fields,  # type: ignore[arg-type]
        )
        return entry.id


async def audits(harness: BotHarness) -> list[AuditEvent]:
    async with harness.bot.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.action == "logo.withdraw")
                )
            ).all()
        )


async def test_withdrawal_deletes_the_author_and_design_and_hides_the_entry(
    chatter: Chatter, harness: BotHarness
) -> None:
    mine = await submitted(chatter, harness, 60, "中原绿叶")
    other = await submitted(harness.chatter(chatter.channel), harness, 61, "e起同心")  # type: ignore[attr-defined]
    for number in (mine.id, other.id):
        await approve(harness, number)
    voters = [harness.chatter(chatter.channel) for _ in range(2)]  # type: ignore[attr-defined]
    for voter in voters:
        assert "投票成功" in await voter.say(f"投票 {mine.id}")
    assert "投票成功" in await voters[0].say(f"投票 {other.id}")
    assert mine.image_path is not None
    design_file = logo_media_path(harness.bot.config) / mine.image_path
    assert design_file.is_file()
    _, html, _ = await get(harness, "/logo")
    assert "《中原绿叶》" in html

    prompt = await chatter.say(f"撤回投稿 {mine.id}")
    assert f"{mine.id}号作品《中原绿叶》（已通过）" in prompt and "【确认撤回】" in prompt
    assert "作者姓名、手机号和作品图片将被删除" in prompt
    done = await chatter.say("确认撤回")
    assert f"{mine.id}号作品《中原绿叶》已撤回" in done

    # The personal data and the design are gone; the row stays for the votes cast for it.
    row = await entry_row(harness, mine.id)
    assert row.status == "withdrawn" and row.withdrawn_at is not None
    assert row.author_name_enc is None and row.author_phone_enc is None
    assert row.phone_index is None and row.image_hash is None and row.image_path is None
    assert not design_file.exists()
    # The gallery, the vote list and the results no longer have it.
    status, html, _ = await get(harness, "/logo")
    assert status == 200 and "《中原绿叶》" not in html and "《e起同心》" in html
    assert (await get(harness, f"/logo/{mine.id}"))[0] == 404
    assert (await get(harness, f"/logo/media/{mine.image_path}"))[0] == 404
    listing = await voters[1].say("投票")
    assert "中原绿叶" not in listing and f"{other.id}号《e起同心》" in listing
    assert f"没有找到 {mine.id} 号入围作品" in await voters[1].say(f"投票 {mine.id}")
    async with harness.bot.sessions() as session:
        assert await store.ranking(session) == [(other.id, "e起同心", 1)]
        assert sum(n for _day, n in await store.votes_per_day(session)) == 1
        assert set((await store.votes_by_channel(session)).keys()) == {other.id}
        kept = await session.scalar(
            select(func.count(LogoVote.id)).where(LogoVote.entry_id == mine.id)
        )
    assert kept == 2
    # Recorded for operators, without personal data.
    (audit,) = await audits(harness)
    assert audit.actor == "author" and audit.detail == f"entry={mine.id}"
    # The owner sees it as withdrawn; a second attempt changes nothing.
    assert f"{mine.id}号《中原绿叶》：已撤回" in await chatter.say("我的投稿")
    assert "已经撤回" in await chatter.say(f"撤回投稿 {mine.id}")
    assert len(await audits(harness)) == 1


@pytest.mark.config(logo={"submissions_per_person": 1})
async def test_withdrawn_entry_frees_the_place_and_the_design(
    chatter: Chatter, harness: BotHarness
) -> None:
    entry = await submitted(chatter, harness, 62, "中原绿叶")
    assert "达到每人 1 件的上限" in await chatter.say("投稿")
    await chatter.say(f"撤回投稿 {entry.id}")
    assert "已撤回" in await chatter.say("确认撤回")
    # A withdrawn entry no longer counts, and the same design may be entered again.
    await submit_to_confirm(chatter, design(62), title="中原绿叶二")
    assert "投稿成功" in await chatter.say("确认")


async def test_wrong_answer_asks_again_and_cancel_keeps_the_entry(
    chatter: Chatter, harness: BotHarness
) -> None:
    entry = await submitted(chatter, harness, 63, "中原绿叶")
    assert "（待审核）" in await chatter.say(f"撤回投稿 {entry.id}")
    for answer in ("确认", "好的"):
        reply = await chatter.say(answer)
        assert "请回复【确认撤回】撤回作品" in reply and "《中原绿叶》（待审核）" in reply
    assert "已退出“撤回投稿”" in await chatter.say("取消")
    row = await entry_row(harness, entry.id)
    assert row.status == "pending" and row.author_name_enc and row.image_path
    assert (logo_media_path(harness.bot.config) / row.image_path).is_file()
    assert await audits(harness) == []


async def test_someone_elses_entry_is_refused(chatter: Chatter, harness: BotHarness) -> None:
    other_users = await own_entry(harness, chatter, "别人的作品", "approved", user_id="someone")
    # The same user id under another account, or on the other channel, is someone else too.
    other_account = await own_entry(harness, chatter, "另一个号", "approved", account="gh_other")
    other_channel = await own_entry(
        harness,
        chatter,
        "另一个渠道",
        "approved",
        channel=(Channel.WEIBO if chatter.channel is Channel.WECHAT else Channel.WECHAT).value,
    )
    for number in (other_users, other_account, other_channel):
        reply = await chatter.say(f"撤回投稿 {number}")
        assert f"没有找到您投稿的 {number} 号作品" in reply, number
        # No flow was started: the confirm word is just an ordinary message.
        assert "已撤回" not in await chatter.say("确认撤回")
    async with harness.bot.sessions() as session:
        statuses = set((await session.scalars(select(LogoEntry.status))).all())
        names = (await session.scalars(select(LogoEntry.author_name_enc))).all()
        flows = await session.scalar(select(func.count(Conversation.id)))
    assert statuses == {"approved"} and all(names) and flows == 0
    assert await audits(harness) == []


async def test_unknown_or_missing_number(chatter: Chatter, harness: BotHarness) -> None:
    assert "没有找到您投稿的 999 号作品" in await chatter.say("撤回投稿 999")
    for text in ("撤回投稿", "撤回投稿 第一件", "撤回投稿 1234567890"):
        assert "请回复【撤回投稿 编号】" in await chatter.say(text), text
    async with harness.bot.sessions() as session:
        assert await session.scalar(select(func.count(Conversation.id))) == 0


@pytest.mark.config(logo=PHASES)
async def test_results_entries_are_final_once_published_others_may_go(
    chatter: Chatter, harness: BotHarness
) -> None:
    harness.clock.set(shanghai("2026-04-15 09:55"))
    first = await own_entry(harness, chatter, "中原绿叶", "approved")
    second = await own_entry(harness, chatter, "e起同心", "pending")
    # Entered just before the results, confirmed just after: the confirm checks again.
    assert "【确认撤回】" in await chatter.say(f"撤回投稿 {first}")
    harness.clock.set(shanghai("2026-04-15 10:05"))
    final = await chatter.say("确认撤回")
    assert "结果为最终结果" in final and "【联系我们】" in final
    mine = await chatter.say("我的投稿")
    # Counts are public once the results are out.
    assert f"{first}号《中原绿叶》：已通过，0票" in mine
    assert f"{second}号《e起同心》：待审核" in mine
    assert "入选评选结果的作品不能再撤回" in mine and f"“撤回投稿 {second}”" in mine
    # An entry that is not among the results is still its author's to take back (PIPL).
    assert "【确认撤回】" in await chatter.say(f"撤回投稿 {second}")
    assert "已撤回" in await chatter.say("确认撤回")
    async with harness.bot.sessions() as session:
        statuses = (await session.scalars(select(LogoEntry.status))).all()
    assert sorted(statuses) == ["approved", "withdrawn"]
    assert [a.detail for a in await audits(harness)] == [f"entry={second}"]


async def test_my_entries_lists_the_senders_entries(chatter: Chatter, harness: BotHarness) -> None:
    reply = await chatter.say("我的投稿")
    assert "您还没有投稿" in reply and "目前作品征集和投票同时开放" in reply
    numbers = {
        status: await own_entry(harness, chatter, f"作品{i}", status)
        for i, status in enumerate(("withdrawn", "pending", "approved", "rejected"))
    }
    await own_entry(harness, chatter, "别人的作品", "approved", user_id="someone")
    voter = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    assert "投票成功" in await voter.say(f"投票 {numbers['approved']}")
    mine = await chatter.say("我的投稿")
    assert "您的投稿：" in mine and "别人的作品" not in mine
    assert f"{numbers['withdrawn']}号《作品0》：已撤回" in mine
    assert f"{numbers['pending']}号《作品1》：待审核" in mine
    # No counts while they are not public (gallery_show_counts off, results not out).
    assert f"{numbers['approved']}号《作品2》：已通过\n" in mine and "：已通过，" not in mine
    assert f"{numbers['rejected']}号《作品3》：未通过" in mine
    # The example is the first entry that can still be withdrawn.
    assert f"“撤回投稿 {numbers['pending']}”" in mine
    # A pure read: nothing written, no flow.
    async with harness.bot.sessions() as session:
        assert await session.scalar(select(func.count(Conversation.id))) == 0


@pytest.mark.config(logo={"gallery_show_counts": True})
async def test_my_entries_show_live_counts_when_public(
    chatter: Chatter, harness: BotHarness
) -> None:
    number = await own_entry(harness, chatter, "中原绿叶", "approved")
    voter = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    assert "投票成功" in await voter.say(f"投票 {number}")
    assert f"{number}号《中原绿叶》：已通过，1票" in await chatter.say("我的投稿")


async def test_confirm_retried_three_times_concurrently_withdraws_once(
    chatter: Chatter, harness: BotHarness
) -> None:
    entry = await submitted(chatter, harness, 64, "中原绿叶")
    await chatter.say(f"撤回投稿 {entry.id}")
    # One message key: the platform's retries resend this very body.
    replies = await say_thrice_at_once(chatter, "确认撤回")
    await harness.drain()
    assert replies and all("已撤回" in r for r in replies)
    assert len(await audits(harness)) == 1
    assert (await entry_row(harness, entry.id)).status == "withdrawn"
    # The flow is over: the confirm word again is an ordinary message.
    assert "已撤回" not in await chatter.say("确认撤回")


async def test_operators_see_withdrawn_entries_and_cannot_review_them(
    harness: BotHarness, tmp_path: Path
) -> None:
    config = write_config(harness, tmp_path)
    chatter = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    entry = await submitted(chatter, harness, 65, "同心圆")
    await chatter.say(f"撤回投稿 {entry.id}")
    await chatter.say("确认撤回")
    status, out = await run("logos", "list", "-c", config)
    line = next(line for line in out.splitlines() if "同心圆" in line)
    assert status == 0 and "已撤回" in line and "张*丰" not in line and "138****" not in line
    status, out = await run("logos", "list", "--status", "withdrawn", "-c", config)
    assert status == 0 and "同心圆" in out
    assert (await run("logos", "approve", str(entry.id), "-c", config))[0] == 1
    assert (await entry_row(harness, entry.id)).status == "withdrawn"


def test_withdrawal_texts_name_the_commands() -> None:
    from bot.kernel.content import Texts

    texts = Texts.load()
    info = texts("logo.info", per_person=3, per_day=3, gallery_url="", schedule="", phase="")
    assert "【我的投稿】" in info and "【撤回投稿 编号】" in info
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "【我的投稿】" in readme and "【撤回投稿 12】" in readme
