"""Rows of the operator exports of volunteers and stories, shared by the CLI and the console
(both above the features): columns from ``reports.*`` texts, personal data masked unless asked
for (and then audited by the caller)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.kernel.clock import as_utc, local
from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from bot.kernel.privacy import mask_name, mask_phone
from handlers.activities import Counter
from handlers.stories import stories_media_path
from storage import stories as store
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
