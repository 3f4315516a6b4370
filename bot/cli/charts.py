"""Bar charts (PNG) with Chinese labels for operator reports (matplotlib, CJK font)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.cli.common import CommandError, Progress
from bot.fonts import NoCJKFont, cjk_font_path

RED = "#c8102e"


def bar_chart(
    path: Path,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    value_label: str,
    horizontal: bool = True,
) -> None:
    """Draw one bar per label (horizontal: first label on top) and save it as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    progress = Progress("chart", 3)
    try:
        font_file = cjk_font_path()
    except NoCJKFont as exc:
        raise CommandError(str(exc)) from exc
    font_manager.fontManager.addfont(font_file)
    font = font_manager.FontProperties(fname=font_file)
    progress.advance()
    if horizontal:
        fig, ax = plt.subplots(figsize=(8, max(2.5, 0.45 * len(labels) + 1.2)))
        bars = ax.barh(list(labels)[::-1], list(values)[::-1], color=RED)
        ax.set_yticks(range(len(labels)), list(labels)[::-1], fontproperties=font)
        ax.set_xlabel(value_label, fontproperties=font)
    else:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(labels) + 2), 4.5))
        bars = ax.bar(list(labels), list(values), color=RED)
        ax.set_xticks(
            range(len(labels)),
            list(labels),
            fontproperties=font,
            rotation=45 if len(labels) > 8 else 0,
        )
        ax.set_ylabel(value_label, fontproperties=font)
    if all(float(v).is_integer() for v in values):
        # Counts (votes, people): no ticks at half a person.
        from matplotlib.ticker import MaxNLocator

        axis = ax.xaxis if horizontal else ax.yaxis
        axis.set_major_locator(MaxNLocator(integer=True))
    ax.bar_label(bars, padding=3, fmt="%g")
    ax.set_title(title, fontproperties=font)
    fig.tight_layout()
    progress.advance()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    progress.advance()
