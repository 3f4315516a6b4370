"""System status for admins: the database schema (revision and pending migrations, what
``db upgrade`` would apply), the data key, the campaign pack and its switched-off features,
and the WeChat custom menu with a button to push it (``menu push``).

Migrations are not applied from the browser: an upgrade may lock tables for minutes while
web processes keep serving, so it stays a deliberate step on the server (README)."""

from __future__ import annotations

from aiohttp import web

from bot.console.call import Call
from bot.console.pages import Role, Section
from handlers import menu_ops
from storage.keys import recorded_keys
from storage.migrate import schema_status

section = Section("admin", nav="console.nav.admin", nav_role=Role.ADMIN, order=97)


@section.get("/admin", role=Role.ADMIN)
async def status(call: Call) -> web.StreamResponse:
    """Schema, data key, pack, menu."""
    bot = call.bot
    current, pending = await schema_status(bot.config.database_url)
    async with bot.sessions() as session:
        keys = await recorded_keys(session)
    buttons = menu_ops.menu_buttons(bot)
    return call.render(
        "admin.html",
        current=sorted(current),
        pending=pending,
        key_id=bot.cipher.key_id,
        keys=sorted(keys.items()),
        pack=bot.pack,
        off=[call.t(f"features.names.{f}") for f in bot.pack.off()],
        buttons=menu_ops.leaves(buttons),
        top=len(buttons),
    )


@section.post("/admin/menu", role=Role.ADMIN)
async def push_menu(call: Call) -> web.StreamResponse:
    """Replace the account's menu with the configured one."""
    await menu_ops.push(call.bot, call.actor)
    call.done("/admin", "menu_pushed")
