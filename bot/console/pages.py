"""How a feature declares its console pages.

A feature builds one :class:`Section` and decorates its page handlers with the least role each
needs::

    section = Section("keywords", nav="console.nav.keywords", order=40)

    @section.get("/keywords", role=Role.VIEWER)
    async def rules(call: Call) -> web.StreamResponse:
        return call.render("keywords.html", rules=...)

    @section.post("/keywords/add", role=Role.EDITOR)
    async def add(call: Call) -> web.StreamResponse:
        form = await call.form()
        ...
        return call.done("/keywords", "keyword_added")

The console mounts every section's routes under ``/console``, and the wrapper it puts around
each handler does what no page can forget: the login, the role (403 below it), and for a POST
the CSRF token and the Origin/Referer check. ``nav`` (a content key) puts the section's first
page in the menu, shown to operators whose role reaches ``nav_role``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from handlers.operators import Role

# ``async def page(call: bot.console.call.Call) -> web.StreamResponse`` (typed loosely here:
# the call module builds on this one).
Handler = Callable[[Any], Awaitable[web.StreamResponse]]
# The decorated handler keeps its own signature (a page may take optional extras).
H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])


@dataclass(frozen=True)
class PageRoute:
    """One route of a section: method, path under /console, least role, handler."""

    method: str
    path: str
    role: Role
    handler: Handler


@dataclass
class Section:
    """The console pages of one feature."""

    name: str
    # Content key of the menu label; None: no menu entry (pages reached from other pages).
    nav: str | None = None
    nav_role: Role = Role.VIEWER
    # Menu position, lowest first.
    order: int = 100
    routes: list[PageRoute] = field(default_factory=list)

    def _add(self, method: str, path: str, role: Role) -> Callable[[H], H]:
        if not path.startswith("/"):
            raise ValueError(f"console path must start with '/': {path!r}")

        def decorate(handler: H) -> H:
            self.routes.append(PageRoute(method, path, role, handler))
            return handler

        return decorate

    def get(self, path: str, *, role: Role) -> Callable[[H], H]:
        """Register a page (GET) that operators of ``role`` and above may see."""
        return self._add("GET", path, role)

    def post(self, path: str, *, role: Role) -> Callable[[H], H]:
        """Register an action (POST) that operators of ``role`` and above may take."""
        return self._add("POST", path, role)

    @property
    def home(self) -> str:
        """The path the menu links to: the first GET page declared."""
        for route in self.routes:
            if route.method == "GET":
                return route.path
        raise ValueError(f"section {self.name} has no page")
