"""Routers and composable filters: one router per feature, included in an explicit order.

A filter looks at an ``Inbound`` and returns a truthy match (``True`` or a ``re.Match``);
``Text("报名") | Click("VOLUNTEER_SIGNUP")`` composes them.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Any

from bot.kernel.context import BotContext
from bot.kernel.message import Event, Inbound, Kind, Reply, fold, normalize

if TYPE_CHECKING:
    from bot.kernel.context import BotContext
    from handlers.context import Ctx

MatchResult = bool | re.Match[str]
Handler = Callable[["Ctx"], Awaitable[Reply | None]]
# Network work for a route's message before its transaction opens (see Route.prepare).
Prepare = Callable[[BotContext, Inbound], Awaitable[None]]


@dataclass(frozen=True)
class TextGate:
    """Every text a filter can pass: exact words (as ``Inbound.folded``) and prefixes of
    ``Inbound.word``. ``first_match`` skips a router whose gate a text message fails: a
    keyword answer otherwise ran some thirty filters first (about a tenth of its CPU)."""

    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def __or__(self, other: TextGate) -> TextGate:
        return TextGate(self.exact | other.exact, self.prefixes + other.prefixes)


NO_TEXT = TextGate()  # the gate of a filter that passes no text message


class Filter:
    """Base filter; subclasses implement ``check``."""

    def check(self, msg: Inbound) -> MatchResult:
        raise NotImplementedError  # abstract

    def text_gate(self) -> TextGate | None:
        """The texts this filter can pass, or None if it cannot tell (any text may pass)."""
        return None

    def clicks(self) -> frozenset[str]:
        """The menu click keys this filter passes (which features a menu button reaches)."""
        return frozenset()

    def __or__(self, other: Filter) -> Filter:
        return _Or(self, other)

    def __and__(self, other: Filter) -> Filter:
        return _And(self, other)


@dataclass(frozen=True)
class _Or(Filter):
    left: Filter
    right: Filter

    def check(self, msg: Inbound) -> MatchResult:
        return self.left.check(msg) or self.right.check(msg)

    def text_gate(self) -> TextGate | None:
        left, right = self.left.text_gate(), self.right.text_gate()
        return None if left is None or right is None else left | right

    def clicks(self) -> frozenset[str]:
        return self.left.clicks() | self.right.clicks()


@dataclass(frozen=True)
class _And(Filter):
    left: Filter
    right: Filter

    def check(self, msg: Inbound) -> MatchResult:
        first = self.left.check(msg)
        return (self.right.check(msg) or False) and first

    def text_gate(self) -> TextGate | None:
        left = self.left.text_gate()  # either side's gate bounds what both pass
        return left if left is not None else self.right.text_gate()

    def clicks(self) -> frozenset[str]:
        return self.left.clicks() | self.right.clicks()


# Voice messages with the platform's speech recognition are matched like typed text.
TEXTUAL = frozenset({Kind.TEXT, Kind.VOICE})


class Text(Filter):
    """Exact text (after normalisation), any of ``words``; case-insensitive."""

    def __init__(self, *words: str) -> None:
        self.words = frozenset(fold(w) for w in words)

    def check(self, msg: Inbound) -> MatchResult:
        return msg.kind in TEXTUAL and msg.folded in self.words

    def text_gate(self) -> TextGate | None:
        return TextGate(self.words)


class Command(Filter):
    """A word followed by an argument, e.g. ``Command("投票", r"\\d+")`` matches '投票 12'.

    The match's group 1 is the argument. The space is optional ('投票12')."""

    def __init__(self, *words: str, arg: str = r".+") -> None:
        alternatives = "|".join(re.escape(normalize(w)) for w in words)
        self.pattern = re.compile(rf"^(?:{alternatives})\s*({arg})$", re.IGNORECASE)
        prefixes = tuple(normalize(w) for w in words)
        # A word without upper or lower case (Chinese) matches only itself, IGNORECASE or not.
        uncased = all(w == w.lower() == w.upper() for w in prefixes)
        self._gate = TextGate(prefixes=prefixes) if uncased else None

    def check(self, msg: Inbound) -> MatchResult:
        if msg.kind not in TEXTUAL:
            return False
        return self.pattern.match(msg.word) or False

    def text_gate(self) -> TextGate | None:
        return self._gate


class Regex(Filter):
    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)

    def check(self, msg: Inbound) -> MatchResult:
        return (msg.kind in TEXTUAL and self.pattern.search(msg.word)) or False


class IsKind(Filter):
    def __init__(self, *kinds: Kind) -> None:
        self.kinds = frozenset(kinds)

    def check(self, msg: Inbound) -> MatchResult:
        return msg.kind in self.kinds

    def text_gate(self) -> TextGate | None:
        return None if self.kinds & TEXTUAL else NO_TEXT


class OnEvent(Filter):
    def __init__(self, *events: Event) -> None:
        self.events = frozenset(events)

    def check(self, msg: Inbound) -> MatchResult:
        return msg.kind is Kind.EVENT and msg.event in self.events

    def text_gate(self) -> TextGate | None:
        return NO_TEXT


class Click(Filter):
    """A custom-menu click with one of ``keys``."""

    def __init__(self, *keys: str) -> None:
        self.keys = frozenset(keys)

    def check(self, msg: Inbound) -> MatchResult:
        return msg.kind is Kind.EVENT and msg.event is Event.CLICK and msg.event_key in self.keys

    def clicks(self) -> frozenset[str]:
        return self.keys

    def text_gate(self) -> TextGate | None:
        return NO_TEXT


class Scene(Filter):
    """A subscribe or scan from a parametric QR code whose scene starts with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def check(self, msg: Inbound) -> MatchResult:
        return (
            msg.kind is Kind.EVENT
            and msg.event in (Event.SUBSCRIBE, Event.SCAN)
            and (msg.scene or "").startswith(self.prefix)
        )

    def text_gate(self) -> TextGate | None:
        return NO_TEXT


class Anything(Filter):
    def check(self, msg: Inbound) -> MatchResult:
        return True


@dataclass
class Route:
    filter: Filter
    handler: Handler
    name: str
    # A pure handler only reads: its messages skip the per-message transaction (see dispatch).
    pure: bool = False
    # Run by the dispatcher before the message's transaction opens: a platform API call there
    # would hold the write lock (SQLite) or a pooled connection for its whole round trip. It
    # leaves what it learnt where the handler finds it (a short-lived cache); the handler
    # must cope when it learnt nothing.
    prepare: Prepare | None = None


@dataclass
class Router:
    """An ordered list of routes for one feature."""

    name: str
    routes: list[Route] = field(default_factory=list)
    # Run once when the app starts serving, before the first message (warming a cache the
    # routes' filters read, which cannot wait for the database themselves).
    on_start: list[Callable[[BotContext], Awaitable[None]]] = field(default_factory=list)
    # The gate of all routes, and how many routes it was computed for.
    _gate: tuple[int, TextGate | None] = field(
        default=(-1, None), init=False, repr=False, compare=False
    )

    def text_gate(self) -> TextGate | None:
        """The texts any of the routes can pass (None: any text may pass)."""
        count, gate = self._gate
        if count != len(self.routes):
            gates = [route.filter.text_gate() for route in self.routes]
            known = [g for g in gates if g is not None]
            gate = reduce(operator.or_, known, NO_TEXT) if len(known) == len(gates) else None
            self._gate = (len(self.routes), gate)
        return gate

    def on(
        self,
        flt: Filter,
        *,
        name: str | None = None,
        pure: bool = False,
        prepare: Prepare | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated handler for messages passing ``flt``.

        ``pure=True`` promises the handler writes nothing (it may read); such messages are
        answered without a transaction. Anything with a side effect must leave it False."""

        def register(handler: Handler) -> Handler:
            route_name = name or f"{self.name}.{handler.__name__}"
            self.routes.append(Route(flt, handler, route_name, pure, prepare))
            return handler

        return register

    def add(self, flt: Filter, handler: Handler, name: str, *, pure: bool = False) -> None:
        """Register ``handler`` without a decorator (built routes, e.g. flow entries)."""
        self.routes.append(Route(flt, handler, name, pure))


def first_match(routers: Iterable[Router], msg: Inbound) -> tuple[Route, Any] | None:
    """The first route, in router order, whose filter passes ``msg``, with the match."""
    textual = msg.kind in TEXTUAL
    folded, word = (msg.folded, msg.word) if textual else ("", "")
    for router in routers:
        if textual:
            count, gate = router._gate  # text_gate() inlined: this runs for every message
            if count != len(router.routes):
                gate = router.text_gate()
            if gate is not None and folded not in gate.exact and not word.startswith(gate.prefixes):
                continue
        for route in router.routes:
            matched = route.filter.check(msg)
            if matched:
                return route, matched
    return None
