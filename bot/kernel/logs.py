"""Structured logging: one JSON object a line, extra fields passed as ``fields=``."""

from __future__ import annotations

import asyncio
import json
import json.encoder as json_encoder
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

# CPython's C encoder factory (the ``_json`` accelerator). getattr: typeshed does not declare
# it, and a Python built without ``_json`` has None here; the formatter then falls back to
# ``JSONEncoder`` (see ``JsonFormatter._c_encoder``).
_C_MAKE_ENCODER = getattr(json_encoder, "c_make_encoder", None)


# The keys every JSON line starts with; a record's fields cannot replace them.
_RESERVED = frozenset(("ts", "level", "logger", "event"))


class JsonFormatter(logging.Formatter):
    """One JSON object a line; ``ts`` is ISO 8601 UTC with milliseconds."""

    # Built once: json.dumps with non-default options constructs a new encoder every call.
    _encoder = json.JSONEncoder(ensure_ascii=False, default=str)
    # And the C encoder inside it, which JSONEncoder.encode builds anew for every line: the
    # same arguments as ``_encoder`` (separators ", " and ": ", no sorting, NaN allowed) less
    # the circular-reference check, which a line's flat fields never need. ``None`` where the
    # C accelerator is missing: ``_encoder`` then writes the line.
    _c_encoder = (
        None
        if _C_MAKE_ENCODER is None
        else _C_MAKE_ENCODER(
            None, str, json_encoder.encode_basestring, None, ": ", ", ", False, False, True
        )
    )

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def _timestamp(self, created: float) -> str:
        # Every request writes a line: format the date and time once per second, not per line.
        second = int(created)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._stamp}.{int((created - second) * 1000):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as one JSON line."""
        return self.line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            getattr(record, "fields", {}),
            self.formatException(record.exc_info) if record.exc_info else None,
        )

    def line(
        self,
        created: float,
        levelname: str,
        logger: str,
        event: str,
        fields: dict[str, Any],
        exc: str | None = None,
    ) -> str:
        """The JSON line of an event (``log_event``'s direct path writes it without a record)."""
        payload: dict[str, Any] = {
            "ts": self._timestamp(created),
            "level": levelname.lower(),
            "logger": logger,
            "event": event,
        }
        if _RESERVED.isdisjoint(fields):
            payload.update(fields)
        else:
            # A field named like the line's own keys must not replace them (a request's
            # platform event once overwrote "event", and searches for the line found nothing):
            # it follows with a trailing underscore.
            payload.update({k + "_" if k in _RESERVED else k: v for k, v in fields.items()})
        if exc is not None:
            payload["exc"] = exc
        if self._c_encoder is not None:
            try:
                return "".join(self._c_encoder(payload, 0))
            except (RecursionError, ValueError):
                pass  # a self-containing field: the checking encoder says what is wrong
        return self._encoder.encode(payload)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        """Render a record as 'time level event k=v ...'."""
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.getMessage()} {fields}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line.rstrip()


class LoopBatchedHandler(logging.StreamHandler):
    """A stream handler that writes the lines of one event-loop iteration in one system call.

    Every request logs a line, and a write to stderr (line-buffered) is a system call per line.
    Lines logged on the loop's thread are written together at the end of the iteration;
    warnings and errors, and lines from other threads or outside a loop, at once (after the
    pending ones, so the order holds). ``logging.shutdown`` flushes what is left at exit.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        # The loop a flush is scheduled on: a loop that ended before running it must not
        # keep the next loop's lines waiting.
        self._scheduled: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Queue (or write) one formatted record."""
        try:
            self._queue(self.format(record), record.levelno)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _queue(self, line: str, levelno: int) -> None:
        self._pending.append(line + self.terminator)
        loop = _running_loop()
        if loop is None or levelno >= logging.WARNING:
            self.flush()
        elif self._scheduled is not loop:
            self._scheduled = loop
            loop.call_soon(self.flush)

    def write_event(self, logger: str, level: int, event: str, fields: dict[str, Any]) -> None:
        """``log_event``'s direct path: the line of an event no filter or other handler could
        see, written without a LogRecord (``_direct_handler`` decides when that holds)."""
        formatter = self.formatter
        assert isinstance(formatter, JsonFormatter)
        with self.lock:  # type: ignore[union-attr]
            line = formatter.line(time.time(), logging.getLevelName(level), logger, event, fields)
            self._queue(line, level)

    def flush(self) -> None:
        """Write the pending lines."""
        with self.lock:  # type: ignore[union-attr]
            self._scheduled = None
            if self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                if getattr(self.stream, "closed", False):
                    return  # a stream closed under us (a test's captured stderr): nowhere to go
                self.stream.write(text)
            super().flush()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Install the formatter on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_bot_handler", False):
            root.removeHandler(handler)
    handler = LoopBatchedHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._bot_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The logging HOWTO's "Optimization" switches: we log no caller, thread or process fields,
    # and computing them costs more than formatting the request line itself.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # aiohttp's access log duplicates our own request line.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


# Called with (logger name, event name, fields) for every event, whatever the log level:
# metrics count events (handler errors, API errors) without hooks of their own in that code.
_observers: list[Callable[[str, str, dict[str, Any]], None]] = []


def observe(observer: Callable[[str, str, dict[str, Any]], None]) -> None:
    """Have ``observer`` called with every event (once, however often it is registered)."""
    if observer not in _observers:
        _observers.append(observer)


def log_event(
    logger: logging.Logger, name: str, level: int = logging.INFO, /, **fields: Any
) -> None:
    """Log ``name`` with structured ``fields`` (never pass personal data here)."""
    for observer in _observers:
        observer(logger.name, name, fields)
    if not logger.isEnabledFor(level):
        return
    direct = _direct_handler(logger, level)
    if direct is not None:
        direct.write_event(logger.name, level, name, fields)
        return
    # The record built and handed over directly: Logger.log's argument handling and the
    # per-key copy of ``extra`` cost a tenth of a line, and every request writes one.
    record = logger.makeRecord(logger.name, level, "(unknown file)", 0, name, (), None)
    record.fields = fields
    logger.handle(record)


def _direct_handler(logger: logging.Logger, level: int) -> LoopBatchedHandler | None:
    """Our JSON handler, when it is the only thing a record of ``logger`` at ``level`` would
    reach: no filter or other handler on the way (a test's log capture adds one), so the line
    can skip the LogRecord and the handler chain, a third of its cost on every request."""
    root = logging.root
    handlers = root.handlers
    if len(handlers) != 1 or root.filters:
        return None
    handler = handlers[0]
    if (
        type(handler) is not LoopBatchedHandler
        or handler.filters
        or level < handler.level
        or type(handler.formatter) is not JsonFormatter
    ):
        return None
    node: logging.Logger | None = logger
    while node is not None and node is not root:
        if node.handlers or node.filters or not node.propagate:
            return None
        node = node.parent
    return handler
