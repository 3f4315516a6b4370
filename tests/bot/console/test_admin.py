"""The admin's system page (schema revision and pending migrations, data key, campaign pack,
the custom menu pushed through the fake WeChat API) and re-seeding the keyword replies:
admins only, audited as console:NAME with feature.verb actions."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from bot.console.pages import Role
from storage.keywords import list_rules
from storage.migrate import alembic_config
from tests.bot.console.conftest import Console
from tests.conftest import BotHarness


async def test_system_page_shows_the_schema_and_pushes_the_menu(
    console: Console, harness: BotHarness
) -> None:
    admin = await console.as_role(Role.ADMIN)
    editor = await console.as_role(Role.EDITOR)
    viewer = await console.as_role(Role.VIEWER)
    for client in (viewer, editor):
        assert (await client.get("/console/admin"))[0] == 403
        assert (await client.post("/console/admin/menu"))[0] == 403
    status, body = await admin.get("/console/")
    assert 'href="/console/admin"' in body
    status, body = await editor.get("/console/")
    assert 'href="/console/admin"' not in body
    status, body = await admin.get("/console/admin")
    assert status == 200
    # The test database is migrated to the newest revision: nothing pending.
    (head,) = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert head in body and "数据库结构已是最新" in body
    assert "使用中" in body  # the data key's state, in Chinese
    assert harness.bot.cipher.key_id in body and "python -m bot db upgrade" in body
    assert "新时代“e”起行动" in body  # the Henan pack, with its menu buttons listed
    before = len(harness.fake.calls_to("/cgi-bin/menu/create"))
    status, _b, location = await admin.post("/console/admin/menu")
    assert status == 303 and "menu_pushed" in location
    sent = harness.fake.calls_to("/cgi-bin/menu/create")
    assert len(sent) == before + 1 and sent[-1].body["button"]
    # WeChat refusing the menu is a Chinese 400, not a 500.
    harness.fake.inject("/cgi-bin/menu/create", 40016)
    status, body, _ = await admin.post("/console/admin/menu")
    assert status == 400 and "微信拒绝了该菜单" in body
    status, body = await admin.get("/console/operators?action=menu.push")
    assert "console:admin1" in body and "buttons=" in body


async def test_keywords_are_reseeded_by_an_admin(console: Console, harness: BotHarness) -> None:
    admin = await console.as_role(Role.ADMIN)
    editor = await console.as_role(Role.EDITOR)
    status, body = await editor.get("/console/keywords")
    assert "/console/keywords/seed" not in body
    assert (await editor.post("/console/keywords/seed"))[0] == 403
    async with harness.bot.sessions() as session:
        seeded = [r for r in await list_rules(session) if r.source == "seed"]
    # A seeded rule an operator switched off is seeded back as the content file says.
    status, body = await admin.get("/console/keywords")
    assert "/console/keywords/seed" in body
    status, _b, location = await admin.post("/console/keywords/seed")
    assert status == 303 and "keywords_seeded" in location
    async with harness.bot.sessions() as session:
        after = [r for r in await list_rules(session) if r.source == "seed"]
    assert {r.pattern for r in after} == {r.pattern for r in seeded}
    status, body = await admin.get("/console/operators?action=keywords.seed")
    assert "keywords.seed" in body and "console:admin1" in body
