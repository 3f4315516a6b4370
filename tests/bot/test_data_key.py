"""The data key and the database agree, or the bot does not start; data that cannot be
decrypted never crashes a page, a flow or a list; ``keys rotate`` (issue 15, defect 4)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet
from sqlalchemy import delete, select, update

from bot.app import build_context, close_context, create_app, prepare_database
from bot.cli import main
from bot.config import Config, with_overrides
from bot.kernel.clock import FakeClock
from bot.kernel.message import Channel
from bot.kernel.privacy import Cipher, key_id
from bot.keys import DataKeyError
from bot.sandbox import FakeWeChatAPI
from storage.keys import DataKey
from storage.models import Conversation
from storage.volunteers import Volunteer
from tests.bot.test_cli import _write_config
from tests.conftest import DATA_KEY, BotHarness, Chatter
from tests.handlers.logo_support import add_approved
from tests.handlers.test_volunteers import PHONE, _sign_up_to_confirm

OTHER_KEY = Fernet.generate_key().decode()


async def _volunteer(harness: BotHarness) -> Chatter:
    chatter: Chatter = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await _sign_up_to_confirm(chatter)
    assert "报名成功" in await chatter.say("确认")
    return chatter


def _config_file(tmp_path: Path, config: Config, data_key: str) -> Path:
    path = _write_config(tmp_path, config.database_url, config.wechat.api_base_url)
    path.write_text(path.read_text().replace(DATA_KEY, data_key))
    return path


@asynccontextmanager
async def _served(
    config: Config, fake: FakeWeChatAPI, clock: FakeClock
) -> AsyncIterator[BotHarness]:
    """The bot started again on ``config`` (as after a restart)."""
    server = TestServer(create_app(config, clock=clock, migrate=False), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as http:
            yield BotHarness(server, http, fake, clock)
    finally:
        await server.close()


async def _start_with(config: Config, clock: FakeClock) -> None:
    bot = build_context(config, clock)
    try:
        await prepare_database(bot, migrate=False)
    finally:
        await close_context(bot)


async def test_another_key_is_refused_naming_both(
    harness: BotHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _volunteer(harness)
    config = harness.bot.config
    other = with_overrides(config, security={"data_key": OTHER_KEY})
    with pytest.raises(DataKeyError) as info:
        await _start_with(other, harness.clock)
    assert key_id(DATA_KEY) in str(info.value) and key_id(OTHER_KEY) in str(info.value)
    # An operator command says so in one line, without a traceback.
    path = _config_file(tmp_path, config, OTHER_KEY)
    code = await asyncio.to_thread(main, ["volunteers", "list", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and key_id(DATA_KEY) in err and "Traceback" not in err


@pytest.mark.config(security={"data_key": ""})
async def test_a_lost_key_file_is_not_regenerated_over_data(harness: BotHarness) -> None:
    key_file = harness.bot.config.data_path / "data.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    await _volunteer(harness)
    first_id = harness.bot.cipher.key_id
    key_file.unlink()
    with pytest.raises(DataKeyError, match=r"data\.key is missing") as info:
        await _start_with(harness.bot.config, harness.clock)
    assert first_id in str(info.value)
    assert not key_file.exists()


async def test_data_from_before_key_ids_is_checked_by_decrypting(harness: BotHarness) -> None:
    await _volunteer(harness)
    async with harness.bot.sessions() as session, session.begin():
        await session.execute(delete(DataKey))
    config = harness.bot.config
    other = with_overrides(config, security={"data_key": OTHER_KEY})
    with pytest.raises(DataKeyError):
        await _start_with(other, harness.clock)
    await _start_with(config, harness.clock)  # the right key: recorded again
    async with harness.bot.sessions() as session:
        recorded = (await session.execute(select(DataKey.key_id))).scalars().all()
    assert recorded == [key_id(DATA_KEY)]


async def test_undecryptable_data_never_crashes(
    harness: BotHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Values written under another key (damaged, or left by an interrupted rotation)."""
    volunteer = await _volunteer(harness)
    in_flow = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    cancelling = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    for chatter in (in_flow, cancelling):
        assert "出生年份" in await chatter.say("志愿者报名")
        assert "真实姓名" in await chatter.say("1990")
    other = Cipher(OTHER_KEY)
    async with harness.bot.sessions() as session, session.begin():
        await session.execute(
            update(Volunteer).values(name_enc=other.encrypt("张三"), phone_enc=other.encrypt(PHONE))
        )
        state = json.dumps({"answers": {"birth_year": 1990}, "history": ["birth_year"]})
        await session.execute(update(Conversation).values(data=other.encrypt(state)))
    (number,) = await add_approved(harness, "绿色上网", author_name_enc=other.encrypt("王五"))

    assert "暂时无法读取" in await volunteer.say("我的信息")
    assert "暂时无法读取" in await volunteer.say("志愿证书")
    assert "无法读取" in await in_flow.say("帮助")
    assert "新时代" in await in_flow.say("活动介绍")  # the flow is over: routed as usual
    assert "已退出" in await cancelling.say("取消")
    for page in ("/logo", f"/logo/{number}"):
        async with harness.http.get(harness.server.make_url(page)) as resp:
            assert resp.status == 200 and "（无法读取）" in await resp.text()
    path = _config_file(tmp_path, harness.bot.config, DATA_KEY)
    code = await asyncio.to_thread(main, ["volunteers", "list", "--config", str(path)])
    out, err = capsys.readouterr()
    assert code == 0 and "（无法读取）" in out and "Traceback" not in err


@pytest.mark.config(security={"data_key": ""})
async def test_rotation_reencrypts_in_batches_and_keeps_the_index(
    harness: BotHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = harness.bot.config
    volunteer = await _volunteer(harness)
    in_flow = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    assert "出生年份" in await in_flow.say("志愿者报名")
    assert "真实姓名" in await in_flow.say("1990")
    assert "手机号码" in await in_flow.say("李四")
    await add_approved(harness, "绿色上网", author_name_enc=harness.bot.cipher.encrypt("王五"))
    old_id = harness.bot.cipher.key_id
    await harness.drain()

    path = _config_file(tmp_path, config, "")
    argv = ["keys", "rotate", "--config", str(path), "--batch", "1"]
    # Refused while the bot serves this database (it would write under the old key).
    assert await asyncio.to_thread(main, argv) == 1
    refused = capsys.readouterr().err
    assert "the bot is running against this database (all process" in refused
    assert not (config.data_path / "data.key.next").exists()
    await harness.server.close()  # stopped cleanly: its presence goes with it
    assert await asyncio.to_thread(main, argv) == 0
    out, err = capsys.readouterr()
    assert "volunteers: 1/1 (100%)" in err and "conversations: 1/1 (100%)" in err
    key_file = config.data_path / "data.key"
    new_id = key_id(key_file.read_text().strip())
    assert new_id != old_id and new_id in out
    retired = config.data_path / f"data.key.retired-{old_id}"
    assert key_id(retired.read_text().strip()) == old_id
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    async with harness.bot.sessions() as session:
        recorded = (await session.execute(select(DataKey.key_id))).scalars().all()
    assert recorded == [new_id]

    async with _served(config, harness.fake, harness.clock) as restarted:
        assert restarted.bot.cipher.key_id == new_id
        volunteer.harness = restarted  # type: ignore[attr-defined]
        in_flow.harness = restarted  # type: ignore[attr-defined]
        assert "张三" in await volunteer.say("我的信息")
        assert "城市" in await in_flow.say("13700001111")  # the flow goes on
        # The blind index follows the new key: the same phone is still refused.
        other = restarted.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
        await other.say("志愿者报名")
        await other.say("1990")
        await other.say("赵六")
        assert "已经登记为志愿者" in await other.say(PHONE)
        async with restarted.http.get(restarted.server.make_url("/logo")) as resp:
            assert "王*" in await resp.text()


async def test_a_database_without_personal_data_adopts_the_key(harness: BotHarness) -> None:
    """Nothing is encrypted yet: a new key protects as much as the recorded one (nothing)."""
    config = with_overrides(harness.bot.config, security={"data_key": OTHER_KEY})
    await _start_with(config, harness.clock)
    async with harness.bot.sessions() as session:
        recorded = (await session.execute(select(DataKey.key_id))).scalars().all()
    assert recorded == [key_id(OTHER_KEY)]
