"""The public logo gallery over real HTTP: approved entries only, escaping, counts, the entry
page, design files served safely, and 404 pages for everything unknown."""

from __future__ import annotations

import hashlib

import pytest

from bot.kernel.message import Channel
from handlers.logo_phases import logo_media_path
from storage import logo as store
from tests.conftest import BotHarness
from tests.handlers.logo_support import PHASES, add_approved, design, shanghai, submit_to_confirm


async def get(harness: BotHarness, path: str) -> tuple[int, str, dict[str, str]]:
    """GET ``path`` from the bot; (status, body, headers)."""
    async with harness.http.get(harness.server.make_url(path)) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def submitted_and_approved(harness: BotHarness, seed: int = 40) -> tuple[int, bytes]:
    """An entry sent through the real flow, then approved; (number, design bytes)."""
    chatter = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    image = design(seed)
    await submit_to_confirm(chatter, image, title="同心圆", statement="两只手拉成一颗心。")
    await chatter.say("确认")
    async with harness.bot.sessions() as session, session.begin():
        (entry,) = await store.list_entries(session, "pending")
        await store.review_entry(session, entry.id, "approved", harness.clock.now())
    return entry.id, image


async def test_gallery_lists_approved_entries(harness: BotHarness) -> None:
    number, image = await submitted_and_approved(harness)
    pending = await harness_pending(harness)
    status, html, headers = await get(harness, "/logo")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "charset=utf-8" in headers["Content-Type"]
    assert "script-src" not in headers["Content-Security-Policy"]
    assert 'name="viewport"' in html
    assert f"{number}号" in html and "《同心圆》" in html and "两只手拉成一颗心。" in html
    assert "作者：张*丰" in html and "张三丰" not in html and "13812345678" not in html
    assert f"/logo/media/{hashlib.sha256(image).hexdigest()}.png" in html
    assert f'href="/logo/{number}"' in html
    assert "待审作品" not in html and f'href="/logo/{pending}"' not in html
    assert "票</span>" not in html  # no counts unless configured or published
    assert "目前作品征集和投票同时开放" in html


async def harness_pending(harness: BotHarness) -> int:
    async with harness.bot.sessions() as session, session.begin():
        entry = await store.add_entry(
            session, channel="wechat", user_id="x", title="待审作品", now=harness.clock.now()
        )
        return entry.id


async def test_titles_and_statements_are_escaped(harness: BotHarness) -> None:
    (number,) = await add_approved(
        harness, "<script>alert(1)</script>", statement='"><img src=x onerror=alert(2)>'
    )
    for path in ("/logo", f"/logo/{number}"):
        status, html, _ = await get(harness, path)
        assert status == 200
        assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html


async def test_entry_page_says_how_to_vote(harness: BotHarness) -> None:
    number, _ = await submitted_and_approved(harness)
    status, html, _ = await get(harness, f"/logo/{number}")
    assert status == 200
    assert f"在公众号回复“投票 {number}”为这件作品投票" in html
    assert "《同心圆》" in html and "作者：张*丰" in html and 'href="/logo"' in html


@pytest.mark.parametrize(
    "path", ["/logo/999", "/logo/abc", "/logo/99999999999999999999", "/logo/-1"]
)
async def test_unknown_entries_are_404_pages(harness: BotHarness, path: str) -> None:
    status, html, headers = await get(harness, path)
    assert status == 404 and "没有找到这件作品" in html
    assert headers["Content-Type"].startswith("text/html")


async def test_pending_entry_page_is_404(harness: BotHarness) -> None:
    number = await harness_pending(harness)
    status, html, _ = await get(harness, f"/logo/{number}")
    assert status == 404 and "待审作品" not in html


async def test_design_files_are_served_with_type_and_cache(harness: BotHarness) -> None:
    number, image = await submitted_and_approved(harness)
    name = f"{hashlib.sha256(image).hexdigest()}.png"
    async with harness.http.get(harness.server.make_url(f"/logo/media/{name}")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/png"
        assert "max-age" in resp.headers["Cache-Control"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert await resp.read() == image
    # Once the entry is rejected its file is no longer served.
    async with harness.bot.sessions() as session, session.begin():
        await store.review_entry(session, number, "rejected", harness.clock.now(), "撤回")
    status, _, _ = await get(harness, f"/logo/media/{name}")
    assert status == 404


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2Fsecret.txt",
        "%2e%2e%2f%2e%2e%2fsecret.txt",
        "..%5C..%5Csecret.txt",
        "abc.png",
        "0" * 64 + ".png",  # well-formed, but no entry has it
        "0" * 64 + ".gif",
    ],
)
async def test_unsafe_or_unknown_media_names_are_404(harness: BotHarness, name: str) -> None:
    media = logo_media_path(harness.bot.config)
    media.mkdir(parents=True, exist_ok=True)
    (media / ("0" * 64 + ".png")).write_bytes(design(42))  # on disk, but no entry's design
    (media.parent.parent / "secret.txt").write_text("TOP SECRET")  # what ../../ would reach
    status, body, _ = await get(harness, f"/logo/media/{name}")
    assert status == 404 and "没有找到" in body and "TOP SECRET" not in body


async def test_pending_designs_are_not_served(harness: BotHarness) -> None:
    chatter = harness.chatter(Channel.WEIBO)  # type: ignore[attr-defined]
    image = design(41)
    await submit_to_confirm(chatter, image)
    await chatter.say("确认")
    status, _, _ = await get(harness, f"/logo/media/{hashlib.sha256(image).hexdigest()}.png")
    assert status == 404


@pytest.mark.config(logo={"gallery_show_counts": True})
async def test_live_counts_when_configured(harness: BotHarness) -> None:
    _first, second = await add_approved(harness, "中原绿叶", "e起同心")
    voter = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    assert "投票成功" in await voter.say(f"投票 {second}")
    _, html, _ = await get(harness, "/logo")
    assert "1票" in html and "0票" in html and "第1名" not in html
    _, html, _ = await get(harness, f"/logo/{second}")
    assert "1票" in html


@pytest.mark.config(logo=PHASES)
async def test_counts_and_places_once_results_are_published(harness: BotHarness) -> None:
    harness.clock.set(shanghai("2026-03-30 12:00"))
    _first, second = await add_approved(harness, "中原绿叶", "e起同心")
    voter = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    assert "投票成功" in await voter.say(f"投票 {second}")
    _, html, _ = await get(harness, "/logo")
    assert "票</span>" not in html and "当前为公开投票阶段" in html
    harness.clock.set(shanghai("2026-04-20 12:00"))
    _, html, _ = await get(harness, "/logo")
    assert "第1名 1票" in html and "第2名 0票" in html
    assert html.index("《e起同心》") < html.index("《中原绿叶》")  # ranked order
    assert "评选结果已公布" in html


async def test_empty_gallery(harness: BotHarness) -> None:
    status, html, _ = await get(harness, "/logo/")
    assert status == 200 and "暂时还没有通过审核的作品" in html
