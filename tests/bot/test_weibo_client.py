"""The Weibo API client against the fake Weibo API on loopback: replies, posts, errors, retries."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bot.clients.weibo import WeiboAPIError, WeiboClient, WeiboOutsideWindow, split_text
from bot.config import WeiboConfig
from bot.kernel.message import Article, Reply
from bot.sandbox_weibo import FakeWeiboAPI

TOKEN = "weibo-test-token"


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeiboAPI]:
    fake = FakeWeiboAPI(TOKEN)
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.base_url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    yield fake
    await server.close()


def make_client(fake: FakeWeiboAPI, **kw: object) -> WeiboClient:
    values: dict[str, object] = {
        "access_token": TOKEN,
        "api_backoff_seconds": 0.01,
        "post_interval_seconds": 0.0,
    }
    values.update(kw)
    return WeiboClient(WeiboConfig(**values), fake.base_url)  # type: ignore[arg-type,attr-defined]


async def test_text_reply_is_sent_as_url_encoded_json(fake: FakeWeiboAPI) -> None:
    client = make_client(fake)
    await client.send_reply("1001", Reply.of_text("你好 & 欢迎=1"))
    await client.close()
    assert fake.sent_to("1001") == [
        {"type": "text", "receiver_id": "1001", "data": {"text": "你好 & 欢迎=1"}}
    ]


async def test_long_text_goes_out_in_parts_cut_at_line_breaks(fake: FakeWeiboAPI) -> None:
    client = make_client(fake)
    text = "\n".join(["一二三四五六七八九十" * 5] * 10)  # 10 lines of 50: 509 characters
    await client.send_reply("1001", Reply.of_text(text))
    await client.close()
    parts = [m["data"]["text"] for m in fake.sent_to("1001")]
    assert len(parts) == 2
    assert all(len(p) <= 300 for p in parts)
    assert "\n".join(parts) == text


def test_split_text_without_line_breaks_cuts_at_the_limit() -> None:
    assert split_text("a" * 25, 10) == ["a" * 10, "a" * 10, "a" * 5]
    assert split_text("", 10) == [""]


async def test_articles_reply(fake: FakeWeiboAPI) -> None:
    client = make_client(fake)
    await client.send_reply("7", Reply.news([Article("标题", "摘要", "http://x/1", "http://x/p")]))
    await client.close()
    (msg,) = fake.sent_to("7")
    assert msg["type"] == "articles"
    assert msg["data"]["articles"][0] == {
        "display_name": "标题",
        "summary": "摘要",
        "image": "http://x/p",
        "url": "http://x/1",
    }


async def test_image_reply_becomes_an_article_showing_the_uploaded_picture(
    fake: FakeWeiboAPI, tmp_path: Path
) -> None:
    pic = tmp_path / "cert.png"
    pic.write_bytes(b"\x89PNG fake")
    client = make_client(fake)
    await client.send_reply("7", Reply.image(path=str(pic)))
    (msg,) = fake.sent_to("7")
    url = msg["data"]["articles"][0]["image"]
    assert "/2/mss/msget?fid=" in url
    fid = url.split("fid=")[1]
    assert await client.download_media(fid) == (b"\x89PNG fake", "image/png")
    await client.close()


async def test_download_media(fake: FakeWeiboAPI) -> None:
    fid = fake.add_media(b"jpegbytes")
    client = make_client(fake)
    assert await client.download_media(fid) == (b"jpegbytes", "image/jpeg")
    with pytest.raises(WeiboAPIError) as exc:
        await client.download_media("404")
    assert exc.value.code == 20003
    await client.close()


async def test_share_status_returns_the_post_id(fake: FakeWeiboAPI) -> None:
    client = make_client(fake)
    post_id = await client.share_status("公益接力 #网络公益# http://127.0.0.1/a?b=1&c=2")
    with_pic = await client.share_status("带图", pic=b"\xff\xd8jpeg", pic_name="a.jpg")
    await client.close()
    assert post_id == fake.posts[0]["idstr"]
    assert fake.posts[0]["text"] == "公益接力 #网络公益# http://127.0.0.1/a?b=1&c=2"
    assert with_pic == fake.posts[1]["idstr"] and fake.posts[1]["pic_size"] == 6


async def test_share_status_keeps_the_minimum_interval(fake: FakeWeiboAPI) -> None:
    client = make_client(fake, post_interval_seconds=0.3)
    start = time.monotonic()
    await client.share_status("一")
    await client.share_status("二")
    await client.close()
    assert time.monotonic() - start >= 0.3
    assert [p["text"] for p in fake.posts] == ["一", "二"]


async def test_rate_limit_errors_back_off_and_retry(fake: FakeWeiboAPI) -> None:
    fake.inject("/2/messages/reply.json", 10023, times=2)
    client = make_client(fake)
    await client.send_reply("1", Reply.of_text("hi"))
    await client.close()
    assert len(fake.sent_to("1")) == 1


async def test_retries_are_bounded_and_the_error_is_typed(fake: FakeWeiboAPI) -> None:
    fake.inject("/2/statuses/share.json", 10022, times=5)
    client = make_client(fake, api_max_retries=2)
    with pytest.raises(WeiboAPIError) as exc:
        await client.share_status("x")
    await client.close()
    assert exc.value.code == 10022
    assert fake.posts == []


async def test_bad_token_is_surfaced(fake: FakeWeiboAPI) -> None:
    client = make_client(fake, access_token="wrong")
    with pytest.raises(WeiboAPIError) as exc:
        await client.send_reply("1", Reply.of_text("hi"))
    await client.close()
    assert exc.value.code == 21332


async def test_unfollowed_user_raises_outside_window(fake: FakeWeiboAPI) -> None:
    fake.followers["9"] = False
    client = make_client(fake)
    with pytest.raises(WeiboOutsideWindow):
        await client.send_reply("9", Reply.of_text("hi"))
    assert (await client.user_info("9"))["follow"] == 0
    await client.close()
