"""Webhook throughput and latency: the bot's /wechat against a bare aiohttp handler.

Both servers run as separate processes on loopback, one process each (or the bot as
``serve --workers N`` on PostgreSQL); this script drives them with signed text messages (a
unique MsgId and user each) over 32 concurrent connections, alternating bare and bot rounds so
machine noise hits both alike. It prints requests/s, p50, p99 and the server's CPU time per
request (user + system, read from /proc, the process tree with ``--workers``) per round, the
medians, and the ratio bot/bare. The bare handler runs twice: on asyncio's loop ("bare", as a
hand-rolled wechatpy script runs; the target's baseline) and on uvloop ("bare-uv", the loop
the bot serves on by default), so the ratio to bare-uv is the bot's own work apart from what
the loop saves; ``--event-loop asyncio`` serves the bot on asyncio's loop instead.

``--compare NAME=DIR`` adds the bot of another checkout (e.g. ``git worktree add /tmp/base
main``), served from DIR by this interpreter and driven in the same rounds: a same-run
comparison of two versions of the code on a machine whose speed moves by 10 % from minute to
minute. Compared bots use SQLite files of their own.

The bare handler's fixed reply is the bot's own answer to the benchmark keyword, fetched from
the bot before the run: both servers then put the same bytes on the wire, and the ratio
measures the work per message rather than the length of the campaign text.

    .venv/bin/python bench/webhook.py                      # SQLite (the default deployment)
    .venv/bin/python bench/webhook.py --database postgresql+asyncpg://postgres@127.0.0.1:5432/test

``--latency RATE`` measures latency the way the target means it, instead of the closed loop
above (where 32 connections always wait on a saturated server, so p99 is mostly queueing
behind the other 31): the servers are pinned to CPU 0 (``taskset``), and ``wrk`` (Debian's
package), pinned to CPU 1, sends RATE requests/s in all over 32 connections, each connection
waiting a random (exponential) time before each request, so arrivals are Poisson rather than
lock-step. Every request is a distinct message (its own user and MsgId, written by the Lua
script). The bare handler is driven the same way in the same rounds, as the baseline; p50/p99
come from wrk's latency histogram. The latency rounds follow the throughput rounds.

``--log-rows N`` first gives each bot a message log of N rows from random senders and then
sends from random openids, as a large campaign's month looks (the default run's log is empty
and its senders sort in arrival order, which makes the log's inserts cheaper).

Target (issue 16): ratio >= 0.6 on SQLite with the bot's p99 under 10 ms at 32 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
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

from sqlalchemy import text  # noqa: E402

from bot.simulate import WeChatUser  # noqa: E402
from bot.xmlguard import check_xml  # noqa: E402
from storage.db import create_engine, is_sqlite  # noqa: E402

TOKEN = "bench-token"
KEYWORD = "活动介绍"  # a real keyword answer (about 0.9 KB of campaign text)
# The baselines: the bare handler as a hand-rolled wechatpy script runs it (asyncio's loop;
# the target's ratio is to this one), and the same handler on uvloop, the bot's default loop,
# so the ratio to it shows the bot's own work apart from what the loop saves.
BARES = {"bare": "asyncio", "bare-uv": "uvloop"}

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
    loop = None
    if sys.argv[3] == "uvloop":
        import uvloop
        loop = uvloop.new_event_loop()
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
                loop=loop)
    """
) % {"token": TOKEN}


async def empty_postgres(url: str) -> None:
    """Drop everything in a PostgreSQL bench database (the next ``db upgrade`` rebuilds it)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str, within: float = 30, log: Path | None = None) -> None:
    """Until ``url`` answers; else fail with the end of the server's ``log``."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.post(url, data=b"") as resp:
                    await resp.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
    raise RuntimeError(f"server at {url} did not start\n{_tail(log)}")


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""


# A month of message log (``--log-rows``), written by the database itself: random senders (so
# the per-user index is as scattered as a real one), received over the last 30 days.
_FILL_SQLITE = """
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < :rows)
INSERT INTO inbound_messages
    (channel, account, msg_key, user_id, kind, text, status, handler, received_at, finished_at)
SELECT 'wechat', :account, 'bench-log-' || x, 'o' || substr(lower(hex(randomblob(14))), 1, 27),
    'text', '活动介绍', 'done', 'keywords.reply', t, t
FROM (SELECT x, strftime('%Y-%m-%d %H:%M:%f000', 'now', '-' || (abs(random()) % 2592000)
    || ' seconds') AS t FROM n)
"""
_FILL_POSTGRES = """
INSERT INTO inbound_messages
    (channel, account, msg_key, user_id, kind, text, status, handler, received_at, finished_at)
SELECT 'wechat', :account, 'bench-log-' || x, 'o' || left(md5(random()::text), 27),
    'text', '活动介绍', 'done', 'keywords.reply', t, t
FROM (SELECT x, now() - random() * interval '30 days' AS t
      FROM generate_series(1, :rows) AS x) AS g
"""


async def fill_message_log(database: str, rows: int) -> None:
    """Add ``rows`` rows to the message log of the (running) bot's database."""
    engine = create_engine(database)
    try:
        async with engine.begin() as conn:
            sql = _FILL_SQLITE if is_sqlite(database) else _FILL_POSTGRES
            # The account the bench's senders write to, so the rows share its index range.
            await conn.execute(text(sql), {"rows": rows, "account": WeChatUser.account})
            await conn.execute(text("ANALYZE inbound_messages"))
    finally:
        await engine.dispose()


def start_bare(
    port: int, reply_file: Path, pin: list[str], loop: str = "asyncio"
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*pin, sys.executable, "-c", BARE_SERVER, str(port), str(reply_file), loop], cwd=ROOT
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


def start_bot(
    port: int,
    workdir: Path,
    database: str,
    *,
    root: Path = ROOT,
    workers: int = 0,
    pin: list[str] | None = None,
    event_loop: str = "",
) -> subprocess.Popen[bytes]:
    """``python -m bot serve`` of the checkout at ``root`` on ``port`` (on ``event_loop``
    when given, else on that checkout's default loop)."""
    workdir.mkdir(exist_ok=True)
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
    env = {**os.environ, "PYTHONPATH": str(root)}  # that checkout's code, not this one's
    if event_loop:
        env["BOT_SERVER_EVENT_LOOP"] = event_loop
    if not database.startswith("sqlite"):
        subprocess.run(
            [sys.executable, "-m", "bot", "db", "upgrade", "--config", str(config)],
            cwd=root,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    serve = ["--workers", str(workers)] if workers else []
    # Its log, kept for a bot that does not start (``wait_ready`` prints the end of it).
    with (workdir / "serve.log").open("wb") as log:
        return subprocess.Popen(
            [*(pin or []), sys.executable, "-m", "bot", "serve", "--config", str(config), *serve],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (``serve --workers`` runs its web processes as children)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(_tree(int(child)))
    return found


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, its children not included (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (Linux /proc), to compare work
    per request."""
    return sum(own_cpu_seconds(one) for one in _tree(pid))


def listeners(port: int) -> int:
    """How many sockets listen on 127.0.0.1:``port`` (``serve --workers N``: one a process)."""
    wanted = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == wanted and line.split()[3] == "0A")


async def wait_listening(port: int, count: int, within: float = 120) -> None:
    """Wait until ``count`` processes listen on ``port``. The web processes of ``serve
    --workers`` start one after another; a client that connects as soon as the first answers
    keeps all its (keep-alive) connections on that one for the whole run."""
    deadline = time.monotonic() + within
    while listeners(port) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} processes did not all listen on port {port}")
        await asyncio.sleep(0.2)


def bench_openid(i: int, random_users: bool) -> str:
    """The sender of request ``i``. Real openids are random strings, so each message's row lands
    at a random place in the message log's per-user index; ``o_bench_<time>_<i>`` ones all
    append at its end, which is cheaper (see ``--log-rows``)."""
    return "o" + os.urandom(14).hex()[:27] if random_users else f"o_bench_{time.time_ns()}_{i}"


async def drive(
    url: str, requests: int, concurrency: int, random_users: bool = False
) -> tuple[float, list[float]]:
    """Send ``requests`` distinct signed messages; returns (requests/s, latencies in ms)."""
    bodies = []
    for i in range(requests):
        user = WeChatUser(token=TOKEN, openid=bench_openid(i, random_users))
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


# wrk's script: a distinct text message per request (own user and MsgId), exponential waits
# before each request (Poisson arrivals at the requested rate), bodies checked for a reply.
WRK_SCRIPT = """
local mean_ms = %(mean_ms)r
local head, middle, tail = %(head)r, %(middle)r, %(tail)r
-- tag (set by setup) and bad are globals: wrk's thread:set/get see only globals
local counter, threads = 0, {}
bad = 0
math.randomseed(os.time())
function setup(thread)
  thread:set("tag", #threads)
  table.insert(threads, thread)
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/xml"
end
function delay()
  return -math.log(1 - math.random()) * mean_ms
end
function request()
  counter = counter + 1
  local msg_id = %(msg_base)d + tag * 100000000 + counter
  local body = head .. tag .. "_" .. counter .. middle .. msg_id .. tail
  return wrk.format(nil, nil, nil, body)
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, "<xml>", 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("bad") end
  io.write(string.format("RESULT %%d %%f %%f %%f %%d %%d\\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    failed, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout + summary.errors.status))
end
"""


def wrk_paced(
    url: str, rate: float, seconds: int, connections: int, workdir: Path, nice: int = 0
) -> tuple[float, float, float]:
    """Drive ``url`` with wrk (pinned to CPU 1) at about ``rate`` requests/s over
    ``connections`` connections; returns (requests/s achieved, p50 ms, p99 ms)."""
    user = WeChatUser(token=TOKEN, openid="o_wrk_SPLIT")
    req = user.request(user.text(KEYWORD, msg_id=1234567))
    body = req.body.decode()
    head, rest = body.split("SPLIT", 1)
    middle, tail = rest.split("1234567", 1)
    script = workdir / "paced.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "mean_ms": connections * 1000 / rate,
            "head": head.replace("o_wrk_", f"o_wrk_{time.time_ns()}_"),
            "middle": middle,
            "tail": tail,
            "msg_base": time.time_ns() // 10**6 % 10**7 * 10**6,  # printed exactly by Lua
        },
        encoding="utf-8",
    )
    query = "&".join(f"{k}={v}" for k, v in req.query.items() if k != "openid")
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "nice",
            "-n",
            str(nice),
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"{url}?{query}",
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise RuntimeError(f"wrk failed: {out.stderr}{out.stdout}")
    found = re.search(r"^RESULT (\d+) (\S+) (\S+) (\S+) (\d+) (\d+)$", out.stdout, re.M)
    if not found:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}")
    done, duration, p50, p99, bad, errors = found.groups()
    if int(bad) or int(errors):
        raise RuntimeError(f"{bad} bad replies, {errors} errors from wrk against {url}")
    return int(done) / float(duration), float(p50), float(p99)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _named_dir(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path, "bot").is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=DIR of a checkout")
    return name, Path(path).resolve()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--latency",
        type=float,
        default=0,
        metavar="RATE",
        help="also measure p50/p99 at RATE requests/s with wrk, servers pinned to CPU 0",
    )
    parser.add_argument("--latency-seconds", type=int, default=10, help="per latency round")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="with --latency: run the servers and wrk at this niceness (negative needs root): "
        "on a shared machine, other tenants' processes then do not delay their wake-ups",
    )
    parser.add_argument(
        "--database",
        default="",
        help="bot database URL (default: a SQLite file); a PostgreSQL database is emptied first",
    )
    parser.add_argument(
        "--log-rows",
        type=int,
        default=0,
        metavar="N",
        help="before the rounds, give each bot a message log of N rows from random senders "
        "(a month of a large campaign: 1000000) and send from random openids, as real ones are",
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="serve the bot with --workers N (PostgreSQL)"
    )
    parser.add_argument(
        "--compare",
        type=_named_dir,
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also drive the bot of the checkout at DIR (SQLite), in the same rounds",
    )
    parser.add_argument(
        "--event-loop",
        choices=["uvloop", "asyncio"],
        default="",
        help="serve this checkout's bot on this loop (default: its server.event_loop default)",
    )
    args = parser.parse_args()
    # Latency at a fixed rate: the servers on CPU 0, wrk on CPU 1 (a 2-core machine).
    pin = ["taskset", "-c", "0"] if args.latency else []
    if args.latency and args.nice:
        pin += ["nice", "-n", str(args.nice)]
    if args.latency and not shutil.which("wrk"):
        parser.error("--latency needs wrk (apt-get install wrk)")
    paced: dict[str, list[tuple[float, float, float]]] = {}

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        database = args.database or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        if not is_sqlite(database):
            # A new bot's data key: data an earlier run (or another bench) left under another
            # key would stop it at start.
            await empty_postgres(database)
        bots = {"bot": (ROOT, database, args.workers)}
        for name, root in args.compare:
            bots[name] = (root, f"sqlite+aiosqlite:///{workdir / name / 'bench.db'}", 0)
        ports = {name: free_port() for name in [*BARES, *bots]}
        urls = {name: f"http://127.0.0.1:{port}/wechat" for name, port in ports.items()}
        procs: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name, (root, db, workers) in bots.items():
                here = workdir if name == "bot" else workdir / name
                loop = args.event_loop if name == "bot" else ""
                procs[name] = start_bot(
                    ports[name], here, db, root=root, workers=workers, pin=pin, event_loop=loop
                )
            for name in bots:  # several bots starting on one busy core take a while
                here = workdir if name == "bot" else workdir / name
                await wait_ready(urls[name], within=180, log=here / "serve.log")
            if args.workers:
                await wait_listening(ports["bot"], args.workers)
            if args.log_rows:
                for name, (_, db, _) in bots.items():
                    started = time.monotonic()
                    await fill_message_log(db, args.log_rows)
                    took = time.monotonic() - started
                    print(f"{name}: {args.log_rows} message-log rows added in {took:.0f} s")
            random_users = args.log_rows > 0
            reply_file = workdir / "reply.txt"
            reply_file.write_text(await bot_answer(urls["bot"], KEYWORD), encoding="utf-8")
            for name, loop in BARES.items():
                procs[name] = start_bare(ports[name], reply_file, pin, loop)
                await wait_ready(urls[name])
            order = [*BARES, *bots]
            for name in order:  # warm-up: connections, caches, SQLite pages
                await drive(urls[name], min(300, args.requests), args.concurrency, random_users)
            results: dict[str, list[tuple[float, float, float, float]]] = {n: [] for n in order}
            for round_no in range(1, args.rounds + 1):
                for name in order:
                    pid = procs[name].pid
                    cpu_before = cpu_seconds(pid)
                    rps, lat = await drive(
                        urls[name], args.requests, args.concurrency, random_users
                    )
                    cpu_us = (cpu_seconds(pid) - cpu_before) / args.requests * 1e6
                    results[name].append((rps, pct(lat, 0.5), pct(lat, 0.99), cpu_us))
                    print(
                        f"round {round_no} {name:>7}: {rps:8.0f} req/s  "
                        f"p50 {pct(lat, 0.5):6.1f} ms  p99 {pct(lat, 0.99):6.1f} ms  "
                        f"server CPU {cpu_us:5.0f} us/req",
                        flush=True,
                    )
            paced = {name: [] for name in order} if args.latency else {}
            for round_no in range(1, (args.rounds + 1) if args.latency else 1):
                for name in order:
                    got = wrk_paced(
                        urls[name],
                        args.latency,
                        args.latency_seconds,
                        args.concurrency,
                        workdir,
                        args.nice,
                    )
                    paced[name].append(got)
                    print(
                        f"paced {round_no} {name:>7}: {got[0]:8.0f} req/s  "
                        f"p50 {got[1]:6.1f} ms  p99 {got[2]:6.1f} ms  "
                        f"(wrk, {args.concurrency} connections, servers on CPU 0)",
                        flush=True,
                    )
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait(10)

    backend = "postgresql" if args.database.startswith("postgresql") else "sqlite"
    workers = f", bot --workers {args.workers}" if args.workers else ""
    print(
        f"\nbackend {backend}{workers}, {args.requests} requests x {args.rounds} rounds, "
        f"concurrency {args.concurrency}, cpus {os.cpu_count()}"
    )
    med = {
        name: tuple(statistics.median(r[i] for r in rows) for i in range(4))
        for name, rows in results.items()
    }
    for name in order:
        rps, p50, p99, cpu_us = med[name]
        vs_bare = "" if name in BARES else f"  ratio {rps / med['bare'][0]:.2f}"
        if name not in BARES:
            vs_bare += f" ({rps / med['bare-uv'][0]:.2f} to bare-uv)"
        print(
            f"median {name:>7}: {rps:8.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
            f"server CPU {cpu_us:5.0f} us/req{vs_bare}"
        )
    ratio = med["bot"][0] / med["bare"][0]
    if not paced:
        met = ratio >= 0.6 and med["bot"][2] < 10
        print(
            f"ratio bot/bare (requests/s): {ratio:.2f}, bot p99 {med['bot'][2]:.1f} ms "
            f"(targets: ratio >= 0.6, p99 < 10 ms: {'met' if met else 'not met'})"
        )
        return
    print(
        f"\nat {args.latency:.0f} requests/s (wrk, {args.concurrency} connections, "
        f"nice {args.nice}, {args.latency_seconds} s x {args.rounds} rounds; medians; "
        f"load {os.getloadavg()[0]:.1f}):"
    )
    paced_p99: dict[str, float] = {}
    for name in order:
        rps, p50, paced_p99[name] = (statistics.median(r[i] for r in paced[name]) for i in range(3))
        print(
            f"paced {name:>7}: {rps:8.0f} req/s  p50 {p50:6.1f} ms  p99 {paced_p99[name]:6.1f} ms  "
            f"(rounds' p99: {', '.join(f'{r[2]:.1f}' for r in paced[name])})"
        )
    met = ratio >= 0.6 and paced_p99["bot"] < 10
    print(
        f"ratio bot/bare (requests/s): {ratio:.2f}, bot p99 {paced_p99['bot']:.1f} ms at "
        f"{args.latency:.0f} req/s (targets: ratio >= 0.6, p99 < 10 ms: "
        f"{'met' if met else 'not met'})"
    )


if __name__ == "__main__":
    asyncio.run(main())
