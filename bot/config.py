"""This installation's configuration: the kernel's core sections plus the section of every
feature ``handlers/registry.py`` lists.

The types, the TOML and environment reading and the checks live in ``bot.kernel.config``; this
module only binds them to the registry, so ``load_config(path)`` knows ``[logo]``,
``[stories]`` and every later feature's section without naming any of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from bot.kernel import config as kernel
from bot.kernel.config import (
    SANDBOX,
    Config,
    ConfigCheck,
    ConfigError,
    ConfigSection,
    WeChatConfig,
    WeiboConfig,
    is_secret,
    weibo_enabled,
    with_overrides,
)
from handlers.feature import Feature
from handlers.registry import FEATURES, config_checks, config_sections

__all__ = [
    "SANDBOX",
    "Config",
    "ConfigError",
    "ConfigSection",
    "WeChatConfig",
    "WeiboConfig",
    "is_secret",
    "load_config",
    "weibo_enabled",
    "with_overrides",
]


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    features: Sequence[Feature] = FEATURES,
) -> Config:
    """Read the TOML file (or built-in defaults when ``path`` is None) with every feature's
    section, and validate it; ``ConfigError`` names the offending key."""
    return kernel.load_config(
        path,
        sections=config_sections(features),
        checks=[*config_checks(features), campaign_check(features)],
        env=env,
        overrides=overrides,
    )


def campaign_check(features: Sequence[Feature]) -> ConfigCheck:
    """The check of ``[campaign]``: its pack loads in full (manifest, dates, every text a
    campaign must give, keyword targets), so a third campaign's folder missing something
    stops start-up naming it instead of failing a user's message later."""

    def check(config: Config) -> None:
        from bot.kernel.campaign import load_pack, load_texts
        from bot.kernel.content import ContentError
        from handlers.keywords import seed_specs
        from schedules.calendar import validate_extra

        extra = [path for feature in features for path in feature.content]
        try:
            pack = load_pack(config.campaign.pack, config.base_dir, config.campaign.features)
            validate_extra(pack.dates.items())
            seed_specs(load_texts(pack, config.content.dir or None, extra))
        except ContentError as exc:
            raise ConfigError(str(exc)) from None
        except ValueError as exc:  # a date the calendar cannot read
            raise ConfigError(f"{pack.directory}: dates.{exc}") from None

    return check
