"""What a console page handler receives (the request, the context, the operator, helpers) and
the Jinja2 rendering of pages (autoescaped: nothing a user typed becomes markup)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from multidict import MultiDictProxy

from bot.console.exports import Exports, Rows, Writer
from bot.console.pages import Section
from bot.console.security import HEADERS
from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from handlers.operations import Actor
from handlers.operators import Role

R = TypeVar("R")
# Field values longer than this are refused before any page looks at them.
MAX_FIELD = 20000


TEMPLATES = Path(__file__).parent / "templates"
# The document every page of the bot extends (page.html).
PAGE = Path(__file__).parent.parent / "templates"


class Renderer:
    """The template environment and the menu of the mounted sections."""

    def __init__(self, texts: Texts, sections: Sequence[Section], timezone: str) -> None:
        self.env = Environment(
            loader=FileSystemLoader([TEMPLATES, PAGE]),
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
            # Which campaign pack the bot runs, in the header of every page.
            campaign=call.bot.pack,
            csrf=call.csrf,
            path=call.request.path,
            notice=notice if isinstance(notice, str) else None,
            **params,
        )


class FormError(Exception):
    """Input a page cannot accept; ``text`` (Chinese) is shown to the operator with a 400."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class Operator:
    """The logged-in operator as pages see them."""

    id: int
    name: str
    role: Role

    def can(self, role: Role) -> bool:
        """Whether this operator's role reaches ``role``."""
        return self.role >= role


class Form:
    """A posted form with typed getters that raise :class:`FormError` in Chinese."""

    def __init__(self, data: MultiDictProxy[Any], call: Call) -> None:
        self.data = data
        self.call = call

    def text(self, name: str, *, label: str, required: bool = True, limit: int = 200) -> str:
        """A text field, stripped; refused when missing (if required) or too long."""
        value = self.data.get(name, "")
        if not isinstance(value, str):
            raise FormError(self.call.t("console.errors.bad_field", field=label))
        value = value.strip()
        if required and not value:
            raise FormError(self.call.t("console.errors.required", field=label))
        if len(value) > limit:
            raise FormError(self.call.t("console.errors.too_long", field=label, limit=limit))
        return value

    def integer(
        self, name: str, *, label: str, low: int = 0, high: int = 10**9, required: bool = True
    ) -> int | None:
        """A whole number in [low, high]; None when empty and not required."""
        raw = self.text(name, label=label, required=required, limit=12)
        if not raw:
            return None
        try:
            value = int(raw)
        except ValueError:
            raise FormError(self.call.t("console.errors.not_number", field=label)) from None
        if not low <= value <= high:
            raise FormError(self.call.t("console.errors.range", field=label, low=low, high=high))
        return value

    def choice(self, name: str, options: Mapping[str, Any] | tuple[str, ...], *, label: str) -> str:
        """One of ``options``."""
        value = self.text(name, label=label)
        if value not in options:
            raise FormError(self.call.t("console.errors.bad_choice", field=label))
        return value

    def decision(self, label: str, note: str, note_label: str) -> tuple[str, str]:
        """A review: ``decision`` approved or rejected, and the ``note`` field (required when
        rejecting: the author or the other operators are told why)."""
        decision = self.choice("decision", ("approved", "rejected"), label=label)
        why = self.text(note, label=note_label, required=decision == "rejected", limit=200)
        return decision, why

    def flag(self, name: str) -> bool:
        """A checkbox."""
        return self.data.get(name) in ("1", "on", "true")

    def all(self, name: str) -> list[str]:
        """Every value of a repeated field (checkbox group)."""
        return [v.strip() for v in self.data.getall(name, []) if isinstance(v, str)]


@dataclass
class Call:
    """One request to a console page."""

    request: web.Request
    bot: BotContext
    operator: Operator
    csrf: str
    renderer: Renderer
    # The posted form, read once by the CSRF check (a body can be read only once).
    posted: MultiDictProxy[Any] | None = None
    # Export jobs (files built in the background, reported by any process).
    exports: Exports | None = None

    def t(self, key: str, /, **params: Any) -> str:
        """A console text."""
        return self.bot.texts(key, **params)

    @property
    def actor(self) -> Actor:
        """The operator as the operations layer and the audit log name them
        (``console:NAME``). An operation's refusal (``OperationError``) is shown by the
        console's middleware as a 400 page with its Chinese text."""
        return Actor.console(self.operator.name)

    def render(self, template: str, status: int = 200, **params: Any) -> web.Response:
        """A page from ``template`` with the menu, the operator and the CSRF token."""
        return self.renderer.page(self, template, status=status, **params)

    def done(self, path: str, notice: str) -> NoReturn:
        """Redirect after a successful action; ``notice`` names a text under console.done."""
        sep = "&" if "?" in path else "?"
        raise web.HTTPSeeOther(f"/console{path}{sep}done={notice}")

    async def export(
        self,
        fmt: str,
        stem: str,
        build: Rows | None = None,
        *,
        personal: bool,
        write: Writer | None = None,
    ) -> NoReturn:
        """Start an export job (sheets from ``build``, or a file from ``write``) and go to its
        progress page."""
        assert self.exports is not None
        if build is not None:
            job = await self.exports.start(self.operator.id, fmt, stem, build, personal=personal)
        else:
            assert write is not None
            job = await self.exports.start_file(
                self.operator.id, fmt, stem, write, personal=personal
            )
        raise web.HTTPSeeOther(f"/console/exports/{job}")

    def query(self, name: str, limit: int = 100) -> str:
        """A query-string parameter, stripped and cut to ``limit``."""
        return self.request.query.get(name, "").strip()[:limit]

    def query_int(self, name: str, default: int = 0, high: int = 10**9) -> int:
        """A non-negative whole-number query parameter; ``default`` when absent or bad."""
        raw = self.request.query.get(name, "")
        if raw.isdigit() and len(raw) < 10:
            return min(int(raw), high)
        return default

    async def row(self, model: type[R], name: str = "id") -> R:
        """The ``model`` row numbered by the path's ``{name}``; 404 when there is none."""
        async with self.bot.sessions() as session:
            found = await session.get(model, self.number(name))
        if found is None:
            raise web.HTTPNotFound()
        return found

    def number(self, name: str) -> int:
        """A numeric path segment; 404 when it is not one."""
        raw = self.request.match_info.get(name, "")
        if not raw.isdigit() or len(raw) > 9:
            raise web.HTTPNotFound()
        return int(raw)

    async def form(self) -> Form:
        """The posted form (read by the CSRF check before the page runs)."""
        data = self.posted if self.posted is not None else await read_form(self.request)
        for value in data.values():
            if isinstance(value, str) and len(value) > MAX_FIELD:
                raise FormError(self.t("console.errors.too_large"))
        return Form(data, self)

    def require(self, role: Role) -> None:
        """403 unless the operator's role reaches ``role`` (for actions inside a page)."""
        if not self.operator.can(role):
            raise web.HTTPForbidden()


async def read_form(request: web.Request, max_bytes: int | None = None) -> MultiDictProxy[Any]:
    """The posted form; malformed bodies are a 400, too large a 413 (never a 500)."""
    target = request if max_bytes is None else request.clone(client_max_size=max_bytes)
    try:
        return await target.post()
    except web.HTTPException:
        raise
    except (ValueError, LookupError, AssertionError, HttpProcessingError) as exc:
        raise web.HTTPBadRequest(text="malformed form") from exc
