"""The volunteer programme by message: sign-up flow, 我的信息 and 我的时长."""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.kernel.campaign import shipped_cities, shipped_packs
from bot.kernel.clock import local
from bot.kernel.config import ConfigError, ConfigSection
from bot.kernel.context import BotContext
from bot.kernel.message import Kind, Reply, normalize
from bot.kernel.privacy import mask_phone
from handlers import certificate
from handlers.context import Ctx
from handlers.conversation import (
    Finish,
    Flow,
    Invalid,
    Next,
    Outcome,
    Prompt,
    Redirect,
    Step,
    StepHandler,
    ask,
)
from handlers.feature import ConsolePage, Feature, content_file
from handlers.operations import AUTHOR, audit
from handlers.router import Click, Router, Scene, Text
from storage.activities import withdraw_upcoming
from storage.db import Conflict, savepoint
from storage.inbox import delete_person
from storage.volunteers import (
    Volunteer,
    erase,
    find_by_user,
    phone_taken,
    register,
    total_hours,
)

FLOW = "volunteer_signup"
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
NAME_MAX = 20
PLACE_MAX = 20
SKIP_WORDS = frozenset({"跳过", "不填", "无"})
EDIT_FLOW = "volunteer_edit"
router = Router("volunteers")


def configured_cities(bot: BotContext) -> list[str]:
    """The configured city list: the explicit list, else a named pack's, else the running
    campaign pack's."""
    conf = VOLUNTEERS.of(bot.config)
    if conf.cities:
        return list(conf.cities)
    if conf.city_preset and conf.city_preset != bot.pack.name:
        return list(shipped_cities(conf.city_preset))
    return list(bot.pack.cities)


def cities(ctx: Ctx) -> list[str]:
    """The city list of the message's bot."""
    return configured_cities(ctx.bot)


def skills(ctx: Ctx) -> list[str]:
    """The configured skills and interests."""
    conf = VOLUNTEERS.of(ctx.bot.config)
    return list(conf.skills) if conf.skills else list(ctx.bot.texts.file("volunteer")["skills"])


def availability(ctx: Ctx) -> list[str]:
    """The configured times volunteers can choose from."""
    conf = VOLUNTEERS.of(ctx.bot.config)
    if conf.availability:
        return list(conf.availability)
    return list(ctx.bot.texts.file("volunteer")["availability"])


def _choices(items: list[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def _answer(ctx: Ctx) -> str:
    if ctx.inbound.kind is not Kind.TEXT:
        return ""
    return normalize(ctx.inbound.text or "")


def _lettered(text: str, max_len: int, extra: str) -> bool:
    """2..max_len characters, letters (CJK or Latin) or ``extra``, at least two letters."""
    if not 2 <= len(text) <= max_len:
        return False
    letters = sum(1 for ch in text if unicodedata.category(ch).startswith("L"))
    allowed = all(unicodedata.category(ch).startswith("L") or ch in extra for ch in text)
    return allowed and letters >= 2


def valid_name(text: str) -> bool:
    """2-20 characters, at least two of them letters (CJK or Latin); no digits or symbols."""
    return _lettered(text, NAME_MAX, " ·.")


def valid_place(text: str) -> bool:
    """A district or county name: letters, a few digits or brackets (e.g. 航空港区, 二七区)."""
    return _lettered(text, PLACE_MAX, "·-()（）0123456789")


def _choice(text: str, count: int) -> int | None:
    """``text`` as a choice 1..count; None for anything else (superscripts, 5000 digits...)."""
    if not text.isdecimal() or len(text) > 3 or not 1 <= int(text) <= count:
        return None
    return int(text)


def _pick_many(ctx: Ctx, options: list[str]) -> list[str] | None:
    """Options chosen by numbers ('1,3' / '1 3' / '1、3'), in list order; None if invalid."""
    picked = [_choice(p, len(options)) for p in re.split(r"[\s,，、;；]+", _answer(ctx)) if p]
    if not picked or None in picked:
        return None
    return [options[i - 1] for i in sorted({i for i in picked if i is not None})]


def _age(ctx: Ctx, birth_year: int) -> int:
    # The campaign's year: on Shanghai's New Year's Day UTC's is still the old one until 08:00.
    return local(ctx.bot.clock.now()).year - birth_year


async def _start(ctx: Ctx) -> dict[str, Any] | Redirect:
    if await current_volunteer(ctx) is not None:
        # Registered already: signing up again means wanting to change something.
        return Redirect(EDIT_FLOW, ctx.t("volunteer.already"))
    return {}


def _take_name(key: str, then: str) -> StepHandler:
    """A step taking a person's name (spaces folded) into ``key``, then going to ``then``."""

    async def handle(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
        name = " ".join(_answer(ctx).split())
        if not valid_name(name):
            return Invalid(ctx.t("volunteer.bad_name"))
        return Next(then, {key: name})

    return handle


def _phone(ctx: Ctx) -> str | None:
    """The answer as a mobile number (spaces and dashes dropped), None when it is not one."""
    phone = _answer(ctx).replace(" ", "").replace("-", "")
    return phone if PHONE_RE.match(phone) else None


handle_name = _take_name("name", "phone")
handle_guardian_name = _take_name("guardian_name", "guardian_phone")


async def handle_phone(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    phone = _phone(ctx)
    if phone is None:
        return Invalid(ctx.t("volunteer.bad_phone"))
    me = await current_volunteer(ctx)  # editing one's own phone back to itself is no conflict
    index = ctx.bot.cipher.blind_index(phone)
    if await phone_taken(ctx.session, index, except_id=me.id if me else None):
        # Registered from another account: say how to edit that record, or take another number.
        return Invalid(ctx.t("volunteer.phone_taken"))
    return Next("city", {"phone": phone})


async def prompt_city(ctx: Ctx, answers: dict[str, Any]) -> Reply:
    return ctx.reply("volunteer.ask_city", choices=_choices(cities(ctx)))


async def handle_city(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    options = cities(ctx)
    text = _answer(ctx)
    if text in options:
        return Next("district", {"city": text})
    number = _choice(text, len(options))
    if number is None:
        return Invalid(ctx.t("volunteer.bad_city"))
    return Next("district", {"city": options[number - 1]})


async def handle_district(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    text = "".join(_answer(ctx).split())
    if text in SKIP_WORDS:
        return Next("skills", {"district": ""})
    if not valid_place(text):
        return Invalid(ctx.t("volunteer.bad_district"))
    return Next("skills", {"district": text})


async def handle_birth_year(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    text = _answer(ctx)
    if not re.fullmatch(r"\d{4}", text) or not 6 <= _age(ctx, int(text)) <= 100:
        return Invalid(ctx.t("volunteer.bad_birth_year"))
    year = int(text)
    conf = VOLUNTEERS.of(ctx.bot.config)
    age = _age(ctx, year)
    updates = {"birth_year": year, "minor": age < conf.adult_age}
    if age < conf.guardian_age:
        return Next("guardian_name", updates)
    # An older birth year after going back must not keep a guardian entered before.
    return Next("name", {**updates, "guardian": None})


async def handle_guardian_phone(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    phone = _phone(ctx)
    if phone is None:
        return Invalid(ctx.t("volunteer.bad_phone"))
    return Next("guardian_consent", {"guardian_phone": phone})


async def handle_guardian_consent(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    if _answer(ctx) != "监护人同意":
        return Invalid(ctx.t("volunteer.bad_guardian_consent"))
    guardian = {
        "name": answers["guardian_name"],
        "phone": answers["guardian_phone"],
        "consent_at": ctx.bot.clock.now().isoformat(),
    }
    return Next("name", {"guardian": guardian})


def _choose_many(
    key: str, options: Callable[[Ctx], list[str]], then: str
) -> tuple[Prompt, StepHandler]:
    """Prompt and handler of a step choosing several of ``options`` by number into ``key``."""

    async def prompt(ctx: Ctx, answers: dict[str, Any]) -> Reply:
        return ctx.reply(f"volunteer.ask_{key}", choices=_choices(options(ctx)))

    async def handle(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
        chosen = _pick_many(ctx, options(ctx))
        if chosen is None:
            return Invalid(ctx.t(f"volunteer.bad_{key}"))
        return Next(then, {key: chosen})

    return prompt, handle


prompt_skills, handle_skills = _choose_many("skills", skills, "availability")
prompt_availability, handle_availability = _choose_many("availability", availability, "privacy")


async def handle_privacy(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    if _answer(ctx) != "同意":
        return Invalid(ctx.t("volunteer.bad_privacy"))
    return Next("confirm", {"privacy_at": ctx.bot.clock.now().isoformat()})


def _summary(ctx: Ctx, key: str, answers: dict[str, Any]) -> Reply:
    return ctx.reply(
        key,
        name=answers["name"],
        phone_masked=mask_phone(answers["phone"]),
        city=answers["city"],
        district=answers.get("district") or ctx.t("volunteer.not_given"),
        birth_year=answers["birth_year"],
        skills_text="、".join(answers["skills"]),
        availability_text="、".join(answers.get("availability") or [])
        or ctx.t("volunteer.not_given"),
        # Texts lose their edge newlines when read, so the line's own is added here.
        minor_line=ctx.t("volunteer.minor_line") + "\n" if answers.get("minor") else "",
    )


async def prompt_confirm(ctx: Ctx, answers: dict[str, Any]) -> Reply:
    return _summary(ctx, "volunteer.ask_confirm", answers)


async def handle_confirm(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    if _answer(ctx) != "确认":
        return Invalid(ctx.t("volunteer.bad_confirm"))
    msg, cipher, now = ctx.inbound, ctx.bot.cipher, ctx.bot.clock.now()
    guardian = answers.get("guardian")
    columns = {
        "channel": msg.channel.value,
        "account": msg.account,
        "user_id": msg.user,
        "name_enc": cipher.encrypt(answers["name"]),
        "phone_enc": cipher.encrypt(answers["phone"]),
        "phone_index": cipher.blind_index(answers["phone"]),
        "city": answers["city"],
        "district": answers.get("district") or "",
        "birth_year": answers["birth_year"],
        "minor": bool(answers.get("minor")),
        "guardian_enc": (
            cipher.encrypt(json.dumps(guardian, ensure_ascii=False)) if guardian else None
        ),
        "skills": ",".join(answers["skills"]),
        "availability": ",".join(answers.get("availability") or []),
        "created_at": now,
        "updated_at": now,
    }
    # The same phone or user registered meanwhile must not abort the message: the insert
    # does nothing then (no exception, no SAVEPOINT).
    if await register(ctx.session, columns) is None:
        return Finish(ctx.reply("volunteer.phone_taken"))
    return Finish(ctx.reply("volunteer.done"))


SIGNUP = Flow(
    name=FLOW,
    title_key="volunteer.title",
    entry=Text("志愿者报名", "报名") | Click("VOLUNTEER_SIGNUP") | Scene("volunteer"),
    on_start=_start,
    steps=[
        Step(
            "birth_year",
            ask("volunteer.ask_birth_year"),
            handle_birth_year,
            help="volunteer.help_birth_year",
        ),
        Step(
            "guardian_name",
            ask("volunteer.ask_guardian_name"),
            handle_guardian_name,
            help="volunteer.help_guardian",
        ),
        Step(
            "guardian_phone",
            ask("volunteer.ask_guardian_phone"),
            handle_guardian_phone,
            help="volunteer.help_guardian",
        ),
        Step(
            "guardian_consent",
            ask("volunteer.ask_guardian_consent"),
            handle_guardian_consent,
            help="volunteer.help_guardian",
        ),
        Step("name", ask("volunteer.ask_name"), handle_name, help="volunteer.help_name"),
        Step("phone", ask("volunteer.ask_phone"), handle_phone, help="volunteer.help_phone"),
        Step("city", prompt_city, handle_city, help="volunteer.help_city"),
        Step(
            "district",
            ask("volunteer.ask_district"),
            handle_district,
            help="volunteer.help_district",
        ),
        Step("skills", prompt_skills, handle_skills, help="volunteer.help_skills"),
        Step(
            "availability",
            prompt_availability,
            handle_availability,
            help="volunteer.help_availability",
        ),
        Step("privacy", ask("volunteer.ask_privacy"), handle_privacy),
        Step("confirm", prompt_confirm, handle_confirm),
    ],
)


def certificate_dir(ctx: Ctx) -> Path:
    """Where rendered certificates wait for their upload."""
    return ctx.bot.config.data_path / certificate.FOLDER


async def _require_volunteer(ctx: Ctx) -> dict[str, Any] | Reply:
    if await current_volunteer(ctx) is None:
        return ctx.reply("volunteer.not_registered")
    return {}


async def handle_erase(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    if _answer(ctx) != "确认注销":
        return Invalid(ctx.t("volunteer.bad_erase"))
    me = await current_volunteer(ctx)
    if me is not None:  # None: erased by an earlier message meanwhile
        # Places in activities to come go back to others; the rest stays anonymous.
        await withdraw_upcoming(ctx.session, me.id, ctx.bot.clock.now())
        await erase(ctx.session, me, ctx.bot.clock.now())
        audit(ctx.bot, ctx.session, AUTHOR, "volunteers.erase", volunteer=me.id)
        # What they asked staff is theirs too (the inbox keeps texts, masked only in lists).
        msg = ctx.inbound
        await delete_person(ctx.session, msg.user_key)
        # The certificates carry the full name; a rollback loses nothing (they are re-rendered).
        certificate.remove_volunteer(certificate_dir(ctx), me.id)
    return Finish(ctx.reply("volunteer.erased"))


ERASE = Flow(
    name="volunteer_erase",
    title_key="volunteer.erase_title",
    entry=Text("注销志愿者"),
    on_start=_require_volunteer,
    steps=[Step("confirm", ask("volunteer.ask_erase"), handle_erase)],
)


EDIT_STEPS = {
    "1": "edit_name",
    "2": "edit_phone",
    "3": "edit_city",
    "4": "edit_district",
    "5": "edit_skills",
    "6": "edit_availability",
}


async def handle_edit_field(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    step = EDIT_STEPS.get(_answer(ctx))
    if step is None:
        return Invalid(ctx.t("volunteer.bad_edit_field"))
    return Next(step)


def _saving(handler: StepHandler, then: str | None = None) -> StepHandler:
    """A sign-up step's validation, then the accepted value is written to the record.

    The edit ends there, or goes on to step ``then`` (a new city asks for its district).
    """

    async def save(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
        outcome = await handler(ctx, answers)
        if not isinstance(outcome, Next):
            return outcome
        me = await current_volunteer(ctx)
        if me is None:  # erased meanwhile
            return Finish(ctx.reply("volunteer.not_registered"))
        cipher, values = ctx.bot.cipher, outcome.updates
        try:
            async with savepoint(ctx.session):
                if "name" in values:
                    me.name_enc = cipher.encrypt(values["name"])
                if "phone" in values:
                    me.phone_enc = cipher.encrypt(values["phone"])
                    me.phone_index = cipher.blind_index(values["phone"])
                if "city" in values and values["city"] != me.city:
                    me.city = values["city"]
                    me.district = ""  # a district of the old city would be wrong now
                if "district" in values:
                    me.district = values["district"]
                if "skills" in values:
                    me.skills = ",".join(values["skills"])
                if "availability" in values:
                    me.availability = ",".join(values["availability"])
                me.updated_at = ctx.bot.clock.now()
        except Conflict:
            return Finish(ctx.reply("volunteer.phone_taken"))
        if then is not None:
            return Next(then, values)
        return Finish(ctx.reply("volunteer.edited"))

    return save


EDIT = Flow(
    name=EDIT_FLOW,
    title_key="volunteer.edit_title",
    entry=Text("修改信息"),
    on_start=_require_volunteer,  # same precondition: only a registered volunteer
    steps=[
        Step("field", ask("volunteer.ask_edit_field"), handle_edit_field),
        Step("edit_name", ask("volunteer.ask_edit_name"), _saving(handle_name)),
        Step("edit_phone", ask("volunteer.ask_edit_phone"), _saving(handle_phone)),
        Step("edit_city", prompt_city, _saving(handle_city, then="edit_city_district")),
        Step(
            "edit_city_district",
            ask("volunteer.ask_edit_city_district"),
            _saving(handle_district),
            help="volunteer.help_district",
        ),
        Step(
            "edit_district",
            ask("volunteer.ask_edit_district"),
            _saving(handle_district),
            help="volunteer.help_district",
        ),
        Step("edit_skills", prompt_skills, _saving(handle_skills)),
        Step("edit_availability", prompt_availability, _saving(handle_availability)),
    ],
)


async def current_volunteer(ctx: Ctx) -> Volunteer | None:
    """The sender's volunteer record, if they registered (and have not erased it)."""
    return await find_by_user(ctx.session, ctx.inbound.user_key)


@router.on(Text("我的信息"))
async def show_profile(ctx: Ctx) -> Reply | None:
    """The volunteer's record, phone masked."""
    me = await current_volunteer(ctx)
    if me is None:
        return ctx.reply("volunteer.not_registered")
    try:
        name, phone = ctx.bot.cipher.decrypt(me.name_enc), ctx.bot.cipher.decrypt(me.phone_enc)
    except ValueError:  # written under another data key
        return ctx.reply("volunteer.unreadable")
    return _summary(
        ctx,
        "volunteer.profile",
        {
            "name": name,
            "phone": phone,
            "city": me.city,
            "district": me.district,
            "birth_year": me.birth_year,
            "skills": [s for s in me.skills.split(",") if s],
            "availability": [a for a in me.availability.split(",") if a],
            "minor": me.minor,
        },
    )


def star_level(hours: Decimal, thresholds: tuple[int, ...]) -> int:
    """How many stars ``hours`` earn under ascending ``thresholds``."""
    return sum(1 for t in thresholds if hours >= t)


@router.on(Text("我的时长") | Click("VOLUNTEER_HOURS"))
async def show_hours(ctx: Ctx) -> Reply | None:
    """Total service hours and the star level."""
    me = await current_volunteer(ctx)
    if me is None:
        return ctx.reply("volunteer.not_registered")
    total = await total_hours(ctx.session, me.id)
    thresholds = VOLUNTEERS.of(ctx.bot.config).star_hours
    count = star_level(total, thresholds)
    if count:
        level = ctx.t("volunteer.star", stars="★" * count, count=count)
    else:
        level = ctx.t("volunteer.no_star", next_hours=thresholds[0])
    text = ctx.t("volunteer.hours", hours=f"{total.normalize():f}", level=level)
    if 0 < count < len(thresholds):
        more = Decimal(thresholds[count]) - total
        text += ctx.t("volunteer.next_star", more=f"{more.normalize():f}", count=count + 1)
    return Reply.of_text(text)


@router.on(Text("志愿证书", "我的证书"))
async def send_certificate(ctx: Ctx) -> Reply | None:
    """An image certificate of the volunteer's hours and star level."""
    me = await current_volunteer(ctx)
    if me is None:
        return ctx.reply("volunteer.not_registered")
    total = await total_hours(ctx.session, me.id)
    count = star_level(total, VOLUNTEERS.of(ctx.bot.config).star_hours)
    level = ctx.t("volunteer.cert_level", count=count) if count else ""
    level = level or ctx.t("volunteer.cert_level_none")
    try:
        name = ctx.bot.cipher.decrypt(me.name_enc)
    except ValueError:  # written under another data key
        return ctx.reply("volunteer.unreadable")
    today = local(ctx.bot.clock.now()).date()  # the campaign's day, not UTC's
    path = certificate_dir(ctx) / certificate.file_name(me.id, today)
    certificate.render(
        path,
        title=ctx.t("volunteer.cert_title"),
        salutation=ctx.t("volunteer.cert_body", name=name),
        lines=ctx.t("volunteer.cert_lines", hours=f"{total.normalize():f}", level=level).split(
            "\n"
        ),
        issuer=VOLUNTEERS.of(ctx.bot.config).certificate_issuer,
        issued=ctx.t("volunteer.cert_date", year=today.year, month=today.month, day=today.day),
    )
    return Reply.image(path=str(path))


# -- config section [volunteers] (sign-up lists, stars; activities read it too) ----------


@dataclass(frozen=True)
class VolunteersConfig:
    # Empty: the campaign pack's city list; a shipped pack's name: that pack's list instead.
    city_preset: str = ""
    # An explicit city list; non-empty replaces the pack's or the preset.
    cities: tuple[str, ...] = ()
    # Skills and interests offered by number; empty uses the content file's list.
    skills: tuple[str, ...] = ()
    # When volunteers can serve, offered by number; empty uses the content file's list.
    availability: tuple[str, ...] = ()
    # Service hours needed for 1★ … 5★, ascending.
    star_hours: tuple[int, ...] = (100, 300, 600, 1000, 1500)
    # Below this age a guardian's name, phone and consent are required.
    guardian_age: int = 14
    # Below this age a volunteer is registered with the minor flag.
    adult_age: int = 18
    # The issuer printed on 志愿证书 certificates.
    certificate_issuer: str = "网络公益志愿服务队"
    # 签到 opens this many minutes before an activity starts and closes at its end.
    checkin_open_minutes: int = 30
    # When an activity's hours are credited: "checkin" (签到) or "checkout" (签退).
    credit_on: str = "checkin"
    # 签退 is accepted from the start until this many minutes after the end.
    checkout_grace_minutes: int = 60
    # How many activities one 活动 reply lists.
    activities_listed: int = 10
    # How many volunteers the monthly 志愿之星 list shows per city.
    stars_top: int = 10


def validate_section(vol: VolunteersConfig) -> None:
    """Refuse a [volunteers] table that could not work, naming the key."""

    if vol.city_preset and vol.city_preset not in shipped_packs():
        raise ConfigError(
            f"volunteers.city_preset: must be empty (the pack's cities) or one of "
            f"{', '.join(shipped_packs())}"
        )
    if list(vol.star_hours) != sorted(vol.star_hours) or any(h <= 0 for h in vol.star_hours):
        raise ConfigError("volunteers.star_hours: must be positive and ascending")
    if not 0 < vol.guardian_age <= vol.adult_age:
        raise ConfigError("volunteers.guardian_age: must be positive and at most adult_age")
    if not vol.certificate_issuer.strip():
        raise ConfigError("volunteers.certificate_issuer: must not be empty")
    _validate_activities(vol)


def _validate_activities(vol: VolunteersConfig) -> None:
    if vol.credit_on not in {"checkin", "checkout"}:
        raise ConfigError("volunteers.credit_on: must be checkin or checkout")
    if not 0 <= vol.checkin_open_minutes <= 24 * 60:
        raise ConfigError("volunteers.checkin_open_minutes: must be between 0 and 1440")
    if not 0 <= vol.checkout_grace_minutes <= 24 * 60:
        raise ConfigError("volunteers.checkout_grace_minutes: must be between 0 and 1440")
    if not 1 <= vol.activities_listed <= 30:
        raise ConfigError("volunteers.activities_listed: must be between 1 and 30")
    if not 1 <= vol.stars_top <= 50:
        raise ConfigError("volunteers.stars_top: must be between 1 and 50")
    for key in ("cities", "skills", "availability"):
        items = getattr(vol, key)
        if any(not str(item).strip() for item in items) or len(set(items)) != len(items):
            raise ConfigError(f"volunteers.{key}: entries must be non-empty and distinct")


VOLUNTEERS = ConfigSection("volunteers", VolunteersConfig, validate_section)


async def purge_certificates(bot: BotContext, now: datetime) -> int:
    """Delete certificates older than a day: they name the volunteer in full and are needed
    only until uploaded as the reply."""
    folder = bot.config.data_path / certificate.FOLDER
    return await asyncio.to_thread(certificate.purge_old, folder, now.timestamp())


FEATURE = Feature(
    name="volunteers",
    routers=[router],
    flows=[SIGNUP, EDIT, ERASE],
    cli=["bot.cli.volunteers:register"],
    console=[
        ConsolePage.section("volunteers", "editor"),
    ],
    config=VOLUNTEERS,
    content=[content_file("volunteer")],
    purges=[purge_certificates],
    audit_actions=[
        "volunteers.erase",
        "volunteers.export",
        "volunteers.hours_adjust",
        "volunteers.hours_export",
        "volunteers.reveal_phone",
    ],
    report=["storage.reports.volunteers:section"],
)
