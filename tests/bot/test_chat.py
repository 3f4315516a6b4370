"""``python -m bot chat``: the terminal simulator, against a served bot and embedded."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cli.chat import WeiboChat, chat
from bot.cli.common import CommandError
from tests.conftest import WEIBO_ACCOUNT, WEIBO_SECRET, WEIBO_TOKEN, BotHarness, make_config
from tests.handlers.logo_support import design


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


def _args(
    config_path: Path | None,
    url: str | None = None,
    aes: bool = False,
    channel: str = "wechat",
    user: str | None = None,
) -> argparse.Namespace:
    return argparse.Namespace(
        config=str(config_path) if config_path else None,
        url=url,
        user=user or ("o_chat_test" if channel == "wechat" else "5123456789"),
        channel=channel,
        aes=aes,
        script=None,
    )


def _write_config(tmp_path: Path, db_url: str, api_base_url: str, weibo: str = "sandbox") -> Path:
    """A config file; ``weibo`` is the Weibo API base URL ('' switches the channel off)."""
    cfg = make_config(db_url, tmp_path, api_base_url)
    weibo_keys = (
        f'app_secret = "{WEIBO_SECRET}"\naccess_token = "{WEIBO_TOKEN}"\n'
        f'account_id = "{WEIBO_ACCOUNT}"\napi_base_url = "{weibo}"\n'
        if weibo
        else 'app_secret = ""\napi_base_url = "https://api.weibo.com"\n'
    )
    path = tmp_path / "bot.toml"
    path.write_text(
        f'[server]\nhost = "127.0.0.1"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "{db_url}"\n'
        f'[wechat]\ntoken = "{cfg.wechat.token}"\n'
        f'encoding_aes_key = "{cfg.wechat.encoding_aes_key}"\n'
        f'app_id = "{cfg.wechat.app_id}"\napi_base_url = "{api_base_url}"\n'
        f'app_secret = "test-secret"\n'
        f"[weibo]\n{weibo_keys}"
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


async def test_chat_says_which_campaign_pack_runs(
    harness: BotHarness, tmp_path: Path, db_url: str
) -> None:
    """Embedded, the config's pack; against a running bot, the pack its /healthz names."""
    path = _write_config(tmp_path, db_url, "sandbox")
    path.write_text(path.read_text() + '[campaign]\npack = "hunan"\n', encoding="utf-8")
    out: list[str] = []
    await chat(_args(path), _lines("/subscribe", "投稿", "/quit"), out.append)
    text = "\n".join(out)
    assert "正在运行的活动：湖南省未成年人绿色上网公益活动，“绿色上网 点亮梦想”" in text
    assert "本次活动未开启：网络公益标识征集" in text
    assert "没有开展网络公益标识征集" in text  # 投稿 is the logo contest's, switched off
    out.clear()
    await chat(_args(path, str(harness.server.make_url(""))), _lines("/quit"), out.append)
    assert "正在运行的活动：新时代“e”起行动 让中原更出彩" in out[0]  # the harness runs henan


async def test_sandbox_serves_a_sent_picture_to_the_bot(tmp_path: Path, db_url: str) -> None:
    """The mounted sandbox's media/get hands the picture back (the 投稿 flow downloads it)."""
    path = _write_config(tmp_path, db_url, "sandbox")
    picture = tmp_path / "logo.png"
    picture.write_bytes(design(60))
    out: list[str] = []
    await chat(_args(path), _lines("投稿", f"/image {picture}", "取消", "/quit"), out.append)
    text = "\n".join(out)
    assert "已收到作品图片" in text and "图片接收失败" not in text


async def test_weibo_chat_against_running_bot(
    harness: BotHarness, tmp_path: Path, db_url: str
) -> None:
    assert harness.weibo_fake is not None
    path = _write_config(
        tmp_path,
        db_url,
        harness.fake.base_url,  # type: ignore[attr-defined]
        weibo=harness.weibo_fake.base_url,  # type: ignore[attr-defined]
    )
    out: list[str] = []
    base = str(harness.server.make_url(""))
    lines = _lines("/subscribe", "绿色上网", "/location 34.7 113.6 郑州", "/voice 你好", "/quit")
    await chat(_args(path, base, channel="weibo"), lines, out.append)
    text = "\n".join(out)
    assert "你是微博用户 5123456789" in text and "/weibo" in text
    assert "欢迎关注" in text
    assert "未成年人绿色上网小贴士" in text
    assert "已收到您发来的位置" in text
    assert "/voice 只用于 --channel wechat" in text


async def test_weibo_chat_embedded_shows_active_replies_and_images(
    tmp_path: Path, db_url: str
) -> None:
    path = _write_config(tmp_path, db_url, "sandbox")
    picture = tmp_path / "pic.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    out: list[str] = []
    lines = _lines("活动介绍", f"/image {picture}", "/click MENU_INTRO", "/help", "/quit")
    await chat(_args(path, channel="weibo"), lines, out.append)
    text = "\n".join(out)
    assert "已在本进程启动" in text
    # The answer is longer than a Weibo passive text: the rest comes by active reply.
    assert "机器人> 【新时代“e”起行动" in text
    rest = text.split("机器人(主动回复)> ", 1)
    assert len(rest) == 2 and "回复【志愿者报名】加入我们" in rest[1]
    assert "已收到您发来的图片" in text
    assert "/location LAT LNG      send a position" in text


@pytest.mark.parametrize(
    ("line", "subtype", "key"),
    [
        ("/subscribe", "follow", None),
        ("/subscribe school_a", "scan_follow", "school_a"),
        ("/unsubscribe", "unfollow", None),
        ("/scan school_b", "scan", "school_b"),
        ("/click MENU_INTRO", "click", "MENU_INTRO"),
    ],
)
async def test_weibo_commands_become_the_platforms_events(
    line: str, subtype: str, key: str | None
) -> None:
    from aiohttp import ClientSession

    from bot.config import load_config
    from bot.simulate import WeiboUser

    async with ClientSession() as http:
        session = WeiboChat(
            load_config(None, env={}),
            "http://127.0.0.1:9",
            http,
            print,
            sandbox=False,
            user=WeiboUser("secret"),
        )
        push = await session.compose(line)
    assert push["type"] == "event"
    assert push["data"] == ({"subtype": subtype} | ({"key": key} if key else {}))


async def test_weibo_chat_refuses_what_it_cannot_do(tmp_path: Path, db_url: str) -> None:
    on = _write_config(tmp_path, db_url, "sandbox")
    lines = _lines("/click", "/location 34.7", "/image /nonexistent.png", "/quit")
    out: list[str] = []
    await chat(_args(on, channel="weibo"), lines, out.append)
    text = "\n".join(out)
    assert "用法: /click KEY" in text and "用法: /location 纬度 经度" in text
    assert "No such file" in text
    with pytest.raises(CommandError, match="is a number"):
        await chat(_args(on, channel="weibo", user="o_not_a_uid"), _lines(), out.append)
    with pytest.raises(CommandError, match="Weibo pushes are not encrypted"):
        await chat(_args(on, channel="weibo", aes=True), _lines(), out.append)
    off = _write_config(tmp_path, db_url, "sandbox", weibo="")
    with pytest.raises(CommandError, match="Weibo channel is off"):
        await chat(_args(off, channel="weibo"), _lines(), out.append)


def test_a_missing_script_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["chat", "--script", "/nonexistent/script.txt"]) == 1
    assert "--script: no such file: /nonexistent/script.txt" in capsys.readouterr().err
