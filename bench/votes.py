"""Transactional-path throughput under the issue's load: votes, or volunteer sign-up answers.

``--mode votes`` (default): distinct users vote at once and every request arrives three times
(the platform's retries: same body, same MsgId). ``--mode signup``: distinct users walk the
volunteer sign-up flow (ten answers each, every answer delivered three times), users at once.

The bot runs as its own process (``python -m bot serve``, or ``serve --workers N`` on
PostgreSQL) on loopback, against a fake WeChat API in a process of its own (``--api-latency``
delays its ``user/info`` answers, the follower check of a first vote). Prints votes (or flow
steps) per second, the server's CPU per vote (or step: all deliveries, every bot process,
read from /proc), and checks the counts are exact. ``--runs`` repeats each configuration and
prints the medians; ``--root`` runs another checkout's bot (the same-run baseline). The
PostgreSQL database named by ``--postgres`` is emptied before each run (DROP SCHEMA public
CASCADE): every run starts a bot with a new data key.

    .venv/bin/python bench/votes.py                              # SQLite, then PostgreSQL
    .venv/bin/python bench/votes.py --postgres '' --runs 3       # SQLite only
    .venv/bin/python bench/votes.py --workers 1 2 --api-latency 0 100 \
        --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/h_logo
    .venv/bin/python bench/votes.py --mode signup --root /work/main
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhook import (  # noqa: E402
    TOKEN,
    empty_postgres,
    free_port,
    own_cpu_seconds,
    wait_listening,
    wait_ready,
)

from bot.simulate import WeChatUser  # noqa: E402
from storage import logo as store  # noqa: E402
from storage.db import create_engine, create_sessions  # noqa: E402

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/h_logo"
APP_ID, APP_SECRET = "wx-bench", "bench-secret"

# The fake platform (bot.sandbox) as a process of its own, its user/info answers delayed.
FAKE_API = textwrap.dedent(
    """
    import sys
    from aiohttp import web
    from bot.sandbox import FakeWeChatAPI

    api = FakeWeChatAPI(%(app_id)r, %(secret)r)
    api.delay_seconds["/cgi-bin/user/info"] = float(sys.argv[2])
    api.calls = type("Forget", (list,), {"append": lambda self, item: None})()
    web.run_app(api.app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
    """
) % {"app_id": APP_ID, "secret": APP_SECRET}

# The sign-up answers (tests/handlers/test_volunteers.py), the phone made unique per user.
SIGNUP = ["志愿者报名", "1990", "张三", "{phone}", "1", "金水区", "1，3 3", "3、5", "同意", "确认"]


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and every process below it (``serve --workers`` children)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += own_cpu_seconds(current)  # each process once (cpu_seconds sums a subtree)
        todo += [child for child, parent in parents.items() if parent == current]
    return total


def start_api(port: int, latency_ms: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", FAKE_API, str(port), str(latency_ms / 1000)])


def start_bot(
    root: Path, port: int, workdir: Path, database: str, api_port: int, workers: int
) -> subprocess.Popen[bytes]:
    config = workdir / "bench.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\ndata_dir = "{workdir / "data"}"\n'
        f'[database]\nurl = "{database}"\n'
        f'[wechat]\ntoken = "{TOKEN}"\napp_id = "{APP_ID}"\napp_secret = "{APP_SECRET}"\n'
        f'api_base_url = "http://127.0.0.1:{api_port}"\n'
        "[limits]\nmessages_per_minute = 100000\n"
        '[log]\nlevel = "INFO"\n',
        encoding="utf-8",
    )
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if not database.startswith("sqlite"):
        subprocess.run(
            [sys.executable, "-m", "bot", "db", "upgrade", "--config", str(config)],
            cwd=root,
            check=True,
            **quiet,  # type: ignore[arg-type]
        )
    argv = [sys.executable, "-m", "bot", "serve", "--config", str(config)]
    if workers > 1:
        argv += ["--workers", str(workers), "--scheduler-port", str(free_port())]
    return subprocess.Popen(argv, cwd=root, **quiet)  # type: ignore[call-overload]


async def seed(database: str, n: int) -> list[int]:
    """Approved entries to vote for; returns their numbers."""
    engine = create_engine(database)
    try:
        async with create_sessions(engine)() as session, session.begin():
            now = dt.datetime.now(dt.UTC)
            return [
                (
                    await store.add_entry(
                        session,
                        channel="wechat",
                        user_id="bench",
                        title=f"作品{i}",
                        now=now,
                        status="approved",
                    )
                ).id
                for i in range(n)
            ]
    finally:
        await engine.dispose()


async def count(database: str, sql: str, **params: object) -> int:
    engine = create_engine(database)
    try:
        async with create_sessions(engine)() as session, session.begin():
            result = await session.execute(text(sql), params)
            return int(result.scalar() or 0) if result.returns_rows else 0
    finally:
        await engine.dispose()


async def counted_votes(database: str, entries: list[int]) -> int:
    engine = create_engine(database)
    try:
        async with create_sessions(engine)() as session:
            q = select(func.count(store.LogoVote.id)).where(store.LogoVote.entry_id.in_(entries))
            return int(await session.scalar(q) or 0)
    finally:
        await engine.dispose()


async def post(http: aiohttp.ClientSession, url: str, req: object) -> bytes:
    async with http.post(url, params=req.query, data=req.body) as resp:  # type: ignore[attr-defined]
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")
        return body


async def vote_storm(url: str, entries: list[int], users: int, concurrency: int, tag: str) -> float:
    """Every user votes once, each request sent three times; returns elapsed seconds."""
    requests = []
    for i in range(users):
        user = WeChatUser(token=TOKEN, openid=f"o_vbench_{tag}_{i}")
        req = user.request(user.text(f"投票 {entries[i % len(entries)]}"))
        requests += [req, req, req]
    sem = asyncio.Semaphore(concurrency)

    async def one(http: aiohttp.ClientSession, req: object) -> None:
        async with sem:
            await post(http, url, req)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(one(http, r) for r in requests))
        return time.perf_counter() - started


async def signup_storm(url: str, users: int, concurrency: int, tag: str) -> float:
    """Every user walks the sign-up flow, each answer sent three times at once (the platform's
    retries); returns elapsed seconds."""
    sem = asyncio.Semaphore(max(1, concurrency // 3))

    async def walk(http: aiohttp.ClientSession, i: int) -> None:
        user = WeChatUser(token=TOKEN, openid=f"o_sbench_{tag}_{i}")
        async with sem:
            for answer in SIGNUP:
                req = user.request(user.text(answer.format(phone=f"139{i:08d}")))
                await asyncio.gather(*(post(http, url, req) for _ in range(3)))

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(walk(http, i) for i in range(users)))
        return time.perf_counter() - started


@dataclass
class Figures:
    per_second: float  # votes or flow steps
    cpu_ms: float  # server CPU per vote or step, every delivery
    exact: bool
    counted: int  # what the database holds at the end (== the votes or steps sent when exact)
    client_busy: float = 0.0  # this client's CPU over the storm's wall time (1.0 = a core)
    server_busy: float = 0.0  # the bot's CPU over the storm's wall time (cores in use)
    database_busy: float = 0.0  # every PostgreSQL server process's, likewise
    machine_busy: float = 0.0  # the whole machine's (/proc/stat): the headroom left


class Usage:
    """CPU seconds of the bot's processes, this client, PostgreSQL's server processes and
    the whole machine: what a storm cost each, and how much of the machine was left (two
    web processes can only gain what the other CPU users leave them)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = self._read()

    def _read(self) -> tuple[float, float, dict[int, float], float]:
        postgres: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    comm = (entry / "comm").read_text().strip()
                except OSError:
                    continue
                if comm == "postgres":
                    postgres[int(entry.name)] = own_cpu_seconds(int(entry.name))
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
        return tree_cpu(self.pid), time.process_time(), postgres, busy

    def since(self) -> tuple[float, float, float, float]:
        """Seconds used by the bot, the client, PostgreSQL and the machine since creation
        (a server process that ended meanwhile is not counted)."""
        bot, client, postgres, machine = self._read()
        before = self.start[2]
        database = sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres.items())
        return bot - self.start[0], client - self.start[1], database, machine - self.start[3]


async def run(
    args: argparse.Namespace, database: str, workers: int, latency_ms: float, workdir: Path
) -> Figures:
    api_port, port = free_port(), free_port()
    if not database.startswith("sqlite"):
        await empty_postgres(database)
    api = start_api(api_port, latency_ms)
    proc = start_bot(args.root, port, workdir, database, api_port, workers)
    try:
        url = f"http://127.0.0.1:{port}/wechat"
        await wait_ready(url, within=120)  # several processes start slowly on a busy machine
        await wait_ready(f"http://127.0.0.1:{api_port}/cgi-bin/token")
        # Every web process listening before the first connection (else all go to the first).
        await wait_listening(port, workers)
        tag = str(time.time_ns())
        if args.mode == "votes":
            entries = await seed(database, 10)
            usage = Usage(proc.pid)
            elapsed = await vote_storm(url, entries, args.users, args.concurrency, tag)
            cpu, client, postgres, machine = usage.since()
            units = args.users
            total = 0
            for _ in range(50):  # late replies may still be committing: let the count settle
                total = await counted_votes(database, entries)
                if total >= units:
                    break
                await asyncio.sleep(0.2)
        else:
            usage = Usage(proc.pid)
            elapsed = await signup_storm(url, args.users, args.concurrency, tag)
            cpu, client, postgres, machine = usage.since()
            units = args.users * len(SIGNUP)
            total = 0
            for _ in range(50):
                total = await count(
                    database,
                    "SELECT count(*) FROM volunteers WHERE user_id LIKE :p",
                    p=f"o_sbench_{tag}_%",
                )
                if total >= args.users:
                    break
                await asyncio.sleep(0.2)
            total *= len(SIGNUP)
        return Figures(
            units / elapsed,
            cpu / units * 1000,
            total == units,
            total,
            client / elapsed,
            cpu / elapsed,
            postgres / elapsed,
            machine / elapsed,
        )
    finally:
        for p in (proc, api):
            p.terminate()
            p.wait(15)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("votes", "signup"), default="votes")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64, help="connections at once")
    parser.add_argument("--postgres", default=DEFAULT_PG, help="PostgreSQL URL ('' to skip)")
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1], help="web processes (PostgreSQL)"
    )
    parser.add_argument(
        "--api-latency", type=float, nargs="+", default=[0], help="ms added to user/info"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per configuration (medians)")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose bot to run")
    args = parser.parse_args()
    unit = "votes" if args.mode == "votes" else "steps"
    configs: list[tuple[str, int, float]] = []
    for latency in args.api_latency:
        if args.sqlite:
            configs.append(("sqlite", 1, latency))
        if args.postgres:
            configs += [("postgresql", w, latency) for w in args.workers]
    with tempfile.TemporaryDirectory() as tmp:
        for backend, workers, latency in configs:
            runs: list[Figures] = []
            for n in range(args.runs):
                workdir = Path(tmp) / f"{backend}-{workers}-{latency}-{n}"
                workdir.mkdir()
                database = (
                    f"sqlite+aiosqlite:///{workdir / 'votes.db'}"
                    if backend == "sqlite"
                    else args.postgres
                )
                runs.append(await run(args, database, workers, latency, workdir))
                f = runs[-1]
                print(
                    f"  {backend} x{workers} api +{latency:.0f} ms run {n + 1}: "
                    f"{f.per_second:6.0f} {unit}/s  {f.cpu_ms:6.2f} ms CPU/{unit[:-1]}  "
                    f"counts {'exact' if f.exact else f'WRONG ({f.counted})'}  "
                    f"busy: bot {f.server_busy:.2f} cores, client {f.client_busy:.2f}, "
                    f"postgres {f.database_busy:.2f}, machine {f.machine_busy:.2f} "
                    f"of {os.cpu_count()}, load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            print(
                f"{args.mode} {backend:>10} x{workers} api +{latency:3.0f} ms "
                f"(median of {len(runs)}, {args.users} users): "
                f"{statistics.median(r.per_second for r in runs):6.0f} {unit}/s  "
                f"{statistics.median(r.cpu_ms for r in runs):6.2f} ms CPU/{unit[:-1]}  "
                f"counts {'exact' if all(r.exact for r in runs) else 'WRONG'}",
                flush=True,
            )
    print(f"root {args.root}, cpus {os.cpu_count()}, concurrency {args.concurrency}")


if __name__ == "__main__":
    asyncio.run(main())
