"""Every chapter executes at smoke scale under nbval.

The execution cache of jupyter-book does not notice changes in the package, so this run
is what catches a chapter that a package change broke. Each chapter's MyST source is
converted to a notebook in a temporary folder and executed by ``pytest --nbval-lax`` in a
subprocess with ``COMPANION_SCALE=smoke``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def chapter_sources():
    """The book's jupytext chapters (templates, whose names start with '_', excluded)."""
    return sorted(
        p for p in (ROOT / "book").glob("*.md")
        if not p.name.startswith("_") and p.read_text().startswith("---\njupytext:")
    )


@pytest.mark.notebook
@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_chapter_executes_at_smoke_scale(source: Path, tmp_path: Path) -> None:
    import jupytext

    notebook = tmp_path / f"{source.stem}.ipynb"
    jupytext.write(jupytext.read(source), notebook)
    env = dict(os.environ, COMPANION_SCALE="smoke", COMPANION_PROGRESS="0", MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-q",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(notebook)],
        cwd=ROOT / "book",  # chapters read files relative to book/, as jupyter-book runs them
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, (
        f"{source.name} failed at smoke scale:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    )
