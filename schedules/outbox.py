"""The push outbox: due occurrences become rows, rows are claimed, sent once, and recorded.

Exactly-once rests on two database facts, not on the scheduler: the UNIQUE key
(post, channel, purpose, occurrence) means an occurrence has one row however many schedulers
look at it, and a conditional UPDATE pending -> sending lets exactly one of them claim it.
A row left in "sending" (the process died mid-send) is reconciled: WeChat gets the same
``clientmsgid`` again, which the platform refuses if the first send went through (45065);
Weibo has no such key, so the row becomes "unknown" for an operator instead of a second post.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bot.kernel.campaign import key_dates
from bot.kernel.clients import ApiError
from bot.kernel.clock import as_utc
from bot.kernel.context import BotContext
from bot.kernel.logs import log_event
from bot.kernel.message import Channel
from schedules.calendar import Calendar, load_calendar
from schedules.delivery import wechat_content, wechat_sendall, weibo_status
from schedules.posts import channels_of, occurrences, placeholder_values
from storage.db import transaction
from storage.schedules import (
    FAILED,
    MISSED,
    PENDING,
    SENDING,
    SENT,
    UNKNOWN,
    CampaignPost,
    OutboxItem,
    PostStatus,
    active_posts,
)

log = logging.getLogger("bot.schedules")

# WeChat: "clientmsgid already used": the earlier mass send went out; do not count it twice.
DUPLICATE_MASS = 45065


class WeiboPoster(Protocol):
    async def share_status(
        self, status: str, *, pic: bytes | None = None, pic_name: str = "pic.jpg"
    ) -> str:
        """Post a status; returns the post id."""
        ...


@dataclass
class RunReport:
    created: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    missed: int = 0
    reconciled: int = 0
    deferred: int = 0  # Weibo posts held back by the spacing
    errors: list[str] = field(default_factory=list)


def calendar_of(bot: BotContext) -> Calendar:
    """The calendar with the campaign's and the config's extra dates, named from content."""
    return load_calendar(key_dates(bot.pack, bot.config.schedules.extra_dates), bot.texts)


def zone_of(bot: BotContext) -> ZoneInfo:
    """The schedules' time zone."""
    return ZoneInfo(bot.config.schedules.timezone)


def client_msg_id(post_id: int, channel: str, purpose: str, occurrence: datetime) -> str:
    """A stable id per delivery (WeChat keeps it 24 h and refuses a repeat)."""
    return f"p{post_id}-{channel[:2]}-{purpose[:2]}-{int(as_utc(occurrence).timestamp())}"


async def run_due(bot: BotContext) -> RunReport:
    """One pass: create due rows, reconcile stale sends, deliver what is due. Idempotent."""
    report = RunReport()
    await materialize(bot, report)
    await reconcile(bot, report)
    async with bot.sessions() as session:
        now = bot.clock.now()
        ids = list(
            (
                await session.execute(
                    select(OutboxItem.id)
                    .where(OutboxItem.status == PENDING, OutboxItem.next_attempt_at <= now)
                    .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
                )
            ).scalars()
        )
        weibo = set(
            (
                await session.execute(
                    select(OutboxItem.id).where(
                        OutboxItem.id.in_(ids), OutboxItem.channel == Channel.WEIBO.value
                    )
                )
            ).scalars()
        )
    for item_id in ids:
        if item_id in weibo and await _weibo_too_soon(bot):
            report.deferred += 1
            continue  # stays pending; a later pass sends it
        await deliver(bot, item_id, report)
    return report


async def _weibo_too_soon(bot: BotContext) -> bool:
    """Whether the last Weibo post (by any process) is more recent than weibo.post_interval."""
    spacing = bot.config.weibo.post_interval_seconds
    if spacing <= 0:
        return False
    async with bot.sessions() as session:
        last = await session.scalar(
            select(func.max(OutboxItem.updated_at)).where(
                OutboxItem.channel == Channel.WEIBO.value,
                OutboxItem.status.in_([SENT, SENDING]),
            )
        )
    return last is not None and bot.clock.now() - as_utc(last) < timedelta(seconds=spacing)


async def materialize(bot: BotContext, report: RunReport) -> None:
    """Insert outbox rows for occurrences (and previews) that are due now."""
    cfg = bot.config.schedules
    calendar, tz = calendar_of(bot), zone_of(bot)
    now = bot.clock.now()
    grace = timedelta(seconds=cfg.misfire_grace_seconds)
    async with transaction(bot.sessions) as session:
        for post in await active_posts(session):
            created = as_utc(post.created_at)
            lead = timedelta(minutes=post.preview_minutes if post.preview_to else 0)
            start = max(created, now - timedelta(days=366))
            for occ in occurrences(post, calendar, tz, start, now + lead + timedelta(seconds=1)):
                wanted: list[tuple[str, str, str]] = []
                if occ <= now:
                    state: str = PENDING if now - occ <= grace else MISSED
                    wanted += [(ch, "push", state) for ch in channels_of(post)]
                elif post.preview_to and occ - lead <= now:
                    wanted.append((Channel.WECHAT.value, "preview", PENDING))
                for channel, purpose, state in wanted:
                    if await _insert(session, post, channel, purpose, occ, state, now):
                        report.created += 1
                        report.missed += state == MISSED


async def _item_id(
    session: Any, post: CampaignPost, channel: str, purpose: str, occ: datetime
) -> int | None:
    """The outbox row of this delivery of ``post``, if there is one."""
    found = await session.scalar(
        select(OutboxItem.id).where(
            OutboxItem.post_id == post.id,
            OutboxItem.channel == channel,
            OutboxItem.purpose == purpose,
            OutboxItem.occurrence == occ,
        )
    )
    return None if found is None else int(found)


async def _insert(
    session: Any,
    post: CampaignPost,
    channel: str,
    purpose: str,
    occ: datetime,
    state: str,
    now: datetime,
) -> bool:
    if await _item_id(session, post, channel, purpose, occ) is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(
                OutboxItem(
                    post_id=post.id,
                    channel=channel,
                    purpose=purpose,
                    occurrence=occ,
                    status=state,
                    attempts=0,
                    next_attempt_at=now,
                    client_msg_id=client_msg_id(post.id, channel, purpose, occ),
                    error="scheduler was not running at the time" if state == MISSED else None,
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError:
        return False  # another scheduler created it a moment ago
    return True


async def reconcile(bot: BotContext, report: RunReport) -> None:
    """Deal with rows a crashed process left in "sending"."""
    now = bot.clock.now()
    cutoff = now - timedelta(seconds=bot.config.schedules.stale_sending_seconds)
    async with transaction(bot.sessions) as session:
        stale = list(
            (
                await session.execute(
                    select(OutboxItem).where(
                        OutboxItem.status == SENDING, OutboxItem.updated_at < cutoff
                    )
                )
            ).scalars()
        )
        for item in stale:
            resend = item.channel == Channel.WECHAT.value and item.purpose == "push"
            values: dict[str, Any] = {"updated_at": now}
            if resend:
                # Same clientmsgid: the platform refuses it if the first attempt went out.
                values.update(status=PENDING, next_attempt_at=now)
            else:
                values.update(
                    status=UNKNOWN,
                    error="interrupted while sending; not re-sent because the platform cannot "
                    "tell whether it went out: check the account, then use schedule run-now",
                )
            result: Any = await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item.id, OutboxItem.status == SENDING)
                .values(**values)
            )
            if result.rowcount:
                report.reconciled += 1
                log_event(log, "outbox_reconciled", item=item.id, resend=resend)


async def claim(bot: BotContext, item_id: int) -> bool:
    """pending -> sending for exactly one caller."""
    now = bot.clock.now()
    async with transaction(bot.sessions) as session:
        result: Any = await session.execute(
            update(OutboxItem)
            .where(
                OutboxItem.id == item_id,
                OutboxItem.status == PENDING,
                OutboxItem.next_attempt_at <= now,
            )
            .values(status=SENDING, attempts=OutboxItem.attempts + 1, updated_at=now)
        )
        return bool(result.rowcount)


async def deliver(bot: BotContext, item_id: int, report: RunReport) -> None:
    """Claim one row, send it, record the outcome (retry with backoff, then failed)."""
    if not await claim(bot, item_id):
        return
    async with bot.sessions() as session:
        item = await session.get(OutboxItem, item_id)
        post = await session.get(CampaignPost, item.post_id) if item else None
    assert item is not None
    # A console draft may be previewed to an operator before it is approved; never pushed.
    sendable = (
        (PostStatus.ACTIVE, PostStatus.DRAFT) if item.purpose == "preview" else (PostStatus.ACTIVE,)
    )
    if post is None or post.status not in sendable:
        await _finish(bot, item_id, status=FAILED, error="post cancelled before sending")
        report.failed += 1
        return
    if Channel(item.channel) not in bot.clients:
        error = f"{item.channel} is not configured in this deployment: nothing was sent"
        await _finish(bot, item_id, status=FAILED, error=error)
        report.failed += 1
        report.errors.append(error)
        return
    try:
        platform_id = await send_item(bot, post, item)
    except (ApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        await _after_error(bot, item, exc, report)
        return
    await _finish(bot, item_id, status=SENT, platform_id=platform_id, error=None)
    report.sent += 1
    log_event(log, "outbox_sent", item=item_id, post=post.id, channel=item.channel)


async def _after_error(
    bot: BotContext, item: OutboxItem, exc: Exception, report: RunReport
) -> None:
    code = getattr(exc, "code", None)
    if code == DUPLICATE_MASS:
        await _finish(bot, item.id, status=SENT, error="platform refused a repeat: already sent")
        report.sent += 1
        return
    cfg = bot.config.schedules
    error = f"{type(exc).__name__}: {exc}"
    report.errors.append(error)
    attempts = item.attempts  # read after the claim, which counted this attempt
    if attempts >= cfg.max_attempts:
        await _finish(bot, item.id, status=FAILED, error=error)
        report.failed += 1
        log_event(log, "outbox_failed", logging.WARNING, item=item.id, errcode=code)
        return
    delay = timedelta(seconds=cfg.backoff_seconds * 2 ** (attempts - 1))
    await _finish(
        bot, item.id, status=PENDING, error=error, next_attempt_at=bot.clock.now() + delay
    )
    report.retried += 1
    log_event(log, "outbox_retry", item=item.id, errcode=code, delay=delay.total_seconds())


async def _finish(bot: BotContext, item_id: int, **values: Any) -> None:
    async with transaction(bot.sessions) as session:
        await session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == item_id, OutboxItem.status == SENDING)
            .values(updated_at=bot.clock.now(), **values)
        )


async def send_item(bot: BotContext, post: CampaignPost, item: OutboxItem) -> str:
    """Send one delivery; returns the platform's id."""
    occ = as_utc(item.occurrence)
    values = placeholder_values(post, calendar_of(bot), zone_of(bot), occ)
    if item.channel == Channel.WEIBO.value:
        status = weibo_status(post, values)
        client: WeiboPoster = bot.client(Channel.WEIBO)  # type: ignore[assignment]
        pic = await asyncio.to_thread(Path(status.pic_path).read_bytes) if status.pic_path else None
        name = Path(status.pic_path).name if status.pic_path else "pic.jpg"
        return await client.share_status(status.text, pic=pic, pic_name=name)
    wechat: Any = bot.client(Channel.WECHAT)

    async def upload(path: str, media_type: str) -> str:
        return str(await wechat.upload_media(path, media_type))

    async def news(articles_json: str, _kind: str) -> str:
        data = await wechat.call(
            "POST", "/cgi-bin/media/uploadnews", json_body=json.loads(articles_json)
        )
        return str(data["media_id"])

    content = await wechat_content(post, values, upload, news)
    if item.purpose == "preview":
        ids = []
        for openid in [o for o in post.preview_to.split(",") if o]:
            data = await wechat.call(
                "POST", "/cgi-bin/message/mass/preview", json_body={"touser": openid, **content}
            )
            ids.append(str(data.get("msg_id", "")))
        return ",".join(i for i in ids if i) or "preview"
    body = wechat_sendall(content, post.tag_id, item.client_msg_id)
    data = await wechat.call("POST", "/cgi-bin/message/mass/sendall", json_body=body)
    return str(data.get("msg_id", ""))


async def describe(bot: BotContext, post: CampaignPost, occ: datetime, purpose: str) -> list[str]:
    """Exactly what would go out where for one occurrence (uploads named, not made)."""
    values = placeholder_values(post, calendar_of(bot), zone_of(bot), occ)
    when = occ.astimezone(zone_of(bot)).strftime("%Y-%m-%d %H:%M")

    async def upload(path: str, media_type: str) -> str:
        return f"<media_id of {media_type} upload {path}>"

    async def news(articles_json: str, _kind: str) -> str:
        return f"<media_id of media/uploadnews {articles_json}>"

    lines: list[str] = []
    channels = ["wechat"] if purpose == "preview" else channels_of(post)
    for channel in channels:
        if channel == Channel.WEIBO.value:
            status = weibo_status(post, values)
            pic = f" with picture {status.pic_path}" if status.pic_path else ""
            lines.append(f"[{when}] weibo statuses/share{pic}: {status.text}")
            continue
        content = await wechat_content(post, values, upload, news)
        if purpose == "preview":
            for openid in [o for o in post.preview_to.split(",") if o]:
                body = json.dumps({"touser": openid, **content}, ensure_ascii=False)
                lines.append(f"[{when}] wechat mass/preview to {openid}: {body}")
            continue
        # An unsaved post (add --dry-run) gets its id, and so its clientmsgid, when saved.
        cid = client_msg_id(post.id, channel, purpose, occ) if post.id else "<set when saved>"
        body = json.dumps(wechat_sendall(content, post.tag_id, cid), ensure_ascii=False)
        audience = "all followers" if post.tag_id is None else f"tag {post.tag_id}"
        lines.append(f"[{when}] wechat mass/sendall to {audience}: {body}")
    return lines


async def enqueue_now(bot: BotContext, post: CampaignPost, purpose: str = "push") -> list[int]:
    """Outbox rows for an immediate delivery of ``post`` (operator's run-now / preview)."""
    async with transaction(bot.sessions) as session:
        return await enqueue_in(session, post, purpose, bot.clock.now())


async def enqueue_in(session: Any, post: CampaignPost, purpose: str, now: datetime) -> list[int]:
    """``enqueue_now`` inside the caller's transaction (an operation audits in the same one)."""
    ids: list[int] = []
    channels = ["wechat"] if purpose == "preview" else channels_of(post)
    for channel in channels:
        await _insert(session, post, channel, purpose, now, PENDING, now)
        item_id = await _item_id(session, post, channel, purpose, now)
        if item_id is not None:
            ids.append(item_id)
    return ids


async def record_mass_report(session: Any, msg_id: str, report: dict[str, str]) -> bool:
    """Store WeChat's MASSSENDJOBFINISH report on the outbox row with that msg_id."""
    result: Any = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.channel == Channel.WECHAT.value, OutboxItem.platform_id == msg_id)
        .values(report=json.dumps(report, ensure_ascii=False))
    )
    return bool(result.rowcount)
