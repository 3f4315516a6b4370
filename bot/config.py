"""Typed, frozen configuration loaded from TOML, with environment overrides.

Every key lives in a frozen dataclass; ``load_config`` validates types and values and raises
``ConfigError`` naming the offending key, so a bad file stops start-up with a clear message.
Any key may be overridden by an environment variable ``BOT_<SECTION>_<KEY>`` (upper case, dots
in nested sections become underscores), which is how secrets stay out of files.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SANDBOX = "sandbox"


class ConfigError(ValueError):
    """A configuration key is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # Public base URL of this bot (gallery links, news articles). Empty: derived from host/port.
    public_url: str = ""
    # Largest request body accepted on the webhooks; larger gets 413.
    max_body_bytes: int = 65536
    # Directory for the SQLite file, keys generated on first run and media.
    data_dir: str = "data"
    # web: webhooks only; scheduler: the campaign scheduler only; all: both.
    role: str = "all"


@dataclass(frozen=True)
class DatabaseConfig:
    # Empty: a SQLite file ``bot.db`` under server.data_dir, created on first run.
    url: str = ""
    # How long the inbound message log keeps rows (dedupe needs only minutes).
    message_retention_days: int = 30
    echo: bool = False


@dataclass(frozen=True)
class WeChatConfig:
    app_id: str = "wx-sandbox"
    app_secret: str = ""
    token: str = "sandbox-token"
    # 43 characters from the platform; empty disables safe/compatible mode.
    encoding_aes_key: str = ""
    # The account's original id (gh_...); replies use the ToUserName of each message anyway.
    account_id: str = ""
    # "sandbox" routes API calls to the built-in recorder (no credentials needed).
    api_base_url: str = SANDBOX
    # stable_token returns the same token to every process within its validity, so workers
    # never invalidate each other; "token" uses the classic endpoint.
    token_endpoint: str = "stable"
    # Refresh this many seconds before the platform's expiry.
    token_refresh_margin_seconds: int = 300
    # Requests whose timestamp is further than this from now get 403 (replay protection).
    timestamp_window_seconds: int = 300
    # WeChat gives up after 5 s; answer by this deadline and deliver late replies by API.
    reply_deadline_seconds: float = 4.5
    # Retries of the API client on -1 (busy) and 45009 (frequency limit).
    api_max_retries: int = 3
    api_backoff_seconds: float = 0.5
    api_timeout_seconds: float = 10.0
    # Custom menu pushed by ``python -m bot menu push`` (WeChat's menu/create JSON "button").
    menu: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class SecurityConfig:
    # Fernet key (urlsafe base64, 32 bytes) for personal data at rest. Empty: generated once
    # into data_dir/data.key. Production: set BOT_SECURITY_DATA_KEY.
    data_key: str = ""


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


@dataclass(frozen=True)
class LogConfig:
    level: str = "INFO"
    # json: one JSON object a line; text: human-readable.
    format: str = "json"


@dataclass(frozen=True)
class LogoConfig:
    # Votes one user may cast per (Asia/Shanghai) day, across all entries.
    votes_per_day: int = 3
    # Votes one user may give the same entry per day.
    votes_per_entry_per_day: int = 1


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    wechat: WeChatConfig = field(default_factory=WeChatConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    content: ContentConfig = field(default_factory=ContentConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    logo: LogoConfig = field(default_factory=LogoConfig)
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

    @property
    def public_url(self) -> str:
        """Base URL people and platforms reach this bot at."""
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        return f"http://{self.server.host}:{self.server.port}"


_SECRET_KEYS = {"app_secret", "token", "encoding_aes_key", "data_key", "access_token", "url"}


def is_secret(key: str) -> bool:
    """Whether a config key holds a secret that must never be printed or logged."""
    return key in _SECRET_KEYS


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
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
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


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    """Overlay BOT_SECTION_KEY variables onto the parsed TOML tree."""
    for f in dataclasses.fields(Config):
        section_cls = typing.get_type_hints(Config)[f.name]
        if not dataclasses.is_dataclass(section_cls):
            continue
        for sf in dataclasses.fields(section_cls):
            var = f"BOT_{f.name}_{sf.name}".upper()
            if var in env:
                data.setdefault(f.name, {})[sf.name] = env[var]


def _validate(config: Config) -> None:
    if not 0 < config.server.port < 65536:
        raise ConfigError(f"server.port: must be 1-65535, got {config.server.port}")
    if config.server.role not in {"web", "scheduler", "all"}:
        raise ConfigError(f"server.role: must be web, scheduler or all, got {config.server.role!r}")
    if config.server.max_body_bytes < 1024:
        raise ConfigError("server.max_body_bytes: must be at least 1024")
    wc = config.wechat
    if not wc.token:
        raise ConfigError("wechat.token: required (the Token set on the platform)")
    if wc.encoding_aes_key and len(wc.encoding_aes_key) != 43:
        raise ConfigError("wechat.encoding_aes_key: must be exactly 43 characters")
    if wc.api_base_url != SANDBOX:
        if not wc.api_base_url.startswith(("http://", "https://")):
            raise ConfigError("wechat.api_base_url: must be an http(s) URL or 'sandbox'")
        if not wc.app_secret:
            raise ConfigError("wechat.app_secret: required when api_base_url is not 'sandbox'")
    if wc.token_endpoint not in {"stable", "token"}:
        raise ConfigError("wechat.token_endpoint: must be 'stable' or 'token'")
    if not 0.5 <= wc.reply_deadline_seconds <= 4.8:
        raise ConfigError("wechat.reply_deadline_seconds: must be between 0.5 and 4.8")
    if len(wc.menu) > 3:
        raise ConfigError("wechat.menu: at most 3 top-level buttons")
    for i, button in enumerate(wc.menu):
        if not isinstance(button, Mapping) or not button.get("name"):
            raise ConfigError(f"wechat.menu[{i}].name: required")
        if len(button.get("sub_button", ())) > 5:
            raise ConfigError(f"wechat.menu[{i}].sub_button: at most 5 entries")
    if config.log.format not in {"json", "text"}:
        raise ConfigError("log.format: must be json or text")
    if config.database.message_retention_days < 1:
        raise ConfigError("database.message_retention_days: must be at least 1")
    if config.logo.votes_per_day < 1:
        raise ConfigError("logo.votes_per_day: must be at least 1")
    if not 1 <= config.logo.votes_per_entry_per_day <= config.logo.votes_per_day:
        raise ConfigError("logo.votes_per_entry_per_day: must be between 1 and logo.votes_per_day")


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Read the TOML file (or built-in defaults when ``path`` is None) and validate it."""
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
    _apply_env(data, env)
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    data["base_dir"] = str(base_dir)
    config: Config = _build(Config, data, "")
    _validate(config)
    return config


def with_overrides(config: Config, **sections: Mapping[str, Any]) -> Config:
    """A copy of ``config`` with some keys of some sections replaced (tests, CLI flags)."""
    changes = {}
    for section, values in sections.items():
        changes[section] = dataclasses.replace(getattr(config, section), **values)
    new = dataclasses.replace(config, **changes)
    _validate(new)
    return new
