"""Operator actions on posts: add (with the quota check), cancel, list, run now."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.kernel.clock import as_utc
from bot.kernel.context import BotContext
from schedules.calendar import Calendar
from schedules.delivery import weibo_status
from schedules.outbox import calendar_of, zone_of
from schedules.posts import (
    CHANNELS,
    PostError,
    Quota,
    channels_of,
    check_template,
    next_occurrences,
    occurrences,
    quota_of,
    validate_schedule,
)
from storage.db import Session, added
from storage.schedules import CampaignPost, PostStatus, active_posts, get_post, outbox_in_period

# statuses/share: "内容不超过140个汉字" (the link included).
WEIBO_STATUS_LIMIT = 140
# Placeholder values at their longest, to check lengths before any occurrence is known.
LONGEST_VALUES = {"year": "2027", "date": "2027-12-05", "festival": "国际志愿者日"}


@dataclass(frozen=True)
class PostSpec:
    label: str
    kind: str  # text | image | news
    body: dict[str, Any]
    channels: Sequence[str]
    at: datetime | None = None
    key_date: str | None = None
    time_of_day: str | None = None
    tag_id: int | None = None
    link: str = ""
    preview_to: Sequence[str] = ()
    preview_minutes: int = 0


@dataclass(frozen=True)
class PostRules:
    """What a post is checked against, from the config: the WeChat mass-send quota, the
    campaign calendar (key dates) and the schedules' time zone."""

    quota: Quota
    calendar: Calendar
    tz: ZoneInfo


def rules_of(bot: BotContext) -> PostRules:
    """The rules of this installation's posts."""
    return PostRules(quota_of(bot.config.schedules), calendar_of(bot), zone_of(bot))


def validate_spec(spec: PostSpec, calendar: Calendar) -> None:
    """Refuse a post that could not be sent as given."""
    if not spec.channels or any(c not in CHANNELS for c in spec.channels):
        raise PostError(f"channels must be among {', '.join(CHANNELS)}")
    validate_schedule(
        at=spec.at, key_date=spec.key_date, time_of_day=spec.time_of_day, calendar=calendar
    )
    body = spec.body
    if spec.kind == "text":
        if not str(body.get("text", "")).strip():
            raise PostError("the text is empty")
        check_template(body["text"])
    elif spec.kind == "image":
        if not body.get("image"):
            raise PostError("an image post needs --image FILE")
        check_template(str(body.get("text", "")))
    elif spec.kind == "news":
        arts = body.get("articles") or []
        if not arts:
            raise PostError("a news post needs at least one article")
        for art in arts:
            if not art.get("title") or not art.get("cover"):
                raise PostError("each article needs a title and a cover image")
            check_template(art["title"])
            check_template(art.get("digest", ""))
    else:
        raise PostError("kind must be text, image or news")
    for path in _files(spec):
        if not Path(path).is_file():
            raise PostError(f"file not found: {path}")
    if "weibo" in spec.channels and not spec.link and spec.kind != "news":
        raise PostError("Weibo's share API requires a link: give --link URL")
    if "weibo" in spec.channels:
        status = weibo_status(post_from_spec(spec, datetime.now(UTC)), LONGEST_VALUES)
        if len(status.text) > WEIBO_STATUS_LIMIT:
            raise PostError(
                f"the Weibo status would be {len(status.text)} characters with its link; "
                f"statuses/share takes at most {WEIBO_STATUS_LIMIT}"
            )
    if spec.preview_to and spec.preview_minutes <= 0:
        raise PostError("--preview-minutes must be positive when --preview-to is given")


def _files(spec: PostSpec) -> list[str]:
    if spec.kind == "image":
        return [str(spec.body["image"])]
    if spec.kind == "news":
        return [str(a["cover"]) for a in spec.body.get("articles", [])]
    return []


def _period_window(rules: PostRules, when: datetime) -> tuple[datetime, datetime]:
    local = when.astimezone(rules.tz)
    if rules.quota.period == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (start + timedelta(days=32)).replace(day=1)
    # UTC: SQLite stores datetimes without their zone, so every bound must be in UTC.
    return start.astimezone(UTC), nxt.astimezone(UTC)


async def quota_conflict(
    session: Session, spec: PostSpec, rules: PostRules, now: datetime
) -> str | None:
    """Why ``spec`` would exceed the WeChat mass-send quota, or None."""
    if "wechat" not in spec.channels:
        return None
    probe = CampaignPost(
        id=0, at=spec.at, key_date=spec.key_date, time_of_day=spec.time_of_day, channels="wechat"
    )
    others = [p for p in await active_posts(session) if "wechat" in channels_of(p)]
    quota, tz = rules.quota, rules.tz
    for occ in next_occurrences(probe, rules.calendar, tz, now - timedelta(seconds=1), n=3):
        start, end = _period_window(rules, occ)
        taken = await _taken(session, others, rules, start, end)
        if len(taken) >= quota.limit:
            (_pid, when), name = sorted(taken.items(), key=lambda kv: kv[0][1])[0]
            return (
                f"WeChat mass-send quota is {quota.describe()} for this account; "
                f"{occ.astimezone(tz):%Y-%m-%d %H:%M} falls in a period already used by "
                f"{name} at {when.astimezone(tz):%Y-%m-%d %H:%M}"
            )
    return None


async def check_post(session: Session, spec: PostSpec, rules: PostRules, now: datetime) -> None:
    """Everything ``add_post`` refuses, without storing anything (also for --dry-run)."""
    validate_spec(spec, rules.calendar)
    if spec.at is not None and spec.at <= now:
        raise PostError("--at is in the past; use schedule run-now to send at once")
    conflict = await quota_conflict(session, spec, rules, now)
    if conflict:
        raise PostError(conflict)


async def add_post(
    session: Session, spec: PostSpec, rules: PostRules, now: datetime
) -> CampaignPost:
    """Validate, check the quota and store a post; PostError says why not."""
    await check_post(session, spec, rules, now)
    return await added(session, post_from_spec(spec, now))


def post_from_spec(spec: PostSpec, now: datetime) -> CampaignPost:
    """An (unsaved) post row for ``spec``."""
    return CampaignPost(
        label=spec.label,
        kind=spec.kind,
        body=json.dumps(spec.body, ensure_ascii=False),
        channels=",".join(c for c in CHANNELS if c in spec.channels),
        tag_id=spec.tag_id,
        link=spec.link,
        at=spec.at.astimezone(UTC) if spec.at else None,
        key_date=spec.key_date,
        time_of_day=spec.time_of_day,
        preview_to=",".join(spec.preview_to),
        preview_minutes=spec.preview_minutes,
        status=PostStatus.ACTIVE.value,
        created_at=now,
    )


async def cancel_post(session: Session, post_id: int) -> bool:
    """Cancel a post: nothing more of it goes out (rows already sent stay as they are)."""
    post = await get_post(session, post_id)
    if post is None or post.status != PostStatus.ACTIVE:
        return False
    post.status = PostStatus.CANCELLED.value
    await session.flush()
    return True


async def quota_left(session: Session, rules: PostRules, now: datetime) -> int:
    """Mass sends still free in the quota period containing ``now`` (sent, sending and still
    scheduled WeChat pushes of the period count as taken)."""
    start, end = _period_window(rules, now)
    others = [p for p in await active_posts(session) if "wechat" in channels_of(p)]
    return max(0, rules.quota.limit - len(await _taken(session, others, rules, start, end)))


async def _taken(
    session: Session,
    posts: Sequence[CampaignPost],
    rules: PostRules,
    start: datetime,
    end: datetime,
) -> dict[tuple[int, datetime], str]:
    """The WeChat mass sends of [start, end): sent or sending ones from the outbox and the
    occurrences of ``posts`` still to come, each with a name for messages."""
    taken: dict[tuple[int, datetime], str] = {}
    for item in await outbox_in_period(session, "wechat", "push", start, end):
        taken[(item.post_id, as_utc(item.occurrence))] = f"post {item.post_id}"
    for post in posts:
        for when in occurrences(post, rules.calendar, rules.tz, start, end):
            taken[(post.id, when)] = f"post {post.id} “{post.label}”"
    return taken
