"""Every console route, for every role, with nothing, garbage and missing things: the answer
is a page, a redirect, a 4xx — never a 500; and every route declared below admin refuses the
roles under it."""

from __future__ import annotations

import re

import pytest

from bot.console import all_sections
from bot.console.pages import Role
from tests.bot.console.conftest import Console, ConsoleClient
from tests.conftest import BotHarness

PARAM = re.compile(r"\{(\w+)\}")
ROUTES = [route for section in all_sections() for route in section.routes]


def _paths(path: str) -> list[str]:
    """The route's path with its parameters as a number that exists, one that does not, and
    text."""
    if not PARAM.search(path):
        return [path]
    return [PARAM.sub(value, path) for value in ("1", "987654", "x%20y", "-1")]


async def _hit(client: ConsoleClient, method: str, path: str) -> int:
    if method == "GET":
        return (await client.get("/console" + path + "?page=x&year=abc&status=zz&month=13"))[0]
    forms: list[dict[str, str]] = [
        {},
        {"what": "x", "decision": "x", "format": "x", "kind": "x", "schedule": "x"},
        {"hours": "1e999", "priority": "99999999999", "capacity": "-5", "entry": "abc"},
    ]
    worst = 0
    for form in forms:
        worst = max(worst, (await client.post("/console" + path, form))[0])
    return worst


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.label)
async def test_no_route_answers_500_and_roles_hold(
    console: Console, harness: BotHarness, role: Role
) -> None:
    client = await console.as_role(role)
    for route in ROUTES:
        for path in _paths(route.path):
            status = await _hit(client, route.method, path)
            assert status < 500, (role, route.method, path, status)
            if role < route.role:
                assert status == 403, (role, route.method, path, status)


async def test_every_route_needs_a_login(console: Console) -> None:
    client = await console.client()
    for route in ROUTES:
        for path in _paths(route.path)[:1]:
            if route.method == "GET":
                status, _ = await client.get("/console" + path)
                assert status == 303, path
            else:
                status, _b, _l = await client.post("/console" + path, {})
                assert status == 403, path
