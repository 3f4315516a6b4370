"""The per-message context handed to every handler."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import BotContext
from bot.message import Inbound, Reply


@dataclass
class Ctx:
    """One message being handled: the message, its database session and the app's services.

    The session's transaction also records the message as handled, so a handler's writes and
    the dedupe marker commit together: a retried message can never apply them twice.
    Do network I/O before writing (on SQLite a write transaction blocks other writers).
    """

    inbound: Inbound
    session: AsyncSession
    bot: BotContext
    match: Any = None
    # Texts to put in front of the reply (expired-flow notices, pending notices).
    notices: list[str] = field(default_factory=list)

    def t(self, key: str, /, **params: Any) -> str:
        """A text from the content files."""
        return self.bot.texts(key, **params)

    def reply(self, key: str, /, **params: Any) -> Reply:
        """A text reply from the content files."""
        return Reply.of_text(self.t(key, **params))

    @property
    def arg(self) -> str:
        """Group 1 of a Command/Regex match, or ''."""
        if isinstance(self.match, re.Match) and self.match.groups():
            return self.match.group(1) or ""
        return ""
