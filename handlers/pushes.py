"""Platform reports about scheduled pushes (WeChat's MASSSENDJOBFINISH event)."""

from __future__ import annotations

from bot.message import Event, Reply
from handlers.context import Ctx
from handlers.router import OnEvent, Router
from schedules.outbox import record_mass_report

router = Router("pushes")

REPORT_FIELDS = ("MsgID", "Status", "TotalCount", "FilterCount", "SentCount", "ErrorCount")


@router.on(OnEvent(Event.MASS_SEND_FINISHED))
async def record_mass_send_result(ctx: Ctx) -> Reply | None:
    """Store the delivery counts on the outbox row of that mass send; no reply is due."""
    extra = ctx.inbound.extra
    msg_id = extra.get("MsgID") or extra.get("MsgId") or ""
    if msg_id:
        report = {k: extra[k] for k in REPORT_FIELDS if k in extra}
        await record_mass_report(ctx.session, str(msg_id), report)
    return None
