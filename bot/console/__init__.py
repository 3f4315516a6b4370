"""The operator web console (/console): server-rendered Chinese pages with roles, CSRF
protection and an audit log.

Adding a page: build a :class:`~bot.console.pages.Section` in the feature's module, decorate
each handler with ``section.get(path, role=...)`` / ``section.post(path, role=...)``, put the
template in ``bot/console/templates`` and the texts in ``handlers/content/console.toml``, and
list the section in :data:`SECTIONS` below. See the README's "Operator console" part.
"""

from __future__ import annotations

from bot.console.pages import Role, Section
from bot.console.sections import (
    activities,
    calendar,
    dashboard,
    keywords,
    logo,
    operators,
    pushes,
    stories,
    volunteers,
)

__all__ = ["SECTIONS", "Role", "Section", "all_sections"]

# The console's sections, in any order (the menu is ordered by Section.order).
SECTIONS: list[Section] = [
    dashboard.section,
    calendar.section,
    pushes.section,
    keywords.section,
    logo.section,
    activities.section,
    volunteers.section,
    stories.section,
    operators.section,
]


def all_sections() -> list[Section]:
    """Every section the console serves."""
    return list(SECTIONS)
