"""The operations layer: who acts (``--as``), one audit row per operation, typed refusals
with Chinese texts, and the same functions called without the CLI (as the console will)."""

from __future__ import annotations

import asyncio
import getpass
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from bot.sandbox import FakeWeChatAPI
from handlers import keywords_ops, logo_ops, stories_ops
from handlers.operations import AUTHOR, SYSTEM, Actor, OperationError
from storage.audit import record
from storage.db import transaction
from storage.models import AuditEvent
from tests.bot.test_cli import _write_config

ROOT = Path(__file__).resolve().parents[2]


async def _audit(bot: BotContext) -> list[tuple[str, str, str]]:
    async with bot.sessions() as session:
        rows = await session.execute(
            select(AuditEvent.actor, AuditEvent.action, AuditEvent.detail).order_by(AuditEvent.id)
        )
        return [(a, b, c) for a, b, c in rows.all()]


def test_actor_format() -> None:
    assert str(Actor.cli("alice")) == "cli:alice"
    assert str(Actor.console(" bob ")) == "console:bob"
    assert (str(AUTHOR), str(SYSTEM)) == ("author", "system")
    for bad in (lambda: Actor("cli"), lambda: Actor("operator"), lambda: Actor("author", "x")):
        with pytest.raises(ValueError):
            bad()


async def test_audit_actions_must_read_feature_verb(bot_context: BotContext) -> None:
    async with transaction(bot_context.sessions) as session:
        for old_style in ("votes_void", "logo_phase_set", "Stories.Approve", "stories"):
            with pytest.raises(ValueError, match=r"feature\.verb"):
                record(session, bot_context.clock.now(), SYSTEM, old_style)
    assert await _audit(bot_context) == []


async def test_cli_records_the_operator_given_with_as_or_the_os_user(
    bot_context: BotContext, tmp_path: Path, fake_wechat: FakeWeChatAPI
) -> None:
    config = str(_write_config(tmp_path, bot_context.config.database_url, fake_wechat.base_url))  # type: ignore[attr-defined]
    add = ["keywords", "add", "志愿服务时间", "每周六上午", "-c", config]
    assert await asyncio.to_thread(main, ["--as", "alice", *add]) == 0
    assert await asyncio.to_thread(main, add) == 0
    (first, second) = await _audit(bot_context)
    assert first[:2] == ("cli:alice", "keywords.add") and "rule=" in first[2]
    assert second[:2] == (f"cli:{getpass.getuser()}", "keywords.add")


async def test_a_refused_operation_writes_nothing_and_says_why_in_chinese(
    bot_context: BotContext,
) -> None:
    bob = Actor.console("bob")
    with pytest.raises(OperationError) as refused:
        await keywords_ops.remove(bot_context, bob, 999)
    assert refused.value.key == "reports.ops.keyword_missing"
    assert str(refused.value) == "no rule with id 999"
    assert "999" in refused.value.text(bot_context.texts)
    assert re.search(r"[\u4e00-\u9fff]", refused.value.text(bot_context.texts))
    with pytest.raises(OperationError):
        await stories_ops.reject(bot_context, bob, 5, "重复投稿")
    with pytest.raises(OperationError):
        await logo_ops.void_votes(bot_context, bob, reason="刷票")
    assert await _audit(bot_context) == []
    # Called as the console will call them: one audit row per operation, with its operator.
    rule = await keywords_ops.add(bot_context, bob, "公益", "谢谢关注")
    await keywords_ops.remove(bot_context, bob, rule.id)
    assert [row[:2] for row in await _audit(bot_context)] == [
        ("console:bob", "keywords.add"),
        ("console:bob", "keywords.remove"),
    ]


def test_every_refusal_key_has_its_text() -> None:
    """The content holds every key an operation refuses with (the console shows them)."""
    texts = Texts.load(None)
    keys: set[str] = set()
    for path in sorted((ROOT / "handlers").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r'OperationError\(\s*"([a-z_.]+)"', source))
    assert len(keys) > 20
    missing = [key for key in sorted(keys) if not texts.has(key)]
    assert missing == []


def test_the_features_declare_every_audit_action_the_code_writes() -> None:
    """``Feature.audit_actions`` lists what each feature records, no more and no less."""
    from handlers.registry import FEATURES

    written: set[str] = set()
    for path in sorted((ROOT / "handlers").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        # The action is a literal: passed to audit() or chosen just before the call.
        written |= set(re.findall(r'audit\([^()"]*"([a-z]+\.[a-z_]+)"', source))
        for chosen in re.findall(
            r'action = ("[a-z]+\.[a-z_]+") if .* else ("[a-z]+\.[a-z_]+")', source
        ):
            written |= {name.strip('"') for name in chosen}
    declared = [action for feature in FEATURES for action in feature.audit_actions]
    assert len(declared) == len(set(declared))
    assert written <= set(declared)
    # The features whose operator actions are operations declare exactly what those write.
    with_ops = {path.stem.removesuffix("_ops") for path in (ROOT / "handlers").glob("*_ops.py")}
    with_ops |= {"logo_contest"} if "logo" in with_ops else set()
    of_ops = {a for f in FEATURES if f.name in with_ops for a in f.audit_actions}
    assert of_ops <= written
