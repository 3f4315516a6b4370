"""``python -m bot chat``: the terminal simulator, against a served bot and embedded."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

from bot.cli.chat import chat
from tests.conftest import BotHarness, make_config
from tests.handlers.logo_support import design


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


def _args(
    config_path: Path | None, url: str | None = None, aes: bool = False
) -> argparse.Namespace:
    return argparse.Namespace(
        config=str(config_path) if config_path else None,
        url=url,
        user="o_chat_test",
        channel="wechat",
        aes=aes,
        script=None,
    )


def _write_config(tmp_path: Path, db_url: str, api_base_url: str) -> Path:
    cfg = make_config(db_url, tmp_path, api_base_url)
    path = tmp_path / "bot.toml"
    path.write_text(
        f'[server]\nhost = "127.0.0.1"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "{db_url}"\n'
        f'[wechat]\ntoken = "{cfg.wechat.token}"\n'
        f'encoding_aes_key = "{cfg.wechat.encoding_aes_key}"\n'
        f'app_id = "{cfg.wechat.app_id}"\napi_base_url = "{api_base_url}"\n'
        f'app_secret = "test-secret"\n'
        f'[security]\ndata_key = "{cfg.security.data_key}"\n',
        encoding="utf-8",
    )
    return path


async def test_chat_against_running_bot(harness: BotHarness, tmp_path: Path, db_url: str) -> None:
    path = _write_config(tmp_path, db_url, harness.fake.base_url)  # type: ignore[attr-defined]
    out: list[str] = []
    base = str(harness.server.make_url(""))
    for aes in (False, True):
        await chat(
            _args(path, base, aes), _lines("/subscribe", "活动介绍", "/help", "/quit"), out.append
        )
    text = "\n".join(out)
    assert "欢迎关注" in text
    assert "新时代“e”起行动" in text
    assert "/click KEY" in text


async def test_chat_starts_an_embedded_bot_with_the_sandbox(tmp_path: Path, db_url: str) -> None:
    path = _write_config(tmp_path, db_url, "sandbox")
    picture = tmp_path / "pic.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    out: list[str] = []
    await chat(_args(path), _lines("绿色上网", f"/image {picture}", "/bogus", "/quit"), out.append)
    text = "\n".join(out)
    assert "已在本进程启动" in text
    assert "未成年人绿色上网小贴士" in text
    assert "已收到您发来的图片" in text
    assert "未知命令" in text


async def test_sandbox_serves_a_sent_picture_to_the_bot(tmp_path: Path, db_url: str) -> None:
    """The mounted sandbox's media/get hands the picture back (the 投稿 flow downloads it)."""
    path = _write_config(tmp_path, db_url, "sandbox")
    picture = tmp_path / "logo.png"
    picture.write_bytes(design(60))
    out: list[str] = []
    await chat(_args(path), _lines("投稿", f"/image {picture}", "取消", "/quit"), out.append)
    text = "\n".join(out)
    assert "已收到作品图片" in text and "图片接收失败" not in text
