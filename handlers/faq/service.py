"""The FAQ index of one process: built at start, rebuilt when the topics change.

Each process checks the tables' fingerprint every ``[faq] refresh_seconds`` in the background
(single-flight, like the keyword snapshot), so an edit made by the CLI or the console in
another process answers within that time; an edit in this process rebuilds at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from bot.kernel.campaign import shipped_packs
from bot.kernel.config import ConfigError, ConfigSection
from bot.kernel.content import ContentError, Texts
from bot.kernel.context import BotContext
from bot.kernel.logs import log_event
from bot.kernel.message import Article, Reply
from handlers.faq.matcher import Bm25Index, Hit, Tokenizer
from handlers.faq.watchlist import Watchlist
from storage.db import Session, Sessions
from storage.faq import EntrySpec, IndexedEntry, fingerprint, indexed_entries

log = logging.getLogger("bot.faq")

SERVICE = "faq"


@dataclass(frozen=True)
class FaqConfig:
    # Free-text questions no command or keyword takes are matched against the FAQ topics.
    enabled: bool = True
    # Which topics of faq.toml answer: empty, the running campaign pack's ([campaign] pack) plus
    # "all"; "all" for every topic; or one campaign's ("henan", "hunan") plus "all".
    campaign: str = ""
    # Confidence (0..1, the share of the question's words the topic explains) at or above
    # which the best topic answers, and below which the question goes to staff; in between
    # the bot asks "您是想问" with up to clarify_options topics. Tuned on the test set
    # (bench/faq.py).
    answer_threshold: float = 0.35
    clarify_threshold: float = 0.25
    clarify_options: int = 3
    # How long a "您是想问" list waits for a number.
    pick_minutes: int = 10
    # How often each process checks the topics for edits (new index within this time).
    refresh_seconds: float = 10.0


def validate(faq: FaqConfig) -> None:
    """Refuse thresholds out of order and out of range, naming the key."""
    if faq.campaign not in {"", "all", *shipped_packs()}:
        raise ConfigError(
            f"faq.campaign: must be empty (the campaign pack's), all or one of "
            f"{', '.join(shipped_packs())}"
        )
    if not 0 < faq.clarify_threshold <= faq.answer_threshold <= 1:
        raise ConfigError(
            "faq.clarify_threshold: must be above 0 and at most faq.answer_threshold (<= 1)"
        )
    if not 1 <= faq.clarify_options <= 5:
        raise ConfigError("faq.clarify_options: must be between 1 and 5")
    if faq.pick_minutes < 1:
        raise ConfigError("faq.pick_minutes: must be at least 1")
    if faq.refresh_seconds <= 0:
        raise ConfigError("faq.refresh_seconds: must be positive")


FAQ = ConfigSection("faq", FaqConfig, validate)


class Verdict(StrEnum):
    """What the matcher makes of a question: answer it with the best topic, ask which of the
    close topics was meant (clarify), or hand it to staff."""

    ANSWER = "answer"
    CLARIFY = "clarify"
    HANDOFF = "handoff"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    # Best first: the answer, or the topics offered, or the closest ones (handoff).
    entries: tuple[IndexedEntry, ...]
    confidence: float


def entry_specs(
    texts: Texts, keyword_reply: Mapping[str, Reply], off: Collection[str] = ()
) -> list[EntrySpec]:
    """The topics of the faq content file; ``keyword_reply`` maps keyword patterns to their
    answers, for topics that reuse a keyword's answer (``keyword = "..."``). A topic about a
    feature in ``off`` (switched off by the campaign pack, ``feature = "..."``) is left out,
    so seeding removes it rather than letting it describe what this campaign does not run."""
    specs = []
    seen: set[str] = set()
    for i, raw in enumerate(texts.file("faq").get("entry", [])):
        where = f"faq.entry[{i}]"
        if raw.get("feature") in off:
            continue
        slug = str(raw.get("slug", "")).strip()
        if not slug or slug in seen:
            raise ContentError(f"{where}.slug: required and unique")
        seen.add(slug)
        if "keyword" in raw:
            reply = keyword_reply.get(str(raw["keyword"]))
            if reply is None:
                raise ContentError(f"{where}.keyword: no keyword rule {raw['keyword']!r}")
        elif "text" in raw:
            reply = Reply.of_text(str(raw["text"]).strip("\n"))
        elif "articles" in raw:
            reply = Reply.news([Article(**a) for a in raw["articles"]])
        else:
            raise ContentError(f"{where}: needs keyword, text or articles")
        questions = tuple(str(q) for q in raw.get("questions", []))
        if not questions:
            raise ContentError(f"{where}.questions: at least one example question")
        specs.append(
            EntrySpec(
                slug=slug,
                title=str(raw.get("title", slug)),
                campaign=str(raw.get("campaign", "all")),
                reply_json=reply.to_json(),
                keywords=tuple(str(k) for k in raw.get("keywords", [])),
                questions=questions,
            )
        )
    return specs


def make_tokenizer(texts: Texts, extra_words: Sequence[str] = ()) -> Tokenizer:
    """The tokenizer with the content file's stopwords, synonyms and topic words."""
    matching: Mapping[str, Any] = texts.file("faq").get("matching", {})
    words = [k for e in texts.file("faq").get("entry", []) for k in e.get("keywords", [])]
    return Tokenizer(
        matching.get("stopwords", []),
        matching.get("synonyms", {}),
        [*words, *extra_words],
    )


class FaqMatcher:
    """Topics and their BM25 index; pure computation, no I/O (the benchmark uses it alone)."""

    def __init__(self, tokenizer: Tokenizer, config: FaqConfig) -> None:
        self.tokenizer = tokenizer
        self.config = config
        self.entries: dict[int, IndexedEntry] = {}
        self.index = Bm25Index.build([])

    def build(self, entries: Sequence[IndexedEntry]) -> None:
        """Index ``entries`` (those of other campaigns are left out; with no campaign named,
        as in the test set's evaluation, none is)."""
        wanted = self.config.campaign
        chosen = [e for e in entries if wanted in ("", "all") or e.campaign in ("all", wanted)]
        tok = self.tokenizer.tokens
        docs: list[tuple[int, list[str]]] = []
        for entry in chosen:
            for question in entry.questions:
                docs.append((entry.id, tok(question)))
            topic_words = tok(entry.title)
            for keyword in entry.keywords:
                topic_words.extend(tok(keyword))
            docs.append((entry.id, topic_words))
        self.index = Bm25Index.build(docs)
        self.entries = {e.id: e for e in chosen}

    def decide(self, text: str) -> Decision:
        """Answer, ask which topic was meant, or hand the question to staff."""
        cfg = self.config
        hits: list[Hit] = self.index.search(self.tokenizer.groups(text), cfg.clarify_options)
        entries = tuple(self.entries[h.entry_id] for h in hits)
        if not hits or hits[0].confidence < cfg.clarify_threshold:
            return Decision(Verdict.HANDOFF, entries, hits[0].confidence if hits else 0.0)
        top = hits[0]
        clear_lead = (
            len(hits) == 1 or top.score * top.confidence > hits[1].score * hits[1].confidence
        )
        if top.confidence >= cfg.answer_threshold and clear_lead:
            return Decision(Verdict.ANSWER, entries[:1], top.confidence)
        offered = tuple(
            self.entries[h.entry_id] for h in hits if h.confidence >= cfg.clarify_threshold
        )
        return Decision(Verdict.CLARIFY, offered, top.confidence)


class FaqService:
    """The matcher of this process, kept in step with the database, plus the watchlist."""

    def __init__(self, texts: Texts, config: FaqConfig) -> None:
        self.matcher = FaqMatcher(make_tokenizer(texts), config)
        self.watchlist = Watchlist.from_texts(texts)
        self.refresh_seconds = config.refresh_seconds
        self._fingerprint: tuple[Any, ...] | None = None
        self._checked_at = -1e9
        self._refresh: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        """Begin loading the segmentation dictionary in a thread (start-up)."""
        self.matcher.tokenizer.start_loading()

    async def reload(self, sessions: Sessions, *, force: bool = False) -> bool:
        """Rebuild the index if the topics changed (or ``force``); whether it was rebuilt.

        The session is closed before the index is built: on SQLite it holds the only pooled
        connection, which every webhook needs meanwhile."""
        async with self._lock:
            async with sessions() as session:
                read = await self._read(session, force)
            return read is not None and await self._build(*read)

    async def reload_with(self, session: Session, *, force: bool = False) -> bool:
        """``reload`` through an open session (a message's own, see ``ready``)."""
        async with self._lock:
            read = await self._read(session, force)
            return read is not None and await self._build(*read)

    async def _read(
        self, session: Session, force: bool
    ) -> tuple[list[IndexedEntry], tuple[Any, ...]] | None:
        print_ = await fingerprint(session)
        if not force and print_ == self._fingerprint:
            self._checked_at = time.monotonic()
            return None
        return await indexed_entries(session), print_

    async def _build(self, entries: list[IndexedEntry], print_: tuple[Any, ...]) -> bool:
        started = time.perf_counter()
        # Segmenting every example question is CPU work: off the event loop.
        await asyncio.to_thread(self.matcher.build, entries)
        self._fingerprint = print_
        self._checked_at = time.monotonic()
        log_event(
            log,
            "faq_index_built",
            topics=len(self.matcher.entries),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return True

    async def ready(self, bot: BotContext, session: Session) -> FaqMatcher:
        """The matcher, refreshed in the background when due.

        Built through ``session`` if this process has none yet: on SQLite the message's
        session holds the only pooled connection, so a second one would wait for it."""
        if self._fingerprint is None:
            await self.reload_with(session)
        elif time.monotonic() - self._checked_at >= self.refresh_seconds and (
            self._refresh is None or self._refresh.done()
        ):
            self._checked_at = time.monotonic()
            self._refresh = asyncio.create_task(self._background(bot.sessions))
        return self.matcher

    async def _background(self, sessions: Sessions) -> None:
        try:
            await self.reload(sessions)
        except Exception:  # a busy database: keep answering from the index we have
            log.exception("faq index refresh failed")

    def invalidate(self) -> None:
        """Rebuild on next use (after an edit in this process)."""
        self._fingerprint = None


def faq_service(bot: BotContext) -> FaqService:
    """This process's FAQ service (created on first use when start-up did not)."""
    service = bot.extras.get(SERVICE)
    if service is None:
        config = FAQ.of(bot.config)
        # Empty: the topics of the campaign the bot runs (and those of every campaign).
        config = replace(config, campaign=config.campaign or bot.pack.name)
        service = bot.extras[SERVICE] = FaqService(bot.texts, config)
    assert isinstance(service, FaqService)
    return service
