"""One contract for every conversation store: SQLite, PostgreSQL and memory behave alike."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.kernel.message import Channel, UserKey
from storage.conversations import (
    ConversationStore,
    FlowState,
    MemoryConversationStore,
    SqlConversationStore,
)
from storage.db import create_engine, create_sessions, transaction
from tests.conftest import PG_URL
from tests.conftest import _reset_postgres as reset_postgres

NOW = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
ALICE = UserKey(Channel.WECHAT, "gh_account", "alice")


def state(step: str = "name", *, flow: str = "signup", data: str = "{}") -> FlowState:
    return FlowState(flow, step, data, NOW, NOW + timedelta(minutes=30))


class Stores:
    """Opens the store under test in a fresh unit of work (a transaction for SQL)."""

    def __init__(self, url: str | None) -> None:
        self.memory = MemoryConversationStore()
        self.engine = create_engine(url) if url else None
        self.sessions = create_sessions(self.engine) if self.engine else None

    def unit(self) -> AsyncIterator[ConversationStore]:
        return self._unit()

    async def _unit(self) -> AsyncIterator[ConversationStore]:
        if self.sessions is None:
            yield self.memory
            return
        async with transaction(self.sessions) as session:
            yield SqlConversationStore(session)


def _kinds() -> list[Any]:
    marks = [] if PG_URL else [pytest.mark.skip(reason="BOT_TEST_POSTGRES_URL not set")]
    return ["sqlite", pytest.param("postgres", marks=marks), "memory"]


@pytest.fixture(params=_kinds())
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[Stores]:
    """The SQL store on SQLite and on PostgreSQL, and the memory store."""
    url = None
    if request.param == "sqlite":
        shutil.copy(sqlite_template, tmp_path / "bot.db")
        url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    elif request.param == "postgres":
        await reset_postgres(PG_URL)
        url = PG_URL
    opened = Stores(url)
    yield opened
    if opened.engine is not None:
        await opened.engine.dispose()


class TestConversationStoreContract:
    """What the conversation engine relies on, for every implementation."""

    async def test_nothing_stored_reads_none(self, stores: Stores) -> None:
        async for store in stores.unit():
            assert await store.get(ALICE) is None
            assert await store.get(ALICE, lock=True) is None

    async def test_set_then_get_across_units(self, stores: Stores) -> None:
        async for store in stores.unit():
            saved = await store.set(ALICE, state(data="secret-token"))
            assert saved.version == 0
        async for store in stores.unit():
            got = await store.get(ALICE, lock=True)
            assert got == state(data="secret-token")

    async def test_replacing_bumps_the_version(self, stores: Stores) -> None:
        async for store in stores.unit():
            await store.set(ALICE, state("name"))
            again = await store.set(ALICE, state("phone", flow="signup"))
            assert again.version == 1
        async for store in stores.unit():
            got = await store.get(ALICE)
            assert got is not None and (got.step, got.version) == ("phone", 1)
            third = await store.set(ALICE, state("city", flow="edit"))
            assert third.version == 2
        async for store in stores.unit():
            got = await store.get(ALICE)
            assert got is not None and (got.flow, got.step, got.version) == ("edit", "city", 2)

    async def test_keys_are_separate(self, stores: Stores) -> None:
        others = [
            UserKey(Channel.WEIBO, ALICE.account, ALICE.user),
            UserKey(ALICE.channel, "gh_other", ALICE.user),
            UserKey(ALICE.channel, ALICE.account, "bob"),
        ]
        async for store in stores.unit():
            await store.set(ALICE, state("name"))
            for i, key in enumerate(others):
                await store.set(key, state(f"step{i}"))
        async for store in stores.unit():
            await store.delete(ALICE)
        async for store in stores.unit():
            assert await store.get(ALICE) is None
            for i, key in enumerate(others):
                got = await store.get(key)
                assert got is not None and got.step == f"step{i}"

    async def test_delete_of_nothing_is_harmless(self, stores: Stores) -> None:
        async for store in stores.unit():
            await store.delete(ALICE)
            assert await store.get(ALICE) is None

    async def test_delete_then_set_in_one_unit_starts_over(self, stores: Stores) -> None:
        async for store in stores.unit():
            await store.set(ALICE, state("name"))
            await store.set(ALICE, state("phone"))
        async for store in stores.unit():
            assert await store.get(ALICE, lock=True) is not None
            await store.delete(ALICE)
            fresh = await store.set(ALICE, state("intro", flow="stories"))
            assert fresh.version == 0
        async for store in stores.unit():
            got = await store.get(ALICE)
            assert got is not None and (got.flow, got.step, got.version) == ("stories", "intro", 0)

    async def test_times_come_back_aware_utc(self, stores: Stores) -> None:
        shanghai = NOW.astimezone(datetime.now().astimezone().tzinfo)
        async for store in stores.unit():
            await store.set(ALICE, FlowState("f", "s", "{}", shanghai, shanghai))
        async for store in stores.unit():
            got = await store.get(ALICE)
            assert got is not None and got.expires_at == NOW and got.expires_at.tzinfo is not None
