"""WeChat passive reply XML, written from templates, and the safe-mode envelope around it.

The same elements wechatpy's reply classes write (``tests/bot/test_wechat_xml.py`` checks each
against wechatpy's render and reader), without building a reply object and its field
descriptors on every request: on the keyword path that was one of the largest single costs. A
value goes in as CDATA with a literal ``]]>`` split (``bot.xmlguard.cdata``), which wechatpy
does not do. wechatpy still does the AES and the signature.

The bot's ``Reply`` has text, image and news kinds; voice, video and music are the other
passive replies WeChat accepts, for a feature that answers with its own media. Like a news
reply's ``Article``, a video or music reply's element is one value (``Video``, ``Music``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import ClassVar

from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.utils import WeChatSigner

from bot.kernel.message import Article
from bot.xmlguard import cdata


def _head(user: str, account: str, created: int, msg_type: str) -> str:
    return (
        f"<xml><ToUserName>{cdata(user)}</ToUserName>"
        f"<FromUserName>{cdata(account)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
    )


def _optional(name: str, value: str | None) -> str:
    return "" if value is None else f"<{name}>{cdata(value)}</{name}>"


def text_reply(user: str, account: str, created: int, content: str) -> str:
    """A text reply from ``account`` to ``user``."""
    return _head(user, account, created, "text") + f"<Content>{cdata(content)}</Content></xml>"


def image_reply(user: str, account: str, created: int, media_id: str) -> str:
    """An image reply (an uploaded image's ``media_id``)."""
    return (
        _head(user, account, created, "image")
        + f"<Image><MediaId>{cdata(media_id)}</MediaId></Image></xml>"
    )


def voice_reply(user: str, account: str, created: int, media_id: str) -> str:
    """A voice reply (an uploaded voice's ``media_id``)."""
    return (
        _head(user, account, created, "voice")
        + f"<Voice><MediaId>{cdata(media_id)}</MediaId></Voice></xml>"
    )


@dataclass(frozen=True)
class Video:
    """A video reply's element; title and description are optional, as in WeChat's format."""

    # The XML names of the fields, in WeChat's order.
    tags: ClassVar[tuple[str, ...]] = ("MediaId", "Title", "Description")
    media_id: str
    title: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Music:
    """A music reply's element; everything but the thumbnail is optional."""

    tags: ClassVar[tuple[str, ...]] = (
        "ThumbMediaId",
        "Title",
        "Description",
        "MusicUrl",
        "HQMusicUrl",
    )
    thumb_media_id: str
    title: str | None = None
    description: str | None = None
    music_url: str | None = None
    hq_music_url: str | None = None


def _element_reply(
    user: str, account: str, created: int, msg_type: str, element: Video | Music
) -> str:
    """A reply of ``msg_type`` carrying ``element``, a field left None left out."""
    fields = zip(element.tags, astuple(element), strict=True)
    children = "".join(_optional(tag, value) for tag, value in fields)
    tag = msg_type.capitalize()
    return _head(user, account, created, msg_type) + f"<{tag}>{children}</{tag}></xml>"


def video_reply(user: str, account: str, created: int, video: Video) -> str:
    """A video reply (an uploaded video's ``media_id``)."""
    return _element_reply(user, account, created, "video", video)


def music_reply(user: str, account: str, created: int, music: Music) -> str:
    """A music reply (an uploaded thumbnail's ``media_id``)."""
    return _element_reply(user, account, created, "music", music)


def news_reply(user: str, account: str, created: int, articles: Sequence[Article]) -> str:
    """A news (articles) reply; the caller bounds the number of articles."""
    items = "".join(
        f"<item><Title>{cdata(a.title)}</Title><Description>{cdata(a.description)}</Description>"
        f"<PicUrl>{cdata(a.pic_url)}</PicUrl><Url>{cdata(a.url)}</Url></item>"
        for a in articles
    )
    return (
        _head(user, account, created, "news")
        + f"<ArticleCount>{len(articles)}</ArticleCount><Articles>{items}</Articles></xml>"
    )


def encrypted(crypto: WeChatCrypto, xml: str, nonce: str, timestamp: str) -> str:
    """``xml`` AES-encrypted for ``crypto``'s account, in the signed safe-mode envelope."""
    ciphertext = PrpCrypto(crypto.key).encrypt(xml, crypto.app_id)
    encrypt = ciphertext.decode() if isinstance(ciphertext, bytes) else ciphertext
    signer = WeChatSigner()
    signer.add_data(crypto.token, timestamp, nonce, encrypt)
    return (
        f"<xml><Encrypt>{cdata(encrypt)}</Encrypt>"
        f"<MsgSignature>{cdata(signer.signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>"
    )
