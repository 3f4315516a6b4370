"""The public logo gallery: server-rendered, mobile-friendly pages of approved entries.

    GET /logo              every approved entry: number, title, masked author, statement, image
    GET /logo/{n}          one entry and how to vote for it
    GET /logo/media/{f}    the design file of an approved entry

Pages are Jinja2 templates (``bot/templates/gallery``) with autoescaping on, so nothing an
entrant typed can become markup; texts come from ``handlers/content/gallery.toml``. Vote counts
show when ``[logo] gallery_show_counts`` is on or once the results are published. Anything
unknown (entry, file name) is a 404 page, never an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.appkeys import BOT
from bot.kernel.context import BotContext
from bot.kernel.privacy import mask_name
from handlers.logo_phases import (
    LOGO,
    ContestState,
    contest_state,
    counts_public,
    logo_media_path,
    phase_line,
)
from storage import logo as store
from storage.logo import EntryStatus, LogoEntry

TEMPLATES = Path(__file__).parent / "templates" / "gallery"
# The document every page of the bot extends (page.html).
PAGE = Path(__file__).parent / "templates"
NUMBER = re.compile(r"^\d{1,9}$")  # the vote command's range; larger cannot be an entry
MEDIA_NAME = re.compile(r"^([0-9a-f]{64})\.(png|jpg)$")
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg"}
# Designs are named by content, but a rejected entry must drop out of caches within a day.
MEDIA_CACHE = "public, max-age=86400"
# No script, nothing from elsewhere: the pages only show text and our own images.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class EntryView:
    """What a page shows of one entry."""

    number: int
    title: str
    author: str
    statement: str
    image: str | None
    votes: int | None
    rank: int | None


class Gallery:
    """Renders the pages from the database (one short read per request)."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader([TEMPLATES, PAGE]),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )

    def _page(
        self, bot: BotContext, template: str, status: int = 200, **params: Any
    ) -> web.Response:
        html = self.env.get_template(template).render(t=bot.texts, pack=bot.pack, **params)
        return web.Response(
            text=html,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=PAGE_HEADERS,
        )

    def not_found(self, bot: BotContext) -> web.Response:
        """The 404 page."""
        return self._page(bot, "not_found.html", status=404)

    async def _entries(
        self, bot: BotContext, number: int | None = None
    ) -> tuple[ContestState, list[EntryView]]:
        """The contest state and the approved entries (only ``number`` when given)."""
        async with bot.sessions() as session:
            state = await contest_state(session, LOGO.of(bot.config), bot.clock.now())
            entries = await store.list_entries(session, EntryStatus.APPROVED)
            if number is not None:
                entries = [e for e in entries if e.id == number]
            counts: dict[int, tuple[int, int]] = {}
            if counts_public(LOGO.of(bot.config), state):
                ranking = await store.ranking(session)
                counts = {n: (rank, votes) for rank, (n, _t, votes) in enumerate(ranking, 1)}
        views = [self._view(bot, e, counts.get(e.id), state) for e in entries]
        if counts and state.results_published:
            views.sort(key=lambda v: v.rank or 0)
        return state, views

    def _view(
        self,
        bot: BotContext,
        entry: LogoEntry,
        count: tuple[int, int] | None,
        state: ContestState,
    ) -> EntryView:
        author = bot.texts("gallery.anonymous")
        if entry.author_name_enc:
            unreadable = bot.texts("common.unreadable")
            author = bot.cipher.reveal(entry.author_name_enc, unreadable, mask_name)
        return EntryView(
            number=entry.id,
            title=entry.title,
            author=author,
            statement=entry.statement,
            image=f"/logo/media/{entry.image_path}" if entry.image_path else None,
            votes=count[1] if count else None,
            # Places only once the results are out: live counts are not a ranking yet.
            rank=count[0] if count and state.results_published else None,
        )

    async def index(self, request: web.Request) -> web.Response:
        """All approved entries."""
        bot = request.app[BOT]
        state, views = await self._entries(bot)
        return self._page(bot, "list.html", entries=views, phase=phase_line(bot.texts, state))

    async def entry(self, request: web.Request) -> web.Response:
        """One approved entry."""
        bot = request.app[BOT]
        number = request.match_info["number"]
        if not NUMBER.match(number):
            return self.not_found(bot)
        state, views = await self._entries(bot, int(number))
        if not views:
            return self.not_found(bot)
        return self._page(bot, "entry.html", e=views[0], phase=phase_line(bot.texts, state))

    async def media(self, request: web.Request) -> web.StreamResponse:
        """An approved entry's design file; anything else is a 404."""
        bot = request.app[BOT]
        name = request.match_info["name"]
        m = MEDIA_NAME.match(name)
        if m is None:
            return self.not_found(bot)
        async with bot.sessions() as session:
            approved = await store.approved_image(session, m[1], name)
        # The name is a hash and an extension checked above: it cannot leave the directory.
        path = logo_media_path(bot.config) / name
        if not approved or not path.is_file():
            return self.not_found(bot)
        return web.FileResponse(
            path,
            headers={
                "Content-Type": CONTENT_TYPES[m[2]],
                "Cache-Control": MEDIA_CACHE,
                "X-Content-Type-Options": "nosniff",
            },
        )


def gallery_routes() -> list[web.RouteDef]:
    """GET /logo, /logo/{number} and /logo/media/{name}."""
    gallery = Gallery()
    return [
        web.get("/logo", gallery.index),
        web.get("/logo/", gallery.index),
        web.get("/logo/media/{name}", gallery.media),
        web.get("/logo/{number}", gallery.entry),
    ]
