"""CONTRIBUTING's size rule for the package: no function over 60 lines, no class over 200, no module over 700.

A line count is a blunt measure, but past these sizes a newcomer can no longer read a piece in one
sitting; the rule is checked here so that it holds without anyone remembering it.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "companion"
MAX_MODULE_LINES = 700
MAX_CLASS_LINES = 200
MAX_FUNCTION_LINES = 60


def oversized(source: str, path: str) -> list:
    """``(what, name, lines, limit)`` for each module, class or function of ``source`` over its limit;
    a definition's lines run from its ``def`` or ``class`` line to its last line."""
    found = []
    n_lines = len(source.splitlines())
    if n_lines > MAX_MODULE_LINES:
        found.append(("module", path, n_lines, MAX_MODULE_LINES))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            is_class = isinstance(node, ast.ClassDef)
            what, limit = ("class", MAX_CLASS_LINES) if is_class else ("function", MAX_FUNCTION_LINES)
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                found.append((what, f"{path}:{node.name}", lines, limit))
    return found


def test_the_check_finds_what_is_too_long():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))  # with its def line: one over
    assert oversized(f"def f():\n{body}\n", "m.py") == [("function", "m.py:f", MAX_FUNCTION_LINES + 1, 60)]
    assert oversized(f"def f():\n{body[:body.rindex(chr(10))]}\n", "m.py") == []
    methods = "\n".join(f"    def m{i}(self):\n        return {i}\n" for i in range(67))  # 201 lines in all
    assert [what for what, *_ in oversized(f"class C:\n{methods}", "m.py")] == ["class"]
    assert [what for what, *_ in oversized("x = 1\n" * (MAX_MODULE_LINES + 1), "m.py")] == ["module"]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_package_keeps_the_size_rule(path):
    found = oversized(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert not found, "over CONTRIBUTING's size limits (split them into named pieces):\n" + "\n".join(
        f"  {what} {name}: {lines} lines (at most {limit})" for what, name, lines, limit in found)
