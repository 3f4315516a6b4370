"""The conversation engine on the in-memory store: a flow driven without any database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.app import build_context, close_context
from bot.kernel.clock import FakeClock
from bot.kernel.message import Channel, Inbound, Kind, Reply, UserKey
from handlers.context import Ctx
from handlers.conversation import ConversationEngine, Finish, Flow, Invalid, Next, Outcome, Step
from handlers.router import Text
from storage.conversations import MemoryConversationStore
from tests.conftest import make_config

START = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)


async def _name(ctx: Ctx, data: dict[str, Any]) -> Outcome:
    text = (ctx.inbound.text or "").strip()
    return Next("city", {"name": text}) if text else Invalid("empty")


async def _city(ctx: Ctx, data: dict[str, Any]) -> Outcome:
    return Finish(Reply.of_text(f"done {data['name']} {ctx.inbound.text}"))


def _ask(text: str) -> Any:
    async def prompt(ctx: Ctx, data: dict[str, Any]) -> Reply:
        return Reply.of_text(text)

    return prompt


FLOW = Flow(
    name="demo",
    title_key="volunteer.title",
    entry=Text("demo"),
    steps=[Step("name", _ask("name?"), _name), Step("city", _ask("city?"), _city)],
)


async def test_a_flow_runs_on_the_memory_store_without_a_database(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    config = make_config(f"sqlite+aiosqlite:///{database}", tmp_path, "http://127.0.0.1:9")
    clock = FakeClock(START)
    bot = build_context(config, clock)
    store = MemoryConversationStore()
    engine = ConversationEngine([FLOW], default_timeout_seconds=600)
    n = 0

    def ctx(text: str) -> Ctx:
        nonlocal n
        n += 1
        msg = Inbound(Channel.WECHAT, "gh_a", "alice", Kind.TEXT, f"m{n}", clock.now(), text)
        return Ctx(msg, bot, conversations=store)

    try:
        assert (await engine.start(ctx("demo"), "demo")).text == "name?"
        assert (await engine.handle(ctx(" "))).text.endswith("name?")  # type: ignore[union-attr]
        assert (await engine.handle(ctx("返回"))).text.endswith("name?")  # type: ignore[union-attr]
        assert (await engine.handle(ctx("小李"))).text == "city?"  # type: ignore[union-attr]
        saved = await store.get(UserKey(Channel.WECHAT, "gh_a", "alice"))
        # The answers are encrypted even in memory: the store never sees them.
        assert saved is not None and saved.step == "city" and "小李" not in saved.data
        assert (await engine.handle(ctx("郑州"))).text == "done 小李 郑州"  # type: ignore[union-attr]
        assert await store.get(UserKey(Channel.WECHAT, "gh_a", "alice")) is None
        assert await engine.handle(ctx("郑州")) is None  # no flow any more

        await engine.start(ctx("demo"), "demo")
        clock.advance(minutes=11)
        late = ctx("小王")
        assert await engine.handle(late) is None and late.notices  # expired, with a notice
    finally:
        await close_context(bot)
    # The engine creates the SQLite file empty and private (0600) up front; nothing wrote to it.
    assert not database.exists() or database.stat().st_size == 0
