"""User-facing Chinese texts, loaded from editable TOML files.

Texts come in layers, each overriding the one before key by key: the shared base in
``handlers/content/``, the campaign pack's folder (``handlers/packs/<name>/``, see
``handlers.campaign``), then ``[content] dir``, so operators change wording without code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).parent / "content"
PACKS = Path(__file__).parent / "packs"
# The pack ``Texts.load`` layers on the base when no pack is named (tools and tests).
DEFAULT_PACK_DIR = PACKS / "henan"


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

    def __init__(
        self,
        values: Mapping[str, Any],
        raw: Mapping[str, Mapping[str, Any]],
        layers: Mapping[str, list[Mapping[str, Any]]] | None = None,
    ) -> None:
        self._values = dict(values)
        self._raw = raw
        self._layers = dict(layers or {})

    @classmethod
    def load(cls, override_dir: str | Path | None = None) -> Texts:
        """The base texts and the default pack's, overridden by ``override_dir``."""
        layers = [SHIPPED, DEFAULT_PACK_DIR] + ([Path(override_dir)] if override_dir else [])
        return cls.load_layers(layers, skip={"manifest.toml"})

    @classmethod
    def load_layers(cls, dirs: list[Path], skip: set[str] | None = None) -> Texts:
        """Every ``*.toml`` of ``dirs`` but ``skip``; a later directory overrides key by key."""
        values: dict[str, Any] = {}
        raw: dict[str, Mapping[str, Any]] = {}
        layers: dict[str, list[Mapping[str, Any]]] = {}
        for directory in dirs:
            if not directory.is_dir():
                raise ContentError(f"content directory not found: {directory}")
            for path in sorted(directory.glob("*.toml")):
                if path.name in (skip or set()):
                    continue
                tree = _read(path)
                raw[path.stem] = {**raw.get(path.stem, {}), **tree}
                layers.setdefault(path.stem, []).append(tree)
                _flatten(path.stem, tree, values)
        return cls(values, raw, layers)

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

    def layers(self, stem: str) -> list[Mapping[str, Any]]:
        """Each layer's copy of a content file, base first (rule lists merge across layers)."""
        return list(self._layers.get(stem, []))

    def has(self, key: str) -> bool:
        """Whether ``key`` exists."""
        return key in self._values
