"""Campaign packs: every shipped pack is complete, and the running pack decides what the bot
says and which features answer (over real HTTP, on both channels and both databases)."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.config import ConfigError, load_config
from bot.kernel.campaign import SWITCHABLE, Pack, key_dates, load_pack, shipped_packs
from bot.kernel.campaign import load_texts as load_pack_texts
from bot.kernel.content import Texts
from handlers.keywords import seed_specs
from handlers.registry import FEATURES, build_handlers, switched_off_clicks
from schedules.calendar import load_calendar
from schedules.posts import occurrences
from storage.faq import FaqEntry
from storage.models import Conversation
from storage.schedules import CampaignPost
from tests.conftest import BotHarness, Chatter
from tests.source import parse_source

ROOT = Path(__file__).resolve().parents[2]
CONTENT_STEMS = "|".join(p.stem for p in (ROOT / "handlers" / "content").glob("*.toml"))
# A literal the code hands to texts(...) / ctx.reply(...): "<content file>.<key>".
TEXT_KEY = re.compile(rf"^(?:{CONTENT_STEMS})\.[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$")


# Calls that take text keys (ctx.t, ctx.reply, texts(...), texts.get, ask, columns...) and the
# keyword arguments that name one (a flow's title, a step's help).
KEY_CALLS = {"t", "reply", "texts", "get", "has", "ask", "_summary"}
KEY_ARGS = {"title_key", "help"}


def load_texts(pack: Pack, override_dir: Path | None = None) -> Texts:
    """A pack's texts as the app loads them (with every registered feature's content)."""
    extra = [path for feature in FEATURES for path in feature.content]
    return load_pack_texts(pack, override_dir, extra)


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _keys_in_code() -> set[str]:
    """Every literal text key the bot's code passes to a text lookup (keys built with an
    f-string are checked one by one below)."""
    keys: set[str] = set()
    for package in ("bot", "handlers", "schedules", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(parse_source(path)):
                if not isinstance(node, ast.Call):
                    continue
                # bot.cli.common.columns(texts, "reports.x", "a b"), called by its bare name
                # (not SQLAlchemy's TextClause.columns).
                if isinstance(node.func, ast.Name) and node.func.id == "columns":
                    table, names = node.args[1:3]
                    assert isinstance(table, ast.Constant) and isinstance(names, ast.Constant)
                    keys.update(f"{table.value}.col_{n}" for n in str(names.value).split())
                    continue
                values = list(node.args) if _name(node.func) in KEY_CALLS else []
                values += [k.value for k in node.keywords if k.arg in KEY_ARGS]
                keys.update(
                    v.value
                    for v in values
                    if isinstance(v, ast.Constant)
                    and isinstance(v.value, str)
                    and TEXT_KEY.match(v.value)
                )
    return keys


def test_the_shipped_packs_are_henan_and_hunan() -> None:
    assert shipped_packs() == ["henan", "hunan"]
    assert set(SWITCHABLE) <= {feature.name for feature in FEATURES}


@pytest.mark.parametrize("name", ["henan", "hunan"])
def test_every_pack_loads_with_its_keywords_dates_and_cities(name: str) -> None:
    pack = load_pack(name)
    texts = load_texts(pack)
    assert pack.name == name and pack.title and pack.slogan
    assert len(pack.cities) >= 14
    specs = seed_specs(texts)
    patterns = {s.pattern for s in specs}
    # The base's menu clicks resolve to the pack's own topics.
    assert {"活动介绍", "绿色上网", "家长课堂", "MENU_INTRO", "MENU_GREEN"} <= patterns
    assert len(patterns) == len(specs)  # one rule per pattern, the pack's winning
    for key in pack.dates:
        assert texts.has(f"calendar.names.{key}"), key


@pytest.mark.parametrize("name", ["henan", "hunan"])
def test_every_key_the_code_uses_exists_in_every_pack(name: str) -> None:
    texts = load_texts(load_pack(name))
    used = _keys_in_code()
    assert len(used) > 150  # the scan sees the literal keys
    missing = sorted(key for key in used if not texts.has(key))
    assert not missing, f"pack {name} lacks {missing}"
    # Keys the code builds from a name: one per feature.
    for feature in SWITCHABLE:
        assert isinstance(texts.get(f"features.off.{feature}"), str), feature
        assert isinstance(texts.get(f"features.names.{feature}"), str), feature


def test_welcome_menu_and_topics_differ_per_pack() -> None:
    henan, hunan = (load_texts(load_pack(n)) for n in ("henan", "hunan"))
    for key in ("common.welcome", "common.menu", "common.welcome_back"):
        assert henan(key) != hunan(key), key
    assert "让中原更出彩" in henan("common.welcome") and "中原" not in hunan("common.welcome")
    assert "绿色上网 点亮梦想" in hunan("common.welcome")
    # Shared texts stay shared: the base answers both.
    assert henan("conversation.back_at_start") == hunan("conversation.back_at_start")
    hunan_intro = next(s for s in seed_specs(hunan) if s.pattern == "活动介绍")
    assert "湖南省志愿者协会" in hunan_intro.reply_json


def test_the_hunan_pack_asks_children_for_nothing_and_keeps_the_guardian_rules() -> None:
    """Minors read this pack: its own texts never ask for a name, school or phone outside the
    volunteer flow (where the guardian rules of the base apply unchanged)."""
    pack = load_pack("hunan")
    texts = load_texts(pack)
    for key in ("common.welcome", "common.menu", "common.fallback_media"):
        assert "请回复您的" not in texts(key) and "手机号" not in texts(key)
    assert "不需要留下姓名、学校和住址" in texts("common.welcome")
    assert "未满14周岁的同学，请由家长代为投稿" in texts("stories.ask_text", min=10, max=100)
    assert "同学们请回复【不用】" in texts("stories.ask_contact_name", media_line="")
    base = load_texts(load_pack("henan"))
    for key in ("ask_guardian_name", "ask_guardian_consent", "help_guardian", "ask_privacy"):
        assert texts(f"volunteer.{key}") == base(f"volunteer.{key}")


def test_content_dir_overrides_single_keys_on_top_of_the_pack(tmp_path: Path) -> None:
    (tmp_path / "common.toml").write_text('welcome = "长沙市网信办欢迎您！"\n', encoding="utf-8")
    (tmp_path / "keywords.toml").write_text(
        '[[rule]]\npatterns = ["家长课堂"]\nmatch = "exact"\npriority = 45\n'
        'text = "本地家长课堂"\n',
        encoding="utf-8",
    )
    texts = load_texts(load_pack("hunan"), tmp_path)
    assert texts("common.welcome") == "长沙市网信办欢迎您！"
    assert "【绿色上网进校园】" in texts("common.menu")  # the pack's, untouched
    replies = {s.pattern: s.reply_json for s in seed_specs(texts)}
    assert "本地家长课堂" in replies["家长课堂"]
    assert "本地家长课堂" not in replies["家长"]  # the rest of the pack's rule stays
    assert "部门分工" in replies and "举报" in replies  # other pack and base topics stay


@pytest.mark.parametrize("name", ["henan", "hunan"])
def test_every_menu_button_of_a_pack_reaches_something_it_runs(name: str) -> None:
    pack = load_pack(name)
    clicks = {s.pattern for s in seed_specs(load_texts(pack)) if s.match == "click"}
    handled = {
        key
        for router in build_handlers(off=pack.off()).routers
        for route in router.routes
        for key in route.filter.clicks()
    }
    leaves = [sub for button in pack.menu for sub in button.get("sub_button", [])]
    assert len(pack.menu) == 3 and len(leaves) >= 10
    for button in leaves:
        key = button["key"]
        assert key in clicks or key in handled, key
        assert key not in switched_off_clicks(pack.off()), key
        assert len(button["name"]) <= 8
    assert all(len(button["name"]) <= 4 for button in pack.menu)


def test_menu_show_uses_the_packs_menu_and_warns_of_switched_off_buttons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "bot.toml"
    config_file.write_text('[campaign]\npack = "hunan"\n', encoding="utf-8")
    assert main(["menu", "show", "-c", str(config_file)]) == 0
    out, err = capsys.readouterr()
    assert "MENU_SCHOOL" in out and "MENU_LOGO" not in out and err == ""
    config_file.write_text(
        '[campaign]\npack = "hunan"\n[[wechat.menu]]\nname = "征集"\n'
        '  [[wechat.menu.sub_button]]\n  type = "click"\n  name = "我要投稿"\n'
        '  key = "LOGO_SUBMIT"\n',
        encoding="utf-8",
    )
    assert main(["menu", "show", "-c", str(config_file)]) == 0
    out, err = capsys.readouterr()
    assert "LOGO_SUBMIT" in out
    assert "'我要投稿' (LOGO_SUBMIT) belongs to logo, which the hunan pack switches off" in err


def test_a_post_on_another_packs_date_is_never_due_after_switching_packs() -> None:
    henan, hunan = load_pack("henan"), load_pack("hunan")
    post = CampaignPost(key_date="campaign_start", time_of_day="09:00", at=None)
    start, end = datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    zone = ZoneInfo("Asia/Shanghai")

    def due(pack: Pack) -> list[datetime]:
        calendar = load_calendar(key_dates(pack, {}), load_texts(pack))
        return list(occurrences(post, calendar, zone, start, end))

    assert due(hunan) == [datetime(2027, 5, 1, 1, 0, tzinfo=UTC)]
    assert due(henan) == []


def test_a_third_campaign_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "packs" / "example"
    folder.mkdir(parents=True)
    (folder / "manifest.toml").write_text(
        'name = "example"\ntitle = "示例公益活动"\nslogan = "一起做公益"\n'
        'cities = ["甲市", "乙市"]\n[features]\nlogo = false\nstars = false\n'
        '[dates]\nkickoff = "06-01"\n',
        encoding="utf-8",
    )
    config_file = tmp_path / "bot.toml"
    config_file.write_text('[campaign]\npack = "packs/example"\n', encoding="utf-8")
    # Without its own welcome, menu, topics and date names the folder is refused by name.
    with pytest.raises(ConfigError, match=r"common\.welcome.*calendar\.names\.kickoff"):
        load_config(config_file, env={})
    (folder / "common.toml").write_text(
        'welcome = "欢迎关注示例公益活动！"\nwelcome_back = "欢迎回来！"\n'
        'menu = "回复【活动介绍】"\nfallback_media = "收到{what}，谢谢！"\n',
        encoding="utf-8",
    )
    (folder / "calendar.toml").write_text('[names]\nkickoff = "示例活动启动"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="活动介绍"):  # MENU_INTRO needs the pack's intro
        load_config(config_file, env={})
    (folder / "keywords.toml").write_text(
        '[[rule]]\npatterns = ["活动介绍"]\nmatch = "exact"\npriority = 50\ntext = "示例介绍"\n',
        encoding="utf-8",
    )
    config = load_config(config_file, env={})
    pack = load_pack(config.campaign.pack, config.base_dir)
    assert pack.off() == ["stars", "logo"] and pack.cities == ("甲市", "乙市")
    assert load_texts(pack)("common.welcome") == "欢迎关注示例公益活动！"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"campaign": {"pack": "guangdong"}}, r"campaign\.pack: 'guangdong'.*henan, hunan"),
        ({"campaign": {"features": {"quiz": True}}}, r"campaign\.features\.quiz: unknown"),
        ({"campaign": {"features": {"logo": "yes"}}}, r"campaign\.features\.logo: expected"),
        ({"volunteers": {"city_preset": "guangdong"}}, r"volunteers\.city_preset"),
    ],
)
def test_bad_campaign_settings_stop_start_up_naming_the_key(
    section: dict[str, dict[str, object]], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, env={}, overrides=section)


async def _conversations(harness: BotHarness) -> int:
    async with harness.bot.sessions() as session:
        return int((await session.execute(select(func.count(Conversation.user_id)))).scalar_one())


@pytest.mark.config(campaign={"pack": "hunan"})
async def test_the_hunan_pack_greets_and_answers_as_hunan(
    harness: BotHarness, chatter: Chatter
) -> None:
    assert harness.bot.pack.name == "hunan"
    assert harness.bot.pack.title == "湖南省未成年人绿色上网公益活动"
    welcome = await chatter.event("subscribe")
    assert "绿色上网 点亮梦想" in welcome and "中原" not in welcome
    menu = await chatter.say("菜单")
    assert "【绿色上网进校园】" in menu and "标识征集" not in menu
    assert "争做网络文明人" in await chatter.say("网络文明人")
    assert "教育部门" in await chatter.say("部门分工")
    assert "12355" in await chatter.say("网络欺凌")
    assert "绿色上网进校园" in await chatter.say("老师")
    # Base topics the pack does not replace still answer.
    assert "12377" in await chatter.say("举报")
    async with harness.http.get(harness.server.make_url("/healthz")) as resp:
        assert (await resp.json())["pack"] == "hunan"


@pytest.mark.config(campaign={"pack": "hunan"})
async def test_a_hunan_volunteer_signs_up_for_a_hunan_city(
    harness: BotHarness, chatter: Chatter
) -> None:
    assert "帮助未成年人绿色健康上网的志愿者队伍" in await chatter.say("志愿者报名")
    await chatter.say("1990")
    await chatter.say("刘洋")
    cities = await chatter.say("13912345678")
    assert "1. 长沙市" in cities and "郑州市" not in cities
    assert "在长沙市的区县" in await chatter.say("1")


@pytest.mark.config(campaign={"pack": "hunan"})
async def test_a_hunan_child_meets_the_guardian_before_giving_a_name(
    harness: BotHarness, chatter: Chatter
) -> None:
    first = await chatter.say("志愿者报名")
    assert "出生年份" in first and "监护人" in first and "姓名" not in first
    guardian = await chatter.say(str(harness.clock.now().year - 11))
    assert "监护人的姓名" in guardian and "您的真实姓名" not in guardian


@pytest.mark.config(campaign={"pack": "hunan"})
async def test_a_switched_off_feature_says_so_instead_of_starting_a_flow(
    harness: BotHarness, chatter: Chatter
) -> None:
    off = harness.bot.texts("features.off.logo")
    for word in ("标识征集", "投稿", "投票", "投票 1", "我的投票", "我的投稿", "撤回投稿 1"):
        assert await chatter.say(word) == off, word
    assert await chatter.event("click", "MENU_LOGO") == off
    assert "投稿故事" in off  # 投稿 in Hunan most often means a story
    assert await _conversations(harness) == 0
    async with harness.http.get(harness.server.make_url("/logo")) as resp:
        assert resp.status == 404
    # The features it runs still do.
    assert "第1步" in await chatter.say("投稿故事")


@pytest.mark.config(campaign={"pack": "hunan", "features": {"logo": True}})
async def test_the_config_switches_a_packs_feature_back_on(
    harness: BotHarness, chatter: Chatter
) -> None:
    assert "第1步" in await chatter.say("投稿")
    assert await _conversations(harness) == 1


@pytest.mark.config(campaign={"features": {"stories": False, "activities": False}})
async def test_henan_with_features_switched_off_by_the_config(
    harness: BotHarness, chatter: Chatter
) -> None:
    assert await chatter.say("投稿故事") == harness.bot.texts("features.off.stories")
    assert "本次活动暂未开通公益故事投稿" in await chatter.say("我的故事")
    assert await chatter.say("参加 3") == harness.bot.texts("features.off.activities")
    assert await _conversations(harness) == 0
    assert "第1步" in await chatter.say("投稿")  # the logo contest still runs


@pytest.mark.config(campaign={"pack": "hunan"})
async def test_the_hunan_pack_answers_its_faq_topics_and_not_the_logo_contests(
    harness: BotHarness, chatter: Chatter
) -> None:
    async with harness.bot.sessions() as session:
        slugs = set((await session.execute(select(FaqEntry.slug))).scalars())
    assert {"hunan_intro", "school", "bullying", "youth_mode", "parents"} <= slugs
    assert "logo" not in slugs  # a topic of a switched-off feature is not seeded
    assert "绿色上网进校园" in await chatter.say("学校老师应该怎么开展绿色上网教育")
    # Topics that reuse a keyword's answer give the pack's answer.
    assert "给同学们的绿色上网小贴士" in await chatter.say("孩子上网要注意什么")
    assert "网络公益标识" not in await chatter.say("怎么给标识作品投票")
