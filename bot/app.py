"""The app factory: one function builds the context and the aiohttp application, so the CLI,
the server and the tests all run the same wiring."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

from aiohttp import web

from bot.appkeys import BOT, DISPATCHER
from bot.channels.base import BODY_GATE, BodyGate, webhook_errors
from bot.channels.wechat import WeChatAdapter, wechat_routes
from bot.channels.weibo import WeiboAdapter, weibo_routes
from bot.clients.wechat import WeChatClient
from bot.clients.weibo import WeiboClient
from bot.dispatch import Dispatcher
from bot.kernel.campaign import load_pack, load_texts
from bot.kernel.clock import Clock, SystemClock
from bot.kernel.config import SANDBOX, Config, weibo_enabled
from bot.kernel.context import BotContext
from bot.kernel.logs import log_event
from bot.kernel.message import Channel
from bot.kernel.periodic import STOP_WAIT_SECONDS, Periodic
from bot.kernel.privacy import Cipher, load_key
from bot.keys import check_data_key
from bot.metrics import TimedProbe, measure, start_metrics, watch_engine
from bot.sandbox import FakeWeChatAPI
from bot.sandbox_weibo import FakeWeiboAPI
from handlers.feature import Feature, resolve
from handlers.media import purge_orphan_pictures
from handlers.registry import FEATURES, Handlers, build_handlers, jobs, media_folders
from storage import leases
from storage.db import create_engine, create_sessions, is_sqlite, ping, transaction
from storage.hotpath import MessageLogWriter, make_probe
from storage.messages import drop_cached_replies, purge_before
from storage.migrate import ensure_schema
from storage.ratelimit import SharedRateLimiter, purge_rate_counters

log = logging.getLogger("bot.app")

SANDBOX_PREFIX = "/sandbox/wechat"
SANDBOX_KEY: web.AppKey[FakeWeChatAPI] = web.AppKey("sandbox")
WEIBO_SANDBOX_PREFIX = "/sandbox/weibo"
WEIBO_SANDBOX_KEY: web.AppKey[FakeWeiboAPI] = web.AppKey("weibo_sandbox")
HANDLERS: web.AppKey[Handlers] = web.AppKey("handlers")


def build_context(
    config: Config, clock: Clock | None = None, features: Sequence[Feature] = FEATURES
) -> BotContext:
    """Engine, sessions, texts (with the features' content), cipher and API clients for
    ``config`` (no I/O yet)."""
    engine = create_engine(config.database_url, echo=config.database.echo)
    key = load_key(config.security.data_key, config.data_path)
    pack = load_pack(config.campaign.pack, config.base_dir, config.campaign.features)
    bot = BotContext(
        config=config,
        sessions=create_sessions(engine),
        clock=clock or SystemClock(),
        texts=load_texts(
            pack, config.content.dir or None, [p for f in features for p in f.content]
        ),
        cipher=Cipher(key.key, key),
        pack=pack,
    )
    base = config.wechat.api_base_url
    if base == SANDBOX:
        base = config.public_url + SANDBOX_PREFIX
    bot.clients[Channel.WECHAT] = WeChatClient(config.wechat, base)
    if weibo_enabled(config):
        weibo_base = config.weibo.api_base_url
        if weibo_base == SANDBOX:
            weibo_base = config.public_url + WEIBO_SANDBOX_PREFIX
        bot.clients[Channel.WEIBO] = WeiboClient(config.weibo, weibo_base)
    return bot


async def close_context(bot: BotContext) -> None:
    """Close API clients and dispose of the engine."""
    for client in bot.clients.values():
        await client.close()
    await bot.sessions.kw["bind"].dispose()


async def prepare_database(
    bot: BotContext, *, migrate: bool, features: Sequence[Feature] = FEATURES
) -> None:
    """Upgrade the schema when allowed, check the data key, then run the features' start-up
    work (seeding)."""
    url = bot.config.database_url
    if migrate:
        ran = await ensure_schema(url)
        if ran:
            log_event(
                log, "database_upgraded", backend="sqlite" if is_sqlite(url) else "postgresql"
            )
    await check_data_key(bot)
    for feature in features:
        for start in feature.on_start:
            await start(bot)


# WeChat and Weibo retry a message within seconds (three tries, 5 s apart): a cached reply is
# needed only that long, and is dropped after this.
RETRY_HORIZON = timedelta(minutes=10)
PURGE_INTERVAL_SECONDS = 600


async def purge_message_log(bot: BotContext) -> int:
    """Delete message-log rows older than the retention setting and drop the cached replies
    of the last day once past the retry horizon; returns how many rows were deleted."""
    now = bot.clock.now()
    cutoff = now - timedelta(days=bot.config.database.message_retention_days)
    async with transaction(bot.sessions) as session:
        deleted = await purge_before(session, cutoff)
        await purge_rate_counters(session, now.timestamp())
        # Cached replies (encrypted, see Dispatcher._seal) serve retries only. Only the last
        # day is looked at, so the periodic run stays cheap; older ones (the bot was down a
        # whole day) stay encrypted until the retention purge.
        await drop_cached_replies(session, now - timedelta(days=1), now - RETRY_HORIZON)
    return deleted


def create_app(
    config: Config,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    bot: BotContext | None = None,
    features: Sequence[Feature] = FEATURES,
) -> web.Application:
    """The web application: webhooks, the features' pages, health check, sandbox, background
    jobs, all from the ``features`` (the registry's unless a test passes its own)."""
    bot = bot or build_context(config, clock, features)
    # Features the campaign pack switches off answer "not part of this campaign" and serve
    # no pages.
    off = [f.name for f in features if not bot.pack.on(f.name)]
    handlers = build_handlers(config.limits.flow_timeout_minutes * 60, features, off)
    # measure outermost: it sees the status and outcome webhook_errors settles on.
    app = web.Application(
        client_max_size=config.server.max_body_bytes, middlewares=[measure, webhook_errors]
    )
    app[BOT] = bot
    app[HANDLERS] = handlers
    app[BODY_GATE] = BodyGate(
        config.server.body_timeout_seconds, config.server.max_unsigned_body_reads
    )
    db_engine = bot.sessions.kw["bind"]
    probe = make_probe(config.database_url, db_engine)
    bot.follower_lookup = probe.follows
    app[DISPATCHER] = Dispatcher(
        bot=bot,
        routers=handlers.routers,
        engine=handlers.engine,
        probe=TimedProbe(probe),
        message_log=MessageLogWriter(bot.sessions, config.database_url),
        deadline=config.wechat.reply_deadline_seconds,
        shared_limit=_shared_limit(bot),
    )
    # A "scheduler" process serves only /healthz: webhooks go to the web processes.
    if config.server.role != "scheduler":
        app.add_routes(wechat_routes(WeChatAdapter(config.wechat)))
        if weibo_enabled(config):
            weibo_client = bot.client(Channel.WEIBO)
            assert isinstance(weibo_client, WeiboClient)
            app.add_routes(weibo_routes(WeiboAdapter(config.weibo, weibo_client)))
        for feature in features:
            for ref in feature.web if feature.name not in off else ():
                app.add_routes(resolve(ref)())
        # The console sits above the app (it reads the features' pages): named by reference
        # like the features' CLI and web parts, resolved here at start-up.
        resolve("bot.console.app:mount_console")(app, bot, features)
    app.router.add_get("/healthz", _healthz)
    if config.wechat.api_base_url == SANDBOX:
        sandbox = FakeWeChatAPI(config.wechat.app_id, config.wechat.app_secret)
        app[SANDBOX_KEY] = sandbox
        app.add_subapp(SANDBOX_PREFIX, sandbox.app())
    if weibo_enabled(config) and config.weibo.api_base_url == SANDBOX:
        weibo_sandbox = FakeWeiboAPI(config.weibo.access_token)
        app[WEIBO_SANDBOX_KEY] = weibo_sandbox
        app.add_subapp(WEIBO_SANDBOX_PREFIX, weibo_sandbox.app())

    watch_engine(db_engine)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await prepare_database(bot, migrate=migrate, features=features)
        await _warm_routers(bot, handlers)
        presence = await _present(bot)
        presence.start()
        purger = Periodic(
            partial(_purge, bot, features), PURGE_INTERVAL_SECONDS, name="purge", first_delay=0
        )
        purger.start()
        scheduler = None
        if config.server.role in ("scheduler", "all"):
            from schedules.scheduler import CampaignScheduler

            scheduler = CampaignScheduler(bot, jobs=list(jobs(features, where="leader")))
            scheduler.start()
        metrics = None
        if config.metrics.port:
            metrics = await start_metrics(
                bot, config.metrics.host, config.metrics.port, config.metrics.token
            )
        yield
        if metrics is not None:
            await metrics.cleanup()
        # Each waits for its run in flight (see bot.kernel.periodic): cancelled inside a
        # transaction, a run could leave SQLite's write lock held past the shutdown.
        stopping = [purger.stop(STOP_WAIT_SECONDS), presence.stop(STOP_WAIT_SECONDS)]
        if scheduler is not None:
            stopping.append(scheduler.stop(STOP_WAIT_SECONDS))
        await asyncio.gather(*stopping)
        dispatcher = app[DISPATCHER]
        await dispatcher.drain()
        await _finish_in_flight(bot, features)
        await dispatcher.message_log.close()
        if dispatcher.shared_limit is not None:
            await dispatcher.shared_limit.close()
        await dispatcher.probe.close()
        with contextlib.suppress(Exception):  # the database may be away: the lease expires
            await leases.gone(bot.sessions, presence.name)
        await close_context(bot)

    app.cleanup_ctx.append(lifecycle)
    return app


async def _finish_in_flight(bot: BotContext, features: Sequence[Feature]) -> None:
    """The features' work in flight (on-duty alerts being sent), awaited within
    STOP_WAIT_SECONDS in all: a stopping process must not drop an alert it has started, nor
    hang on a platform that does not answer (the supervisor kills after its grace time)."""
    stops = [(f.name, stop) for f in features for stop in f.on_stop]
    if not stops:
        return
    tasks: dict[asyncio.Future[None], str] = {
        asyncio.ensure_future(stop(bot)): name for name, stop in stops
    }
    done, pending = await asyncio.wait(tasks, timeout=STOP_WAIT_SECONDS)
    for task in pending:
        task.cancel()
        log_event(log, "stop_work_abandoned", logging.WARNING, feature=tasks[task])
    for task in done:
        if task.exception() is not None:
            log.error("stop work of %s failed", tasks[task], exc_info=task.exception())
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


def _shared_limit(bot: BotContext) -> SharedRateLimiter | None:
    """The per-user limit's counts shared through the database when several processes may
    serve (None: the middleware counts in memory)."""
    limits = bot.config.limits
    store = limits.rate_limit_store
    if store == "auto":
        store = "memory" if is_sqlite(bot.config.database_url) else "database"
    if store == "memory":
        return None
    return SharedRateLimiter(
        bot.sessions, limits.messages_per_minute, interval=limits.rate_sync_seconds
    )


async def purge_once(bot: BotContext, features: Sequence[Feature] = FEATURES) -> dict[str, int]:
    """One periodic purge: the message log, the features' purge hooks, media nothing refers
    to, and the features' every-process jobs; returns what each removed or did, by name."""
    done = {"message_log": await purge_message_log(bot)}
    now = bot.clock.now()
    for feature in features:
        for hook in feature.purges:
            done[f"{feature.name}.{hook.__name__}"] = await hook(bot, now)
    done["orphan_pictures"] = await purge_orphan_pictures(bot, media_folders(features))
    for job in jobs(features, where="every_process"):
        done[job.name] = await job.run(bot)
    return done


async def _warm_routers(bot: BotContext, handlers: Handlers) -> None:
    """The routers' warm-ups; one failing only costs its first message the slower path."""
    for router in handlers.routers:
        for warm in router.on_start:
            try:
                await warm(bot)
            except Exception as exc:
                log_event(
                    log, "warmup_failed", logging.WARNING, router=router.name, error=repr(exc)
                )


async def _present(bot: BotContext) -> Periodic:
    """Record this process as serving the database (``keys rotate`` refuses meanwhile); the
    returned renewal keeps the record alive once started, and is named after the record."""
    name = f"{leases.PRESENCE_PREFIX}{uuid.uuid4().hex}"
    owner = f"{bot.config.server.role} process {os.getpid()} on {socket.gethostname()}"[:128]
    # Wall-clock time, not the bot's clock: this is about processes, not the campaign.
    await leases.present(bot.sessions, name, owner, datetime.now(UTC))
    failing = False

    async def renew() -> None:
        nonlocal failing
        try:
            await leases.present(bot.sessions, name, owner, datetime.now(UTC))
            failing = False
        except Exception:
            if not failing:  # once per outage: the database is away
                log.warning("could not renew this process's presence lease")
            failing = True

    return Periodic(renew, leases.PRESENCE_TTL_SECONDS / 3, name=name)


async def _purge(bot: BotContext, features: Sequence[Feature]) -> None:
    done = await purge_once(bot, features)
    if done["message_log"]:
        log_event(log, "message_log_purged", rows=done["message_log"])
    if done["orphan_pictures"]:
        log_event(log, "orphan_pictures_purged", files=done["orphan_pictures"])


async def _healthz(request: web.Request) -> web.Response:
    bot = request.app[BOT]
    try:
        async with bot.sessions() as session:
            await asyncio.wait_for(ping(session), 3)
    except Exception as exc:
        return web.json_response(
            {"status": "unavailable", "database": type(exc).__name__}, status=503
        )
    # The pack's name tells `chat --url` (and monitoring) which campaign this bot runs.
    return web.json_response({"status": "ok", "database": "ok", "pack": bot.pack.name})
