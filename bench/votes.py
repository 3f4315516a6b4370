"""Vote throughput under the issue's load: distinct users vote at once and every request
arrives three times (the platform's retries: same body, same MsgId).

The bot runs as its own process (``python -m bot serve``) on loopback, first on a SQLite file,
then on PostgreSQL. Prints counted votes/s, requests/s and checks the counts are exact.

    .venv/bin/python bench/votes.py
    .venv/bin/python bench/votes.py --users 1000 \
        --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/h_logo
    .venv/bin/python bench/votes.py --postgres ''        # SQLite only
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhook import TOKEN, free_port, start_bot, wait_ready  # noqa: E402

from bot.simulate import WeChatUser  # noqa: E402
from storage import logo as store  # noqa: E402
from storage.db import create_engine, create_sessions  # noqa: E402

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/h_logo"


async def seed(database: str, n: int) -> list[int]:
    """Approved entries to vote for; returns their numbers."""
    engine = create_engine(database)
    try:
        async with create_sessions(engine)() as session, session.begin():
            now = __import__("datetime").datetime.now(__import__("datetime").UTC)
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


async def counted(database: str, entries: list[int]) -> int:
    engine = create_engine(database)
    try:
        async with create_sessions(engine)() as session:
            q = select(func.count(store.LogoVote.id)).where(store.LogoVote.entry_id.in_(entries))
            return int(await session.scalar(q) or 0)
    finally:
        await engine.dispose()


async def vote_storm(url: str, entries: list[int], users: int, concurrency: int) -> float:
    """Every user votes once, each request sent three times; returns elapsed seconds."""
    requests = []
    for i in range(users):
        user = WeChatUser(token=TOKEN, openid=f"o_vbench_{time.time_ns()}_{i}")
        req = user.request(user.text(f"投票 {entries[i % len(entries)]}"))
        requests += [req, req, req]
    sem = asyncio.Semaphore(concurrency)

    async def post(http: aiohttp.ClientSession, req: object) -> None:
        async with sem, http.post(url, params=req.query, data=req.body) as resp:  # type: ignore[attr-defined]
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(post(http, r) for r in requests))
        return time.perf_counter() - started


async def run(database: str, label: str, users: int, concurrency: int, workdir: Path) -> None:
    port = free_port()
    proc = start_bot(port, workdir, database)
    try:
        url = f"http://127.0.0.1:{port}/wechat"
        await wait_ready(url)
        entries = await seed(database, 10)
        elapsed = await vote_storm(url, entries, users, concurrency)
        # Late replies may still be finishing their transactions: wait for the count to settle.
        total = 0
        for _ in range(50):
            total = await counted(database, entries)
            if total >= users:
                break
            await asyncio.sleep(0.2)
        status = "exact" if total == users else f"WRONG ({total} counted)"
        print(
            f"{label:>10}: {users} users x 3 requests in {elapsed:5.2f} s: "
            f"{users / elapsed:7.0f} votes/s, {3 * users / elapsed:7.0f} requests/s, "
            f"counts {status}",
            flush=True,
        )
    finally:
        proc.terminate()
        proc.wait(10)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64, help="connections at once")
    parser.add_argument("--postgres", default=DEFAULT_PG, help="PostgreSQL URL ('' to skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite+aiosqlite:///{Path(tmp) / 'votes.db'}"
        await run(sqlite, "sqlite", args.users, args.concurrency, Path(tmp))
        if args.postgres:
            pg_dir = Path(tmp) / "pg"
            pg_dir.mkdir()
            await run(args.postgres, "postgresql", args.users, args.concurrency, pg_dir)


if __name__ == "__main__":
    asyncio.run(main())
