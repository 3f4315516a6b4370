"""Finding a font that can draw Chinese, for charts (matplotlib) and certificates (Pillow)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

# Common locations of CJK fonts on Debian/Ubuntu, CentOS, macOS and Windows.
CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)


class NoCJKFont(RuntimeError):
    """No font able to draw Chinese was found; the message says how to install one."""


@functools.cache
def cjk_font_path(configured: str = "") -> str:
    """Path of a CJK-capable font: ``configured`` if given, else a known or fontconfig one."""
    if configured:
        if not Path(configured).is_file():
            raise NoCJKFont(f"configured font not found: {configured}")
        return configured
    for candidate in CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    if shutil.which("fc-match"):
        out = subprocess.run(
            ["fc-match", "-f", "%{file}", ":lang=zh"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if out and Path(out).is_file() and "dejavu" not in out.lower():
            return out
    raise NoCJKFont(
        "no font with Chinese glyphs found: install one (Debian/Ubuntu: "
        "apt-get install fonts-wqy-microhei) or set the font path in the config"
    )


def has_cjk_font() -> bool:
    """Whether charts and certificates can render Chinese here."""
    try:
        cjk_font_path()
    except NoCJKFont:
        return False
    return True
