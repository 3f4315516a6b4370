"""The FAQ topics page (``faq list|show|add|add-question|remove-question|enable|disable|try``
in a browser): viewers read and try, editors change, each change audited as console:NAME and
answering people at once."""

from __future__ import annotations

from bot.console.pages import Role
from bot.kernel.message import Channel
from storage.faq import entry_by_slug, questions_of
from tests.bot.console.conftest import Console
from tests.conftest import BotHarness


async def test_topics_added_tried_and_switched(console: Console, harness: BotHarness) -> None:
    viewer = await console.as_role(Role.VIEWER)
    editor = await console.as_role(Role.EDITOR)
    status, body = await viewer.get("/console/faq")
    assert status == 200 and "问答主题" in body and "添加问答主题" not in body
    form = {
        "slug": "office_hours",
        "title": "办公时间",
        "answer": "工作日上午九点到下午五点。",
        "questions": "你们几点上班\n办公时间是什么时候",
    }
    assert (await viewer.post("/console/faq/add", form))[0] == 403
    await editor.get("/console/faq")
    status, body, _ = await editor.post("/console/faq/add", {**form, "slug": "Bad Slug"})
    assert status == 400 and "主题标识只能由小写字母" in body
    status, body, _ = await editor.post("/console/faq/add", {**form, "answer": ""})
    assert status == 400 and "请填写“回答内容" in body
    status, _b, location = await editor.post("/console/faq/add", form)
    assert status == 303 and location.startswith("/console/faq/office_hours")
    person = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    assert "上午九点" in await person.say("你们几点上班")
    status, body = await viewer.get("/console/faq?q=你们几点上班")
    assert 'data-decision="answer"' in body and "办公时间" in body
    status, _b, _l = await editor.post(
        "/console/faq/office_hours/questions", {"text": "周末上班吗"}
    )
    assert status == 303
    async with harness.bot.sessions() as session:
        entry = await entry_by_slug(session, "office_hours")
        assert entry is not None
        questions = {q.text: q.id for q in await questions_of(session, entry.id)}
    assert "周末上班吗" in questions
    status, body, _ = await editor.post(
        "/console/faq/office_hours/questions", {"text": "周末上班吗"}
    )
    assert status == 400  # the same question twice
    qid = questions["周末上班吗"]
    status, _b, _l = await editor.post(f"/console/faq/office_hours/questions/{qid}/remove")
    assert status == 303
    status, _b, _l = await editor.post("/console/faq/office_hours/toggle", {})
    assert status == 303
    status, body = await viewer.get("/console/faq/office_hours")
    assert status == 200 and "停用" in body and "周末上班吗" not in body
    assert (await viewer.get("/console/faq/no_such_topic"))[0] == 404
    status, body = await editor.get("/console/operators?action=faq.")
    for action in ("faq.add", "faq.add_question", "faq.remove_question", "faq.disable"):
        assert action in body
    assert "console:editor1" in body
