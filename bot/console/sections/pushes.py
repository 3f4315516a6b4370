"""Pushes: compose (text, image, articles; all followers or a tag; per channel), the quota
check, draft -> approve -> scheduled -> sent with an optional second approver, preview to an
operator's own WeChat, cancel, run now, and each delivery's state from the outbox.

A push drafted here is stored with status ``draft``: the scheduler only sends ``active``
posts, so nothing goes out before an admin approves it."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField
from PIL import Image, UnidentifiedImageError

from bot.console.call import Call, Form, FormError
from bot.console.pages import Role, Section
from bot.kernel.context import BotContext
from handlers import pushes_ops as ops
from handlers.operations import OperationError
from handlers.operators import CONSOLE
from schedules.outbox import calendar_of, zone_of
from schedules.posts import CHANNELS, body_of, channels_of, next_occurrences, quota_of
from schedules.service import PostSpec
from storage.schedules import CampaignPost, list_posts, outbox_for

section = Section("pushes", nav="console.nav.pushes", order=30)
KINDS = ("text", "image", "news")
MAX_ARTICLES = 3
IMAGE_TYPES = {"PNG": "png", "JPEG": "jpg"}


def _media_dir(bot: BotContext) -> Path:
    return bot.config.data_path / "media" / "pushes"


async def _save_image(call: Call, form: Form, name: str, label: str) -> str:
    """Store an uploaded PNG/JPEG under its hash; returns the absolute path."""
    field: Any = form.data.get(name)
    data = field.file.read() if isinstance(field, FileField) else b""
    if not data:
        raise FormError(call.t("console.errors.required", field=label))
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            img.verify()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise FormError(call.t("console.pushes.bad_image")) from None
    if fmt not in IMAGE_TYPES:
        raise FormError(call.t("console.pushes.bad_image"))
    folder = _media_dir(call.bot)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()}.{IMAGE_TYPES[fmt]}"
    if not path.exists():
        path.write_bytes(data)
    return str(path)


def _when(call: Call, form: Form) -> tuple[datetime | None, str | None, str | None]:
    """(at, key_date, time_of_day) from the form's schedule fields."""
    how = form.choice("schedule", ("at", "key_date"), label=call.t("console.pushes.schedule"))
    if how == "at":
        raw = form.text("at", label=call.t("console.pushes.at"), limit=20)
        try:
            at = datetime.fromisoformat(raw.replace("T", " "))
        except ValueError:
            raise FormError(
                call.t("console.errors.bad_time", field=call.t("console.pushes.at"))
            ) from None
        at = at.replace(tzinfo=zone_of(call.bot)) if at.tzinfo is None else at
        if at <= call.bot.clock.now():
            raise FormError(call.t("console.pushes.in_past"))
        return at, None, None
    key = form.choice(
        "key_date", tuple(calendar_of(call.bot).all_keys()), label=call.t("console.pushes.key_date")
    )
    time_of_day = form.text("time_of_day", label=call.t("console.pushes.time_of_day"), limit=5)
    if len(time_of_day) != 5 or time_of_day[2] != ":":
        raise FormError(
            call.t("console.errors.bad_time", field=call.t("console.pushes.time_of_day"))
        )
    return None, key, time_of_day


async def _spec(call: Call, form: Form) -> PostSpec:
    """The post the compose form describes, in Chinese where it is wrong."""
    t = call.t
    label = form.text("label", label=t("console.pushes.label"), limit=128)
    kind = form.choice("kind", KINDS, label=t("console.pushes.kind"))
    channels = [c for c in form.all("channels") if c in CHANNELS]
    if not channels:
        raise FormError(t("console.errors.required", field=t("console.pushes.channels")))
    tag = form.integer("tag_id", label=t("console.pushes.tag"), low=0, required=False)
    link = form.text("link", label=t("console.pushes.link"), required=False, limit=512)
    if link and not link.startswith(("http://", "https://")):
        raise FormError(t("console.pushes.bad_link"))
    if "weibo" in channels and kind != "news" and not link:
        raise FormError(t("console.pushes.weibo_link"))
    body: dict[str, Any]
    if kind == "text":
        body = {"text": form.text("text", label=t("console.pushes.text"), limit=2000)}
    elif kind == "image":
        image = await _save_image(call, form, "image", t("console.pushes.image"))
        body = {
            "image": image,
            "text": form.text("caption", label=t("console.pushes.caption"), required=False),
        }
    else:
        articles = []
        for i in range(1, MAX_ARTICLES + 1):
            title = form.text(f"title{i}", label=t("console.pushes.article_title"), required=i == 1)
            if not title:
                continue
            articles.append(
                {
                    "title": title,
                    "digest": form.text(
                        f"digest{i}", label=t("console.pushes.digest"), required=False
                    ),
                    "cover": await _save_image(call, form, f"cover{i}", t("console.pushes.cover")),
                    "link": form.text(
                        f"link{i}", label=t("console.pushes.link"), required=False, limit=512
                    ),
                }
            )
        body = {"articles": articles}
    at, key_date, time_of_day = _when(call, form)
    return PostSpec(
        label=label,
        kind=kind,
        body=body,
        channels=channels,
        at=at,
        key_date=key_date,
        time_of_day=time_of_day,
        tag_id=tag,
        link=link,
    )


@section.get("/pushes", role=Role.VIEWER)
async def pushes(call: Call) -> web.StreamResponse:
    """Every push with its state and next dates."""
    bot = call.bot
    tz, cal, now = zone_of(bot), calendar_of(bot), bot.clock.now()
    async with bot.sessions() as session:
        posts = await list_posts(session)
    rows = [
        (p, next_occurrences(p, cal, tz, now, 1) if p.status == "active" else []) for p in posts
    ]
    return call.render("pushes.html", rows=rows, calendar=cal)


@section.get("/pushes/new", role=Role.EDITOR)
async def compose(call: Call) -> web.StreamResponse:
    """The compose form."""
    return _compose_page(call, None, {})


def _compose_page(call: Call, error: str | None, values: dict[str, Any]) -> web.Response:
    cal = calendar_of(call.bot)
    return call.render(
        "push_new.html",
        status=400 if error else 200,
        error=error,
        v=values,
        key_dates=[(k, cal.name(k)) for k in cal.all_keys()],
        articles=range(1, MAX_ARTICLES + 1),
        quota=quota_of(call.bot.config.schedules),
    )


@section.post("/pushes/new", role=Role.EDITOR)
async def save_draft(call: Call) -> web.StreamResponse:
    """Validate, check the quota, store as a draft waiting for approval."""
    form = await call.form()
    values: dict[str, Any] = {
        k: v for k, v in form.data.items() if isinstance(v, str) and k != "csrf"
    }
    values["channels"] = form.all("channels")
    try:
        post = await ops.draft(call.bot, call.actor, await _spec(call, form))
    except FormError as exc:
        return _compose_page(call, exc.text, values)
    except OperationError as exc:
        return _compose_page(call, exc.text(call.bot.texts), values)
    call.done(f"/pushes/{post.id}", "push_drafted")


@section.get("/pushes/{id}", role=Role.VIEWER)
async def show(call: Call) -> web.StreamResponse:
    """One push: content, schedule, approval, each delivery and the platform's report."""
    post = await call.row(CampaignPost)
    bot = call.bot
    async with bot.sessions() as session:
        items = await outbox_for(session, post.id)
    reports = {i.id: json.loads(i.report) for i in items if i.report}
    nxt = next_occurrences(post, calendar_of(bot), zone_of(bot), bot.clock.now(), 3)
    two_person = CONSOLE.of(bot.config).two_person_approval
    may_approve = (
        post.status == "draft"
        and call.operator.can(Role.ADMIN)
        and not (two_person and post.drafted_by == call.operator.name)
    )
    return call.render(
        "push_show.html",
        post=post,
        body=body_of(post),
        channels=channels_of(post),
        items=items,
        reports=reports,
        next=nxt,
        key_date=calendar_of(bot).name(post.key_date) if post.key_date else "",
        may_approve=may_approve,
        two_person=two_person,
        preview_openid="",
    )


@section.post("/pushes/{id}/approve", role=Role.ADMIN)
async def approve(call: Call) -> web.StreamResponse:
    """Approve a draft: from now on the scheduler sends it (quota checked again)."""
    post = await ops.approve(call.bot, call.actor, call.number("id"))
    call.done(f"/pushes/{post.id}", "push_approved")


@section.post("/pushes/{id}/cancel", role=Role.EDITOR)
async def cancel(call: Call) -> web.StreamResponse:
    """Cancel a draft (its author or an admin) or a scheduled push (an admin)."""
    post = await call.row(CampaignPost)
    if not (post.status == "draft" and post.drafted_by == call.operator.name):
        call.require(Role.ADMIN)
    await ops.cancel(call.bot, call.actor, post.id)
    call.done(f"/pushes/{post.id}", "push_cancelled")


@section.post("/pushes/{id}/preview", role=Role.EDITOR)
async def preview(call: Call) -> web.StreamResponse:
    """Send the push to one operator's own WeChat (mass/preview), draft or scheduled."""
    form = await call.form()
    openid = form.text("openid", label=call.t("console.pushes.preview_openid"), limit=128)
    report = await ops.preview(call.bot, call.actor, call.number("id"), openid)
    if report.sent == 0:
        raise FormError(call.t("console.pushes.preview_failed"))
    call.done(f"/pushes/{call.number('id')}", "push_previewed")


@section.post("/pushes/{id}/run", role=Role.ADMIN)
async def run_now(call: Call) -> web.StreamResponse:
    """Send an approved push to its audience now."""
    post = await call.row(CampaignPost)
    if post.status != "active":
        raise FormError(call.t("console.pushes.not_active"))
    await ops.send_now(call.bot, call.actor, post.id)
    call.done(f"/pushes/{post.id}", "push_sent")
