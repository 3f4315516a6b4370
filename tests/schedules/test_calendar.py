"""Key dates 2026-2030 against independently known facts, extras, and the calendar command."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_config
from bot.kernel.content import Texts
from schedules.calendar import Calendar, load_calendar

# Published dates (State Council holiday notices / almanacs), not computed by lunardate.
KNOWN = {
    "spring_festival": ["2026-02-17", "2027-02-06", "2028-01-26", "2029-02-13", "2030-02-03"],
    "lantern_festival": ["2026-03-03", "2027-02-20", "2028-02-09", "2029-02-27", "2030-02-17"],
    "dragon_boat_festival": ["2026-06-19", "2027-06-09", "2028-05-28", "2029-06-16", "2030-06-05"],
    "mid_autumn_festival": ["2026-09-25", "2027-09-15", "2028-10-03", "2029-09-22", "2030-09-12"],
    "double_ninth_festival": ["2026-10-18", "2027-10-08", "2028-10-26", "2029-10-16", "2030-10-05"],
}


@pytest.mark.parametrize("key", sorted(KNOWN))
def test_lunar_festivals_2026_to_2030(key: str) -> None:
    cal = Calendar(extra={}, names={})
    got = [cal.resolve(key, year).isoformat() for year in range(2026, 2031)]
    assert got == KNOWN[key]


def test_gregorian_key_dates_every_year() -> None:
    cal = Calendar(extra={}, names={})
    for year in range(2026, 2031):
        assert cal.resolve("lei_feng_day", year) == date(year, 3, 5)
        assert cal.resolve("charity_day", year) == date(year, 9, 5)
        assert cal.resolve("poverty_relief_day", year) == date(year, 10, 17)
        assert cal.resolve("volunteer_day", year) == date(year, 12, 5)


def test_extra_dates_gregorian_and_lunar() -> None:
    cal = Calendar(extra={"youth_day": "05-04", "qixi": "lunar:07-07"}, names={})
    assert cal.resolve("youth_day", 2027) == date(2027, 5, 4)
    assert cal.resolve("qixi", 2026) == date(2026, 8, 19)


def test_bad_extra_date_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"schedules\.extra_dates\.youth_day"):
        load_config(None, env={}, overrides={"schedules": {"extra_dates": {"youth_day": "13-40"}}})


def test_names_come_from_the_content_file() -> None:
    cal = load_calendar({}, Texts.load())
    assert [d.name for d in cal.year(2026)][:3] == ["春节", "元宵节", "学雷锋日"]


async def test_calendar_command_prints_sorted_tab_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text('[schedules.extra_dates]\nyouth_day = "05-04"\n', encoding="utf-8")
    status = await asyncio.to_thread(main, ["calendar", "--year", "2028", "-c", str(cfg)])
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2028-01-26\tspring_festival\t春节"
    assert "2028-05-04\tyouth_day\tyouth_day" in lines
    assert "2028-10-03\tmid_autumn_festival\t中秋节" in lines
    assert lines == sorted(lines)
    # 9 national dates, the Henan pack's 3 (the default pack) and the config's one.
    assert "2028-11-01\tsummary_stage\t网络公益工程总结提升" in lines
    assert len(lines) == 13


async def test_calendar_has_the_running_packs_dates_and_the_config_moves_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        '[campaign]\npack = "hunan"\n[schedules.extra_dates]\nsummary_recommendation = "12-10"\n',
        encoding="utf-8",
    )
    status = await asyncio.to_thread(main, ["calendar", "--year", "2027", "-c", str(cfg)])
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    assert "2027-05-01\tcampaign_start\t湖南省未成年人绿色上网公益活动启动" in lines
    assert "2027-12-10\tsummary_recommendation\t绿色上网公益活动总结推荐" in lines
    assert not any("mobilization" in line for line in lines)  # Henan's dates are Henan's


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"account_type": "enterprise"}, "schedules.account_type"),
        ({"timezone": "Mars/Olympus"}, "schedules.timezone"),
        ({"mass_quota_period": "week"}, "schedules.mass_quota_period"),
        ({"lease_seconds": 0}, "schedules.lease_seconds"),
        ({"extra_dates": "05-04"}, "schedules.extra_dates"),
    ],
)
def test_bad_schedules_config_names_the_key(values: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, env={}, overrides={"schedules": values})
