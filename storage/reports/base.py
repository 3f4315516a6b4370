"""What a report section is made of, the report period, and the SQL helpers every section
query shares (local-time buckets on SQLite and PostgreSQL, JSON fields).

Every figure of the office report comes from one query in one section module; sections return
content keys (``office_report.labels.*``) instead of Chinese words, so the wording lives in
``handlers/content/office_report.toml`` and the numbers here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.kernel.clock import SHANGHAI

# Asia/Shanghai has had no daylight saving since 1991: SQLite shifts by a fixed offset.
SQLITE_SHIFT = "+8 hours"
_PERIOD = re.compile(r"^(?P<y>\d{4})(?:-(?:(?P<m>\d{2})|Q(?P<q>[1-4])))?$")


class PeriodError(ValueError):
    """The period is not YYYY, YYYY-QN or YYYY-MM."""


@dataclass(frozen=True)
class Period:
    """The months a report covers (Asia/Shanghai): a month, a quarter or a year.

    Rows are per day for a month and per month for a quarter or a year (``unit``)."""

    year: int
    first_month: int
    months: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2027-03``, ``2027-Q1`` or ``2027``."""
        found = _PERIOD.match(text.strip())
        if not found:
            raise PeriodError(f"expected YYYY-MM, YYYY-QN or YYYY, got {text!r}")
        year = int(found["y"])
        if found["m"]:
            month = int(found["m"])
            if not 1 <= month <= 12:
                raise PeriodError(f"no month {month} in {text!r}")
            return cls(year, month, 1)
        if found["q"]:
            return cls(year, 3 * int(found["q"]) - 2, 3)
        return cls(year, 1, 12)

    @property
    def kind(self) -> str:
        """month | quarter | year."""
        return {1: "month", 3: "quarter", 12: "year"}[self.months]

    @property
    def unit(self) -> str:
        """The row unit: day (a month's report) or month."""
        return "day" if self.months == 1 else "month"

    @property
    def code(self) -> str:
        """The period as given on the command line (file names)."""
        if self.months == 12:
            return str(self.year)
        if self.months == 3:
            return f"{self.year}-Q{(self.first_month + 2) // 3}"
        return f"{self.year}-{self.first_month:02d}"

    @property
    def quarter(self) -> int:
        """The quarter (1-4) the period starts in."""
        return (self.first_month + 2) // 3

    def month_starts(self) -> list[date]:
        """The first day of each month of the period, and of the month after."""
        out = []
        for i in range(self.months + 1):
            n = self.first_month - 1 + i
            out.append(date(self.year + n // 12, n % 12 + 1, 1))
        return out

    @property
    def first_day(self) -> date:
        """The period's first day."""
        return self.month_starts()[0]

    @property
    def end_day(self) -> date:
        """The day after the period (exclusive bound)."""
        return self.month_starts()[-1]

    @property
    def since(self) -> datetime:
        """The period's first instant, aware UTC (SQLite compares times as UTC text)."""
        return datetime.combine(self.first_day, datetime.min.time(), SHANGHAI).astimezone(UTC)

    @property
    def until(self) -> datetime:
        """The instant after the period, aware UTC."""
        return datetime.combine(self.end_day, datetime.min.time(), SHANGHAI).astimezone(UTC)

    def buckets(self) -> list[str]:
        """The row labels in order: ``YYYY-MM-DD`` days or ``YYYY-MM`` months."""
        if self.unit == "month":
            return [d.strftime("%Y-%m") for d in self.month_starts()[:-1]]
        first, end = self.first_day.toordinal(), self.end_day.toordinal()
        return [date.fromordinal(n).isoformat() for n in range(first, end)]

    def month_bounds(self) -> list[tuple[str, datetime, datetime]]:
        """(``YYYY-MM``, first instant, instant after) of each month, aware UTC."""
        starts = [
            datetime.combine(d, datetime.min.time(), SHANGHAI).astimezone(UTC)
            for d in self.month_starts()
        ]
        labels = [d.strftime("%Y-%m") for d in self.month_starts()[:-1]]
        return [(label, starts[i], starts[i + 1]) for i, label in enumerate(labels)]


class Label(str):
    """A cell that is a label key (``office_report.labels.<key>``), shown in words."""

    __slots__ = ()


@dataclass(frozen=True)
class Table:
    """A titled table: ``title`` and ``columns`` are label keys, rows are values."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True)
class Chart:
    """A chart of one table: bars (or lines) of ``values`` columns against the ``label`` one."""

    title: str
    table: str
    values: Sequence[int] = (1,)
    label: int = 0
    kind: str = "bar"  # bar | line | barh


@dataclass(frozen=True)
class Case:
    """A typical case for 典型案例: ``kind`` names its wording in the content file
    (``office_report.cases.<kind>_heading`` / ``_text``), ``fields`` fill it in (masked)."""

    kind: str
    fields: Mapping[str, Any]


@dataclass
class Section:
    """One feature's part of the report."""

    key: str
    totals: list[tuple[str, Any]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)

    def total(self, key: str) -> Any:
        """The total labelled ``key`` (tests and the narrative read them by key)."""
        for label, value in self.totals:
            if label == key:
                return value
        raise KeyError(key)

    def table(self, title: str) -> Table:
        """The table titled ``title``."""
        for table in self.tables:
            if table.title == title:
                return table
        raise KeyError(title)


@dataclass(frozen=True)
class Scope:
    """What a section query needs: the session, the period and a few settings."""

    session: AsyncSession
    period: Period
    # The configured skills (volunteers choose from them; counted one by one).
    skills: Sequence[str] = ()
    stars_top: int = 10
    # Decrypts and masks a stored name (storage never sees the key).
    masked_name: Callable[[str], str] = str
    top_questions: int = 20

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name


def local_bucket(scope: Scope, column: Any, unit: str | None = None) -> ColumnElement[str]:
    """``YYYY-MM-DD`` or ``YYYY-MM`` of a UTC time column in Asia/Shanghai."""
    unit = unit or scope.period.unit
    if scope.dialect == "postgresql":
        fmt = "YYYY-MM-DD" if unit == "day" else "YYYY-MM"
        return func.to_char(func.timezone("Asia/Shanghai", column), fmt)
    return func.strftime("%Y-%m-%d" if unit == "day" else "%Y-%m", column, SQLITE_SHIFT)


def date_bucket(scope: Scope, column: Any) -> ColumnElement[str]:
    """``YYYY-MM-DD`` or ``YYYY-MM`` of a DATE column (already a local day)."""
    if scope.dialect == "postgresql":
        return func.to_char(column, "YYYY-MM-DD" if scope.period.unit == "day" else "YYYY-MM")
    return func.strftime("%Y-%m-%d" if scope.period.unit == "day" else "%Y-%m", column)


def local_hour(scope: Scope, column: Any) -> ColumnElement[int]:
    """The hour of day (0-23) of a UTC time column in Asia/Shanghai."""
    if scope.dialect == "postgresql":
        return cast(func.extract("hour", func.timezone("Asia/Shanghai", column)), Integer)
    return cast(func.strftime("%H", column, SQLITE_SHIFT), Integer)


def json_int(scope: Scope, column: Any, key: str) -> ColumnElement[int]:
    """An integer field of a JSON text column (NULL when absent)."""
    if scope.dialect == "postgresql":
        return cast(cast(column, JSONB)[key].astext, Integer)
    return cast(func.json_extract(column, f"$.{key}"), Integer)


def in_period(scope: Scope, column: Any) -> ColumnElement[bool]:
    """``column`` (a UTC time) falls in the period."""
    return (column >= scope.period.since) & (column < scope.period.until)


def per_bucket(
    scope: Scope, found: Mapping[str, Sequence[Any]] | Iterable[tuple[Any, ...]], width: int
) -> list[tuple[Any, ...]]:
    """One row per bucket of the period, zeros where a query found nothing.

    ``found`` maps a bucket to its values, or is rows whose first column is the bucket."""
    table = dict(found) if isinstance(found, Mapping) else {str(r[0]): tuple(r[1:]) for r in found}
    return [(b, *table.get(b, (0,) * width)) for b in scope.period.buckets()]


async def rows_per_bucket(
    scope: Scope, column: Any, *values: Any, where: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """One row per bucket of the period: the aggregates ``values`` over the rows whose time
    ``column`` falls in that bucket (and that match ``where``), zeros where there are none."""
    bucket = local_bucket(scope, column)
    found = await scope.session.execute(
        select(bucket, *values).where(in_period(scope, column), *where).group_by(bucket)
    )
    return per_bucket(scope, found, len(values))


def ratio(part: float, whole: float) -> float:
    """``part / whole`` rounded to 4 places (0 when nothing to divide)."""
    return round(part / whole, 4) if whole else 0.0
