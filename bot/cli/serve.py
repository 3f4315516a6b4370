"""``serve``: run the webhooks (and, with role all|scheduler, the campaign scheduler)."""

from __future__ import annotations

import argparse

from aiohttp import web

from bot.cli.common import add_config_arg, load
from bot.config import with_overrides
from bot.kernel.logs import configure, log_event


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the serve command."""
    p = sub.add_parser("serve", help="start the bot (webhooks on /wechat, health on /healthz)")
    add_config_arg(p)
    p.add_argument("--host", help="override server.host")
    p.add_argument("--port", type=int, help="override server.port")
    p.add_argument("--role", choices=["web", "scheduler", "all"], help="override server.role")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the server and block until interrupted."""
    import logging

    from bot.app import create_app

    config = load(args)
    server = {k: v for k, v in (("host", args.host), ("port", args.port), ("role", args.role)) if v}
    if server:
        config = with_overrides(config, server=server)
    configure(config.log.level, config.log.format)
    app = create_app(config)
    log_event(
        logging.getLogger("bot"),
        "starting",
        url=f"http://{config.server.host}:{config.server.port}/wechat",
        role=config.server.role,
        database="sqlite" if config.database_url.startswith("sqlite") else "postgresql",
        wechat_api="sandbox"
        if config.wechat.api_base_url == "sandbox"
        else config.wechat.api_base_url,
    )
    web.run_app(app, host=config.server.host, port=config.server.port, print=None, access_log=None)
    return 0
