"""What every operator operation shares: who acts, how bad input is refused, the audit row.

An operation is one async function in its feature (``handlers/<feature>_ops.py``) that takes
the acting ``Actor``, validates, writes, records exactly one audit row through ``audit`` and
queues its notifications, in one transaction. The CLI only parses, calls and prints; the web
console calls the same functions. Operations never print and never read argparse.
"""

from __future__ import annotations

from typing import Any, Protocol

from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from storage.audit import AUTHOR, SYSTEM, Actor, record
from storage.db import Session

__all__ = ["AUTHOR", "SYSTEM", "Actor", "Counter", "OperationError", "audit", "checked_text"]


class Counter(Protocol):
    """Progress of a long operator action (the CLI's progress line, a console job): the
    operation sets ``total`` once it knows it and advances once per item done."""

    total: int

    def advance(self, n: int = 1) -> None: ...


class OperationError(Exception):
    """Bad input to an operation. ``key`` names its Chinese text in the content files (what the
    console shows, filled with ``params``); ``str()`` is the English line the CLI prints."""

    def __init__(self, key: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.key = key
        self.params = params

    def text(self, texts: Texts) -> str:
        """The Chinese message for operators."""
        return texts(self.key, **self.params)


def checked_text(
    text: str, limit: int, key: str, what: str, error: type[OperationError] = OperationError
) -> str:
    """``text`` when it is neither empty nor longer than ``limit`` characters; otherwise
    ``error`` with the content key ``<key>_empty`` or ``<key>_long`` (given ``limit``)."""
    if not text:
        raise error(f"{key}_empty", f"the {what} is empty")
    if len(text) > limit:
        raise error(f"{key}_long", f"the {what} is longer than {limit} characters", limit=limit)
    return text


def audit(bot: BotContext, session: Session, actor: Actor, action: str, **detail: object) -> None:
    """Record the operation in the audit log, in ``session``'s transaction, at the bot's now."""
    record(session, bot.clock.now(), actor, action, **detail)
