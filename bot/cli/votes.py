"""``votes results|void``: the logo contest's counts, chart and vote voiding."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from datetime import date
from pathlib import Path

from bot.cli.charts import bar_chart
from bot.cli.common import add_config_arg, load, print_table, ready_context
from storage import logo as store
from storage.models import AuditEvent

Ranking = list[tuple[int, str, int]]
PerDay = list[tuple[date, int]]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the votes command."""
    p = sub.add_parser("votes", help="logo contest votes: results and voiding")
    vsub = p.add_subparsers(dest="votes_command", metavar="ACTION", required=True)
    res = vsub.add_parser("results", help="ranking and votes per day")
    add_config_arg(res)
    res.add_argument("--format", choices=("table", "csv", "png"), default="table")
    res.add_argument(
        "--output", "-o", default=None, help="file for csv/png (png default: votes.png)"
    )
    res.set_defaults(func=cmd_results)
    void = vsub.add_parser("void", help="void an entry's votes (or one user's) with a reason")
    add_config_arg(void)
    void.add_argument("number", type=int)
    void.add_argument("--user", default=None, help="only this user's votes")
    void.add_argument("--reason", required=True)
    void.set_defaults(func=cmd_void)


async def load_results(args: argparse.Namespace) -> tuple[Ranking, PerDay]:
    """Ranking and per-day totals of counted votes."""
    async with ready_context(load(args)) as bot, bot.sessions() as session:
        return await store.ranking(session), await store.votes_per_day(session)


def write_csv(ranking: Ranking, out: object) -> None:
    """The ranking as CSV (rank, number, title, votes)."""
    writer = csv.writer(out)  # type: ignore[arg-type]
    writer.writerow(["rank", "number", "title", "votes"])
    for i, (number, title, votes) in enumerate(ranking, 1):
        writer.writerow([i, number, title, votes])


def write_png(ranking: Ranking, path: Path) -> None:
    """A horizontal bar chart of the ranking with Chinese titles in a CJK font."""
    bar_chart(
        path,
        [f"{n}号 {t}" for n, t, _v in ranking],
        [v for _n, _t, v in ranking],
        title="网络公益标识征集 投票结果",
        value_label="票数",
    )


def cmd_results(args: argparse.Namespace) -> int:
    """Print or write the results."""
    ranking, per_day = asyncio.run(load_results(args))
    if args.format == "csv":
        if args.output:
            with open(args.output, "w", newline="", encoding="utf-8") as f:
                write_csv(ranking, f)
        else:
            write_csv(ranking, sys.stdout)
        return 0
    if args.format == "png":
        path = Path(args.output or "votes.png")
        write_png(ranking, path)
        print(f"chart written to {path}")
        return 0
    print_table(
        ["名次", "编号", "作品名称", "票数"],
        [[i, n, t, v] for i, (n, t, v) in enumerate(ranking, 1)],
    )
    print()
    print_table(["日期", "票数"], [[d.isoformat(), v] for d, v in per_day])
    return 0


async def void(args: argparse.Namespace) -> int:
    """Void the votes and record the reason in the audit log, in one transaction."""
    async with ready_context(load(args)) as bot, bot.sessions() as session, session.begin():
        n = await store.void_votes(
            session, entry_id=args.number, reason=args.reason, user_id=args.user
        )
        session.add(
            AuditEvent(
                at=bot.clock.now(),
                actor="cli",
                action="votes_void",
                detail=f"entry={args.number} user={args.user or '*'} n={n} reason={args.reason}",
            )
        )
        return n


def cmd_void(args: argparse.Namespace) -> int:
    """Void votes of one entry."""
    n = asyncio.run(void(args))
    print(f"voided {n} votes of entry {args.number}")
    return 0
