"""Follower growth: the dispatcher records follows and unfollows per day (``storage.followers``);
this feature gives operators the numbers and the chart (``python -m bot followers``)."""

from __future__ import annotations

from handlers.feature import Feature

FEATURE = Feature(
    name="followers",
    cli=["bot.cli.followers:register"],
    report=["storage.reports.followers:section"],
)
