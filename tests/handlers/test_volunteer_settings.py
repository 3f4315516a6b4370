"""The volunteer programme under non-default [volunteers] and [limits] settings."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.config import ConfigError, load_config
from storage.volunteers import Volunteer
from tests.conftest import BotHarness, Chatter
from tests.handlers.test_activities import enlist, ledger_rows, new_activity

# Every test of the module runs with these settings (conftest's ``config`` marker).
pytestmark = pytest.mark.config(
    volunteers={
        "credit_on": "checkout",
        "checkin_open_minutes": 10,
        "checkout_grace_minutes": 30,
        "availability": ["周六上午", "周日下午"],
        "cities": ["长沙市", "株洲市"],
    },
    limits={"flow_timeout_minutes": 5},
)


async def test_hours_credited_on_check_out_when_configured(
    harness: BotHarness, chatter: Chatter
) -> None:
    vid = await enlist(harness, chatter, city="长沙市")
    activity = await new_activity(harness, starts_in=timedelta(minutes=15), code="CS2026")
    await chatter.say(f"参加 {activity.id}")
    assert "还没有签到" in await chatter.say("签退 CS2026")
    assert "签到将于" in await chatter.say("签到 CS2026")  # opens 10 minutes before
    harness.clock.advance(minutes=6)
    checked_in = await chatter.say("签到 CS2026")
    assert "签到成功" in checked_in and "签退 CS2026" in checked_in
    assert await ledger_rows(harness) == []
    assert "尚未开始" in await chatter.say("签退 cs2026")
    harness.clock.advance(minutes=30)
    out = await chatter.say("签退 CS2026")
    assert "签退成功" in out and "累计时长 3 小时" in out
    assert "已于" in await chatter.say("签退 CS2026")
    assert await ledger_rows(harness) == [(vid, Decimal(3), activity.id, "checkout")]
    assert "【已签退】" in await chatter.say("我的活动")


async def test_check_out_after_the_grace_time_is_refused(
    harness: BotHarness, chatter: Chatter
) -> None:
    await enlist(harness, chatter, city="长沙市")
    activity = await new_activity(harness, starts_in=timedelta(minutes=5), code="LATE1")
    await chatter.say(f"参加 {activity.id}")
    await chatter.say("签到 LATE1")
    harness.clock.advance(hours=3, minutes=36)  # ended 31 minutes ago; grace is 30
    assert "签退时间（结束后30分钟内）已过" in await chatter.say("签退 LATE1")
    assert await ledger_rows(harness) == []


async def test_configured_lists_and_flow_timeout(harness: BotHarness, chatter: Chatter) -> None:
    await chatter.say("报名")
    await chatter.say("1990")
    await chatter.say("王五")
    cities = await chatter.say("13812345678")
    assert "1. 长沙市" in cities and "郑州市" not in cities
    await chatter.say("1")
    harness.clock.advance(minutes=4)  # each answer restarts the 5 minutes
    assert "特长" in await chatter.say("岳麓区")
    availability = await chatter.say("1")
    assert "1. 周六上午" in availability and "工作日" not in availability
    harness.clock.advance(minutes=5, seconds=1)
    late = await chatter.say("2")
    assert "已自动结束" in late and "志愿者报名" in late  # the notice names the flow
    assert "隐私说明" not in late  # the late answer did not advance anything
    async with harness.bot.sessions() as session:
        assert await session.scalar(select(func.count(Volunteer.id))) == 0
    # The flow is gone: the next message is an ordinary one, with no second notice.
    assert "已自动结束" not in await chatter.say("我的信息")


def test_activity_settings_are_validated() -> None:
    cases = {
        "credit_on": "later",
        "checkin_open_minutes": -1,
        "checkout_grace_minutes": 5000,
        "activities_listed": 0,
        "stars_top": 100,
        "availability": ["周末", "周末"],
    }
    for key, value in cases.items():
        with pytest.raises(ConfigError, match=rf"volunteers\.{key}"):
            load_config(None, env={}, overrides={"volunteers": {key: value}})
