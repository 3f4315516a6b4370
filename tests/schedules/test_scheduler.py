"""One active scheduler (a database lease), the serve roles, and the operator commands."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.app import build_context, close_context, create_app
from bot.cli import main
from bot.config import Config, with_overrides
from bot.kernel.clock import FakeClock
from bot.kernel.context import BotContext
from bot.sandbox import FakeWeChatAPI
from schedules.scheduler import LEASE_NAME, CampaignScheduler
from storage import leases as lease
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, DATA_KEY, TOKEN


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2027, 1, 10, 4, 0, tzinfo=UTC))


@pytest.fixture
async def second_bot(bot_config: Config, clock: FakeClock) -> AsyncIterator[BotContext]:
    """Another scheduler process on the same database."""
    other = build_context(bot_config, clock)
    yield other
    await close_context(other)


async def test_two_schedulers_one_leads_the_other_waits_then_takes_over(
    bot_context: BotContext, second_bot: BotContext, clock: FakeClock
) -> None:
    a = CampaignScheduler(bot_context, owner="a")
    b = CampaignScheduler(second_bot, owner="b")
    results = await asyncio.gather(a.tick(), b.tick())
    assert [r is not None for r in results].count(True) == 1
    leader, waiter = (a, b) if a.is_leader else (b, a)
    clock.advance(30)
    assert await leader.tick() is not None  # renews
    assert await waiter.tick() is None
    # The leader dies (no more renewals); once its lease expires the other takes over.
    clock.advance(bot_context.config.schedules.lease_seconds + 1)
    assert await waiter.tick() is not None
    assert waiter.is_leader
    assert await lease.holder(bot_context.sessions, LEASE_NAME, clock.now()) == waiter.owner
    assert await leader.tick() is None and not leader.is_leader


async def test_clean_stop_hands_the_lease_over_at_once(
    bot_context: BotContext, second_bot: BotContext
) -> None:
    a = CampaignScheduler(bot_context, owner="a")
    b = CampaignScheduler(second_bot, owner="b")
    assert await a.tick() is not None
    assert await b.tick() is None
    await a.stop()
    assert await b.tick() is not None


async def test_concurrent_lease_races_have_one_winner(
    bot_context: BotContext, second_bot: BotContext, clock: FakeClock
) -> None:
    now = clock.now()
    wins = await asyncio.gather(
        *(
            lease.acquire(ctx.sessions, "race", f"owner-{i}", now, 60)
            for i, ctx in enumerate([bot_context, second_bot] * 4)
        )
    )
    assert wins.count(True) == 1


async def test_scheduler_role_serves_health_only_and_runs_the_scheduler(
    bot_config: Config, clock: FakeClock
) -> None:
    config = with_overrides(bot_config, server={"role": "scheduler"})
    app = create_app(config, clock=clock, migrate=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as http:
            async with http.get(server.make_url("/healthz")) as resp:
                assert resp.status == 200
            async with http.post(server.make_url("/wechat"), data=b"<xml/>") as resp:
                assert resp.status == 404
        from bot.appkeys import BOT

        assert isinstance(app[BOT].extras.get("scheduler"), CampaignScheduler)
    finally:
        await server.close()


async def test_web_role_starts_no_scheduler(bot_config: Config, clock: FakeClock) -> None:
    config = with_overrides(bot_config, server={"role": "web"})
    app = create_app(config, clock=clock, migrate=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        from bot.appkeys import BOT

        assert "scheduler" not in app[BOT].extras
    finally:
        await server.close()


# -- operator commands ---------------------------------------------------------------------------


def write_config(tmp_path: Path, db_url: str, fake: FakeWeChatAPI, extra: str = "") -> Path:
    path = tmp_path / "bot.toml"
    base_url = fake.base_url  # type: ignore[attr-defined]
    path.write_text(
        f"""
[server]
data_dir = "{tmp_path / "data"}"
[database]
url = "{db_url}"
[wechat]
app_id = "{APP_ID}"
app_secret = "test-secret"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
account_id = "{ACCOUNT}"
api_base_url = "{base_url}"
api_backoff_seconds = 0.01
[security]
data_key = "{DATA_KEY}"
[log]
format = "text"
{extra}
""",
        encoding="utf-8",
    )
    return path


async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_schedule_commands_end_to_end(
    db_url: str,
    tmp_path: Path,
    fake_wechat: FakeWeChatAPI,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = str(write_config(tmp_path, db_url, fake_wechat))
    next_year = datetime.now(UTC).year + 1
    status = await run_cli(
        "schedule", "add", "志愿者日推送", "--text", "{year}年{festival}快乐",
        "--key-date", "volunteer_day", "--time", "10:00", "--dry-run", "-c", cfg,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0 and "dry run: nothing saved" in out
    assert "wechat mass/sendall to all followers" in out
    assert f'"content": "{datetime.now(UTC).year}年国际志愿者日快乐"' in out or (
        f'"content": "{next_year}年国际志愿者日快乐"' in out
    )
    assert await run_cli("schedule", "list", "-c", cfg) == 0
    assert "志愿者日推送" not in capsys.readouterr().out  # the dry run saved nothing

    status = await run_cli(
        "schedule", "add", "志愿者日推送", "--text", "{year}年{festival}快乐",
        "--key-date", "volunteer_day", "--time", "10:00", "--preview-to", "op-1",
        "--preview-minutes", "60", "-c", cfg,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0 and out.startswith("post 1 scheduled; next: ")
    assert "-12-05 10:00" in out

    assert await run_cli("schedule", "list", "-c", cfg) == 0
    out = capsys.readouterr().out
    assert "志愿者日推送" in out and "yearly volunteer_day 10:00" in out
    assert f"{next_year}-12-05 10:00" in out

    # Same day again: the subscription account's quota refuses, naming the conflict.
    status = await run_cli(
        "schedule", "add", "重复", "--text", "hi", "--key-date", "volunteer_day",
        "--time", "20:00", "-c", cfg,
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == 1 and "quota is 1 a day" in err and "post 1 “志愿者日推送”" in err

    assert await run_cli("schedule", "run-now", "1", "--dry-run", "-c", cfg) == 0
    assert "dry run: nothing sent" in capsys.readouterr().out
    assert fake_wechat.calls_to("/cgi-bin/message/mass/sendall") == []

    assert await run_cli("schedule", "preview", "1", "-c", cfg) == 0
    assert "sent 1" in capsys.readouterr().out
    [preview] = fake_wechat.calls_to("/cgi-bin/message/mass/preview")
    assert preview.body["touser"] == "op-1"

    assert await run_cli("schedule", "run-now", "1", "-c", cfg) == 0
    assert "sent 1" in capsys.readouterr().out
    assert len(fake_wechat.calls_to("/cgi-bin/message/mass/sendall")) == 1

    assert await run_cli("schedule", "list", "--outbox", "-c", cfg) == 0
    out = capsys.readouterr().out
    assert out.count(" sent ") == 2

    assert await run_cli("schedule", "cancel", "1", "-c", cfg) == 0
    assert await run_cli("schedule", "cancel", "1", "-c", cfg) == 1
    assert "no active post with id 1" in capsys.readouterr().err


async def test_schedule_add_refuses_bad_input_clearly(
    db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(write_config(tmp_path, db_url, fake_wechat))
    cases = [
        (["--text", "hi", "--at", "明天"], "--at: expected"),
        (["--text", "{who}", "--at", "2099-01-01 09:00"], "unknown placeholder {who}"),
        (["--text", "hi"], "give either --at"),
        (["--image", "missing.jpg", "--at", "2099-01-01 09:00"], "file not found"),
        (["--article", "only-title", "--at", "2099-01-01 09:00"], "TITLE|DIGEST|COVER|LINK"),
    ]
    for args, message in cases:
        assert await run_cli("schedule", "add", "x", *args, "-c", cfg) == 1
        assert message in capsys.readouterr().err


async def test_apscheduler_job_uses_the_configured_policy(
    bot_context: BotContext,
) -> None:
    sched = CampaignScheduler(bot_context, owner="x")
    sched.start()
    try:
        assert sched._aps is not None
        [job] = sched._aps.get_jobs()
        assert job.coalesce is True
        assert job.misfire_grace_time == bot_context.config.schedules.misfire_grace_seconds
        assert job.max_instances == 1
        assert str(sched._aps.timezone) == "Asia/Shanghai"
        assert job.next_run_time.tzinfo is not None
    finally:
        await sched.stop()
    assert sched._aps is None
