"""The guards of the activities tables on both backends: ledger uniqueness and capacity."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from bot.kernel.context import BotContext
from storage import activities as store
from storage.activities import Activity
from storage.volunteers import Volunteer, add_hours, total_hours


async def _volunteer_and_activity(bot: BotContext, capacity: int = 2) -> tuple[int, Activity]:
    now = bot.clock.now()
    async with bot.sessions() as session, session.begin():
        volunteer = Volunteer(
            channel="wechat",
            account="gh_x",
            user_id="u1",
            name_enc=bot.cipher.encrypt("张三"),
            phone_enc=bot.cipher.encrypt("13800000001"),
            phone_index=bot.cipher.blind_index("13800000001"),
            city="郑州市",
            birth_year=1990,
            created_at=now,
            updated_at=now,
        )
        session.add(volunteer)
        activity = await store.add_activity(
            session,
            Activity(
                title="测试",
                starts_at=now + timedelta(days=1),
                ends_at=now + timedelta(days=1, hours=2),
                place="线上",
                city="",
                hours=Decimal("2"),
                capacity=capacity,
                code="ab12",
                created_at=now,
            ),
        )
        return volunteer.id, activity


async def test_ledger_credits_an_activity_once_but_allows_many_adjustments(
    bot_context: BotContext,
) -> None:
    vid, activity = await _volunteer_and_activity(bot_context)
    assert activity.code == "AB12"
    now = bot_context.clock.now()
    async with bot_context.sessions() as session, session.begin():
        # Manual adjustments have no activity: NULLs never collide in the unique key.
        for hours in ("1", "2", "-0.5"):
            await add_hours(session, vid, Decimal(hours), "补录", "operator", now)
        assert await store.credit(session, vid, activity, "参加活动", "checkin", now)
        assert not await store.credit(session, vid, activity, "参加活动", "checkin", now)
        assert await total_hours(session, vid) == Decimal("4.5")
    async with bot_context.sessions() as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                await add_hours(session, vid, Decimal(2), "x", "x", now, activity_id=activity.id)


async def test_the_counter_can_never_exceed_the_capacity(bot_context: BotContext) -> None:
    vid, activity = await _volunteer_and_activity(bot_context, capacity=1)
    async with bot_context.sessions() as session, session.begin():
        assert (await store.enrol(session, activity, vid, bot_context.clock.now())).status == "ok"
    async with bot_context.sessions() as session:
        with pytest.raises(IntegrityError):  # the CHECK constraint behind the conditional UPDATE
            async with session.begin():
                await session.execute(
                    update(Activity).where(Activity.id == activity.id).values(enrolled=2)
                )
