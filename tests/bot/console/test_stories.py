"""Console stories: review queue with pictures, approve (author told) / reject (note needed),
feature, an admin's audited contact reveal, export."""

from __future__ import annotations

import asyncio
import hashlib
import json

from bot.console.pages import Role
from bot.kernel.message import Channel, UserKey
from handlers.stories import stories_media_path
from storage import stories as store
from tests.bot.console.conftest import Console
from tests.conftest import ACCOUNT, BotHarness
from tests.handlers.logo_support import design


async def _story(harness: BotHarness, user_id: str) -> int:
    picture = design(5)
    digest = hashlib.sha256(picture).hexdigest()
    folder = stories_media_path(harness.bot.config)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{digest}.png").write_bytes(picture)
    cipher, now = harness.bot.cipher, harness.clock.now()
    async with harness.bot.sessions() as session, session.begin():
        story = await store.add_story(
            session,
            UserKey(Channel.WECHAT, ACCOUNT, user_id),
            text="社区志愿者每周教老人安全上网，识别网络诈骗。",
            consent_at=now,
            now=now,
            pictures=[(digest, f"{digest}.png")],
            contact_name_enc=cipher.encrypt("赵六"),
            contact_phone_enc=cipher.encrypt("13912345678"),
        )
        return story.id


async def test_review_feature_reveal_export(console: Console, harness: BotHarness) -> None:
    author = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await author.say("菜单")  # within the 48 h window: told by message at once
    number = await _story(harness, author.user_id)
    viewer = await console.as_role(Role.VIEWER)
    editor = await console.as_role(Role.EDITOR)
    admin = await console.as_role(Role.ADMIN)
    status, body = await viewer.get("/console/stories")
    assert status == 200 and "安全上网" in body and "赵" not in body
    status, body = await editor.get("/console/stories")
    assert "赵*" in body and "13912345678" not in body
    picture = body.split('<img src="/console/stories/media/')[1].split('"')[0]
    async with editor.http.get(editor.url(f"/console/stories/media/{picture}")) as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
    assert (await editor.get("/console/stories/media/..%2Fdata.key"))[0] == 404
    assert (await viewer.post(f"/console/stories/{number}/review", {"decision": "approved"}))[
        0
    ] == 403
    status, body, _ = await editor.post(
        f"/console/stories/{number}/review", {"decision": "rejected"}
    )
    assert status == 400 and "请填写“审核备注" in body
    status, body, _ = await editor.post(f"/console/stories/{number}/feature", {"on": "1"})
    assert status == 400 and "尚未通过审核" in body
    status, _b, _l = await editor.post(
        f"/console/stories/{number}/review", {"decision": "approved"}
    )
    assert status == 303
    await harness.drain()
    assert author.late_messages()
    status, _b, _l = await editor.post(f"/console/stories/{number}/feature", {"on": "1"})
    assert status == 303
    status, body = await editor.get("/console/stories?status=approved")
    assert "精选" in body and f'data-story="{number}"' in body
    assert (await editor.post(f"/console/stories/{number}/reveal"))[0] == 403
    await admin.get("/console/stories?status=approved")
    status, body, _ = await admin.post(f"/console/stories/{number}/reveal")
    assert status == 200 and "13912345678" in body
    status, _b, location = await editor.post(
        "/console/stories/export", {"format": "csv", "status": "approved"}
    )
    assert status == 303
    job = location.split("/")[3]
    for _ in range(100):
        _s, state = await editor.get(f"/console/exports/{job}/status")
        if json.loads(state)["ready"]:
            break
        await asyncio.sleep(0.02)
    async with editor.http.get(editor.url(f"/console/exports/{job}/file")) as resp:
        text = (await resp.read()).decode("utf-8-sig")
    assert "安全上网" in text and "13912345678" not in text
    status, body = await admin.get("/console/operators?action=stories.")
    for action in (
        "stories.approve",
        "stories.feature",
        "stories.reveal_contact",
        "stories.export",
    ):
        assert action in body
    status, body, _ = await editor.post("/console/stories/999/review", {"decision": "approved"})
    assert status == 400 and "999" in body
