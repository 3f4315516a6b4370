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
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.kernel.message import UserKey
from storage.db import Prebuilt
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


_TABLE: Table = Conversation.__table__  # type: ignore[assignment]
# Read and written on every message of someone in a flow: built once and run as plain
# statements, not per message through the ORM (loading, dirty tracking and the flush cost more
# than the SQL). FOR UPDATE serialises two messages of one user on PostgreSQL; SQLite's write
# lock (BEGIN IMMEDIATE) already does.
_STATE_QUERY = select(*(_TABLE.c[name] for name in _FIELDS), _TABLE.c.version).where(
    Conversation.of_bound_user()
)
_STATE = Prebuilt(_STATE_QUERY)
# The locked read, also as a CTE for statements that read it along (the claim on PostgreSQL).
STATE_LOCKED = _STATE_QUERY.with_for_update()
_STATE_LOCKED = Prebuilt(STATE_LOCKED)
_KEPT = "storage.conversations.kept"


def keep_state(session: AsyncSession, person: tuple[str, str, str], row: Any) -> None:
    """Keep the person's state as read, locked, in this transaction by another statement (the
    message's claim on PostgreSQL; ``row``: its ``_FIELDS`` and version, or None for no
    state), for the next ``SqlConversationStore.get`` of the transaction."""
    sync = session.sync_session
    sync.info[_KEPT] = (sync.get_transaction(), person, row)


_INSERT = Prebuilt(insert(_TABLE))
# The new values are the parameters named after their columns; the person's are key_*.
_UPDATE = Prebuilt(
    update(_TABLE).where(
        *(_TABLE.c[name] == bindparam(f"key_{name}") for name in ("channel", "account", "user_id"))
    )
)
_DELETE = Prebuilt(delete(_TABLE).where(Conversation.of_bound_user()))


class SqlConversationStore(ConversationStore):
    """State in the ``conversations`` table, written in ``session``'s transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # The stored version of each user's row this store read or wrote: saving a known row
        # updates it instead of reading it again.
        self._versions: dict[UserKey, int] = {}

    async def get(self, key: UserKey, *, lock: bool = False) -> FlowState | None:
        """The user's state, or None (see ``ConversationStore.get``)."""
        params = Conversation.columns_of(key)
        sync = self.session.sync_session
        kept = sync.info.pop(_KEPT, None)
        if (
            kept is not None
            and kept[0] is sync.get_transaction()
            and kept[1] == (params["channel"], params["account"], params["user_id"])
        ):
            row = kept[2]  # read (and locked) in this transaction already
        else:
            row = await (_STATE_LOCKED if lock else _STATE).first(self.session, params)
        if row is None:
            self._versions.pop(key, None)
            return None
        state = FlowState(row.flow, row.step, row.data, row.updated_at, row.expires_at, row.version)
        self._versions[key] = state.version
        return state

    async def set(self, key: UserKey, state: FlowState) -> FlowState:
        """Create or replace the user's state (see ``ConversationStore.set``)."""
        if key not in self._versions:
            await self.get(key)
        person = Conversation.columns_of(key)
        version = self._versions.get(key)
        if version is None:
            # Now, not at commit: a concurrent first message of the same user loses here, on
            # the unique key, and the dispatcher runs it again on fresh state.
            values = {name: getattr(state, name) for name in _FIELDS}
            await _INSERT.run(self.session, {**person, **values, "version": 0})
            self._versions[key] = 0
            return dataclasses.replace(state, version=0)
        values = {name: getattr(state, name) for name in _FIELDS}
        keys = {f"key_{name}": value for name, value in person.items()}
        await _UPDATE.run(self.session, {**keys, **values, "version": version + 1})
        self._versions[key] = version + 1
        return dataclasses.replace(state, version=version + 1)

    async def delete(self, key: UserKey) -> None:
        """Forget the user's state (see ``ConversationStore.delete``)."""
        self._versions.pop(key, None)
        await _DELETE.run(self.session, Conversation.columns_of(key))


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
