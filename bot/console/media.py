"""Stored pictures (logo designs, story photos) served to operators, pending ones included."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

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
