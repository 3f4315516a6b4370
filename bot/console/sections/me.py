"""An operator's own notifications: bind their WeChat by scanning a temporary QR code (the
bot asks WeChat for one with a one-off scene; the scan event binds the scanner's openid), then
choose what they are told about: pushes waiting for approval (admins), flagged messages
(editors and admins)."""

from __future__ import annotations

from aiohttp import web

from bot.console.call import Call
from bot.console.pages import Role, Section
from bot.console.qr import qr_data_uri
from handlers import operators as ops
from storage import operators as store

section = Section("me", nav="console.nav.me", order=95)


def _masked(openid: str) -> str:
    """Enough of an openid to recognise it, not to use it."""
    return f"{openid[:4]}…{openid[-2:]}" if len(openid) > 8 else "…"


@section.get("/me", role=Role.VIEWER)
async def settings(call: Call, qr: str | None = None, until: str = "") -> web.StreamResponse:
    """The binding (its openid masked), the choices and, just asked for, the QR code."""
    async with call.bot.sessions() as session:
        op = await store.operator_by_id(session, call.operator.id)
    if op is None:
        raise web.HTTPNotFound()
    openid = op.notify_openid
    return call.render(
        "me.html",
        bound=_masked(openid) if openid else None,
        pushes=op.notify_pushes,
        inbox=op.notify_inbox,
        qr=qr,
        until=until,
    )


@section.post("/me/qr", role=Role.EDITOR)
async def qr_code(call: Call) -> web.StreamResponse:
    """A QR code to scan with the WeChat to bind (valid for ten minutes)."""
    binding = await ops.start_binding(call.bot, call.actor, call.operator.id)
    return await settings(call, qr_data_uri(binding.url), call.renderer.local(binding.until))


@section.post("/me/notify", role=Role.EDITOR)
async def topics(call: Call) -> web.StreamResponse:
    """What the operator is told about."""
    form = await call.form()
    await ops.set_notify(
        call.bot,
        call.actor,
        call.operator.id,
        pushes=form.flag("pushes") and call.operator.can(Role.ADMIN),
        inbox=form.flag("inbox"),
    )
    call.done("/me", "notify_saved")


@section.post("/me/unbind", role=Role.EDITOR)
async def unbind(call: Call) -> web.StreamResponse:
    """Stop sending anything to the bound WeChat."""
    await ops.unbind(call.bot, call.actor, call.operator.id)
    call.done("/me", "notify_unbound")
