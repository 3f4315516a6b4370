"""A feature built inside the test suite: declared once, it is routed (a command and a flow),
on the CLI, configured (its own section, environment overrides included), its texts loaded,
its media purged and its jobs run, without any other module naming it.

This is the README's "Adding a feature" recipe, checked: if wiring ever needs an edit outside
the feature again, this test cannot pass.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import build_context, close_context, create_app, prepare_database, purge_once
from bot.cli import main
from bot.cli.common import add_config_arg, run
from bot.config import load_config
from bot.kernel.clock import FakeClock
from bot.kernel.config import Config, ConfigError, ConfigSection
from bot.kernel.context import BotContext
from bot.kernel.message import Reply
from bot.sandbox import FakeWeChatAPI
from handlers import registry
from handlers.context import Ctx
from handlers.conversation import Finish, Flow, Next, Outcome, Step, ask
from handlers.feature import Feature, MediaFolder, PeriodicJob
from handlers.registry import FEATURES
from handlers.router import Router, Text
from schedules.scheduler import CampaignScheduler
from tests.conftest import BotHarness, make_config

# -- the feature: 打卡 (check in) and a two-step 承诺 (pledge) flow ------------------------------


@dataclass(frozen=True)
class TallyConfig:
    # What the bot says after 打卡.
    cheer: str = "加油"
    media_dir: str = ""


def validate_tally(cfg: TallyConfig) -> None:
    if not cfg.cheer.strip():
        raise ConfigError("tally.cheer: must not be empty")


TALLY = ConfigSection("tally", TallyConfig, validate_tally)
router = Router("tally")


@router.on(Text("打卡"))
async def check_in(ctx: Ctx) -> Reply | None:
    return ctx.reply("tally.checked", cheer=TALLY.of(ctx.bot.config).cheer)


async def take_pledge(ctx: Ctx, data: dict[str, Any]) -> Outcome:
    return Next("confirm", {"pledge": ctx.inbound.text or ""})


async def confirm(ctx: Ctx, data: dict[str, Any]) -> Outcome:
    return Finish(ctx.reply("tally.pledged", pledge=data["pledge"]))


PLEDGE = Flow(
    name="tally_pledge",
    title_key="tally.pledge_title",
    entry=Text("承诺"),
    steps=[
        Step("pledge", ask("tally.ask_pledge"), take_pledge),
        Step("confirm", ask("tally.ask_confirm"), confirm),
    ],
)


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tally", help="the tally feature: show its settings")
    add_config_arg(p)
    p.set_defaults(func=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    async def work(bot: BotContext) -> str:
        return f"{bot.texts('tally.cli_heading')} {TALLY.of(bot.config).cheer}"

    print(run(args, work))
    return 0


def tally_media(config: Config) -> Path:
    return config.media_path(TALLY.of(config).media_dir, "tally")


KEPT = "a" * 64 + ".png"


async def referenced(session: AsyncSession) -> Iterable[str]:
    return [KEPT]


RUNS: list[str] = []


async def forget_old(bot: BotContext, now: datetime) -> int:
    RUNS.append("purge")
    return 2


async def leader_work(bot: BotContext) -> int:
    RUNS.append("leader")
    return 1


CONTENT = """
checked = "打卡成功，{cheer}！"
pledged = "你的承诺：{pledge}"
pledge_title = "承诺"
ask_pledge = "请写下你的承诺。"
ask_confirm = "回复 确认 提交。"
cli_heading = "打卡设置"
"""


def tally_feature(content: Path) -> Feature:
    return Feature(
        name="tally",
        routers=[router],
        flows=[PLEDGE],
        cli=[f"{__name__}:register_cli"],
        config=TALLY,
        content=[content],
        media=[MediaFolder("tally", tally_media, referenced)],
        purges=[forget_old],
        jobs=[PeriodicJob("tally.leader", leader_work, where="leader")],
        audit_actions=["tally.reset"],
    )


# -- the checks ------------------------------------------------------------------------------


@pytest.fixture
def features(tmp_path: Path) -> tuple[Feature, ...]:
    content = tmp_path / "tally.toml"
    content.write_text(CONTENT, encoding="utf-8")
    RUNS.clear()
    return (*FEATURES, tally_feature(content))


@pytest.fixture
def config(
    db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI, features: tuple[Feature, ...]
) -> Config:
    return make_config(
        db_url,
        tmp_path,
        fake_wechat.base_url,  # type: ignore[attr-defined]
        features=features,
        tally={"cheer": "坚持就是胜利"},
    )


@pytest.fixture
async def harness(
    config: Config, features: tuple[Feature, ...], fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> AsyncIterator[BotHarness]:
    app = create_app(config, clock=clock, migrate=False, features=features)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with ClientSession() as http:
        yield BotHarness(server, http, fake_wechat, clock)
    await server.close()


def test_the_registry_does_not_know_it() -> None:
    assert "tally" not in {feature.name for feature in registry.FEATURES}


async def test_routed_command_and_flow(harness: BotHarness) -> None:
    user = harness.user()
    assert await harness.say(user, "打卡") == "打卡成功，坚持就是胜利！"
    assert await harness.say(user, "承诺") == "请写下你的承诺。"
    assert await harness.say(user, "每天读书") == "回复 确认 提交。"
    assert await harness.say(user, "确认") == "你的承诺：每天读书"
    # The registry's features still answer around it.
    assert "志愿" in await harness.say(user, "报名")


def test_config_section_file_and_environment(tmp_path: Path, features: tuple[Feature, ...]) -> None:
    path = tmp_path / "bot.toml"
    path.write_text('[tally]\ncheer = "好样的"\n', encoding="utf-8")
    assert TALLY.of(load_config(path, env={}, features=features)).cheer == "好样的"
    env = {"BOT_TALLY_CHEER": "从环境来"}
    assert TALLY.of(load_config(path, env=env, features=features)).cheer == "从环境来"
    with pytest.raises(ConfigError, match=r"tally\.cheer"):
        load_config(None, env={"BOT_TALLY_CHEER": " "}, features=features)
    with pytest.raises(ConfigError, match=r"tally\.volume: unknown key"):
        load_config(None, env={}, overrides={"tally": {"volume": 3}}, features=features)
    # Without the feature, its section is unknown like any other stray table.
    with pytest.raises(ConfigError, match="tally: unknown key"):
        load_config(path, env={})


async def test_on_the_cli(
    capsys: pytest.CaptureFixture[str],
    config: Config,
    features: tuple[Feature, ...],
    tmp_path: Path,
) -> None:
    # In the test's own folder: config.base_dir is the working directory (the repo).
    path = tmp_path / "tally-bot.toml"
    path.write_text(
        f'[server]\ndata_dir = "{config.data_path}"\n[database]\nurl = "{config.database.url}"\n'
        '[tally]\ncheer = "命令行也行"\n',
        encoding="utf-8",
    )
    with pytest.raises(SystemExit):
        await asyncio.to_thread(main, ["--help"], features)
    assert "the tally feature" in capsys.readouterr().out
    code = await asyncio.to_thread(main, ["tally", "--config", str(path)], features)
    assert code == 0
    assert capsys.readouterr().out.split() == ["打卡设置", "命令行也行"]
    # The registry's CLI has no such command.
    with pytest.raises(SystemExit):
        await asyncio.to_thread(main, ["tally"])


@pytest.fixture
async def bot(
    config: Config, features: tuple[Feature, ...], clock: FakeClock
) -> AsyncIterator[BotContext]:
    """A context without a server, so no background purge races the test's own."""
    bot = build_context(config, clock, features)
    await prepare_database(bot, migrate=False, features=features)
    yield bot
    await close_context(bot)


async def test_purged_and_jobs_run(
    bot: BotContext, features: tuple[Feature, ...], clock: FakeClock
) -> None:
    assert bot.texts("tally.checked", cheer="x") == "打卡成功，x！"
    folder = tally_media(bot.config)
    folder.mkdir(parents=True)
    old = (clock.now() - timedelta(days=2)).timestamp()
    for name in (KEPT, "b" * 64 + ".jpg"):
        (folder / name).write_bytes(b"picture")
        os.utime(folder / name, (old, old))
    done = await purge_once(bot, features)
    assert done["orphan_pictures"] == 1 and done["tally.forget_old"] == 2
    assert [p.name for p in folder.iterdir()] == [KEPT]
    leader = list(registry.jobs(features, where="leader"))
    assert [job.name for job in leader] == ["pushes.outbox", "tally.leader"]
    scheduler = CampaignScheduler(bot, owner="tally-test", jobs=leader)
    ticked = await scheduler.tick()
    assert ticked is not None and ticked["tally.leader"] == 1
    await scheduler.stop()
    assert RUNS == ["purge", "leader"]
