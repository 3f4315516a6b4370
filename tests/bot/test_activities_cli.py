"""Operator commands of the volunteer programme: activities add|list|cancel|roster, hours
export and volunteers stars, against the test database and the fake platform APIs."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.fonts import has_cjk_font
from bot.kernel.clock import SHANGHAI, as_utc, local
from storage import activities as store
from storage.activities import Activity
from storage.models import AuditEvent
from storage.volunteers import Volunteer, add_hours, erase
from tests.bot.test_logo_cli import run, write_config
from tests.conftest import WEIBO_ACCOUNT, WEIBO_SECRET, WEIBO_TOKEN, BotHarness, Chatter
from tests.handlers.test_activities import enlist, new_activity

PNG = b"\x89PNG\r\n\x1a\n"


def cli_config(harness: BotHarness, tmp_path: Path) -> str:
    """The logo tests' CLI config plus the fake Weibo API, so both channels can be told."""
    path = write_config(harness, tmp_path)
    assert harness.weibo_fake is not None
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(
            f'[weibo]\napp_secret = "{WEIBO_SECRET}"\naccess_token = "{WEIBO_TOKEN}"\n'
            f'account_id = "{WEIBO_ACCOUNT}"\n'
            f'api_base_url = "{harness.weibo_fake.base_url}"\n'  # type: ignore[attr-defined]
        )
    return path


def at(dt: datetime) -> str:
    """An option value in the operators' format (Asia/Shanghai)."""
    return local(dt).strftime("%Y-%m-%d %H:%M")


def added_id(out: str) -> int:
    found = re.search(r"activity (\d+) added", out)
    assert found, out
    return int(found.group(1))


async def test_add_refuses_each_bad_option_by_name(
    harness: BotHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cli_config(harness, tmp_path)
    start = harness.clock.now().replace(second=0) + timedelta(days=3)
    good = {
        "--title": "社区网络安全宣传",
        "--place": "金水区文化路社区",
        "--start": at(start),
        "--end": at(start + timedelta(hours=3)),
        "--hours": "3",
        "--capacity": "30",
    }

    def argv(**changes: str) -> list[str]:
        options = {**good, **{f"--{k}": v for k, v in changes.items()}}
        return ["activities", "add", "-c", config, *(x for kv in options.items() for x in kv)]

    past = harness.clock.now() - timedelta(days=1)
    bad = [
        ({"end": at(start)}, "--end"),
        ({"start": "2026/12/05 09:00"}, "--start"),
        ({"start": at(past), "end": at(past + timedelta(hours=1))}, "--end"),
        ({"city": "火星市"}, "--city"),
        ({"hours": "0"}, "--hours"),
        ({"hours": "-1"}, "--hours"),
        ({"hours": "abc"}, "--hours"),
        ({"hours": "1.234"}, "--hours"),
        ({"capacity": "0"}, "--capacity"),
        ({"capacity": "三十"}, "--capacity"),
        ({"code": "ab"}, "--code"),
        ({"code": "ab!cd"}, "--code"),
        ({"title": " "}, "--title"),
    ]
    for changes, option in bad:
        status, _ = await run(*argv(**changes))
        assert status == 1, changes
        assert option in capsys.readouterr().err, changes

    status, out = await run(*argv(city="郑州市", code="ab12cd"))
    assert status == 0 and "check-in code AB12CD" in out
    first = added_id(out)
    status, out = await run(*argv(title="线上绿色上网课堂"))
    assert status == 0 and re.search(r"check-in code [A-Z2-9]{6}$", out.strip())
    status, _ = await run(*argv(code="AB12CD"))
    assert status == 1 and "already the code of activity" in capsys.readouterr().err

    status, out = await run("activities", "list", "-c", config)
    assert status == 0 and "社区网络安全宣传" in out and "线上绿色上网课堂" in out
    line = next(li for li in out.splitlines() if li.startswith(str(first)))
    assert "0/30" in line and "AB12CD" in line and "郑州市" in line
    assert local(start).strftime("%Y-%m-%d %H:%M") in line
    async with harness.bot.sessions() as session:
        activity = await session.get(Activity, first)
    # Given in Asia/Shanghai, stored as the same instant.
    assert activity is not None and as_utc(activity.starts_at) == start
    assert activity.city == "郑州市" and activity.capacity == 30 and activity.hours == 3


async def test_roster_and_counts(
    harness: BotHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from openpyxl import load_workbook

    # The roster does not depend on the channel: one (WeChat) is enough here.
    chatter: Chatter = harness.chatter()  # type: ignore[attr-defined]
    config = cli_config(harness, tmp_path)
    start = harness.clock.now().replace(second=0) + timedelta(hours=2)
    status, out = await run(
        "activities", "add", "-c", config, "--title", "敬老院志愿服务", "--place", "二七区敬老院",
        "--start", at(start), "--end", at(start + timedelta(hours=2)), "--hours", "2",
        "--capacity", "30", "--code", "JL01",
    )  # fmt: skip
    number = added_id(out)
    await enlist(harness, chatter, name="张三")
    other = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    await enlist(harness, other, name="李小四")
    assert "报名成功" in await chatter.say(f"参加 {number}")
    assert "报名成功" in await other.say(f"参加 {number}")
    harness.clock.advance(hours=2)
    assert "签到成功" in await chatter.say("签到 jl01")

    status, out = await run("activities", "list", "-c", config)
    line = next(li for li in out.splitlines() if li.startswith(str(number)))
    assert "2/30" in line and re.search(r"2/30\s+1\s+JL01", line)

    status, out = await run("activities", "roster", str(number), "-c", config)
    assert status == 0 and "2 enrolled, 1 checked in" in out
    assert "张*" in out and "李*四" in out and "张三" not in out and "李小四" not in out
    assert re.search(r"136\*{4}\d{4}", out) and "已签到" in out and "未签到" in out

    roster_csv = tmp_path / "roster.csv"
    status, _ = await run(
        "activities", "roster", str(number), "--output", str(roster_csv), "-c", config
    )
    assert status == 0 and "roster:" in capsys.readouterr().err
    rows = list(csv.reader(roster_csv.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][:5] == ["序号", "志愿者编号", "渠道", "姓名", "手机"] and len(rows) == 3
    assert rows[1][2] in ("微信", "微博") and rows[1][3] == "张*"
    assert rows[1][-1] == "已签到" and rows[2][-1] == "未签到"
    roster_xlsx = tmp_path / "roster.xlsx"
    status, _ = await run(
        "activities", "roster", str(number), "--output", str(roster_xlsx), "-c", config
    )
    sheet = load_workbook(roster_xlsx).active
    assert sheet is not None and sheet.title == f"{number}号活动名单"
    assert [r[3] for r in sheet.iter_rows(values_only=True)] == ["姓名", "张*", "李*四"]

    status, _ = await run(
        "activities", "roster", str(number), "--output", str(tmp_path / "r.txt"), "-c", config
    )
    assert status == 1 and "--output" in capsys.readouterr().err
    assert (await run("activities", "roster", "999", "-c", config))[0] == 1


async def test_cancel_tells_every_enrolled_volunteer_once(
    harness: BotHarness, chatter: Chatter, tmp_path: Path
) -> None:
    config = cli_config(harness, tmp_path)
    activity = await new_activity(harness, starts_in=timedelta(minutes=10), code="RAIN1")
    # Recently in touch: told by a customer-service / active message.
    await enlist(harness, chatter)
    assert "报名成功" in await chatter.say(f"参加 {activity.id}")
    # Last heard from 49 hours ago: told at their next message.
    far = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    await enlist(harness, far, name="李四")
    harness.clock.advance(hours=-49)
    assert "报名成功" in await far.say(f"参加 {activity.id}")
    harness.clock.advance(hours=49)
    # Checked in early, then erased: nobody to tell, and the enrolment stays anonymous.
    gone = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    await enlist(harness, gone, name="王五")
    await gone.say(f"参加 {activity.id}")
    assert "签到成功" in await gone.say("签到 RAIN1")
    await gone.say("注销志愿者")
    await gone.say("确认注销")

    status, out = await run(
        "activities", "cancel", str(activity.id), "--reason", "暴雨预警", "-c", config
    )
    assert status == 0
    assert "1 by message, 1 at their next message (1 erased" in out
    told = chatter.late_messages()
    assert any("已取消" in m and "暴雨预警" in m for m in told)
    assert far.late_messages() == []
    notice_and_reply = await far.say("我的活动")
    assert "暴雨预警" in notice_and_reply and "【活动已取消】" in notice_and_reply
    assert "已取消" in await chatter.say(f"参加 {activity.id}")
    async with harness.bot.sessions() as session:
        audit = (await session.scalars(select(AuditEvent))).all()
    assert [a.action for a in audit if a.action.endswith(".cancel")] == ["activities.cancel"]
    status, out = await run("activities", "roster", str(activity.id), "-c", config)
    assert "3 enrolled" in out and "（已注销）" in out and "王五" not in out

    # Running it again tells nobody twice.
    status, out = await run(
        "activities", "cancel", str(activity.id), "--reason", "暴雨预警", "-c", config
    )
    assert status == 0 and "already cancelled" in out and "0 by message, 0 at" in out
    assert (await run("activities", "cancel", "999", "--reason", "x", "-c", config))[0] == 1
    assert (await run("activities", "cancel", str(activity.id), "--reason", " ", "-c", config))[
        0
    ] == 1
    status, out = await run("activities", "list", "--all", "-c", config)
    assert "已取消" in out and (await run("activities", "list", "-c", config))[1].count("\n") == 2


async def _ledger_fixture(harness: BotHarness) -> dict[str, int]:
    """Three volunteers (one erased, one in 洛阳市) with hours in November and December."""
    people = {name: harness.chatter() for name in ("张三", "李四", "王五")}  # type: ignore[attr-defined]
    ids = {
        "张三": await enlist(harness, people["张三"], name="张三"),
        "李四": await enlist(harness, people["李四"], city="洛阳市", name="李四"),
        "王五": await enlist(harness, people["王五"], name="王五"),
    }
    activity = await new_activity(harness, "网络文明宣传", code="WM2026")
    nov = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)
    dec = datetime(2026, 12, 1, 0, 30, tzinfo=SHANGHAI).astimezone(UTC)
    async with harness.bot.sessions() as session, session.begin():
        await store.credit(session, ids["张三"], activity, "参加活动：网络文明宣传", "checkin", nov)
        await add_hours(session, ids["张三"], Decimal("1.5"), "补录", "operator", dec)
        await add_hours(session, ids["李四"], Decimal("4"), "线上辅导", "operator", dec)
        await add_hours(session, ids["王五"], Decimal("6"), "早期活动", "operator", nov)
        row = await session.get(Volunteer, ids["王五"])
        assert row is not None
        await erase(session, row, dec)
    return ids


async def test_hours_export_ledger_totals_and_chart(
    harness: BotHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from openpyxl import load_workbook

    config = cli_config(harness, tmp_path)
    ids = await _ledger_fixture(harness)
    out_csv = tmp_path / "hours.csv"
    status, out = await run("hours", "export", "--output", str(out_csv), "-c", config)
    assert status == 0 and "4 ledger rows of 3 volunteers" in out
    assert "hours: 4/4 (100%)" in capsys.readouterr().err
    lines = list(csv.reader(out_csv.read_text(encoding="utf-8-sig").splitlines()))
    assert lines[0][:5] == ["记录编号", "志愿者编号", "渠道", "姓名", "城市"]
    assert lines[0][5:] == ["时长", "原因", "活动", "操作人", "时间"]
    first = lines[1]
    assert first[1:6] == [str(ids["张三"]), "微信", "张*", "郑州市", "3.0"]
    assert first[7:] == ["网络文明宣传", "签到", "2026-11-20 10:00"]
    assert any(r[3] == "（已注销）" and r[5] == "6.0" for r in lines[1:5])
    assert [r[9] for r in lines[1:5] if r[6] == "补录"] == ["2026-12-01 00:30"]
    assert lines[5] == [] and lines[6] == ["时长合计"]
    totals = {r[0]: r for r in lines[8:]}
    assert totals[str(ids["张三"])][1] == "微信" and totals[str(ids["张三"])][4:] == ["2", "4.5"]

    out_xlsx = tmp_path / "hours.xlsx"
    status, _ = await run(
        "hours",
        "export",
        "--format",
        "xlsx",
        "--output",
        str(out_xlsx),
        "--city",
        "洛阳市",
        "-c",
        config,
    )
    book = load_workbook(out_xlsx)
    assert book.sheetnames == ["时长明细", "时长合计"]
    rows = list(book["时长明细"].iter_rows(values_only=True))
    assert (
        rows[0][:4] == ("记录编号", "志愿者编号", "渠道", "姓名")
        and len(rows) == 2
        and rows[1][3] == "李*"
    )

    status, out = await run(
        "hours",
        "export",
        "--output",
        str(out_csv),
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-01",
        "-c",
        config,
    )
    assert status == 0 and "2 ledger rows" in out  # Shanghai days: 00:30 on 1 December is in
    for bad in (
        ["--from", "2026-13-01"],
        ["--from", "2026-12-02", "--to", "2026-12-01"],
        ["--city", "火星市"],
    ):
        status, _ = await run("hours", "export", "--output", str(out_csv), *bad, "-c", config)
        assert status == 1 and bad[0] in capsys.readouterr().err
    if not has_cjk_font():
        pytest.skip("no CJK font installed")
    chart = tmp_path / "hours.png"
    status, out = await run(
        "hours", "export", "--output", str(out_csv), "--chart", str(chart), "-c", config
    )
    assert status == 0 and chart.read_bytes()[:8] == PNG and "chart written" in out


async def test_volunteers_stars_tables_and_chart(
    harness: BotHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cli_config(harness, tmp_path)
    ids = await _ledger_fixture(harness)
    status, out = await run("volunteers", "stars", "--month", "2026-11", "-c", config)
    assert status == 0 and "郑州市 2026-11" in out and "洛阳市" not in out
    row = next(li for li in out.splitlines() if li.startswith("1 "))
    assert row.split() == ["1", str(ids["张三"]), "张*", "3"]
    assert "王" not in out and "（已注销）" not in out  # erased volunteers are not listed
    status, out = await run("volunteers", "stars", "--month", "2026-12", "-c", config)
    assert (
        "洛阳市 2026-12" in out
        and "郑州市 2026-12" in out
        and out.index("郑州市") < out.index("洛阳市")
    )
    status, out = await run("volunteers", "stars", "--month", "2026-10", "-c", config)
    assert status == 0 and "no hours credited in 2026-10" in out
    for bad in (["--month", "2026-13"], ["--month", "202611"], ["--city", "火星市"]):
        assert (await run("volunteers", "stars", *bad, "-c", config))[0] == 1
        assert bad[0] in capsys.readouterr().err
    if not has_cjk_font():
        pytest.skip("no CJK font installed")
    for extra in ([], ["--city", "郑州市"]):
        chart = tmp_path / f"stars{len(extra)}.png"
        status, out = await run(
            "volunteers", "stars", "--month", "2026-12", "--chart", str(chart), *extra, "-c", config
        )
        assert status == 0 and chart.read_bytes()[:8] == PNG
