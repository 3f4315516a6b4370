"""Routers skipped by their text gate: ``first_match`` picks the route a scan of every filter
picks, for every word and command the features answer, their variants and other messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.kernel.message import Channel, Event, Inbound, Kind
from handlers.registry import FEATURES, build_handlers
from handlers.router import NO_TEXT, Click, Command, Regex, Route, Router, Text, first_match


def _scan(routers: list[Router], msg: Inbound) -> tuple[Route, Any] | None:
    """Every filter in order, no gates: what ``first_match`` must agree with."""
    for router in routers:
        for route in router.routes:
            matched = route.filter.check(msg)
            if matched:
                return route, matched
    return None


def _msg(kind: Kind, text: str = "", **kw: Any) -> Inbound:
    return Inbound(
        channel=Channel.WECHAT, account="gh_a", user="u1", kind=kind,
        received_at=datetime.now(UTC), key="k", text=text, **kw,
    )  # fmt: skip


def _texts(routers: list[Router]) -> list[str]:
    words = {"", "活动介绍", "你好", "随便说点什么", "ＡＢＣ", "投票", "投票 12", "投票12x"}
    for router in routers:
        for route in router.routes:
            gate = route.filter.text_gate()
            if gate is None:
                continue
            for word in (*gate.exact, *gate.prefixes):
                words.update({word, word.upper(), f" {word} ", word + " 3", word + "12", word[:-1]})
    return sorted(words)


@pytest.mark.parametrize("off", [(), tuple(f.name for f in FEATURES[1:3])], ids=["all", "off"])
def test_first_match_agrees_with_a_scan_of_every_filter(off: tuple[str, ...]) -> None:
    routers = list(build_handlers(off=off).routers)
    messages = [_msg(kind, text) for text in _texts(routers) for kind in (Kind.TEXT, Kind.VOICE)]
    clicks = {key for r in routers for route in r.routes for key in route.filter.clicks()}
    messages += [_msg(Kind.EVENT, event=Event.CLICK, event_key=key) for key in clicks]
    messages += [
        _msg(Kind.EVENT, event=Event.SUBSCRIBE),
        _msg(Kind.EVENT, event=Event.SUBSCRIBE, scene="volunteer", event_key="volunteer"),
        _msg(Kind.IMAGE, media_id="m1"),
        _msg(Kind.LOCATION),
    ]
    assert len(messages) > 100
    for msg in messages:
        found, expected = first_match(routers, msg), _scan(routers, msg)
        assert (found and found[0].name) == (expected and expected[0].name), msg
        assert _same_match(found, expected)


def _same_match(a: tuple[Route, Any] | None, b: tuple[Route, Any] | None) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a[1], re.Match) and isinstance(b[1], re.Match):
        return (a[1].group(0), a[1].groups()) == (b[1].group(0), b[1].groups())
    return bool(a[1] == b[1])


def test_gates() -> None:
    assert Text("报名").text_gate() is not None
    assert Command("投票", "Vote").text_gate() is None  # cased: IGNORECASE decides
    assert Regex("x").text_gate() is None
    assert Click("A").text_gate() == NO_TEXT
    gate = (Text("我的") | Command("投票") | Click("A")).text_gate()
    assert gate is not None
    assert gate.exact == {"我的"} and gate.prefixes == ("投票",)
    assert (Text("a") | Regex("b")).text_gate() is None


def test_a_route_added_later_opens_the_gate() -> None:
    router = Router("r")

    @router.on(Text("一"))
    async def one(ctx: Any) -> None:
        return None

    assert first_match([router], _msg(Kind.TEXT, "二")) is None

    @router.on(Text("二"))
    async def two(ctx: Any) -> None:
        return None

    found = first_match([router], _msg(Kind.TEXT, "二"))
    assert found is not None and found[0].name == "r.two"
