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


@pytest.mark.config(campaign={"pack": "hunan"})
async def test_a_switched_off_feature_has_no_pages_menu_or_figures(console: Console) -> None:
    """Hunan runs no logo contest: no 标识征集 in the menu, its pages and actions 404 for every
    role, no vote figure on the dashboard; the other features' pages are there."""
    admin = await console.as_role(Role.ADMIN)
    status, body = await admin.get("/console/")
    assert status == 200
    assert "标识征集" not in body and 'href="/console/logo"' not in body
    assert 'data-figure="votes"' not in body and 'data-figure="volunteers"' in body
    for path in ("/console/logo", "/console/logo/media/x.png"):
        assert (await admin.get(path))[0] == 404
    assert (await admin.post("/console/logo/1/review", {"decision": "approved"}))[0] == 404
    assert (await admin.post("/console/logo/void", {"entry": "1", "reason": "x"}))[0] == 404
    assert (await admin.get("/console/stories"))[0] == 200
    # The system page says which features this campaign switches off.
    status, body = await admin.get("/console/admin")
    assert status == 200 and "本活动未启用的功能：" in body and "标识征集" in body


@pytest.mark.config(campaign={"pack": "henan"})
async def test_the_logo_contest_is_there_when_the_pack_runs_it(console: Console) -> None:
    viewer = await console.as_role(Role.VIEWER)
    _status, body = await viewer.get("/console/")
    assert 'href="/console/logo"' in body and 'data-figure="votes"' in body
    assert (await viewer.get("/console/logo"))[0] == 200
