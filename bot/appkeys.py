"""Typed keys of what the app factory stores on the aiohttp application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.dispatch import Dispatcher
    from bot.kernel.context import BotContext

BOT: web.AppKey[BotContext] = web.AppKey("bot")
DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("dispatcher")
