"""Config: validation names the key, env overrides, the example file documents every key."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, ConfigError, load_config
from handlers.logo_phases import LOGO
from handlers.registry import config_sections
from handlers.stories import STORIES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"


def _load(**sections: dict[str, Any]) -> Config:
    return load_config(None, env={}, overrides=sections)


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ({"server": {"port": 70000}}, "server.port"),
        ({"server": {"port": "eighty"}}, "server.port"),
        ({"server": {"colour": "blue"}}, "server.colour"),
        ({"server": {"event_loop": "trio"}}, "server.event_loop"),
        ({"wechat": {"encoding_aes_key": "short"}}, "wechat.encoding_aes_key"),
        ({"wechat": {"api_base_url": "https://api.weixin.qq.com"}}, "wechat.app_secret"),
        ({"wechat": {"reply_deadline_seconds": 9}}, "wechat.reply_deadline_seconds"),
        ({"wechat": {"token_endpoint": "magic"}}, "wechat.token_endpoint"),
        ({"database": {"echo": "maybe"}}, "database.echo"),
        ({"log": {"format": "xml"}}, "log.format"),
    ],
)
def test_invalid_config_names_the_key(sections: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _load(**sections)


def test_env_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text('[wechat]\napi_base_url = "https://api.weixin.qq.com"\n')
    with pytest.raises(ConfigError, match="app_secret"):
        load_config(path, env={})
    config = load_config(path, env={"BOT_WECHAT_APP_SECRET": "s3", "BOT_SERVER_PORT": "9090"})
    assert config.wechat.app_secret == "s3" and config.server.port == 9090


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE, env={})
    assert config.server.max_body_bytes == 65536
    assert config.wechat.menu == ()  # the campaign pack's menu (tests/handlers/test_packs.py)


def test_every_config_key_is_documented() -> None:
    """Walks the dataclasses: a new section or key must appear in config.example.toml."""
    documented = tomllib.loads(EXAMPLE.read_text())
    hints = typing.get_type_hints(Config)
    missing = []
    sections = {f.name: hints[f.name] for f in dataclasses.fields(Config)}
    # The features' sections too, as the registry declares them.
    sections.update({s.key: s.type for s in config_sections()})
    for name, cls in sections.items():
        if not dataclasses.is_dataclass(cls):
            continue
        for key in dataclasses.fields(cls):
            if key.name not in documented.get(name, {}):
                missing.append(f"{name}.{key.name}")
    assert missing == []
    assert {"volunteers", "logo", "stories"} <= sections.keys()


def test_feature_sections_take_environment_overrides() -> None:
    """BOT_<SECTION>_<KEY> reaches a feature's section as it reaches the core ones."""
    config = load_config(None, env={"BOT_LOGO_VOTES_PER_DAY": "5", "BOT_STORIES_MAX_VIDEOS": "1"})
    assert LOGO.of(config).votes_per_day == 5 and STORIES.of(config).max_videos == 1
    with pytest.raises(ConfigError, match=r"logo\.votes_per_day: expected an integer"):
        load_config(None, env={"BOT_LOGO_VOTES_PER_DAY": "many"})


def test_serve_with_bad_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nport = 0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "server.port" in proc.stderr


def test_bad_data_key_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"security\.data_key"):
        _load(security={"data_key": "not-a-fernet-key"})
