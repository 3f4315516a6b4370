"""Campaign posts: their occurrences, rendering, and the WeChat mass-send quota."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.kernel.clock import as_utc
from bot.kernel.config import SchedulesConfig
from schedules.calendar import Calendar
from storage.schedules import CampaignPost

TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
PLACEHOLDERS = frozenset({"year", "festival", "date"})
CHANNELS = ("wechat", "weibo")


class PostError(ValueError):
    """An operator's post or schedule is not acceptable; the message says why."""


def check_template(text: str) -> None:
    """Refuse unknown or malformed {placeholders} at add time, so sending never fails on them."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise PostError(
            f"bad braces in text ({exc}); write {{{{ and }}}} for literal braces"
        ) from None
    for name in fields:
        if name not in PLACEHOLDERS:
            allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
            raise PostError(f"unknown placeholder {{{name}}}: allowed are {allowed}")


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill the placeholders (checked at add time) from ``values``."""
    return text.format_map(dict(values))


def body_of(post: CampaignPost) -> dict[str, Any]:
    """The post's content as stored (JSON)."""
    data: dict[str, Any] = json.loads(post.body)
    return data


def channels_of(post: CampaignPost) -> list[str]:
    """The post's channels, in a stable order."""
    wanted = set(post.channels.split(","))
    return [c for c in CHANNELS if c in wanted]


def occurrences(
    post: CampaignPost, calendar: Calendar, tz: ZoneInfo, start: datetime, end: datetime
) -> Iterator[datetime]:
    """Occurrences (aware UTC) of ``post`` with start <= t < end, in order."""
    if post.at is not None:
        at = as_utc(post.at)
        if start <= at < end:
            yield at
        return
    if not post.key_date or not post.time_of_day:
        return
    if post.key_date not in calendar.all_keys():
        # A date of another campaign pack (the pack was switched) or a removed extra date:
        # never due, rather than failing every scheduler tick for every post.
        return
    hour, minute = (int(x) for x in post.time_of_day.split(":"))
    for year in range(start.astimezone(tz).year, end.astimezone(tz).year + 1):
        day = calendar.resolve(post.key_date, year)
        when = datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(UTC)
        if start <= when < end:
            yield when


def next_occurrences(
    post: CampaignPost, calendar: Calendar, tz: ZoneInfo, after: datetime, n: int = 3
) -> list[datetime]:
    """The next ``n`` occurrences strictly after ``after`` (within ten years)."""
    found = occurrences(
        post, calendar, tz, after + timedelta(microseconds=1), after + timedelta(days=3660)
    )
    out: list[datetime] = []
    for when in found:
        out.append(when)
        if len(out) == n:
            break
    return out


def placeholder_values(
    post: CampaignPost, calendar: Calendar, tz: ZoneInfo, when: datetime
) -> dict[str, str]:
    """{year}, {date} and {festival} for one occurrence."""
    local = when.astimezone(tz)
    festival = calendar.name(post.key_date) if post.key_date else ""
    return {"year": str(local.year), "date": local.date().isoformat(), "festival": festival}


@dataclass(frozen=True)
class Quota:
    limit: int
    period: str  # day | month

    def period_of(self, when: datetime, tz: ZoneInfo) -> tuple[int, int, int]:
        """The quota period containing ``when`` (local time)."""
        d = when.astimezone(tz).date()
        return (d.year, d.month, d.day if self.period == "day" else 0)

    def describe(self) -> str:
        """e.g. '1 a day'."""
        return f"{self.limit} a {self.period}"


def quota_of(config: SchedulesConfig) -> Quota:
    """The account's mass-send quota: config override, else by account type."""
    default = (1, "day") if config.account_type == "subscription" else (4, "month")
    limit = config.mass_quota or default[0]
    period = config.mass_quota_period or default[1]
    return Quota(limit, period)


def validate_schedule(
    *, at: datetime | None, key_date: str | None, time_of_day: str | None, calendar: Calendar
) -> None:
    """Exactly one of ``at`` or ``key_date``+``time_of_day``, each well-formed."""
    if (at is None) == (key_date is None):
        raise PostError("give either --at DATETIME or --key-date KEY --time HH:MM")
    if at is not None and at.tzinfo is None:
        raise PostError("--at needs a time zone (the CLI reads it in schedules.timezone)")
    if key_date is not None:
        if key_date not in calendar.all_keys():
            raise PostError(
                f"unknown key date {key_date!r}; known: {', '.join(calendar.all_keys())}"
            )
        if not time_of_day or not TIME_RE.match(time_of_day):
            raise PostError("--time must be HH:MM (24-hour, schedules.timezone)")
