"""Keyword rules: seeding from the content file, operator edits, lookup snapshots."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Sessions, transaction
from storage.models import KeywordRule

MATCH_TYPES = ("exact", "contains", "click")


@dataclass(frozen=True)
class RuleSpec:
    pattern: str
    match: str
    priority: int
    reply_json: str


async def seed_rules(
    session: AsyncSession, specs: Iterable[RuleSpec], now: datetime
) -> tuple[int, int, int]:
    """Make the seeded rules match the content file: insert, update, and delete seeded rules the
    file no longer has. Operator rules are left alone. Returns (added, updated, removed)."""
    existing = {
        (r.pattern, r.match): r for r in (await session.execute(select(KeywordRule))).scalars()
    }
    specs = list(specs)
    wanted = {(spec.pattern, spec.match) for spec in specs}
    added = updated = removed = 0
    for key, rule in existing.items():
        # A keyword dropped from the content (or renamed) must stop answering.
        if rule.source == "seed" and key not in wanted:
            await session.delete(rule)
            removed += 1
    for spec in specs:
        row = existing.get((spec.pattern, spec.match))
        if row is None:
            session.add(
                KeywordRule(
                    pattern=spec.pattern,
                    match=spec.match,
                    priority=spec.priority,
                    reply=spec.reply_json,
                    enabled=True,
                    source="seed",
                    updated_at=now,
                )
            )
            added += 1
        elif row.source == "seed" and (row.reply, row.priority) != (spec.reply_json, spec.priority):
            row.reply, row.priority, row.updated_at = spec.reply_json, spec.priority, now
            updated += 1
    await session.flush()
    return added, updated, removed


async def seed_concurrently(
    sessions: Sessions, specs: Iterable[RuleSpec], now: datetime
) -> tuple[int, int, int]:
    """``seed_rules`` in a transaction of its own, as every worker does at start-up: when
    another worker seeds at the same moment, its rules are the same, and this one counts
    nothing (0, 0, 0)."""
    try:
        async with transaction(sessions) as session:
            return await seed_rules(session, specs, now)
    except IntegrityError:
        return 0, 0, 0


async def add_rule(session: AsyncSession, spec: RuleSpec, now: datetime) -> KeywordRule:
    """Add or replace an operator rule."""
    row = (
        await session.execute(
            select(KeywordRule).where(
                KeywordRule.pattern == spec.pattern, KeywordRule.match == spec.match
            )
        )
    ).scalar_one_or_none()
    if row is None:
        row = KeywordRule(pattern=spec.pattern, match=spec.match)
        session.add(row)
    row.priority, row.reply, row.enabled, row.source, row.updated_at = (
        spec.priority,
        spec.reply_json,
        True,
        "operator",
        now,
    )
    await session.flush()
    return row


async def remove_rule(session: AsyncSession, rule_id: int) -> bool:
    """Delete a rule by id; False if there was none."""
    result: Any = await session.execute(delete(KeywordRule).where(KeywordRule.id == rule_id))
    return bool(result.rowcount)


async def enabled_rules(session: AsyncSession) -> list[KeywordRule]:
    """The rules that answer, highest priority first (ties: oldest first)."""
    rows = await session.execute(
        select(KeywordRule)
        .where(KeywordRule.enabled.is_(True))
        .order_by(KeywordRule.priority.desc(), KeywordRule.id)
    )
    return list(rows.scalars())


async def list_rules(session: AsyncSession) -> list[KeywordRule]:
    """All rules, highest priority first."""
    rows = await session.execute(
        select(KeywordRule).order_by(KeywordRule.priority.desc(), KeywordRule.id)
    )
    return list(rows.scalars())


async def newest_change(session: AsyncSession) -> tuple[int, Any]:
    """A cheap fingerprint of the rule table (count, newest update) for cache invalidation."""
    from sqlalchemy import func

    row = (
        await session.execute(select(func.count(KeywordRule.id), func.max(KeywordRule.updated_at)))
    ).one()
    return int(row[0]), row[1]


def as_mapping(rule: KeywordRule) -> Mapping[str, Any]:
    """A plain view for printing."""
    return {
        "id": rule.id,
        "pattern": rule.pattern,
        "match": rule.match,
        "priority": rule.priority,
        "enabled": rule.enabled,
        "source": rule.source,
    }


async def _touched(session: AsyncSession, rule_id: int, now: datetime) -> KeywordRule | None:
    """Rule ``rule_id`` about to change, None when there is no such rule. ``updated_at``
    moves, so every process's cached index reloads."""
    rule = await session.get(KeywordRule, rule_id)
    if rule is not None:
        rule.updated_at = now
    return rule


async def switch_rule(
    session: AsyncSession, rule_id: int, now: datetime, enabled: bool
) -> KeywordRule | None:
    """Switch a rule (seeded ones too) on or off; None when there is no such rule."""
    rule = await _touched(session, rule_id, now)
    if rule is not None:
        rule.enabled = enabled
        await session.flush()
    return rule


async def edit_rule(
    session: AsyncSession, rule_id: int, now: datetime, priority: int, reply_json: str
) -> KeywordRule | None:
    """Change the priority and reply of an operator rule; a seeded rule keeps its own (seeding
    rewrites them). None when there is no such rule."""
    rule = await _touched(session, rule_id, now)
    if rule is not None:
        if rule.source != "seed":
            rule.priority = priority
            rule.reply = reply_json
        await session.flush()
    return rule
