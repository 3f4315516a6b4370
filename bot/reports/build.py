"""Gather the report: run every feature's section query for a period, with progress."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from bot.kernel.privacy import mask_name
from handlers.feature import Feature, resolve
from handlers.registry import FEATURES
from handlers.volunteers import VOLUNTEERS
from storage.reports.base import Period, Scope, Section

Step = Callable[[str], None]
SectionQuery = Callable[[Scope], Awaitable[Section]]


def section_queries(features: Sequence[Feature] = FEATURES) -> list[SectionQuery]:
    """Every feature's report sections, in registry order."""
    return [resolve(ref) for feature in features for ref in feature.report]


@dataclass
class Report:
    """A period's sections, ready to be written."""

    period: Period
    sections: list[Section]
    generated_at: datetime

    def section(self, key: str) -> Section:
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)

    def totals(self) -> dict[str, Any]:
        """Every total of every section by its label key (keys are unique across sections)."""
        return {k: v for s in self.sections for k, v in s.totals}


def _skills(bot: BotContext) -> list[str]:
    conf = VOLUNTEERS.of(bot.config)
    return list(conf.skills) if conf.skills else list(bot.texts.file("volunteer")["skills"])


async def gather(
    bot: BotContext,
    period: Period,
    step: Step | None = None,
    features: Sequence[Feature] = FEATURES,
) -> Report:
    """Run each section's queries (one read-only session) and collect the results."""

    def masked(token: str) -> str:
        return mask_name(bot.cipher.decrypt(token)) if token else ""

    sections = []
    async with bot.sessions() as session:
        scope = Scope(
            session=session,
            period=period,
            skills=_skills(bot),
            stars_top=VOLUNTEERS.of(bot.config).stars_top,
            masked_name=masked,
        )
        for query in section_queries(features):
            section = await query(scope)
            sections.append(section)
            if step:
                step(section.key)
    return Report(period, sections, bot.clock.now())


def label(texts: Texts, key: str) -> str:
    """A column name or total's label; the key itself when the content file lacks it."""
    found: str = texts.get(f"office_report.labels.{key}", key)
    return found


def is_ratio(key: str) -> bool:
    """Totals and columns holding a share (shown as a percentage)."""
    return key.endswith(("_share", "_rate"))
