"""投稿: the submission flow through the real webhook on both channels, bad input at every
step, the stored design file, encryption, limits and retries."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import pytest
from sqlalchemy import func, select

from bot.kernel.message import Channel
from bot.simulate import reply_text, weibo_reply_text
from handlers.logo_phases import logo_media_path
from storage.logo import LogoEntry
from tests.conftest import BotHarness, Chatter, WeChatChatter, WeiboChatter
from tests.handlers.logo_support import PHONE, add_approved, design, submit_to_confirm


async def entries(harness: BotHarness) -> list[LogoEntry]:
    async with harness.bot.sessions() as session:
        return list((await session.scalars(select(LogoEntry).order_by(LogoEntry.id))).all())


async def test_submission_stores_design_and_encrypted_author(
    chatter: Chatter, harness: BotHarness
) -> None:
    image = design(1)
    summary = await submit_to_confirm(chatter, image)
    assert "《中原绿叶》" in summary and "张三丰" in summary
    assert "138****5678" in summary and PHONE not in summary
    receipt = await chatter.say("确认")
    (entry,) = await entries(harness)
    assert f"编号为 {entry.id} 号" in receipt and "待审核" in receipt and "审核后公布" in receipt
    digest = hashlib.sha256(image).hexdigest()
    assert entry.status == "pending" and entry.image_hash == digest
    assert entry.image_path == f"{digest}.png"
    stored = logo_media_path(harness.bot.config) / entry.image_path
    assert stored.read_bytes() == image
    assert stored.parent == harness.bot.config.data_path / "media" / "logo"
    assert entry.channel == chatter.channel.value and entry.user_id == chatter.user_id
    assert entry.author_phone_enc and PHONE not in entry.author_phone_enc
    assert entry.author_name_enc and "张三丰" not in entry.author_name_enc
    assert harness.bot.cipher.decrypt(entry.author_phone_enc) == PHONE
    assert harness.bot.cipher.decrypt(entry.author_name_enc) == "张三丰"
    assert entry.phone_index == harness.bot.cipher.blind_index(PHONE)


async def test_jpeg_is_kept_as_jpg_and_menu_click_starts(harness: BotHarness) -> None:
    chatter = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    assert "发送您的设计作品图片" in await chatter.event("click", "LOGO_SUBMIT")
    image = design(2, fmt="JPEG")
    assert "作品名称" in await chatter.image(image, "image/jpeg")
    await chatter.say("取消")
    name = f"{hashlib.sha256(image).hexdigest()}.jpg"
    assert (logo_media_path(harness.bot.config) / name).exists()


async def test_image_step_rejects_bad_input(chatter: Chatter, harness: BotHarness) -> None:
    await chatter.say("投稿")
    # Text instead of an image.
    reply = await chatter.say("我的作品在这里")
    assert "需要发送作品图片" in reply and "第1步" in reply
    # Not an image at all, although declared as one: the content decides.
    assert "无法识别这张图片" in await chatter.image(b"%PDF-1.4 not a picture", "image/png")
    # A GIF is an image, but not one of the accepted formats.
    assert "无法识别这张图片" in await chatter.image(design(3, fmt="GIF"), "image/gif")
    # A truncated PNG.
    assert "无法识别这张图片" in await chatter.image(design(3)[:200])
    # Too small.
    reply = await chatter.image(design(4, size=(120, 80)))
    assert "尺寸太小（120×80像素）" in reply and "300 像素" in reply
    # Nothing was stored and the flow still waits for the image.
    assert not logo_media_path(harness.bot.config).exists() or not any(
        logo_media_path(harness.bot.config).iterdir()
    )
    assert "作品名称" in await chatter.image(design(5))


@pytest.mark.config(logo={"image_max_bytes": 20_000})
async def test_too_big_image_is_refused(chatter: Chatter) -> None:
    await chatter.say("投稿")
    big = design(6, size=(300, 300), fmt="BMP")  # ~270 KB, over the limit before any decoding
    reply = await chatter.image(big)
    assert "图片太大了（264KB）" in reply and "20KB 以内" in reply


async def test_media_download_failure_asks_again(chatter: Chatter, harness: BotHarness) -> None:
    await chatter.say("投稿")
    if chatter.channel is Channel.WECHAT:
        reply = reply_text(
            await harness.send(chatter.user, chatter.user.image("media-missing"))  # type: ignore[attr-defined]
        )
    else:
        reply = await chatter._send(chatter.user.image("424242"))  # type: ignore[attr-defined]
    assert "图片接收失败" in reply and "第1步" in reply


# (answer, what the reply must say) from the title step to the summary: each bad answer is
# re-prompted, each good one moves on.
TEXT_STEPS = [
    ("一" * 21, "作品名称需为1-20个字"),
    ("e起同心", "设计说明"),
    ("好看的", "设计说明需为5-300个字，您发送了3个字"),
    ("说" * 301, "您发送了301个字"),
    ("两只手拉成一颗心，寓意网络公益人人参与。", "真实姓名"),
    ("😀😀", "姓名需为2-20个汉字或字母"),
    ("张3", "姓名需为2-20个汉字或字母"),
    ("李 四", "手机号码"),
    ("1234567", "手机号格式不正确"),
    ("23812345678", "手机号格式不正确"),
    ("138-1234-5678", "征集规则"),
    ("好的", "需要您回复【同意】"),
    ("同意", "请核对您的投稿"),
    ("是的", "请回复【确认】提交"),
    ("帮助", "请核对您的投稿"),
    ("确认", "投稿成功"),
]


async def test_text_steps_reject_bad_input(chatter: Chatter, harness: BotHarness) -> None:
    await chatter.say("投稿")
    await chatter.image(design(7))
    assert "作品名称需为1-20个字" in await chatter.image(design(8))  # an image, not a title
    for answer, expected in TEXT_STEPS:
        assert expected in await chatter.say(answer), answer
    (entry,) = await entries(harness)
    assert entry.title == "e起同心" and entry.statement.startswith("两只手")
    assert harness.bot.cipher.decrypt(entry.author_name_enc or "") == "李 四"
    assert harness.bot.cipher.decrypt(entry.author_phone_enc or "") == PHONE


async def test_back_and_cancel(chatter: Chatter, harness: BotHarness) -> None:
    await chatter.say("投稿")
    await chatter.image(design(9))
    await chatter.say("标题一")
    assert "作品名称" in await chatter.say("返回")
    assert "设计说明" in await chatter.say("标题二")
    assert "已退出“标识作品投稿”" in await chatter.say("取消")
    assert await entries(harness) == []


async def test_same_design_twice_is_refused(chatter: Chatter, harness: BotHarness) -> None:
    image = design(10)
    await submit_to_confirm(chatter, image)
    await chatter.say("确认")
    (first,) = await entries(harness)
    other = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    await other.say("投稿")
    reply = await other.image(image)
    assert f"已经投稿过了（{first.id}号作品）" in reply and "第1步" in reply
    assert "作品名称" in await other.image(design(11))


async def test_design_entered_meanwhile_is_caught_at_confirm(
    chatter: Chatter, harness: BotHarness
) -> None:
    image = design(12)
    other = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    await submit_to_confirm(chatter, image)
    await submit_to_confirm(other, image, phone="13912345678")
    assert "投稿成功" in await other.say("确认")
    assert "刚刚已由他人投稿" in await chatter.say("确认")
    assert len(await entries(harness)) == 1


@pytest.mark.config(logo={"submissions_per_person": 1})
async def test_per_person_limit(chatter: Chatter, harness: BotHarness) -> None:
    await submit_to_confirm(chatter, design(13))
    assert "投稿成功" in await chatter.say("确认")
    reply = await chatter.say("投稿")
    assert "达到每人 1 件的上限" in reply
    # The same phone from another account counts too (checked when the phone is known).
    other = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    await submit_to_confirm(other, design(14))
    assert "达到每人 1 件的上限" in await other.say("确认")
    assert len(await entries(harness)) == 1


async def test_rejected_entries_do_not_count_towards_the_limit(
    chatter: Chatter, harness: BotHarness
) -> None:
    for seed in (15, 16, 17):
        await submit_to_confirm(chatter, design(seed))
        assert "投稿成功" in await chatter.say("确认")
    assert "达到每人 3 件的上限" in await chatter.say("投稿")
    async with harness.bot.sessions() as session, session.begin():
        entry = await session.scalar(select(LogoEntry).limit(1))
        assert entry is not None
        entry.status = "rejected"
    assert "发送您的设计作品图片" in await chatter.say("投稿")


async def test_confirm_retried_three_times_concurrently_makes_one_entry(
    chatter: Chatter, harness: BotHarness
) -> None:
    await submit_to_confirm(chatter, design(18))
    # One message key: the platform's retries resend this very body.
    if isinstance(chatter, WeChatChatter):
        xml = chatter.user.text("确认")
        results = await asyncio.gather(*(harness.post(chatter.user, xml) for _ in range(3)))
        replies = [reply_text(chatter.user.read_reply(body)) for _, body in results]
    else:
        assert isinstance(chatter, WeiboChatter)
        push = chatter.user.text("确认")
        results = await asyncio.gather(*(chatter.post(push) for _ in range(3)))
        replies = [weibo_reply_text(chatter.user.read_reply(body)) for _, body in results]
    assert all(status == 200 for status, _ in results)
    await harness.drain()
    assert any("投稿成功" in r for r in replies) and not any("开小差" in r for r in replies)
    async with harness.bot.sessions() as session:
        count = await session.scalar(select(func.count(LogoEntry.id)))
    assert count == 1
    # The flow is over: the next message is an ordinary one.
    assert "投稿成功" not in await chatter.say("你好")


async def test_slow_download_does_not_hold_up_other_messages(harness: BotHarness) -> None:
    """The design is downloaded before the message's transaction: on SQLite a transaction
    holds the only write lock, so a download inside it would stall every other message."""
    (number,) = await add_approved(harness, "中原绿叶")
    author = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    voter = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await author.say("投稿")
    harness.fake.delay_seconds["/cgi-bin/media/get"] = 1.5

    async def vote_soon() -> tuple[str, float]:
        await asyncio.sleep(0.3)  # the author's download is under way
        started = time.perf_counter()
        reply = await voter.say(f"投票 {number}")
        return reply, time.perf_counter() - started

    uploaded, (voted, vote_seconds) = await asyncio.gather(author.image(design(20)), vote_soon())
    assert "作品名称" in uploaded
    assert "投票成功" in voted and vote_seconds < 0.8


async def test_image_outside_the_flow_is_thanked_not_stored(
    chatter: Chatter, harness: BotHarness
) -> None:
    assert "请先回复【投稿】" in await chatter.image(design(19))
    assert await entries(harness) == []
    assert not logo_media_path(harness.bot.config).exists()


def test_media_directory_config(tmp_path: os.PathLike[str]) -> None:
    from bot.config import load_config

    default = load_config(None, env={}, overrides={"server": {"data_dir": str(tmp_path)}})
    assert logo_media_path(default) == default.data_path / "media" / "logo"
    custom = load_config(None, env={}, overrides={"logo": {"media_dir": "/srv/designs"}})
    assert str(logo_media_path(custom)) == "/srv/designs"
