"""Operator operation on the WeChat custom menu: push the configured one (``menu push`` on the
CLI, 系统状态 → 推送菜单 in the console).

The menu is the config's ``[[wechat.menu]]``, else the campaign pack's ``[[menu]]``.
"""

from __future__ import annotations

from typing import Any

from bot.clients.wechat import WeChatClient
from bot.kernel.clients import ApiError
from bot.kernel.context import BotContext
from bot.kernel.message import Channel
from handlers.operations import Actor, OperationError, audit
from storage.db import transaction


def menu_buttons(bot: BotContext) -> list[dict[str, Any]]:
    """The menu as WeChat's ``button`` list: the config's, else the campaign pack's."""
    return [dict(b) for b in (bot.config.wechat.menu or bot.pack.menu)]


def leaves(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every button, sub-buttons included, top to bottom."""
    found: list[dict[str, Any]] = []
    for button in buttons:
        found.append(button)
        found.extend(button.get("sub_button", []))
    return found


async def push(bot: BotContext, actor: Actor) -> int:
    """Replace the account's menu with the configured one (menu/create); returns how many
    top-level buttons it has."""
    buttons = menu_buttons(bot)
    if not buttons:
        raise OperationError(
            "reports.ops.menu_empty",
            "no menu configured: add [[wechat.menu]] entries to the config file "
            "(or [[menu]] to the campaign pack's manifest)",
        )
    client = bot.client(Channel.WECHAT)
    assert isinstance(client, WeChatClient)
    try:
        await client.create_menu(buttons)
    except ApiError as exc:
        raise OperationError(
            "reports.ops.menu_refused",
            f"WeChat refused the menu: {exc.code} {exc.message}",
            code=exc.code,
        ) from None
    except OSError as exc:
        raise OperationError(
            "reports.ops.menu_unreachable", f"cannot reach the WeChat API: {exc}"
        ) from None
    async with transaction(bot.sessions) as session:
        audit(bot, session, actor, "menu.push", buttons=len(buttons))
    return len(buttons)
