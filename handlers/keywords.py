"""Keyword replies: exact and contains rules with priorities, stored in the database.

Rules are read through a per-process snapshot refreshed every few seconds, so the hot path
does no query for them; operators' edits show up within ``REFRESH_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from bot.kernel.clock import Clock
from bot.kernel.content import ContentError, Texts
from bot.kernel.context import BotContext
from bot.kernel.logs import log_event
from bot.kernel.message import Article, Event, Inbound, Kind, Reply, fold
from bot.kernel.privacy import redact
from handlers.context import Ctx
from handlers.feature import ConsolePage, Feature, content_file
from handlers.router import TEXTUAL, Filter, MatchResult, Router
from storage.db import Session, Sessions
from storage.keywords import MATCH_TYPES, RuleSpec, enabled_rules, seed_concurrently

log = logging.getLogger("bot.app")
REFRESH_SECONDS = 10.0


def seed_replies(texts: Texts) -> dict[str, Reply]:
    """Each pattern of the keywords content file with its answer (the FAQ reuses them)."""
    return {spec.pattern: Reply.from_json(spec.reply_json) for spec in seed_specs(texts)}


def seed_specs(texts: Texts) -> list[RuleSpec]:
    """The rules of the keywords content files, one spec per pattern.

    The base file, the pack's and ``[content] dir``'s are layered: a pattern a later layer
    defines is answered by that layer's rule, so a pack replaces one topic without copying
    the others."""
    layers = texts.layers("keywords")
    ordered: list[tuple[str, dict[str, Any]]] = [
        (f"keywords[{depth}].rule[{i}]", rule)
        for depth, layer in reversed(list(enumerate(layers)))
        for i, rule in enumerate(layer.get("rule", []))
    ]
    by_pattern: dict[str, dict[str, Any]] = {}
    for _, rule in ordered:
        for pattern in rule.get("patterns", []):
            by_pattern.setdefault(pattern, rule)
    specs: list[RuleSpec] = []
    taken: set[tuple[str, str]] = set()
    for where, rule in ordered:
        match = rule.get("match", "exact")
        if match not in MATCH_TYPES:
            raise ContentError(f"{where}.match: must be one of {MATCH_TYPES}")
        reply = _rule_reply(texts, rule, by_pattern, where)
        for pattern in rule.get("patterns", []):
            key = pattern if match == "click" else fold(pattern)
            if (match, key) in taken:
                continue  # a later layer answers this pattern
            taken.add((match, key))
            specs.append(RuleSpec(key, match, int(rule.get("priority", 0)), reply.to_json()))
    return specs


def _rule_reply(
    texts: Texts,
    rule: dict[str, Any],
    by_pattern: dict[str, dict[str, Any]],
    where: str,
    depth: int = 0,
) -> Reply:
    if "text" in rule:
        return Reply.of_text(str(rule["text"]).strip("\n"))
    if "text_key" in rule:
        return Reply.of_text(texts(rule["text_key"]))
    if "articles" in rule:
        return Reply.news([Article(**a) for a in rule["articles"]])
    if "text_ref" in rule and depth < 3:
        target = by_pattern.get(rule["text_ref"])
        if target is None:
            raise ContentError(f"{where}.text_ref: no rule with pattern {rule['text_ref']!r}")
        return _rule_reply(texts, target, by_pattern, where, depth + 1)
    raise ContentError(f"{where}: needs text, text_key, text_ref or articles")


@dataclass
class _Snapshot:
    exact: dict[str, Reply] = field(default_factory=dict)
    click: dict[str, Reply] = field(default_factory=dict)
    contains: list[tuple[str, Reply]] = field(default_factory=list)
    loaded_at: float = -1e9


class KeywordIndex:
    """The enabled rules of the database, cached per process.

    Reloads are single-flight and, once a snapshot exists, happen in the background: a busy
    database never holds up an answer, and a burst of messages never queues a burst of reloads.
    """

    def __init__(self) -> None:
        self._snap = _Snapshot()
        self._loaded = False
        self._refresh: asyncio.Task[None] | None = None
        self._sessions: Sessions | None = None
        # The bot's clock once known (the first load), so a test's clock ages the rules too.
        self._clock: Clock | None = None

    def _now(self) -> float:
        return self._clock.timestamp() if self._clock is not None else time.monotonic()

    def invalidate(self) -> None:
        """Force a reload on next use (after an edit in this process)."""
        self._snap.loaded_at = -1e9

    async def preload(self, bot: BotContext) -> None:
        """Read the rules at start, so ``has_rule`` knows them from the first message."""
        self._clock = bot.clock
        await self._load(bot.sessions)

    @property
    def fresh(self) -> bool:
        """Whether the rules were read, and less than ``REFRESH_SECONDS`` ago."""
        return self._loaded and self._now() - self._snap.loaded_at < REFRESH_SECONDS

    async def lookup_fresh(self, ctx: Ctx) -> Reply | None:
        """``lookup`` after reading the rules again through the message's own session (an
        operator's new rule answers from the first message after the refresh interval)."""
        self._clock = ctx.bot.clock
        await self._read(ctx.session)
        return await self.lookup(ctx)

    def has_rule(self, msg: Inbound) -> bool:
        """Whether a rule answers the text ``msg``. The app loads the rules before the first
        message (``preload``); if nothing is loaded yet, False: the free-text route then looks
        the rules up itself (handlers/faq/routes.py). A stale snapshot is refreshed in the
        background."""
        if not self._loaded:
            return False
        snap = self._snap
        stale = self._now() - snap.loaded_at >= REFRESH_SECONDS
        idle = self._refresh is None or self._refresh.done()
        if stale and idle and self._sessions is not None:
            self._refresh = asyncio.get_running_loop().create_task(self._load(self._sessions))
        word = msg.folded
        return word in snap.exact or any(pattern in word for pattern, _ in snap.contains)

    async def _load(self, sessions: Sessions) -> None:
        self._sessions = sessions
        async with sessions() as session:
            await self._read(session)

    async def _read(self, session: Session) -> None:
        rows = await enabled_rules(session)
        snap = _Snapshot(loaded_at=self._now())
        for row in rows:
            reply = Reply.from_json(row.reply)
            if row.match == "exact":
                snap.exact.setdefault(row.pattern, reply)
            elif row.match == "click":
                snap.click.setdefault(row.pattern, reply)
            else:
                snap.contains.append((row.pattern, reply))
        self._snap = snap
        self._loaded = True

    async def _snapshot(self, ctx: Ctx) -> _Snapshot:
        self._clock = ctx.bot.clock
        if self._now() - self._snap.loaded_at < REFRESH_SECONDS:
            return self._snap
        self._sessions = ctx.bot.sessions
        if not self._loaded:
            # The first load reads through the message's own session: on the transactional
            # path that session holds SQLite's single pooled connection, so opening a second
            # one here would wait for it until the pool timeout (a first menu click hung 60 s).
            await self._read(ctx.session)
            return self._snap
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._load(ctx.bot.sessions))
        return self._snap

    async def lookup(self, ctx: Ctx) -> Reply | None:
        """The reply of the best rule for the message, if any."""
        msg = ctx.inbound
        snap = await self._snapshot(ctx)
        if msg.kind is Kind.EVENT:
            if msg.event is Event.CLICK and msg.event_key:
                return snap.click.get(msg.event_key) or snap.exact.get(fold(msg.event_key))
            return None
        word = msg.folded
        if word in snap.exact:
            return snap.exact[word]
        for pattern, reply in snap.contains:
            if pattern in word:
                return reply
        return None


class _KeywordHit(Filter):
    """Menu clicks, and texts a rule answers: free text goes on to the FAQ."""

    def __init__(self, index: KeywordIndex) -> None:
        self.index = index

    def check(self, msg: Inbound) -> MatchResult:
        if msg.kind is Kind.EVENT:
            return msg.event is Event.CLICK
        return msg.kind in TEXTUAL and self.index.has_rule(msg)


def build_router(index: KeywordIndex) -> Router:
    """Answer menu clicks and the texts a rule answers; other text falls through (to the FAQ,
    whose fallback router starts with this one, see handlers/faq/routes.py)."""
    router = Router("keywords")

    async def keyword_reply(ctx: Ctx) -> Reply | None:
        reply = await index.lookup(ctx)
        if reply is None:
            return await fallback(ctx)
        return reply

    router.add(_KeywordHit(index), keyword_reply, "keywords.reply", pure=True)
    router.on_start.append(index.preload)
    return router


async def fallback(ctx: Ctx) -> Reply | None:
    """The helpful menu for anything the bot does not know."""
    msg = ctx.inbound
    if msg.kind is Kind.EVENT:
        return None  # an unknown menu key: silence beats a confusing answer
    if msg.kind in TEXTUAL and msg.text:
        # Often a flow answer typed after the flow expired: never show a phone or ID back.
        text = redact(msg.text)
        shown = text if len(text) <= 20 else text[:20] + "…"
        return ctx.reply("common.fallback", text=shown, menu=ctx.t("common.menu"))
    what = ctx.bot.texts.get(f"common.media_names.{msg.kind.value}", "消息")
    return ctx.reply("common.fallback_media", what=what)


async def seed_at_start(bot: BotContext) -> None:
    """Make the seeded rules match the content file (operator rules are left alone)."""
    specs = seed_specs(bot.texts)
    added, updated, removed = await seed_concurrently(bot.sessions, specs, bot.clock.now())
    if added or updated or removed:
        log_event(log, "keywords_seeded", added=added, updated=updated, removed=removed)


FEATURE = Feature(
    name="keywords",
    # The keyword answers are asked after every feature's routers, at the start of the FAQ
    # feature's fallback router (handlers/faq/routes.py): the free-text route after them
    # shares their snapshot of the rules.
    cli=["bot.cli.keywords:register"],
    console=[
        ConsolePage.section("keywords"),
    ],
    content=[content_file("keywords")],
    on_start=[seed_at_start],
    audit_actions=[
        "keywords.add",
        "keywords.edit",
        "keywords.enable",
        "keywords.disable",
        "keywords.remove",
        "keywords.seed",
    ],
)
