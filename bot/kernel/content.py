"""User-facing Chinese texts, loaded from editable TOML files.

Texts come in layers, each overriding the one before key by key: the shared base in
``handlers/content/`` (with the features' content files kept elsewhere), the campaign pack's
folder (``handlers/packs/<name>/``, see ``bot.kernel.campaign``), then ``[content] dir``, so
operators change wording without touching code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# The shipped files live beside the features they belong to: handlers/content/*.toml; the
# campaign packs beside them, handlers/packs/<name>/.
SHIPPED = Path(__file__).resolve().parents[2] / "handlers" / "content"
PACKS = Path(__file__).resolve().parents[2] / "handlers" / "packs"
# The pack ``Texts.load`` layers on the base when none is named (tools and tests).
DEFAULT_PACK_DIR = PACKS / "henan"
# A pack folder's manifest is not a text file.
MANIFEST = "manifest.toml"


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
    def load(
        cls,
        override_dir: str | Path | None = None,
        extra: Sequence[Path] = (),
        pack_dir: Path = DEFAULT_PACK_DIR,
    ) -> Texts:
        """Shipped texts (every ``*.toml`` here), then ``extra`` files (features' content kept
        elsewhere), then the campaign pack's, all overridden by the files of ``override_dir``."""
        values: dict[str, Any] = {}
        raw: dict[str, Mapping[str, Any]] = {}
        layers: dict[str, list[Mapping[str, Any]]] = {}
        dirs = [SHIPPED, pack_dir] + ([Path(override_dir)] if override_dir else [])
        files: list[list[Path]] = []
        for directory in dirs:
            if not directory.is_dir():
                raise ContentError(f"content directory not found: {directory}")
            files.append(sorted(p for p in directory.glob("*.toml") if p.name != MANIFEST))
        shipped = {path.resolve() for path in files[0]}
        files.insert(1, [path for path in extra if path.resolve() not in shipped])
        for path in (path for group in files for path in group):
            if not path.is_file():
                raise ContentError(f"content file not found: {path}")
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

    def all_keys(self) -> list[str]:
        """Every dotted key there is (checks that the code's keys exist)."""
        return list(self._values)

    def layers(self, stem: str) -> list[Mapping[str, Any]]:
        """Each layer's copy of a content file, base first (rule lists merge across layers)."""
        return list(self._layers.get(stem, []))

    def has(self, key: str) -> bool:
        """Whether ``key`` exists."""
        return key in self._values
