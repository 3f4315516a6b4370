"""Slow webhook bodies are timed out and unsigned ones capped (issue 15, defect 8)."""

from __future__ import annotations

import asyncio
import os
import time
from urllib.parse import urlencode

import pytest

from bot.channels.base import BODY_GATE
from tests.conftest import BotHarness

TIMEOUT = 0.5
CAP = 3


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _slow_post(harness: BotHarness, path: str, query: dict[str, str]) -> Conn:
    """A POST whose headers promise 1000 bytes of body, of which only a few are sent."""
    url = harness.server.make_url(path)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(
        (
            f"POST {path}?{urlencode(query)} HTTP/1.1\r\nHost: {url.host}\r\n"
            "Content-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<xml>"
        ).encode()
    )
    await writer.drain()
    return reader, writer


async def _status_and_close(conn: Conn, within: float) -> tuple[int, float]:
    """The response status and how long until the server closed the connection."""
    reader, writer = conn
    started = time.monotonic()
    try:
        async with asyncio.timeout(within):
            line = await reader.readline()
            while await reader.read(65536):  # until the server closes
                pass
    finally:
        writer.close()
    return int(line.split()[1]), time.monotonic() - started


def _signed_query(harness: BotHarness) -> dict[str, str]:
    return harness.user().request("<xml></xml>").query


@pytest.mark.config(server={"body_timeout_seconds": TIMEOUT, "max_unsigned_body_reads": CAP})
async def test_unsigned_slow_bodies_are_capped_and_timed_out(harness: BotHarness) -> None:
    conns = [await _slow_post(harness, "/wechat", {"signature": "x"}) for _ in range(10)]
    results = await asyncio.gather(*(_status_and_close(r, TIMEOUT + 5) for r in conns))
    statuses = sorted(status for status, _ in results)
    assert statuses == [408] * CAP + [503] * (10 - CAP)
    # Refused at once; the ones read were dropped at the timeout, not when the client gave up.
    assert all(took < TIMEOUT + 2 for _, took in results)


@pytest.mark.config(server={"body_timeout_seconds": TIMEOUT, "max_unsigned_body_reads": CAP})
async def test_signed_requests_pass_while_unsigned_ones_fill_the_cap(harness: BotHarness) -> None:
    conns = [await _slow_post(harness, "/wechat", {"signature": "x"}) for _ in range(CAP)]
    await asyncio.sleep(0.05)
    user = harness.user()
    assert "新时代" in await harness.say(user, "活动介绍")
    # A signed slow body is not capped but still timed out.
    slow_signed = await _slow_post(harness, "/wechat", _signed_query(harness))
    status, _ = await _status_and_close(slow_signed, TIMEOUT + 5)
    assert status == 408
    for conn in conns:
        assert (await _status_and_close(conn, TIMEOUT + 5))[0] == 408
    # Weibo's webhook goes through the same gate.
    weibo = await _slow_post(harness, "/weibo", {"signature": "x"})
    assert (await _status_and_close(weibo, TIMEOUT + 5))[0] == 408


@pytest.mark.slow
@pytest.mark.config(server={"body_timeout_seconds": 1.0})
async def test_seven_hundred_slow_connections_do_not_stay_open(harness: BotHarness) -> None:
    count = 200 if os.environ.get("BOT_LOAD_SCALE") == "short" else 700
    conns = [await _slow_post(harness, "/wechat", {"signature": "x"}) for _ in range(count)]
    results = await asyncio.gather(*(_status_and_close(r, 15) for r in conns))
    statuses = [status for status, took in results if took < 15]
    cap = harness.bot.config.server.max_unsigned_body_reads
    # All closed by the bot; never more than the cap read at once (a slot freed by a timeout
    # takes the next sender while the client is still opening connections on a busy machine).
    assert len(statuses) == count and set(statuses) == {408, 503}
    assert statuses.count(408) >= cap and harness.app[BODY_GATE].peak == cap
    # The bot still answers.
    assert "新时代" in await harness.say(harness.user(), "活动介绍")
