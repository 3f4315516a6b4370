"""The office report's sections, one module per feature, in the order the report shows them.

Each module has ``async def section(scope) -> Section`` and owns every query behind its
figures. When features are declared in one registry, each declaration names its section and
this list goes away."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from storage.reports import (
    activities,
    followers,
    logo,
    messages,
    pushes,
    questions,
    stars,
    stories,
    volunteers,
)
from storage.reports.base import Scope, Section

SectionQuery = Callable[[Scope], Awaitable[Section]]

SECTIONS: list[tuple[str, SectionQuery]] = [
    ("followers", followers.section),
    ("messages", messages.section),
    ("questions", questions.section),
    ("volunteers", volunteers.section),
    ("activities", activities.section),
    ("stars", stars.section),
    ("logo", logo.section),
    ("stories", stories.section),
    ("pushes", pushes.section),
]
