"""Every text key the code names exists in the shipped content files, so a typo or a key
removed from a file fails here instead of as a missing text in front of a user.

Keys are found in the source by their shape: the first argument of ``ctx.t``, ``ctx.reply``,
``texts(...)``, ``texts.get``, ``bot.texts``, ``ask``, operation errors, ``_label``-style
helpers that take a content key, the table and column names of ``columns``, and the
``title_key=`` / ``help=`` of flows and steps. Keys built at
run time (f-strings) are not checked here; their prefixes are.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from bot.kernel.content import Texts
from tests.source import parse_source

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "schedules")
KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
# Calls whose first argument is a text key.
BY_NAME = {"ask", "t", "reply", "texts", "OperationError", "FaqError", "InboxError"}
# Keyword arguments that hold a text key.
KEYWORDS = {"title_key", "help", "text_key"}


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        if func.attr == "get" and isinstance(func.value, ast.Attribute):
            return "texts.get" if func.value.attr == "texts" else ""
        if func.attr == "get" and isinstance(func.value, ast.Name):
            return "texts.get" if func.value.id == "texts" else ""
        return func.attr
    return ""


def _keys(path: Path) -> Iterator[tuple[str, int]]:
    tree = parse_source(path)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _called(node)
        args: list[ast.expr] = []
        if (name in BY_NAME or name == "texts.get") and node.args:
            args.append(node.args[0])
        if name == "columns":
            # columns(texts, "reports.x", "a b c") names reports.x.col_a, .col_b, .col_c.
            table, names = node.args[1:3]
            assert isinstance(table, ast.Constant) and isinstance(names, ast.Constant), path
            for column in str(names.value).split():
                yield f"{table.value}.col_{column}", node.lineno
        if name == "checked_text" and len(node.args) > 2:
            # checked_text(text, limit, "reports.ops.x", ...) names reports.ops.x_empty and _long.
            stem = node.args[2]
            assert isinstance(stem, ast.Constant), path
            yield f"{stem.value}_empty", node.lineno
            yield f"{stem.value}_long", node.lineno
        args.extend(kw.value for kw in node.keywords if kw.arg in KEYWORDS)
        for arg in args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if KEY.match(arg.value):
                    yield arg.value, node.lineno
            elif isinstance(arg, ast.JoinedStr) and arg.values:
                head = arg.values[0]
                if isinstance(head, ast.Constant) and isinstance(head.value, str):
                    prefix = head.value.rsplit(".", 1)[0]
                    if "." in head.value and KEY.match(prefix + ".x"):
                        yield prefix + ".*", node.lineno


def _prefixes(key: str) -> Iterator[str]:
    parts = key.split(".")
    return (".".join(parts[:i]) for i in range(1, len(parts)))


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_every_text_key_in_code_exists() -> None:
    texts = Texts.load()
    tables = {prefix for key in texts.all_keys() for prefix in _prefixes(key)}
    missing = []
    found = 0
    for path in _sources():
        for key, line in _keys(path):
            found += 1
            exists = key[:-2] in tables if key.endswith(".*") else texts.has(key)
            exists = exists or key in tables  # a table read whole (lists, menus)
            if not exists:
                missing.append(f"{path.relative_to(ROOT)}:{line}: {key}")
    assert missing == []
    assert found > 200  # the scan really reads the code


def test_the_scan_sees_a_typo(tmp_path: Path) -> None:
    source = tmp_path / "feature.py"
    source.write_text(
        'async def h(ctx):\n    return ctx.reply("volunteer.welcome_typo", n=1)\n'
        'ok = ask("volunteer.ask_name")\n'
        'f = Flow(name="x", title_key="stories.title_typo", entry=None, steps=[])\n'
        'q = checked_text(q, 9, "reports.ops.faq_question", "question")\n',
        encoding="utf-8",
    )
    texts = Texts.load()
    keys = sorted(key for key, _ in _keys(source))
    assert keys == [
        "reports.ops.faq_question_empty",
        "reports.ops.faq_question_long",
        "stories.title_typo",
        "volunteer.ask_name",
        "volunteer.welcome_typo",
    ]
    assert [texts.has(k) for k in keys] == [True, True, False, True, False]
