"""The clients' shared ground. The protocol and the typed errors live in the kernel
(``bot.kernel.clients``), since features and jobs catch them without knowing any client."""

from __future__ import annotations

from bot.kernel.clients import ApiError, ChannelClient, OutsideWindow

__all__ = ["ApiError", "ChannelClient", "OutsideWindow"]
