"""``votes results|flags|void``: the logo contest's counts, chart, burst flags and voiding."""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.cli import common
from bot.cli.charts import bar_chart
from bot.kernel.clock import as_utc
from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from bot.kernel.message import Channel
from handlers import logo_ops as ops
from handlers.logo_phases import format_admin, parse_time
from storage import logo as store

Ranking = list[tuple[int, str, int]]
PerDay = list[tuple[date, int]]


def register(sub: common.Subcommands) -> None:
    """Add the votes command."""
    action = common.command_group(sub, "votes", "logo contest votes: results and voiding")
    res = action("results", "ranking and votes per day", cmd_results)
    res.add_argument("--format", choices=("table", "csv", "png"), default="table")
    res.add_argument(
        "--output", "-o", default=None, help="file for csv/png (png default: votes.png)"
    )
    action("flags", "bursts of votes from new followers of one QR scene", cmd_flags)
    void = action(
        "void", "void votes of an entry, a user or a QR scene's followers, with a reason", cmd_void
    )
    void.add_argument("number", type=int, nargs="?", default=None, help="entry number")
    void.add_argument("--user", default=None, help="only this user's votes")
    void.add_argument("--scene", default=None, help="only votes of followers from this QR scene")
    void.add_argument(
        "--since", default=None, metavar="TIME", help='only votes cast since "YYYY-MM-DD HH:MM"'
    )
    void.add_argument("--reason", required=True)


@dataclass(frozen=True)
class Results:
    ranking: Ranking
    per_day: PerDay
    by_channel: dict[int, dict[str, int]]
    channel_names: dict[str, str]  # channel → its name for operators (微信, 微博)
    texts: Texts  # column names and chart labels


async def load_results(bot: BotContext) -> Results:
    """Ranking, per-day totals and the per-channel split of counted votes."""
    async with bot.sessions() as session:
        return Results(
            await store.ranking(session),
            await store.votes_per_day(session),
            await store.votes_by_channel(session),
            {c.value: common.channel_name(bot, c.value) for c in Channel},
            bot.texts,
        )


def write_csv(results: Results, out: object) -> None:
    """The ranking as CSV (rank, number, title, votes, then votes per channel)."""
    writer = csv.writer(out)  # type: ignore[arg-type]
    channels = list(results.channel_names)
    writer.writerow(["rank", "number", "title", "votes", *channels])
    for i, (number, title, votes) in enumerate(results.ranking, 1):
        split = results.by_channel.get(number, {})
        writer.writerow([i, number, title, votes, *(split.get(c, 0) for c in channels)])


def write_png(results: Results, path: Path) -> None:
    """A horizontal bar chart of the ranking with Chinese titles in a CJK font."""
    t = results.texts
    bar_chart(
        path,
        [t("reports.votes.chart_label", number=n, title=title) for n, title, _v in results.ranking],
        [v for _n, _t, v in results.ranking],
        title=t("reports.votes.chart_title"),
        value_label=t("reports.votes.chart_axis"),
    )


def cmd_results(args: argparse.Namespace) -> int:
    """Print or write the results."""
    results = common.run(args, load_results)
    if args.format == "csv":
        if args.output:
            with open(args.output, "w", newline="", encoding="utf-8") as f:
                write_csv(results, f)
        else:
            write_csv(results, sys.stdout)
        return 0
    if args.format == "png":
        path = Path(args.output or "votes.png")
        write_png(results, path)
        print(f"chart written to {path}")
        return 0
    channels = list(results.channel_names)
    texts = results.texts
    ranking_headers = common.columns(texts, "reports.votes", "rank number title votes")
    common.print_table(
        [*ranking_headers, *results.channel_names.values()],
        [
            [i, n, t, v, *(results.by_channel.get(n, {}).get(c, 0) for c in channels)]
            for i, (n, t, v) in enumerate(results.ranking, 1)
        ],
    )
    print()
    day_headers = common.columns(texts, "reports.votes", "day votes")
    common.print_table(day_headers, [[d.isoformat(), v] for d, v in results.per_day])
    return 0


async def list_flags(bot: BotContext) -> list[list[object]]:
    """Rows of the burst flags, newest window first."""
    async with bot.sessions() as session:
        return [
            [
                f.scene,
                format_admin(as_utc(f.window_start)),
                f.vote_count,
                format_admin(as_utc(f.created_at)),
                format_admin(as_utc(f.updated_at)),
            ]
            for f in await store.list_flags(session)
        ]


def cmd_flags(args: argparse.Namespace) -> int:
    """Print the burst flags and how to void the votes behind one."""
    rows = common.run(args, list_flags)
    if not rows:
        print("no bursts flagged")
        return 0
    common.print_table(["QR scene", "window start", "votes", "flagged at", "last seen"], rows)
    print()
    print(
        "Votes still count. To void them: python -m bot votes void --scene SCENE "
        '--since "WINDOW START" --reason "..."'
    )
    return 0


async def void(bot: BotContext, args: argparse.Namespace) -> int:
    """Void the votes (audited with the reason); returns how many."""
    since = None
    if args.since:
        try:
            since = parse_time(args.since)
        except ValueError as exc:
            raise common.CommandError(f"--since: {exc}") from None
    return await ops.void_votes(
        bot,
        common.operator(args),
        reason=args.reason,
        entry=args.number,
        user=args.user,
        scene=args.scene,
        since=since,
    )


def cmd_void(args: argparse.Namespace) -> int:
    """Void votes of an entry, a user or a QR scene's followers."""
    n = common.run(args, lambda bot: void(bot, args))
    what = [f"entry {args.number}" if args.number is not None else ""]
    what += [f"user {args.user}" if args.user else "", f"scene {args.scene}" if args.scene else ""]
    print(f"voided {n} votes ({', '.join(w for w in what if w)})")
    return 0
