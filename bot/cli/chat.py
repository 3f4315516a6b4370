"""``chat``: talk to the bot from a terminal as a WeChat user would, with no WeChat account.

Every line typed becomes a real signed (optionally AES-encrypted) webhook request; the passive
reply is printed, and so are the messages the bot sends later through the API (customer-service
messages, mass sends) when the bot uses its built-in sandbox. If no bot answers at the URL, one
is started in-process with the same config.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import aiohttp
from aiohttp import web

from bot.cli.common import CommandError, add_config_arg, load
from bot.config import SANDBOX, Config, with_overrides
from bot.simulate import WeChatUser
from bot.xmlguard import check_xml

HELP = """\
Type a message and press Enter. Commands:
  /subscribe [SCENE]     follow the account (optionally from a QR code scene)
  /unsubscribe           unfollow
  /scan SCENE            scan a QR code while following
  /click KEY             click a custom-menu button (e.g. /click MENU_INTRO)
  /image FILE            send a picture (sandbox only: it is stored in the sandbox first)
  /location LAT LNG      send a location
  /voice TEXT            a voice message the platform transcribed as TEXT
  /help                  this text
  /quit                  leave (Ctrl-D works too)"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the chat command."""
    p = sub.add_parser("chat", help="talk to the bot as a WeChat user (a terminal simulator)")
    add_config_arg(p)
    p.add_argument("--url", help="the bot's base URL (default: from the config)")
    p.add_argument("--user", help="the simulated user's id (default: a new random openid)")
    p.add_argument(
        "--channel", choices=["wechat"], default="wechat", help="which platform to simulate"
    )
    p.add_argument(
        "--aes",
        action="store_true",
        help="encrypt requests (safe mode; needs wechat.encoding_aes_key)",
    )
    p.add_argument(
        "--script",
        metavar="FILE",
        help="read the lines from FILE instead of the keyboard (demos, tests)",
    )
    p.set_defaults(func=run)


def parse_reply(body: str, user: WeChatUser) -> str:
    """A readable rendering of the bot's passive reply."""
    if not body or body == "success":
        return ""
    fields = user.read_reply(body)
    kind = fields.get("MsgType")
    if kind == "text":
        return fields.get("Content", "")
    if kind == "image":
        return f"[图片] media_id={fields.get('Image', '')}"
    if kind == "news":
        # The reply is already proven DTD-free by read_reply; ElementTree reads the nesting.
        plain = body if "Encrypt" not in body else _decrypted(body, user)
        root = ElementTree.fromstring(plain)
        lines = []
        for item in root.iter("item"):
            title = item.findtext("Title", "")
            url = item.findtext("Url", "")
            lines.append(f"[图文] {title} {url}".rstrip())
        return "\n".join(lines)
    return f"[{kind}]"


def _decrypted(body: str, user: WeChatUser) -> str:
    from wechatpy.crypto import WeChatCrypto

    fields = check_xml(body.encode())
    crypto = WeChatCrypto(user.token, user.aes_key, user.app_id)
    plain = crypto.decrypt_message(
        body, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"]
    )
    return plain.decode() if isinstance(plain, bytes) else str(plain)


def render_api_message(body: dict[str, Any]) -> str:
    """A readable rendering of a message the bot sent through the (sandbox) API."""
    kind = body.get("msgtype")
    if kind == "text":
        return str(body.get("text", {}).get("content", ""))
    if kind == "image":
        return f"[图片] media_id={body.get('image', {}).get('media_id', '')}"
    if kind in ("news", "mpnews"):
        articles = body.get("news", {}).get("articles", [])
        return "\n".join(
            f"[图文] {a.get('title', '')} {a.get('url', '')}".rstrip() for a in articles
        )
    return f"[{kind}]"


class ChatSession:
    """One simulated user talking to a bot at ``base_url``."""

    def __init__(
        self,
        config: Config,
        base_url: str,
        user: WeChatUser,
        http: aiohttp.ClientSession,
        out: Callable[[str], None],
    ) -> None:
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.http = http
        self.out = out
        self.sandbox = config.wechat.api_base_url == SANDBOX
        self.seen_since = time.time()

    async def post(self, xml: str) -> str:
        """Send one message and return the rendered passive reply."""
        req = self.user.request(xml)
        async with self.http.post(
            f"{self.base_url}/wechat", params=req.query, data=req.body
        ) as resp:
            body = await resp.text()
            if resp.status != 200:
                return f"[HTTP {resp.status}] {body}"
        return parse_reply(body, self.user)

    async def late_messages(self, wait: float) -> list[str]:
        """Messages the bot sent through the sandbox API since the last look."""
        if not self.sandbox:
            return []
        deadline = time.monotonic() + wait
        found: list[str] = []
        while True:
            async with self.http.get(
                f"{self.base_url}/sandbox/wechat/recorded",
                params={"user": self.user.openid, "since": repr(self.seen_since)},
            ) as resp:
                items = await resp.json() if resp.status == 200 else []
            for item in items:
                self.seen_since = max(self.seen_since, float(item["at"]))
                if isinstance(item.get("body"), dict) and "msgtype" in item["body"]:
                    found.append(render_api_message(item["body"]))
            if found or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(0.2)

    async def upload_sandbox_media(self, path: Path) -> str:
        """Store a picture in the sandbox as if the user had sent it; returns its media id."""
        if not self.sandbox:
            raise CommandError('/image works only with the sandbox API (api_base_url = "sandbox")')
        content_type = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
        data = await asyncio.to_thread(path.read_bytes)
        async with self.http.post(
            f"{self.base_url}/sandbox/wechat/simulate/media",
            data=data,
            headers={"Content-Type": content_type},
        ) as resp:
            data = await resp.json()
        return str(data["media_id"])

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; False means quit."""
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        if line == "/help":
            self.out(HELP)
            return True
        try:
            xml = await self._to_xml(line)
        except (CommandError, ValueError, OSError) as exc:
            self.out(f"（{exc}）")
            return True
        reply = await self.post(xml)
        if reply:
            self.out(f"机器人> {reply}")
        # An empty answer can mean a late reply is on its way: wait past the deadline for it.
        wait = 0.3 if reply else self.config.wechat.reply_deadline_seconds + 2
        for message in await self.late_messages(wait):
            self.out(f"机器人(客服消息)> {message}")
        if not reply:
            self.out("机器人> （没有回复）")
        return True

    async def _to_xml(self, line: str) -> str:
        user = self.user
        if not line.startswith("/"):
            return user.text(line)
        command, _, rest = line.partition(" ")
        rest = rest.strip()
        if command == "/subscribe":
            return user.event("subscribe", f"qrscene_{rest}" if rest else None)
        if command == "/unsubscribe":
            return user.event("unsubscribe")
        if command == "/scan":
            return user.event("SCAN", rest or "0", Ticket="sim")
        if command == "/click":
            if not rest:
                raise ValueError("用法: /click KEY")
            return user.event("CLICK", rest)
        if command == "/image":
            media_id = await self.upload_sandbox_media(Path(rest))
            return user.image(media_id)
        if command == "/location":
            parts = rest.split()
            if len(parts) < 2:
                raise ValueError("用法: /location 纬度 经度")
            return user.location(float(parts[0]), float(parts[1]), " ".join(parts[2:]))
        if command == "/voice":
            return user.voice(recognition=rest)
        raise ValueError(f"未知命令 {command}，输入 /help 查看帮助")


async def _reachable(http: aiohttp.ClientSession, base_url: str) -> bool:
    try:
        async with http.get(
            f"{base_url.rstrip('/')}/healthz", timeout=aiohttp.ClientTimeout(total=2)
        ) as resp:
            return resp.status == 200
    except (TimeoutError, aiohttp.ClientError, OSError):
        return False


async def _start_embedded(config: Config) -> tuple[web.AppRunner, Config]:
    # Pick a free port, then let the sandbox base URL follow it.
    import socket

    from bot.app import create_app

    with socket.socket() as s:
        s.bind((config.server.host, 0))
        port = s.getsockname()[1]
    config = with_overrides(config, server={"port": port})
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.server.host, port).start()
    return runner, config


async def chat(args: argparse.Namespace, lines: Any, out: Callable[[str], None]) -> int:
    """The chat loop over ``lines`` (an async iterator of typed lines)."""
    config = load(args)
    runner: web.AppRunner | None = None
    async with aiohttp.ClientSession() as http:
        base_url = args.url or config.public_url
        if not await _reachable(http, base_url):
            if args.url:
                raise CommandError(f"no bot answers at {args.url}")
            runner, config = await _start_embedded(config)
            base_url = config.public_url
            out(f"（没有发现正在运行的机器人，已在本进程启动一个：{base_url}）")
        wc = config.wechat
        if args.aes and not wc.encoding_aes_key:
            raise CommandError("--aes needs wechat.encoding_aes_key in the config")
        user = WeChatUser(
            token=wc.token,
            account=wc.account_id or "gh_sandbox",
            aes_key=wc.encoding_aes_key,
            app_id=wc.app_id,
            encrypt=args.aes,
        )
        if args.user:
            user.openid = args.user
        session = ChatSession(config, base_url, user, http, out)
        out(f"你是用户 {user.openid}，正在与 {base_url}/wechat 对话。输入 /help 查看命令。")
        try:
            async for line in lines:
                if not await session.handle_line(line):
                    break
        finally:
            if runner is not None:
                await runner.cleanup()
    return 0


async def _keyboard() -> Any:
    loop = asyncio.get_running_loop()
    while True:
        try:
            line = await loop.run_in_executor(None, input, "你> ")
        except EOFError:
            return
        yield line


async def _file_lines(path: str) -> Any:
    text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    for line in text.splitlines():
        print(f"你> {line}")
        yield line


def run(args: argparse.Namespace) -> int:
    """Start the simulator."""
    import logging

    logging.getLogger().setLevel(logging.WARNING)  # the embedded bot's request log is noise here
    lines = _file_lines(args.script) if args.script else _keyboard()
    return asyncio.run(chat(args, lines, lambda s: print(s, flush=True)))
