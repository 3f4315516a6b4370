"""The matcher and the watchlist without a bot: offline segmentation, scoring, validation."""

from __future__ import annotations

from pathlib import Path

import jieba
import pytest

from bot.kernel.content import ContentError, Texts
from handlers.faq.matcher import Bm25Index, Tokenizer
from handlers.faq.watchlist import Watchlist


def test_the_dictionary_ships_inside_the_package() -> None:
    tok = Tokenizer()
    # Nothing is downloaded: the default dictionary is a file of the installed package.
    with tok._jieba.get_dict_file() as dictionary:
        assert Path(dictionary.name).is_relative_to(Path(jieba.__file__).parent)
    assert tok.tokens("孩子上网要注意什么") == ["孩子", "上网", "要", "注意", "什么"]


def test_stopwords_and_synonyms() -> None:
    tok = Tokenizer(stopwords=["什么", "要"], synonyms={"小孩": "孩子"}, words=["青少年模式"])
    assert tok.tokens("小孩上网要注意什么") == ["孩子", "上网", "注意"]
    assert tok.groups("青少年模式") == [("青少年模式", "青少", "少年", "模式", "青少年")]


def test_unknown_words_lower_the_confidence() -> None:
    index = Bm25Index.build([(1, ["孩子", "上网"]), (2, ["志愿者", "报名"])])
    hit = index.search([("孩子",), ("上网",)])[0]
    assert (hit.entry_id, hit.confidence) == (1, 1.0)
    partial = index.search([("孩子",), ("天气",)])[0]
    assert partial.entry_id == 1 and partial.confidence < 0.5
    assert index.search([("天气",)]) == []
    assert Bm25Index.build([]).search([("孩子",)]) == []


def test_an_unknown_word_backs_off_to_the_words_inside_it() -> None:
    index = Bm25Index.build([(1, ["青少年", "模式"]), (2, ["志愿者"])])
    assert index.search([("青少年模式", "青少年", "少年", "模式")])[0].entry_id == 1


def _watchlist(tmp_path: Path, body: str) -> Watchlist:
    (tmp_path / "watchlist.toml").write_text(body, encoding="utf-8")
    return Watchlist.from_texts(Texts.load(tmp_path))


def test_watchlist_content_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="severity"):
        _watchlist(tmp_path, '[[category]]\nname = "x"\nseverity = 7\nwords = ["a"]\n')
    with pytest.raises(ContentError, match="patterns"):
        _watchlist(tmp_path, '[[category]]\nname = "x"\nseverity = 1\npatterns = ["("]\n')
    with pytest.raises(ContentError, match="reply"):
        _watchlist(tmp_path, '[[category]]\nname = "x"\nseverity = 1\naction = "reply"\n')


def test_shipped_watchlist_categories() -> None:
    watchlist = Watchlist.from_texts(Texts.load())
    cases = {
        "我不想活了": "self_harm",
        "求求你们帮帮我": "help",
        "请大家帮忙转发筹款": "fundraising",
        "孩子在网上被欺负": "bullying",
        "我被骗了转账五千": "fraud",
        "这是谣言吗": "rumour",
    }
    for text, name in cases.items():
        found = watchlist.check(text)
        assert found is not None and found.name == name, text
    assert watchlist.check("怎么报名志愿者") is None
    # Full-width and case are folded like the FAQ's.
    assert watchlist.check("ＳＯＳ救救我") is not None
