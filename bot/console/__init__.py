"""The operator web console (/console): server-rendered Chinese pages with roles, CSRF
protection and an audit log.

Adding pages for a feature: build a :class:`~bot.console.pages.Section` in a module under
``bot/console/sections/``, decorate each handler with ``section.get(path, role=...)`` /
``section.post(path, role=...)``, put its templates in ``bot/console/templates`` and its texts
in the feature's content file, and name the section in the feature's declaration::

    console=[ConsolePage("/keywords", "console.nav.keywords",
                         "bot.console.sections.keywords:section", "viewer")]

A reference to a plain ``async def page(call) -> web.StreamResponse`` works too: it becomes a
one-page section at ``path`` with that title and least role. See the README's "Operator
console" part.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.console.pages import Section
from bot.console.sections import admin, dashboard, exports
from handlers.feature import Feature, resolve
from handlers.operators import Role
from handlers.registry import FEATURES

__all__ = ["SECTIONS", "Role", "Section", "all_sections"]

# The console's own sections (not a feature's); the menu is ordered by Section.order.
SECTIONS: list[Section] = [dashboard.section, exports.section, admin.section]
# The shape's role names: "reviewer" is the role that drafts and reviews (editor here).
ROLE_NAMES = {
    "viewer": Role.VIEWER,
    "reviewer": Role.EDITOR,
    "editor": Role.EDITOR,
    "admin": Role.ADMIN,
}


def all_sections(features: Sequence[Feature] = FEATURES) -> list[Section]:
    """The console's own sections and every feature's, each once."""
    found: list[Section] = list(SECTIONS)
    for feature in features:
        for page in feature.console:
            target = resolve(page.handler)
            if isinstance(target, Section):
                section = target
            else:
                role = ROLE_NAMES[page.role]
                section = Section(f"{feature.name}{page.path}", nav=page.title_key, nav_role=role)
                section.get(page.path, role=role)(target)
            if all(section is not other for other in found):
                found.append(section)
    return found
