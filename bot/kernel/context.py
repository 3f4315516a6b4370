"""The one explicit context the app factory builds and every handler, job and CLI receives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.kernel.campaign import Pack
from bot.kernel.clients import ChannelClient
from bot.kernel.clock import Clock
from bot.kernel.config import Config
from bot.kernel.content import Texts
from bot.kernel.message import Channel
from bot.kernel.privacy import Cipher

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class BotContext:
    config: Config
    sessions: Sessions
    clock: Clock
    texts: Texts
    cipher: Cipher
    # The campaign pack running (its name and title are shown by the chat simulator and the
    # console; its features decide which routers answer).
    pack: Pack
    clients: dict[Channel, ChannelClient] = field(default_factory=dict)
    # Feature-owned services registered at start-up (e.g. the scheduler), by name.
    extras: dict[str, Any] = field(default_factory=dict)
    # (channel, account, user, message key) -> whether the user follows as far as the
    # followers table knows (None: no row), and whether that message is already taken by
    # another delivery (storage.hotpath.StateProbe.follows); read outside any transaction
    # (the state probe's connection). The app sets it, tests may leave it.
    follower_lookup: Callable[[str, str, str, str], Awaitable[tuple[bool | None, bool]]] | None = (
        None
    )

    def client(self, channel: Channel) -> ChannelClient:
        """The API client of ``channel``; KeyError if that channel is not configured."""
        return self.clients[channel]
