"""Charts of console pages, drawn on the server as SVG (matplotlib, CJK font as the CLI's).

Figures are built with matplotlib's object API, not pyplot, so charts can be drawn in worker
threads side by side; text is drawn as paths, so the browser needs no Chinese font.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
from collections.abc import Sequence
from typing import Any

from bot.fonts import NoCJKFont, cjk_font_path

RED = "#b3121f"


@functools.cache
def _font(font_file: str) -> Any:
    """The CJK font, registered with matplotlib once per process (not once per chart)."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(font_file)
    return font_manager.FontProperties(fname=font_file)


def _svg(
    labels: Sequence[str], values: Sequence[float], title: str, axis: str, kind: str
) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    try:
        font_file = cjk_font_path()
    except NoCJKFont:
        return None
    font = _font(font_file)
    horizontal = kind == "barh"
    height = max(2.6, 0.38 * len(labels) + 1.2) if horizontal else 3.2
    fig = Figure(figsize=(6.4, height))
    ax = fig.add_subplot()
    if kind == "line":
        ax.plot(list(range(len(values))), list(values), color=RED, marker="o", markersize=3)
        step = max(1, len(labels) // 6)
        ticks = list(range(0, len(labels), step))
        ax.set_xticks(ticks, [labels[i] for i in ticks], fontproperties=font, fontsize=8)
        ax.axhline(0, color="#999", linewidth=0.6)
    elif horizontal:
        bars = ax.barh(list(labels)[::-1], list(values)[::-1], color=RED)
        ax.set_yticks(range(len(labels)), list(labels)[::-1], fontproperties=font)
        ax.bar_label(bars, padding=3, fmt="%g", fontsize=8)
    else:
        bars = ax.bar(list(labels), list(values), color=RED)
        step = max(1, len(labels) // 12)
        ax.set_xticks(
            range(0, len(labels), step), list(labels)[::step], fontproperties=font, fontsize=8
        )
    value_axis = ax.xaxis if horizontal else ax.yaxis
    value_axis.set_major_locator(MaxNLocator(integer=True))
    # Counts start at zero; an all-zero series would otherwise get a -0.05..0.05 axis.
    top = max([*values, 0])
    bottom = min([*values, 0])
    (ax.set_xlim if horizontal else ax.set_ylim)(bottom, max(top * 1.1, bottom + 1))
    (ax.set_xlabel if horizontal else ax.set_ylabel)(axis, fontproperties=font)
    ax.set_title(title, fontproperties=font, fontsize=12)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="svg")
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


async def chart(
    labels: Sequence[str], values: Sequence[float], *, title: str, axis: str, kind: str = "bar"
) -> str | None:
    """A chart as a data: URI for an <img> (None when no CJK font is installed).

    ``kind``: bar, barh (one bar per label, first on top) or line."""
    return await asyncio.to_thread(_svg, list(labels), list(values), title, axis, kind)
