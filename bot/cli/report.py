"""``report``: the office report of a month, quarter or year (xlsx, docx, pdf) and
``demo-data``: a year of made-up campaign data to try it on (and to benchmark it)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from bot.cli.common import CommandError, Progress, add_config_arg, load, ready_context
from bot.kernel.clock import local
from bot.kernel.context import BotContext
from bot.reports.output import parse_formats, write_report
from storage.demo import DemoError, DemoSize, Material, generate
from storage.reports.base import Period, PeriodError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the report and demo-data commands."""
    rep = sub.add_parser(
        "report", help="the office report of a month, quarter or year (xlsx, docx, pdf)"
    )
    add_config_arg(rep)
    rep.add_argument("--period", required=True, metavar="2027-03|2027-Q1|2027")
    rep.add_argument(
        "--format",
        default=None,
        metavar="xlsx,docx,pdf",
        help="default: all three (pdf only when LibreOffice is installed)",
    )
    rep.add_argument("--out", default=".", metavar="DIR", help="folder for the files (default .)")
    rep.set_defaults(func=cmd_report)

    demo = sub.add_parser(
        "demo-data", help="fill an empty database with a made-up campaign year (try reports)"
    )
    add_config_arg(demo)
    demo.add_argument("--followers", type=int, default=2000)
    demo.add_argument("--messages", type=int, default=20000)
    demo.add_argument("--volunteers", type=int, default=400)
    demo.add_argument("--year", type=int, default=None, help="default: the current year")
    demo.add_argument("--seed", type=int, default=1)
    demo.set_defaults(func=cmd_demo)


def stage_progress(stream: object = None) -> Callable[[str, int, int], None]:
    """A progress callback drawing one counter line per stage on stderr."""
    bars: dict[str, Progress] = {}

    def tell(what: str, done: int, total: int) -> None:
        bar = bars.get(what)
        if bar is None:
            bar = bars[what] = Progress(what, total, stream or sys.stderr)
        bar.total = total
        bar.advance(done - bar.done)

    return tell


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report files and list them."""
    try:
        period = Period.parse(args.period)
    except PeriodError as exc:
        raise CommandError(f"--period: {exc}") from None
    asked = args.format is not None
    try:
        formats = parse_formats(args.format or "xlsx,docx,pdf")
    except ValueError as exc:
        raise CommandError(f"--format: {exc}") from None
    out_dir = Path(args.out)
    if not out_dir.is_dir():
        raise CommandError(f"--out: no such directory: {out_dir}")

    async def go() -> int:
        async with ready_context(load(args)) as bot:
            written = await write_report(bot, period, formats, out_dir, stage_progress())
        for path in written.files:
            print(f"written: {path}")
        for reason in written.skipped:
            print(f"pdf not written: {reason}", file=sys.stderr)
        # A PDF asked for by name and not written is a failure; by default it is a notice.
        return 1 if written.skipped and asked else 0

    return asyncio.run(go())


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate the year and print what was written."""
    for option in ("followers", "messages", "volunteers"):
        if getattr(args, option) < 0:
            raise CommandError(f"--{option}: must not be negative")
    if args.followers < 1:
        raise CommandError("--followers: at least 1")

    async def go() -> int:
        async with ready_context(load(args)) as bot:
            year = args.year or local(bot.clock.now()).year
            size = DemoSize(args.followers, args.messages, args.volunteers, year, args.seed)
            try:
                tally = await generate(bot.sessions, size, material(bot, year), stage_progress())
            except DemoError as exc:
                raise CommandError(str(exc)) from None
        print(
            f"demo year {year}: {sum(tally.follows.values())} follows, "
            f"{sum(tally.messages.values())} messages, {sum(tally.volunteers.values())} "
            f"volunteers, {sum(tally.activities_held.values())} activities, "
            f"{sum(tally.votes.values())} votes, {tally.stories_received} "
            f"stories, {tally.pushes_sent} pushes"
        )
        return 0

    return asyncio.run(go())


def material(bot: BotContext, year: int) -> Material:
    """The demo generator's texts and lists, from the content files and the config."""
    from handlers.volunteers import VOLUNTEERS, configured_cities
    from schedules.calendar import load_calendar

    demo = bot.texts.file("demo")
    conf = VOLUNTEERS.of(bot.config)
    volunteer = bot.texts.file("volunteer")
    calendar = load_calendar(bot.config.schedules.extra_dates, bot.texts)
    return Material(
        surnames=demo["surnames"],
        given=demo["given"],
        questions=demo["questions"],
        activity_titles=demo["activity_titles"],
        places=demo["places"],
        logo_titles=demo["logo_titles"],
        logo_statement=demo["logo_statement"],
        stories=demo["stories"],
        cities=configured_cities(bot),
        skills=list(conf.skills) or list(volunteer["skills"]),
        availability=list(conf.availability) or list(volunteer["availability"]),
        key_dates=[(d.day, d.name) for d in calendar.year(year)],
        encrypt=bot.cipher.encrypt,
        blind_index=bot.cipher.blind_index,
    )
