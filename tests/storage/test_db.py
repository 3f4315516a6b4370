"""SQLite statements of a message's transaction on the event loop's thread (storage.db)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from storage.db import create_engine, create_sessions, on_loop


def _engine_with_thread_probe(path: Path) -> Any:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")

    @event.listens_for(engine.sync_engine, "connect")
    def _register(dbapi_connection: Any, _record: Any) -> None:
        # thread_id(): the thread a statement runs on.
        raw = dbapi_connection.driver_connection._conn
        raw.create_function("thread_id", 0, threading.get_ident)

    return engine


async def _thread_of_statement(sessions: Any) -> int:
    async with sessions() as session, session.begin():
        return int((await session.execute(text("SELECT thread_id()"))).scalar_one())


async def test_statements_run_on_the_loop_only_when_asked(tmp_path: Path) -> None:
    engine = _engine_with_thread_probe(tmp_path / "db.sqlite")
    sessions = create_sessions(engine)
    try:
        loop_thread = threading.get_ident()
        assert await _thread_of_statement(sessions) != loop_thread  # aiosqlite's thread
        with on_loop():
            assert await _thread_of_statement(sessions) == loop_thread
        assert await _thread_of_statement(sessions) != loop_thread
    finally:
        await engine.dispose()


async def test_a_busy_write_lock_is_waited_for_on_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    engine = _engine_with_thread_probe(path)
    sessions = create_sessions(engine)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await _thread_of_statement(sessions)  # the file and its WAL exist
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        with on_loop():
            waiting = asyncio.create_task(_thread_of_statement(sessions))
            await asyncio.sleep(0.3)
            assert not waiting.done() and ticks >= 10  # waits, and the loop runs on
            other.execute("COMMIT")
            # The BEGIN waited on aiosqlite's thread; once the lock was taken the statement
            # ran on the loop.
            assert await asyncio.wait_for(waiting, 5) == threading.get_ident()
        ticker.cancel()
    finally:
        other.close()
        await engine.dispose()
