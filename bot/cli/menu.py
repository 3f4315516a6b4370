"""``menu push|show``: the custom menu of the config ([[wechat.menu]]) or, when it has none,
of the campaign pack (its manifest's [[menu]])."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator
from typing import Any

from bot.cli.common import Subcommands, command_group, load, operator
from bot.kernel.config import Config


def register(sub: Subcommands) -> None:
    """Add the menu command."""
    action = command_group(sub, "menu", "WeChat custom menu from the config file")
    action("push", "replace the account's menu with the configured one", push_menu)
    action("show", "print the menu JSON that push would send", show_menu)


def menu_buttons(config: Config) -> list[dict[str, Any]]:
    """The menu as WeChat's ``button`` list: the config's, else the campaign pack's. A button
    a switched-off feature answers is named on stderr (it would only say "not part of this
    campaign")."""
    from bot.kernel.campaign import load_pack
    from handlers.registry import switched_off_clicks

    pack = load_pack(config.campaign.pack, config.base_dir, config.campaign.features)
    buttons = [dict(b) for b in (config.wechat.menu or pack.menu)]
    off = switched_off_clicks(pack.off())
    for button in _leaves(buttons):
        feature = off.get(str(button.get("key", "")))
        if feature:
            print(
                f"warning: menu button {button.get('name')!r} ({button['key']}) belongs to "
                f"{feature}, which the {pack.name} pack switches off",
                file=sys.stderr,
            )
    return buttons


def _leaves(buttons: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for button in buttons:
        yield button
        yield from button.get("sub_button", [])


def show_menu(args: argparse.Namespace) -> int:
    """Print the menu JSON."""
    config = load(args)
    print(json.dumps({"button": menu_buttons(config)}, ensure_ascii=False, indent=2))
    return 0


def push_menu(args: argparse.Namespace) -> int:
    """Send the menu through menu/create (the operation checks and audits it)."""
    from bot.app import build_context, close_context
    from handlers import menu_ops

    config = load(args)
    menu_buttons(config)  # names the buttons of switched-off features on stderr

    async def go() -> int:
        bot = build_context(config)
        try:
            return await menu_ops.push(bot, operator(args))
        finally:
            await close_context(bot)

    n = asyncio.run(go())  # an OperationError prints as the CLI's error line
    print(f"menu pushed: {n} buttons")
    return 0
