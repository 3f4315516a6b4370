"""Console operators as a feature: the ``[console]`` config section, roles, argon2 password
hashing, and the account operations the CLI (``operators ...``) and the console both call:
validate, write, end sessions where access shrinks, one audit row."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.clients.wechat import WeChatClient
from bot.kernel.clients import ApiError
from bot.kernel.config import ConfigError, ConfigSection, require_positive
from bot.kernel.context import BotContext
from bot.kernel.message import Channel, Reply, UserKey
from handlers.context import Ctx
from handlers.feature import ConsolePage, Feature, content_file
from handlers.notify import tell_then
from handlers.operations import Actor, OperationError, audit
from handlers.router import Router, Scene
from storage import operators as store
from storage.db import Conflict, Session, transaction, unique_transaction

MIN_PASSWORD = 8
MAX_PASSWORD = 256


@dataclass(frozen=True)
class ConsoleConfig:
    # Serve the operator console under /console (web and all roles).
    enabled: bool = True
    # A session ends after this many idle minutes, and in any case this many hours after login.
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    # This many failed logins of one account, or from one address, within lock_minutes lock
    # further tries for lock_minutes.
    login_max_failures: int = 10
    login_lock_minutes: int = 15
    # A push needs the approval of an admin other than the one who drafted it.
    two_person_approval: bool = False
    # Largest upload (push image) accepted by the console, in bytes.
    upload_max_bytes: int = 2 * 1024 * 1024
    # Behind a reverse proxy: the header carrying the client's address (X-Real-IP,
    # X-Forwarded-For), so login throttling counts people, not the proxy. Empty: the peer.
    client_ip_header: str = ""
    # Export files (and their jobs) are deleted this many minutes after they were started:
    # files with personal data (volunteers, rosters, hours, stories) after
    # export_keep_minutes, office reports (aggregates) after report_keep_minutes.
    export_keep_minutes: int = 60
    report_keep_minutes: int = 1440


def validate_section(co: ConsoleConfig) -> None:
    """Refuse a [console] table that could not work, naming the key."""
    require_positive(
        "console",
        co,
        "session_idle_minutes",
        "session_absolute_hours",
        "login_max_failures",
        "login_lock_minutes",
        "export_keep_minutes",
        "report_keep_minutes",
    )
    if co.login_lock_minutes > 24 * 60:
        # The shared counters keep a window of at most a day (storage.ratelimit).
        raise ConfigError("console.login_lock_minutes: must be at most 1440 (a day)")
    if co.upload_max_bytes < 1024:
        raise ConfigError("console.upload_max_bytes: must be at least 1024")


CONSOLE = ConfigSection("console", ConsoleConfig, validate_section)


class Role(IntEnum):
    """Operator roles, each including what the ones below may do."""

    VIEWER = 1
    EDITOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role called ``name`` (viewer, editor, admin); ValueError otherwise."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r}") from None

    @property
    def label(self) -> str:
        """The name stored in the database."""
        return self.name.lower()


# -- passwords -----------------------------------------------------------------------------------

_hasher = PasswordHasher()
_dummies: dict[int, str] = {}


def _dummy_hash() -> str:
    """A hash verified when the account does not exist, so a wrong name costs as long as a
    wrong password (the time of an answer does not tell which names exist)."""
    key = id(_hasher)
    if key not in _dummies:
        _dummies[key] = _hasher.hash(secrets.token_urlsafe(16))
    return _dummies[key]


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable (a content key suffix), or None."""
    if len(password) < MIN_PASSWORD:
        return "too_short"
    if len(password) > MAX_PASSWORD:
        return "too_long"
    return None


def hash_password(password: str) -> str:
    """The argon2 hash of ``password`` (with its salt and parameters)."""
    return _hasher.hash(password)


def check_password(encoded: str | None, password: str) -> bool:
    """Whether ``password`` matches ``encoded``; always costs one verification."""
    try:
        return _hasher.verify(encoded or _dummy_hash(), password) and encoded is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- account operations --------------------------------------------------------------------------


class AccountError(OperationError):
    """An account change refused; ``key`` names the text under console.operators."""

    def __init__(self, key: str, message: str, **params: Any) -> None:
        super().__init__(f"console.operators.{key}", message, **params)


def _check_password(password: str) -> None:
    problem = password_problem(password)
    if problem:
        raise AccountError(f"password_{problem}", f"password {problem.replace('_', ' ')}")


async def create_operator(
    bot: BotContext, name: str, role: Role, password: str, *, actor: str
) -> int:
    """Add an operator; returns its id."""
    _check_password(password)
    encoded = hash_password(password)
    now = bot.clock.now()
    try:
        async with unique_transaction(bot.sessions) as session:
            if await store.get_operator(session, name) is not None:
                raise AccountError("name_taken", f"operator {name!r} exists", name=name)
            op = await store.add_operator(session, name, role.label, encoded, now)
            detail = f"name={name} role={role.label}"
            await store.audit(session, now, actor, "operators.add", detail)
            return op.id
    except Conflict:
        raise AccountError("name_taken", f"operator {name!r} exists", name=name) from None


async def change_operator(
    bot: BotContext,
    operator_id: int,
    what: str,
    *,
    role: Role | None = None,
    password: str | None = None,
    actor: str,
    actor_id: int | None = None,
) -> str:
    """Disable, enable, change the role of, or reset the password of an operator; returns the
    operator's name. Disabling, demoting and resetting end the operator's sessions."""
    if what == "password":
        _check_password(password or "")
    now = bot.clock.now()
    async with transaction(bot.sessions) as session:
        op = await store.operator_by_id(session, operator_id)
        if op is None:
            raise AccountError("no_such", f"no operator {operator_id}", number=operator_id)
        if actor_id == operator_id and what in ("disable", "role"):
            raise AccountError("self_change", "operators cannot disable or re-role themselves")
        losing_admin = (
            op.role == "admin"
            and op.enabled
            and (what == "disable" or (what == "role" and role is not Role.ADMIN))
        )
        if losing_admin and await store.count_admins(session) <= 1:
            raise AccountError("last_admin", "the last admin cannot be disabled or demoted")
        detail = f"name={op.name}"
        if what == "disable":
            op.enabled = False
            await store.end_sessions(session, op.id)
        elif what == "enable":
            op.enabled = True
            await store.clear_failures(session, "account", op.name.lower())
        elif what == "role" and role is not None:
            detail += f" role={op.role}->{role.label}"
            if role < Role.parse(op.role):
                await store.end_sessions(session, op.id)
            op.role = role.label
        elif what == "password" and password is not None:
            op.password_hash = hash_password(password)
            op.password_changed_at = now
            await store.end_sessions(session, op.id)
            await store.clear_failures(session, "account", op.name.lower())
        else:
            raise AccountError("no_such", f"unknown change {what!r}", number=operator_id)
        await store.audit(session, now, actor, f"operators.{what}", detail)
        return op.name


# Who is told about what: pushes wait for an admin's approval; flagged messages need anyone
# who may reply (editors and admins).
NOTIFY_ROLES = {"pushes": ("admin",), "inbox": ("editor", "admin")}
# The QR code an operator scans to bind their WeChat is valid this long.
BIND_SECONDS = 600
BIND_PREFIX = "opbind_"


async def notify_operators(bot: BotContext, topic: str, text: str, *, besides: str = "") -> int:
    """Tell every operator who bound a WeChat openid and opted in to ``topic`` (``pushes``,
    ``inbox``) ``text`` (but ``besides``, who caused it): by customer-service message inside
    WeChat's 48 h window, else at their next message. Returns how many were told."""
    async with bot.sessions() as session:
        found = await store.to_notify(session, topic, NOTIFY_ROLES[topic])
    account = bot.config.wechat.account_id

    async def nothing(_session: Session) -> None:
        return None

    told = 0
    for op in found:
        if op.name == besides or op.notify_openid is None:
            continue
        await tell_then(bot, UserKey(Channel.WECHAT, account, op.notify_openid), text, nothing)
        told += 1
    return told


async def set_notify(
    bot: BotContext, actor: Actor, operator_id: int, *, pushes: bool, inbox: bool
) -> None:
    """Which messages the operator receives (each is an opt-in)."""
    async with transaction(bot.sessions) as session:
        await store.set_notify_topics(session, operator_id, pushes=pushes, inbox=inbox)
        audit(bot, session, actor, "operators.notify_topics", pushes=pushes, inbox=inbox)


async def unbind(bot: BotContext, actor: Actor, operator_id: int) -> None:
    """Forget the operator's WeChat: nothing more is sent to it."""
    async with transaction(bot.sessions) as session:
        await store.set_notify_openid(session, operator_id, None)
        audit(bot, session, actor, "operators.notify_unbind")


@dataclass(frozen=True)
class Binding:
    """A QR code offered to an operator: its content and until when scanning it binds."""

    url: str
    until: datetime


async def start_binding(bot: BotContext, actor: Actor, operator_id: int) -> Binding:
    """A temporary parametric QR code (WeChat's qrcode/create with a one-off scene) that binds
    the WeChat scanning it to the operator."""
    scene = BIND_PREFIX + secrets.token_urlsafe(24)
    client = bot.client(Channel.WECHAT)
    assert isinstance(client, WeChatClient)
    try:
        answer = await client.create_qrcode(scene, BIND_SECONDS)
    except (ApiError, OSError):
        raise OperationError(
            "console.me.qr_failed", "WeChat did not create the QR code; try again"
        ) from None
    url = answer.get("url")
    if not isinstance(url, str) or not url:
        raise OperationError("console.me.qr_failed", "WeChat answered without a QR code")
    until = bot.clock.now() + timedelta(seconds=BIND_SECONDS)
    async with transaction(bot.sessions) as session:
        await store.offer_scene(session, operator_id, scene, until)
        audit(bot, session, actor, "operators.notify_qr")
    return Binding(url, until)


router = Router("operators")


@router.on(Scene(BIND_PREFIX))
async def bind_by_scan(ctx: Ctx) -> Reply | None:
    """An operator scanned the QR code their 我的通知 page showed: bind this WeChat to them."""
    msg = ctx.inbound
    if msg.channel is not Channel.WECHAT or msg.scene is None:
        return ctx.reply("console.me.scan_unknown")
    name = await store.bind_scene(ctx.session, msg.scene, msg.user, ctx.bot.clock.now())
    if name is None:
        return ctx.reply("console.me.scan_unknown")
    audit(ctx.bot, ctx.session, Actor.console(name), "operators.notify_bind")
    return ctx.reply("console.me.scan_bound", name=name)


FEATURE = Feature(
    name="operators",
    # Asked before the generic welcome (basics): the operator's scan is not a follower's.
    routers=[router],
    cli=["bot.cli.operators:register"],
    console=[
        ConsolePage.section("operators", "editor"),
        ConsolePage.section("me"),
    ],
    config=CONSOLE,
    content=[content_file("console")],
    audit_actions=[
        "operators.add",
        "operators.disable",
        "operators.enable",
        "operators.role",
        "operators.password",
        "console.login",
        "console.audit_export",
        "operators.notify_bind",
        "operators.notify_unbind",
        "operators.notify_topics",
        "operators.notify_qr",
        "menu.push",
    ],
)
