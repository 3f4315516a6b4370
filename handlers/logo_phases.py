"""The logo contest's phases: submission, review, voting, results (Asia/Shanghai times).

``contest_state`` is the one place that decides what is open at a moment. The schedule comes
from ``[logo] <phase>_from / <phase>_to`` in the config, overridden phase by phase by operators'
settings in the database (``python -m bot logos phase set``), so every worker process sees a
change at its next message. With no phase scheduled anywhere the contest is simply open:
submission and voting both, so a newcomer can try the whole contest locally.

Windows are half-open, [from, to). Phases follow each other in the order of ``PHASES``; only
the last scheduled one may be open-ended.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.kernel.clock import SHANGHAI, as_utc, local
from bot.kernel.config import Config, ConfigError, ConfigSection, require_positive

if TYPE_CHECKING:
    from bot.kernel.content import Texts
    from storage.db import Session

PHASES = ("submission", "review", "voting", "results")
TIME_FORMAT = "YYYY-MM-DD HH:MM"

_TIME_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?$")


class PhaseError(ValueError):
    """A phase time is malformed or the phases do not follow each other.

    ``phase`` and ``bound`` ("from" / "to") say which value, so the config error can name the
    key and the command line its option."""

    def __init__(self, phase: str, bound: str, message: str) -> None:
        super().__init__(message)
        self.phase = phase
        self.bound = bound


def parse_time(text: str, *, end: bool = False) -> datetime:
    """'YYYY-MM-DD HH:MM' (Asia/Shanghai) as aware UTC.

    A date alone means the start of that day, or for an end (``end=True``) the end of it, so
    ``voting_to = "2026-04-30"`` keeps voting open all of 30 April. '24:00' is the end of a day.
    Raises ValueError with a readable message."""
    m = _TIME_RE.match(text.strip())
    if not m:
        raise ValueError(f"expected {TIME_FORMAT} (Asia/Shanghai), got {text!r}")
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    hour, minute = (int(m[4]), int(m[5])) if m[4] is not None else (24 if end else 0, 0)
    extra = timedelta(0)
    if hour == 24 and minute == 0:
        hour, extra = 0, timedelta(days=1)
    try:
        moment = datetime(year, month, day, hour, minute, tzinfo=SHANGHAI) + extra
    except ValueError:
        raise ValueError(f"no such date or time: {text!r}") from None
    return as_utc(moment)


@dataclass(frozen=True)
class Window:
    """When one phase runs: [starts, ends), ``ends`` None for open-ended."""

    phase: str
    starts: datetime
    ends: datetime | None
    source: str  # "config" or "database"

    def contains(self, now: datetime) -> bool:
        """Whether ``now`` falls in the window."""
        return self.starts <= now and (self.ends is None or now < self.ends)


def check_order(windows: Iterable[Window]) -> None:
    """Raise PhaseError unless every window ends after it starts and phases follow in order."""
    ordered = sorted(windows, key=lambda w: PHASES.index(w.phase))
    for window in ordered:
        if window.ends is not None and window.ends <= window.starts:
            raise PhaseError(window.phase, "to", f"{window.phase} must end after it starts")
    for earlier, later in itertools.pairwise(ordered):
        if earlier.ends is None:
            raise PhaseError(
                earlier.phase, "to", f"{earlier.phase} needs an end: {later.phase} follows it"
            )
        if later.starts < earlier.ends:
            raise PhaseError(
                later.phase,
                "from",
                f"{later.phase} must not start before {earlier.phase} ends "
                f"({format_admin(earlier.ends, end=True)})",
            )


def config_windows(cfg: LogoConfig) -> list[Window]:
    """The phases scheduled in ``[logo]``; PhaseError names a malformed or half-set phase."""
    windows = []
    for phase in PHASES:
        start, finish = getattr(cfg, f"{phase}_from"), getattr(cfg, f"{phase}_to")
        if not start:
            if finish:
                raise PhaseError(phase, "from", f"required when {phase}_to is set")
            continue
        windows.append(
            Window(phase, _parse(phase, "from", start), _parse(phase, "to", finish), "config")
        )
    return windows


def _parse(phase: str, bound: str, text: str) -> Any:
    if bound == "to" and not text:
        return None
    try:
        return parse_time(text, end=bound == "to")
    except ValueError as exc:
        raise PhaseError(phase, bound, str(exc)) from None


def merge(config: Sequence[Window], database: Sequence[Window]) -> tuple[Window, ...]:
    """The effective schedule: a phase set in the database replaces the config's."""
    by_phase = {w.phase: w for w in config}
    by_phase.update({w.phase: w for w in database})
    return tuple(by_phase[p] for p in PHASES if p in by_phase)


@dataclass(frozen=True)
class ContestState:
    """What the contest allows at ``now``."""

    now: datetime
    windows: tuple[Window, ...]

    @property
    def scheduled(self) -> bool:
        """Whether any phase is scheduled (else everything but results is open)."""
        return bool(self.windows)

    def window(self, phase: str) -> Window | None:
        """The scheduled window of ``phase``, if any."""
        return next((w for w in self.windows if w.phase == phase), None)

    @property
    def phase(self) -> str | None:
        """The phase running now, if any."""
        return next((w.phase for w in self.windows if w.contains(self.now)), None)

    @property
    def submission_open(self) -> bool:
        """Whether entries may be submitted now."""
        return not self.scheduled or self.phase == "submission"

    @property
    def voting_open(self) -> bool:
        """Whether votes may be cast now."""
        return not self.scheduled or self.phase == "voting"

    @property
    def results_published(self) -> bool:
        """Whether the results phase has begun (results stay published after it ends)."""
        results = self.window("results")
        return results is not None and self.now >= results.starts

    def upcoming(self, phase: str) -> Window | None:
        """``phase``'s window if it is still to come."""
        window = self.window(phase)
        return window if window is not None and window.starts > self.now else None

    @property
    def status(self) -> str:
        """open | submission | review | voting | results | before | between | ended."""
        if not self.scheduled:
            return "open"
        if self.results_published:
            return "results"
        if self.phase is not None:
            return self.phase
        later = [w for w in self.windows if w.starts > self.now]
        if not later:
            return "ended"
        return "before" if len(later) == len(self.windows) else "between"

    @property
    def next_window(self) -> Window | None:
        """The next phase to begin, if any."""
        later = [w for w in self.windows if w.starts > self.now]
        return later[0] if later else None


def counts_public(cfg: LogoConfig, state: ContestState) -> bool:
    """Whether vote counts may be shown (gallery, 我的投稿): live when ``gallery_show_counts``
    is on, else once the results are published."""
    return cfg.gallery_show_counts or state.results_published


def contest_state_at(
    now: datetime, cfg: LogoConfig, database: Sequence[Window] = ()
) -> ContestState:
    """The state at ``now`` from the config's phases and the database's overrides."""
    return ContestState(now=now, windows=merge(config_windows(cfg), database))


async def database_windows(session: Session) -> list[Window]:
    """The phases operators set with ``logos phase set``."""
    from storage.logo import phase_settings

    return [
        Window(r.phase, as_utc(r.starts_at), as_utc(r.ends_at) if r.ends_at else None, "database")
        for r in await phase_settings(session)
        if r.phase in PHASES
    ]


async def contest_state(session: Session, cfg: LogoConfig, now: datetime) -> ContestState:
    """The state now, reading operators' phase settings from the database."""
    return contest_state_at(now, cfg, await database_windows(session))


# -- Chinese texts -------------------------------------------------------------------------------


def format_admin(moment: datetime, *, end: bool = False) -> str:
    """'2026-03-31 09:00' (Asia/Shanghai) for operators; a midnight ``end`` reads as 24:00."""
    shown = local(moment)
    if end and (shown.hour, shown.minute) == (0, 0):
        return f"{(shown - timedelta(days=1)):%Y-%m-%d} 24:00"
    return shown.strftime("%Y-%m-%d %H:%M")


def format_date(texts: Texts, moment: datetime, now: datetime, *, end: bool = False) -> str:
    """A moment as people read it: '3月31日 24:00'; the year only when it is not this one."""
    shown = local(moment)
    hour = shown.hour
    if end and shown.hour == 0 and shown.minute == 0:
        shown, hour = shown - timedelta(days=1), 24  # the end of the day before
    key = "logo.date" if shown.year == local(now).year else "logo.date_with_year"
    return texts(
        key,
        year=shown.year,
        month=shown.month,
        day=shown.day,
        time=f"{hour:02d}:{shown.minute:02d}",
    )


def span(texts: Texts, window: Window, now: datetime) -> str:
    """'3月1日 09:00 至 3月31日 24:00' (or '3月1日 09:00 起' when open-ended)."""
    start = format_date(texts, window.starts, now)
    if window.ends is None:
        return texts("logo.span_open", start=start)
    return texts("logo.span", start=start, end=format_date(texts, window.ends, now, end=True))


def phase_line(texts: Texts, state: ContestState) -> str:
    """One sentence saying what the contest allows now and what comes next."""
    status, now = state.status, state.now
    params: dict[str, Any] = {}
    current = state.window(status)
    if current is not None:
        params["span"] = span(texts, current, now)
    upcoming = state.next_window
    if upcoming is not None:
        params["next_name"] = texts(f"logo.phase_name_{upcoming.phase}")
        params["next_start"] = format_date(texts, upcoming.starts, now)
    voting = state.upcoming("voting")
    params["voting_hint"] = (
        texts("logo.voting_hint", start=format_date(texts, voting.starts, now)) if voting else ""
    )
    return texts(f"logo.phase_{status}", **params)


def schedule_lines(texts: Texts, state: ContestState) -> list[str]:
    """One line per scheduled phase with its dates (the 征集 info reply)."""
    return [
        texts(
            "logo.schedule_line",
            name=texts(f"logo.phase_name_{w.phase}"),
            span=span(texts, w, state.now),
        )
        for w in state.windows
    ]


# -- config section [logo] ----------------------------------------------------------------


@dataclass(frozen=True)
class LogoConfig:
    # Votes one user may cast per (Asia/Shanghai) day, across all entries.
    votes_per_day: int = 3
    # Votes one user may give the same entry per day.
    votes_per_entry_per_day: int = 1
    # Contest phases, "YYYY-MM-DD HH:MM" in Asia/Shanghai (a date alone: the start of that day,
    # or for *_to the end of it). Empty: not scheduled. No phase anywhere: submission and voting
    # both open. Operators override them at run time (``logos phase set``).
    submission_from: str = ""
    submission_to: str = ""
    review_from: str = ""
    review_to: str = ""
    voting_from: str = ""
    voting_to: str = ""
    results_from: str = ""
    results_to: str = ""
    # Entries one person (account, or phone number) may have pending or approved.
    submissions_per_person: int = 3
    # Where submitted designs are stored; empty: <data_dir>/media/logo.
    media_dir: str = ""
    # Largest design file accepted, and the shortest side it must have, in pixels.
    image_max_bytes: int = 5 * 1024 * 1024
    image_min_pixels: int = 300
    # 投票 answers with a numbered "text" list or a "news" reply leading to the gallery.
    vote_list: str = "text"
    # Show live vote counts on the gallery page before the results are published.
    gallery_show_counts: bool = False
    # Vote attempts one user may make per minute (counted in the database, all processes).
    votes_per_minute: int = 10
    # Flag a QR scene when this many votes within burst_window_minutes come from people who
    # followed through it within burst_follower_hours. Flags never block votes.
    burst_threshold: int = 20
    burst_window_minutes: int = 10
    burst_follower_hours: int = 24


def validate_section(logo: LogoConfig) -> None:
    """Refuse a [logo] table that could not work, naming the key."""
    if logo.votes_per_day < 1:
        raise ConfigError("logo.votes_per_day: must be at least 1")
    if not 1 <= logo.votes_per_entry_per_day <= logo.votes_per_day:
        raise ConfigError("logo.votes_per_entry_per_day: must be between 1 and logo.votes_per_day")
    require_positive(
        "logo",
        logo,
        "submissions_per_person",
        "image_max_bytes",
        "image_min_pixels",
        "votes_per_minute",
        "burst_threshold",
        "burst_window_minutes",
        "burst_follower_hours",
    )
    if logo.vote_list not in {"text", "news"}:
        raise ConfigError("logo.vote_list: must be text or news")
    try:
        check_order(config_windows(logo))
    except PhaseError as exc:
        raise ConfigError(f"logo.{exc.phase}_{exc.bound}: {exc}") from None


LOGO = ConfigSection("logo", LogoConfig, validate_section)


def logo_media_path(config: Config) -> Path:
    """The directory of submitted logo designs, as an absolute path."""
    return config.media_path(LOGO.of(config).media_dir, "logo")
