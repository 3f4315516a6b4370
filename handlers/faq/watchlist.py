"""The watchlist: categories of words and patterns that flag a message for operators.

Read from the ``watchlist`` content file, so each campaign (and each office) edits its own
list without code. Matching folds full-width characters and case, like the FAQ.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.kernel.content import ContentError, Texts

ACTIONS = ("flag", "reply", "route")


@dataclass(frozen=True)
class Category:
    """One ``[[category]]`` of the watchlist file: a match files the message in the inbox at
    ``severity`` (1-3); ``action`` reply and route also answer with ``reply``."""

    name: str
    title: str
    severity: int
    action: str
    words: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    reply: str

    def matches(self, folded: str) -> bool:
        """Whether the (folded) text contains a word or pattern of this category."""
        return any(w in folded for w in self.words) or any(p.search(folded) for p in self.patterns)


@dataclass(frozen=True)
class Watchlist:
    categories: tuple[Category, ...]

    @classmethod
    def from_texts(cls, texts: Texts) -> Watchlist:
        """The categories of the watchlist content file, validated."""
        raw: Sequence[Mapping[str, Any]] = texts.file("watchlist").get("category", [])
        out = []
        for i, cat in enumerate(raw):
            where = f"watchlist.category[{i}]"
            action = cat.get("action", "flag")
            if action not in ACTIONS:
                raise ContentError(f"{where}.action: must be one of {ACTIONS}")
            severity = cat.get("severity")
            if not isinstance(severity, int) or not 1 <= severity <= 3:
                raise ContentError(f"{where}.severity: must be 1, 2 or 3")
            reply = str(cat.get("reply", "")).strip("\n")
            if action != "flag" and not reply:
                raise ContentError(f"{where}.reply: required for action {action!r}")
            try:
                patterns = tuple(re.compile(_fold(p)) for p in cat.get("patterns", []))
            except re.error as exc:
                raise ContentError(f"{where}.patterns: {exc}") from None
            out.append(
                Category(
                    name=str(cat["name"]),
                    title=str(cat.get("title", cat["name"])),
                    severity=severity,
                    action=action,
                    words=tuple(_fold(w) for w in cat.get("words", [])),
                    patterns=patterns,
                    reply=reply,
                )
            )
        return cls(tuple(out))

    def check(self, text: str) -> Category | None:
        """The first category ``text`` falls into, if any."""
        folded = _fold(text)
        for category in self.categories:
            if category.matches(folded):
                return category
        return None


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()
