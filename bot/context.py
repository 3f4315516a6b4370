"""The one explicit context the app factory builds and every handler, job and CLI receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.clients.base import ChannelClient
from bot.clock import Clock
from bot.kernel.config import Config
from bot.message import Channel
from bot.privacy import Cipher
from handlers.content import Texts
from storage.db import Sessions


@dataclass
class BotContext:
    config: Config
    sessions: Sessions
    clock: Clock
    texts: Texts
    cipher: Cipher
    clients: dict[Channel, ChannelClient] = field(default_factory=dict)
    # Feature-owned services registered at start-up (e.g. the scheduler), by name.
    extras: dict[str, Any] = field(default_factory=dict)

    def client(self, channel: Channel) -> ChannelClient:
        """The API client of ``channel``; KeyError if that channel is not configured."""
        return self.clients[channel]
