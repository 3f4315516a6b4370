"""``chat``: talk to the bot from a terminal as a WeChat or Weibo user would, with no account.

Every line typed becomes a real signed webhook request (WeChat XML, optionally AES-encrypted, on
``/wechat``; a Weibo fans-service JSON push on ``/weibo``); the passive reply is printed, and so
are the messages the bot sends later through the API (customer-service messages and mass sends
on WeChat, active replies on Weibo) when the bot uses its built-in sandbox. If no bot answers at
the URL, one is started in-process with the same config.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar
from xml.etree import ElementTree

import aiohttp
from aiohttp import web

from bot.cli.common import CommandError, add_config_arg, load
from bot.config import SANDBOX, Config, weibo_enabled, with_overrides
from bot.simulate import WeChatUser, WeiboUser, reply_text
from bot.xmlguard import check_xml

WECHAT_HELP = """\
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

WEIBO_HELP = """\
Type a message and press Enter (a Weibo private message to the fans-service account). Commands:
  /subscribe [SCENE]     follow the account (with SCENE: a follow from a QR code, scan_follow)
  /unsubscribe           unfollow
  /scan SCENE            scan a QR code while following
  /click KEY             click a custom-menu button (e.g. /click MENU_INTRO)
  /image FILE            send a picture (sandbox only: it is stored in the sandbox first)
  /location LAT LNG      send a position
  /help                  this text
  /quit                  leave (Ctrl-D works too)"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the chat command."""
    p = sub.add_parser(
        "chat", help="talk to the bot as a WeChat or Weibo user (a terminal simulator)"
    )
    add_config_arg(p)
    p.add_argument("--url", help="the bot's base URL (default: from the config)")
    p.add_argument(
        "--user", help="the simulated user's id (default: a new random openid / Weibo uid)"
    )
    p.add_argument(
        "--channel",
        choices=["wechat", "weibo"],
        default="wechat",
        help="which platform to simulate (weibo: signed JSON pushes to /weibo)",
    )
    p.add_argument(
        "--aes",
        action="store_true",
        help="encrypt requests (WeChat safe mode; needs wechat.encoding_aes_key)",
    )
    p.add_argument(
        "--script",
        metavar="FILE",
        help="read the lines from FILE instead of the keyboard (demos, tests)",
    )
    p.set_defaults(func=run)


def parse_reply(body: str, user: WeChatUser) -> str:
    """A readable rendering of the bot's passive WeChat reply."""
    if not body or body == "success":
        return ""
    fields = user.read_reply(body)
    kind = fields.get("MsgType")
    if kind in ("text", "image"):
        return reply_text(fields)
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
    """A readable rendering of a message the bot sent through the (sandbox) WeChat API."""
    kind = body.get("msgtype")
    if kind == "text":
        return str(body.get("text", {}).get("content", ""))
    if kind == "image":
        return f"[图片 media_id={body.get('image', {}).get('media_id', '')}]"
    if kind in ("news", "mpnews"):
        articles = body.get("news", {}).get("articles", [])
        return "\n".join(
            f"[图文] {a.get('title', '')} {a.get('url', '')}".rstrip() for a in articles
        )
    return f"[{kind}]"


def render_weibo_message(kind: Any, data: Any) -> str:
    """A readable rendering of a Weibo reply, passive or active: its ``type`` and decoded
    ``data`` (text, articles or a position)."""
    data = data if isinstance(data, dict) else {}
    if kind == "text":
        return str(data.get("text", ""))
    if kind == "articles":
        lines = []
        for a in data.get("articles", []):
            title, url = a.get("display_name", ""), a.get("url", "")
            # Weibo has no image reply: a picture comes as an article without a title.
            lines.append(f"[图文] {title} {url}".rstrip() if title else f"[图片] {url}")
        return "\n".join(lines)
    if kind == "position":
        return f"[位置] {data.get('latitude', '')}, {data.get('longitude', '')}"
    return f"[{kind}]"


# The platform's simulated user (bot.simulate).
U = TypeVar("U", WeChatUser, WeiboUser)


class ChatSession(ABC, Generic[U]):
    """One simulated user talking to a bot at ``base_url``; a subclass per platform."""

    channel = ""
    help = ""
    late_label = ""

    def __init__(
        self,
        config: Config,
        base_url: str,
        http: aiohttp.ClientSession,
        out: Callable[[str], None],
        *,
        sandbox: bool,
        user: U,
    ) -> None:
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.out = out
        self.sandbox = sandbox
        self.user: U = user
        self.seen_since = time.time()

    @property
    def user_id(self) -> str:
        """The simulated user's id on the platform."""
        return self.user.user_id

    # What each platform turns a typed line into (a WeChat XML or a Weibo push).
    @abstractmethod
    def text(self, content: str) -> Any: ...

    @abstractmethod
    def follow(self, scene: str) -> Any: ...

    @abstractmethod
    def unfollow(self) -> Any: ...

    @abstractmethod
    def scan(self, scene: str) -> Any: ...

    @abstractmethod
    def click(self, key: str) -> Any: ...

    @abstractmethod
    def picture(self, media_id: str) -> Any: ...

    @abstractmethod
    def position(self, lat: float, lng: float, label: str) -> Any: ...

    @abstractmethod
    def voice(self, recognition: str) -> Any: ...

    def signed(self, message: Any) -> tuple[dict[str, str], bytes]:
        """The query string and body the platform would POST for ``message``."""
        req = self.user.request(message)
        return req.query, req.body

    @abstractmethod
    def read_reply(self, body: str) -> str:
        """The passive reply, readable ('' for none)."""

    @abstractmethod
    def render_recorded(self, body: Any) -> str | None:
        """A message the sandbox recorded for this user, readable; None if not a message."""

    async def compose(self, line: str) -> Any:
        """The platform's message for a typed line (text, or a slash command)."""
        if not line.startswith("/"):
            return self.text(line)
        command, _, rest = line.partition(" ")
        rest = rest.strip()
        if command == "/subscribe":
            return self.follow(rest)
        if command == "/unsubscribe":
            return self.unfollow()
        if command == "/scan":
            return self.scan(rest or "0")
        if command == "/click":
            if not rest:
                raise ValueError("用法: /click KEY")
            return self.click(rest)
        if command == "/image":
            return self.picture(await self.upload_sandbox_media(Path(rest)))
        if command == "/location":
            parts = rest.split()
            if len(parts) < 2:
                raise ValueError("用法: /location 纬度 经度")
            return self.position(float(parts[0]), float(parts[1]), " ".join(parts[2:]))
        if command == "/voice":
            return self.voice(rest)
        raise ValueError(f"未知命令 {command}，输入 /help 查看帮助")

    async def send(self, line: str) -> str:
        """Turn a typed line into a signed request; the rendered passive reply ('' for none)."""
        query, body = self.signed(await self.compose(line))
        async with self.http.post(
            f"{self.base_url}/{self.channel}", params=query, data=body
        ) as resp:
            text = await resp.text()
            if resp.status != 200:
                return f"[HTTP {resp.status}] {text}"
        return self.read_reply(text)

    async def late_messages(self, wait: float) -> list[str]:
        """Messages the bot sent through the sandbox API since the last look."""
        if not self.sandbox:
            return []
        deadline = time.monotonic() + wait
        found: list[str] = []
        while True:
            async with self.http.get(
                f"{self.base_url}/sandbox/{self.channel}/recorded",
                params={"user": self.user_id, "since": repr(self.seen_since)},
            ) as resp:
                items = await resp.json() if resp.status == 200 else []
            for item in items:
                self.seen_since = max(self.seen_since, float(item["at"]))
                message = self.render_recorded(item.get("body"))
                if message is not None:
                    found.append(message)
            if found or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(0.2)

    async def upload_sandbox_media(self, path: Path) -> str:
        """Store a picture in the sandbox as if the user had sent it; returns its id."""
        if not self.sandbox:
            raise CommandError('/image works only with the sandbox API (api_base_url = "sandbox")')
        content_type = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
        data = await asyncio.to_thread(path.read_bytes)
        async with self.http.post(
            f"{self.base_url}/sandbox/{self.channel}/simulate/media",
            data=data,
            headers={"Content-Type": content_type},
        ) as resp:
            stored = await resp.json()
        return str(stored["media_id"])

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; False means quit."""
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        if line == "/help":
            self.out(self.help)
            return True
        try:
            reply = await self.send(line)
        except (CommandError, ValueError, OSError) as exc:
            self.out(f"（{exc}）")
            return True
        if reply:
            self.out(f"机器人> {reply}")
        # An empty answer can mean a late reply is on its way: wait past the deadline for it.
        wait = 0.3 if reply else self.config.wechat.reply_deadline_seconds + 2
        for message in await self.late_messages(wait):
            self.out(f"机器人({self.late_label})> {message}")
        if not reply:
            self.out("机器人> （没有回复）")
        return True


class WeChatChat(ChatSession[WeChatUser]):
    """A WeChat follower: signed (optionally encrypted) XML on /wechat."""

    channel = "wechat"
    help = WECHAT_HELP
    late_label = "客服消息"

    def text(self, content: str) -> str:
        return self.user.text(content)

    def follow(self, scene: str) -> str:
        return self.user.event("subscribe", f"qrscene_{scene}" if scene else None)

    def unfollow(self) -> str:
        return self.user.event("unsubscribe")

    def scan(self, scene: str) -> str:
        return self.user.event("SCAN", scene, Ticket="sim")

    def click(self, key: str) -> str:
        return self.user.event("CLICK", key)

    def picture(self, media_id: str) -> str:
        return self.user.image(media_id)

    def position(self, lat: float, lng: float, label: str) -> str:
        return self.user.location(lat, lng, label)

    def voice(self, recognition: str) -> str:
        return self.user.voice(recognition=recognition)

    def read_reply(self, body: str) -> str:
        return parse_reply(body, self.user)

    def render_recorded(self, body: Any) -> str | None:
        if isinstance(body, dict) and "msgtype" in body:
            return render_api_message(body)
        return None


class WeiboChat(ChatSession[WeiboUser]):
    """A Weibo fan: signed JSON pushes on /weibo, JSON passive replies, active replies."""

    channel = "weibo"
    help = WEIBO_HELP
    late_label = "主动回复"

    def text(self, content: str) -> dict[str, Any]:
        return self.user.text(content)

    def follow(self, scene: str) -> dict[str, Any]:
        # A follow through a parametric QR code is its own subtype on Weibo.
        return self.user.event("scan_follow", scene) if scene else self.user.event("follow")

    def unfollow(self) -> dict[str, Any]:
        return self.user.event("unfollow")

    def scan(self, scene: str) -> dict[str, Any]:
        return self.user.event("scan", scene)

    def click(self, key: str) -> dict[str, Any]:
        return self.user.event("click", key)

    def picture(self, media_id: str) -> dict[str, Any]:
        return self.user.image(media_id)

    def position(self, lat: float, lng: float, label: str) -> dict[str, Any]:
        return self.user.location(lat, lng, label)

    def voice(self, recognition: str) -> dict[str, Any]:
        raise ValueError("微博私信没有语音识别文字，/voice 只用于 --channel wechat")

    def read_reply(self, body: str) -> str:
        reply = self.user.read_reply(body)
        return render_weibo_message(reply.get("type"), reply.get("data")) if reply else ""

    def render_recorded(self, body: Any) -> str | None:
        if isinstance(body, dict) and "type" in body:
            return render_weibo_message(body["type"], body.get("data"))
        return None


async def _health(http: aiohttp.ClientSession, base_url: str) -> dict[str, Any] | None:
    """The running bot's /healthz answer, or None when no healthy bot answers there."""
    try:
        async with http.get(
            f"{base_url.rstrip('/')}/healthz", timeout=aiohttp.ClientTimeout(total=2)
        ) as resp:
            if resp.status != 200:
                return None
            body = await resp.json(content_type=None)
            return body if isinstance(body, dict) else {}
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
        return None


def pack_banner(config: Config, running: str | None) -> str:
    """Which campaign pack the bot answers with: the one /healthz names (a bot started
    elsewhere may run another pack than this config's), else this config's."""
    from bot.kernel.campaign import load_pack, load_texts, shipped_packs
    from handlers.registry import FEATURES

    pack = load_pack(config.campaign.pack, config.base_dir, config.campaign.features)
    if running and running != pack.name and running in shipped_packs():
        pack = load_pack(running)
    extra = [path for feature in FEATURES for path in feature.content]
    texts = load_texts(pack, config.content.dir or None, extra)
    off = "、".join(texts(f"features.names.{f}") for f in pack.off())
    line = texts("common.chat_pack", name=pack.name, title=pack.title, slogan=pack.slogan)
    return line + (texts("common.chat_pack_off", features=off) if off else "")


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


def _session(
    args: argparse.Namespace,
    config: Config,
    base_url: str,
    http: aiohttp.ClientSession,
    out: Callable[[str], None],
) -> ChatSession:
    if args.channel == "weibo":
        if not weibo_enabled(config):
            raise CommandError("--channel weibo needs weibo.app_secret (the Weibo channel is off)")
        if args.aes:
            raise CommandError("--aes is WeChat's safe mode; Weibo pushes are not encrypted")
        wb = config.weibo
        weibo_user = WeiboUser(
            app_secret=wb.app_secret,
            account=wb.account_id or "5000000001",
            timestamp_unit=wb.timestamp_unit,
            media_field=wb.media_id_field,
        )
        if args.user:
            if not args.user.isdigit():
                raise CommandError("a Weibo user id (--user) is a number")
            weibo_user.uid = args.user
        sandbox = wb.api_base_url == SANDBOX
        return WeiboChat(config, base_url, http, out, sandbox=sandbox, user=weibo_user)
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
    sandbox = wc.api_base_url == SANDBOX
    return WeChatChat(config, base_url, http, out, sandbox=sandbox, user=user)


async def chat(args: argparse.Namespace, lines: Any, out: Callable[[str], None]) -> int:
    """The chat loop over ``lines`` (an async iterator of typed lines)."""
    config = load(args)
    runner: web.AppRunner | None = None
    async with aiohttp.ClientSession() as http:
        base_url = args.url or config.public_url
        health = await _health(http, base_url)
        if health is None:
            if args.url:
                raise CommandError(f"no bot answers at {args.url}")
            runner, config = await _start_embedded(config)
            base_url = config.public_url
            out(f"（没有发现正在运行的机器人，已在本进程启动一个：{base_url}）")
        running = health.get("pack") if health else None
        out(pack_banner(config, running if isinstance(running, str) else None))
        try:
            session = _session(args, config, base_url, http, out)
            who = "微博用户" if session.channel == "weibo" else "用户"
            out(
                f"你是{who} {session.user_id}，正在与 {base_url}/{session.channel} 对话。"
                "输入 /help 查看命令。"
            )
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
    if args.script and not Path(args.script).is_file():
        # Checked before a bot is started: a typo in the path is the operator's, not a crash.
        raise CommandError(f"--script: no such file: {args.script}")
    lines = _file_lines(args.script) if args.script else _keyboard()
    return asyncio.run(chat(args, lines, lambda s: print(s, flush=True)))
