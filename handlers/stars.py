"""志愿之星: the month's volunteers with the most hours credited, per city, names masked."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.kernel.clock import SHANGHAI, local
from bot.kernel.message import Reply
from bot.kernel.privacy import mask_name
from handlers.activities import hours_text
from handlers.context import Ctx
from handlers.feature import Feature, content_file
from handlers.router import Click, Command, Router
from handlers.volunteers import VOLUNTEERS, cities, current_volunteer
from storage.activities import monthly_hours

router = Router("stars")
LAST_MONTH = frozenset({"上月", "上个月"})
THIS_MONTH = frozenset({"本月", "这个月"})


def month_of(when: datetime) -> tuple[int, int]:
    """The (year, month) of ``when`` in Asia/Shanghai."""
    at = local(when)
    return at.year, at.month


def previous_month(year: int, month: int) -> tuple[int, int]:
    """The month before (year, month)."""
    return (year - 1, 12) if month == 1 else (year, month - 1)


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next in Asia/Shanghai, as aware UTC (SQLite
    compares stored times as UTC text, so bounds must be UTC too)."""
    start = datetime(year, month, 1, tzinfo=SHANGHAI)
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    end = datetime(next_year, next_month, 1, tzinfo=SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


def find_city(options: list[str], text: str) -> str | None:
    """``text`` as one of ``options``: exact, or an unambiguous start ('郑州' → '郑州市')."""
    if text in options:
        return text
    matches = [o for o in options if len(text) >= 2 and o.startswith(text)]
    return matches[0] if len(matches) == 1 else None


@router.on(Command("志愿之星", arg=r".*") | Click("VOLUNTEER_STARS"), pure=True)
async def show_stars(ctx: Ctx) -> Reply | None:
    """志愿之星 [上月] [城市]: the top volunteers of the sender's city (or all, for guests)."""
    year, month = month_of(ctx.bot.clock.now())
    options = cities(ctx)
    city: str | None = None
    for token in ctx.arg.split():
        if token in LAST_MONTH:
            year, month = previous_month(*month_of(ctx.bot.clock.now()))
        elif token not in THIS_MONTH:
            city = find_city(options, token)
            if city is None:
                return ctx.reply("stars.usage", example=options[0])
    if city is None:
        me = await current_volunteer(ctx)
        city = me.city if me is not None else None
    since, until = month_bounds(year, month)
    top = VOLUNTEERS.of(ctx.bot.config).stars_top
    stars = await monthly_hours(ctx.session, since, until, city, top)
    where = city or ctx.t("stars.everywhere")
    if not stars:
        return ctx.reply("stars.none", year=year, month=month, where=where)
    lines = [ctx.t("stars.header", year=year, month=month, where=where)]
    for rank, star in enumerate(stars, 1):
        lines.append(
            ctx.t(
                "stars.line" if city else "stars.line_city",
                rank=rank,
                name=ctx.bot.cipher.reveal(star.name_enc, ctx.t("common.unreadable"), mask_name),
                city=star.city,
                hours=hours_text(star.hours),
            )
        )
    lines.append(ctx.t("stars.footer" if city else "stars.footer_all", example=options[0]))
    return Reply.of_text("\n".join(lines))


FEATURE = Feature(
    name="stars",
    routers=[router],
    content=[content_file("stars")],
    report=["storage.reports.stars:section"],
)
