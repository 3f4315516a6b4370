"""The campaign calendar: fixed Gregorian key dates and lunar festivals, resolved per year.

Lunar dates come from ``lunardate`` (a maintained Chinese-calendar library), never a table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from lunardate import LunarDate

from bot.kernel.config import Config, ConfigError

# key -> (month, day) in the Gregorian calendar.
GREGORIAN: dict[str, tuple[int, int]] = {
    "lei_feng_day": (3, 5),
    "charity_day": (9, 5),
    "poverty_relief_day": (10, 17),
    "volunteer_day": (12, 5),
}
# key -> (lunar month, lunar day); never a leap month.
LUNAR: dict[str, tuple[int, int]] = {
    "spring_festival": (1, 1),
    "lantern_festival": (1, 15),
    "dragon_boat_festival": (5, 5),
    "mid_autumn_festival": (8, 15),
    "double_ninth_festival": (9, 9),
}
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
EXTRA_RE = re.compile(r"^(lunar:)?(\d{1,2})-(\d{1,2})$")


class UnknownDate(KeyError):
    """No key date of that name."""


@dataclass(frozen=True)
class KeyDate:
    day: date
    key: str
    name: str


@dataclass(frozen=True)
class Calendar:
    """The built-in key dates plus ``extra`` ones from config (key -> "MM-DD" | "lunar:MM-DD")."""

    extra: Mapping[str, str]
    names: Mapping[str, str]

    def all_keys(self) -> list[str]:
        """Every known key."""
        return [*GREGORIAN, *LUNAR, *self.extra]

    def resolve(self, key: str, year: int) -> date:
        """The Gregorian date of ``key`` in ``year``."""
        if key in GREGORIAN:
            month, day = GREGORIAN[key]
            return date(year, month, day)
        if key in LUNAR:
            month, day = LUNAR[key]
            return LunarDate(year, month, day).to_solar_date()
        if key in self.extra:
            lunar, month, day = parse_extra(self.extra[key])
            if lunar:
                return LunarDate(year, month, day).to_solar_date()
            return date(year, month, day)
        raise UnknownDate(key)

    def name(self, key: str) -> str:
        """The Chinese name of ``key`` (the key itself when the content file has none)."""
        return str(self.names.get(key, key))

    def year(self, year: int) -> list[KeyDate]:
        """All key dates of ``year``, sorted by date then key."""
        items = [KeyDate(self.resolve(k, year), k, self.name(k)) for k in self.all_keys()]
        return sorted(items, key=lambda d: (d.day, d.key))


def load_calendar(extra: Mapping[str, str], texts: Any) -> Calendar:
    """The calendar with config extras, named from content ``calendar.names.<key>``."""
    keys = [*GREGORIAN, *LUNAR, *extra]
    names = {
        k: str(texts.get(f"calendar.names.{k}")) for k in keys if texts.has(f"calendar.names.{k}")
    }
    return Calendar(extra=dict(extra), names=names)


def parse_extra(spec: str) -> tuple[bool, int, int]:
    """``"MM-DD"`` or ``"lunar:MM-DD"`` -> (lunar, month, day); ValueError if malformed."""
    m = EXTRA_RE.match(spec.strip())
    if not m:
        raise ValueError(f"expected MM-DD or lunar:MM-DD, got {spec!r}")
    lunar, month, day = bool(m.group(1)), int(m.group(2)), int(m.group(3))
    if lunar:
        LunarDate(2026, month, day)  # raises ValueError when impossible
    else:
        date(2024, month, day)  # a leap year, so 02-29 passes
    return lunar, month, day


def validate_extra(extra: Iterable[tuple[str, str]]) -> None:
    """Raise ValueError naming the first bad extra date."""
    for key, spec in extra:
        if not KEY_RE.match(key) or key in GREGORIAN or key in LUNAR:
            raise ValueError(f"{key}: keys are lower-case ASCII identifiers, not built-in ones")
        try:
            parse_extra(str(spec))
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None


def check_extra_dates(config: Config) -> None:
    """The config check of ``[schedules.extra_dates]``: each a real, non-built-in key date."""
    try:
        validate_extra(config.schedules.extra_dates.items())
    except ValueError as exc:
        raise ConfigError(f"schedules.extra_dates.{exc}") from None


def format_year(calendar: Calendar, year: int) -> str:
    """``YYYY-MM-DD<TAB>key<TAB>名称`` lines, sorted."""
    return "\n".join(f"{d.day.isoformat()}\t{d.key}\t{d.name}" for d in calendar.year(year))
