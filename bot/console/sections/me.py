"""An operator's own settings: the WeChat openid they are told at when something needs them
(a push waiting for approval)."""

from __future__ import annotations

import re

from aiohttp import web

from bot.console.call import Call, FormError
from bot.console.pages import Role, Section
from storage import operators as store

section = Section("me", nav="console.nav.me", order=95)
OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")


@section.get("/me", role=Role.VIEWER)
async def settings(call: Call) -> web.StreamResponse:
    """The operator's binding."""
    async with call.bot.sessions() as session:
        op = await store.operator_by_id(session, call.operator.id)
    bound = op.notify_openid if op else None
    return call.render("me.html", bound=bound)


@section.post("/me/notify", role=Role.EDITOR)
async def bind(call: Call) -> web.StreamResponse:
    """Bind the openid given (empty: unbind)."""
    form = await call.form()
    openid = form.text("openid", label=call.t("console.me.openid"), required=False, limit=64)
    if openid and not OPENID.match(openid):
        raise FormError(call.t("console.me.bad_openid"))
    async with call.bot.sessions() as session, session.begin():
        await store.set_notify_openid(session, call.operator.id, openid or None)
        await store.audit(
            session,
            call.bot.clock.now(),
            call.operator.name,
            "operators.notify_bind",
            "bound" if openid else "unbound",
        )
    call.done("/me", "notify_bound")
