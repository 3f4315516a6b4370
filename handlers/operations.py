"""What every operator operation shares: who acts, how bad input is refused, the audit row.

An operation is one async function in its feature (``handlers/<feature>_ops.py``) that takes
the acting ``Actor``, validates, writes, records exactly one audit row through ``audit`` and
queues its notifications, in one transaction. The CLI only parses, calls and prints; the web
console calls the same functions. Operations never print and never read argparse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.context import BotContext
from handlers.content import Texts
from storage.audit import AUTHOR, SYSTEM, Actor, record
from storage.db import Session

__all__ = ["AUTHOR", "SYSTEM", "Actor", "OperationError", "Progress", "audit", "no_progress"]

# Told after each item a long operation has handled: (done, total). The CLI draws a progress
# line from it; the console can report it.
Progress = Callable[[int, int], None]


def no_progress(_done: int, _total: int) -> None:
    """A Progress that reports nothing."""


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


def audit(bot: BotContext, session: Session, actor: Actor, action: str, **detail: object) -> None:
    """Record the operation in the audit log, in ``session``'s transaction, at the bot's now."""
    record(session, bot.clock.now(), actor, action, **detail)
