"""Writing operator exports: CSV (Excel-friendly) or XLSX, one or more sheets."""

from __future__ import annotations

from pathlib import Path

from bot.cli.common import CommandError
from bot.sheets import Sheet, write_sheets

__all__ = ["FORMATS", "Sheet", "format_of", "output_path", "write_sheets"]

FORMATS = ("csv", "xlsx")


def output_path(text: str, option: str = "--output") -> Path:
    """The file an export goes to; its directory must exist."""
    path = Path(text)
    if not path.parent.is_dir():
        raise CommandError(f"{option}: no such directory: {path.parent}")
    return path


def format_of(path: Path, option: str = "--output") -> str:
    """csv or xlsx, from the file's suffix."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise CommandError(f"{option}: the file must end in .csv or .xlsx, got {path.name!r}")
    return fmt
