"""What a post becomes on each platform: WeChat mass-send payloads and Weibo statuses.

The same builders serve the real send and ``--dry-run``, so a dry run prints exactly what
would go out: uploads are replaced by a named placeholder there.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from schedules.posts import body_of, render
from storage.schedules import CampaignPost

# An uploader turns (local path, WeChat media type) into a media id.
Uploader = Callable[[str, str], Awaitable[str]]


async def wechat_content(
    post: CampaignPost, values: Mapping[str, str], upload: Uploader, news: Uploader
) -> dict[str, Any]:
    """The message part of a mass send (msgtype and its content)."""
    body = body_of(post)
    if post.kind == "text":
        return {"msgtype": "text", "text": {"content": render(body["text"], values)}}
    if post.kind == "image":
        return {"msgtype": "image", "image": {"media_id": await upload(body["image"], "image")}}
    articles = []
    for art in body["articles"]:
        articles.append(
            {
                "thumb_media_id": await upload(art["cover"], "thumb"),
                "title": render(art["title"], values),
                "digest": render(art.get("digest", ""), values),
                "content": render(art.get("digest", ""), values),
                "content_source_url": art.get("link", ""),
                "show_cover_pic": 1,
            }
        )
    media_id = await news(json.dumps({"articles": articles}, ensure_ascii=False), "news")
    return {"msgtype": "mpnews", "mpnews": {"media_id": media_id}, "send_ignore_reprint": 0}


def wechat_sendall(
    content: Mapping[str, Any], tag_id: int | None, client_msg_id: str
) -> dict[str, Any]:
    """The mass/sendall body: to all followers or to one tag."""
    audience: dict[str, Any] = (
        {"is_to_all": True} if tag_id is None else {"is_to_all": False, "tag_id": tag_id}
    )
    return {"filter": audience, **content, "clientmsgid": client_msg_id}


@dataclass(frozen=True)
class WeiboStatus:
    text: str
    pic_path: str | None


def weibo_status(post: CampaignPost, values: Mapping[str, str]) -> WeiboStatus:
    """The status text (with the link the share API requires) and optional picture."""
    body = body_of(post)
    link = post.link
    if post.kind == "text":
        return WeiboStatus(f"{render(body['text'], values)} {link}".strip(), None)
    if post.kind == "image":
        caption = render(body.get("text", ""), values)
        return WeiboStatus(f"{caption} {link}".strip(), body["image"])
    art = body["articles"][0]
    text = f"【{render(art['title'], values)}】{render(art.get('digest', ''), values)}"
    return WeiboStatus(f"{text} {art.get('link') or link}".strip(), art.get("cover"))
