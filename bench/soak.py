"""Soak: mixed traffic on ``serve --workers 2`` (two web processes and a scheduler) on a private
PostgreSQL, restarted once in the middle. Prints requests, 5xx responses (must be 0), whether
the votes and registrations in the database are exactly those users were told succeeded, and
the RSS of each process at the start and the end.

    .venv/bin/python bench/soak.py                   # 10 minutes
    .venv/bin/python bench/soak.py --minutes 2 --users 24

Traffic: virtual users in parallel, each doing one of: a keyword question (60 %), a logo vote
(25 %, a new voter each time), a volunteer sign-up through all its steps (15 %). One request in
three is delivered twice at once with the same MsgId (the platform's retries). A user told
"系统开小差了" (the database was away) sends the same answer again as a new message, as a
person would. The database runs on its own port (bench/pgprivate.py), never the machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgprivate import PrivatePostgres  # noqa: E402
from votes import seed  # noqa: E402
from webhook import TOKEN, free_port, wait_ready  # noqa: E402

from bot.cli.workers import started_pids  # noqa: E402
from bot.simulate import WeChatUser, reply_text  # noqa: E402
from storage import logo as store  # noqa: E402
from storage.db import create_engine, create_sessions  # noqa: E402
from storage.volunteers import Volunteer  # noqa: E402

APOLOGY = "系统开小差了"
SIGNUP = ["志愿者报名", "1990", "{name}", "{phone}", "1", "金水区", "1，3", "3、5", "同意", "确认"]


class Stats:
    def __init__(self) -> None:
        self.status: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.apologies = 0
        self.voters_ok = 0
        self.registered_ok = 0

    @property
    def requests(self) -> int:
        return sum(self.status.values()) + sum(self.errors.values())


class Traffic:
    def __init__(self, url: str, http: aiohttp.ClientSession, entries: list[int]) -> None:
        self.url, self.http, self.entries = url, http, entries
        self.stats = Stats()
        self.serial = 0

    def user(self) -> WeChatUser:
        self.serial += 1
        return WeChatUser(token=TOKEN, openid=f"o_soak_{os.getpid()}_{self.serial}")

    async def _post(self, user: WeChatUser, xml: str) -> str:
        req = user.request(xml)
        copies = 2 if random.random() < 1 / 3 else 1

        async def once() -> tuple[int, str]:
            try:
                async with self.http.post(self.url, params=req.query, data=req.body) as resp:
                    body = await resp.text()
                    self.stats.status[resp.status] += 1
                    return resp.status, body
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.stats.errors[type(exc).__name__] += 1
                return 0, ""

        results = await asyncio.gather(*(once() for _ in range(copies)))
        answered = [body for status, body in results if status == 200]
        if not answered:
            return ""
        return reply_text(user.read_reply(answered[0])) if answered[0] != "success" else ""

    async def say(self, user: WeChatUser, text: str, *, until: float) -> str:
        """Send ``text``; again (a new message) while the bot apologises, until ``until``."""
        while True:
            reply = await self._post(user, user.text(text))
            if APOLOGY not in reply and reply:
                return reply
            self.stats.apologies += APOLOGY in reply
            if time.monotonic() > until:
                return reply
            await asyncio.sleep(0.5)

    async def keyword(self, until: float) -> None:
        await self.say(self.user(), "活动介绍", until=until)

    async def vote(self, until: float) -> None:
        number = random.choice(self.entries)
        reply = await self.say(self.user(), f"投票 {number}", until=until + 30)
        # "投过" too: the first try committed, but its answer was lost with the connection.
        if "投票成功" in reply or "投过" in reply:
            self.stats.voters_ok += 1

    async def register(self, until: float) -> None:
        user = self.user()
        phone = f"139{self.serial:08d}"[-11:]
        reply = ""
        for step in SIGNUP:
            text = step.format(name="张三", phone=phone)
            reply = await self.say(user, text, until=until + 30)
        if "报名成功" in reply or "无需重复报名" in reply:
            self.stats.registered_ok += 1

    async def virtual_user(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            roll = random.random()
            if roll < 0.6:
                await self.keyword(deadline)
            elif roll < 0.85:
                await self.vote(deadline)
            else:
                await self.register(deadline)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def workers(log: Path) -> dict[str, int]:
    return started_pids(log.read_text().splitlines())


async def counts(database: str) -> tuple[int, int]:
    engine = create_engine(database)
    try:
        async with create_sessions(engine)() as session:
            votes = await session.scalar(select(func.count(store.LogoVote.id)))
            volunteers = await session.scalar(select(func.count(Volunteer.id)))
            return int(votes or 0), int(volunteers or 0)
    finally:
        await engine.dispose()


async def soak(minutes: float, users: int, pg_port: int) -> int:
    pg = PrivatePostgres(pg_port).init()
    pg.start()
    workdir = Path(tempfile.mkdtemp(prefix="bot-soak-"))
    port = free_port()
    config = workdir / "soak.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\ndata_dir = "{workdir / "data"}"\n'
        f'[database]\nurl = "{pg.url}"\n[wechat]\ntoken = "{TOKEN}"\n'
        "[limits]\nmessages_per_minute = 100000\n"
        '[log]\nlevel = "WARNING"\n',
        encoding="utf-8",
    )
    py = sys.executable
    await (
        await asyncio.create_subprocess_exec(
            py, "-m", "bot", "db", "upgrade", "--config", str(config), cwd=ROOT
        )
    ).wait()
    log = workdir / "serve.log"
    with log.open("w") as err:
        argv = [py, "-m", "bot", "serve", "--workers", "2", "--config", str(config)]
        serve = await asyncio.create_subprocess_exec(
            *argv, cwd=ROOT, stderr=err, env={**os.environ, "BOT_LOG_LEVEL": "INFO"}
        )
    try:
        url = f"http://127.0.0.1:{port}/wechat"
        await wait_ready(url, within=120)
        entries = await seed(pg.url, 10)
        await asyncio.sleep(2)
        pids = workers(log)
        rss_start = {name: rss_mb(pid) for name, pid in pids.items()}
        deadline = time.monotonic() + minutes * 60
        connector = aiohttp.TCPConnector(limit=users * 2)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            traffic = Traffic(url, http, entries)

            async def restart_midway() -> None:
                await asyncio.sleep(minutes * 30)
                print(f"restarting PostgreSQL at {minutes * 30:.0f} s", flush=True)
                await asyncio.to_thread(pg.restart, 3.0)
                print("PostgreSQL is back", flush=True)

            started = time.monotonic()
            await asyncio.gather(
                restart_midway(), *(traffic.virtual_user(deadline) for _ in range(users))
            )
            elapsed = time.monotonic() - started
        rss_end = {name: rss_mb(pid) for name, pid in workers(log).items()}
        await asyncio.sleep(3)  # late replies finishing
        votes, volunteers = await counts(pg.url)
        s = traffic.stats
        fivexx = sum(n for code, n in s.status.items() if code >= 500)
        print(f"duration            {elapsed:.0f} s, {users} virtual users")
        print(f"requests            {s.requests} ({s.requests / elapsed:.0f}/s)")
        print(f"HTTP statuses       {dict(sorted(s.status.items()))}")
        print(f"connection errors   {dict(s.errors) or 0}")
        print(f"5xx responses       {fivexx}")
        print(f"apologies           {s.apologies} (database away; answered, not 5xx)")
        print(
            f"votes               {votes} in the database, {s.voters_ok} voters told so: "
            f"{'exact' if votes == s.voters_ok else 'MISMATCH'}"
        )
        print(
            f"registrations       {volunteers} in the database, {s.registered_ok} told so: "
            f"{'exact' if volunteers == s.registered_ok else 'MISMATCH'}"
        )
        for name in sorted(rss_start):
            restarted = "" if workers(log).get(name) == pids.get(name) else " (restarted)"
            print(
                f"RSS {name:<10}      {rss_start[name]:6.1f} MB at start, "
                f"{rss_end.get(name, 0):6.1f} MB at the end{restarted}"
            )
        ok = fivexx == 0 and votes == s.voters_ok and volunteers == s.registered_ok
        return 0 if ok else 1
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(serve.wait(), 30)
        except TimeoutError:
            serve.kill()
        pg.remove()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="duration (default 10)")
    parser.add_argument("--users", type=int, default=32, help="virtual users at once")
    parser.add_argument("--pg-port", type=int, default=55440, help="the private PostgreSQL")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(soak(args.minutes, args.users, args.pg_port)))


if __name__ == "__main__":
    main()
