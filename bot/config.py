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
    ConfigError,
    ConfigSection,
    WeChatConfig,
    WeiboConfig,
    is_secret,
    weibo_enabled,
    with_overrides,
)
from handlers.feature import Feature
from handlers.registry import FEATURES, config_sections

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
        path, sections=config_sections(features), env=env, overrides=overrides
    )
