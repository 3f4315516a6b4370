"""Operator operations on campaign pushes: schedule, cancel, preview and run now.

Each validates, writes, records one audit row and queues its deliveries in the outbox; the
CLI (``bot/cli/schedule.py``) and the console call these. The scheduling rules themselves
(quota, calendar, lengths) are the scheduler's (``schedules.service``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.kernel.context import BotContext
from handlers.operations import Actor, Counter, OperationError, audit
from handlers.operators import CONSOLE, notify_operators
from schedules.outbox import RunReport, deliver, enqueue_in
from schedules.posts import PostError, body_of, channels_of, next_occurrences
from schedules.service import (
    PostSpec,
    add_post,
    cancel_post,
    check_post,
    post_from_spec,
    quota_conflict,
    rules_of,
)
from storage.db import transaction
from storage.schedules import CampaignPost, PostStatus, get_post

PURPOSES = ("push", "preview")


def _refused(exc: PostError) -> OperationError:
    return OperationError("reports.ops.push_invalid", str(exc), detail=str(exc))


@dataclass(frozen=True)
class Planned:
    """A post (saved, or not for a dry run) and its next occurrences."""

    post: CampaignPost
    upcoming: list[datetime]


async def plan(bot: BotContext, spec: PostSpec, n: int = 1) -> Planned:
    """What ``schedule`` would store, checked the same way, without storing anything."""
    now, rules = bot.clock.now(), rules_of(bot)
    async with bot.sessions() as session:
        try:
            await check_post(session, spec, rules, now)
        except PostError as exc:
            raise _refused(exc) from None
    post = post_from_spec(spec, now)
    return Planned(post, next_occurrences(post, rules.calendar, rules.tz, now, n=n))


async def schedule(bot: BotContext, actor: Actor, spec: PostSpec, n: int = 3) -> Planned:
    """Store a post after the quota, calendar and length checks; returns its next ``n``
    occurrences."""
    now, rules = bot.clock.now(), rules_of(bot)
    async with transaction(bot.sessions) as session:
        try:
            post = await add_post(session, spec, rules, now)
        except PostError as exc:
            raise _refused(exc) from None
        audit(bot, session, actor, "pushes.schedule", post=post.id, kind=post.kind)
    return Planned(post, next_occurrences(post, rules.calendar, rules.tz, now, n=n))


def _missing(post_id: int) -> OperationError:
    return OperationError(
        "reports.ops.push_missing", f"no active post with id {post_id}", number=post_id
    )


async def cancel(bot: BotContext, actor: Actor, post_id: int) -> None:
    """Cancel a post, scheduled or still a draft: nothing more of it goes out (what was sent
    stays sent)."""
    async with transaction(bot.sessions) as session:
        post = await get_post(session, post_id)
        if post is not None and post.status == "draft":
            post.status = "cancelled"
        elif not await cancel_post(session, post_id):
            raise _missing(post_id)
        audit(bot, session, actor, "pushes.cancel", post=post_id)


async def draft(bot: BotContext, actor: Actor, spec: PostSpec) -> CampaignPost:
    """Store a post as a draft waiting for an admin's approval (the scheduler sends only
    approved posts), checked like ``schedule``; admins who asked for it are told."""
    now, rules = bot.clock.now(), rules_of(bot)
    async with transaction(bot.sessions) as session:
        if await quota_conflict(session, spec, rules, now):
            raise OperationError("reports.ops.push_quota", "over the mass-send quota")
        try:
            await check_post(session, spec, rules, now)
        except PostError as exc:
            raise _refused(exc) from None
        post = post_from_spec(spec, now)
        post.status = "draft"
        post.drafted_by = actor.name
        session.add(post)
        await session.flush()
        audit(bot, session, actor, "pushes.draft", post=post.id, kind=post.kind)
    text = bot.texts("console.me.push_waiting", label=post.label, author=actor.name)
    await notify_operators(bot, "pushes", text, besides=actor.name)
    return post


async def approve(bot: BotContext, actor: Actor, post_id: int) -> CampaignPost:
    """Approve a draft: from now on the scheduler sends it (quota checked again; with
    ``[console] two_person_approval`` its author cannot approve it)."""
    now = bot.clock.now()
    async with transaction(bot.sessions) as session:
        post = await get_post(session, post_id)
        if post is None or post.status != "draft":
            raise OperationError("reports.ops.push_not_draft", f"post {post_id} is not a draft")
        if CONSOLE.of(bot.config).two_person_approval and post.drafted_by == actor.name:
            raise OperationError(
                "reports.ops.push_second_person", "another admin must approve this post"
            )
        if post.at is not None and post.at <= now:
            raise OperationError("reports.ops.push_past", "the post's time has passed")
        spec = PostSpec(
            label=post.label,
            kind=post.kind,
            body=body_of(post),
            channels=channels_of(post),
            at=post.at,
            key_date=post.key_date,
            time_of_day=post.time_of_day,
        )
        if await quota_conflict(session, spec, rules_of(bot), now):
            raise OperationError("reports.ops.push_quota", "over the mass-send quota")
        post.status = "active"
        post.approved_by = actor.name
        post.approved_at = now
        audit(bot, session, actor, "pushes.approve", post=post.id)
    return post


async def preview(bot: BotContext, actor: Actor, post_id: int, openid: str) -> RunReport:
    """Send a draft's or a scheduled post's preview to ``openid`` (an operator's own WeChat)
    now (mass/preview)."""
    async with transaction(bot.sessions) as session:
        post = await get_post(session, post_id)
        if post is None or post.status not in ("draft", "active"):
            raise _missing(post_id)
        if "wechat" not in channels_of(post):
            raise OperationError("reports.ops.push_wechat_only", "previews go to WeChat only")
        post.preview_to = openid
        ids = await enqueue_in(session, post, "preview", bot.clock.now())
        audit(bot, session, actor, "pushes.preview", post=post.id, deliveries=len(ids))
    return await _deliver(bot, ids)


async def _deliver(bot: BotContext, ids: list[int], progress: Counter | None = None) -> RunReport:
    report = RunReport()
    if progress is not None:
        progress.total = len(ids)
    for item_id in ids:
        await deliver(bot, item_id, report)
        if progress is not None:
            progress.advance()
    return report


async def active_post(bot: BotContext, post_id: int, purpose: str = "push") -> CampaignPost:
    """Post ``post_id`` if it can still be sent for ``purpose``; refused otherwise."""
    async with bot.sessions() as session:
        post = await get_post(session, post_id)
    if post is None or post.status != PostStatus.ACTIVE:
        raise OperationError(
            "reports.ops.push_missing", f"no active post with id {post_id}", number=post_id
        )
    if purpose == "preview" and not post.preview_to:
        raise OperationError(
            "reports.ops.push_no_preview",
            f"post {post_id} has no --preview-to operators",
            number=post_id,
        )
    return post


async def send_now(
    bot: BotContext,
    actor: Actor,
    post_id: int,
    purpose: str = "push",
    progress: Counter | None = None,
) -> RunReport:
    """Send a post to its audience (``push``, the run-now) or its preview to its operators
    (``preview``) at once: queued in the outbox with the audit row, then delivered."""
    if purpose not in PURPOSES:
        raise OperationError("reports.ops.bad_choice", f"purpose: one of {PURPOSES}", value=purpose)
    post = await active_post(bot, post_id, purpose)
    async with transaction(bot.sessions) as session:
        ids = await enqueue_in(session, post, purpose, bot.clock.now())
        action = "pushes.run_now" if purpose == "push" else "pushes.preview"
        audit(bot, session, actor, action, post=post.id, deliveries=len(ids))
    return await _deliver(bot, ids, progress)
