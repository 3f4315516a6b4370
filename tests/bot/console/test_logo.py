"""Console logo contest: the review queue with designs, approve/reject (reason, author told),
the public gallery, phases, results chart and voiding votes."""

from __future__ import annotations

from bot.console.pages import Role
from bot.kernel.message import Channel
from storage import logo as store
from tests.bot.console.conftest import Console
from tests.conftest import BotHarness
from tests.handlers.logo_support import add_approved, design, submit_to_confirm


async def test_review_queue_approve_and_gallery(console: Console, harness: BotHarness) -> None:
    author = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await submit_to_confirm(author, design(1), title="中原绿叶")
    assert "投稿成功" in await author.say("确认")
    editor = await console.as_role(Role.EDITOR)
    viewer = await console.as_role(Role.VIEWER)
    status, body = await editor.get("/console/logo")
    assert status == 200 and "中原绿叶" in body and 'data-entry="1"' in body
    assert "张*" in body and "13812345678" not in body  # masked for editors
    image = body.split('src="/console/logo/media/')[1].split('"')[0]
    async with editor.http.get(editor.url(f"/console/logo/media/{image}")) as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
    status, body = await viewer.get("/console/logo")
    assert status == 200 and "张*" not in body  # nothing personal for viewers
    status, _b, _l = await viewer.post("/console/logo/1/review", {"decision": "approved"})
    assert status == 403
    # Not on the public gallery before approval.
    async with harness.http.get(str(harness.server.make_url("/logo"))) as resp:
        assert "中原绿叶" not in await resp.text()
    status, body, _ = await editor.post("/console/logo/1/review", {"decision": "rejected"})
    assert status == 400 and "请填写“原因" in body
    status, _b, location = await editor.post("/console/logo/1/review", {"decision": "approved"})
    assert status == 303 and "logo_approved" in location
    async with harness.http.get(str(harness.server.make_url("/logo"))) as resp:
        assert "中原绿叶" in await resp.text()
    await harness.drain()
    assert any("通过" in m for m in author.late_messages())
    status, body = await editor.get("/console/operators?action=logo.")
    assert "logo.approve" in body and "editor1" in body
    status, body, _ = await editor.post("/console/logo/99/review", {"decision": "approved"})
    assert status == 400 and "没有 99 号作品" in body


async def test_phases_results_and_voiding(console: Console, harness: BotHarness) -> None:
    numbers = await add_approved(harness, "甲", "乙")
    async with harness.bot.sessions() as session, session.begin():
        for i in range(3):
            await store.cast_vote(
                session,
                entry_id=numbers[0],
                channel="wechat",
                user_id=f"voter{i}",
                day=harness.clock.now().date(),
                now=harness.clock.now(),
                per_day=3,
                per_entry=1,
            )
    admin = await console.as_role(Role.ADMIN)
    editor = await console.as_role(Role.EDITOR)
    status, body = await admin.get("/console/logo?status=approved")
    assert status == 200 and 'class="chart"' in body and "各作品得票" in body
    status, _b, _l = await editor.post(
        "/console/logo/phase", {"phase": "voting", "action": "set", "start": "2030-01-01T09:00"}
    )
    assert status == 403
    status, _b, _l = await admin.post(
        "/console/logo/phase",
        {"phase": "voting", "action": "set", "start": "2030-01-01T09:00", "end": "2030-02-01"},
    )
    assert status == 303, _b
    status, body, _ = await admin.post(
        "/console/logo/phase",
        {"phase": "submission", "action": "set", "start": "2030-03-01T09:00"},
    )
    assert status == 400 and "依次衔接" in body
    status, body, _ = await admin.post(
        "/console/logo/phase", {"phase": "voting", "action": "set", "start": "someday"}
    )
    assert status == 400 and "时间格式" in body
    status, _b, _l = await admin.post("/console/logo/phase", {"phase": "voting", "action": "clear"})
    assert status == 303
    status, body, _ = await admin.post("/console/logo/void", {"reason": "刷票"})
    assert status == 400 and "作品编号、用户或二维码场景" in body
    status, _b, _l = await editor.post("/console/logo/void", {"entry": "1", "reason": "刷票"})
    assert status == 403
    status, _b, _l = await admin.post(
        "/console/logo/void", {"entry": str(numbers[0]), "reason": "刷票"}
    )
    assert status == 303
    async with harness.bot.sessions() as session:
        assert all(votes == 0 for _n, _t, votes in await store.ranking(session))
    status, body = await admin.get("/console/operators?action=votes.")
    assert "n=3" in body and "刷票" in body
