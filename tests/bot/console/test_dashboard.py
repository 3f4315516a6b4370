"""The dashboard: figures from real traffic (follows through a QR scene, messages, volunteers,
hours), charts drawn on the server, and nothing personal."""

from __future__ import annotations

from bot.console.pages import Role
from bot.kernel.message import Channel
from storage.models import InboundMessage
from tests.bot.console.conftest import Console
from tests.conftest import BotHarness
from tests.handlers.test_activities import enlist


async def test_dashboard_figures(console: Console, harness: BotHarness) -> None:
    fan = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await fan.event("subscribe", "poster_zz")
    await fan.say("菜单")
    await harness.logged(fan.user_id, InboundMessage.id)
    await enlist(harness, fan, city="郑州市", name="张三")
    viewer = await console.as_role(Role.VIEWER)
    status, body = await viewer.get("/console/")
    assert status == 200
    assert '<div class="stat" data-figure="followers"><div class="value">1<' in body
    assert '<div class="stat" data-figure="messages_today"><div class="value">1<' in body
    assert '<div class="stat" data-figure="volunteers"><div class="value">1<' in body
    assert "poster_zz" in body and "data:image/svg+xml;base64," in body
    assert "张三" not in body and "张*" not in body


async def test_dashboard_counts_open_questions(console: Console, harness: BotHarness) -> None:
    """Questions nobody could answer (handed to staff) are a figure linking to the inbox, and
    the week's most frequent ones are listed masked."""
    person = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    assert "转给工作人员" in await person.say("请问办公室电话13812345678在哪")
    viewer = await console.as_role(Role.VIEWER)
    status, body = await viewer.get("/console/")
    assert status == 200
    assert (
        'data-figure="unanswered"><a href="/console/inbox" class="stat-link"><div class="value">1<'
        in body
    )
    assert 'data-figure="flagged"' in body and "data-top-unanswered" in body
    assert "138****5678" in body and "13812345678" not in body
