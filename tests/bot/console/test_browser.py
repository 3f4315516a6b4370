"""End-to-end tests of the console in headless Chromium (Debian's /usr/bin/chromium, driven by
playwright; no browser is ever downloaded).

One bot (SQLite, fake WeChat API) is served from a thread of its own for the whole module and
one browser is shared by every test; each test opens its own browser context (cookies). The
flows: log in; compose and approve a push and see it in the calendar; approve a logo entry and
see it in the public gallery; create an activity and open its printable check-in page; export
volunteers and open the file. Every page is photographed at laptop and phone widths into
``screenshots/`` (git-ignored)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import shutil
import threading
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from openpyxl import load_workbook

from bot.app import create_app
from bot.appkeys import BOT
from bot.console.pages import Role
from bot.kernel.clock import SHANGHAI
from bot.kernel.context import BotContext
from bot.kernel.message import Channel, UserKey
from bot.sandbox import FakeWeChatAPI
from bot.simulate import WeChatUser
from handlers.logo_phases import logo_media_path
from handlers.operators import create_operator
from handlers.stories import stories_media_path
from storage import logo as logo_store
from storage import stories as story_store
from storage.volunteers import Volunteer, add_hours
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, TOKEN, make_config
from tests.handlers.logo_support import design

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser test pw"
SHOTS = Path(__file__).resolve().parents[3] / "screenshots"
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian chromium not installed (apt-get install chromium)"
)

T = TypeVar("T")


class LiveBot:
    """The bot on a loopback port, served by an event loop in a background thread."""

    def __init__(self, tmp: Path, template: Path) -> None:
        self.tmp = tmp
        db = tmp / "bot.db"
        shutil.copy(template, db)
        self.db_url = f"sqlite+aiosqlite:///{db}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the bot's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        self.fake = FakeWeChatAPI(APP_ID, "test-secret")
        self.fake_server = TestServer(self.fake.app(), host="127.0.0.1")
        await self.fake_server.start_server()
        base = str(self.fake_server.make_url("")).rstrip("/")
        config = make_config(self.db_url, self.tmp, base)
        self.app = create_app(config, migrate=False)
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    @property
    def bot(self) -> BotContext:
        return self.app[BOT]

    def stop(self) -> None:
        async def close() -> None:
            await self.runner.cleanup()
            await self.fake_server.close()

        self.run(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def _seed(bot: BotContext) -> None:
    """Operators of each role, volunteers, a pending logo entry, a pending story."""
    for name, role in (("admin", Role.ADMIN), ("editor", Role.EDITOR), ("viewer", Role.VIEWER)):
        await create_operator(bot, name, role, PASSWORD, actor="test")
    now = bot.clock.now()
    cities = ["郑州市", "洛阳市", "开封市", "郑州市", "新乡市"]
    async with bot.sessions() as session, session.begin():
        for i, city in enumerate(cities):
            phone = f"1380000{i:04d}"
            v = Volunteer(
                channel="wechat",
                account=ACCOUNT,
                user_id=f"o_volunteer_{i}",
                name_enc=bot.cipher.encrypt(["张三", "李四", "王五", "赵六", "钱七"][i]),
                phone_enc=bot.cipher.encrypt(phone),
                phone_index=bot.cipher.blind_index(phone),
                city=city,
                district="",
                birth_year=1990 + i,
                minor=i == 4,
                guardian_enc=None,
                skills="宣传,摄影" if i % 2 else "网络安全",
                availability="周末",
                created_at=now,
                updated_at=now,
            )
            session.add(v)
            await session.flush()
            await add_hours(session, v.id, (i + 1) * 2, "社区活动", "system", now)
    image = design(7)
    digest = hashlib.sha256(image).hexdigest()
    for folder in (logo_media_path(bot.config), stories_media_path(bot.config)):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{digest}.png").write_bytes(image)
    async with bot.sessions() as session, session.begin():
        await logo_store.add_entry(
            session,
            channel="wechat",
            account=ACCOUNT,
            user_id="o_author",
            title="清朗中原",
            statement="以绿叶和网线组成的 e 字，寓意清朗网络。",
            now=now,
            image_hash=digest,
            image_path=f"{digest}.png",
            author_name_enc=bot.cipher.encrypt("孙八"),
        )
        await story_store.add_story(
            session,
            UserKey(Channel.WECHAT, ACCOUNT, "o_story"),
            text="我们在社区开设了老年人安全上网课堂，半年来帮助两百多位老人识别网络诈骗。",
            consent_at=now,
            now=now,
            pictures=[(digest, f"{digest}.png")],
        )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[LiveBot]:
    """The bot with seed data, for the whole module."""
    server = LiveBot(tmp_path_factory.mktemp("browser"), sqlite_template)
    server.start()
    server.run(_seed(server.bot))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for every test of the module."""
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Operator:
    """A browser context logged in as one operator, with screenshot helpers."""

    def __init__(self, browser: Any, live: LiveBot, name: str, phone: bool = False) -> None:
        viewport = PHONE if phone else LAPTOP
        self.context = browser.new_context(
            viewport=viewport, accept_downloads=True, is_mobile=phone, locale="zh-CN"
        )
        # Generous: on a loaded machine (shared CI, two cores) the dashboard's charts are slow.
        self.context.set_default_timeout(90_000)
        self.context.set_default_navigation_timeout(90_000)
        self.page = self.context.new_page()
        self.live = live
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.login(name)

    def _console(self, message: Any) -> None:
        # CSP violations and script errors show up here; a page must have none.
        if message.type == "error":
            self.errors.append(message.text)

    def login(self, name: str) -> None:
        page = self.page
        page.goto(self.live.url + "/console/")
        assert "/console/login" in page.url
        page.fill("input[name=name]", name)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(self.live.url + "/console/")

    def goto(self, path: str) -> None:
        response = self.page.goto(self.live.url + path)
        assert response is not None and response.status == 200, path

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(exist_ok=True)
        width = self.page.viewport_size["width"]
        path = SHOTS / f"{name}-{'phone' if width < 600 else 'laptop'}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        assert not self.errors, self.errors
        self.context.close()


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def test_login_refuses_a_wrong_password_in_chinese(browser: Any, live: LiveBot) -> None:
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.goto(live.url + "/console/login")
    page.fill("input[name=name]", "editor")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert "账号或密码不正确" in page.inner_text(".error")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "login-laptop.png"))
    context.close()


def test_push_composed_approved_and_in_the_calendar(browser: Any, live: LiveBot) -> None:
    editor = Operator(browser, live, "editor")
    when = datetime.now(UTC) + timedelta(days=40)
    editor.goto("/console/pushes/new")
    page = editor.page
    page.fill("input[name=label]", "浏览器测试推送")
    page.fill("textarea[name=text]", "{year}年网络公益活动即将开始，欢迎参与！")
    page.fill("input[name=at]", _local(when))
    editor.shot("push-compose")
    page.click("form[action='/console/pushes/new'] button[type=submit]")
    page.wait_for_url("**/console/pushes/*")
    assert "等待管理员审批" in page.inner_text(".notice")
    push_url = page.url.split("?")[0]
    editor.close()
    admin = Operator(browser, live, "admin")
    admin.page.goto(push_url)
    admin.page.click("form[action$='/approve'] button")
    assert "已审批" in admin.page.inner_text(".notice")
    admin.shot("push-detail")
    number = push_url.rsplit("/", 1)[1]
    admin.goto(f"/console/calendar?year={when.astimezone(SHANGHAI).year}")
    link = admin.page.locator(f"a[data-push='{number}']")
    assert "浏览器测试推送" in link.inner_text()
    admin.shot("calendar")
    admin.goto("/console/pushes")
    admin.shot("pushes")
    admin.close()


def test_logo_entry_approved_appears_in_the_gallery(browser: Any, live: LiveBot) -> None:
    editor = Operator(browser, live, "editor")
    editor.goto("/console/logo")
    entry = editor.page.locator(".item", has_text="清朗中原")
    assert entry.locator("img").evaluate("img => img.naturalWidth") > 0
    editor.shot("logo-review")
    entry.locator("button[value=approved]").click()
    assert "已通过审核" in editor.page.inner_text(".notice")
    editor.page.goto(live.url + "/logo")
    assert "清朗中原" in editor.page.inner_text("main")
    editor.shot("gallery")
    editor.close()


def test_activity_created_and_check_in_sheet_printed(browser: Any, live: LiveBot) -> None:
    editor = Operator(browser, live, "editor")
    editor.goto("/console/activities")
    page = editor.page
    start = datetime.now(UTC) + timedelta(days=5)
    page.fill("input[name=title]", "清朗网络进社区")
    page.fill("input[name=place]", "郑州市金水区文化路社区")
    page.fill("form[action='/console/activities/new'] input[name=start]", _local(start))
    page.fill(
        "form[action='/console/activities/new'] input[name=end]",
        _local(start + timedelta(hours=3)),
    )
    page.fill("input[name=code]", "QL2026")
    page.click("form[action='/console/activities/new'] button[type=submit]")
    assert "活动已创建" in page.inner_text(".notice")
    editor.shot("activity")
    page.click("a[href$='/sheet']")
    assert page.inner_text("[data-code]") == "QL2026"
    assert page.locator("img.qr").evaluate("img => img.naturalWidth") > 0
    editor.shot("activity-sheet")
    page.emulate_media(media="print")
    assert page.locator("nav.menu").is_hidden()
    page.emulate_media(media="screen")
    editor.goto("/console/activities")
    editor.shot("activities")
    editor.close()


def test_volunteers_exported_and_the_file_opened(browser: Any, live: LiveBot) -> None:
    editor = Operator(browser, live, "editor")
    editor.goto("/console/volunteers")
    page = editor.page
    assert "138****0000" in page.inner_text("table")
    editor.shot("volunteers")
    page.select_option("select[name=format]", "xlsx")
    page.click("form[action='/console/volunteers/export'] button[type=submit]")
    page.wait_for_url("**/console/exports/*")
    link = page.locator("a[data-file]")
    link.wait_for(state="visible", timeout=15000)
    editor.shot("export")
    with page.expect_download() as info:
        link.click()
    path = info.value.path()
    sheet = load_workbook(io.BytesIO(Path(path).read_bytes())).active
    assert sheet is not None
    names = {str(row[2].value) for row in sheet.iter_rows(min_row=2)}
    assert {"张三", "李四", "王五", "赵六", "钱七"} <= names
    editor.close()


PAGES = [
    ("dashboard", "/console/"),
    ("calendar-page", "/console/calendar"),
    ("pushes-list", "/console/pushes"),
    ("push-new", "/console/pushes/new"),
    ("keywords", "/console/keywords"),
    ("volunteers-list", "/console/volunteers"),
    ("volunteer", "/console/volunteers/1"),
    ("stars", "/console/volunteers/stars"),
    ("activities-list", "/console/activities"),
    ("logo", "/console/logo?status=approved"),
    ("stories", "/console/stories"),
    ("operators", "/console/operators"),
    ("inbox", "/console/inbox"),
    ("inbox-duty", "/console/inbox/duty"),
    ("faq", "/console/faq?q=孩子上网要注意什么"),
    ("reports", "/console/reports"),
    ("admin", "/console/admin"),
    ("me", "/console/me"),
]


@pytest.mark.parametrize("phone", [False, True], ids=["laptop", "phone"])
def test_every_page_renders_without_errors(browser: Any, live: LiveBot, phone: bool) -> None:
    admin = Operator(browser, live, "admin", phone=phone)
    for name, path in PAGES:
        admin.goto(path)
        # Nothing wider than the screen except inside the scrolling table boxes.
        overflow = admin.page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, (name, overflow)
        admin.shot(name)
    admin.close()


async def _scan(live: LiveBot, openid: str, scene: str) -> str:
    """The operator's WeChat scanning the QR code: WeChat POSTs the SCAN event to the bot."""
    user = WeChatUser(token=TOKEN, account=ACCOUNT, aes_key=AES_KEY, app_id=APP_ID, openid=openid)
    request = user.request(user.event("SCAN", scene))
    async with (
        ClientSession() as http,
        http.post(live.url + "/wechat", params=request.query, data=request.body) as resp,
    ):
        return user.read_reply(await resp.text()).get("Content", "")


@pytest.mark.parametrize("phone", [False, True], ids=["laptop", "phone"])
def test_operator_binds_wechat_by_scanning_the_qr_code(
    browser: Any, live: LiveBot, phone: bool
) -> None:
    """我的通知: the QR code comes from the (fake) WeChat API; the scan binds; the choices save."""
    editor = Operator(browser, live, "editor", phone=phone)
    editor.goto("/console/me")
    page = editor.page
    page.click("form[action='/console/me/qr'] button[type=submit]")
    page.locator("[data-bind-qr] img").wait_for(state="visible")
    editor.shot("me-qr")
    created = live.fake.calls_to("/cgi-bin/qrcode/create")[-1].body
    openid = "o_browser_editor_" + ("phone" if phone else "laptop")
    answer = live.run(_scan(live, openid, created["action_info"]["scene"]["scene_str"]))
    assert "已绑定" in answer
    editor.goto("/console/me")
    assert page.inner_text("[data-bound]") == openid[:4] + "…" + openid[-2:]
    page.check("input[name=inbox]")
    page.click("form[action='/console/me/notify'] button[type=submit]")
    page.wait_for_url("**/console/me?done=notify_saved")
    assert page.is_checked("input[name=inbox]")
    editor.shot("me-bound")
    editor.close()


def test_hours_and_roster_exported_from_the_browser(browser: Any, live: LiveBot) -> None:
    editor = Operator(browser, live, "editor")
    editor.goto("/console/volunteers")
    page = editor.page
    page.click("form[action='/console/volunteers/hours-export'] button[type=submit]")
    page.wait_for_url("**/console/exports/*")
    link = page.locator("a[data-file]")
    link.wait_for(state="visible", timeout=15000)
    with page.expect_download() as info:
        link.click()
    book = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert len(book.worksheets) == 2 and book.worksheets[0].max_row >= 2
    editor.close()


def test_admin_pushes_the_menu_from_the_system_page(browser: Any, live: LiveBot) -> None:
    admin = Operator(browser, live, "admin")
    admin.goto("/console/admin")
    page = admin.page
    assert "数据库结构已是最新" in page.inner_text("main")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("form[action='/console/admin/menu'] button[type=submit]")
    page.wait_for_url("**/console/admin?done=menu_pushed")
    assert "自定义菜单已推送" in page.inner_text("main")
    assert live.fake.calls_to("/cgi-bin/menu/create")
    admin.shot("admin-menu-pushed")
    admin.close()


def test_a_viewer_sees_no_personal_data_and_cannot_act(browser: Any, live: LiveBot) -> None:
    viewer = Operator(browser, live, "viewer")
    menu = viewer.page.inner_text("nav.menu")
    assert "志愿者" not in menu and "账号与审计" not in menu
    response = viewer.page.goto(live.url + "/console/volunteers")
    assert response is not None and response.status == 403
    assert "没有权限" in viewer.page.inner_text("main")
    viewer.goto("/console/stories")
    assert "通过并通知作者" not in viewer.page.inner_text("main")
    viewer.shot("viewer-stories")
    viewer.errors.clear()  # the 403 page is logged by the browser as a failed load
    viewer.close()
