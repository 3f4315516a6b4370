"""The per-message context handed to every handler."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from bot.kernel.context import BotContext
from bot.kernel.message import Inbound, Reply
from storage.conversations import ConversationStore, SqlConversationStore
from storage.db import Session


class Ctx:
    """One message being handled: the message, its database session and the app's services.

    On the transactional path the session's transaction also records the message as handled,
    so a handler's writes and the dedupe marker commit together: a retried message can never
    apply them twice. On the pure path (read-only handlers) the session is opened only if the
    handler touches it. Do network I/O before writing (a SQLite write transaction blocks other
    writers); a flow step that needs it declares a ``prepare`` hook, which the dispatcher runs
    before opening the transaction, and finds its result in ``prepared``.
    """

    __slots__ = (
        "_conversations",
        "_session",
        "after_commit",
        "bot",
        "inbound",
        "match",
        "notices",
        "prepared",
        "private",
    )

    def __init__(
        self,
        inbound: Inbound,
        bot: BotContext,
        session: Session | None = None,
        match: Any = None,
        notices: list[str] | None = None,
        prepared: Any = None,
        conversations: ConversationStore | None = None,
    ) -> None:
        self.inbound = inbound
        self.bot = bot
        self._session = session
        # None: the conversations table, through this message's session.
        self._conversations = conversations
        self.match = match
        # Texts to put in front of the reply (expired-flow notices, pending notices).
        self.notices: list[str] = notices if notices is not None else []
        # What the current flow step's ``prepare`` hook produced before the transaction.
        self.prepared = prepared
        # The message is personal data (an answer inside a flow): the message log keeps
        # neither its text nor a readable copy of the reply.
        self.private = False
        # Work for once the message's transaction has committed (a notice that goes out as a
        # message of its own); the dispatcher runs it after answering.
        self.after_commit: list[Callable[[], Coroutine[Any, Any, None]]] = []

    @property
    def session(self) -> Session:
        """The message's database session (opened on first use on the pure path)."""
        if self._session is None:
            self._session = self.bot.sessions()
        return self._session

    @property
    def conversations(self) -> ConversationStore:
        """Where the sender's flow state lives (the message's transaction by default)."""
        if self._conversations is None:
            self._conversations = SqlConversationStore(self.session)
        return self._conversations

    async def close(self) -> None:
        """Close a session this context opened itself."""
        if self._session is not None:
            await self._session.close()

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
