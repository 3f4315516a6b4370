"""The office report (信息报送 / 年度总结) and the demo year to try it on: the commands and
the wording. The report's sections are declared by the features they describe
(``Feature.report``); this feature gathers them in registry order."""

from __future__ import annotations

from handlers.feature import ConsolePage, Feature, content_file

FEATURE = Feature(
    name="reports",
    cli=["bot.cli.report:register"],
    console=[
        ConsolePage(
            "/reports",
            "office_report.console.nav",
            "bot.console.sections.reports:section",
            "editor",
        )
    ],
    content=[content_file("office_report"), content_file("demo")],
)
