"""User-facing Chinese texts, loaded from editable TOML files.

The shipped files live in ``handlers/content/``; ``[content] dir`` may point at a directory
whose files override them key by key, so operators change wording without touching code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).parent / "content"


class ContentError(ValueError):
    """A content file is unreadable or a text is missing."""


def _flatten(prefix: str, tree: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key, value in tree.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            _flatten(full, value, out)
        else:
            out[full] = value


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(f"{path}: not valid TOML: {exc}") from None


class Texts:
    """Dotted-key lookup of texts, e.g. ``texts("common.fallback")``."""

    def __init__(self, values: Mapping[str, Any], raw: Mapping[str, Mapping[str, Any]]) -> None:
        self._values = dict(values)
        self._raw = raw

    @classmethod
    def load(cls, override_dir: str | Path | None = None, extra: Sequence[Path] = ()) -> Texts:
        """Shipped texts (every ``*.toml`` here), then ``extra`` files (features' content kept
        elsewhere), all overridden by the files of ``override_dir``."""
        values: dict[str, Any] = {}
        raw: dict[str, Mapping[str, Any]] = {}
        dirs = [SHIPPED] + ([Path(override_dir)] if override_dir else [])
        files: list[list[Path]] = []
        for directory in dirs:
            if not directory.is_dir():
                raise ContentError(f"content directory not found: {directory}")
            files.append(sorted(directory.glob("*.toml")))
        shipped = {path.resolve() for path in files[0]}
        files.insert(1, [path for path in extra if path.resolve() not in shipped])
        for path in (path for group in files for path in group):
            if not path.is_file():
                raise ContentError(f"content file not found: {path}")
            tree = _read(path)
            raw.setdefault(path.stem, {})
            raw[path.stem] = {**raw[path.stem], **tree}
            _flatten(path.stem, tree, values)
        return cls(values, raw)

    def __call__(self, key: str, /, **params: Any) -> str:
        """The text at ``key`` with ``{placeholders}`` filled in."""
        try:
            value = self._values[key]
        except KeyError:
            raise ContentError(f"missing text: {key}") from None
        if not isinstance(value, str):
            raise ContentError(f"text {key} is not a string")
        text = value.strip("\n")
        return text.format(**params) if params else text

    def get(self, key: str, default: Any = None) -> Any:
        """A raw value (lists, tables) or ``default``."""
        return self._values.get(key, default)

    def file(self, stem: str) -> Mapping[str, Any]:
        """A whole content file as parsed, e.g. the keyword seed list."""
        return self._raw.get(stem, {})

    def has(self, key: str) -> bool:
        """Whether ``key`` exists."""
        return key in self._values
