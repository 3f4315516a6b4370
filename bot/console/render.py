"""Jinja2 rendering of console pages (autoescaped: nothing a user typed becomes markup)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.console.pages import Section
from bot.console.security import HEADERS

if TYPE_CHECKING:
    from bot.console.call import Call
    from handlers.content import Texts

TEMPLATES = Path(__file__).parent / "templates"


class Renderer:
    """The template environment and the menu of the mounted sections."""

    def __init__(self, texts: Texts, sections: Sequence[Section], timezone: str) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
        )
        self.zone = ZoneInfo(timezone)
        self.env.filters["local"] = self.local
        self.env.globals["t"] = texts
        self.texts = texts
        self.sections = sorted((s for s in sections if s.nav), key=lambda s: s.order)

    def local(self, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A time as operators read it (the campaign's time zone)."""
        return value.astimezone(self.zone).strftime(fmt) if value else ""

    def html(
        self, template: str, status: int = 200, headers: dict[str, str] | None = None, **params: Any
    ) -> web.Response:
        """A rendered page with the console's security headers."""
        text = self.env.get_template(template).render(**params)
        return web.Response(
            text=text,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers={**HEADERS, **(headers or {})},
        )

    def page(self, call: Call, template: str, status: int = 200, **params: Any) -> web.Response:
        """A page inside the console frame (menu, operator, CSRF token)."""
        menu = [
            (self.texts(s.nav), f"/console{s.home}", s.name)
            for s in self.sections
            if s.nav and call.operator.can(s.nav_role)
        ]
        done = call.request.query.get("done", "")
        notice = self.texts.get(f"console.done.{done}") if done.isidentifier() else None
        return self.html(
            template,
            status=status,
            menu=menu,
            me=call.operator,
            csrf=call.csrf,
            path=call.request.path,
            notice=notice if isinstance(notice, str) else None,
            **params,
        )
