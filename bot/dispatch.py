"""Dispatch: dedupe, rate limit, flows and routers, the reply deadline and late delivery.

Exactly-once: the handler's database work and the ``inbound_messages`` row that claims the
message key commit in one transaction. A retry of the same key (concurrent or later, in this
process or another) fails the unique constraint and answers from the cached reply instead of
running the handler again. If the handler fails, nothing it wrote survives.

Pure handlers (keyword answers, the fallback; routes registered with ``pure=True``) change
nothing, so their messages skip the transaction: one cheap read checks that the user is in no
flow and has no notice waiting, the answer is computed inline, and the message-log row is
written behind in batches (``storage.hotpath``). A retried pure message simply gets the same
answer; a pure handler cut off by the deadline is simply run again for the late reply.

Deadline: WeChat and Weibo give up after 5 s. If the handler is not done by the configured
deadline the request answers with nothing (``success``) and the handler's reply goes out later
through the channel's API; the row's status records which path was taken so a retry never
delivers twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clients.base import ApiError
from bot.clock import local
from bot.context import BotContext
from bot.logs import log_event
from bot.message import Event, Inbound, Kind, Reply, ReplyKind
from bot.privacy import redact
from handlers.context import Ctx
from handlers.conversation import ConversationEngine
from handlers.router import Route, Router, first_match
from storage.db import transaction
from storage.followers import count_follow
from storage.hotpath import MessageLogWriter, StateProbe
from storage.models import Follower, InboundMessage, Notice

log = logging.getLogger("bot.dispatch")


def _logged_text(msg: Inbound) -> str | None:
    """The text the message log keeps: phone and ID numbers masked, truncated."""
    return redact(msg.text)[:500] if msg.text else None


def _log_failure(msg: Inbound, handler: str, exc: Exception) -> None:
    """One log line for a handler that raised (no message text: it may hold personal data)."""
    log_event(
        log,
        "handler_failed",
        logging.ERROR,
        channel=msg.channel.value,
        user=msg.user,
        kind=msg.kind.value,
        key=msg.key,
        handler=handler,
        error=f"{type(exc).__name__}: {exc}",
    )
    log.debug("handler traceback", exc_info=exc)


class Outcome(StrEnum):
    REPLIED = "replied"  # passive reply in time
    EMPTY = "empty"  # handled, nothing to say
    DUPLICATE = "duplicate"  # a retry answered from the cache
    LATE = "late"  # deadline passed; reply goes out by API
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"  # the handler raised; the user got an apology


@dataclass
class Result:
    reply: Reply | None
    outcome: Outcome
    handler: str = ""


@dataclass
class _Progress:
    """Shared between a request and its handler task (same event loop, no real races)."""

    responded: bool = False  # the request already answered 'success'
    committing: bool = False  # the task decided on a passive reply and is committing
    handler: str = ""
    private: bool = False  # the message was an answer inside a flow (see Ctx.private)


class RateLimiter:
    """At most ``limit`` messages per user per minute, per process (a politeness limit)."""

    def __init__(self, limit: int, max_users: int = 100_000) -> None:
        self.limit = limit
        self.max_users = max_users
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        """Record a hit for ``key``; False when over the limit."""
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            if len(self._hits) > self.max_users:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and now - hits[0] > 60:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True


@dataclass(slots=True)
class _Watch:
    task: asyncio.Task[Any]
    deadline: float
    released: bool = False
    expired: bool = False


class Deadlines:
    """One deadline for every message on the pure path, enforced by a single timer.

    A timer per message cost more than the keyword answer itself: asyncio keeps timers in a
    heap of TimerHandles compared in Python, and asyncio.timeout adds its own bookkeeping.
    Every message gets the same allowance, so the one to expire next is always the oldest still
    watched: a FIFO, and one timer set for the deadline at its head. A task still watched at its
    deadline is cancelled, as asyncio.timeout would cancel it.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._watched: deque[_Watch] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self) -> _Watch:
        """Watch the current task; release it with ``release``."""
        task = asyncio.current_task()
        assert task is not None, "Deadlines.watch runs inside a request's task"
        loop = task.get_loop()
        watch = _Watch(task, loop.time() + self.seconds)
        self._watched.append(watch)
        if self._timer is None or self._loop is not loop:  # a new loop: start its timer
            self._loop = loop
            self._timer = loop.call_at(watch.deadline, self._expire)
        return watch

    def release(self, watch: _Watch) -> bool:
        """Stop watching; whether the deadline cancelled the task (that cancellation is then
        withdrawn, so ``task.cancelling()`` counts only cancellations from elsewhere)."""
        watch.released = True
        watched = self._watched
        while watched and watched[0].released:  # tasks finish roughly in order
            watched.popleft()
        if watch.expired:
            watch.task.uncancel()
        return watch.expired

    def _expire(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        watched = self._watched
        while watched and (watched[0].released or watched[0].deadline <= now):
            watch = watched.popleft()
            if not watch.released:
                watch.expired = True
                watch.task.cancel()
        self._timer = self._loop.call_at(watched[0].deadline, self._expire) if watched else None


@dataclass
class Dispatcher:
    bot: BotContext
    routers: Sequence[Router]
    engine: ConversationEngine
    probe: StateProbe
    message_log: MessageLogWriter
    deadline: float = 4.5
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.bot.config.limits.messages_per_minute)
        self.deadlines = Deadlines(self.deadline)

    async def dispatch(self, msg: Inbound) -> Result:
        """Handle one inbound message within the deadline."""
        if not self.limiter.allow(f"{msg.channel}:{msg.user}", time.monotonic()):
            return Result(Reply.of_text(self.bot.texts("common.too_fast")), Outcome.RATE_LIMITED)
        if msg.kind is not Kind.EVENT and not await self.probe.needs_transaction(
            msg.channel.value, msg.account, msg.user, msg.key
        ):
            found = first_match(self.routers, msg)
            if found is not None and found[0].pure:
                return await self._run_pure(msg, *found)
        progress = _Progress()
        task: asyncio.Task[Result] = asyncio.create_task(self._run(msg, progress))
        if await self._until_deadline(task):
            return task.result()
        if progress.committing:
            # The reply is decided and being committed: a few ms more beat a late send.
            return await task
        progress.responded = True
        self._track(task)
        return Result(None, Outcome.LATE, progress.handler)

    async def _until_deadline(self, task: asyncio.Task[Any]) -> bool:
        """Wait for ``task`` until the deadline, never cancelling it; whether it is done.

        One timer and one callback: wait_for(shield(task)) wraps the task in two more futures
        and callbacks, on a path every message takes."""
        if not task.done():
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()

            def wake(_: object = None) -> None:
                if not waiter.done():
                    waiter.set_result(None)

            timer = loop.call_later(self.deadline, wake)
            task.add_done_callback(wake)
            try:
                await waiter
            finally:
                timer.cancel()
                task.remove_done_callback(wake)
        return task.done()

    def _track(self, task: asyncio.Task[Result]) -> None:
        async def finish() -> None:
            try:
                await task
            except Exception:  # already logged inside _run; never lose the loop
                log.exception("late handler task failed")

        follow_up = asyncio.create_task(finish())
        self._tasks.add(follow_up)
        follow_up.add_done_callback(self._tasks.discard)

    def follow_up(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after an answer (e.g. the rest of a long reply); ``drain`` awaits it."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for late replies in flight and write the buffered message log (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.message_log.flush()

    async def _run_pure(self, msg: Inbound, route: Route, matched: object) -> Result:
        # Inline under the shared deadline: no task, no timer and no extra trip through the
        # event loop for the answers that make up most traffic. A pure handler writes nothing,
        # so one cut off at the deadline left nothing behind: it answers again in the
        # background, by API.
        watch = self.deadlines.watch()
        try:
            reply, outcome = await self._answer_pure(msg, route, matched)
        except asyncio.CancelledError:
            task = watch.task
            if not self.deadlines.release(watch) or task.cancelling():
                raise  # cancelled from elsewhere (shutdown): not ours to turn into a reply
            self._track(asyncio.create_task(self._finish_pure_late(msg, route, matched)))
            return Result(None, Outcome.LATE, route.name)
        self.deadlines.release(watch)
        self._log_pure(msg, route, "failed" if outcome is Outcome.FAILED else "done")
        return Result(reply, outcome, route.name)

    async def _answer_pure(
        self, msg: Inbound, route: Route, matched: object
    ) -> tuple[Reply | None, Outcome]:
        ctx = Ctx(inbound=msg, bot=self.bot, match=matched)
        try:
            reply = await route.handler(ctx)
            if reply is not None:
                reply = await self._resolve_media(msg, reply)
        except Exception as exc:
            _log_failure(msg, route.name, exc)
            return Reply.of_text(self.bot.texts("common.error")), Outcome.FAILED
        finally:
            await ctx.close()
        return reply, Outcome.REPLIED if reply else Outcome.EMPTY

    async def _finish_pure_late(self, msg: Inbound, route: Route, matched: object) -> Result:
        reply, _ = await self._answer_pure(msg, route, matched)
        status = await self._deliver_late(msg, reply, None)
        self._log_pure(msg, route, status)
        return Result(None, Outcome.LATE, route.name)

    def _log_pure(self, msg: Inbound, route: Route, status: str) -> None:
        now = self.bot.clock.now()
        self.message_log.add(
            {
                "channel": msg.channel.value,
                "account": msg.account,
                "msg_key": msg.key,
                "user_id": msg.user,
                "kind": msg.kind.value,
                "event": msg.event.value if msg.event else None,
                "text": _logged_text(msg),
                "status": status,
                "handler": route.name[:64],
                "reply": None,
                "received_at": now,
                "finished_at": now,
            }
        )

    async def _run(self, msg: Inbound, progress: _Progress) -> Result:
        try:
            # A flow step's network work (a media download) before the transaction begins.
            prepared = await self.engine.prepare(self.bot, msg)
        except Exception as exc:
            return await self._failed(msg, progress, exc)
        # A second attempt covers a conflict with a concurrent message of the same user (two
        # flow entries inserting one conversation row); the loser re-runs on fresh state.
        for attempt in (1, 2):
            claimed = False
            try:
                async with self.bot.sessions() as session:
                    try:
                        async with session.begin():
                            row = self._claim(msg)
                            session.add(row)
                            await session.flush()
                            claimed = True
                            reply, handler = await self._handle(msg, session, progress, prepared)
                            row.handler = handler[:64]
                            if not progress.private:
                                row.text = _logged_text(msg)
                            row.reply = self._seal(reply) if reply else None
                            row.finished_at = self.bot.clock.now()
                            if progress.responded:
                                row.status = "late"
                            else:
                                progress.committing = True
                                row.status = "done"
                    except IntegrityError:
                        progress.committing = False
                        if not claimed:
                            return await self._duplicate(msg)
                        if attempt == 2:
                            raise
                        continue
            except Exception as exc:
                return await self._failed(msg, progress, exc)
            if progress.responded:
                await self._deliver_late(msg, reply, row.id)
                return Result(None, Outcome.LATE, handler)
            return Result(reply, Outcome.REPLIED if reply else Outcome.EMPTY, handler)
        raise AssertionError("unreachable")

    def _claim(self, msg: Inbound) -> InboundMessage:
        # No text yet: whether the message is an answer inside a flow (personal data, never
        # written) is known only once it is handled; the text is added before the commit.
        return InboundMessage(
            channel=msg.channel.value,
            account=msg.account,
            msg_key=msg.key,
            user_id=msg.user,
            kind=msg.kind.value,
            event=msg.event.value if msg.event else None,
            text=None,
            status="processing",
            received_at=self.bot.clock.now(),
        )

    async def _handle(
        self, msg: Inbound, session: AsyncSession, progress: _Progress, prepared: Any = None
    ) -> tuple[Reply | None, str]:
        ctx = Ctx(inbound=msg, session=session, bot=self.bot, prepared=prepared)
        try:
            reply, handler = await self._route(ctx)
        finally:
            progress.private = ctx.private  # a failed flow step is private too
        progress.handler = handler
        if ctx.notices:
            notices = "\n\n".join(ctx.notices)
            reply = reply.prefixed(notices) if reply is not None else Reply.of_text(notices)
        if reply is not None:
            reply = await self._resolve_media(msg, reply)
        return reply, handler

    async def _route(self, ctx: Ctx) -> tuple[Reply | None, str]:
        msg = ctx.inbound
        if msg.kind is Kind.EVENT:
            await self._track_follower(ctx)
        else:
            await self._take_notices(ctx)
        reply = await self.engine.handle(ctx)
        if reply is not None:
            return reply, "flow"
        found = first_match(self.routers, msg)
        if found is None:
            return None, "none"
        route, matched = found
        ctx.match = matched
        return await route.handler(ctx), route.name

    async def _track_follower(self, ctx: Ctx) -> None:
        msg = ctx.inbound
        if msg.event not in (Event.SUBSCRIBE, Event.UNSUBSCRIBE, Event.SCAN):
            return
        now = self.bot.clock.now()
        follower = (
            await ctx.session.execute(
                select(Follower).where(
                    Follower.channel == msg.channel.value,
                    Follower.account == msg.account,
                    Follower.user_id == msg.user,
                )
            )
        ).scalar_one_or_none()
        if follower is None:
            follower = Follower(
                channel=msg.channel.value,
                account=msg.account,
                user_id=msg.user,
                subscribed=True,
                created_at=now,
            )
            ctx.session.add(follower)
        if msg.event is Event.UNSUBSCRIBE:
            follower.subscribed = False
            follower.unsubscribed_at = now
        else:
            if msg.event is Event.SUBSCRIBE or not follower.subscribed:
                follower.subscribed_at = now
            follower.subscribed = True
            if msg.scene:
                follower.scene = msg.scene[:64]
        follower.last_interaction_at = now
        if msg.event is not Event.SCAN:  # a scan comes from someone who already follows
            await count_follow(
                ctx.session,
                channel=msg.channel.value,
                account=msg.account,
                day=local(now).date(),
                follow=msg.event is Event.SUBSCRIBE,
            )
        await ctx.session.flush()

    async def _take_notices(self, ctx: Ctx) -> None:
        msg = ctx.inbound
        rows = (
            (
                await ctx.session.execute(
                    select(Notice)
                    .where(
                        Notice.channel == msg.channel.value,
                        Notice.account == msg.account,
                        Notice.user_id == msg.user,
                        Notice.delivered_at.is_(None),
                    )
                    .order_by(Notice.id)
                )
            )
            .scalars()
            .all()
        )
        now = self.bot.clock.now()
        for notice in rows:
            ctx.notices.append(notice.text)
            notice.delivered_at = now

    async def _resolve_media(self, msg: Inbound, reply: Reply) -> Reply:
        if reply.kind is ReplyKind.IMAGE and not reply.media_id and reply.image_path:
            media_id = await self.bot.client(msg.channel).upload_image(reply.image_path)
            return Reply.image(media_id=media_id)
        return reply

    def _seal(self, reply: Reply) -> str:
        """The reply as kept for retries of the message, encrypted.

        A retry must get the identical answer, so replies are kept; but they quote personal
        data (我的信息, a sign-up summary with the name), so the copy is encrypted with the
        data key like the answers in ``conversations``, and ``purge_message_log`` drops it
        once retries are over."""
        return self.bot.cipher.encrypt(reply.to_json())

    def _unseal(self, cached: str) -> Reply | None:
        """The cached reply; None when it cannot be read (the data key changed since)."""
        if cached.startswith("{"):  # cached in clear before replies were encrypted
            return Reply.from_json(cached)
        try:
            return Reply.from_json(self.bot.cipher.decrypt(cached))
        except ValueError:  # as good as dropped: the retry is answered with nothing
            return None

    async def _duplicate(self, msg: Inbound) -> Result:
        async with self.bot.sessions() as session:
            row = (
                await session.execute(
                    select(
                        InboundMessage.status, InboundMessage.reply, InboundMessage.handler
                    ).where(
                        InboundMessage.channel == msg.channel.value,
                        InboundMessage.account == msg.account,
                        InboundMessage.msg_key == msg.key,
                    )
                )
            ).first()
        if row is None or row.status != "done" or not row.reply:
            # Still running elsewhere, delivered late, nothing to say, or the cached reply
            # already dropped (past any retry): answer nothing.
            return Result(None, Outcome.DUPLICATE, row.handler or "" if row else "")
        return Result(self._unseal(row.reply), Outcome.DUPLICATE, row.handler or "")

    async def _failed(self, msg: Inbound, progress: _Progress, exc: Exception) -> Result:
        _log_failure(msg, progress.handler, exc)
        reply = Reply.of_text(self.bot.texts("common.error"))
        try:
            async with transaction(self.bot.sessions) as session:
                row = self._claim(msg)
                row.text = None if progress.private else _logged_text(msg)
                row.status = "failed"
                row.handler = progress.handler[:64]
                row.reply = self._seal(reply)
                row.finished_at = row.received_at
                session.add(row)
        except IntegrityError:
            return await self._duplicate(msg)
        except Exception:
            log.exception("could not record a failed message")
        if progress.responded:
            await self._deliver_late(msg, reply, None)
            return Result(None, Outcome.LATE, progress.handler)
        return Result(reply, Outcome.FAILED, progress.handler)

    async def _deliver_late(self, msg: Inbound, reply: Reply | None, row_id: int | None) -> str:
        """Send ``reply`` by API; returns the status recorded (late_sent / late_failed / late)."""
        if reply is None:
            return "late"
        status = "late_sent"
        try:
            await self.bot.client(msg.channel).send_reply(msg.user, reply)
        except (TimeoutError, ApiError, OSError) as exc:
            status = "late_failed"
            log_event(
                log,
                "late_reply_failed",
                logging.WARNING,
                channel=msg.channel.value,
                user=msg.user,
                key=msg.key,
                error=str(exc),
            )
        else:
            log_event(log, "late_reply_sent", channel=msg.channel.value, user=msg.user, key=msg.key)
        if row_id is not None:
            async with transaction(self.bot.sessions) as session:
                await session.execute(
                    update(InboundMessage).where(InboundMessage.id == row_id).values(status=status)
                )
        return status
