"""Every chapter's notebook executes at smoke scale as a reader runs it on Colab.

The notebook is the one the Colab buttons open, ``book/<chapter>.ipynb`` (which
tests/test_book.py checks is what ``make notebooks`` builds from the ``.md``). It is copied
to a folder outside the repository and executed there by ``pytest --nbval-lax`` in a
subprocess with ``COMPANION_SCALE=smoke``, importing the companion from a regular
(non-editable) install of this checkout (the ``installed_companion`` fixture), so a chapter
that needs a file of the repository, or a module the package does not ship, fails here.

The execution cache of jupyter-book does not notice changes in the package, so this run is
also what catches a chapter that a package change broke.
"""

from __future__ import annotations

import os
import shutil
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


def reader_env(site: Path) -> dict:
    """The environment of a reader's kernel: the installed companion first, smoke scale, quiet."""
    env = dict(os.environ, COMPANION_SCALE="smoke", COMPANION_PROGRESS="0", MPLBACKEND="Agg")
    env["PYTHONPATH"] = str(site)  # replaces the developer's PYTHONPATH=<checkout>
    return env


def test_the_installed_companion_is_not_the_checkout(installed_companion: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import companion; print(companion.__file__)"],
        cwd=tmp_path, env=reader_env(installed_companion), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    location = Path(result.stdout.strip()).resolve()
    assert location.is_relative_to(installed_companion.resolve()), (
        f"the kernel imports {location}, not the installed package"
    )


@pytest.mark.notebook
@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_chapter_executes_at_smoke_scale(source: Path, tmp_path: Path, installed_companion: Path) -> None:
    notebook = source.with_suffix(".ipynb")
    assert notebook.exists(), f"{notebook.name} is missing: run `make notebooks`"
    reader = tmp_path / "reader"  # outside the repository, as on Colab
    reader.mkdir()
    shutil.copyfile(notebook, reader / notebook.name)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-q",
         "-p", "no:cacheprovider", "--rootdir", str(reader), str(reader / notebook.name)],
        cwd=reader, env=reader_env(installed_companion), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, (
        f"{notebook.name} failed at smoke scale:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    )
