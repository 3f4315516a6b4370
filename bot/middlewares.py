"""Middlewares around dispatch, each a small class with one job (aiogram's pattern).

Two places to stand, as aiogram's outer and inner middlewares:

- around a message (``Inbound -> Result``), before the dispatcher chooses a path:
  ``RateLimit`` (cheap refusal first) and ``FailureApology`` (anything that escapes becomes the
  apology, logged once);
- around the handler call on the transactional path (``Ctx -> Reply | None``), inside the
  transaction that claims the message key: ``FollowerTracking`` and ``PendingNotices``. Pure
  messages never need them: events always take the transactional path, and so does a user
  with a notice waiting (the state probe says so).

The dispatcher keeps what is not a wrapper: the message-key claim, the deadline and late
delivery.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import aiohttp

from bot.kernel.clients import ApiError
from bot.kernel.context import BotContext
from bot.kernel.logs import log_event
from bot.kernel.message import Event, Inbound, Kind, Reply, ReplyKind
from handlers.context import Ctx
from storage.db import transaction
from storage.followers import record_follow_event
from storage.notices import claim_notices, pending_notices, release_notices

log = logging.getLogger("bot.dispatch")


class Outcome(StrEnum):
    REPLIED = "replied"  # passive reply in time
    EMPTY = "empty"  # handled, nothing to say
    DUPLICATE = "duplicate"  # a retry answered from the cache
    LATE = "late"  # deadline passed; reply goes out by API
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"  # something raised; the user got an apology


@dataclass
class Result:
    reply: Reply | None
    outcome: Outcome
    handler: str = ""


def log_message_event(name: str, level: int, msg: Inbound, **fields: Any) -> None:
    """One structured line about ``msg`` (never its text: it may hold personal data)."""
    log_event(log, name, level, channel=msg.channel.value, user=msg.user, key=msg.key, **fields)


MessageHandler = Callable[[Inbound], Awaitable[Result]]
CallHandler = Callable[[Ctx], Awaitable["Reply | None"]]


class MessageMiddleware(Protocol):
    async def __call__(self, handler: MessageHandler, msg: Inbound) -> Result:
        """Handle ``msg``, calling ``handler`` to go on (or not)."""
        ...


class CallMiddleware(Protocol):
    async def __call__(self, handler: CallHandler, ctx: Ctx) -> Reply | None:
        """Handle ``ctx`` inside the message's transaction, calling ``handler`` to go on."""
        ...


def wrap_messages(
    middlewares: Sequence[MessageMiddleware], handler: MessageHandler
) -> MessageHandler:
    """``handler`` behind ``middlewares``, the first outermost."""
    for middleware in reversed(middlewares):
        handler = functools.partial(middleware, handler)
    return handler


def wrap_calls(middlewares: Sequence[CallMiddleware], handler: CallHandler) -> CallHandler:
    """``handler`` behind ``middlewares``, the first outermost."""
    for middleware in reversed(middlewares):
        handler = functools.partial(middleware, handler)
    return handler


# -- around a message -----------------------------------------------------------------------


class RateLimit:
    """At most ``limit`` messages per user per minute, per process (a politeness limit).

    A platform retry carries the key of a message already seen: it is not counted again and
    gets the first delivery's verdict, so a retried message reaches the dispatcher (and its
    cached answer) whenever the first did.
    """

    KEYS_KEPT = 64  # per user: retries come within seconds, after a handful of messages at most

    def __init__(
        self,
        limit: int,
        too_fast: Callable[[], Reply],
        max_users: int = 100_000,
        shared: Any = None,
    ) -> None:
        self.limit = limit
        self.too_fast = too_fast
        self.max_users = max_users
        # With several processes: anything with allow(user, now) -> bool counting across them
        # (storage.ratelimit.SharedRateLimiter, wall-clock time); retries are still answered here.
        self.shared = shared
        self._senders: OrderedDict[str, tuple[deque[float], dict[str, bool]]] = OrderedDict()

    def allow(self, user: str, key: str, now: float) -> bool:
        """Record message ``key`` of ``user``; False when over the limit."""
        # Per user: the times of the counted messages in the last minute, and recent message
        # keys with their verdicts (a plain dict, oldest first: cheaper to make than an
        # OrderedDict, and most users send a message or two).
        sender = self._senders.get(user)
        if sender is None:
            hits: deque[float] = deque()
            keys: dict[str, bool] = {}
            self._senders[user] = (hits, keys)
            if len(self._senders) > self.max_users:
                self._senders.popitem(last=False)
        else:
            self._senders.move_to_end(user)
            hits, keys = sender
            verdict = keys.get(key)
            if verdict is not None:
                return verdict
        if self.shared is not None:
            allowed = bool(self.shared.allow(user, time.time()))
        else:
            while hits and now - hits[0] > 60:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
        keys[key] = allowed
        if len(keys) > self.KEYS_KEPT:
            del keys[next(iter(keys))]
        return allowed

    async def __call__(self, handler: MessageHandler, msg: Inbound) -> Result:
        if not self.allow(f"{msg.channel}:{msg.user}", msg.key, time.monotonic()):
            return Result(self.too_fast(), Outcome.RATE_LIMITED)
        return await handler(msg)


class FailureApology:
    """Whatever fails becomes the apology, logged once: never a 500, never silence.

    As a middleware it catches what escapes the dispatcher (the state probe or the cache read
    meeting a database error); the dispatcher calls ``answer`` for failures inside a message's
    transaction, which it must roll back and record first.
    """

    def __init__(self, apology: Callable[[], Reply]) -> None:
        self.apology = apology

    def answer(self, msg: Inbound, handler: str, exc: BaseException, **fields: Any) -> Reply:
        """The apology for ``msg``; logs one line (no message text: it may be personal)."""
        log_message_event(
            "handler_failed",
            logging.ERROR,
            msg,
            kind=msg.kind.value,
            handler=handler,
            error=f"{type(exc).__name__}: {exc}",
            **fields,
        )
        log.debug("handler traceback", exc_info=exc)
        return self.apology()

    async def __call__(self, handler: MessageHandler, msg: Inbound) -> Result:
        try:
            return await handler(msg)
        except Exception as exc:
            return Result(self.answer(msg, "dispatch", exc), Outcome.FAILED, "dispatch")


# -- around the handler call (transactional path) ---------------------------------------------

_FOLLOW_EVENTS = frozenset({Event.SUBSCRIBE, Event.UNSUBSCRIBE, Event.SCAN})


class FollowerTracking:
    """A subscribe, unsubscribe or QR scan updates the follower row and the day's counters, in
    the transaction of the event's key: a retried event counts once."""

    async def __call__(self, handler: CallHandler, ctx: Ctx) -> Reply | None:
        msg = ctx.inbound
        if msg.event in _FOLLOW_EVENTS:
            await record_follow_event(
                ctx.session,
                channel=msg.channel.value,
                account=msg.account,
                user_id=msg.user,
                follow=msg.event is Event.SUBSCRIBE,
                scan=msg.event is Event.SCAN,
                scene=msg.scene,
                now=ctx.bot.clock.now(),
            )
        return await handler(ctx)


class PendingNotices:
    """Notices waiting for the user (and an expired flow's notice) shown with the reply.

    A notice is marked delivered only once it is shown: in front of a text reply, in the
    message's transaction; after an image or news reply, which cannot carry it, as a message
    of its own once the reply is committed (it stays pending if that send fails).
    """

    async def __call__(self, handler: CallHandler, ctx: Ctx) -> Reply | None:
        msg = ctx.inbound
        rows = [] if msg.kind is Kind.EVENT else await pending_notices(ctx.session, msg.user_key)
        ctx.notices.extend(row.text for row in rows)
        reply = await handler(ctx)
        if not ctx.notices:
            return reply
        if reply is None or reply.kind is ReplyKind.TEXT:
            await claim_notices(ctx.session, [row.id for row in rows], ctx.bot.clock.now())
            text = "\n\n".join(ctx.notices)
            return reply.prefixed(text) if reply is not None else Reply.of_text(text)
        stored = [(row.id, row.text) for row in rows]
        unstored = ctx.notices[len(rows) :]
        ctx.after_commit.append(functools.partial(send_apart, ctx.bot, msg, stored, unstored))
        return reply


async def send_apart(
    bot: BotContext, msg: Inbound, stored: list[tuple[int, str]], unstored: list[str]
) -> None:
    """Send notices as a message of their own: the stored ones claimed first (another delivery
    may have shown them meanwhile), released again when the send fails."""
    try:
        async with transaction(bot.sessions) as session:
            taken = set(await claim_notices(session, [i for i, _ in stored], bot.clock.now()))
        texts = [text for i, text in stored if i in taken] + unstored
        if not texts:
            return
        try:
            await bot.client(msg.channel).send_reply(msg.user, Reply.of_text("\n\n".join(texts)))
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            log_message_event("notice_send_failed", logging.WARNING, msg, error=error)
            async with transaction(bot.sessions) as session:
                await release_notices(session, list(taken))
    except Exception:  # a follow-up task: report, never lose the loop
        log.exception("sending notices apart failed")
