"""``volunteers list`` and ``hours adjust`` against the test database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from storage.volunteers import HoursEntry, Volunteer
from tests.bot.test_chat import _write_config
from tests.conftest import BotHarness, Chatter


async def _register(chatter: Chatter) -> None:
    for answer in ("报名", "1990", "张小三", "13812345678", "3", "西工区", "2", "3", "同意"):
        await chatter.say(answer)
    assert "报名成功" in await chatter.say("确认")


async def test_list_masks_and_adjust_keeps_every_change(
    harness: BotHarness, chatter: Chatter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _register(chatter)
    config = _write_config(tmp_path, harness.bot.config.database_url, harness.fake.base_url)  # type: ignore[attr-defined]
    async with harness.bot.sessions() as session:
        vid = (await session.execute(select(Volunteer.id))).scalar_one()

    assert await asyncio.to_thread(main, ["volunteers", "list", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "张*三" in out and "138****5678" in out and "13812345678" not in out

    cli = ["hours", "adjust", str(vid), "-c", str(config)]
    assert (
        await asyncio.to_thread(main, [*cli[:3], "120", "-c", str(config), "--reason", "补录"]) == 0
    )
    assert (
        await asyncio.to_thread(main, [*cli[:3], "-20.5", "-c", str(config), "--reason", "更正"])
        == 0
    )
    assert "total now 99.5 h" in capsys.readouterr().out
    # Refused: negative total, a non-number, an empty reason, an unknown volunteer.
    assert (
        await asyncio.to_thread(main, [*cli[:3], "-100", "-c", str(config), "--reason", "x"]) == 1
    )
    assert await asyncio.to_thread(main, [*cli[:3], "abc", "-c", str(config), "--reason", "x"]) == 1
    assert await asyncio.to_thread(main, [*cli[:3], "1", "-c", str(config), "--reason", " "]) == 1
    assert (
        await asyncio.to_thread(
            main, ["hours", "adjust", "999", "1", "-c", str(config), "--reason", "x"]
        )
        == 1
    )
    assert "negative" in capsys.readouterr().err

    async with harness.bot.sessions() as session:
        reasons = [
            e.reason
            for e in (await session.execute(select(HoursEntry).order_by(HoursEntry.id))).scalars()
        ]
    assert reasons == ["补录", "更正"]
    reply = await chatter.say("我的时长")
    assert "99.5 小时" in reply and "暂未评星" in reply and "100" in reply


async def test_export_csv_and_xlsx_masks_phones_unless_asked(
    harness: BotHarness, chatter: Chatter, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    from storage.models import AuditEvent

    await _register(chatter)
    config = _write_config(tmp_path, harness.bot.config.database_url, harness.fake.base_url)  # type: ignore[attr-defined]
    out_csv = tmp_path / "v.csv"
    args = ["volunteers", "export", "-c", str(config), "--output"]
    assert await asyncio.to_thread(main, [*args, str(out_csv)]) == 0
    lines = out_csv.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("编号,渠道,姓名,手机,城市") and len(lines) == 2
    assert lines[1].split(",")[1] == {"wechat": "微信", "weibo": "微博"}[chatter.channel.value]
    assert "138****5678" in lines[1] and "13812345678" not in lines[1] and "洛阳市" in lines[1]
    assert lines[0].split(",")[5] == "区县" and ",西工区," in lines[1] and ",周末," in lines[1]
    assert await asyncio.to_thread(main, [*args, str(out_csv), "--city", "郑州市"]) == 0
    assert len(out_csv.read_text(encoding="utf-8-sig").splitlines()) == 1

    out_xlsx = tmp_path / "v.xlsx"
    full = [*args, str(out_xlsx), "--format", "xlsx", "--include-phones"]
    assert await asyncio.to_thread(main, full) == 0
    sheet = load_workbook(out_xlsx).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:4] == ("编号", "渠道", "姓名", "手机")
    assert values[1][2:4] == ("张小三", "13812345678")
    async with harness.bot.sessions() as session:
        audits = list(
            (
                await session.execute(
                    select(AuditEvent.action, AuditEvent.detail).order_by(AuditEvent.id)
                )
            ).all()
        )
    # Every export is audited; the detail says which files hold whole phone numbers.
    assert [a for a, _ in audits] == ["volunteers.export"] * 3
    assert [d.split()[-1] for _, d in audits] == ["phones=masked"] * 2 + ["phones=full"]
    assert not any("13812345678" in d for _, d in audits)
