"""``python -m bot operators ...``: accounts made on the command line log in to the console."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from storage.operators import get_operator
from tests.bot.test_cli import _cli, _write_config
from tests.conftest import BotHarness


@pytest.fixture
def config_file(tmp_path: Path, db_url: str) -> Path:
    return _write_config(tmp_path, db_url, "sandbox")


async def _cli_in(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: str,
    *argv: str,
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return await _cli(capsys, *argv)


async def test_operators_add_list_role_disable_enable_reset(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config_file: Path,
    harness: BotHarness,
) -> None:
    cfg = ("--config", str(config_file))
    code, out, _ = await _cli_in(
        capsys, monkeypatch, "first admin pw\n", "operators", "add", "boss", "--role", "admin",
        "--password-stdin", *cfg,
    )  # fmt: skip
    assert code == 0 and "boss added" in out
    code, _, err = await _cli_in(
        capsys, monkeypatch, "another pw 123\n", "operators", "add", "boss", "--role", "viewer",
        "--password-stdin", *cfg,
    )  # fmt: skip
    assert code == 1 and "exists" in err
    code, _, err = await _cli_in(
        capsys, monkeypatch, "short\n", "operators", "add", "amy", "--role", "viewer", *cfg
    )
    assert code == 1 and "password too short" in err
    code, _, err = await _cli_in(
        capsys, monkeypatch, "long enough 1\n", "operators", "add", "amy!", "--role", "viewer", *cfg
    )
    assert code == 1 and "name" in err
    await _cli_in(
        capsys, monkeypatch, "long enough 1\n", "operators", "add", "amy", "--role", "viewer", *cfg
    )
    code, out, _ = await _cli(capsys, "operators", "list", *cfg)
    assert code == 0 and "boss" in out and "amy" in out and "viewer" in out
    code, _, _ = await _cli(capsys, "operators", "role", "amy", "editor", *cfg)
    assert code == 0
    code, _, err = await _cli(capsys, "operators", "disable", "boss", *cfg)
    assert code == 1 and "last admin" in err
    code, _, _ = await _cli(capsys, "operators", "disable", "amy", *cfg)
    assert code == 0
    async with harness.bot.sessions() as session:
        amy = await get_operator(session, "amy")
    assert amy is not None and amy.role == "editor" and not amy.enabled
    await _cli(capsys, "operators", "enable", "amy", *cfg)
    code, _, _ = await _cli_in(
        capsys, monkeypatch, "brand new pw\n", "operators", "reset-password", "amy", *cfg
    )
    assert code == 0
    code, _, err = await _cli(capsys, "operators", "disable", "nobody", *cfg)
    assert code == 1 and "no operator" in err
    # The accounts log in to the console served from the same database.
    from tests.bot.console.conftest import Console

    console = Console(harness)
    try:
        client = await console.client()
        status, _b, _l = await client.login("amy", "brand new pw")
        assert status == 303
        status, _b, _l = await client.login("boss", "first admin pw")
        assert status == 303
    finally:
        await console.close()
