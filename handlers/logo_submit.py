"""投稿: submitting a design to the logo contest, as a flow of the conversation engine.

image → title → design statement → author name → phone → 同意 (rules) → summary → 确认.
The image is downloaded through the channel's media API before the message's transaction
(the step's ``prepare`` hook), checked by its content with Pillow (PNG or JPEG, size, pixel
dimensions) and stored under the media directory named by its SHA-256, so the same design can
be entered only once (a unique key on the hash decides races). The author's name and phone
are encrypted at rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.kernel.config import Config
from bot.kernel.context import BotContext
from bot.kernel.message import Inbound, Kind, Reply, normalize
from bot.kernel.privacy import mask_phone
from handlers.context import Ctx
from handlers.conversation import Finish, Flow, Invalid, Next, Outcome, Step, StepHandler, ask
from handlers.logo import current_state, window_line
from handlers.logo_phases import LOGO, logo_media_path, phase_line
from handlers.media import ImageRules, Refused, StoredImage, fetch_image, file_size
from handlers.router import Click, Text
from handlers.volunteers import PHONE_RE, valid_name
from storage import logo as store
from storage.db import Conflict, savepoint

FLOW = "logo_submit"
TITLE_MAX = 20
STATEMENT_MIN, STATEMENT_MAX = 5, 300


def image_rules(config: Config) -> ImageRules:
    """Where designs go and what they must be, from ``[logo]``."""
    cfg = LOGO.of(config)
    return ImageRules(logo_media_path(config), cfg.image_max_bytes, cfg.image_min_pixels)


async def fetch_design(bot: BotContext, msg: Inbound) -> StoredImage | Refused:
    """Download the user's design, check and store it (the image step's ``prepare``)."""
    return await fetch_image(bot, msg, image_rules(bot.config))


def _answer(ctx: Ctx) -> str:
    return normalize(ctx.inbound.text or "") if ctx.inbound.kind is Kind.TEXT else ""


async def _start(ctx: Ctx) -> dict[str, Any] | Reply:
    state = await current_state(ctx)
    if not state.submission_open:
        return ctx.reply("logo.submit_closed", phase=phase_line(ctx.bot.texts, state))
    limit = LOGO.of(ctx.bot.config).submissions_per_person
    count = await store.entries_of_author(ctx.session, ctx.inbound.user_key)
    if count >= limit:
        return ctx.reply("logo.submit_limit", count=count, limit=limit)
    return {"window": window_line(ctx, state, "submit")}


async def prompt_image(ctx: Ctx, answers: dict[str, Any]) -> Reply:
    cfg = LOGO.of(ctx.bot.config)
    return ctx.reply(
        "logo.ask_image",
        window=answers.get("window", ""),
        max_size=file_size(cfg.image_max_bytes),
        min_px=cfg.image_min_pixels,
    )


async def handle_image(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    if ctx.inbound.kind in (Kind.TEXT, Kind.VOICE):
        return Invalid(ctx.t("logo.bad_image_text"))
    design = ctx.prepared
    if not isinstance(design, StoredImage | Refused):
        # The flow moved to this step after the dispatcher prepared (rare): fetch now.
        design = await fetch_design(ctx.bot, ctx.inbound)
    if isinstance(design, Refused):
        cfg = LOGO.of(ctx.bot.config)
        limits = {"max_size": file_size(cfg.image_max_bytes), "min_px": cfg.image_min_pixels}
        return Invalid(ctx.t(f"logo.bad_image_{design.reason}", **limits, **design.params))
    earlier = await store.entry_with_image(ctx.session, design.sha256)
    if earlier is not None:
        return Invalid(ctx.t("logo.duplicate_image", number=earlier.id))
    return Next("title", {"image_hash": design.sha256, "image_path": design.file_name})


def _checked(
    field: str,
    next_step: str,
    clean: Callable[[str], str],
    valid: Callable[[str], Any],
    bad_key: str,
    **params: Any,
) -> StepHandler:
    """A step taking one typed answer: cleaned, checked, saved as ``field``."""

    async def handle(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
        value = clean(_answer(ctx))
        if not valid(value):
            return Invalid(ctx.t(bad_key, **params))
        return Next(next_step, {field: value})

    return handle


handle_title = _checked(
    "title", "statement", str, lambda t: 1 <= len(t) <= TITLE_MAX, "logo.bad_title", max=TITLE_MAX
)
handle_author = _checked(
    "author", "phone", lambda s: " ".join(s.split()), valid_name, "logo.bad_author"
)
handle_phone = _checked(
    "phone",
    "rules",
    lambda s: s.replace(" ", "").replace("-", ""),
    PHONE_RE.match,
    "logo.bad_phone",
)


async def prompt_title(ctx: Ctx, answers: dict[str, Any]) -> Reply:
    return ctx.reply("logo.ask_title", max=TITLE_MAX)


async def prompt_statement(ctx: Ctx, answers: dict[str, Any]) -> Reply:
    return ctx.reply("logo.ask_statement", min=STATEMENT_MIN, max=STATEMENT_MAX)


async def handle_statement(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    # Not normalised: line breaks and final punctuation are part of the statement.
    text = (ctx.inbound.text or "").strip() if ctx.inbound.kind is Kind.TEXT else ""
    if not STATEMENT_MIN <= len(text) <= STATEMENT_MAX:
        return Invalid(
            ctx.t("logo.bad_statement", min=STATEMENT_MIN, max=STATEMENT_MAX, length=len(text))
        )
    return Next("author", {"statement": text})


async def handle_rules(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    if _answer(ctx) != "同意":
        return Invalid(ctx.t("logo.bad_rules"))
    return Next("confirm", {"rules_at": ctx.bot.clock.now().isoformat()})


async def prompt_confirm(ctx: Ctx, answers: dict[str, Any]) -> Reply:
    return ctx.reply(
        "logo.ask_confirm",
        title=answers["title"],
        statement=answers["statement"],
        author=answers["author"],
        phone_masked=mask_phone(answers["phone"]),
    )


async def handle_confirm(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    if _answer(ctx) != "确认":
        return Invalid(ctx.t("logo.bad_confirm"))
    state = await current_state(ctx)
    if not state.submission_open:  # the phase ended while the author was typing
        return Finish(
            ctx.reply("logo.submit_closed_meanwhile", phase=phase_line(ctx.bot.texts, state))
        )
    msg, cipher, limit = ctx.inbound, ctx.bot.cipher, LOGO.of(ctx.bot.config).submissions_per_person
    phone_index = cipher.blind_index(answers["phone"])
    count = await store.entries_of_author(
        ctx.session,
        msg.user_key,
        phone_index=phone_index,
    )
    if count >= limit:
        return Finish(ctx.reply("logo.submit_limit", count=count, limit=limit))
    try:
        # A savepoint: the same design entered by someone else meanwhile must not abort the
        # message (its transaction also records the message key).
        async with savepoint(ctx.session):
            entry = await store.add_entry(
                ctx.session,
                channel=msg.channel.value,
                account=msg.account,
                user_id=msg.user,
                title=answers["title"],
                statement=answers["statement"],
                image_hash=answers["image_hash"],
                image_path=answers["image_path"],
                author_name_enc=cipher.encrypt(answers["author"]),
                author_phone_enc=cipher.encrypt(answers["phone"]),
                phone_index=phone_index,
                now=ctx.bot.clock.now(),
            )
    except Conflict:
        return Finish(ctx.reply("logo.duplicate_at_confirm"))
    return Finish(ctx.reply("logo.submitted", title=entry.title, number=entry.id))


SUBMIT = Flow(
    name=FLOW,
    title_key="logo.submit_title",
    entry=Text("投稿", "我要投稿", "标识投稿") | Click("LOGO_SUBMIT"),
    on_start=_start,
    steps=[
        Step("image", prompt_image, handle_image, help="logo.help_image", prepare=fetch_design),
        Step("title", prompt_title, handle_title),
        Step("statement", prompt_statement, handle_statement),
        Step("author", ask("logo.ask_author"), handle_author, help="logo.help_author"),
        Step("phone", ask("logo.ask_phone"), handle_phone, help="logo.help_phone"),
        Step("rules", ask("logo.ask_rules"), handle_rules),
        Step("confirm", prompt_confirm, handle_confirm),
    ],
)
