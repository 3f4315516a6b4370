"""The FAQ over real HTTP: free questions answered, "您是想问" and a number, hand-off to staff,
commands and keywords keeping their priority, on every channel."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.faq import FaqEvent
from storage.inbox import InboxItem
from tests.conftest import BotHarness, Chatter


async def _events(harness: BotHarness) -> list[tuple[str, int | None]]:
    async with harness.bot.sessions() as session:
        rows = await session.execute(
            select(FaqEvent.outcome, FaqEvent.entry_id).order_by(FaqEvent.id)
        )
        return [(o, e) for o, e in rows]


async def test_free_questions_get_topic_answers(chatter: Chatter, harness: BotHarness) -> None:
    assert "绿色上网小贴士" in await chatter.say("孩子上网要注意什么")
    assert "公益政策要点" in await chatter.say("慈善法有哪些规定")
    assert "联系我们" in await chatter.say("怎么联系你们工作人员")
    assert "辨别募捐信息真假" in await chatter.say("朋友圈里的募捐链接可信吗")
    assert "志愿者报名" in await chatter.say("我想当志愿者")
    # Asked to check the account is genuine: the introduction names the organiser.
    assert "省委网信办牵头组织" in await chatter.say("你们是官方的吗")
    assert [o for o, _ in await _events(harness)] == ["answered"] * 6


async def test_where_to_sign_up_names_the_volunteer_sign_up_first(chatter: Chatter) -> None:
    # "报名" alone matches the activities topic, but an activity takes registered volunteers
    # only: the answer starts with how to become one.
    reply = await chatter.say("在哪里报名")
    assert "志愿服务活动" in reply
    assert reply.index("【志愿者报名】") < reply.index("【参加 编号】")


async def test_a_volunteer_who_wants_to_quit_is_told_how(chatter: Chatter) -> None:
    # Used to get the sign-up answer (the only volunteer topic).
    reply = await chatter.say("我不想当志愿者了")
    assert "【注销志愿者】" in reply and "【确认注销】" in reply
    assert "按提示填写称呼" not in reply


async def test_keywords_and_commands_keep_priority(chatter: Chatter, harness: BotHarness) -> None:
    assert "家长" in await chatter.say("家长课堂")
    assert "公益政策要点" in await chatter.say("政策解读")
    assert await _events(harness) == []  # neither reached the FAQ


async def test_off_topic_goes_to_staff(chatter: Chatter, harness: BotHarness) -> None:
    reply = await chatter.say("今天天气怎么样")
    assert "转给工作人员" in reply
    async with harness.bot.sessions() as session:
        items = (await session.execute(select(InboxItem))).scalars().all()
    assert [(i.reason, i.status, i.user_id) for i in items] == [
        ("unanswered", "new", chatter.user_id)
    ]
    # Stored encrypted: the question is personal data.
    assert "天气" not in items[0].text_enc
    assert harness.bot.cipher.decrypt(items[0].text_enc) == "今天天气怎么样"


async def test_handoff_never_echoes_a_phone(chatter: Chatter) -> None:
    reply = await chatter.say("13812345678")
    assert "13812345678" not in reply and "转给工作人员" in reply


async def test_clarify_then_pick_by_number(chatter: Chatter, harness: BotHarness) -> None:
    reply = await chatter.say("怎么投稿")
    assert "您是想问" in reply and "1." in reply and "2." in reply
    first = reply.split("1.")[1].split("\n")[0].strip()
    answer = await chatter.say("1")
    assert "您是想问" not in answer and answer
    outcomes = [o for o, _ in await _events(harness)]
    assert outcomes == ["clarify", "picked"]
    # The list is used up: a second "1" is a question of its own (handed to staff).
    assert "转给工作人员" in await chatter.say("1")
    assert first


async def test_pick_out_of_range_asks_again(chatter: Chatter) -> None:
    assert "您是想问" in await chatter.say("怎么投稿")
    assert "没有这个序号" in await chatter.say("9")


@pytest.mark.config(campaign={"pack": "hunan"})
async def test_a_campaign_answers_from_its_own_topics(chatter: Chatter) -> None:
    assert "湖南省未成年人绿色上网公益活动" in await chatter.say("绿色上网公益活动是谁办的")
    # Henan's logo contest is not part of Hunan's campaign: not offered as an answer.
    assert "网络公益标识征集" not in await chatter.say("公益标识征集怎么参加")


@pytest.mark.config(faq={"enabled": False})
async def test_faq_switched_off_falls_back_to_the_menu(chatter: Chatter) -> None:
    assert "暂时没有理解" in await chatter.say("孩子上网要注意什么")
