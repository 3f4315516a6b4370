"""投稿故事: sharing a public-welfare story, as a flow of the conversation engine.

text → pictures and videos (optional) → contact name and phone (optional) → 同意 (publication
consent) → summary → 确认. Pictures are downloaded before the message's transaction (the media
step's ``prepare`` hook), checked with Pillow and stored by SHA-256 (``handlers.media``); a
video is kept as the platform's media id only. The contact is encrypted at rest. The flow ends
on submit, so a second 确认 (another message, even a concurrent one) finds no flow to submit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.kernel.clock import local
from bot.kernel.config import Config, ConfigError, ConfigSection
from bot.kernel.context import BotContext
from bot.kernel.message import Inbound, Kind, Reply, normalize
from bot.kernel.privacy import mask_name, mask_phone
from handlers.context import Ctx
from handlers.conversation import Finish, Flow, Invalid, Next, Outcome, Step, ask
from handlers.faq.routes import watch
from handlers.feature import ConsolePage, Feature, MediaFolder, content_file
from handlers.media import ImageRules, Refused, StoredImage, fetch_image, file_size
from handlers.operations import AUTHOR, audit
from handlers.router import Click, Command, Router, Text
from handlers.volunteers import PHONE_RE, valid_name
from storage import stories as store

FLOW = "story_submit"
DONE_WORDS = frozenset({"完成", "跳过", "好了", "没有", "无", "不用"})
NO_CONTACT_WORDS = frozenset({"不用", "不需要", "跳过", "无", "否"})
PREVIEW_CHARS = 40
VIDEO_KINDS = frozenset({Kind.VIDEO, Kind.SHORTVIDEO})


def image_rules(config: Config) -> ImageRules:
    """Where story pictures go and what they must be, from ``[stories]``."""
    cfg = STORIES.of(config)
    return ImageRules(stories_media_path(config), cfg.image_max_bytes, cfg.image_min_pixels)


async def fetch_picture(bot: BotContext, msg: Inbound) -> StoredImage | Refused | None:
    """Download and store a picture (the media step's ``prepare``); videos are not fetched."""
    if msg.kind is not Kind.IMAGE:
        return None
    return await fetch_image(bot, msg, image_rules(bot.config))


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The story on one line, cut to ``limit`` characters (summaries, lists)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def _word(ctx: Ctx) -> str:
    return normalize(ctx.inbound.text or "") if ctx.inbound.kind is Kind.TEXT else ""


def _counts(answers: dict[str, Any]) -> dict[str, int]:
    return {
        "pictures": len(answers.get("pictures") or []),
        "videos": len(answers.get("videos") or []),
    }


def _wants_media(config: Config) -> bool:
    return STORIES.of(config).max_pictures > 0 or STORIES.of(config).max_videos > 0


# -- 1. the story ------------------------------------------------------------------------------


async def prompt_text(ctx: Ctx, answers: dict[str, Any]) -> Reply:
    cfg = STORIES.of(ctx.bot.config)
    return ctx.reply("stories.ask_text", min=cfg.text_min_chars, max=cfg.text_max_chars)


async def handle_text(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    msg, cfg = ctx.inbound, STORIES.of(ctx.bot.config)
    if msg.kind is Kind.VOICE and not (msg.text or "").strip():
        return Invalid(ctx.t("stories.bad_voice"))
    if msg.kind not in (Kind.TEXT, Kind.VOICE):
        return Invalid(ctx.t("stories.bad_text_kind"))
    # Not normalised: line breaks and punctuation are part of the story.
    text = (msg.text or "").strip()
    limits = {"min": cfg.text_min_chars, "max": cfg.text_max_chars, "length": len(text)}
    if len(text) < cfg.text_min_chars:
        return Invalid(ctx.t("stories.bad_text_short", **limits))
    if len(text) > cfg.text_max_chars:
        return Invalid(ctx.t("stories.bad_text_long", **limits))
    then = "media" if _wants_media(ctx.bot.config) else "contact_name"
    return Next(then, {"text": text})


# -- 2. pictures and videos --------------------------------------------------------------------


async def prompt_media(ctx: Ctx, answers: dict[str, Any]) -> Reply:
    cfg, counts = STORIES.of(ctx.bot.config), _counts(answers)
    if counts["pictures"] or counts["videos"]:
        return ctx.reply("stories.ask_more", **counts)
    if cfg.max_pictures == 0:
        return ctx.reply("stories.ask_media_no_pictures", max_videos=cfg.max_videos)
    hint = ctx.t("stories.video_hint", max_videos=cfg.max_videos) if cfg.max_videos else ""
    return ctx.reply(
        "stories.ask_media",
        max_pictures=cfg.max_pictures,
        max_size=file_size(cfg.image_max_bytes),
        video_hint=hint,
    )


async def _add_picture(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    cfg = STORIES.of(ctx.bot.config)
    pictures: list[list[str]] = list(answers.get("pictures") or [])
    if cfg.max_pictures == 0:
        return Invalid(ctx.t("stories.no_pictures"))
    if len(pictures) >= cfg.max_pictures:
        return Invalid(ctx.t("stories.picture_limit", max_pictures=cfg.max_pictures))
    picture = ctx.prepared
    if not isinstance(picture, StoredImage | Refused):
        # The flow moved to this step after the dispatcher prepared (rare): fetch now.
        picture = await fetch_image(ctx.bot, ctx.inbound, image_rules(ctx.bot.config))
    if isinstance(picture, Refused):
        limits = {"max_size": file_size(cfg.image_max_bytes), "min_px": cfg.image_min_pixels}
        return Invalid(ctx.t(f"stories.bad_image_{picture.reason}", **limits, **picture.params))
    if any(sha == picture.sha256 for sha, _name in pictures):
        return Invalid(ctx.t("stories.duplicate_picture"))
    pictures.append([picture.sha256, picture.file_name])
    # Enough pictures (and no videos to wait for): go on without asking for 完成.
    full = len(pictures) >= cfg.max_pictures and (
        cfg.max_videos == 0 or len(answers.get("videos") or []) >= cfg.max_videos
    )
    return Next("contact_name" if full else "media", {"pictures": pictures})


def _add_video(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    cfg = STORIES.of(ctx.bot.config)
    videos: list[str] = list(answers.get("videos") or [])
    if cfg.max_videos == 0:
        return Invalid(ctx.t("stories.no_videos"))
    if len(videos) >= cfg.max_videos:
        return Invalid(ctx.t("stories.video_limit", max_videos=cfg.max_videos))
    if not ctx.inbound.media_id:
        return Invalid(ctx.t("stories.bad_media"))
    videos.append(ctx.inbound.media_id)
    return Next("media", {"videos": videos})


async def handle_media(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    kind = ctx.inbound.kind
    if kind is Kind.IMAGE:
        return await _add_picture(ctx, answers)
    if kind in VIDEO_KINDS:
        return _add_video(ctx, answers)
    if _word(ctx) in DONE_WORDS:
        return Next("contact_name")
    return Invalid(ctx.t("stories.bad_media"))


# -- 3. contact, if wanted ---------------------------------------------------------------------


async def prompt_contact_name(ctx: Ctx, answers: dict[str, Any]) -> Reply:
    line = ctx.t("stories.media_line", **_counts(answers)) if _wants_media(ctx.bot.config) else ""
    return ctx.reply("stories.ask_contact_name", media_line=line)


async def handle_contact_name(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    cfg = STORIES.of(ctx.bot.config)
    if ctx.inbound.kind is Kind.IMAGE and 0 < cfg.max_pictures <= _counts(answers)["pictures"]:
        # A picture after the limit (which moved the flow on): say why it was not taken.
        return Invalid(ctx.t("stories.picture_limit", max_pictures=cfg.max_pictures))
    text = " ".join(_word(ctx).split())
    if text in NO_CONTACT_WORDS:
        # Going back and choosing no contact must not keep one given before.
        return Next("consent", {"contact_name": None, "contact_phone": None})
    # 完成 sent once more after the pictures is not a name.
    if text in DONE_WORDS or not valid_name(text):
        return Invalid(ctx.t("stories.bad_contact_name"))
    return Next("contact_phone", {"contact_name": text})


async def handle_contact_phone(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    phone = _word(ctx).replace(" ", "").replace("-", "")
    if not PHONE_RE.match(phone):
        return Invalid(ctx.t("stories.bad_phone"))
    return Next("consent", {"contact_phone": phone})


# -- 4. consent, summary, submit ---------------------------------------------------------------


async def handle_consent(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    if _word(ctx) != "同意":
        return Invalid(ctx.t("stories.bad_consent"))
    return Next("confirm", {"consent_at": ctx.bot.clock.now().isoformat()})


def _contact(ctx: Ctx, answers: dict[str, Any]) -> str:
    name, phone = answers.get("contact_name"), answers.get("contact_phone")
    if not name or not phone:
        return ctx.t("stories.contact_none")
    return ctx.t("stories.contact_line", name=mask_name(name), phone_masked=mask_phone(phone))


async def prompt_confirm(ctx: Ctx, answers: dict[str, Any]) -> Reply:
    text: str = answers["text"]
    return ctx.reply(
        "stories.ask_confirm",
        preview=preview(text),
        length=len(text),
        contact=_contact(ctx, answers),
        **_counts(answers),
    )


async def handle_confirm(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    if _word(ctx) != "确认":
        return Invalid(ctx.t("stories.bad_confirm"))
    msg, cipher = ctx.inbound, ctx.bot.cipher
    name, phone = answers.get("contact_name"), answers.get("contact_phone")
    has_contact = bool(name and phone)
    videos: list[str] = list(answers.get("videos") or [])
    story = await store.add_story(
        ctx.session,
        msg.user_key,
        text=answers["text"],
        consent_at=datetime.fromisoformat(answers["consent_at"]),
        now=ctx.bot.clock.now(),
        pictures=[(sha, file_name) for sha, file_name in answers.get("pictures") or []],
        videos=videos,
        contact_name_enc=cipher.encrypt(name) if has_contact and name else None,
        contact_phone_enc=cipher.encrypt(phone) if has_contact and phone else None,
    )
    # Operators review every story anyway; the watchlist puts a worrying one (a child asking
    # for help, a fundraising appeal) in the inbox at once.
    await watch(ctx, answers["text"], ctx.t("inbox.texts.story_label", number=story.id))
    return Finish(
        ctx.reply(
            "stories.submitted",
            number=story.id,
            contact_note=ctx.t("stories.submitted_contact") if has_contact else "",
            video_note=ctx.t("stories.submitted_video", videos=len(videos)) if videos else "",
        )
    )


SUBMIT = Flow(
    name=FLOW,
    title_key="stories.title",
    entry=Text("投稿故事", "分享故事", "我要投稿故事") | Click("STORY_SUBMIT"),
    steps=[
        Step("text", prompt_text, handle_text, help="stories.help_text"),
        Step("media", prompt_media, handle_media, help="stories.help_media", prepare=fetch_picture),
        Step("contact_name", prompt_contact_name, handle_contact_name, help="stories.help_contact"),
        Step(
            "contact_phone",
            ask("stories.ask_contact_phone"),
            handle_contact_phone,
            help="stories.help_contact",
        ),
        Step("consent", ask("stories.ask_consent"), handle_consent),
        Step("confirm", prompt_confirm, handle_confirm),
    ],
)


# -- the author's own stories: 我的故事 and 删除故事 N (PIPL: the owner may delete them) ----------

router = Router("stories")


@router.on(Text("我的故事", "我的投稿故事"), pure=True)
async def my_stories(ctx: Ctx) -> Reply:
    """The sender's stories, newest first, with their review status."""
    mine = await store.stories_of(ctx.session, ctx.inbound.user_key)
    if not mine:
        return ctx.reply("stories.mine_none")
    lines = [ctx.t("stories.mine_title", count=len(mine))]
    for story in mine:
        day = local(story.created_at)
        lines.append(
            ctx.t(
                "stories.mine_line",
                number=story.id,
                month=day.month,
                day=day.day,
                status=ctx.t(f"stories.status_{story.status}"),
                preview=preview(story.text),
            )
        )
    lines.append(ctx.t("stories.mine_footer"))
    return Reply.of_text("\n".join(lines))


async def _start_delete(ctx: Ctx) -> dict[str, Any] | Reply:
    arg, msg = ctx.arg.strip(), ctx.inbound
    if not arg.isdigit():
        return ctx.reply("stories.delete_usage")
    story = await store.get_story(ctx.session, int(arg))
    owner = (msg.channel.value, msg.account, msg.user)
    if story is None or (story.channel, story.account, story.user_id) != owner:
        return ctx.reply("stories.delete_not_yours", number=arg)
    return {"number": story.id, "preview": preview(story.text)}


async def handle_delete(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    if _word(ctx) != "确认删除":
        return Invalid(ctx.t("stories.bad_delete", number=answers["number"]))
    # False: deleted by an earlier message meanwhile (a retry, a second worker): same answer.
    if await store.delete_own_story(
        ctx.session, answers["number"], ctx.inbound.user_key, ctx.bot.clock.now()
    ):
        # The number only: the audit log holds no story text or contact.
        audit(ctx.bot, ctx.session, AUTHOR, "stories.delete", story=answers["number"])
    return Finish(ctx.reply("stories.deleted", number=answers["number"]))


DELETE = Flow(
    name="story_delete",
    title_key="stories.delete_title",
    entry=Command("删除故事", "撤回故事", arg=r".*"),
    on_start=_start_delete,
    steps=[Step("confirm", ask("stories.ask_delete"), handle_delete)],
)


# -- config section [stories] -------------------------------------------------------------


@dataclass(frozen=True)
class StoriesConfig:
    # A story is one text message of this many characters (WeChat's own limit is about 2000).
    text_min_chars: int = 10
    text_max_chars: int = 1500
    # Pictures and videos one story may have; a video is kept as the platform's media id only.
    max_pictures: int = 6
    max_videos: int = 2
    # Where story pictures are stored; empty: <data_dir>/media/stories.
    media_dir: str = ""
    # Largest picture accepted, and the shortest side it must have, in pixels.
    image_max_bytes: int = 10 * 1024 * 1024
    image_min_pixels: int = 200


def validate_section(st: StoriesConfig) -> None:
    """Refuse a [stories] table that could not work, naming the key."""
    if not 1 <= st.text_min_chars <= 500:
        raise ConfigError("stories.text_min_chars: must be between 1 and 500")
    if not st.text_min_chars <= st.text_max_chars <= 20000:
        raise ConfigError("stories.text_max_chars: must be between text_min_chars and 20000")
    if not 0 <= st.max_pictures <= 20:
        raise ConfigError("stories.max_pictures: must be between 0 and 20")
    if not 0 <= st.max_videos <= 10:
        raise ConfigError("stories.max_videos: must be between 0 and 10")
    if st.image_max_bytes < 1024:
        raise ConfigError("stories.image_max_bytes: must be at least 1024")
    if st.image_min_pixels < 1:
        raise ConfigError("stories.image_min_pixels: must be at least 1")


STORIES = ConfigSection("stories", StoriesConfig, validate_section)


def stories_media_path(config: Config) -> Path:
    """The directory of story pictures, as an absolute path."""
    return config.media_path(STORIES.of(config).media_dir, "stories")


FEATURE = Feature(
    name="stories",
    routers=[router],
    flows=[SUBMIT, DELETE],
    cli=["bot.cli.stories:register"],
    console=[
        ConsolePage.section("stories"),
    ],
    config=STORIES,
    content=[content_file("stories")],
    media=[MediaFolder("stories", stories_media_path, store.media_paths)],
    audit_actions=[
        "stories.approve",
        "stories.reject",
        "stories.reveal_contact",
        "stories.export",
        "stories.delete",
        "stories.feature",
        "stories.unfeature",
    ],
    report=["storage.reports.stories:section"],
)
