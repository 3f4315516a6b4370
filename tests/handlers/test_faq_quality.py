"""The FAQ's measured understanding on the test set (deterministic: same content, same
figures). bench/faq.py prints the same figures with the misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.kernel.content import Texts
from handlers.faq.evaluate import OFF_TOPIC, Figures, evaluate, load_testset, shipped_matcher

TESTSET = Path(__file__).resolve().parent.parent / "data" / "faq_questions.toml"


@pytest.fixture(scope="module")
def figures() -> Figures:
    return evaluate(shipped_matcher(Texts.load()), load_testset(TESTSET))


def test_the_test_set_is_big_enough_and_covers_every_topic() -> None:
    testset = load_testset(TESTSET)
    assert sum(len(qs) for qs in testset.values()) >= 150
    assert len(testset[OFF_TOPIC]) >= 20
    assert "今天天气怎么样" in testset[OFF_TOPIC] and "股票明天会涨吗" in testset[OFF_TOPIC]
    slugs = {e["slug"] for e in Texts.load().file("faq")["entry"]}
    assert set(testset) - {OFF_TOPIC} == slugs


def test_no_test_question_is_an_example_question() -> None:
    # Otherwise the figures would measure recall of the content, not understanding.
    examples = {q for e in Texts.load().file("faq")["entry"] for q in e["questions"]}
    asked = {q for qs in load_testset(TESTSET).values() for q in qs}
    assert asked & examples == set()


def test_targets_are_met(figures: Figures) -> None:
    assert figures.share(figures.right) >= 0.90, figures.misses
    assert figures.share(figures.off_topic_answered, figures.off_topic) <= 0.02, figures.misses
    assert figures.share(figures.top1, figures.topical) >= 0.90
