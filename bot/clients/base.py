"""The clients' shared ground: one request/retry loop (``HttpApi``). The protocol and the typed
errors live in the kernel (``bot.kernel.clients``), since features and jobs catch them without
knowing any client."""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiohttp

from bot.kernel.clients import ApiError, ChannelClient, OutsideWindow
from bot.kernel.config import ChannelConfig
from bot.kernel.logs import log_event

__all__ = ["ApiError", "ChannelClient", "HttpApi", "OutsideWindow", "file_form"]

BodyFactory = Callable[[], tuple[Any, dict[str, str] | None]]
FormFactory = Callable[[], aiohttp.FormData]
# A client's config section ([wechat], [weibo]).
C = TypeVar("C", bound=ChannelConfig)


async def file_form(path: str, field: str = "media") -> FormFactory:
    """The multipart form of an upload: the file at ``path`` as ``field``, typed by its name.
    The file is read once; the form is built anew for every attempt."""
    file = Path(path)
    content = await asyncio.to_thread(file.read_bytes)
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"

    def form() -> aiohttp.FormData:
        fd = aiohttp.FormData()
        fd.add_field(field, content, filename=file.name, content_type=content_type)
        return fd

    return form


class HttpApi(Generic[C]):
    """One platform API over one aiohttp session, and the request/retry loop every client
    shares: busy and rate-limit codes back off exponentially and retry; any other error code
    raises the platform's typed error (window errors as its ``OutsideWindow`` subclass).

    Subclasses name the platform's error fields and codes and their logger; what differs in
    building a request (JSON, form, multipart) comes in as a body factory, called again for
    every attempt since a multipart body cannot be sent twice.
    """

    error: type[ApiError] = ApiError
    outside_window: type[ApiError] = OutsideWindow
    code_field = "errcode"
    message_field = "errmsg"
    backoff_errors: frozenset[int] = frozenset()
    window_errors: frozenset[int] = frozenset()
    log = logging.getLogger("bot.api")

    def __init__(
        self, config: C, base_url: str, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = config.api_timeout_seconds
        self.max_retries = config.api_max_retries
        self.backoff_seconds = config.api_backoff_seconds
        self._session = session
        self._own_session = session is None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session, created on first use."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds)
            )
            self._own_session = True
        return self._session

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session and self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: BodyFactory | None = None,
        raw: bool = False,
    ) -> dict[str, Any]:
        """One call, retried with backoff on busy codes; the decoded JSON object (a JSON list
        under ``_list``), or with ``raw`` a non-JSON answer as ``_body`` / ``_content_type``."""
        url = f"{self.base_url}{path}"
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            data, headers = body() if body is not None else (None, None)
            async with self.session.request(
                method, url, params=params, data=data, headers=headers
            ) as resp:
                content_type = resp.headers.get("Content-Type", "")
                content = await resp.read()
                if raw and "json" not in content_type and resp.status == 200:
                    return {"_body": content, "_content_type": content_type}
                payload, code, message = self._decode(resp.status, content, path)
            if code == 0:
                return payload
            if code in self.backoff_errors and attempt + 1 < attempts:
                delay = self.backoff_seconds * (2**attempt)
                log_event(
                    self.log,
                    "api_backoff",
                    logging.WARNING,
                    path=path,
                    errcode=code,
                    attempt=attempt + 1,
                    delay=delay,
                )
                await asyncio.sleep(delay)
                continue
            log_event(
                self.log, "api_error", logging.WARNING, path=path, errcode=code, errmsg=message
            )
            if code in self.window_errors:
                raise self.outside_window(code, message, path)
            raise self.error(code, message, path)
        raise AssertionError("unreachable")

    def _decode(self, status: int, content: bytes, path: str) -> tuple[dict[str, Any], int, str]:
        """(payload, error code, message); a server error without a code counts as busy (-1)."""
        payload: dict[str, Any] = {}
        try:
            loaded = json.loads(content) if content else {}
            payload = loaded if isinstance(loaded, dict) else {"_list": loaded}
        except ValueError:
            if status < 500:
                raise self.error(-3, f"not JSON (HTTP {status})", path) from None
        code = int(payload.get(self.code_field, 0) or 0)
        message = str(payload.get(self.message_field, ""))
        if status >= 500 and code == 0:
            code, message = -1, f"HTTP {status}"
        return payload, code, message
