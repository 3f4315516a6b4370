"""The report's charts: one PNG per chart a section declares (matplotlib, a CJK font)."""

from __future__ import annotations

from pathlib import Path

from bot.fonts import cjk_font_path
from bot.kernel.content import Texts
from bot.reports.build import label
from storage.reports.base import Chart, Section

COLOURS = ("#c8102e", "#2f6db5", "#e0a526")
MAX_BARH = 15
# Values printed on the bars only while they fit (a month's days do not).
LABELLED_BARS = 13


def draw(path: Path, section: Section, chart: Chart, texts: Texts) -> Path:
    """Draw ``chart`` of ``section`` to ``path`` (PNG) and return the path."""
    # The object-oriented API, not pyplot: no global figure state, so charts may be drawn in
    # worker threads (the console draws them off the event loop).
    from matplotlib import font_manager
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    font_file = cjk_font_path()
    font = font_manager.FontProperties(fname=font_file)
    small = font_manager.FontProperties(fname=font_file, size=8)
    table = section.table(chart.table)
    rows = list(table.rows)
    if chart.kind == "barh":
        rows = rows[:MAX_BARH][::-1]
    labels = [_tick(str(r[chart.label])) for r in rows]
    fig = Figure(
        figsize=(7.5, max(3.0, 0.32 * len(rows) + 1.2)) if chart.kind == "barh" else (7.5, 3.6)
    )
    ax = fig.add_subplot()
    positions = list(range(len(rows)))
    width = 0.8 / len(chart.values)
    for n, column in enumerate(chart.values):
        values = [float(r[column]) for r in rows]
        name = label(texts, table.columns[column])
        colour = COLOURS[n % len(COLOURS)]
        if chart.kind == "line":
            ax.plot(positions, values, color=colour, label=name, marker="o", markersize=3)
        elif chart.kind == "barh":
            bars = ax.barh(positions, values, color=colour, label=name)
            ax.bar_label(bars, padding=3, fmt="%g", fontsize=7)
        else:
            shifted = [p + (n - (len(chart.values) - 1) / 2) * width for p in positions]
            bars = ax.bar(shifted, values, width=width, color=colour, label=name)
            if len(rows) * len(chart.values) <= LABELLED_BARS:
                ax.bar_label(bars, padding=2, fmt="%g", fontsize=7)
    if chart.kind == "barh":
        ax.set_yticks(positions, labels, fontproperties=small)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        step = max(1, len(rows) // 16)
        ax.set_xticks(positions[::step], labels[::step], fontproperties=small)
        if len(rows) > 12 and max(len(t) for t in labels) > 2:
            ax.tick_params(axis="x", labelrotation=45)
            for tick in ax.get_xticklabels():
                tick.set_horizontalalignment("right")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)  # counts: a line starting mid-axis exaggerates change
        ax.grid(axis="y", alpha=0.3)
    if len(chart.values) > 1:
        ax.legend(prop=small, frameon=False)
    ax.set_title(texts(f"office_report.charts.{chart.title}"), fontproperties=font)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    return path


def _tick(text: str) -> str:
    """Short axis labels: ``MM-DD`` for days, ``MM`` months as they are, long texts cut."""
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        return text[5:]
    return text if len(text) <= 14 else text[:13] + "…"
