"""One declaration per feature: everything the app, the CLI, the scheduler and the purge need
to know about it, so that ``handlers/registry.py`` lists features once and nothing else names
one.

A feature module (or package) under ``handlers/`` ends with ``FEATURE = Feature(...)``. The
app factory builds its routers and flows, loads its content file, mounts its web routes,
purges its media folders and runs its periodic jobs; ``load_config`` reads its config section;
the CLI adds its commands.

Layering: a feature never imports the app, the channels, the CLI or the console. Its CLI
commands and console pages live above it (``bot/cli/<feature>.py``, ``bot/console/...``), so the
declaration names them by reference, ``"package.module:function"``, resolved only by the CLI
or the console when they start (``resolve``). The import-linter contracts in pyproject.toml
check the rule.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from bot.kernel.config import Config, ConfigCheck, ConfigSection
from bot.kernel.context import BotContext
from handlers.conversation import Flow
from handlers.router import Router
from storage.db import Session

# A router, or a function building a fresh one per app (a router holding a cache per app).
RouterSpec = Router | Callable[[], Router]
# "package.module:attribute", imported only by the layer that uses it (CLI, console, app).
Ref = str


@dataclass(frozen=True)
class MediaFolder:
    """A directory of files people sent (pictures), and what still refers to them.

    The periodic purge deletes a stored file no row refers to once a flow's lifetime has
    passed since it was last stored (a flow that was cancelled or expired left it)."""

    name: str
    path: Callable[[Config], Path]
    referenced: Callable[[Session], Awaitable[Iterable[str]]]


@dataclass(frozen=True)
class PeriodicJob:
    """Work done again and again in the background.

    ``leader``: only in the one process holding the scheduler's lease, at each scheduler tick
    (``[schedules] poll_seconds``); for work that must never run twice at once (pushes).
    ``every_process``: in every serving process, with the periodic purge (every 10 minutes);
    for idempotent clean-ups. ``run`` returns how many things it did (logged when not 0)."""

    name: str
    run: Callable[[BotContext], Awaitable[int]]
    where: Literal["leader", "every_process"] = "every_process"


# A purge hook: delete what the feature keeps only for a while, older than the given moment
# relative to now; returns how many rows or files went. Run with the periodic purge.
PurgeHook = Callable[[BotContext, datetime], Awaitable[int]]


@dataclass(frozen=True)
class ConsolePage:
    """A page of the operator console (``/console/<path>``), for the console to mount.

    ``handler`` is a reference to ``async def page(request) -> web.StreamResponse``; its title
    is a content key (Chinese lives in content files); ``role`` is the least role that may open
    it (viewer, reviewer, admin: the console defines their order)."""

    path: str
    title_key: str
    handler: Ref
    role: str = "viewer"

    @classmethod
    def section(cls, name: str, role: str = "viewer") -> ConsolePage:
        """The page of console section ``name`` as the console lays its sections out: at
        ``/<name>``, titled ``console.nav.<name>``, served by
        ``bot.console.sections.<name>:section``."""
        return cls(f"/{name}", f"console.nav.{name}", f"bot.console.sections.{name}:section", role)


@dataclass(frozen=True)
class Feature:
    """A feature's declaration. Only ``name`` is required; every other part is optional."""

    name: str
    # Asked in registry order, after the flow entries; ``fallbacks`` after every feature's
    # routers (the catch-all for pictures people send outside a flow).
    routers: Sequence[RouterSpec] = ()
    fallbacks: Sequence[RouterSpec] = ()
    flows: Sequence[Flow] = ()
    # References to ``register(subparsers)`` functions adding CLI commands, in --help order.
    cli: Sequence[Ref] = ()
    console: Sequence[ConsolePage] = ()
    # References to functions returning aiohttp route definitions (public web pages).
    web: Sequence[Ref] = ()
    config: ConfigSection[Any] | None = None
    # Checks of the whole config beyond the kernel's (raise ConfigError naming the key).
    config_checks: Sequence[ConfigCheck] = ()
    # Content files with this feature's texts (handlers/content/<name>.toml, or any path).
    content: Sequence[Path] = ()
    media: Sequence[MediaFolder] = ()
    purges: Sequence[PurgeHook] = ()
    jobs: Sequence[PeriodicJob] = ()
    # Start-up work after the schema is ready (seeding), run by the app and the CLI.
    on_start: Sequence[Callable[[BotContext], Awaitable[None]]] = ()
    # Work in flight to finish at shutdown (background sends), awaited by the app after the
    # dispatcher's late replies, within a bound (bot.kernel.periodic.STOP_WAIT_SECONDS) for
    # all of them.
    on_stop: Sequence[Callable[[BotContext], Awaitable[None]]] = ()
    # The ``feature.verb`` names of the audit rows this feature writes.
    audit_actions: Sequence[str] = field(default=())
    # References to ``async def section(scope) -> Section`` functions: the feature's part of
    # the office report (storage/reports/<feature>.py), in the order the report shows them.
    report: Sequence[Ref] = ()


def content_file(name: str) -> Path:
    """A shipped content file, ``handlers/content/<name>.toml``."""
    return Path(__file__).parent / "content" / f"{name}.toml"


def resolve(ref: Ref) -> Any:
    """Import the object a ``"package.module:attribute"`` reference names."""
    module_name, sep, attribute = ref.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"not a reference of the form 'package.module:attribute': {ref!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def build_router(spec: RouterSpec) -> Router:
    """The router a spec stands for (built now when it is a factory)."""
    return spec if isinstance(spec, Router) else spec()
