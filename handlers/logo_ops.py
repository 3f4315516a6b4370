"""Operator operations of the logo contest: entry review, phase changes, vote voiding.

Each validates, writes, records one audit row and tells whom it concerns, in one transaction;
the CLI (``bot/cli/logos.py``, ``bot/cli/votes.py``) and the console call these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Unpack

from bot.kernel.context import BotContext
from handlers.logo_phases import (
    LOGO,
    PHASES,
    PhaseError,
    Window,
    check_order,
    config_windows,
    contest_state,
    database_windows,
    format_admin,
    merge,
)
from handlers.logo_review import outcome_text
from handlers.notify import tell_then
from handlers.operations import Actor, OperationError, audit
from storage import logo as store
from storage.db import Session, transaction
from storage.logo import LogoEntry


def _reviewable(entry: LogoEntry | None, number: int) -> LogoEntry:
    if entry is None:
        raise OperationError("reports.ops.logo_missing", f"no entry number {number}", number=number)
    if entry.status == "withdrawn":
        # Final: approving it would put a design back that its author took away.
        raise OperationError(
            "reports.ops.logo_withdrawn",
            f"entry {entry.id} was withdrawn by its author",
            number=number,
        )
    return entry


async def _review(
    bot: BotContext, actor: Actor, number: int, status: str, reason: str | None
) -> str:
    now = bot.clock.now()
    async with bot.sessions() as session:
        entry = _reviewable(await store.get_entry(session, number), number)
        state = await contest_state(session, LOGO.of(bot.config), now)
    text = outcome_text(bot, entry, state, status=status, reason=reason)

    async def record(session: Session) -> None:
        # Checked again under the row lock: the author may have withdrawn it meanwhile.
        _reviewable(await store.review_entry(session, number, status, now, reason), number)
        action = "logo.approve" if status == "approved" else "logo.reject"
        audit(bot, session, actor, action, entry=number, reason=reason or "")

    # Sent before the transaction opens (tell_then): a slow platform never holds the database;
    # the review, its audit row and the notice (outside the 48 h window) commit together.
    return await tell_then(bot, entry.user_key, text, record)


async def approve(bot: BotContext, actor: Actor, number: int) -> str:
    """Approve entry ``number`` and tell its author; returns 'sent' or 'notice'."""
    return await _review(bot, actor, number, "approved", None)


async def reject(bot: BotContext, actor: Actor, number: int, reason: str) -> str:
    """Reject entry ``number``, telling its author why; returns 'sent' or 'notice'."""
    if not reason.strip():
        raise OperationError("reports.ops.logo_reason", "--reason: say why (the author is told)")
    return await _review(bot, actor, number, "rejected", reason)


def _known(phase: str) -> None:
    if phase not in PHASES:
        raise OperationError(
            "reports.ops.bad_choice", f"phase: one of {', '.join(PHASES)}", value=phase
        )


async def set_phase(
    bot: BotContext, actor: Actor, phase: str, starts: datetime, ends: datetime | None
) -> Window:
    """Set one phase's dates for every process, checked against the whole schedule first."""
    _known(phase)
    new = Window(phase, starts, ends, "database")
    async with transaction(bot.sessions) as session:
        others = [w for w in await database_windows(session) if w.phase != phase]
        try:
            check_order(merge(config_windows(LOGO.of(bot.config)), [*others, new]))
        except PhaseError as exc:
            raise OperationError(
                "reports.ops.phase_order", str(exc), phase=exc.phase, bound=exc.bound
            ) from None
        now = bot.clock.now()
        await store.set_phase(session, phase, starts=starts, ends=ends, now=now, actor=str(actor))
        end = format_admin(ends, end=True) if ends else ""
        audit(
            bot,
            session,
            actor,
            "logo.phase_set",
            phase=phase,
            starts=format_admin(starts),
            ends=end,
        )
    return new


async def clear_phase(bot: BotContext, actor: Actor, phase: str) -> None:
    """Drop the database setting of one phase (the config's, if any, applies again)."""
    _known(phase)
    async with transaction(bot.sessions) as session:
        if not await store.clear_phase(session, phase):
            raise OperationError(
                "reports.ops.phase_unset",
                f"{phase} has no database setting to clear",
                phase=phase,
            )
        audit(bot, session, actor, "logo.phase_clear", phase=phase)


async def void_votes(
    bot: BotContext, actor: Actor, *, reason: str, **target: Unpack[store.VoteTarget]
) -> int:
    """Void the counted votes of an entry, a user or a QR scene's followers (optionally only
    those cast since ``since``), with a reason; returns how many."""
    if not store.names_voters(target):
        raise OperationError("reports.ops.void_target", "name an entry NUMBER, --user or --scene")
    if not reason.strip():
        raise OperationError("reports.ops.void_reason", "--reason: say why the votes go")
    async with transaction(bot.sessions) as session:
        n = await store.void_votes(session, reason=reason, **target)
        since = target.get("since")
        when = format_admin(since) if since else None
        audit(
            bot,
            session,
            actor,
            "votes.void",
            entry=target.get("entry"),
            user=target.get("user") or None,
            scene=target.get("scene") or None,
            since=when,
            n=n,
            reason=reason,
        )
    return n
