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

Middlewares (``bot.middlewares``) wrap the rest: rate limit and failure apology around each
message, follower tracking and pending notices around the handler call inside the transaction.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict, deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.kernel.clients import ApiError
from bot.kernel.context import BotContext
from bot.kernel.message import Inbound, Kind, Reply, ReplyKind
from bot.kernel.privacy import redact
from bot.middlewares import (
    CallMiddleware,
    FailureApology,
    FollowerTracking,
    Outcome,
    PendingNotices,
    RateLimit,
    Result,
    log_message_event,
    wrap_calls,
    wrap_messages,
)
from handlers.context import Ctx
from handlers.conversation import ConversationEngine
from handlers.router import Route, Router, first_match
from storage.db import on_loop, transaction
from storage.hotpath import MessageLogWriter, StateProbe
from storage.messages import claim_message, finish_message
from storage.models import InboundMessage

__all__ = ["Deadlines", "Dispatcher", "Outcome", "Result"]

log = logging.getLogger("bot.dispatch")


def _logged_text(msg: Inbound) -> str | None:
    """The text the message log keeps: phone and ID numbers masked, truncated."""
    return redact(msg.text)[:500] if msg.text else None


def _log_columns(msg: Inbound) -> dict[str, Any]:
    """The message-log columns that say which message it is (the claim and the pure path)."""
    return {
        "channel": msg.channel.value,
        "account": msg.account,
        "msg_key": msg.key,
        "user_id": msg.user,
        "kind": msg.kind.value,
        "event": msg.event.value if msg.event else None,
    }


@dataclass
class _Progress:
    """Shared between a request and its handler task (same event loop, no real races)."""

    responded: bool = False  # the request already answered 'success'
    committing: bool = False  # the task decided on a passive reply and is committing
    handler: str = ""
    # The message is an answer inside a flow (see Ctx.private). Private until the flow engine
    # has found the user in no flow: if anything fails first, the log keeps no text.
    private: bool = True


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
    # Counts the per-user limit across processes when set (storage.ratelimit.SharedRateLimiter).
    shared_limit: Any = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Retries in this process (see _process): messages being handled, by key, and the answers
    # of those handled lately.
    _inflight: dict[tuple[str, str, str], asyncio.Future[Result | None]] = field(
        default_factory=dict
    )
    _answered: OrderedDict[tuple[str, str, str], tuple[float, Result]] = field(
        default_factory=OrderedDict
    )

    def __post_init__(self) -> None:
        texts = self.bot.texts
        self.apology = FailureApology(lambda: Reply.of_text(texts("common.error")))
        self.rate_limit = RateLimit(
            self.bot.config.limits.messages_per_minute,
            lambda: Reply.of_text(texts("common.too_fast")),
            shared=self.shared_limit,
        )
        self.deadlines = Deadlines(self.deadline)
        self._dispatch = wrap_messages([self.rate_limit, self.apology], self._process)
        self.call_middlewares: list[CallMiddleware] = [FollowerTracking(), PendingNotices()]

    async def dispatch(self, msg: Inbound) -> Result:
        """Handle one inbound message within the deadline."""
        return await self._dispatch(msg)

    # Platform retries come within about 15 seconds of the first delivery; a minute covers them
    # and a burst of a few thousand messages a second stays bounded.
    ANSWERED_SECONDS = 60.0
    ANSWERED_MAX = 10_000

    async def _process(self, msg: Inbound) -> Result:
        """A retry of a message this process is handling or has just handled gets the first
        delivery's answer without touching the database: the first delivery decided it (a
        transaction, or a pure answer). Across processes the unique key still decides."""
        key = (msg.channel.value, msg.account, msg.key)
        answered = self._answered.get(key)
        if answered is not None and self._now() - answered[0] < self.ANSWERED_SECONDS:
            return answered[1]
        first = self._inflight.get(key)
        if first is not None:
            retry = await self._await_first(first)
            if retry is not None:
                return retry
            # The first delivery failed without an answer to repeat: this one tries itself.
        loop = asyncio.get_running_loop()
        self._inflight[key] = mine = loop.create_future()
        retry_answer: Result | None = None
        try:
            result = await self._handle(msg)
            retry_answer = self._retry_answer(result)
            return result
        finally:
            del self._inflight[key]
            mine.set_result(retry_answer)
            if retry_answer is not None:
                self._remember(key, retry_answer)

    async def _await_first(self, first: asyncio.Future[Result | None]) -> Result | None:
        """The first delivery's answer for a retry (None: handle it anew); within the deadline,
        after which the retry answers nothing, as a retry of a late message does."""
        if await self._until_deadline(first):
            return first.result()
        return Result(None, Outcome.DUPLICATE)

    @staticmethod
    def _retry_answer(result: Result) -> Result | None:
        """What a retry of a message answered with ``result`` gets, as the message log would
        answer it (``_duplicate``): the reply sent in time, else nothing. None after a failure:
        whether it was recorded is the database's to say."""
        if result.outcome in (Outcome.FAILED, Outcome.RATE_LIMITED):
            return None
        reply = result.reply if result.outcome in (Outcome.REPLIED, Outcome.DUPLICATE) else None
        return Result(reply, Outcome.DUPLICATE, result.handler)

    def forget_answers(self) -> None:
        """Drop the answers kept for retries (a retry then asks the database)."""
        self._answered.clear()

    def _now(self) -> float:
        # The bot's clock, not the monotonic one: tests move it past the retry horizon.
        return self.bot.clock.timestamp()

    def _remember(self, key: tuple[str, str, str], answer: Result) -> None:
        now = self._now()
        answered = self._answered
        answered[key] = (now, answer)
        answered.move_to_end(key)
        while answered:
            oldest = next(iter(answered.values()))
            if len(answered) <= self.ANSWERED_MAX and now - oldest[0] < self.ANSWERED_SECONDS:
                break
            answered.popitem(last=False)

    async def _handle(self, msg: Inbound) -> Result:
        # The probe decides only between a pure route and the transaction: a message no pure
        # route answers (a vote, a flow step's answer, an event) takes the transaction
        # whatever the probe would say, so it is not asked (a round trip saved).
        if msg.kind is not Kind.EVENT:
            found = first_match(self.routers, msg)
            if found is not None and found[0].pure and not await self._probe(msg):
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

    async def _probe(self, msg: Inbound) -> bool:
        """The state probe's answer, under the reply deadline: a database that hangs instead
        of refusing raises TimeoutError (the failure apology) rather than holding the request
        past the platform's patience. Same single timer as the pure path's deadline."""
        watch = self.deadlines.watch()
        try:
            answer = await self.probe.needs_transaction(
                msg.channel.value, msg.account, msg.user, msg.key
            )
        except asyncio.CancelledError:
            task = watch.task
            if not self.deadlines.release(watch) or task.cancelling():
                raise  # cancelled from elsewhere (shutdown)
            raise TimeoutError("the state probe did not answer within the deadline") from None
        self.deadlines.release(watch)
        return answer

    async def _until_deadline(self, task: asyncio.Future[Any]) -> bool:
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
            return self.apology.answer(msg, route.name, exc), Outcome.FAILED
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
                **_log_columns(msg),
                "text": _logged_text(msg),
                "status": status,
                "handler": route.name[:64],
                "reply": None,
                "received_at": now,
                "finished_at": now,
            }
        )

    async def _run(self, msg: Inbound, progress: _Progress) -> Result:
        with on_loop():  # the message's SQLite statements on the loop's thread (storage.db)
            return await self._run_on_loop(msg, progress)

    async def _run_on_loop(self, msg: Inbound, progress: _Progress) -> Result:
        try:
            # A flow step's network work (a media download) before the transaction begins.
            prepared = await self.engine.prepare(self.bot, msg)
            if msg.kind is not Kind.EVENT:
                # And the route's (a follower check), should the user be in no flow.
                found = first_match(self.routers, msg)
                if found is not None and found[0].prepare is not None:
                    await found[0].prepare(self.bot, msg)
        except Exception as exc:
            return await self._failed(msg, progress, exc)
        call = wrap_calls(self.call_middlewares, functools.partial(self._route, progress=progress))
        # A second attempt covers a conflict with a concurrent message of the same user (two
        # flow entries inserting one conversation row); the loser re-runs on fresh state.
        for attempt in (1, 2):
            try:
                async with self.bot.sessions() as session:
                    try:
                        async with session.begin():
                            row_id = await claim_message(
                                session,
                                self._claim_values(msg),
                                notices=msg.kind is not Kind.EVENT,  # PendingNotices reads them
                            )
                            # None: the key is taken (a retry); the transaction stays empty.
                            if row_id is not None:
                                ctx = Ctx(
                                    inbound=msg, session=session, bot=self.bot, prepared=prepared
                                )
                                reply = await self._handle_claimed(ctx, row_id, call, progress)
                    except IntegrityError:
                        # The handler's writes lost a race (the claim itself never raises).
                        progress.committing = False
                        if attempt == 2:
                            raise
                        continue
            except DBAPIError as exc:
                # The connection was found ended (a database restart; the pool skips its
                # ping for connections used moments ago): nothing of this transaction
                # committed, or its claim makes the second run a retry. Once more, on a fresh
                # connection.
                if attempt == 1 and exc.connection_invalidated:
                    progress.committing = False
                    continue
                return await self._failed(msg, progress, exc)
            except Exception as exc:
                return await self._failed(msg, progress, exc)
            if row_id is None:
                return await self._duplicate(msg)
            for work in ctx.after_commit:
                self.follow_up(work())
            if progress.responded:
                await self._deliver_late(msg, reply, row_id)
                return Result(None, Outcome.LATE, progress.handler)
            return Result(reply, Outcome.REPLIED if reply else Outcome.EMPTY, progress.handler)
        raise AssertionError("unreachable")

    async def _handle_claimed(
        self, ctx: Ctx, row_id: int, call: Any, progress: _Progress
    ) -> Reply | None:
        """Run the handler (behind the call middlewares) for the claimed message and record
        how it went, in the claim's transaction."""
        msg = ctx.inbound
        reply: Reply | None = await call(ctx)
        if reply is not None:
            reply = await self._resolve_media(msg, reply)
        if not progress.responded:
            progress.committing = True
        await finish_message(
            ctx.session,
            row_id,
            status="late" if progress.responded else "done",
            handler=progress.handler[:64],
            text=None if progress.private else _logged_text(msg),
            reply=self._seal(reply) if reply else None,
            finished_at=self.bot.clock.now(),
        )
        return reply

    def _claim_values(self, msg: Inbound) -> dict[str, Any]:
        """The claim's row (see ``_claim``), for ``storage.messages.claim_message``."""
        return {
            **_log_columns(msg),
            "text": None,
            "status": "processing",
            "received_at": self.bot.clock.now(),
        }

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

    async def _route(self, ctx: Ctx, *, progress: _Progress) -> Reply | None:
        """The flow the user is in, else the first matching route (innermost call handler)."""
        reply = await self.engine.handle(ctx)
        progress.private = ctx.private  # known now: whether the message answers a flow
        if reply is not None:
            progress.handler = "flow"
            return reply
        found = first_match(self.routers, ctx.inbound)
        if found is None:
            progress.handler = "none"
            return None
        route, ctx.match = found
        progress.handler = route.name
        return await route.handler(ctx)

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
        # Outside any transaction, on the probe's connection: one round trip on PostgreSQL.
        row = await self.probe.cached_answer(msg.channel.value, msg.account, msg.key)
        if row is None or row.status != "done" or not row.reply:
            # Still running elsewhere, delivered late, nothing to say, or the cached reply
            # already dropped (past any retry): answer nothing.
            return Result(None, Outcome.DUPLICATE, row.handler or "" if row else "")
        return Result(self._unseal(row.reply), Outcome.DUPLICATE, row.handler or "")

    async def _failed(self, msg: Inbound, progress: _Progress, exc: Exception) -> Result:
        """Record the message as failed (its retries get the same apology) and apologise;
        one log line, whether or not the record could be written (the database may be down)."""
        reply = self.apology.apology()
        recorded = True
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
            self.apology.answer(msg, progress.handler, exc)
            return await self._duplicate(msg)
        except Exception:
            recorded = False
        self.apology.answer(msg, progress.handler, exc, recorded=recorded)
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
            log_message_event("late_reply_failed", logging.WARNING, msg, error=str(exc))
        else:
            log_message_event("late_reply_sent", logging.INFO, msg)
        if row_id is not None:
            async with transaction(self.bot.sessions) as session:
                await session.execute(
                    update(InboundMessage).where(InboundMessage.id == row_id).values(status=status)
                )
        return status
