"""Measuring the FAQ on a labelled test set (bench/faq.py prints it, a test asserts it).

A question is *right* when a topical question gets its topic's answer directly, or an
off-topic question gets no topical answer (handed to staff, or a "您是想问" list). *Wrong* is a
direct answer from another topic, or any direct answer to an off-topic question.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.kernel.content import Texts
from handlers.faq.service import FaqConfig, FaqMatcher, Verdict, entry_specs, make_tokenizer
from handlers.keywords import seed_replies
from storage.faq import IndexedEntry

OFF_TOPIC = "none"


@dataclass
class Figures:
    total: int = 0
    topical: int = 0
    off_topic: int = 0
    top1: int = 0  # topical questions whose best-ranked topic is right, whatever the verdict
    right: int = 0
    wrong: int = 0
    clarified: int = 0
    handed: int = 0
    off_topic_answered: int = 0
    misses: list[str] = field(default_factory=list)

    def share(self, n: int, of: int | None = None) -> float:
        """``n`` as a share of ``of`` (default: all questions)."""
        base = self.total if of is None else of
        return n / base if base else 0.0


def load_testset(path: Path) -> dict[str, list[str]]:
    """Topic slug (or "none") -> questions."""
    with path.open("rb") as fh:
        topics: dict[str, list[str]] = tomllib.load(fh)["topics"]
    return topics


def shipped_matcher(texts: Texts, config: FaqConfig | None = None) -> FaqMatcher:
    """A matcher over the content file's topics, as a fresh database would seed them."""
    specs = entry_specs(texts, seed_replies(texts))
    # Every campaign's topics: the test set asks about both.
    matcher = FaqMatcher(make_tokenizer(texts), config or FaqConfig(campaign="all"))
    matcher.build([IndexedEntry.of(s, i) for i, s in enumerate(specs, 1)])
    return matcher


def evaluate(matcher: FaqMatcher, testset: Mapping[str, Sequence[str]]) -> Figures:
    """Run every question of ``testset`` through ``matcher``."""
    fig = Figures()
    for topic, questions in testset.items():
        for question in questions:
            fig.total += 1
            decision = matcher.decide(question)
            best = decision.entries[0].slug if decision.entries else None
            answered = decision.verdict is Verdict.ANSWER
            if topic == OFF_TOPIC:
                fig.off_topic += 1
                if answered:
                    fig.wrong += 1
                    fig.off_topic_answered += 1
                    fig.misses.append(f"off-topic answered: {question} -> {best}")
                else:
                    fig.right += 1
                continue
            fig.topical += 1
            fig.top1 += best == topic
            if answered and best == topic:
                fig.right += 1
            elif answered:
                fig.wrong += 1
                fig.misses.append(f"wrong: {question} -> {best} (expected {topic})")
            elif decision.verdict is Verdict.CLARIFY:
                fig.clarified += 1
                fig.misses.append(f"clarified: {question} -> {[e.slug for e in decision.entries]}")
            else:
                fig.handed += 1
                fig.misses.append(f"handed to staff: {question} (expected {topic})")
    return fig
