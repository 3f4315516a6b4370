"""The 志愿证书 image certificate: a PNG with the volunteer's name, hours, star level and date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.fonts import cjk_font_path

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
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def file_name(volunteer_id: int, day: date) -> str:
    """One file per volunteer and day: asking twice a day re-renders the same file."""
    return f"volunteer-{volunteer_id}-{day.isoformat()}.png"
