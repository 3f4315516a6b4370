"""A SQLite connection closed mid-transaction frees the write lock at once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.db import _connect_loop_first


@pytest.mark.parametrize("how", ["close", "stop"])
async def test_closing_under_a_live_statement_frees_the_write_lock(
    tmp_path: Path, how: str
) -> None:
    """``stop`` is what SQLAlchemy's terminate calls when a check-in is cancelled; before the
    rollback, the cursor a cancelled task still held kept the lock until the garbage collector
    found it, and the message-log writer waited 30 s a batch at shutdown."""
    path = str(tmp_path / "t.db")
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(50)])
    conn = await _connect_loop_first(path)
    conn.isolation_level = None
    await conn.execute("BEGIN IMMEDIATE")
    await conn.execute("INSERT INTO t VALUES (-1)")
    live = await conn.execute("SELECT x FROM t")
    assert await live.fetchone() is not None  # the statement is still stepping
    if how == "close":
        await conn.close()
    else:
        stopped = conn.stop()
        assert stopped is not None
        await stopped
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("INSERT INTO t VALUES (1)")  # 'database is locked' before the fix
    assert other.execute("SELECT count(*) FROM t WHERE x = -1").fetchone() == (0,)
    other.close()
    setup.close()
    del live
