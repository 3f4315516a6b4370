"""The console shows which campaign pack the bot runs, on every page."""

from __future__ import annotations

import pytest

from bot.console.pages import Role
from tests.bot.console.conftest import Console


@pytest.mark.config(campaign={"pack": "hunan"})
async def test_every_page_names_the_running_campaign(console: Console) -> None:
    client = await console.as_role(Role.VIEWER)
    status, body = await client.get("/console/")
    assert status == 200
    assert '<span class="campaign" title="hunan">湖南省未成年人绿色上网公益活动</span>' in body


async def test_the_default_campaign_is_henans(console: Console) -> None:
    client = await console.as_role(Role.VIEWER)
    status, body = await client.get("/console/calendar")
    assert status == 200 and 'title="henan">新时代“e”起行动 让中原更出彩</span>' in body
    # The calendar page lists the running pack's own dates with the national ones.
    assert "网络公益工程总结提升" in body
