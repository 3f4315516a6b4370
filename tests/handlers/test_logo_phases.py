"""Contest phases: the one decision of what is open, config validation, and what every contest
reply says in each phase (FakeClock, both channels)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.config import ConfigError, load_config
from handlers.logo_phases import (
    LogoConfig,
    PhaseError,
    Window,
    check_order,
    config_windows,
    contest_state_at,
    parse_time,
)
from storage import logo as store
from tests.conftest import BotHarness, Chatter
from tests.handlers.logo_support import PHASES, add_approved, design, shanghai, submit_to_confirm

CALENDAR = LogoConfig(**PHASES)


# -- the decision ------------------------------------------------------------------------------


def test_parse_time_reads_shanghai_time() -> None:
    assert parse_time("2026-03-01 09:00") == datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    assert parse_time("2026-03-01") == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    # A date alone as an end means the whole day; so does 24:00.
    assert parse_time("2026-03-20", end=True) == parse_time("2026-03-21")
    assert parse_time("2026-03-20 24:00") == parse_time("2026-03-21 00:00")
    assert parse_time("2026-3-5T08:30") == datetime(2026, 3, 5, 0, 30, tzinfo=UTC)
    for bad in ("2026/03/01", "tomorrow", "2026-02-30", "2026-03-01 25:00", ""):
        with pytest.raises(ValueError):
            parse_time(bad)


@pytest.mark.parametrize(
    ("moment", "status", "submission", "voting", "results"),
    [
        ("2026-02-20 12:00", "before", False, False, False),
        ("2026-03-01 09:00", "submission", True, False, False),
        ("2026-03-20 23:59", "submission", True, False, False),
        ("2026-03-21 00:00", "review", False, False, False),
        ("2026-03-25 08:59", "between", False, False, False),
        ("2026-03-25 09:00", "voting", False, True, False),
        ("2026-04-12 12:00", "between", False, False, False),
        ("2026-04-15 10:00", "results", False, False, True),
        ("2027-01-01 00:00", "results", False, False, True),  # results stay published
    ],
)
def test_what_is_open_when(
    moment: str, status: str, submission: bool, voting: bool, results: bool
) -> None:
    state = contest_state_at(shanghai(moment).astimezone(UTC), CALENDAR)
    assert state.status == status
    assert (state.submission_open, state.voting_open, state.results_published) == (
        submission,
        voting,
        results,
    )


def test_nothing_scheduled_opens_submission_and_voting() -> None:
    state = contest_state_at(datetime.now(UTC), LogoConfig())
    assert state.status == "open" and state.submission_open and state.voting_open
    assert not state.results_published


def test_contest_ended_without_results() -> None:
    cfg = LogoConfig(voting_from="2026-03-01", voting_to="2026-03-10")
    state = contest_state_at(shanghai("2026-03-11 00:00").astimezone(UTC), cfg)
    assert state.status == "ended" and not state.voting_open and not state.submission_open


def test_database_setting_wins_over_config() -> None:
    moved = Window("voting", parse_time("2026-04-01"), parse_time("2026-04-05"), "database")
    state = contest_state_at(shanghai("2026-03-26 12:00").astimezone(UTC), CALENDAR, [moved])
    assert not state.voting_open and state.window("voting") == moved
    state = contest_state_at(shanghai("2026-04-02 12:00").astimezone(UTC), CALENDAR, [moved])
    assert state.voting_open


def test_illogical_schedules_are_refused() -> None:
    with pytest.raises(PhaseError, match="voting must not start before submission ends"):
        check_order(
            config_windows(
                LogoConfig(
                    submission_from="2026-03-01",
                    submission_to="2026-03-10",
                    voting_from="2026-03-05",
                )
            )
        )
    with pytest.raises(PhaseError, match="submission needs an end"):
        check_order(
            config_windows(LogoConfig(submission_from="2026-03-01", results_from="2026-04-01"))
        )
    with pytest.raises(PhaseError, match="must end after it starts"):
        check_order(
            config_windows(LogoConfig(review_from="2026-03-05", review_to="2026-03-05 00:00"))
        )


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"voting_from": "2026/03/25"}, "logo.voting_from"),
        ({"voting_to": "2026-04-10"}, "logo.voting_from"),
        ({"results_from": "2026-04-01", "results_to": "2026-03-01"}, "logo.results_to"),
        ({**PHASES, "review_from": "2026-03-19"}, "logo.review_from"),
        ({"submission_from": "2026-03-01", "voting_from": "2026-03-09"}, "logo.submission_to"),
        ({"vote_list": "cards"}, "logo.vote_list"),
        ({"votes_per_minute": 0}, "logo.votes_per_minute"),
        ({"burst_threshold": 0}, "logo.burst_threshold"),
    ],
)
def test_config_errors_name_the_key(values: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(key) + ":"):
        load_config(None, env={}, overrides={"logo": values})


def test_news_article_count_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"^wechat\.news_reply_max_articles:"):
        load_config(None, env={}, overrides={"wechat": {"news_reply_max_articles": 0}})


# -- what replies say, phase by phase --------------------------------------------------------


def at(harness: BotHarness, moment: str) -> None:
    harness.clock.set(shanghai(moment))


async def test_default_contest_is_open(chatter: Chatter, harness: BotHarness) -> None:
    info = await chatter.say("标识征集")
    assert "网络公益标识征集活动" in info and "每人最多投稿 3 件" in info
    assert "目前作品征集和投票同时开放" in info and "活动安排" not in info
    assert "/logo" in info
    assert "目前投稿和投票同时开放" in await chatter.say("投稿")
    await chatter.say("取消")
    (number,) = await add_approved(harness, "中原绿叶")
    assert "目前投稿和投票同时开放" in await chatter.say("投票")
    assert "投票成功" in await chatter.say(f"投票 {number}")
    assert "目前作品征集和投票同时开放" in await chatter.say("我的投票")


@pytest.mark.config(logo=PHASES)
async def test_before_the_contest(chatter: Chatter, harness: BotHarness) -> None:
    at(harness, "2026-02-20 12:00")
    info = await chatter.event("click", "MENU_LOGO")
    assert "活动安排" in info and "作品征集：3月1日 09:00 至 3月20日 24:00" in info
    assert "结果公布：4月15日 10:00 起" in info
    assert "征集活动尚未开始，作品征集将于 3月1日 09:00 开始" in info
    assert "现在不能投稿。征集活动尚未开始" in await chatter.say("投稿")
    assert "现在不是投票时间" in await chatter.say("投票")


@pytest.mark.config(logo=PHASES)
async def test_submission_phase(chatter: Chatter, harness: BotHarness) -> None:
    at(harness, "2026-03-10 12:00")
    (number,) = await add_approved(harness, "早到的作品")
    assert "当前为作品征集阶段（3月1日 09:00 至 3月20日 24:00）" in await chatter.say("征集")
    assert "投稿截止：3月20日 24:00" in await chatter.say("投稿")
    await chatter.say("取消")
    voting = "公开投票将于 3月25日 09:00 开始"
    for text in ("投票", f"投票 {number}", "我的投票"):
        reply = await chatter.say(text)
        assert voting in reply, text
    assert "现在不是投票时间" in await chatter.say(f"投票 {number}")
    async with harness.bot.sessions() as session:
        assert await store.ranking(session) == [(number, "早到的作品", 0)]


@pytest.mark.config(logo=PHASES)
async def test_review_phase(chatter: Chatter, harness: BotHarness) -> None:
    at(harness, "2026-03-22 12:00")
    reply = await chatter.say("投稿")
    assert "现在不能投稿" in reply and "投稿已截止，作品正在评审中" in reply
    assert "公开投票将于 3月25日 09:00 开始" in reply


@pytest.mark.config(logo=PHASES)
async def test_voting_phase(chatter: Chatter, harness: BotHarness) -> None:
    at(harness, "2026-03-30 12:00")
    (number,) = await add_approved(harness, "中原绿叶")
    assert "投稿已截止" in await chatter.say("投稿")
    listing = await chatter.say("投票")
    assert f"{number}号《中原绿叶》" in listing and "投票截止：4月10日 24:00" in listing
    voted = await chatter.say(f"投票 {number}")
    assert "投票成功" in voted and "投票截止：4月10日 24:00" in voted
    assert "当前为公开投票阶段" in await chatter.say("我的投票")


@pytest.mark.config(logo=PHASES)
async def test_between_voting_and_results(chatter: Chatter, harness: BotHarness) -> None:
    at(harness, "2026-04-12 12:00")
    (number,) = await add_approved(harness, "中原绿叶")
    reply = await chatter.say(f"投票 {number}")
    assert "现在不是投票时间" in reply and "结果公布将于 4月15日 10:00 开始" in reply


@pytest.mark.config(logo=PHASES)
async def test_results_phase_shows_the_final_ranking(chatter: Chatter, harness: BotHarness) -> None:
    at(harness, "2026-03-30 12:00")
    first, second = await add_approved(harness, "中原绿叶", "e起同心")
    other = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    for voter, number in ((chatter, second), (other, second), (other, first)):
        assert "投票成功" in await voter.say(f"投票 {number}")
    at(harness, "2026-04-16 09:00")
    ranking = await chatter.say("投票")
    assert "最终排名" in ranking
    assert f"第1名 {second}号《e起同心》2票" in ranking
    assert f"第2名 {first}号《中原绿叶》1票" in ranking
    assert "评选结果已公布" in ranking
    reply = await chatter.say(f"投票 {first}")
    assert "现在不是投票时间" in reply and "回复【投票】查看最终排名" in reply


@pytest.mark.config(logo=PHASES)
async def test_submission_closing_mid_flow(chatter: Chatter, harness: BotHarness) -> None:
    at(harness, "2026-03-20 23:50")
    await submit_to_confirm(chatter, design(30))
    harness.clock.advance(minutes=15)  # now 21 March: review
    reply = await chatter.say("确认")
    assert "投稿已经截止，您的作品未能提交" in reply and "作品正在评审中" in reply
    async with harness.bot.sessions() as session:
        assert await store.list_entries(session) == []
