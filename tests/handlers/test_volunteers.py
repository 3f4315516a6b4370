"""The volunteer sign-up flow, 我的信息 and 我的时长, through the real webhook."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.kernel.clock import SHANGHAI
from bot.kernel.message import Channel
from bot.simulate import reply_text
from storage.models import AuditEvent, InboundMessage
from storage.volunteers import HoursEntry, Volunteer, add_hours
from tests.conftest import BotHarness, Chatter

PHONE = "13812345678"


async def _sign_up_to_confirm(chatter: Chatter, name: str = "张三", phone: str = PHONE) -> str:
    assert "出生年份" in await chatter.say("志愿者报名")
    assert "真实姓名" in await chatter.say("1990")
    assert "手机号码" in await chatter.say(name)
    assert "郑州市" in await chatter.say(phone)
    assert "在郑州市的区县" in await chatter.say("1")
    assert "特长" in await chatter.say("金水区")
    assert "周末" in await chatter.say("1，3 3")
    assert "隐私说明" in await chatter.say("3、5")
    return await chatter.say("同意")


async def volunteer_with_hours(harness: BotHarness, chatter: Chatter, hours: Decimal) -> int:
    """Sign ``chatter`` up and credit ``hours``; returns the volunteer's id."""
    await _sign_up_to_confirm(chatter)
    await chatter.say("确认")
    async with harness.bot.sessions() as session, session.begin():
        vid = (
            await session.execute(select(Volunteer.id).where(Volunteer.user_id == chatter.user_id))
        ).scalar_one()
        await add_hours(session, vid, hours, "测试活动", "test", harness.clock.now())
    return int(vid)


async def _count(harness: BotHarness) -> int:
    async with harness.bot.sessions() as session:
        return int((await session.execute(select(func.count(Volunteer.id)))).scalar_one())


async def test_sign_up_happy_path_stores_encrypted(harness: BotHarness, chatter: Chatter) -> None:
    summary = await _sign_up_to_confirm(chatter)
    assert "138****5678" in summary and PHONE not in summary
    assert "宣传、文字写作" in summary and "郑州市" in summary
    assert "区县：金水区" in summary and "服务时间：周末、线上随时" in summary
    assert "报名成功" in await chatter.say("确认")
    async with harness.bot.sessions() as session:
        row = (
            await session.execute(select(Volunteer).where(Volunteer.user_id == chatter.user_id))
        ).scalar_one()
    assert PHONE not in row.phone_enc and "张三" not in row.name_enc
    assert harness.bot.cipher.decrypt(row.phone_enc) == PHONE
    assert row.city == "郑州市" and row.skills == "宣传,文字写作" and not row.minor
    assert row.district == "金水区" and row.availability == "周末,线上随时"
    profile = await chatter.say("我的信息")
    assert "张三" in profile and "138****5678" in profile and PHONE not in profile
    assert "区县：金水区" in profile and "服务时间：周末、线上随时" in profile


async def test_sign_up_answers_stay_out_of_the_message_log(
    harness: BotHarness, chatter: Chatter
) -> None:
    """Answers inside a flow are personal data: the message log keeps no text of them, and
    the cached replies that echo them (the summary shows the name) are encrypted."""
    summary = await _sign_up_to_confirm(chatter)
    assert "张三" in summary and "138****5678" in summary
    assert "报名成功" in await chatter.say("确认")
    rows = [r for (r,) in await harness.logged(chatter.user_id, InboundMessage)]
    assert len(rows) == 10  # the entry, nine answers (district and availability included)
    stored = [f"{r.text} {r.reply}" for r in rows]
    for secret in ("张三", "1990", PHONE, "138****5678", "金水区"):
        assert not any(secret in s for s in stored), secret
    # The entry keyword is kept; every answer after it is not.
    assert [r.text for r in rows if r.text is not None] == ["志愿者报名"]
    flow_rows = [r for r in rows if r.handler == "flow"]
    assert len(flow_rows) == 9 and all(r.text is None and r.reply for r in flow_rows)
    decrypted = [harness.bot.cipher.decrypt(r.reply or "") for r in flow_rows]
    assert any("张三" in d for d in decrypted)  # what a retry of that message gets back


async def test_an_answer_typed_after_the_flow_expired_is_not_logged_either(
    harness: BotHarness, chatter: Chatter
) -> None:
    assert "出生年份" in await chatter.say("报名")
    assert "真实姓名" in await chatter.say("1990")
    harness.clock.advance(minutes=harness.bot.config.limits.flow_timeout_minutes + 1)
    reply = await chatter.say("王小五")
    assert "自动结束" in reply  # the notice, then whatever the message gets on its own
    rows = await harness.logged(chatter.user_id, InboundMessage.text, InboundMessage.reply)
    assert not any("王小五" in f"{text} {reply}" for text, reply in rows)


async def test_back_help_and_cancel(harness: BotHarness, chatter: Chatter) -> None:
    await chatter.say("报名")
    await chatter.say("1990")
    await chatter.say("李四")
    assert "手机号" in await chatter.say("帮助") and "加密" in await chatter.say("帮助")
    assert "真实姓名" in await chatter.say("返回")
    assert "手机号码" in await chatter.say("王五")
    assert "已退出" in await chatter.say("取消")
    assert await _count(harness) == 0


async def test_back_and_help_across_the_optional_steps(chatter: Chatter) -> None:
    await chatter.say("报名")
    await chatter.say("1990")
    await chatter.say("李四")
    await chatter.say(PHONE)
    await chatter.say("2")
    assert "可以不填" in await chatter.say("帮助")
    assert "特长" in await chatter.say("跳过")
    assert "在开封市的区县" in await chatter.say("返回")
    assert "城市" in await chatter.say("返回")
    assert "在洛阳市的区县" in await chatter.say("3")
    await chatter.say("西工区")
    assert "方便参加志愿服务的时间" in await chatter.say("4")
    assert "可多选" in await chatter.say("帮助")
    assert "特长" in await chatter.say("返回")
    await chatter.say("4")
    await chatter.say("1,2")
    summary = await chatter.say("同意")
    assert "城市：洛阳市" in summary and "区县：西工区" in summary and "网络技术" in summary
    assert "服务时间：工作日白天、工作日晚上" in summary
    assert "隐私说明" in await chatter.say("返回")
    assert "已退出" in await chatter.say("取消")


async def test_bad_inputs_reprompt_and_lose_nothing(harness: BotHarness, chatter: Chatter) -> None:
    await chatter.say("报名")
    assert "4位数字" in await chatter.say("90")
    assert "4位数字" in await chatter.say("2030")
    assert "真实姓名" in await chatter.say("1990")
    assert "不能只有表情" in await chatter.say("😀😀😀")
    assert "2-20" in await chatter.say("张" * 500)
    assert "2-20" in await chatter.say("x'); DROP TABLE volunteers; --")
    assert "手机号码" in await chatter.say("赵六")
    assert "格式不正确" in await chatter.say("1381234567")
    assert "格式不正确" in await chatter.say("23812345678")
    assert "格式不正确" in await chatter.say("1' OR '1'='1")
    assert "城市" in await chatter.say(PHONE)
    assert "序号" in await chatter.say("99")
    assert "序号" in await chatter.say("1; DELETE FROM volunteers")
    assert "区县" in await chatter.say("济源示范区")
    assert "2-20" in await chatter.say("🏠🏠")
    assert "2-20" in await chatter.say("x' OR 1=1 --")
    assert "2-20" in await chatter.say("区" * 21)
    assert "特长" in await chatter.say("跳过")
    assert "序号" in await chatter.say("0")
    assert "方便参加志愿服务的时间" in await chatter.say("2")
    assert "3,5" in await chatter.say("6")
    assert "隐私说明" in await chatter.say("1")
    assert "回复【同意】" in await chatter.say("好的")
    summary = await chatter.say("同意")
    assert "赵六" in summary and "济源示范区" in summary and "摄影摄像" in summary
    assert "区县：未填写" in summary and "服务时间：工作日白天" in summary
    assert "回复【确认】" in await chatter.say("嗯")
    assert "报名成功" in await chatter.say("确认")
    assert await _count(harness) == 1


async def test_a_second_wrong_answer_in_a_row_says_how_to_leave(chatter: Chatter) -> None:
    """Step prompts after the first do not repeat the 取消 hint: a user who keeps typing what
    the step cannot take (我不想报了 into the phone step) is told the way out."""
    await chatter.say("报名")
    assert "真实姓名" in await chatter.say("1990")
    assert "手机号码" in await chatter.say("赵六")
    first = await chatter.say("我不想报了")
    assert "格式不正确" in first and "【取消】" not in first
    second = await chatter.say("不报了")
    assert "格式不正确" in second and "回复【取消】即可退出" in second
    assert second.index("回复【取消】") < second.index("第3步")  # before the step's prompt
    # A right answer resets the count: the next step's first miss is a plain correction.
    assert "城市" in await chatter.say(PHONE)
    again = await chatter.say("99")
    assert "序号" in again and "【取消】" not in again
    assert "已退出" in await chatter.say("取消")


async def test_odd_numbers_are_re_prompted(harness: BotHarness, chatter: Chatter) -> None:
    await chatter.say("报名")
    await chatter.say("1990")
    await chatter.say("赵六")
    await chatter.say(PHONE)
    assert "序号" in await chatter.say("²")
    assert "序号" in await chatter.say("9" * 5000)
    await chatter.say("1")
    await chatter.say("跳过")
    assert "序号" in await chatter.say("1 ³")
    assert "序号" in await chatter.say("1," + "2" * 5000)
    assert "方便参加志愿服务的时间" in await chatter.say("１，２")  # full-width digits are fine


async def test_other_keywords_do_not_hijack_the_flow(chatter: Chatter) -> None:
    await chatter.say("报名")
    # 我的信息 is a command elsewhere; inside the flow it is just the answer to the step.
    reply = await chatter.say("我的信息")
    assert "出生年份" in reply and "还不是志愿者" not in reply
    assert "已退出" in await chatter.say("退出")


async def test_age_counts_in_the_campaigns_year(harness: BotHarness, chatter: Chatter) -> None:
    """00:30 on New Year's Day in Shanghai is still 31 December in UTC: born in 2013, the
    volunteer is 14 by the campaign's year and needs no guardian."""
    harness.clock.set(datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI).astimezone(UTC))
    await chatter.say("报名")
    assert "真实姓名" in await chatter.say("2013")


async def test_under_14_needs_guardian_and_14_to_17_is_minor(
    harness: BotHarness, chatter: Chatter
) -> None:
    year = harness.clock.now().year
    await chatter.say("报名")
    # The age first: a child is asked nothing about themselves before the guardian consents.
    assert "监护人的姓名" in await chatter.say(str(year - 10))
    assert "监护人的11位手机" in await chatter.say("王大明")
    assert "格式不正确" in await chatter.say("123")
    assert "监护人同意" in await chatter.say("13900001111")
    assert "需要监护人回复" in await chatter.say("同意")
    assert "真实姓名" in await chatter.say("监护人同意")
    await chatter.say("小明")
    await chatter.say(PHONE)
    await chatter.say("2")
    assert "特长" in await chatter.say("跳过")
    await chatter.say("5")
    await chatter.say("3")
    assert "未成年志愿者" in await chatter.say("同意")
    assert "报名成功" in await chatter.say("确认")
    async with harness.bot.sessions() as session:
        row = (
            await session.execute(select(Volunteer).where(Volunteer.user_id == chatter.user_id))
        ).scalar_one()
    assert row.minor and row.guardian_enc and "13900001111" not in row.guardian_enc
    assert "13900001111" in harness.bot.cipher.decrypt(row.guardian_enc)

    teen = harness.chatter()  # type: ignore[attr-defined]
    await teen.say("报名")
    assert "真实姓名" in await teen.say(str(year - 16))
    await teen.say("小红")
    await teen.say("13700001111")
    await teen.say("2")
    assert "特长" in await teen.say("跳过")
    await teen.say("1")
    await teen.say("4")
    assert "未成年志愿者" in await teen.say("同意")


async def test_registering_twice_same_user_or_same_phone(
    harness: BotHarness, chatter: Chatter
) -> None:
    await _sign_up_to_confirm(chatter)
    await chatter.say("确认")
    # Signing up again opens 修改信息 at its first question.
    again = await chatter.say("志愿者报名")
    assert "无需重复报名" in again and "1. 姓名" in again and "6. 服务时间" in again
    assert "新的姓名" in await chatter.say("1")
    assert "已修改" in await chatter.say("张叁")
    assert "张叁" in await chatter.say("我的信息")
    # The same phone from another account: told how to edit that record, or to use another.
    other = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    await other.say("报名")
    await other.say("1990")
    await other.say("张三")
    taken = await other.say(PHONE)
    assert "已经登记为志愿者" in taken and "原账号回复【修改信息】" in taken
    assert "11位手机号码" in taken  # still at the phone step: the flow goes on
    assert "区县" not in taken and "城市" in await other.say("13800002222")
    assert await _count(harness) == 1


async def test_double_submission_of_confirm(harness: BotHarness, chatter: Chatter) -> None:
    await _sign_up_to_confirm(chatter)
    assert "报名成功" in await chatter.say("确认")
    # A second 确认 (new message) no longer belongs to a flow: it must not register again.
    await chatter.say("确认")
    assert await _count(harness) == 1


async def test_same_answer_retried_concurrently_advances_once(harness: BotHarness) -> None:
    user = harness.user()
    assert "出生年份" in await harness.say(user, "报名")
    await harness.say(user, "1990")
    xml = user.text("孙八")  # one MsgId: three deliveries of the same message
    results = await asyncio.gather(*(harness.post(user, xml) for _ in range(3)))
    replies = {reply_text(user.read_reply(body)) for status, body in results if body}
    assert all(status == 200 for status, _ in results)
    assert replies == {next(iter(replies))} and "手机号码" in next(iter(replies))
    # Still at the phone step: the name was applied once, so a phone moves on to the city.
    assert "城市" in await harness.say(user, PHONE)
    assert "真实姓名" not in await harness.say(user, "返回")


async def test_answer_after_expiry_gets_notice(harness: BotHarness, chatter: Chatter) -> None:
    await chatter.say("报名")
    harness.clock.advance(minutes=31)
    reply = await chatter.say("周九")
    assert "已自动结束" in reply
    assert await _count(harness) == 0


async def test_menu_click_and_qr_scene_start_sign_up(harness: BotHarness) -> None:
    clicker = harness.chatter()  # type: ignore[attr-defined]
    assert "出生年份" in await clicker.event("click", "VOLUNTEER_SIGNUP")
    scanner = harness.chatter()  # type: ignore[attr-defined]
    assert "出生年份" in await scanner.event("subscribe", "volunteer_zz")


async def test_hours_and_star_levels(harness: BotHarness, chatter: Chatter) -> None:
    assert "还不是志愿者" in await chatter.say("我的时长")
    await _sign_up_to_confirm(chatter)
    await chatter.say("确认")
    assert "暂未评星" in await chatter.say("我的时长")
    async with harness.bot.sessions() as session, session.begin():
        row = (
            await session.execute(select(Volunteer).where(Volunteer.user_id == chatter.user_id))
        ).scalar_one()
        now = harness.clock.now()
        await add_hours(session, row.id, Decimal("250.5"), "测试活动", "test", now)
        await add_hours(session, row.id, Decimal("70"), "补录", "test", now)
    reply = await chatter.event("click", "VOLUNTEER_HOURS")
    assert "320.5 小时" in reply and "★★（2星志愿者）" in reply and "279.5小时可升至3星" in reply
    async with harness.bot.sessions() as session:
        assert (await session.execute(select(func.count(HoursEntry.id)))).scalar_one() == 2


async def test_erase_keeps_anonymous_hours(harness: BotHarness, chatter: Chatter) -> None:
    assert "还不是志愿者" in await chatter.say("注销志愿者")
    await _sign_up_to_confirm(chatter)
    await chatter.say("确认")
    async with harness.bot.sessions() as session, session.begin():
        row = (
            await session.execute(select(Volunteer).where(Volunteer.user_id == chatter.user_id))
        ).scalar_one()
        vid = row.id
        await add_hours(session, vid, Decimal("12"), "测试活动", "test", harness.clock.now())
    assert "永久删除" in await chatter.say("注销志愿者")
    assert "确认注销" in await chatter.say("好")
    assert "已退出" in await chatter.say("取消")
    assert "张三" in await chatter.say("我的信息")
    await chatter.say("注销志愿者")
    assert "已删除" in await chatter.say("确认注销")
    assert "还不是志愿者" in await chatter.say("我的信息")
    async with harness.bot.sessions() as session:
        row = (await session.execute(select(Volunteer).where(Volunteer.id == vid))).scalar_one()
        hours = (
            await session.execute(
                select(func.sum(HoursEntry.hours)).where(HoursEntry.volunteer_id == vid)
            )
        ).scalar_one()
        audits = (
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.action == "volunteers.erase")
                )
            )
            .scalars()
            .all()
        )
    assert row.name_enc == "" and row.phone_enc == "" and row.guardian_enc is None
    assert row.user_id == f"erased:{vid}" and row.city == "郑州市"
    assert Decimal(str(hours)) == Decimal("12") and len(audits) == 1
    # The same person (and phone) may sign up again as a new volunteer.
    await _sign_up_to_confirm(chatter)
    assert "报名成功" in await chatter.say("确认")


async def test_certificate_is_a_png_uploaded_as_image(
    harness: BotHarness, chatter: Chatter
) -> None:
    from bot.fonts import has_cjk_font

    if not has_cjk_font():
        pytest.skip("no CJK font installed")
    assert "还不是志愿者" in await chatter.say("志愿证书")
    await volunteer_with_hours(harness, chatter, Decimal("320"))
    await chatter.say("志愿证书")
    if chatter.channel is Channel.WECHAT:
        assert harness.fake.calls_to("/cgi-bin/media/upload")
    else:
        assert any("upload" in c.path for c in harness.weibo_fake.calls)  # type: ignore[attr-defined]
    files = list((harness.bot.config.data_path / "certificates").glob("*.png"))
    assert len(files) == 1
    with Image.open(files[0]) as image:
        assert image.format == "PNG" and image.size == (1200, 850)


async def test_edit_one_field(harness: BotHarness, chatter: Chatter) -> None:
    assert "还不是志愿者" in await chatter.say("修改信息")
    await _sign_up_to_confirm(chatter)
    await chatter.say("确认")
    assert "1. 姓名" in await chatter.say("修改信息")
    assert "1-6" in await chatter.say("9")
    assert "新的11位手机" in await chatter.say("2")
    assert "格式不正确" in await chatter.say("12345")
    # One's own number again is no conflict with oneself.
    assert "已修改" in await chatter.say(PHONE)
    await chatter.say("修改信息")
    await chatter.say("2")
    assert "已修改" in await chatter.say("13911112222")
    await chatter.say("修改信息")
    assert "城市" in await chatter.say("3")
    # A new city clears the old city's district and asks for the new one.
    assert "城市已改为安阳市" in await chatter.say("5")
    assert "已修改" in await chatter.say("跳过")
    profile = await chatter.say("我的信息")
    assert "139****2222" in profile and "安阳市" in profile and "区县：未填写" in profile
    other = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    await other.say("报名")
    await other.say("1990")
    await other.say("李四")
    assert "已经登记为志愿者" in await other.say("13911112222")


async def test_edit_district_and_availability(harness: BotHarness, chatter: Chatter) -> None:
    await _sign_up_to_confirm(chatter)
    await chatter.say("确认")
    await chatter.say("修改信息")
    assert "区县名称" in await chatter.say("4")
    assert "2-20" in await chatter.say("<script>")
    assert "已修改" in await chatter.say("二七区")
    await chatter.say("修改信息")
    assert "工作日白天" in await chatter.say("6")
    assert "序号" in await chatter.say("2 9")
    assert "已修改" in await chatter.say("2 4")
    profile = await chatter.say("我的信息")
    assert "区县：二七区" in profile and "服务时间：工作日晚上、节假日" in profile
    await chatter.say("修改信息")
    await chatter.say("4")
    assert "已修改" in await chatter.say("跳过")
    assert "区县：未填写" in await chatter.say("我的信息")


async def test_cached_replies_hold_no_personal_data_in_clear(harness: BotHarness) -> None:
    user = harness.user()
    chatter = harness.chatter()  # type: ignore[attr-defined]
    chatter.user, chatter.user_id = user, user.openid
    await _sign_up_to_confirm(chatter)
    await chatter.say("确认")
    xml = user.text("我的信息")
    first = reply_text(user.read_reply((await harness.post(user, xml))[1]))
    retry = reply_text(user.read_reply((await harness.post(user, xml))[1]))
    assert "张三" in first and retry == first  # the retry is answered from the cache
    async with harness.bot.sessions() as session:
        cached = list((await session.execute(select(InboundMessage.reply))).scalars())
    assert cached and not any("张三" in (c or "") or "金水区" in (c or "") for c in cached)
