"""``serve``: run the webhooks (and, with role all|scheduler, the campaign scheduler)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging

from aiohttp import web

from bot.cli.common import add_config_arg, load
from bot.config import Config, with_overrides
from bot.kernel.logs import configure, log_event


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the serve command."""
    p = sub.add_parser("serve", help="start the bot (webhooks on /wechat, health on /healthz)")
    add_config_arg(p)
    p.add_argument("--host", help="override server.host")
    p.add_argument("--port", type=int, help="override server.port")
    p.add_argument("--role", choices=["web", "scheduler", "all"], help="override server.role")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run N web processes on the port and one scheduler process (PostgreSQL only)",
    )
    p.add_argument(
        "--scheduler-port",
        type=int,
        help="with --workers: the scheduler's /healthz port (default: server.port + 1)",
    )
    p.add_argument("--reuse-port", action="store_true", help="listen with SO_REUSEPORT")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the server and block until interrupted."""
    from bot.app import create_app

    config = load(args)
    server = {k: v for k, v in (("host", args.host), ("port", args.port), ("role", args.role)) if v}
    if server:
        config = with_overrides(config, server=server)
    configure(config.log.level, config.log.format)
    if args.workers:
        return _run_workers(args, config)
    app = create_app(config)
    app.on_startup.append(settle_heap)  # after create_app's start-up (cleanup_ctx runs first)
    loop, loop_name = new_loop(config.server.event_loop)
    log_event(
        logging.getLogger("bot"),
        "starting",
        url=f"http://{config.server.host}:{config.server.port}/wechat",
        role=config.server.role,
        event_loop=loop_name,
        database="sqlite" if config.database_url.startswith("sqlite") else "postgresql",
        wechat_api="sandbox"
        if config.wechat.api_base_url == "sandbox"
        else config.wechat.api_base_url,
    )
    web.run_app(
        app,
        host=config.server.host,
        port=config.server.port,
        print=None,
        access_log=None,
        reuse_port=args.reuse_port or None,
        loop=loop,
    )
    return 0


def new_loop(kind: str) -> tuple[asyncio.AbstractEventLoop, str]:
    """A new event loop of ``kind`` (server.event_loop) and the name of what it is: uvloop
    when asked for and installed (it is a dependency on Linux and macOS, not on Windows),
    else the standard library's, with a warning when uvloop was asked for."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            log_event(
                logging.getLogger("bot"),
                "event_loop_fallback",
                logging.WARNING,
                wanted="uvloop",
                running="asyncio",
                reason="uvloop is not installed",
            )
        else:
            return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"


# The cyclic garbage collector's thresholds for a serving process (Python's default: 700, 10,
# 10). A request keeps about a hundred containers alive while it is in flight, so at 32
# connections each young collection walks some 3,000 live objects and promotes them; at the
# default threshold that is one collection every few dozen requests, and with the old
# generation full of the start-up heap (imports, SQLAlchemy's tables, the texts: 170,000
# objects) each full collection took over 100 ms. Measured (gc callbacks on the thread's CPU
# clock, keyword requests at 32 connections): about 30 us of a request's 300 went to the
# collector.
GC_THRESHOLDS = (10_000, 10, 10)


async def settle_heap(app: web.Application) -> None:
    """Once the app has started: collect the start-up garbage, move what is left into the
    collector's permanent generation (``gc.freeze``: it lives as long as the process and is
    never walked again) and space young collections further apart. Reference counting frees
    a request's objects as before; only cycles wait a little longer. Called by ``serve``
    only: a test process starts many apps, and frozen garbage of one would never be freed."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _run_workers(args: argparse.Namespace, config: Config) -> int:
    import asyncio

    from bot.cli.common import CommandError, ready_context
    from bot.cli.workers import children, supervise
    from storage.db import is_sqlite

    if args.workers < 1:
        raise CommandError("--workers: must be at least 1")
    if is_sqlite(config.database_url):
        raise CommandError(
            "--workers needs PostgreSQL ([database] url): SQLite takes one writing process"
        )

    async def check() -> None:
        async with ready_context(config):  # the data key, once, before any child starts
            pass

    asyncio.run(check())
    port = args.scheduler_port or config.server.port + 1
    return supervise(children(config, args.config, args.workers, port))
