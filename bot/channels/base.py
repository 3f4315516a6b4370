"""What every webhook shares: body limits, typed request errors, the one log line a request."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from bot.appkeys import DISPATCHER
from bot.dispatch import Result
from bot.logs import log_event
from bot.message import Inbound

log = logging.getLogger("bot.request")


# What happened to a webhook request (replied, late, rejected_403 ...), for the metrics.
OUTCOME: web.RequestKey[str] = web.RequestKey("outcome", str)


class BadRequest(ValueError):
    """The client sent something malformed (400)."""


class Forbidden(ValueError):
    """Signature or timestamp check failed (403)."""


class SlowBody(ValueError):
    """The body did not arrive within ``server.body_timeout_seconds`` (408)."""


class Busy(ValueError):
    """Too many unsigned bodies are being read already (503)."""


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
    """The body, refusing more than the app's ``client_max_size`` with 413 before reading it,
    and bounded by the app's ``BodyGate`` (``signed``: the query's signature checked out)."""
    limit = request._client_max_size  # set from server.max_body_bytes by the app factory
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    return await request.app[BODY_GATE].read(request, signed=signed)


class WebhookRequest:
    """Collects the fields of the structured log line written once per request."""

    def __init__(self, request: web.Request, channel: str) -> None:
        self.request = request
        self.started = time.perf_counter()
        self.fields: dict[str, Any] = {"channel": channel, "method": request.method}

    def fail(self, status: int, reason: str) -> web.Response:
        """A plain error response, logged with its reason."""
        self.fields["reason"] = reason
        return self.done(web.Response(status=status, text=reason), outcome=f"rejected_{status}")

    def done(self, response: web.Response, *, outcome: str) -> web.Response:
        """Log the request line and return ``response``."""
        self.fields.update(
            status=response.status,
            outcome=outcome,
            latency_ms=round((time.perf_counter() - self.started) * 1000, 2),
        )
        log_event(log, "request", **self.fields)
        self.request[OUTCOME] = outcome  # the metrics' outcome label (bot.metrics.measure)
        return response


async def serve_message(request: web.Request, wr: WebhookRequest, inbound: Inbound) -> Result:
    """Dispatch ``inbound`` and note what happened in the request's log line."""
    wr.fields.update(
        msg_type=inbound.kind.value,
        event=inbound.event.value if inbound.event else None,
        user=inbound.user,
    )
    result = await request.app[DISPATCHER].dispatch(inbound)
    wr.fields["handler"] = result.handler
    return result
