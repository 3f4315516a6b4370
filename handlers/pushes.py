"""Platform reports about scheduled pushes (WeChat's MASSSENDJOBFINISH event)."""

from __future__ import annotations

import logging

from bot.kernel.context import BotContext
from bot.kernel.logs import log_event
from bot.kernel.message import Event, Reply
from handlers.context import Ctx
from handlers.feature import ConsolePage, Feature, PeriodicJob, content_file
from handlers.router import OnEvent, Router
from schedules.calendar import check_extra_dates
from schedules.outbox import record_mass_report, run_due

log = logging.getLogger("bot.schedules")
# What the log line of an outbox pass counts.
PASS_COUNTS = ("created", "sent", "retried", "failed", "missed", "reconciled")

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


async def deliver_due_posts(bot: BotContext) -> int:
    """The scheduler's job: send what is due from the outbox; returns how many went out."""
    report = await run_due(bot)
    if report.created or report.sent or report.failed or report.reconciled:
        log_event(log, "outbox_pass", **{name: getattr(report, name) for name in PASS_COUNTS})
    return report.sent


FEATURE = Feature(
    name="pushes",
    routers=[router],
    cli=["bot.cli.schedule:register"],
    console=[
        ConsolePage.section("pushes"),
        ConsolePage.section("calendar"),
    ],
    config_checks=[check_extra_dates],
    content=[content_file("calendar")],
    jobs=[PeriodicJob("pushes.outbox", deliver_due_posts, where="leader")],
    audit_actions=[
        "pushes.schedule",
        "pushes.draft",
        "pushes.approve",
        "pushes.cancel",
        "pushes.preview",
        "pushes.run_now",
    ],
    report=["storage.reports.pushes:section"],
)
