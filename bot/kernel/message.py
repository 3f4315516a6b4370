"""The channel-neutral message pair: ``Inbound`` from a user, ``Reply`` back.

Adapters translate platform XML / JSON into these and back; handlers never see either format.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any


class Channel(StrEnum):
    WECHAT = "wechat"
    WEIBO = "weibo"


class Kind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    SHORTVIDEO = "shortvideo"
    LOCATION = "location"
    LINK = "link"
    EVENT = "event"
    UNKNOWN = "unknown"


class Event(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    SCAN = "scan"
    LOCATION = "location"
    CLICK = "click"
    VIEW = "view"
    MASS_SEND_FINISHED = "masssendjobfinish"
    TEMPLATE_SEND_FINISHED = "templatesendjobfinish"
    OTHER = "other"


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    scale: int | None = None
    label: str | None = None
    precision: float | None = None


@dataclass(frozen=True)
class Link:
    title: str
    description: str
    url: str


@dataclass(frozen=True, slots=True)
class UserKey:
    """One person on one account of one channel: the key of everything kept per person (flows,
    submissions, registrations, notices). The three parts always travel together, so they
    travel as one value; ``channel`` is typed, a Weibo uid can never pass for an openid."""

    channel: Channel
    account: str  # the public account (gh_ id, Weibo uid)
    user: str  # the person (openid, Weibo uid)


@dataclass(frozen=True)
class Inbound:
    """One message or event from a user, whatever the channel."""

    channel: Channel
    account: str  # the public account receiving it (gh_ id, Weibo uid)
    user: str  # the sender (openid, Weibo uid)
    kind: Kind
    key: str  # unique per message; retries carry the same key
    received_at: datetime  # aware UTC
    text: str | None = None  # text content, or voice recognition
    media_id: str | None = None
    media_url: str | None = None
    media_format: str | None = None
    thumb_media_id: str | None = None
    location: Location | None = None
    link: Link | None = None
    event: Event | None = None
    event_key: str | None = None  # CLICK key, VIEW url, SCAN scene
    scene: str | None = None  # QR scene of subscribe/scan
    extra: dict[str, str] = field(default_factory=dict)

    @cached_property
    def user_key(self) -> UserKey:
        """Who sent this, as one key."""
        return UserKey(self.channel, self.account, self.user)

    # Cached: every filter of every router asks for it (cached_property writes the instance
    # dict directly, so it works on a frozen dataclass).
    @cached_property
    def word(self) -> str:
        """Normalised text for keyword matching: stripped, full-width ASCII folded."""
        return normalize(self.text or "")

    @cached_property
    def folded(self) -> str:
        """The text as keywords and exact commands are matched (``fold``)."""
        return _fold_normalized(self.word)  # fold(text), from the normalised text at hand


# Full-width ASCII (U+FF01..U+FF5E) to ASCII and the ideographic space to a space. Most
# messages hold none, and a regex finds that in C far faster than a Python loop over every
# character (or str.translate with a dict, which boxes each one) would.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: " "}
_HAS_FULL_WIDTH = re.compile("[\u3000\uff01-\uff5e]")


def normalize(text: str) -> str:
    """Fold full-width ASCII and spaces so '投票　１２' matches '投票 12'."""
    # Speech recognition ends sentences with full stops; typed keywords never need them.
    if _HAS_FULL_WIDTH.search(text):
        text = text.translate(_FULL_WIDTH)
    return " ".join(text.split()).rstrip("。.!！")


def fold(text: str) -> str:
    """``normalize``d, lower case, and without trailing ? or ~ (在吗？, 谢谢～): the key a message
    and a keyword pattern are matched by. Flow answers keep theirs (``normalize``)."""
    return _fold_normalized(normalize(text))


def _fold_normalized(word: str) -> str:
    return word.rstrip(".!?~").lower()


@dataclass(frozen=True)
class Article:
    title: str
    description: str = ""
    url: str = ""
    pic_url: str = ""


class ReplyKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    NEWS = "news"


@dataclass(frozen=True)
class Reply:
    """What the bot answers; build with ``Reply.text``, ``Reply.image`` or ``Reply.news``."""

    kind: ReplyKind
    text: str = ""
    media_id: str | None = None
    image_path: str | None = None  # a local file the dispatcher uploads to get a media_id
    articles: tuple[Article, ...] = ()

    @classmethod
    def of_text(cls, text: str) -> Reply:
        return cls(ReplyKind.TEXT, text=text)

    @classmethod
    def image(cls, *, media_id: str | None = None, path: str | None = None) -> Reply:
        if not media_id and not path:
            raise ValueError("an image reply needs a media_id or a file path")
        return cls(ReplyKind.IMAGE, media_id=media_id, image_path=path)

    @classmethod
    def news(cls, articles: list[Article] | tuple[Article, ...]) -> Reply:
        if not articles:
            raise ValueError("a news reply needs at least one article")
        return cls(ReplyKind.NEWS, articles=tuple(articles))

    def prefixed(self, notice: str) -> Reply:
        """This reply with ``notice`` in front (texts only; other kinds are returned as is)."""
        if self.kind is not ReplyKind.TEXT or not notice:
            return self
        return Reply.of_text(f"{notice}\n\n{self.text}" if self.text else notice)

    def to_json(self) -> str:
        """Serialise for the reply cache of the dedupe table."""
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Reply:
        data: dict[str, Any] = json.loads(raw)
        data["kind"] = ReplyKind(data["kind"])
        data["articles"] = tuple(Article(**a) for a in data.get("articles", ()))
        return cls(**data)
