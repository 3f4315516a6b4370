"""The 志愿证书 image certificate: a PNG with the volunteer's name, hours, star level and date."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.fonts import cjk_font_path
from bot.kernel.privacy import write_private

# A certificate carries the volunteer's full name: it is needed only until it is uploaded as
# the reply (seconds; a late reply minutes), so a day is plenty.
KEEP_SECONDS = 24 * 3600
FOLDER = "certificates"  # under server.data_dir
_NAME_RE = re.compile(r"volunteer-(\d+)-\d{4}-\d{2}-\d{2}\.png")

WIDTH, HEIGHT = 1200, 850
RED = (178, 34, 34)
GOLD = (196, 150, 60)
INK = (40, 40, 40)


def render(
    path: Path, *, title: str, salutation: str, lines: list[str], issuer: str, issued: str
) -> Path:
    """Draw the certificate to ``path`` (PNG) and return it."""
    font = cjk_font_path()
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 252, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, WIDTH - 20, HEIGHT - 20), outline=RED, width=10)
    draw.rectangle((45, 45, WIDTH - 45, HEIGHT - 45), outline=GOLD, width=3)
    big = ImageFont.truetype(font, 84)
    body = ImageFont.truetype(font, 40)
    small = ImageFont.truetype(font, 34)
    draw.text((WIDTH // 2, 150), title, font=big, fill=RED, anchor="mm")
    draw.text((140, 290), salutation, font=body, fill=INK)
    y = 370
    for line in lines:
        draw.text((220, y), line, font=body, fill=INK)
        y += 70
    draw.text((WIDTH - 140, HEIGHT - 200), issuer, font=small, fill=INK, anchor="ra")
    draw.text((WIDTH - 140, HEIGHT - 145), issued, font=small, fill=INK, anchor="ra")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return write_private(path, buffer.getvalue())  # 0600 in a 0700 folder: it names a person


def file_name(volunteer_id: int, day: date) -> str:
    """One file per volunteer and day: asking twice a day re-renders the same file."""
    return f"volunteer-{volunteer_id}-{day.isoformat()}.png"


def remove_volunteer(directory: Path, volunteer_id: int) -> int:
    """Delete every certificate of ``volunteer_id`` (注销); returns how many went."""
    return _remove(directory, lambda vid, _age: vid == volunteer_id)


def purge_old(directory: Path, now: float | None = None) -> int:
    """Delete certificates older than ``KEEP_SECONDS``; returns how many went."""
    now = time.time() if now is None else now
    return _remove(directory, lambda _vid, mtime: mtime < now - KEEP_SECONDS)


def _remove(directory: Path, doomed: Callable[[int, float], bool]) -> int:
    if not directory.is_dir():
        return 0
    removed = 0
    for path in directory.iterdir():
        match = _NAME_RE.fullmatch(path.name)
        if match is None:
            continue
        try:
            if doomed(int(match.group(1)), path.stat().st_mtime):
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another worker's purge got there first
            continue
    return removed
