"""Campaign packs: which campaign the bot runs (Henan's 网络公益工程, Hunan's 未成年人绿色上网…).

A pack is a folder: a ``manifest.toml`` (name, title, slogan, the features it runs, its own key
dates, its city list) and content files that override the shared base in
``handlers/content/`` key by key. ``[content] dir`` overrides single keys on top of the pack.
A third campaign is a new folder, not code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.kernel.config import ConfigError, check_menu
from bot.kernel.content import MANIFEST, PACKS, ContentError, Texts

DEFAULT_PACK = "henan"
# Features (by their names in handlers/registry.py) a pack may switch off.
SWITCHABLE = ("volunteers", "activities", "stars", "stories", "logo")


class PackError(ContentError):
    """A pack folder or its manifest is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class Pack:
    """A campaign pack as its manifest declares it."""

    name: str
    title: str
    slogan: str
    directory: Path
    # Every feature of SWITCHABLE, on or off (manifest, then [campaign] features on top).
    features: Mapping[str, bool] = field(default_factory=dict)
    # The campaign's own key dates besides the national ones: key -> "MM-DD" | "lunar:MM-DD".
    dates: Mapping[str, str] = field(default_factory=dict)
    cities: tuple[str, ...] = ()
    # The custom menu ``menu push`` sends when [wechat] menu is empty (WeChat's "button" list).
    menu: tuple[Mapping[str, Any], ...] = ()

    def on(self, feature: str) -> bool:
        """Whether ``feature`` runs in this campaign."""
        return self.features.get(feature, True)

    def off(self) -> list[str]:
        """The features this campaign switches off, in SWITCHABLE order."""
        return [f for f in SWITCHABLE if not self.on(f)]


def shipped_packs() -> list[str]:
    """Names of the packs shipped with the bot (folders of ``handlers/packs``)."""
    return sorted(p.name for p in PACKS.iterdir() if (p / MANIFEST).is_file())


def pack_directory(spec: str, base_dir: str | Path = ".") -> Path:
    """The folder of pack ``spec``: a shipped pack's name, or a path (relative to the config)."""
    if spec and "/" not in spec and "\\" not in spec and (PACKS / spec / MANIFEST).is_file():
        return PACKS / spec
    path = Path(spec)
    if not path.is_absolute():
        path = Path(base_dir) / path
    if not (path / MANIFEST).is_file():
        known = ", ".join(shipped_packs())
        raise PackError(
            f"campaign.pack: {spec!r} is neither a shipped pack ({known}) "
            f"nor a folder with a {MANIFEST}"
        )
    return path


def _read_manifest(directory: Path) -> dict[str, Any]:
    try:
        with (directory / MANIFEST).open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise PackError(f"{directory / MANIFEST}: not valid TOML: {exc}") from None


def _strings(data: Mapping[str, Any], key: str, where: Path) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PackError(f"{where}: {key}: expected a list of non-empty strings")
    if len(set(value)) != len(value):
        raise PackError(f"{where}: {key}: entries must be distinct")
    return tuple(value)


def _features(
    data: Mapping[str, Any], where: str, base: Mapping[str, bool] | None = None
) -> dict[str, bool]:
    if not isinstance(data, Mapping):
        raise PackError(f"{where}: expected a table of feature = true | false")
    features = dict(base or dict.fromkeys(SWITCHABLE, True))
    for name, value in data.items():
        if name not in SWITCHABLE:
            raise PackError(f"{where}.{name}: unknown feature (one of {', '.join(SWITCHABLE)})")
        if not isinstance(value, bool):
            raise PackError(f"{where}.{name}: expected true or false")
        features[name] = value
    return features


def load_pack(
    spec: str = DEFAULT_PACK,
    base_dir: str | Path = ".",
    features: Mapping[str, Any] | None = None,
) -> Pack:
    """The pack ``spec`` with its manifest validated; ``features`` (from ``[campaign]``)
    switch single features on or off on top of the manifest."""
    directory = pack_directory(spec, base_dir)
    where = directory / MANIFEST
    data = _read_manifest(directory)
    for key in ("name", "title", "slogan"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise PackError(f"{where}: {key}: required (a non-empty string)")
    dates = data.get("dates", {})
    if not isinstance(dates, Mapping) or not all(isinstance(v, str) for v in dates.values()):
        raise PackError(f'{where}: dates: expected a table of key = "MM-DD"')
    # What the dates mean is the campaign calendar's to check (bot.config).
    cities = _strings(data, "cities", where)
    if not cities:
        raise PackError(f"{where}: cities: the campaign's city list is required")
    from_manifest = _features(data.get("features", {}), f"{where}: features")

    try:
        check_menu(data.get("menu", []), f"{where}: menu")
    except ConfigError as exc:
        raise PackError(str(exc)) from None
    return Pack(
        name=data["name"],
        title=data["title"],
        slogan=data["slogan"],
        directory=directory,
        features=_features(features or {}, "campaign.features", from_manifest),
        dates=dict(dates),
        cities=cities,
        menu=tuple(data.get("menu", [])),
    )


# Texts the base leaves to each campaign: a pack without them cannot greet anyone.
PACK_KEYS = ("common.welcome", "common.welcome_back", "common.menu", "common.fallback_media")


def load_texts(
    pack: Pack, override_dir: str | Path | None = None, extra: Sequence[Path] = ()
) -> Texts:
    """The shared base texts and the features' content files (``extra``), then the pack's,
    then ``[content] dir``'s, key by key."""
    texts = Texts.load(override_dir, extra, pack.directory)
    missing = [key for key in PACK_KEYS if not isinstance(texts.get(key), str)]
    missing += [
        f"calendar.names.{key}" for key in pack.dates if not texts.has(f"calendar.names.{key}")
    ]
    if missing:
        raise PackError(f"{pack.directory}: the pack's content lacks {', '.join(missing)}")
    return texts


def key_dates(pack: Pack, extra: Mapping[str, str]) -> dict[str, str]:
    """The campaign's own key dates with ``[schedules] extra_dates`` on top (same key: the
    config's day wins)."""
    return {**pack.dates, **extra}


@lru_cache(maxsize=8)
def shipped_cities(name: str) -> tuple[str, ...]:
    """The city list of shipped pack ``name`` (``[volunteers] city_preset``)."""
    return load_pack(name).cities
