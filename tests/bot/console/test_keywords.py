"""Console keyword replies: search, add (answers within the refresh), edit, disable and enable
(seeded rules too), remove; seeded rules are marked and not edited."""

from __future__ import annotations

from bot.console.pages import Role
from bot.kernel.message import Channel
from storage.keywords import list_rules
from tests.bot.console.conftest import Console
from tests.conftest import BotHarness


async def test_keywords_add_edit_toggle_remove(console: Console, harness: BotHarness) -> None:
    editor = await console.as_role(Role.EDITOR)
    viewer = await console.as_role(Role.VIEWER)
    status, body = await viewer.get("/console/keywords?q=政策")
    assert status == 200 and "公益政策解读" in body and "内置" in body and "活动简介" not in body
    form = {"pattern": "  报名时间 ", "match": "exact", "priority": "30", "reply": "每周六上午"}
    assert (await viewer.post("/console/keywords/add", form))[0] == 403
    await editor.get("/console/keywords")
    for bad, expected in (
        ({**form, "reply": ""}, "请填写“回复内容"),
        ({**form, "priority": "x"}, "必须是数字"),
        ({**form, "match": "regex"}, "选项无效"),
        ({**form, "pattern": "   "}, "请填写“关键词"),
    ):
        status, body, _ = await editor.post("/console/keywords/add", bad)
        assert status == 400 and expected in body, bad
    status, _b, _l = await editor.post("/console/keywords/add", form)
    assert status == 303
    async with harness.bot.sessions() as session:
        rules = {r.pattern: r for r in await list_rules(session)}
    rule = rules["报名时间"]
    assert rule.source == "operator" and rule.priority == 30
    user = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    harness.clock.advance(seconds=11)
    assert "每周六上午" in await user.say("报名时间")
    status, _b, _l = await editor.post(
        f"/console/keywords/{rule.id}/edit", {"reply": "每周日下午", "priority": "5"}
    )
    assert status == 303
    seeded = rules["政策"]
    status, body, _ = await editor.post(
        f"/console/keywords/{seeded.id}/edit", {"reply": "x", "priority": "1"}
    )
    assert status == 400 and "内置规则" in body
    status, _b, _l = await editor.post(f"/console/keywords/{seeded.id}/toggle", {})
    assert status == 303
    async with harness.bot.sessions() as session:
        after = {r.id: r for r in await list_rules(session)}
    assert not after[seeded.id].enabled and after[rule.id].reply.find("每周日下午") >= 0
    status, _b, _l = await editor.post(f"/console/keywords/{seeded.id}/toggle", {"enabled": "1"})
    assert status == 303
    status, body, _ = await editor.post(f"/console/keywords/{seeded.id}/remove")
    assert status == 400
    status, _b, _l = await editor.post(f"/console/keywords/{rule.id}/remove")
    assert status == 303
    status, body, _ = await editor.post(f"/console/keywords/{rule.id}/remove")
    assert status == 400 and "没有编号为" in body
    status, body = await editor.get("/console/operators?action=keywords.")
    for action in ("keywords.add", "keywords.edit", "keywords.disable", "keywords.remove"):
        assert action in body
