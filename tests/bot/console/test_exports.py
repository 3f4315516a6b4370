"""Export jobs survive the process that started them: the progress and the file come from the
database and the shared data folder, so another web process (``serve --workers N``) answers
the poll and serves the download; files are private (0600) and deleted after their time;
a job whose process died is reported failed."""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from bot.console.app import mount_console
from bot.console.exports import STALE_SECONDS, Exports
from bot.console.pages import Role
from handlers.registry import FEATURES
from storage.db import transaction
from storage.exports import ExportRow, add_export
from storage.operators import get_operator
from tests.bot.console.conftest import Console
from tests.bot.console.test_volunteers import _finished, _people
from tests.conftest import BotHarness


@pytest.fixture
async def second_worker(harness: BotHarness) -> AsyncIterator[TestServer]:
    """Another web process of the same bot: its own console app (and export jobs in memory),
    the same database and data folder."""
    app = web.Application()
    mount_console(app, harness.bot, FEATURES)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_another_worker_reports_progress_and_serves_the_file(
    console: Console, harness: BotHarness, second_worker: TestServer
) -> None:
    await _people(harness)
    editor = await console.as_role(Role.EDITOR)
    await editor.get("/console/volunteers")
    status, _b, location = await editor.post("/console/volunteers/export", {"format": "csv"})
    assert status == 303
    job = await _finished(editor, location)
    other = str(second_worker.make_url("")).rstrip("/")
    # The session is the database's too: the same cookie is good on the other process.
    cookies = {
        "console_session": editor.http.cookie_jar.filter_cookies(URL(editor.url("/console/")))[
            "console_session"
        ].value
    }
    async with editor.http.get(f"{other}/console/exports/{job}/status", cookies=cookies) as resp:
        state = await resp.json()
    assert resp.status == 200 and state["ready"] and state["done"] == state["total"] == 3
    async with editor.http.get(f"{other}/console/exports/{job}/file", cookies=cookies) as resp:
        assert resp.status == 200
        assert "张三" in (await resp.read()).decode("utf-8-sig")
    # The file and its folder are the bot's user's only.
    folder = harness.bot.config.data_path / "exports"
    files = list(folder.glob(f"{job}.*"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


async def test_personal_exports_are_deleted_after_their_time(
    console: Console, harness: BotHarness
) -> None:
    await _people(harness)
    editor = await console.as_role(Role.EDITOR)
    await editor.get("/console/volunteers")
    _s, _b, location = await editor.post("/console/volunteers/export", {"format": "xlsx"})
    job = await _finished(editor, location)
    path = next((harness.bot.config.data_path / "exports").glob(f"{job}.*"))
    exports = Exports(harness.bot, path.parent)  # any process sweeps
    harness.clock.advance(minutes=59)
    assert await exports.expire() == 0 and path.exists()
    harness.clock.advance(minutes=2)
    assert await exports.expire() == 1
    assert not path.exists()
    editor = await console.as_role(Role.EDITOR)  # the old session idled out meanwhile
    assert (await editor.get(f"/console/exports/{job}/status"))[0] == 404
    assert (await editor.get(f"/console/exports/{job}/file"))[0] == 404


async def test_a_job_whose_process_died_is_reported_failed(
    console: Console, harness: BotHarness
) -> None:
    editor = await console.as_role(Role.EDITOR)
    async with harness.bot.sessions() as session:
        op = await get_operator(session, "editor1")
    assert op is not None
    now = harness.clock.now()
    async with transaction(harness.bot.sessions) as session:
        await add_export(
            session,
            ExportRow(
                id="died-with-its-process",
                owner=op.id,
                file="died-with-its-process.csv",
                filename="volunteers.csv",
                personal=True,
                state="running",
                total=10,
                done=4,
                started_at=now,
                updated_at=now,
            ),
        )
    status, body = await editor.get("/console/exports/died-with-its-process/status")
    state = json.loads(body)
    assert status == 200 and not state["failed"] and "4/10" in state["label"]
    harness.clock.advance(seconds=STALE_SECONDS + 1)
    status, body = await editor.get("/console/exports/died-with-its-process/status")
    state = json.loads(body)
    assert status == 200 and state["failed"] and "导出失败" in state["label"]
    assert (await editor.get("/console/exports/died-with-its-process/file"))[0] == 404
