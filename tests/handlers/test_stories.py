"""投稿故事: the story flow through the real webhook on both channels: pictures and videos,
bad answers at every step, the contact encrypted at rest, limits, cancelling and retries."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import func, select, text

from bot.kernel.message import Channel
from bot.simulate import WeChatUser, reply_text, weibo_reply_text
from handlers.media import purge_orphan_pictures
from handlers.registry import media_folders
from handlers.stories import stories_media_path
from storage.models import AuditEvent
from storage.stories import Story, StoryMedia
from tests.conftest import BotHarness, Chatter, WeChatChatter, WeiboChatter
from tests.handlers.logo_support import design

PHONE = "13812345678"
STORY = "去年冬天，我们社区的志愿者每周六都去敬老院，教老人们用手机视频通话，和外地的子女见面。"


async def submit_to_confirm(
    chatter: Chatter,
    *,
    story: str = STORY,
    pictures: tuple[bytes, ...] = (),
    contact: tuple[str, str] | None = ("李老师", PHONE),
) -> str:
    """Walk the story flow up to the summary; returns the summary text."""
    assert "第1步：请用文字讲述您的故事" in await chatter.say("投稿故事")
    assert "第2步" in await chatter.say(story)
    for i, picture in enumerate(pictures, 1):
        assert f"已收到 {i} 张照片" in await chatter.image(picture)
    assert "第3步" in await chatter.say("完成" if pictures else "跳过")
    if contact is None:
        assert "发布授权" in await chatter.say("不用")
    else:
        assert "手机号码" in await chatter.say(contact[0])
        assert "发布授权" in await chatter.say(contact[1])
    return await chatter.say("同意")


async def stories(harness: BotHarness) -> list[Story]:
    async with harness.bot.sessions() as session:
        return list((await session.scalars(select(Story).order_by(Story.id))).all())


async def media(harness: BotHarness) -> list[StoryMedia]:
    async with harness.bot.sessions() as session:
        return list((await session.scalars(select(StoryMedia).order_by(StoryMedia.id))).all())


async def test_story_with_picture_and_contact(chatter: Chatter, harness: BotHarness) -> None:
    picture = design(31)
    summary = await submit_to_confirm(chatter, pictures=(picture,))
    assert "去年冬天" in summary and "照片：1 张" in summary
    assert "李*师 138****5678" in summary and PHONE not in summary
    receipt = await chatter.say("确认")
    (story,) = await stories(harness)
    assert f"编号为 {story.id} 号" in receipt and "待审核" in receipt and "与您联系" in receipt
    assert story.text == STORY and story.status == "pending" and story.consent
    assert story.channel == chatter.channel.value and story.user_id == chatter.user_id
    assert harness.bot.cipher.decrypt(story.contact_phone_enc or "") == PHONE
    assert harness.bot.cipher.decrypt(story.contact_name_enc or "") == "李老师"
    # At rest the phone is a ciphertext: read the raw column, not through the model.
    async with harness.bot.sessions() as session:
        raw = (
            await session.execute(text("SELECT contact_phone_enc, contact_name_enc FROM stories"))
        ).one()
    assert PHONE not in raw[0] and "李老师" not in raw[1]
    (item,) = await media(harness)
    digest = hashlib.sha256(picture).hexdigest()
    assert (item.story_id, item.kind, item.sha256, item.path) == (
        story.id,
        "image",
        digest,
        f"{digest}.png",
    )
    stored = stories_media_path(harness.bot.config) / f"{digest}.png"
    assert stored.read_bytes() == picture
    assert stored.parent == harness.bot.config.data_path / "media" / "stories"
    # The flow is over: another 确认 is an ordinary message and submits nothing.
    await chatter.say("确认")
    assert len(await stories(harness)) == 1


async def test_weibo_fan_submits_a_text_story(harness: BotHarness) -> None:
    fan = harness.chatter(Channel.WEIBO)  # type: ignore[attr-defined]
    summary = await submit_to_confirm(fan, contact=None)
    assert "照片：0 张" in summary and "不需要联系" in summary
    assert "投稿成功" in await fan.say("确认")
    (story,) = await stories(harness)
    assert story.channel == "weibo" and story.user_id == fan.user_id and story.text == STORY
    assert story.contact_phone_enc is None and story.contact_name_enc is None
    assert await media(harness) == []


# (answer, what the reply must say): each bad answer is re-prompted in Chinese, each good one
# moves on, and nothing said before is lost.
STEPS = [
    ("好人好事", "故事需要10-1500个字，您发送了4个字"),
    (STORY, "第2步"),
    ("照片在朋友圈", "这一步请发送照片或视频"),
    ("完成", "第3步"),
    ("完成", "称呼需为2-20个汉字或字母"),
    ("😀😀", "称呼需为2-20个汉字或字母"),
    ("王五", "手机号码"),
    ("1234567", "手机号格式不正确"),
    ("138 1234 5678", "发布授权"),
    ("好的", "需要您回复【同意】"),
    ("帮助", "发布授权"),
    ("同意", "请核对您的投稿"),
    ("是的", "请回复【确认】提交"),
    ("确认", "投稿成功"),
]


async def test_wrong_answers_reprompt_and_lose_nothing(
    chatter: Chatter, harness: BotHarness
) -> None:
    await chatter.say("分享故事")
    reply = await chatter.image(design(32))  # a picture before the story
    assert "这一步需要文字" in reply and "第1步" in reply
    for answer, expected in STEPS:
        assert expected in await chatter.say(answer), answer
    (story,) = await stories(harness)
    assert story.text == STORY
    assert harness.bot.cipher.decrypt(story.contact_name_enc or "") == "王五"
    assert harness.bot.cipher.decrypt(story.contact_phone_enc or "") == PHONE


async def test_back_and_no_contact_after_all(chatter: Chatter, harness: BotHarness) -> None:
    await submit_to_confirm(chatter)
    assert "发布授权" in await chatter.say("返回")
    assert "手机号码" in await chatter.say("返回")
    assert "称呼" in await chatter.say("返回")
    assert "发布授权" in await chatter.say("不用")
    assert "不需要联系" in await chatter.say("同意")
    await chatter.say("确认")
    (story,) = await stories(harness)
    assert story.contact_name_enc is None and story.contact_phone_enc is None


async def test_cancel_keeps_nothing(chatter: Chatter, harness: BotHarness) -> None:
    await chatter.say("投稿故事")
    await chatter.say(STORY)
    await chatter.image(design(33))
    assert "已退出“公益故事投稿”" in await chatter.say("取消")
    assert "投稿成功" not in await chatter.say("确认")
    assert await stories(harness) == []


@pytest.mark.config(stories={"text_max_chars": 50})
async def test_too_long_story_is_refused(chatter: Chatter, harness: BotHarness) -> None:
    await chatter.say("投稿故事")
    reply = await chatter.say("好" * 51)
    assert "故事需要10-50个字，您发送了51个字" in reply and "精简" in reply
    assert "第2步" in await chatter.say("好" * 50)


@pytest.mark.config(stories={"max_pictures": 2, "max_videos": 0})
async def test_picture_limit(chatter: Chatter, harness: BotHarness) -> None:
    await chatter.say("投稿故事")
    assert "最多2张" in await chatter.say(STORY)
    assert "已收到 1 张照片" in await chatter.image(design(34))
    assert "已经收到过了" in await chatter.image(design(34))
    # The second picture reaches the limit: the flow goes on by itself.
    reply = await chatter.image(design(35))
    assert "已收到 2 张照片" in reply and "第3步" in reply
    reply = await chatter.image(design(36))
    assert "最多2张照片" in reply and "这张没有收录" in reply
    await chatter.say("不用")
    await chatter.say("同意")
    await chatter.say("确认")
    assert [m.sha256 for m in await media(harness)] == [
        hashlib.sha256(design(n)).hexdigest() for n in (34, 35)
    ]


async def test_bad_picture_is_refused(chatter: Chatter, harness: BotHarness) -> None:
    await chatter.say("投稿故事")
    await chatter.say(STORY)
    assert "无法识别这张照片" in await chatter.image(b"GIF89a not really", "image/gif")
    reply = await chatter.image(design(37, size=(120, 80)))
    assert "尺寸太小（120×80像素）" in reply and "200 像素" in reply
    assert "已收到 1 张照片" in await chatter.image(design(37))


async def test_video_is_kept_as_media_id_and_voice_counts_as_text(harness: BotHarness) -> None:
    chatter = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    assert isinstance(chatter, WeChatChatter)
    user = chatter.user
    await chatter.say("投稿故事")
    reply = reply_text(await harness.send(user, user.voice(recognition="")))
    assert "没能识别这段语音" in reply
    reply = reply_text(await harness.send(user, user.voice(recognition=STORY)))
    assert "第2步" in reply
    reply = reply_text(await harness.send(user, user.video("video-42")))
    assert "已收到 0 张照片、1 段视频" in reply
    await chatter.say("完成")
    await chatter.say("不用")
    await chatter.say("同意")
    receipt = await chatter.say("确认")
    assert "1 段视频已登记" in receipt and "不另存文件" in receipt
    (story,) = await stories(harness)
    assert story.text == STORY
    (item,) = await media(harness)
    assert (item.kind, item.media_id, item.path) == ("video", "video-42", None)


async def _confirm_three_times(chatter: Chatter, harness: BotHarness, same_key: bool) -> list[str]:
    if isinstance(chatter, WeChatChatter):
        user = chatter.user
        bodies = [user.text("确认")] * 3 if same_key else [user.text("确认") for _ in range(3)]
        results = await asyncio.gather(*(harness.post(user, body) for body in bodies))
        replies = [reply_text(user.read_reply(body)) for _, body in results]
    else:
        assert isinstance(chatter, WeiboChatter)
        fan = chatter.user
        pushes = [fan.text("确认")] * 3 if same_key else [fan.text("确认") for _ in range(3)]
        results = await asyncio.gather(*(chatter.post(push) for push in pushes))
        replies = [weibo_reply_text(fan.read_reply(body)) for _, body in results]
    assert all(status == 200 for status, _ in results)
    await harness.drain()
    return replies


async def test_confirm_three_times_concurrently_makes_one_story(
    chatter: Chatter, harness: BotHarness
) -> None:
    # The platform's retries of one message (same key), then three separate 确认 messages.
    for same_key, expected in ((True, 1), (False, 2)):
        await submit_to_confirm(chatter, contact=None)
        replies = await _confirm_three_times(chatter, harness, same_key)
        assert any("投稿成功" in r for r in replies) and not any("开小差" in r for r in replies)
        async with harness.bot.sessions() as session:
            assert await session.scalar(select(func.count(Story.id))) == expected
    if isinstance(chatter, WeChatChatter):
        # Separate messages: exactly one of them got the receipt.
        assert sum("投稿成功" in r for r in replies) == 1


async def test_keyword_tells_how_to_submit(chatter: Chatter) -> None:
    reply = await chatter.say("公益故事")
    assert "回复【投稿故事】" in reply and "审核" in reply
    assert "直接发送文字、图片或视频给本号" not in reply
    assert "【投稿故事】" in await chatter.say("菜单")


# -- the author's own stories: 我的故事, 删除故事 N --------------------------------------------


async def test_author_lists_and_deletes_a_story_with_its_picture(
    chatter: Chatter, harness: BotHarness
) -> None:
    assert "还没有投稿过" in await chatter.say("我的故事")
    await submit_to_confirm(chatter, pictures=(design(41),))
    receipt = await chatter.say("确认")
    (story,) = await stories(harness)
    assert f"删除故事 {story.id}" in receipt
    listing = await chatter.say("我的故事")
    assert f"{story.id}号" in listing and "待审核" in listing and "去年冬天" in listing
    # Someone else's story, a missing number and no number are refused, nothing changes.
    other = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    assert "没有找到您投稿的" in await other.say(f"删除故事 {story.id}")
    assert "没有找到您投稿的" in await chatter.say("删除故事 999")
    assert "加上故事编号" in await chatter.say("删除故事")
    prompt = await chatter.say(f"删除故事 {story.id}")
    assert "不能恢复" in prompt and "去年冬天" in prompt
    assert "确认删除" in await chatter.say("确认")  # not the confirming words: asked again
    assert "已删除" in await chatter.say("确认删除")
    assert await stories(harness) == [] and await media(harness) == []
    assert "还没有投稿过" in await chatter.say("我的故事")
    async with harness.bot.sessions() as session:
        audit = (await session.scalars(select(AuditEvent.detail))).all()
    assert f"story={story.id}" in audit and not any("去年冬天" in a for a in audit)
    # The picture goes with the next purge once no flow can still hold it.
    harness.clock.advance(days=1)
    assert await purge_orphan_pictures(harness.bot, media_folders()) == 1
    assert list(stories_media_path(harness.bot.config).iterdir()) == []


async def asked_to_delete(harness: BotHarness) -> tuple[WeChatUser, str]:
    """A WeChat user with a submitted story, asked to confirm its deletion; the user and the
    XML of the confirming message."""
    chatter = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await submit_to_confirm(chatter, contact=None)
    await chatter.say("确认")
    (story,) = await stories(harness)
    await chatter.say(f"删除故事 {story.id}")
    assert isinstance(chatter, WeChatChatter)
    return chatter.user, chatter.user.text("确认删除")


async def test_delete_confirmed_three_times_at_once_has_one_effect(
    harness: BotHarness,
) -> None:
    user, xml = await asked_to_delete(harness)
    results = await asyncio.gather(*(harness.post(user, xml) for _ in range(3)))
    assert all(status == 200 for status, _ in results)
    assert all("已删除" in reply_text(user.read_reply(body)) for _, body in results)
    assert await stories(harness) == []


async def test_a_retry_after_the_flow_ended_gets_the_first_answer(harness: BotHarness) -> None:
    """WeChat re-sends a message whose answer got lost: the flow that message ended is gone by
    then, and the retry must still get the first answer, not the help menu."""
    user, xml = await asked_to_delete(harness)
    first = reply_text(await harness.send(user, xml))
    again = reply_text(await harness.send(user, xml))
    assert "已删除" in first and again == first
