"""What every webhook shares: body limits, typed request errors, the one log line a request."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from bot.appkeys import DISPATCHER
from bot.dispatch import Result
from bot.kernel.logs import log_event
from bot.kernel.message import Inbound

log = logging.getLogger("bot.request")


class BadRequest(ValueError):
    """The client sent something malformed (400)."""


class Forbidden(ValueError):
    """Signature or timestamp check failed (403)."""


async def read_body(request: web.Request) -> bytes:
    """The body, refusing more than the app's ``client_max_size`` with 413 before reading it."""
    limit = request._client_max_size  # set from server.max_body_bytes by the app factory
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    return await request.read()


class WebhookRequest:
    """Collects the fields of the structured log line written once per request."""

    def __init__(self, request: web.Request, channel: str) -> None:
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
