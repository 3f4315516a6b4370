"""Console accounts and security over real HTTP: login, sessions, CSRF, Origin, throttle,
headers, roles; nothing a client sends gives a 500."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.config import Config
from bot.console.pages import Role
from tests.bot.console.conftest import PASSWORD, Console, ConsoleClient
from tests.conftest import BotHarness


async def test_root_redirects_to_console_and_login_required(console: Console) -> None:
    client = await console.client()
    async with client.http.get(client.url("/"), allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/console/"
    status, _ = await client.get("/console/")
    assert status == 303
    status, body, _ = await client.post("/console/operators/add", {"name": "x"})
    assert status == 403 and "权限" in body


async def test_login_sets_a_strict_httponly_cookie_and_security_headers(console: Console) -> None:
    await console.operator("ada", Role.ADMIN)
    client = await console.client()
    async with client.http.get(client.url("/console/login")) as resp:
        assert resp.status == 200
        assert "登录运营后台" in await resp.text()
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"
    async with client.http.post(
        client.url("/console/login"),
        data={"name": "ada", "password": PASSWORD, "next": "/console/operators"},
        headers={"Origin": client.origin},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/console/operators"
        cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    status, body = await client.get("/console/")
    assert status == 200 and "运营概览" in body and "ada" in body


@pytest.mark.config(server={"public_url": "https://bot.example.org"})
async def test_cookie_is_secure_behind_https(console: Console) -> None:
    await console.operator("ada", Role.ADMIN)
    client = await console.client()
    async with client.http.post(
        client.url("/console/login"),
        data={"name": "ada", "password": PASSWORD},
        headers={"Origin": "https://bot.example.org"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303
        assert "Secure" in resp.headers["Set-Cookie"]


async def test_open_redirect_after_login_is_refused(console: Console) -> None:
    await console.operator("ada", Role.ADMIN)
    client = await console.client()
    for target in ("//evil.example/x", "https://evil.example/", "/console\\@evil"):
        async with client.http.post(
            client.url("/console/login"),
            data={"name": "ada", "password": PASSWORD, "next": target},
            headers={"Origin": client.origin},
            allow_redirects=False,
        ) as resp:
            assert resp.headers["Location"] == "/console/"


async def test_wrong_password_is_answered_in_chinese(console: Console) -> None:
    await console.operator("ada", Role.ADMIN)
    client = await console.client()
    status, body, _ = await client.login("ada", "wrong password")
    assert status == 401 and "账号或密码不正确" in body
    status, body, _ = await client.login("nobody", "wrong password")
    assert status == 401 and "账号或密码不正确" in body


async def test_ten_failures_lock_the_account_even_for_the_right_password(
    console: Console, harness: BotHarness
) -> None:
    await console.operator("ada", Role.ADMIN)
    client = await console.client()
    for _ in range(10):
        status, _b, _l = await client.login("ada", "wrong password")
        assert status == 401
    status, body, _ = await client.login("ada")
    assert status == 429 and "登录失败次数过多" in body and "15 分钟" in body
    # The lock is in the database: a client from elsewhere is locked out of the account too.
    other = await console.client()
    status, _b, _l = await other.login("ada")
    assert status == 429
    harness.clock.advance(minutes=16)
    status, _b, _l = await client.login("ada")
    assert status == 303


@pytest.mark.config(console={"client_ip_header": "X-Real-IP"})
async def test_ten_failures_from_one_address_lock_that_address(console: Console) -> None:
    await console.operator("ada", Role.ADMIN)
    client = await console.client()
    for i in range(10):
        status, _b, _l = await client.post(
            "/console/login",
            {"name": f"guess{i}", "password": "x"},
            csrf=False,
            headers={"X-Real-IP": "203.0.113.7"},
        )
        assert status == 401
    status, body, _ = await client.post(
        "/console/login",
        {"name": "ada", "password": PASSWORD},
        csrf=False,
        headers={"X-Real-IP": "203.0.113.7"},
    )
    assert status == 429 and "分钟后再试" in body
    status, _b, _l = await client.post(
        "/console/login",
        {"name": "ada", "password": PASSWORD},
        csrf=False,
        headers={"X-Real-IP": "198.51.100.1"},
    )
    assert status == 303


async def test_state_changes_need_the_csrf_token_and_same_origin(console: Console) -> None:
    admin = await console.as_role(Role.ADMIN)
    form = {"name": "eve", "role": "viewer", "password": "long enough pw"}
    status, body, _ = await admin.post("/console/operators/add", form, csrf=False)
    assert status == 403 and "权限" in body
    status, _b, _l = await admin.post("/console/operators/add", {**form, "csrf": "forged"})
    assert status == 403
    status, _b, _l = await admin.post("/console/operators/add", form, origin="https://evil.example")
    assert status == 403
    status, _b, _l = await admin.post("/console/operators/add", form, origin=None)
    assert status == 403
    # A Referer of the console's own origin is accepted when Origin is missing.
    status, _b, location = await admin.post(
        "/console/operators/add",
        form,
        origin=None,
        headers={"Referer": admin.origin + "/console/operators"},
    )
    assert status == 303 and location.startswith("/console/operators"), _b
    # Cross-origin login (login CSRF) is refused too.
    status, _b, _l = await admin.post(
        "/console/login",
        {"name": "eve", "password": "long enough pw"},
        origin="https://evil.example",
    )
    assert status == 403


async def test_roles_are_enforced_on_the_server(console: Console) -> None:
    viewer = await console.as_role(Role.VIEWER)
    editor = await console.as_role(Role.EDITOR)
    status, _ = await viewer.get("/console/")
    assert status == 200
    status, body = await viewer.get("/console/operators")
    assert status == 403 and "没有权限" in body
    status, body = await editor.get("/console/operators")
    assert status == 200 and "审计日志" in body and "新建账号" not in body
    form = {"name": "eve", "role": "admin", "password": "long enough pw"}
    status, _b, _l = await editor.post("/console/operators/add", form)
    assert status == 403
    status, _b = await editor.get("/console/operators/audit.csv")
    assert status == 403


async def test_disabling_an_operator_ends_their_sessions(console: Console) -> None:
    admin = await console.as_role(Role.ADMIN)
    editor = await console.as_role(Role.EDITOR)
    from storage.operators import get_operator

    async with console.harness.bot.sessions() as session:
        op = await get_operator(session, "editor1")
    assert op is not None
    await admin.get("/console/operators")
    status, _b, _l = await admin.post(f"/console/operators/{op.id}/change", {"what": "disable"})
    assert status == 303
    status, _ = await editor.get("/console/")
    assert status == 303  # back to the login form
    status, _body, _ = await editor.login("editor1")
    assert status == 401
    # The last admin cannot lock everyone out.
    status, _body, _ = await admin.post(f"/console/operators/{op.id}/change", {"what": "enable"})
    assert status == 303


async def test_sessions_expire_when_idle_and_absolutely(
    console: Console, harness: BotHarness
) -> None:
    admin = await console.as_role(Role.ADMIN)
    harness.clock.advance(minutes=29)
    assert (await admin.get("/console/"))[0] == 200
    harness.clock.advance(minutes=31)
    assert (await admin.get("/console/"))[0] == 303
    admin = await console.as_role(Role.ADMIN)
    for _ in range(13):
        harness.clock.advance(minutes=59)
        await admin.get("/console/")
    assert (await admin.get("/console/"))[0] == 303


async def test_operator_changes_validate_in_chinese(console: Console) -> None:
    admin = await console.as_role(Role.ADMIN)
    await admin.get("/console/operators")
    cases = [
        ({"name": "bad name!", "role": "viewer", "password": "long enough"}, "账号只能由"),
        ({"name": "eve", "role": "viewer", "password": "short"}, "至少需要8位"),
        ({"name": "eve", "role": "boss", "password": "long enough"}, "选项无效"),
        ({"name": "", "role": "viewer", "password": "long enough"}, "请填写"),
        ({"name": "admin1", "role": "viewer", "password": "long enough"}, "已存在"),
    ]
    for form, expected in cases:
        status, body, _ = await admin.post("/console/operators/add", form)
        assert status == 400 and expected in body, (form, body)
    from storage.operators import get_operator

    async with console.harness.bot.sessions() as session:
        me = await get_operator(session, "admin1")
    assert me is not None
    status, body, _ = await admin.post(f"/console/operators/{me.id}/change", {"what": "disable"})
    assert status == 400 and "不能停用自己" in body
    status, body, _ = await admin.post("/console/operators/999/change", {"what": "enable"})
    assert status == 400 and "没有编号为 999" in body
    status, body, _ = await admin.post("/console/operators/abc/change", {"what": "enable"})
    assert status == 404 and "页面不存在" in body


@pytest.mark.config(console={"upload_max_bytes": 500_000})
async def test_nothing_a_client_sends_gives_a_500(console: Console) -> None:
    admin = await console.as_role(Role.ADMIN)
    await admin.get("/console/operators")
    bodies: list[tuple[bytes, str]] = [
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
        (b"\xff\xfe\x00garbage=%%%", "application/x-www-form-urlencoded"),
        (b"x" * 900_000, "application/x-www-form-urlencoded"),
        (b"{}", "application/json"),
    ]
    for body, content_type in bodies:
        async with admin.http.post(
            admin.url("/console/operators/add"),
            data=body,
            headers={"Content-Type": content_type, "Origin": admin.origin},
            allow_redirects=False,
        ) as resp:
            assert resp.status in (400, 403, 413), (content_type, resp.status)
    for path in ("/console/nope", "/console/operators/x/change", "/console/static/../../x"):
        status, _ = await admin.get(path)
        assert status in (403, 404, 405), path
    async with admin.http.request("PUT", admin.url("/console/operators")) as resp:
        assert resp.status == 405
    status, _ = await admin.get("/console/operators?page=abc&actor=" + "x" * 500)
    assert status == 200
    async with admin.http.get(
        admin.url("/console/"), headers={"Cookie": "console_session=" + "a" * 5000}
    ) as resp:
        assert resp.status in (200, 303, 400)


async def test_audit_log_filters_and_exports(console: Console) -> None:
    admin = await console.as_role(Role.ADMIN)
    await console.operator("zed", Role.VIEWER)
    status, body = await admin.get("/console/operators?action=operators.add")
    assert status == 200 and "name=zed role=viewer" in body and "<td>console.login" not in body
    status, body = await admin.get("/console/operators/audit.csv?action=console.")
    assert status == 200 and "console.login" in body and "name=zed" not in body
    assert body.startswith("\ufeff时间")


async def test_the_login_lock_holds_across_two_workers_under_a_burst(
    console: Console, harness: BotHarness, bot_config: Config
) -> None:
    """Thirty wrong passwords for one account sent at once, half to each of two web processes
    on one database: exactly ten are checked, the rest are locked, on both."""
    await console.operator("ada", Role.ADMIN)
    app = create_app(bot_config, clock=harness.clock, migrate=False)
    second = TestServer(app, host="127.0.0.1")
    await second.start_server()
    try:
        other = BotHarness(second, harness.http, harness.fake, harness.clock)
        first_client = await console.client()
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
            clients = [first_client, ConsoleClient(other, http)]
            tries = await asyncio.gather(
                *(clients[i % 2].login("ada", f"guess {i}") for i in range(30))
            )
            assert Counter(status for status, _b, _l in tries) == {401: 10, 429: 20}
            for client in clients:
                status, body, _ = await client.login("ada")
                assert status == 429 and "登录失败次数过多" in body
    finally:
        await second.close()
