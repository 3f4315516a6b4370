"""The operator inbox: filing messages, and the operator actions on them.

Each action is one function (validate, write, audit, notify) that the CLI and the console
both call. Replies go through the channel's customer-service API only inside the platform's
window (``[inbox] *_window_hours`` after the person's last message, at most
``*_max_replies`` replies in it); otherwise the reply is kept as a notice the dispatcher puts
in front of the answer to the person's next message. The API call happens with no
transaction open: a SQLite write transaction would hold up every webhook meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import ClientError

from bot.kernel.clients import ApiError
from bot.kernel.clock import as_utc
from bot.kernel.config import ConfigError, ConfigSection, require_positive
from bot.kernel.context import BotContext
from bot.kernel.logs import log_event
from bot.kernel.message import Channel, Reply, UserKey
from bot.kernel.privacy import redact
from handlers.context import Ctx
from handlers.feature import ConsolePage, Feature, content_file
from handlers.notify import last_message_at, tell_then
from handlers.operations import SYSTEM, Actor, OperationError, audit
from handlers.operators import notify_operators
from storage.db import Session, transaction
from storage.inbox import (
    OPEN_STATUSES,
    STATUSES,
    DutyOperator,
    InboxItem,
    InboxReply,
    ItemStatus,
    ReplyStatus,
    add_item,
    duty_roster,
    get_item,
    list_items,
    on_duty,
    person_items,
    purge_done,
    replies_of,
    sent_since,
    set_duty,
)
from storage.messages import recent_texts
from storage.notices import add_notice

log = logging.getLogger("bot.inbox")


@dataclass(frozen=True)
class InboxConfig:
    # Customer-service messages: only within this many hours of the person's last message,
    # and at most this many in that window (WeChat's rules); otherwise the reply is kept and
    # delivered in front of the answer to their next message.
    wechat_window_hours: int = 48
    wechat_max_replies: int = 5
    # [uncertain] Weibo's active replies: 48 h is documented; the count limit is not.
    weibo_window_hours: int = 48
    weibo_max_replies: int = 5
    # Messages of the person's recent history `inbox show` lists (masked).
    history_messages: int = 10
    # Watchlist (handlers/content/watchlist.toml) flags inbound free text.
    watchlist: bool = True
    # Flags of this severity or more notify on-duty operators at once (3: critical only).
    alert_severity: int = 3
    # Answered and closed items (the texts people sent) are deleted this long after their
    # last change; open ones stay until someone deals with them.
    retention_days: int = 180


def validate(inbox: InboxConfig) -> None:
    """Refuse windows and counts out of range, naming the key."""
    for key in ("wechat_window_hours", "weibo_window_hours"):
        if not 1 <= getattr(inbox, key) <= 24 * 30:
            raise ConfigError(f"inbox.{key}: must be between 1 and 720")
    require_positive(
        "inbox",
        inbox,
        "wechat_max_replies",
        "weibo_max_replies",
        "history_messages",
        "retention_days",
    )
    if not 1 <= inbox.alert_severity <= 3:
        raise ConfigError("inbox.alert_severity: must be between 1 and 3")


INBOX = ConfigSection("inbox", InboxConfig, validate)

ALERT_TASKS = "inbox_alerts"
MAX_REPLY_CHARS = 600


class InboxError(OperationError, ValueError):
    """An operator action on the inbox that cannot be done: its Chinese text in
    ``reports.ops``, its English line for the CLI (still a ValueError for callers that catch
    that)."""


@dataclass(frozen=True)
class Window:
    """Whether a person can be messaged now, and how many replies are left."""

    last_message_at: datetime | None
    closes_at: datetime | None
    sent: int
    limit: int
    open: bool

    @property
    def left(self) -> int:
        return max(0, self.limit - self.sent) if self.open else 0


@dataclass(frozen=True)
class ReplyResult:
    reply_id: int
    status: ReplyStatus  # sent or queued
    window: Window


@dataclass
class PersonGroup:
    channel: str
    account: str
    user_id: str
    items: list[InboxItem] = field(default_factory=list)


@dataclass(frozen=True)
class ItemDetail:
    item: InboxItem
    text: str  # masked
    history: list[tuple[datetime, str]]  # the person's recent messages, masked
    replies: list[InboxReply]
    window: Window


def _limits(bot: BotContext, channel: Channel) -> tuple[int, int]:
    cfg = INBOX.of(bot.config)
    if channel is Channel.WEIBO:
        return cfg.weibo_window_hours, cfg.weibo_max_replies
    return cfg.wechat_window_hours, cfg.wechat_max_replies


async def window(bot: BotContext, session: Session, key: UserKey) -> Window:
    """The person's customer-service window as of now."""
    hours, limit = _limits(bot, key.channel)
    last = await last_message_at(session, key)
    if last is None:
        return Window(None, None, 0, limit, False)
    closes = last + timedelta(hours=hours)
    # The count starts again with each message of theirs (the platform's rule).
    sent = await sent_since(session, key, last)
    return Window(last, closes, sent, limit, bot.clock.now() < closes and sent < limit)


def masked(bot: BotContext, item: InboxItem) -> str:
    """The item's text with phone and ID numbers masked."""
    try:
        return redact(bot.cipher.decrypt(item.text_enc))
    except ValueError:  # the data key changed since: nothing readable left
        return ""


# -- filing (inside the message's transaction) ---------------------------------------------------


async def file_message(
    ctx: Ctx, reason: str, category: str = "", severity: int = 0, text: str | None = None
) -> InboxItem | None:
    """Put the message (or ``text`` it stands for, e.g. a submitted story) in the inbox;
    None when a retry of it is there already."""
    msg = ctx.inbound
    return await add_item(
        ctx.session,
        channel=msg.channel.value,
        account=msg.account,
        user_id=msg.user,
        msg_key=msg.key,
        text_enc=ctx.bot.cipher.encrypt(msg.text or "" if text is None else text),
        reason=reason,
        category=category,
        severity=severity,
        now=ctx.bot.clock.now(),
    )


def alert_on_duty(bot: BotContext, item_id: int, title: str, account: str) -> None:
    """Tell every on-duty operator about item ``item_id`` at once, in the background (after
    the message's transaction; the text names the category and number only, no content)."""
    tasks: set[asyncio.Task[None]] = bot.extras.setdefault(ALERT_TASKS, set())
    task = asyncio.create_task(_alert(bot, item_id, title, account))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _alert(bot: BotContext, item_id: int, title: str, account: str) -> None:
    text = bot.texts("watchlist.texts.alert", title=title, item=item_id)
    try:
        async with bot.sessions() as session:
            operators = [(o.name, o.channel, o.user_id) for o in await on_duty(session)]

        for name, channel, user_id in operators:

            async def record(session: Session, name: str = name) -> None:
                audit(bot, session, SYSTEM, "inbox.alert", item=item_id, operator=name)

            how = await tell_then(bot, UserKey(Channel(channel), account, user_id), text, record)
            log_event(log, "inbox_alert", item=item_id, operator=name, delivered=how)
        # Console operators who bound their WeChat and asked for flagged messages.
        told = await notify_operators(
            bot, "inbox", bot.texts("console.me.inbox_flagged", category=title, item=item_id)
        )
        if not operators and not told:
            log_event(log, "inbox_alert_nobody_on_duty", logging.WARNING, item=item_id)
    except Exception:
        log.exception("on-duty alert failed")


async def drain_alerts(bot: BotContext) -> None:
    """Wait for alerts in flight (shutdown, tests)."""
    tasks: set[asyncio.Task[None]] = bot.extras.get(ALERT_TASKS, set())
    while tasks:
        await asyncio.gather(*list(tasks), return_exceptions=True)


# -- operator actions ----------------------------------------------------------------------------


def _closed(item_id: int) -> InboxError:
    return InboxError("reports.ops.inbox_closed", f"inbox item {item_id} is closed", number=item_id)


async def _item(session: Session, item_id: int) -> InboxItem:
    item = await get_item(session, item_id)
    if item is None:
        raise InboxError("reports.ops.inbox_missing", f"no inbox item {item_id}", number=item_id)
    return item


async def groups(bot: BotContext, statuses: Sequence[str] = OPEN_STATUSES) -> list[PersonGroup]:
    """Items in ``statuses`` grouped by person, the most urgent person first."""
    for status in statuses:
        if status not in STATUSES:
            raise InboxError(
                "reports.ops.bad_choice",
                f"unknown status {status!r} (one of {', '.join(STATUSES)})",
                value=status,
            )
    async with bot.sessions() as session:
        items = await list_items(session, tuple(statuses))
    out: dict[tuple[str, str, str], PersonGroup] = {}
    for item in items:  # already most severe, then oldest, first
        key = (item.channel, item.account, item.user_id)
        out.setdefault(key, PersonGroup(*key)).items.append(item)
    return list(out.values())


async def detail(bot: BotContext, item_id: int) -> ItemDetail:
    """One item with the person's recent history, the replies and the reply window."""
    async with bot.sessions() as session:
        item = await _item(session, item_id)
        limit = INBOX.of(bot.config).history_messages
        rows = await recent_texts(session, item.user_key, limit)
        # The log keeps texts redacted already; answers inside flows are not kept at all.
        history = [(as_utc(at), redact(text)) for at, text in rows]
        replies = await replies_of(session, item.id)
        win = await window(bot, session, item.user_key)
    return ItemDetail(item, masked(bot, item), history, replies, win)


async def reply(bot: BotContext, item_id: int, actor: Actor, text: str) -> ReplyResult:
    """Answer an item: by customer-service message inside the window, else kept as a notice
    for the person's next message. Audited; the item becomes answered."""
    text = text.strip()
    if not text:
        raise InboxError("reports.ops.inbox_reply_empty", "the reply is empty")
    if len(text) > MAX_REPLY_CHARS:
        raise InboxError(
            "reports.ops.inbox_reply_long",
            f"the reply is longer than {MAX_REPLY_CHARS} characters",
            limit=MAX_REPLY_CHARS,
        )
    async with bot.sessions() as session:
        item = await _item(session, item_id)
        if item.status == ItemStatus.CLOSED:
            raise _closed(item_id)
        key = item.user_key
        win = await window(bot, session, key)
    status = ReplyStatus.QUEUED
    if win.open:
        try:
            await bot.client(key.channel).send_reply(key.user, Reply.of_text(text))
            status = ReplyStatus.SENT
        except (ApiError, KeyError, ClientError, TimeoutError) as exc:
            # The platform knows best (45015 window closed, 45047 count reached): keep it.
            log_event(log, "inbox_reply_not_sent", logging.WARNING, item=item_id, error=str(exc))
    now = bot.clock.now()
    async with transaction(bot.sessions) as session:
        item = await _item(session, item_id)
        if status is ReplyStatus.QUEUED:
            add_notice(session, key, bot.texts("inbox.texts.notice", text=text), now)
        row = InboxReply(
            item_id=item.id,
            **InboxReply.columns_of(key),
            operator=actor.name,
            text=text,
            status=status.value,
            at=now,
        )
        session.add(row)
        item.status, item.answered_at, item.updated_at = ItemStatus.ANSWERED.value, now, now
        if item.assignee is None:
            item.assignee = actor.name
        await session.flush()
        audit(bot, session, actor, "inbox.reply", item=item.id, reply=row.id, status=status.value)
        reply_id = row.id
    sent = win.sent + (1 if status is ReplyStatus.SENT else 0)
    after = Window(
        win.last_message_at, win.closes_at, sent, win.limit, win.open and sent < win.limit
    )
    return ReplyResult(reply_id, status, after)


async def assign(bot: BotContext, item_id: int, actor: Actor, assignee: str) -> InboxItem:
    """Give an item to ``assignee``."""
    if not assignee.strip():
        raise InboxError("reports.ops.inbox_assignee", "the assignee is empty")
    async with transaction(bot.sessions) as session:
        item = await _item(session, item_id)
        if item.status == ItemStatus.CLOSED:
            raise _closed(item_id)
        item.assignee = assignee.strip()[:64]
        if item.status == ItemStatus.NEW:
            item.status = ItemStatus.ASSIGNED.value
        item.updated_at = bot.clock.now()
        audit(bot, session, actor, "inbox.assign", item=item.id, to=item.assignee)
    return item


async def close(bot: BotContext, item_id: int, actor: Actor) -> InboxItem:
    """Close an item (nothing more to do)."""
    async with transaction(bot.sessions) as session:
        item = await _item(session, item_id)
        item.status, item.updated_at = ItemStatus.CLOSED.value, bot.clock.now()
        audit(bot, session, actor, "inbox.close", item=item.id)
    return item


async def person_history(bot: BotContext, item: InboxItem) -> list[InboxItem]:
    """The person's other inbox items, newest first."""
    async with bot.sessions() as session:
        return await person_items(session, item.user_key)


# -- the duty roster ----------------------------------------------------------------------------

DUTY_CHANNELS = ("wechat", "weibo")
_DUTY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


async def roster(bot: BotContext) -> list[DutyOperator]:
    """Every operator on the duty roster, on duty or not."""
    async with bot.sessions() as session:
        return await duty_roster(session)


async def duty(
    bot: BotContext,
    actor: Actor,
    name: str,
    *,
    channel: str | None = None,
    user_id: str | None = None,
    on: bool | None = None,
) -> DutyOperator:
    """Add an operator to the duty roster or change their entry: the account they are told on
    (their own openid or Weibo uid) and whether they are on duty. Audited."""
    name = name.strip()
    if not name or len(name) > 64:
        raise InboxError("reports.ops.inbox_duty_name", "the operator's name is empty or long")
    if channel is not None and channel not in DUTY_CHANNELS:
        raise InboxError("reports.ops.inbox_duty_channel", f"unknown channel {channel!r}")
    if user_id is not None:
        user_id = user_id.strip()
        if user_id and not _DUTY_ID.fullmatch(user_id):
            raise InboxError("reports.ops.inbox_duty_account", "not an openid or Weibo uid")
    async with transaction(bot.sessions) as session:
        row = await set_duty(
            session, name, bot.clock.now(), channel=channel, user_id=user_id, on=on
        )
        audit(bot, session, actor, "inbox.duty", operator=name, on=row.on_duty)
        return row


async def purge_old_items(bot: BotContext, now: datetime) -> int:
    """Delete answered and closed items past ``[inbox] retention_days``; returns how many."""
    keep = timedelta(days=INBOX.of(bot.config).retention_days)
    async with transaction(bot.sessions) as session:
        return await purge_done(session, now - keep)


FEATURE = Feature(
    name="inbox",
    cli=["bot.cli.inbox:register"],
    config=INBOX,
    console=[
        ConsolePage("/inbox", "console.nav.inbox", "bot.console.sections.inbox:section", "viewer")
    ],
    content=[content_file("inbox")],
    purges=[purge_old_items],
    on_stop=[drain_alerts],
    audit_actions=[
        "inbox.reply",
        "inbox.assign",
        "inbox.close",
        "inbox.alert",
        "inbox.duty",
    ],
)
