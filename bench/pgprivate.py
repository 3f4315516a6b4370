"""A private PostgreSQL server for benchmarks and fault tests that restart the database.

Never restart the machine's own server (other people's suites run on it): this one is
initialised into a temporary folder with Debian's binaries (``/usr/lib/postgresql/*/bin``), on
a port of its own, owned by the ``postgres`` user when run as root, and removed at the end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"no {name} under /usr/lib/postgresql/*/bin")
    return found[-1]


class PrivatePostgres:
    """``start()``, ``restart()``, ``stop()``; ``url`` for SQLAlchemy (asyncpg)."""

    def __init__(self, port: int = 55432) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="bot-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *argv: str) -> None:
        cmd = list(argv)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def init(self) -> PrivatePostgres:
        """Create the cluster (trust authentication on loopback only)."""
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\nmax_connections = 200\n"
                "fsync = off\nsynchronous_commit = off\n"
            )
        return self

    def start(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, down_seconds: float = 2.0) -> None:
        """Stop (fast: connections are cut), stay down a while, start again."""
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def remove(self) -> None:
        """Stop if running and delete the folder."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
