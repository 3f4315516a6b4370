"""Real bot processes for fault tests: ``python -m bot serve`` started as a subprocess with a
config on loopback, waited for, and the worker that holds a given database connection found."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterable
from pathlib import Path

from aiohttp import ClientError, ClientSession

from tests.conftest import ACCOUNT, AES_KEY, APP_ID, DATA_KEY, TOKEN

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback port nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(
    tmp_path: Path, db_url: str, port: int, *, api_base_url: str = "", extra: str = ""
) -> Path:
    """A bot.toml for ``serve`` on loopback (the WeChat API at ``api_base_url`` when given,
    e.g. the tests' fake); ``extra`` adds TOML sections."""
    api = f'api_base_url = "{api_base_url}"\napp_secret = "test-secret"\n' if api_base_url else ""
    path = tmp_path / "bot.toml"
    path.write_text(
        f'[server]\nport = {port}\ndata_dir = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "{db_url}"\n'
        f'[wechat]\ntoken = "{TOKEN}"\nencoding_aes_key = "{AES_KEY}"\napp_id = "{APP_ID}"\n'
        f'account_id = "{ACCOUNT}"\napi_backoff_seconds = 0.01\n{api}'
        f'[security]\ndata_key = "{DATA_KEY}"\n[log]\nformat = "json"\n{extra}'
    )
    return path


async def serve(config: Path, log: Path, *args: str) -> asyncio.subprocess.Process:
    """Start ``python -m bot serve --config config *args`` with its stderr in ``log``."""
    argv = [sys.executable, "-m", "bot", "serve", "--config", str(config), *args]
    with log.open("a") as err:
        return await asyncio.create_subprocess_exec(*argv, cwd=ROOT, stderr=err)


async def stop(process: asyncio.subprocess.Process, seconds: float = 30) -> int:
    """SIGTERM, wait, SIGKILL if it does not go; the exit code."""
    if process.returncode is None:
        process.terminate()
    try:
        return await asyncio.wait_for(process.wait(), seconds)
    except TimeoutError:
        process.kill()
        return await process.wait()


async def wait_up(http: ClientSession, url: str, seconds: float = 60) -> None:
    """Until ``url`` answers 200."""
    for _ in range(int(seconds * 4)):
        try:
            async with http.get(url) as resp:
                if resp.status == 200:
                    return
        except ClientError:
            pass
        await asyncio.sleep(0.25)
    raise AssertionError(f"{url} did not come up")


def _socket_inodes(local_port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                inodes.add(fields[9])
    return inodes


def owner_of_connection(local_port: int, pids: Iterable[int]) -> int | None:
    """Which of ``pids`` holds the TCP socket bound to loopback port ``local_port`` (the
    client end of a database connection, as pg_stat_activity.client_port names it)."""
    wanted = {f"socket:[{inode}]" for inode in _socket_inodes(local_port)}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    return pid
            except OSError:
                continue
    return None
