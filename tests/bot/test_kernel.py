"""Typed keys and statuses of the kernel and storage."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from bot.kernel.message import Channel, Inbound, Kind, UserKey, fold, normalize
from storage.activities import ActivityStatus
from storage.logo import STATUSES, EntryStatus
from storage.schedules import OutboxStatus
from storage.stories import StoryStatus


def test_a_message_carries_its_sender_as_one_frozen_key() -> None:
    msg = Inbound(
        channel=Channel.WEIBO,
        account="5000000001",
        user="u1",
        kind=Kind.TEXT,
        key="k1",
        received_at=datetime.now(UTC),
        text="hi",
    )
    key = msg.user_key
    assert key == UserKey(Channel.WEIBO, "5000000001", "u1")
    assert key is msg.user_key  # computed once per message
    assert {key: 1}[UserKey(Channel.WEIBO, "5000000001", "u1")] == 1
    # The same user id on the other channel is another person.
    assert key != UserKey(Channel.WECHAT, "5000000001", "u1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.user = "u2"  # type: ignore[misc]


def test_statuses_are_enums_equal_to_the_stored_strings() -> None:
    assert EntryStatus.APPROVED == "approved" and StoryStatus.REJECTED == "rejected"
    assert ActivityStatus.CANCELLED == "cancelled" and OutboxStatus.MISSED == "missed"
    # CLI choices stay plain strings, so --help and argparse's errors read as before.
    assert STATUSES == ("pending", "approved", "rejected", "withdrawn")
    assert all(type(status) is str for status in STATUSES)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("投票　１２", "投票 12"),  # ideographic space, full-width digits
        ("  ｖｏｌｕｎｔｅｅｒ！ ", "volunteer"),  # full-width letters; trailing ！ dropped
        ("报名。", "报名"),
        ("谢谢，请问怎么报名？", "谢谢,请问怎么报名?"),  # full-width punctuation folded too
        ("a \t\n b", "a b"),
        ("没有全角字符" * 40, "没有全角字符" * 40),
        ("", ""),
    ],
)
def test_normalize_folds_full_width_and_spaces(text: str, word: str) -> None:
    assert normalize(text) == word


def test_fold_is_normalize_without_trailing_question_marks_or_tildes_in_lower_case() -> None:
    assert fold("在吗？？") == "在吗"
    assert fold("谢谢～") == "谢谢"
    assert fold("ＶＯＴＥ!") == "vote"
    msg = Inbound(
        channel=Channel.WECHAT, account="gh", user="u", key="k", kind=Kind.TEXT,
        text="  投票？ ", received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    assert (msg.word, msg.folded) == ("投票?", "投票")
