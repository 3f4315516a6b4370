"""Stored pictures (logo designs, story photos) served to operators, pending ones included."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from bot.console.call import Call
from bot.console.pages import Role, Section
from bot.kernel.config import Config

# Files are named by the SHA-256 of their bytes: nothing else can name a file, or leave the folder.
MEDIA_NAME = re.compile(r"^[0-9a-f]{64}\.(png|jpg)$")
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


def media_file(folder: Path, name: str) -> web.FileResponse:
    """The picture ``name`` in ``folder``; 404 for any other name or a missing file."""
    m = MEDIA_NAME.match(name)
    path = folder / name
    if m is None or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": CONTENT_TYPES[m[1]]})


def media_route(section: Section, path: str, folder: Callable[[Config], Path]) -> None:
    """Serve ``folder``'s pictures at ``path`` (ending in ``{name}``) to every operator:
    operators review pending ones, which the public pages do not show."""

    async def picture(call: Call) -> web.StreamResponse:
        return media_file(folder(call.bot.config), call.request.match_info["name"])

    section.get(path, role=Role.VIEWER)(picture)
