"""``followers report``: follower growth per day, the QR scenes people came through, a chart."""

from __future__ import annotations

import argparse
from datetime import date, datetime, time, timedelta
from pathlib import Path

from bot.cli.charts import bar_chart
from bot.cli.common import (
    CommandError,
    Subcommands,
    command_group,
    print_table,
    run,
)
from bot.kernel.clock import SHANGHAI, local
from bot.kernel.context import BotContext
from bot.kernel.message import Channel
from storage.followers import current_followers, growth, top_scenes

MAX_DAYS = 366


def register(sub: Subcommands) -> None:
    """Add the followers command."""
    action = command_group(sub, "followers", "follower growth")
    rep = action(
        "report", "follows and unfollows per day, top QR scenes, optional chart", cmd_report
    )
    rep.add_argument("--days", type=int, default=30, help="the last N days (default 30)")
    rep.add_argument("--from", dest="start", default=None, metavar="YYYY-MM-DD")
    rep.add_argument("--to", dest="end", default=None, metavar="YYYY-MM-DD")
    rep.add_argument("--channel", choices=[c.value for c in Channel], default=None)
    rep.add_argument("--chart", default=None, metavar="FILE.png", help="net growth per day")


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: expected YYYY-MM-DD, got {value!r}") from None


def period(args: argparse.Namespace, today: date) -> tuple[date, date]:
    """The report's first and last day (Asia/Shanghai), validated."""
    end = _day(args.end, "--to") if args.end else today
    if args.start:
        start = _day(args.start, "--from")
    else:
        if not 1 <= args.days <= MAX_DAYS:
            raise CommandError(f"--days: must be between 1 and {MAX_DAYS}")
        start = end - timedelta(days=args.days - 1)
    if start > end:
        raise CommandError("--from: must not be after --to")
    if (end - start).days >= MAX_DAYS:
        raise CommandError(f"--from/--to: at most {MAX_DAYS} days at a time")
    return start, end


def cmd_report(args: argparse.Namespace) -> int:
    """Print the report (and write the chart)."""

    async def work(bot: BotContext) -> int:
        async with bot.sessions() as session:
            t = bot.texts
            start, end = period(args, local(bot.clock.now()).date())
            days = await growth(session, start, end, args.channel)
            since = datetime.combine(start, time.min, SHANGHAI)
            until = datetime.combine(end + timedelta(days=1), time.min, SHANGHAI)
            scenes = await top_scenes(session, since, until, args.channel)
            current = await current_followers(session, args.channel)
        follows = sum(f for _d, f, _u in days)
        unfollows = sum(u for _d, _f, u in days)
        print_table(
            [
                t("reports.col_day"),
                t("reports.col_follows"),
                t("reports.col_unfollows"),
                t("reports.col_net"),
            ],
            [[d.isoformat(), f, u, f - u] for d, f, u in days],
        )
        print()
        print(
            t(
                "reports.summary",
                follows=follows,
                unfollows=unfollows,
                net=follows - unfollows,
                current=current,
            )
        )
        if scenes:
            print()
            print_table(
                [
                    t("reports.col_scene"),
                    t("reports.col_scene_follows"),
                    t("reports.col_scene_still"),
                ],
                scenes,
            )
        if args.chart:
            bar_chart(
                Path(args.chart),
                [d.strftime("%m-%d") for d, _f, _u in days],
                [f - u for _d, f, u in days],
                title=t("reports.growth_title", start=start.isoformat(), end=end.isoformat()),
                value_label=t("reports.growth_axis"),
                horizontal=False,
            )
            print(f"chart written to {args.chart}")
        return 0

    return run(args, work)
