"""Rows of the operator exports of volunteers, hours, activity rosters and stories, shared by
the CLI and the console (both above the features): columns from ``reports.*`` texts, personal
data masked unless asked for (and then audited by the caller)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.kernel.clock import as_utc, local
from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from bot.kernel.privacy import mask_name, mask_phone
from bot.sheets import Sheet
from handlers.activities import Counter
from handlers.stories import stories_media_path
from storage import stories as store
from storage.activities import Enrolment, LedgerRow
from storage.stories import Story, StoryMedia
from storage.volunteers import Volunteer

TIME_FORMAT = "%Y-%m-%d %H:%M"


def channel_label(bot: BotContext, channel: str) -> str:
    """The channel as operators read it in lists and exports (微信, 微博)."""
    name: str = bot.texts.get(f"common.channel_names.{channel}", channel)
    return name


def when_text(moment: datetime | None) -> str:
    """A stored time in Asia/Shanghai, or '' for none."""
    return local(as_utc(moment)).strftime(TIME_FORMAT) if moment else ""


# -- volunteers ----------------------------------------------------------------------------------


def export_headers(t: Texts) -> list[str]:
    """Columns of the volunteers export."""
    keys = (
        "id",
        "channel",
        "name",
        "phone",
        "city",
        "district",
        "birth_year",
        "minor",
        "skills",
        "availability",
        "total_hours",
        "registered",
    )
    return [t(f"reports.volunteers.col_{key}") for key in keys]


def export_row(bot: BotContext, v: Volunteer, hours: Decimal, full_phone: bool) -> list[Any]:
    """One row of the volunteers export (the phone masked unless ``full_phone``)."""
    unreadable = bot.texts("common.unreadable")  # written under another key: never a traceback
    return [
        v.id,
        channel_label(bot, v.channel),
        bot.cipher.reveal(v.name_enc, unreadable),
        bot.cipher.reveal(v.phone_enc, unreadable, None if full_phone else mask_phone),
        v.city,
        v.district,
        v.birth_year,
        bot.texts("reports.volunteers.yes" if v.minor else "reports.volunteers.no"),
        v.skills.replace(",", "、"),
        v.availability.replace(",", "、"),
        float(hours),
        when_text(v.created_at),
    ]


def display_name(bot: BotContext, name_enc: str) -> str:
    """Masked name, or the erased label for a volunteer who deleted their data."""
    if not name_enc:
        return bot.texts("volunteer.erased_label")
    return bot.cipher.reveal(name_enc, bot.texts("common.unreadable"), mask_name)


def _columns(t: Texts, prefix: str, *keys: str) -> list[str]:
    return [t(f"{prefix}.col_{key}") for key in keys]


def ledger_sheets(
    bot: BotContext, entries: list[LedgerRow], progress: Counter | None = None
) -> list[Sheet]:
    """The ``hours export`` sheets: every ledger row, and the totals per volunteer (names
    masked, times Asia/Shanghai)."""
    names: dict[int, str] = {}
    rows: list[list[Any]] = []
    totals: dict[int, list[Any]] = {}
    if progress is not None:
        progress.total = len(entries)
    for r in entries:
        vid = r.entry.volunteer_id
        if vid not in names:
            names[vid] = display_name(bot, r.name_enc)
        actor = bot.texts.get(f"volunteer.actor_names.{r.entry.actor}", r.entry.actor)
        hours = Decimal(r.entry.hours)
        channel = channel_label(bot, r.channel)
        rows.append(
            [
                r.entry.id,
                vid,
                channel,
                names[vid],
                r.city,
                float(hours),
                r.entry.reason,
                r.activity_title,
                actor,
                when_text(r.entry.at),
            ]
        )
        total = totals.setdefault(vid, [vid, channel, names[vid], r.city, 0, Decimal(0)])
        total[4] += 1
        total[5] += hours
        if progress is not None:
            progress.advance()
    summary = [[*t[:5], float(t[5])] for _vid, t in sorted(totals.items())]
    t = bot.texts
    p = "reports.volunteers"
    ledger = ("entry", "volunteer", "channel", "name", "city", "hours", "reason", "activity")
    return [
        Sheet(t(f"{p}.ledger_sheet"), _columns(t, p, *ledger, "actor", "time"), rows),
        Sheet(
            t(f"{p}.totals_sheet"),
            _columns(t, p, "volunteer", "channel", "name", "city", "entries", "sum"),
            summary,
        ),
    ]


# -- activity rosters ----------------------------------------------------------------------------


def roster_headers(t: Texts) -> list[str]:
    """Columns of ``activities roster``."""
    keys = ("number", "volunteer", "channel", "name", "phone", "city", "enrolled_at")
    return _columns(t, "reports.activities", *keys, "checked_in_at", "checked_out_at", "status")


def _roster_status(t: Texts, enrolment: Enrolment) -> str:
    if enrolment.checked_out_at is not None:
        return t("reports.activities.status_checked_out")
    if enrolment.checked_in_at is not None:
        return t("reports.activities.status_checked_in")
    return t("reports.activities.status_enrolled")


def roster_rows(
    bot: BotContext, entries: list[tuple[Enrolment, Volunteer]], progress: Counter | None = None
) -> list[list[Any]]:
    """One row per enrolment, names and phones masked."""
    unreadable = bot.texts("common.unreadable")
    rows: list[list[Any]] = []
    if progress is not None:
        progress.total = len(entries)
    for i, (enrolment, v) in enumerate(entries, 1):
        phone = bot.cipher.reveal(v.phone_enc, unreadable, mask_phone) if v.phone_enc else ""
        rows.append(
            [
                i,
                v.id,
                channel_label(bot, v.channel),
                display_name(bot, v.name_enc),
                phone,
                v.city,
                when_text(enrolment.enrolled_at),
                when_text(enrolment.checked_in_at),
                when_text(enrolment.checked_out_at),
                _roster_status(bot.texts, enrolment),
            ]
        )
        if progress is not None:
            progress.advance()
    return rows


# -- stories -------------------------------------------------------------------------------------


def report_text(bot: BotContext, key: str, **params: Any) -> str:
    """A ``reports.stories`` text."""
    return bot.texts(f"reports.stories.{key}", **params)


def status_text(bot: BotContext, status: str) -> str:
    """A story status as operators read it."""
    return report_text(bot, f"status_{status}")


def contact(bot: BotContext, story: Story, *, reveal: bool = False) -> str:
    """The story's contact as operators see it: masked, or whole with ``reveal``."""
    if not story.contact_name_enc or not story.contact_phone_enc:
        return ""
    unreadable = bot.texts("common.unreadable")
    name = bot.cipher.reveal(story.contact_name_enc, unreadable, None if reveal else mask_name)
    phone = bot.cipher.reveal(story.contact_phone_enc, unreadable, None if reveal else mask_phone)
    return f"{name} {phone}"


def pictures_of(media: list[StoryMedia]) -> list[StoryMedia]:
    """The pictures among a story's media."""
    return [m for m in media if m.kind == "image"]


def videos_of(media: list[StoryMedia]) -> list[StoryMedia]:
    """The videos among a story's media."""
    return [m for m in media if m.kind == "video"]


async def story_rows(
    bot: BotContext, status: str | None, channel: str | None, progress: Counter | None = None
) -> tuple[list[str], list[list[Any]]]:
    """Headers and one row per story of the selection, in full (contact masked)."""
    async with bot.sessions() as session:
        stories = await store.list_stories(session, status, channel)
        media = await store.media_of(session, [s.id for s in stories])
    directory = stories_media_path(bot.config)
    if progress is not None:
        progress.total = len(stories)
    rows: list[list[Any]] = []
    for s in stories:
        pictures, videos = pictures_of(media[s.id]), videos_of(media[s.id])
        rows.append(
            [
                s.id,
                channel_label(bot, s.channel),
                when_text(s.created_at),
                status_text(bot, s.status),
                s.text,
                len(pictures),
                "\n".join(str(directory / (m.path or "")) for m in pictures),
                len(videos),
                "\n".join(m.media_id or "" for m in videos),
                contact(bot, s),
                report_text(bot, "yes") if s.consent else report_text(bot, "no"),
                when_text(s.reviewed_at),
                s.review_note or "",
            ]
        )
        if progress is not None:
            progress.advance()
    keys = [
        "number",
        "channel",
        "date",
        "status",
        "text",
        "pictures",
        "picture_files",
        "videos",
        "video_ids",
        "contact",
        "consent",
        "reviewed",
        "note",
    ]
    return [report_text(bot, f"col_{k}") for k in keys], rows
