"""Conversation state: where each user is in a multi-step flow, behind one store interface.

The conversation engine (``handlers.conversation``) reads and writes state only through a
``ConversationStore``. ``SqlConversationStore`` keeps it in the ``conversations`` table inside
the message's own transaction, so a step's writes, its new state and the message's dedupe
marker commit together; ``MemoryConversationStore`` keeps it in a dict, for handler unit tests
that need no database. Both pass one contract test (tests/storage/test_conversations.py).
The store never reads ``data``: the engine encrypts the answers before they get here.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.kernel.message import UserKey
from storage.models import Conversation


@dataclass(frozen=True)
class FlowState:
    """A user's place in a flow; ``data`` is opaque here (encrypted answers and history)."""

    flow: str
    step: str
    data: str
    updated_at: datetime
    expires_at: datetime
    # Bumped by every save: two workers handling two messages of one user never both advance.
    version: int = 0


# What a state and its row share; the key and the version are each side's own business.
_FIELDS = ("flow", "step", "data", "updated_at", "expires_at")


def _copy(state: FlowState, row: Conversation) -> None:
    for name in _FIELDS:
        setattr(row, name, getattr(state, name))


class ConversationStore(ABC):
    """Reads and writes conversation state; implementations keep the semantics below."""

    @abstractmethod
    async def get(self, key: UserKey, *, lock: bool = False) -> FlowState | None:
        """The user's state, or None. With ``lock`` the state is held until the surrounding
        transaction ends, so two messages of one user are handled one after the other."""

    @abstractmethod
    async def set(self, key: UserKey, state: FlowState) -> FlowState:
        """Create or replace the user's state; returns it with its new version (0 when
        created, the stored version plus one when replaced)."""

    @abstractmethod
    async def delete(self, key: UserKey) -> None:
        """Forget the user's state (nothing happens when there is none)."""


# Read on every message of someone in a flow: built once, not per message. FOR UPDATE
# serialises two messages of one user on PostgreSQL; SQLite's write lock (BEGIN IMMEDIATE)
# already does.
_ROW = select(Conversation).where(Conversation.of_bound_user())
_ROW_LOCKED = _ROW.with_for_update()


class SqlConversationStore(ConversationStore):
    """State in the ``conversations`` table, written in ``session``'s transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # Rows this store loaded: saving one updates it instead of querying again.
        self._rows: dict[UserKey, Conversation] = {}

    async def _row(self, key: UserKey, *, lock: bool) -> Conversation | None:
        query = _ROW_LOCKED if lock else _ROW
        params = Conversation.columns_of(key)
        row = (await self.session.execute(query, params)).scalar_one_or_none()
        if row is None:
            self._rows.pop(key, None)
        else:
            self._rows[key] = row
        return row

    async def get(self, key: UserKey, *, lock: bool = False) -> FlowState | None:
        """The user's state, or None (see ``ConversationStore.get``)."""
        row = await self._row(key, lock=lock)
        if row is None:
            return None
        return FlowState(**{name: getattr(row, name) for name in _FIELDS}, version=row.version)

    async def set(self, key: UserKey, state: FlowState) -> FlowState:
        """Create or replace the user's state (see ``ConversationStore.set``)."""
        row = self._rows.get(key) or await self._row(key, lock=False)
        if row is None:
            row = Conversation(**Conversation.columns_of(key), version=0)
            _copy(state, row)
            self.session.add(row)
            # Now, not at commit: a concurrent first message of the same user loses here, on
            # the unique key, and the dispatcher runs it again on fresh state.
            await self.session.flush()
            self._rows[key] = row
            return dataclasses.replace(state, version=0)
        _copy(state, row)
        row.version += 1
        return dataclasses.replace(state, version=row.version)

    async def delete(self, key: UserKey) -> None:
        """Forget the user's state (see ``ConversationStore.delete``)."""
        self._rows.pop(key, None)
        await self.session.execute(delete(Conversation).where(Conversation.of_user(key)))


class MemoryConversationStore(ConversationStore):
    """State in a dict: one process, no database (handler unit tests, tools)."""

    def __init__(self) -> None:
        self._states: dict[UserKey, FlowState] = {}

    async def get(self, key: UserKey, *, lock: bool = False) -> FlowState | None:
        """The user's state, or None; ``lock`` needs nothing in one process's event loop."""
        return self._states.get(key)

    async def set(self, key: UserKey, state: FlowState) -> FlowState:
        """Create or replace the user's state (see ``ConversationStore.set``)."""
        old = self._states.get(key)
        saved = dataclasses.replace(state, version=0 if old is None else old.version + 1)
        self._states[key] = saved
        return saved

    async def delete(self, key: UserKey) -> None:
        """Forget the user's state."""
        self._states.pop(key, None)
