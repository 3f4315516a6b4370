"""Webhook throughput and latency: the bot's /wechat against a bare aiohttp handler.

Both servers run as separate processes on loopback, one process each; this script drives them
with signed text messages (a unique MsgId and user each) over 32 concurrent connections,
alternating bare and bot rounds so machine noise hits both alike. It prints requests/s, p50 and
p99 per round, the medians, and the ratio bot/bare.

The bare handler's fixed reply is the bot's own answer to the benchmark keyword, fetched from
the bot before the run: both servers then put the same bytes on the wire, and the ratio
measures the work per message rather than the length of the campaign text.

    .venv/bin/python bench/webhook.py                      # SQLite (the default deployment)
    .venv/bin/python bench/webhook.py --database postgresql+asyncpg://postgres@127.0.0.1:5432/test

Target (issue 2): ratio >= 0.5 on SQLite with the bot's p99 under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.simulate import WeChatUser  # noqa: E402
from bot.xmlguard import check_xml  # noqa: E402

TOKEN = "bench-token"
KEYWORD = "活动介绍"  # a real keyword answer (about 0.9 KB of campaign text)

BARE_SERVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from aiohttp import web
    from wechatpy import parse_message
    from wechatpy.replies import TextReply
    from wechatpy.utils import check_signature
    from wechatpy.exceptions import InvalidSignatureException

    FIXED = Path(sys.argv[2]).read_text(encoding="utf-8")

    async def handle(request):
        q = request.query
        try:
            check_signature(%(token)r, q.get("signature", ""), q.get("timestamp", ""),
                            q.get("nonce", ""))
        except InvalidSignatureException:
            return web.Response(status=403)
        msg = parse_message(await request.read())
        reply = TextReply(source=msg.target, target=msg.source, content=FIXED)
        return web.Response(text=reply.render(), content_type="application/xml")

    app = web.Application()
    app.router.add_post("/wechat", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
    """
) % {"token": TOKEN}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.post(url, data=b"") as resp:
                    await resp.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
    raise RuntimeError(f"server at {url} did not start")


def start_bare(port: int, reply_file: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", BARE_SERVER, str(port), str(reply_file)], cwd=ROOT
    )


async def bot_answer(url: str, keyword: str) -> str:
    """The text the bot replies to ``keyword`` (what the bare handler will send back)."""
    user = WeChatUser(token=TOKEN, openid=f"o_bench_probe_{time.time_ns()}")
    req = user.request(user.text(keyword))
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, params=req.query, data=req.body) as resp,
    ):
        return check_xml(await resp.read())["Content"]


def start_bot(port: int, workdir: Path, database: str) -> subprocess.Popen[bytes]:
    config = workdir / "bench.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\ndata_dir = "{workdir / "data"}"\n'
        f'[database]\nurl = "{database}"\n'
        f'[wechat]\ntoken = "{TOKEN}"\n'
        # Every simulated user sends several messages a round: keep the politeness limit out.
        "[limits]\nmessages_per_minute = 100000\n"
        # INFO: the one structured line per request is part of what is measured.
        '[log]\nlevel = "INFO"\n',
        encoding="utf-8",
    )
    if not database.startswith("sqlite"):
        subprocess.run(
            [sys.executable, "-m", "bot", "db", "upgrade", "--config", str(config)],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to compare work per request."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(url: str, requests: int, concurrency: int) -> tuple[float, list[float]]:
    """Send ``requests`` distinct signed messages; returns (requests/s, latencies in ms)."""
    bodies = []
    for i in range(requests):
        user = WeChatUser(token=TOKEN, openid=f"o_bench_{time.time_ns()}_{i}")
        bodies.append(user.request(user.text(KEYWORD)))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    latencies: list[float] = []
    errors = 0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            req = bodies[i]
            started = time.perf_counter()
            async with http.post(url, params=req.query, data=req.body) as resp:
                body = await resp.read()
                if resp.status != 200 or b"<xml>" not in body:
                    errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{errors} requests failed against {url}")
    return requests / elapsed, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default="", help="bot database URL (default: SQLite file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        database = args.database or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        bare_port, bot_port = free_port(), free_port()
        procs = [start_bot(bot_port, workdir, database)]
        try:
            bare_url = f"http://127.0.0.1:{bare_port}/wechat"
            bot_url = f"http://127.0.0.1:{bot_port}/wechat"
            await wait_ready(bot_url)
            reply_file = workdir / "reply.txt"
            reply_file.write_text(await bot_answer(bot_url, KEYWORD), encoding="utf-8")
            procs.insert(0, start_bare(bare_port, reply_file))
            await wait_ready(bare_url)
            for url in (bare_url, bot_url):  # warm-up: connections, caches, SQLite pages
                await drive(url, min(300, args.requests), args.concurrency)
            results: dict[str, list[tuple[float, float, float, float]]] = {"bare": [], "bot": []}
            pids = {"bare": procs[0].pid, "bot": procs[1].pid}
            for round_no in range(1, args.rounds + 1):
                for name, url in (("bare", bare_url), ("bot", bot_url)):
                    cpu_before = cpu_seconds(pids[name])
                    rps, lat = await drive(url, args.requests, args.concurrency)
                    cpu_us = (cpu_seconds(pids[name]) - cpu_before) / args.requests * 1e6
                    results[name].append((rps, pct(lat, 0.5), pct(lat, 0.99), cpu_us))
                    print(
                        f"round {round_no} {name:>4}: {rps:8.0f} req/s  "
                        f"p50 {pct(lat, 0.5):6.1f} ms  p99 {pct(lat, 0.99):6.1f} ms  "
                        f"server CPU {cpu_us:5.0f} us/req",
                        flush=True,
                    )
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)

    backend = "postgresql" if args.database.startswith("postgresql") else "sqlite"
    print(
        f"\nbackend {backend}, {args.requests} requests x {args.rounds} rounds, "
        f"concurrency {args.concurrency}, cpus {os.cpu_count()}"
    )
    med = {
        name: tuple(statistics.median(r[i] for r in rows) for i in range(4))
        for name, rows in results.items()
    }
    for name in ("bare", "bot"):
        rps, p50, p99, cpu_us = med[name]
        print(
            f"median {name:>4}: {rps:8.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
            f"server CPU {cpu_us:5.0f} us/req"
        )
    ratio = med["bot"][0] / med["bare"][0]
    print(f"ratio bot/bare (requests/s): {ratio:.2f}  (target >= 0.5; bot p99 target < 100 ms)")


if __name__ == "__main__":
    asyncio.run(main())
