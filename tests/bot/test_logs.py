"""Structured logging: the JSON line format and the per-iteration batched writes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.kernel.logs import JsonFormatter, LoopBatchedHandler, log_event


class CountingStream(io.StringIO):
    """A stream that counts its writes (one write is one system call on stderr)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _record(name: str, level: int = logging.INFO, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("bot.test", level, __file__, 1, name, (), None)
    record.fields = fields
    return record


def test_json_line_has_iso_timestamp_and_fields() -> None:
    formatter = JsonFormatter()
    for created in (1_700_000_000.0, 1_700_000_000.5678, 1_700_000_061.25):
        record = _record("request", user="o_1", note="中文", status=200, at=datetime(2024, 1, 1))
        record.created, record.msecs = created, int((created - int(created)) * 1000)
        line = json.loads(formatter.format(record))
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert line["ts"] == expected
        assert line["level"] == "info" and line["logger"] == "bot.test"
        assert line["event"] == "request" and line["note"] == "中文" and line["status"] == 200
        assert line["at"] == "2024-01-01 00:00:00"  # non-JSON values as their str()
    assert "中文" in formatter.format(_record("x", note="中文"))  # not \\u-escaped


def test_fields_cannot_replace_the_lines_own_keys() -> None:
    """A field named event, logger, level or ts keeps the line's own value (what log searches
    filter on) and follows under a trailing underscore."""
    record = _record("request", event=None, logger="x", user="o_1")
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "request" and line["logger"] == "bot.test"
    assert line["event_"] is None and line["logger_"] == "x" and line["user"] == "o_1"
    assert list(line)[:4] == ["ts", "level", "logger", "event"]


def test_json_line_is_what_json_dumps_writes() -> None:
    """The formatter's reused C encoder writes exactly what json.dumps with the same options
    would, and a field that contains itself still ends as the checking encoder's error."""
    formatter = JsonFormatter()
    fields: dict[str, object] = {
        "user": "o_1", "text": '中文 "quoted" \\ \n 😀', "status": 200, "latency_ms": 1.25,
        "none": None, "flag": True, "nested": {"a": [1, 2.5, "b"]}, "when": datetime(2024, 1, 1),
        "nan": float("nan"),
    }  # fmt: skip
    record = _record("request", **fields)
    line = formatter.format(record)
    payload = {"ts": formatter._timestamp(record.created), "level": "info", "logger": "bot.test"}
    payload["event"] = "request"
    assert line == json.dumps({**payload, **fields}, ensure_ascii=False, default=str)
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        formatter.format(_record("request", loop=loop))


async def test_lines_of_one_loop_iteration_are_written_together() -> None:
    stream = CountingStream()
    handler = LoopBatchedHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.handle(_record("one"))
    handler.handle(_record("two"))
    assert stream.getvalue() == ""  # still this iteration
    await asyncio.sleep(0)
    assert stream.getvalue() == "one\ntwo\n" and stream.writes == 1
    # A warning goes out at once, after what was pending, so the order holds.
    handler.handle(_record("three"))
    handler.handle(_record("careful", logging.WARNING))
    assert stream.getvalue().endswith("three\ncareful\n")
    await asyncio.sleep(0)
    assert stream.getvalue() == "one\ntwo\nthree\ncareful\n"


def test_lines_outside_an_event_loop_are_written_at_once() -> None:
    stream = CountingStream()
    handler = LoopBatchedHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.handle(_record("start-up"))
    assert stream.getvalue() == "start-up\n"


def test_a_loop_that_ends_before_its_flush_does_not_hold_back_the_next_one() -> None:
    stream = CountingStream()
    handler = LoopBatchedHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    loop = asyncio.new_event_loop()

    def log_then_stop() -> None:
        handler.handle(_record("last words"))
        loop.stop()  # ends the loop before the flush it just scheduled runs

    loop.call_soon(log_then_stop)
    loop.run_forever()
    loop.close()
    assert stream.getvalue() == ""

    async def next_loop() -> None:
        handler.handle(_record("next loop"))
        await asyncio.sleep(0)

    asyncio.run(next_loop())
    assert stream.getvalue() == "last words\nnext loop\n"


@contextlib.contextmanager
def sole_handler() -> Iterator[tuple[LoopBatchedHandler, CountingStream]]:
    """The root logger as ``configure`` leaves it in a server: our JSON handler alone. Entered
    in the test's body: pytest adds its capture handlers to the root at each phase's start."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    stream = CountingStream()
    handler = LoopBatchedHandler(stream)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        yield handler, stream
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    for line in lines:
        assert datetime.fromisoformat(str(line.pop("ts"))).tzinfo is not None
    return lines


async def test_direct_path_writes_the_line_a_record_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fields = {"channel": "wechat", "msg_event": None, "event": "subscribe", "status": 200}
    logger = logging.getLogger("bot.channels.base")
    with sole_handler() as (handler, stream):
        with monkeypatch.context() as patch:
            patch.setattr(logger, "makeRecord", None)  # the direct path builds no record
            log_event(logger, "request", **fields)
        record = logging.LogRecord(logger.name, logging.INFO, __file__, 1, "request", (), None)
        record.fields = fields
        handler.handle(record)  # the record path, for comparison
        await asyncio.sleep(0)
    direct, via_record = _lines(stream)
    assert direct == via_record
    assert list(direct)[:3] == ["level", "logger", "event"] and direct["event_"] == "subscribe"
    assert stream.writes == 1  # still batched with the loop's other lines


async def test_direct_path_steps_aside_for_filters_and_other_handlers() -> None:
    logger = logging.getLogger("bot.channels.base")
    parent = logging.getLogger("bot.channels")
    drop_requests = logging.Filter("nothing")  # passes no record of bot.channels.*
    captured: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    other = Capture()
    with sole_handler() as (_, stream):
        parent.addFilter(drop_requests)
        try:
            log_event(logger, "request", status=200)  # a filter on the parent: not applied
        finally:
            parent.removeFilter(drop_requests)
        logger.addFilter(drop_requests)
        try:
            log_event(logger, "request", status=201)  # on the logger itself: applied
        finally:
            logger.removeFilter(drop_requests)
        logging.getLogger().addHandler(other)
        try:
            log_event(logger, "request", status=202)
        finally:
            logging.getLogger().removeHandler(other)
        log_event(logger, "debugging", logging.DEBUG, status=203)  # below the level: nothing
        await asyncio.sleep(0)
    assert [line["status"] for line in _lines(stream)] == [200, 202]
    assert [r.fields for r in captured] == [{"status": 202}]  # type: ignore[attr-defined]
