"""Operator-facing CLI texts come from the content files, not from code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot.kernel.content import Texts
from tests.bot.test_cli import _cli, _write_config
from tests.source import parse_source

CLI = Path(__file__).resolve().parents[2] / "bot" / "cli"
# Commands whose tables, sheets and charts operators read.
REPORTING = (
    "activities",
    "faq",
    "followers",
    "inbox",
    "keywords",
    "logos",
    "report",
    "stories",
    "volunteers",
    "votes",
)
KEY = re.compile(r"reports(\.[a-z_]+)+")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are module, class or function docstrings."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _tree(path: Path) -> ast.Module:
    """The parsed module (parsed once, so node ids agree between the scans)."""
    return parse_source(path)


def _strings(path: Path) -> list[ast.Constant]:
    """String constants of ``path`` other than docstrings (comments are not in the tree)."""
    tree = _tree(path)
    skip = _docstrings(tree)
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


@pytest.mark.parametrize("module", REPORTING)
def test_no_chinese_text_in_reporting_commands(module: str) -> None:
    path = CLI / f"{module}.py"
    chinese = [
        f"{path.name}:{node.lineno}: {node.value!r}"
        for node in _strings(path)
        if any("\u4e00" <= c <= "\u9fff" for c in node.value)
    ]
    assert not chinese, "move these to handlers/content/reports.toml:\n" + "\n".join(chinese)


def _called(func: ast.expr) -> str:
    """The name a call calls: ``columns(...)`` and ``common.columns(...)`` alike."""
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _column_keys(path: Path) -> tuple[set[str], set[int]]:
    """The keys ``columns(texts, "reports.x", "a b")`` reads (reports.x.col_a, ...), and the
    ids of its table and names strings (not keys themselves)."""
    keys: set[str] = set()
    parts: set[int] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call) and _called(node.func) == "columns":
            table, names = node.args[1:3]
            assert isinstance(table, ast.Constant) and isinstance(names, ast.Constant), path
            keys |= {f"{table.value}.col_{name}" for name in str(names.value).split()}
            parts |= {id(table), id(names)}
    return keys, parts


def test_every_report_key_the_cli_uses_is_shipped() -> None:
    texts = Texts.load()
    used: set[str] = set()
    for path in sorted(CLI.glob("*.py")):
        keys, parts = _column_keys(path)
        used |= keys
        used |= {
            node.value
            for node in _strings(path)
            if KEY.fullmatch(node.value) and id(node) not in parts
        }
    assert len(used) > 50  # the scan sees the literal keys
    missing = sorted(key for key in used if not isinstance(texts.get(key), str))
    assert not missing, f"keys missing from handlers/content/reports.toml: {missing}"


async def test_an_override_directory_renames_a_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    override = tmp_path / "content"
    override.mkdir()
    (override / "reports.toml").write_text('[keywords]\ncol_keyword = "触发词"\n', encoding="utf-8")
    config = _write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", "sandbox")
    config.write_text(config.read_text() + f'[content]\ndir = "{override}"\n')

    code, out, _ = await _cli(capsys, "keywords", "list", "-c", str(config))

    assert code == 0
    header = out.splitlines()[0].split()
    # The overridden column changes; its neighbours keep the shipped texts.
    assert header[:3] == ["id", "触发词", "匹配"]
