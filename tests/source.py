"""Reading the project's own Python source, for the tests that check what the code uses."""

from __future__ import annotations

import ast
import functools
from pathlib import Path


@functools.cache
def parse_source(path: Path) -> ast.Module:
    """The module at ``path``, parsed once per test run."""
    source = path.read_text(encoding="utf-8")
    try:
        return ast.parse(source)
    except SystemError:
        # CPython before 3.11.8 can lose count of the AST constructor's depth when an error
        # arrives mid-parse and then reports "AST constructor recursion depth mismatch"
        # (gh-106905); seen in about one full run in two here. The source is fine: again.
        return ast.parse(source)
