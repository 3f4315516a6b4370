"""Typed, frozen configuration loaded from TOML, with environment overrides.

Every key lives in a frozen dataclass; ``load_config`` validates types and values and raises
``ConfigError`` naming the offending key, so a bad file stops start-up with a clear message.
Any key may be overridden by an environment variable ``BOT_<SECTION>_<KEY>`` (upper case, dots
in nested sections become underscores), which is how secrets stay out of files.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

SANDBOX = "sandbox"
S = TypeVar("S")


class ConfigError(ValueError):
    """A configuration key is missing or invalid; the message names the key."""


def require_positive(section: str, values: object, *keys: str) -> None:
    """Refuse any of ``keys`` of the ``[section]`` table ``values`` below 1, naming it."""
    for key in keys:
        if getattr(values, key) < 1:
            raise ConfigError(f"{section}.{key}: must be at least 1")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # Public base URL of this bot (gallery links, news articles). Empty: derived from host/port.
    public_url: str = ""
    # Largest request body accepted on the webhooks; larger gets 413.
    max_body_bytes: int = 65536
    # A webhook body not fully received this long after the headers gets 408 (slow senders).
    body_timeout_seconds: float = 10.0
    # Webhook bodies read at once for requests whose query carries no valid signature; more
    # get 503 at once, so slow unsigned senders cannot hold the process's connections.
    max_unsigned_body_reads: int = 64
    # Directory for the SQLite file, keys generated on first run and media.
    data_dir: str = "data"
    # web: webhooks only; scheduler: the campaign scheduler only; all: both.
    role: str = "all"
    # The event loop ``serve`` runs on: uvloop (libuv; the same answers for about a tenth less
    # CPU a message, bench/webhook.py) or asyncio (the standard library's).
    event_loop: str = "uvloop"


@dataclass(frozen=True)
class DatabaseConfig:
    # Empty: a SQLite file ``bot.db`` under server.data_dir, created on first run.
    url: str = ""
    # How long the inbound message log keeps rows (dedupe needs only minutes).
    message_retention_days: int = 30
    echo: bool = False


@dataclass(frozen=True)
class ChannelConfig:
    """The keys every channel's section has: its account, its API and the API client's
    retries (``bot.clients.base.HttpApi``), and its webhook's replay window."""

    # The account's id on the platform (WeChat: the original id gh_...; Weibo: the fans-service
    # uid, the sender_id of passive replies); each message names it anyway.
    account_id: str = ""
    # "sandbox" routes API calls to the built-in recorder (no credentials needed).
    api_base_url: str = SANDBOX
    # Requests whose timestamp is further than this from now get 403 (replay protection).
    timestamp_window_seconds: int = 300
    # Retries of the API client on busy and rate-limit codes (WeChat: -1 and 45009).
    api_max_retries: int = 3
    api_backoff_seconds: float = 0.5
    api_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class WeChatConfig(ChannelConfig):
    app_id: str = "wx-sandbox"
    app_secret: str = ""
    token: str = "sandbox-token"
    # 43 characters from the platform; empty disables safe/compatible mode.
    encoding_aes_key: str = ""
    # stable_token returns the same token to every process within its validity, so workers
    # never invalidate each other; "token" uses the classic endpoint.
    token_endpoint: str = "stable"
    # Refresh this many seconds before the platform's expiry.
    token_refresh_margin_seconds: int = 300
    # WeChat gives up after 5 s; answer by this deadline and deliver late replies by API.
    reply_deadline_seconds: float = 4.5
    # Custom menu pushed by ``python -m bot menu push`` (WeChat's menu/create JSON "button").
    # Empty: the campaign pack's menu (its manifest's [[menu]]).
    menu: tuple[Mapping[str, Any], ...] = ()
    # [uncertain] WeChat may show only one article of a news reply to a user message (its docs
    # have said so at times), so 1: the reply is one cover article leading to a web page. The
    # adapter cuts news replies to this many articles, and handlers build no more than this.
    news_reply_max_articles: int = 1


@dataclass(frozen=True)
class WeiboConfig(ChannelConfig):
    # Empty app_secret with a real api_base_url disables the Weibo channel; "sandbox" (the
    # default) mounts the fake fans-service API so ``chat --channel weibo`` needs no credentials.
    app_key: str = "weibo-sandbox"
    app_secret: str = "weibo-sandbox-secret"
    access_token: str = ""
    # [uncertain] The documented example timestamp (1397022061823) is in milliseconds; "ms"
    # follows it, "s" treats timestamps as seconds.
    timestamp_unit: str = "ms"
    # Passive text replies are cut at this many characters (the platform's limit is 300);
    # the rest goes by active reply.
    text_limit: int = 300
    # [uncertain] Field of an image/voice push's ``data`` that names the user's media.
    media_id_field: str = "vfid"
    # Minimum seconds between two statuses/share posts (the platform rate-limits posting).
    post_interval_seconds: float = 30.0


@dataclass(frozen=True)
class SecurityConfig:
    # Fernet key (urlsafe base64, 32 bytes) for personal data at rest. Empty: generated once
    # into data_dir/data.key. Production: set BOT_SECURITY_DATA_KEY.
    data_key: str = ""


@dataclass(frozen=True)
class CampaignConfig:
    # The content pack the bot runs: a shipped pack's name (handlers/packs: "henan", "hunan")
    # or the path of a pack folder (relative to this file).
    pack: str = "henan"
    # Features switched on or off on top of the pack's manifest, e.g. {logo = true}.
    features: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsConfig:
    # Prometheus /metrics on a port of its own (0: off); never on the webhook port.
    port: int = 0
    host: str = "127.0.0.1"
    # Set (BOT_METRICS_TOKEN) to require "Authorization: Bearer <token>" from the scraper.
    token: str = ""


@dataclass(frozen=True)
class ContentConfig:
    # Directory whose .toml files override the shipped Chinese texts key by key.
    dir: str = ""


@dataclass(frozen=True)
class LimitsConfig:
    # Messages one user may send per minute before getting a "slow down" reply.
    messages_per_minute: int = 30
    # A multi-step flow (sign-up, submission) left unanswered this long ends with a notice.
    flow_timeout_minutes: int = 30
    # Where the per-user limit is counted: "memory" (per process), "database" (shared by all
    # processes, synced every rate_sync_seconds), "auto" (database on PostgreSQL).
    rate_limit_store: str = "auto"
    rate_sync_seconds: float = 0.2


@dataclass(frozen=True)
class LogConfig:
    level: str = "INFO"
    # json: one JSON object a line; text: human-readable.
    format: str = "json"


@dataclass(frozen=True)
class SchedulesConfig:
    # Time zone of schedules, key dates and the quota's day / month.
    timezone: str = "Asia/Shanghai"
    # subscription: 1 mass send a day; service: 4 a month (the platform's limits).
    account_type: str = "subscription"
    # Explicit mass-send quota override (0: from account_type) and its period (day | month).
    mass_quota: int = 0
    mass_quota_period: str = ""
    # How often the scheduler looks for due posts, and how late a post may still go out.
    poll_seconds: int = 30
    misfire_grace_seconds: int = 3600
    # Several missed ticks run once (APScheduler's coalesce).
    coalesce: bool = True
    # Failed sends retry after backoff_seconds * 2**attempt, at most max_attempts times.
    max_attempts: int = 4
    backoff_seconds: int = 60
    # A row left in "sending" this long (a crash mid-send) is reconciled.
    stale_sending_seconds: int = 600
    # Leader lease of the single active scheduler.
    lease_seconds: int = 60
    # Extra key dates: key = "MM-DD" or "lunar:MM-DD" (names in content calendar.toml).
    extra_dates: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    wechat: WeChatConfig = field(default_factory=WeChatConfig)
    weibo: WeiboConfig = field(default_factory=WeiboConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    campaign: CampaignConfig = field(default_factory=CampaignConfig)
    content: ContentConfig = field(default_factory=ContentConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    schedules: SchedulesConfig = field(default_factory=SchedulesConfig)
    # The features' own sections ([volunteers], [logo], ...), by key; each feature declares
    # its section (a ``ConfigSection``) and reads it back typed with ``SECTION.of(config)``.
    sections: Mapping[str, Any] = field(default_factory=dict)
    # The declarations those sections were read with, and the features' checks of the whole
    # config (for ``with_overrides``).
    declared: tuple[ConfigSection[Any], ...] = field(default=(), repr=False, compare=False)
    checks: tuple[ConfigCheck, ...] = field(default=(), repr=False, compare=False)
    # Directory the config file was read from; relative paths are resolved against it.
    base_dir: str = "."

    @property
    def data_path(self) -> Path:
        """The data directory as an absolute path."""
        path = Path(self.server.data_dir)
        return path if path.is_absolute() else Path(self.base_dir) / path

    @property
    def database_url(self) -> str:
        """The SQLAlchemy async URL, defaulting to a SQLite file in the data directory."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{self.data_path / 'bot.db'}"

    def media_path(self, configured: str, name: str) -> Path:
        """A media directory: ``configured`` (relative to the config file) or, when empty,
        ``<data_dir>/media/<name>``."""
        if not configured:
            return self.data_path / "media" / name
        path = Path(configured)
        return path if path.is_absolute() else Path(self.base_dir) / path

    @property
    def public_url(self) -> str:
        """Base URL people and platforms reach this bot at."""
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        return f"http://{self.server.host}:{self.server.port}"


def _no_check(_section: Any) -> None:
    return None


@dataclass(frozen=True)
class ConfigSection(Generic[S]):
    """A feature's config table: ``[key]`` in the TOML file, read into the frozen dataclass
    ``type`` (every field with a default), checked by ``validate`` (raises ``ConfigError``
    naming the key). Its keys are overridable by ``BOT_<KEY>_<FIELD>`` like the core ones."""

    key: str
    type: type[S]
    validate: Callable[[S], None] = _no_check

    def of(self, config: Config) -> S:
        """This section of ``config``, typed."""
        try:
            return cast(S, config.sections[self.key])
        except KeyError:
            raise ConfigError(f"{self.key}: section not registered by any feature") from None


_SECRET_KEYS = {"app_secret", "token", "encoding_aes_key", "data_key", "access_token", "url"}


def is_secret(key: str) -> bool:
    """Whether a config key holds a secret that must never be printed or logged."""
    return key in _SECRET_KEYS


# The numeric types a key may have, as the error names them.
_NUMBERS: dict[Any, str] = {int: "an integer", float: "a number"}


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        }:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp in _NUMBERS:
        # bool is an int to Python, never a number to the config.
        if not isinstance(value, bool):
            try:
                return tp(value)
            except (TypeError, ValueError):
                pass
        raise ConfigError(f"{key}: expected {_NUMBERS[tp]}, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item_tp = (typing.get_args(tp) or (Any,))[0]
        if item_tp is Any or typing.get_origin(item_tp) is not None:
            return tuple(value)
        return tuple(_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (types.UnionType, typing.Union):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, members[0], key)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {value!r}")
        return _build(tp, value, key)
    return value


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _build(cls: Any, data: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for name in data:
        if name not in known:
            raise ConfigError(f"{_join(prefix, name)}: unknown key")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _convert(data[f.name], hints[f.name], _join(prefix, f.name))
    return cls(**kwargs)


def _section_types(sections: Sequence[ConfigSection[Any]]) -> dict[str, Any]:
    hints = typing.get_type_hints(Config)
    found = {
        f.name: hints[f.name]
        for f in dataclasses.fields(Config)
        if dataclasses.is_dataclass(hints[f.name])
    }
    for section in sections:
        if section.key in found or section.key == "base_dir":
            raise ConfigError(f"{section.key}: section declared twice")
        found[section.key] = section.type
    return found


def _apply_env(
    data: dict[str, Any], env: Mapping[str, str], sections: Sequence[ConfigSection[Any]]
) -> None:
    """Overlay BOT_SECTION_KEY variables onto the parsed TOML tree."""
    for name, section_cls in _section_types(sections).items():
        for sf in dataclasses.fields(section_cls):
            var = f"BOT_{name}_{sf.name}".upper()
            if var in env:
                data.setdefault(name, {})[sf.name] = env[var]


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (ValueError, binascii.Error):
        return False


# A feature's check of the whole config (raises ConfigError naming the key), for what the
# kernel cannot judge itself, e.g. whether [schedules] extra_dates are real calendar dates.
ConfigCheck = Callable[["Config"], None]


def _validate(config: Config) -> None:
    _validate_core(config)
    for section in config.declared:
        section.validate(section.of(config))
    for check in config.checks:
        check(config)


def _validate_core(config: Config) -> None:
    if not 0 < config.server.port < 65536:
        raise ConfigError(f"server.port: must be 1-65535, got {config.server.port}")
    if config.server.role not in {"web", "scheduler", "all"}:
        raise ConfigError(f"server.role: must be web, scheduler or all, got {config.server.role!r}")
    if config.server.event_loop not in {"uvloop", "asyncio"}:
        raise ConfigError(
            f"server.event_loop: must be uvloop or asyncio, got {config.server.event_loop!r}"
        )
    if config.server.max_body_bytes < 1024:
        raise ConfigError("server.max_body_bytes: must be at least 1024")
    if not 0.1 <= config.server.body_timeout_seconds <= 300:
        raise ConfigError("server.body_timeout_seconds: must be between 0.1 and 300")
    if config.server.max_unsigned_body_reads < 1:
        raise ConfigError("server.max_unsigned_body_reads: must be at least 1")
    if not 0 <= config.metrics.port < 65536:
        raise ConfigError(f"metrics.port: must be 0 (off) or 1-65535, got {config.metrics.port}")
    if config.metrics.port and config.metrics.port == config.server.port:
        raise ConfigError(
            "metrics.port: must differ from server.port (metrics stay off the webhooks)"
        )
    if config.limits.rate_limit_store not in {"auto", "memory", "database"}:
        raise ConfigError("limits.rate_limit_store: must be auto, memory or database")
    if not 0.01 <= config.limits.rate_sync_seconds <= 10:
        raise ConfigError("limits.rate_sync_seconds: must be between 0.01 and 10")
    wc = config.wechat
    if not wc.token:
        raise ConfigError("wechat.token: required (the Token set on the platform)")
    if wc.encoding_aes_key and len(wc.encoding_aes_key) != 43:
        raise ConfigError("wechat.encoding_aes_key: must be exactly 43 characters")
    _validate_channel("wechat", wc)
    if wc.api_base_url != SANDBOX and not wc.app_secret:
        raise ConfigError("wechat.app_secret: required when api_base_url is not 'sandbox'")
    if wc.token_endpoint not in {"stable", "token"}:
        raise ConfigError("wechat.token_endpoint: must be 'stable' or 'token'")
    if not 0.5 <= wc.reply_deadline_seconds <= 4.8:
        raise ConfigError("wechat.reply_deadline_seconds: must be between 0.5 and 4.8")
    if not 1 <= wc.news_reply_max_articles <= 8:
        raise ConfigError("wechat.news_reply_max_articles: must be between 1 and 8")
    check_menu(wc.menu, "wechat.menu")
    if not isinstance(config.campaign.features, Mapping):
        raise ConfigError("campaign.features: expected a table of feature = true | false")
    if config.security.data_key and not _is_fernet_key(config.security.data_key):
        # Checked here so a bad key stops start-up with the key's name, not a traceback.
        raise ConfigError("security.data_key: must be a Fernet key (32 url-safe base64 bytes)")
    _validate_weibo(config.weibo)
    if config.log.format not in {"json", "text"}:
        raise ConfigError("log.format: must be json or text")
    _validate_schedules(config.schedules)
    if config.database.message_retention_days < 1:
        raise ConfigError("database.message_retention_days: must be at least 1")


def check_menu(menu: Any, where: str) -> None:
    """WeChat's limits on a custom menu (3 buttons of at most 5 sub-buttons, each named); the
    config's [[wechat.menu]] and a campaign pack's [[menu]] alike."""
    if not isinstance(menu, list | tuple):
        raise ConfigError(f"{where}: expected a list of buttons")
    if len(menu) > 3:
        raise ConfigError(f"{where}: at most 3 top-level buttons")
    for i, button in enumerate(menu):
        if not isinstance(button, Mapping) or not button.get("name"):
            raise ConfigError(f"{where}[{i}].name: required")
        if len(button.get("sub_button", ())) > 5:
            raise ConfigError(f"{where}[{i}].sub_button: at most 5 entries")


def _validate_schedules(sc: SchedulesConfig) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(sc.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"schedules.timezone: unknown time zone {sc.timezone!r}") from None
    if sc.account_type not in {"subscription", "service"}:
        raise ConfigError("schedules.account_type: must be subscription or service")
    if sc.mass_quota < 0:
        raise ConfigError("schedules.mass_quota: must be 0 (default) or more")
    if sc.mass_quota_period not in {"", "day", "month"}:
        raise ConfigError("schedules.mass_quota_period: must be day or month")
    require_positive(
        "schedules", sc, "poll_seconds", "max_attempts", "backoff_seconds", "lease_seconds"
    )
    if sc.misfire_grace_seconds < 0:
        raise ConfigError("schedules.misfire_grace_seconds: must be 0 or more")
    if sc.stale_sending_seconds < 1:
        raise ConfigError("schedules.stale_sending_seconds: must be at least 1")
    if not isinstance(sc.extra_dates, Mapping):
        raise ConfigError('schedules.extra_dates: expected a table of key = "MM-DD"')
    # What the dates mean is the campaign calendar's to check (a feature's ``checks``).


def _validate_channel(section: str, cc: ChannelConfig) -> None:
    if cc.api_base_url != SANDBOX and not cc.api_base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{section}.api_base_url: must be an http(s) URL or 'sandbox'")


def _validate_weibo(wb: WeiboConfig) -> None:
    _validate_channel("weibo", wb)
    if wb.timestamp_unit not in {"ms", "s"}:
        raise ConfigError("weibo.timestamp_unit: must be 'ms' or 's'")
    if not 20 <= wb.text_limit <= 300:
        raise ConfigError("weibo.text_limit: must be between 20 and 300")
    if wb.media_id_field not in {"vfid", "tovfid"}:
        raise ConfigError("weibo.media_id_field: must be 'vfid' or 'tovfid'")
    if wb.post_interval_seconds < 0:
        raise ConfigError("weibo.post_interval_seconds: must not be negative")


def weibo_enabled(config: Config) -> bool:
    """The Weibo channel is on when it has an app secret (the sandbox default has one)."""
    return bool(config.weibo.app_secret)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    sections: Sequence[ConfigSection[Any]] = (),
    checks: Sequence[ConfigCheck] = (),
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Read the TOML file (or built-in defaults when ``path`` is None) with the core sections
    and the features' ``sections``, and validate it (the features' ``checks`` included)."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path is not None:
        p = Path(path)
        try:
            with p.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
        base_dir = p.resolve().parent
    _apply_env(data, env, sections)
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    data["base_dir"] = str(base_dir)
    values = {}
    for declared in sections:
        table = data.pop(declared.key, {})
        if not isinstance(table, Mapping):
            raise ConfigError(f"{declared.key}: expected a table, got {table!r}")
        values[declared.key] = _build(declared.type, table, declared.key)
    config: Config = _build(Config, data, "")
    config = dataclasses.replace(
        config, sections=values, declared=tuple(sections), checks=tuple(checks)
    )
    _validate(config)
    return config


def with_overrides(config: Config, **changes: Mapping[str, Any]) -> Config:
    """A copy of ``config`` with some keys of some sections replaced (tests, CLI flags)."""
    core, features = {}, dict(config.sections)
    for name, values in changes.items():
        if name in features:
            features[name] = dataclasses.replace(features[name], **values)
        else:
            core[name] = dataclasses.replace(getattr(config, name), **values)
    new = dataclasses.replace(config, sections=features, **core)
    _validate(new)
    return new
