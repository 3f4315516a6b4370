"""One channel edge: the ``ChannelAdapter`` protocol, the routes every channel shares, and the
aiohttp middleware that turns the adapters' domain errors into 400 / 403 / 413 and writes the
one log line a webhook request gets (Starlette's exception handlers, looked up by class).

An adapter only translates: verify the request, parse it into an ``Inbound``, render a
``Reply``. Everything else a webhook does (body limits, dispatch, the request log, sending what
a passive reply could not hold) happens once, here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from bot.appkeys import BOT, DISPATCHER
from bot.kernel.logs import log_event
from bot.kernel.message import Channel, Inbound, Reply

log = logging.getLogger("bot.request")

WEBHOOK_ROUTE_PREFIX = "webhook:"
# How long the rest of a long answer waits for the passive part to be written (milliseconds,
# normally; a stalled connection must not hold it back for ever).
REST_WAIT_SECONDS = 5.0


class BadRequest(ValueError):
    """The client sent something malformed (400)."""


class Forbidden(ValueError):
    """Signature or timestamp check failed (403)."""


class TooLarge(ValueError):
    """The body is over the configured limit (413)."""


class SlowBody(ValueError):
    """The body did not arrive within ``server.body_timeout_seconds`` (408)."""


class Busy(ValueError):
    """Too many unsigned bodies are being read already (503)."""


@dataclass(frozen=True)
class Rendered:
    """A passive answer: its body and content type, and what it could not hold (a text over
    the platform's length limit), sent by API once the answer is on its way."""

    body: str
    content_type: str = "text/plain"
    rest: Reply | None = None


class ChannelAdapter(Protocol):
    """What a channel's webhook knows: its wire format and its signatures, nothing else."""

    channel: Channel

    def verify(self, query: Mapping[str, str]) -> str:
        """Check the platform's GET URL verification; the text to echo. Raises Forbidden."""
        ...

    def query_signed(self, query: Mapping[str, str]) -> bool:
        """Whether the query's signature checks out, before the body is read."""
        ...

    def parse(
        self, query: Mapping[str, str], body: bytes, *, signed: bool | None = None
    ) -> Inbound | None:
        """Verify and decode a POST; None for a message type the bot does not know.
        Raises Forbidden (signature, timestamp) or BadRequest (anything malformed).
        ``signed`` is what ``query_signed`` said of this query (None: check it here)."""
        ...

    def render(
        self, query: Mapping[str, str], inbound: Inbound | None, reply: Reply | None
    ) -> Rendered:
        """The passive answer to the request with ``query``; ``inbound`` is None (and so is
        ``reply``) for a message the adapter did not understand."""
        ...


# -- the request log line and the error mapping --------------------------------------------------


class WebhookRequest:
    """The fields of the structured log line written once per webhook request."""

    def __init__(self, request: web.Request, channel: str) -> None:
        self.started = time.perf_counter()
        self.outcome = ""
        self.fields: dict[str, Any] = {"channel": channel, "method": request.method}

    def write(self, status: int, outcome: str) -> None:
        """Log the request line."""
        self.fields.update(
            status=status,
            outcome=outcome,
            latency_ms=round((time.perf_counter() - self.started) * 1000, 2),
        )
        log_event(log, "request", **self.fields)


WEBHOOK: web.RequestKey[WebhookRequest] = web.RequestKey("webhook", WebhookRequest)


# Looked up by exception class, registered once: the status each domain error answers with.
ERROR_STATUS: dict[type, int] = {
    BadRequest: 400,
    Forbidden: 403,
    TooLarge: 413,
    web.HTTPRequestEntityTooLarge: 413,  # aiohttp's own limit on a body of unknown length
    SlowBody: 408,
    Busy: 503,
}


def _status_for(exc: Exception) -> int | None:
    for cls in type(exc).__mro__:
        status = ERROR_STATUS.get(cls)
        if status is not None:
            return status
    return None


@web.middleware
async def webhook_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Domain errors → 400 / 403 / 413, anything else → an empty 200 (never a 500: the
    platforms read an empty answer as "nothing to say"), and one request-log line each."""
    name = request.match_info.route.name or ""
    if not name.startswith(WEBHOOK_ROUTE_PREFIX):
        return await handler(request)
    wr = request[WEBHOOK] = WebhookRequest(request, name.removeprefix(WEBHOOK_ROUTE_PREFIX))
    try:
        response = await handler(request)
    except Exception as exc:
        status = _status_for(exc)
        if status is None:
            log.exception("webhook request failed")
            wr.fields["reason"] = type(exc).__name__
            wr.write(200, "error")
            return web.Response(text="")
        reason = "body too large" if status == 413 else str(exc)
        wr.fields["reason"] = reason
        wr.write(status, f"rejected_{status}")
        if status in (408, 503):  # the rest of a slow body is not waited for
            return await hang_up(request, web.Response(status=status, text=reason))
        return web.Response(status=status, text=reason)
    wr.write(response.status, wr.outcome)
    return response


# -- the routes every channel shares -----------------------------------------------------------


class BodyGate:
    """Bounds webhook body reads: each within a timeout, and only ``cap`` at once for requests
    whose query carries no valid signature. A platform's requests are signed, so a flood of
    slow unsigned senders gets 503 at once and never holds more than ``cap`` connections,
    each for at most ``timeout`` seconds."""

    def __init__(self, timeout: float, cap: int) -> None:
        self.timeout = timeout
        self.cap = cap
        self.unsigned = 0  # unsigned bodies being read now (one event loop: no lock needed)
        self.peak = 0  # the most read at once so far

    async def read(self, request: web.Request, *, signed: bool) -> bytes:
        """The body; raises SlowBody or Busy."""
        if request.content.is_eof():
            # All of it arrived with the headers (a platform's message usually does): nothing
            # to wait for, so no timer (asyncio.timeout costs ~5 us a request).
            return await request.read()
        if not signed:
            if self.unsigned >= self.cap:
                raise Busy("too many unsigned bodies in flight")
            self.unsigned += 1
            self.peak = max(self.peak, self.unsigned)
        try:
            async with asyncio.timeout(self.timeout):
                return await request.read()
        except TimeoutError:
            raise SlowBody("body not received in time") from None
        finally:
            if not signed:
                self.unsigned -= 1


BODY_GATE: web.AppKey[BodyGate] = web.AppKey("body_gate", BodyGate)


async def hang_up(request: web.Request, response: web.Response) -> web.Response:
    """Send ``response`` and close the connection without reading the rest of the body:
    aiohttp would otherwise keep reading a slow sender for up to 10 s (its lingering close)."""
    await response.prepare(request)
    await response.write_eof()
    protocol: Any = request.protocol
    protocol.force_close()  # the transport flushes the response before it closes
    return response


async def read_body(request: web.Request, *, signed: bool = False) -> bytes:
    """The body, refusing more than ``server.max_body_bytes`` with 413 before reading it, and
    bounded by the app's ``BodyGate`` (``signed``: the query's signature checked out)."""
    limit = request.app[BOT].config.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"{request.content_length} bytes over the limit of {limit}")
    return await request.app[BODY_GATE].read(request, signed=signed)


def channel_routes(path: str, adapter: ChannelAdapter) -> list[web.RouteDef]:
    """GET (URL verification) and POST (messages) on ``path`` for ``adapter``."""
    name = WEBHOOK_ROUTE_PREFIX + adapter.channel.value

    async def verify(request: web.Request) -> web.StreamResponse:
        echo = adapter.verify(request.query)
        request[WEBHOOK].outcome = "verified"
        return web.Response(text=echo)

    async def receive(request: web.Request) -> web.StreamResponse:
        wr = request[WEBHOOK]
        signed = adapter.query_signed(request.query)
        body = await read_body(request, signed=signed)
        inbound = adapter.parse(request.query, body, signed=signed)
        if inbound is None:
            wr.fields["msg_type"] = "unknown"
            wr.outcome = "unknown_type"
            return _response(adapter.render(request.query, None, None))
        wr.fields.update(
            msg_type=inbound.kind.value,
            # Not "event": that key is the log line's own name ("request") in every line.
            msg_event=inbound.event.value if inbound.event else None,
            user=inbound.user,
        )
        dispatcher = request.app[DISPATCHER]
        result = await dispatcher.dispatch(inbound)
        wr.fields["handler"] = result.handler
        wr.outcome = result.outcome.value
        rendered = adapter.render(request.query, inbound, result.reply)
        response = _response(rendered)
        if rendered.rest is None:
            return response
        # The rest follows by API once the passive part is on its way (or after a while).
        answered = asyncio.Event()
        client = request.app[BOT].client(adapter.channel)
        dispatcher.follow_up(
            _send_rest(client.send_reply, inbound.user, rendered.rest, answered, REST_WAIT_SECONDS)
        )
        try:
            await response.prepare(request)
            await response.write_eof()
        finally:
            answered.set()
        return response

    # One name, so both methods share one resource: a POST then resolves in one step.
    return [web.get(path, verify, name=name), web.post(path, receive, name=name)]


def _response(rendered: Rendered) -> web.Response:
    return web.Response(text=rendered.body, content_type=rendered.content_type)


async def _send_rest(
    send: Callable[[str, Reply], Awaitable[None]],
    user: str,
    rest: Reply,
    answered: asyncio.Event,
    wait_seconds: float,
) -> None:
    """What the passive answer could not hold, sent once that answer is on its way."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(answered.wait(), wait_seconds)
    try:
        await send(user, rest)
    except Exception as exc:  # the passive part reached the user; log, never crash the loop
        log.warning("follow-up reply failed: %s", type(exc).__name__)
