"""志愿之星: the monthly list per city, by message."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from bot.kernel.clock import SHANGHAI
from storage.volunteers import Volunteer, add_hours, erase
from tests.conftest import BotHarness, Chatter
from tests.handlers.test_activities import enlist

NOW = datetime(2026, 12, 15, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)


async def credit(harness: BotHarness, vid: int, hours: str, at: datetime) -> None:
    async with harness.bot.sessions() as session, session.begin():
        await add_hours(session, vid, Decimal(hours), "测试", "operator", at.astimezone(UTC))


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


async def test_monthly_stars_of_the_senders_city(harness: BotHarness, chatter: Chatter) -> None:
    harness.clock.set(NOW)
    me = await enlist(harness, chatter, name="张小三")
    others = [harness.chatter(chatter.channel) for _ in range(3)]  # type: ignore[attr-defined]
    second = await enlist(harness, others[0], name="李四")
    gone = await enlist(harness, others[1], name="王大五")
    elsewhere = await enlist(harness, others[2], city="洛阳市", name="赵六")
    # Month edges are Asia/Shanghai: 00:30 on 1 December counts for December.
    await credit(harness, me, "10", shanghai(2026, 12, 1, 0, 30))
    await credit(harness, me, "-2", shanghai(2026, 12, 3, 9, 0))
    await credit(harness, second, "5", shanghai(2026, 12, 10, 9, 0))
    await credit(harness, second, "100", shanghai(2026, 11, 30, 23, 30))
    await credit(harness, gone, "50", shanghai(2026, 12, 2, 9, 0))
    await credit(harness, elsewhere, "7", shanghai(2026, 12, 2, 9, 0))
    async with harness.bot.sessions() as session, session.begin():
        row = await session.get(Volunteer, gone)
        assert row is not None
        await erase(session, row, harness.clock.now())

    board = await chatter.say("志愿之星")
    assert "2026年12月 志愿之星（郑州市）" in board
    assert "1. 张*三　8小时" in board and "2. 李*　5小时" in board
    assert "王" not in board and "赵" not in board and "50" not in board
    last = await chatter.say("志愿之星 上月")
    assert "2026年11月" in last and "1. 李*　100小时" in last and "张*三" not in last
    assert "1. 赵*　7小时" in await chatter.say("志愿之星 洛阳")
    assert "请回复【志愿之星】" in await chatter.say("志愿之星 火星")

    guest = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    everyone = await guest.event("click", "VOLUNTEER_STARS")
    assert "全部城市" in everyone and "1. 张*三（郑州市）　8小时" in everyone
    assert "3. 李*（郑州市）　5小时" in everyone and "2. 赵*（洛阳市）　7小时" in everyone
    assert "志愿之星 城市名" in everyone
    assert "还没有志愿服务时长记录" in await guest.say("志愿之星 上月 开封市")
