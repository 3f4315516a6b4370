"""A clock the app reads time from, so tests control time instead of waiting."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def timestamp(self) -> float:
        """``now()`` in seconds since the epoch, without building a datetime (the keyword
        path reads the time three times a message)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        """The real current time in UTC."""
        return datetime.now(UTC)

    def timestamp(self) -> float:
        """The real current time in seconds since the epoch."""
        return time.time()


class FakeClock:
    """A settable clock for tests."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")

    def now(self) -> datetime:
        """The current fake time."""
        return self._now

    def timestamp(self) -> float:
        """The current fake time in seconds since the epoch."""
        return self._now.timestamp()

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (aware)."""
        if when.tzinfo is None:
            raise ValueError("aware datetime required")
        self._now = when

    def advance(self, seconds: float = 0, **kwargs: float) -> None:
        """Move forward by a timedelta's worth of arguments."""
        self._now += timedelta(seconds=seconds, **kwargs)


def local(dt: datetime) -> datetime:
    """``dt`` in Asia/Shanghai, the campaigns' time zone."""
    return dt.astimezone(SHANGHAI)


def as_utc(dt: datetime) -> datetime:
    """``dt`` as aware UTC (a naive value is taken as UTC, as the database stores times)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
