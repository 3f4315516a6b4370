"""What the dispatcher, features and jobs need from any channel's API client: the protocol
every client implements and its typed errors."""

from __future__ import annotations

from typing import Protocol

from bot.kernel.message import Reply


class ApiError(Exception):
    """A platform API answered with an error code (typed, never parsed out of strings)."""

    def __init__(self, code: int, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {code} {message}" if path else f"{code} {message}")
        self.code = code
        self.message = message
        self.path = path


class OutsideWindow(ApiError):
    """The user cannot be messaged now (48-hour window closed, or unfollowed)."""


class ChannelClient(Protocol):
    async def send_reply(self, user: str, reply: Reply) -> None:
        """Deliver ``reply`` to ``user`` outside a passive answer (customer-service / active)."""
        ...

    async def upload_image(self, path: str) -> str:
        """Upload a local image; returns the platform's media id."""
        ...

    async def download_media(self, media_id: str, url: str | None = None) -> tuple[bytes, str]:
        """The bytes and content type of a user's media."""
        ...

    async def close(self) -> None:
        """Release the HTTP session."""
        ...
