"""The book's sources are consistent and the book builds with warnings as errors.

* every chapter's ``.ipynb`` (for Jupyter and Colab) is what ``make notebooks`` builds from
  its ``.md`` (the source of truth), carries no outputs, and starts its code with the
  chapter's Colab install cell;
* every chapter is in the table of contents, and every entry of the table exists;
* the Colab install cell of every chapter (and of the chapter template) installs the
  companion under the distribution name of ``pyproject.toml`` from the repository URL of
  ``_config.yml`` at the book's own version tag, never a moving branch head;
* Sphinx builds the whole book with ``-W``, every chapter executed at smoke scale (the
  ``smoke_book`` fixture of conftest.py, shared with ``test_browser``), and each chapter's
  Colab button opens its ``.ipynb`` in the repository;
* the student edition (execution off) hides every solution.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from conftest import build_book

import companion

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def chapters():
    return sorted(
        p for p in BOOK.glob("*.md")
        if not p.name.startswith("_") and p.read_text().startswith("---\njupytext:")
    )


def cells(path: Path):
    import jupytext

    return [(c.cell_type, c.source.strip()) for c in jupytext.read(path).cells]


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    stack = list(toc.get("chapters", [])) + [c for part in toc.get("parts", []) for c in part["chapters"]]
    while stack:
        entry = stack.pop()
        files.append(entry["file"])
        stack.extend(entry.get("sections", []))
    return files


@pytest.mark.parametrize("source", chapters(), ids=lambda p: p.stem)
def test_committed_notebook_is_what_make_notebooks_builds(source: Path, built_notebooks: Path) -> None:
    committed = source.with_suffix(".ipynb")
    assert committed.exists(), f"{source.name} has no notebook {committed.name}: run `make notebooks`"
    built = built_notebooks / committed.name
    assert committed.read_text() == built.read_text(), (
        f"{committed.name} is not what `make notebooks` builds from {source.name}: run `make notebooks`"
    )
    assert '"output_type"' not in committed.read_text(), f"{committed.name} carries outputs"
    first_code = next(c for c in json.loads(committed.read_text())["cells"] if c["cell_type"] == "code")
    assert first_code["source"] == next(src for kind, src in cells(source) if kind == "code"), (
        f"the first code cell of {committed.name} must be the Colab install cell of {source.name}"
    )


def distribution_name() -> str:
    """The name under which pyproject.toml publishes the package (the import name is ``companion``)."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]


@pytest.mark.parametrize("source", chapters() + [BOOK / "_chapter_template.md"], ids=lambda p: p.stem)
def test_colab_cell_installs_this_version_from_the_repository(source: Path) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"].rstrip("/")
    first_code = next(src for kind, src in cells(source) if kind == "code")
    assert "google.colab" in first_code, f"the first code cell of {source.name} must be the Colab install cell"
    installs = re.findall(r'"([A-Za-z0-9_.-]+) @ git\+', first_code)
    assert installs == [distribution_name()], (
        f"{source.name} installs {installs} on Colab; pyproject.toml names the distribution "
        f"{distribution_name()!r}"
    )
    expected = f"{distribution_name()} @ git+{url}@v{companion.__version__}"
    assert expected in first_code, f"{source.name} must install {expected!r} on Colab"


def test_table_of_contents_matches_the_chapters() -> None:
    listed = set(toc_files())
    for source in chapters():
        assert f"book/{source.stem}" in listed, f"{source.name} is missing from _toc.yml"
    for entry in listed:
        assert (ROOT / f"{entry}.md").exists(), f"_toc.yml lists {entry}, which does not exist"


def test_every_chapter_cites_only_known_keys() -> None:
    keys = set(re.findall(r"@\w+\{([^,]+),", (BOOK / "references.bib").read_text()))
    for source in list(chapters()) + [BOOK / "intro.md"]:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", source.read_text()):
            for key in group.split(","):
                assert key.strip() in keys, f"{source.name} cites unknown key {key.strip()!r}"


def build_edition(edition: str, out: Path) -> Path:
    """Build the book's ``edition`` (see tools/edition_config.py) with execution off into ``out``; return its HTML
    folder."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from edition_config import edition_config
    finally:
        sys.path.pop(0)
    config = edition_config(edition)
    config["execute"]["execute_notebooks"] = "off"  # the smoke build and test_notebooks execute
    # Without execution there is no glue data; the smoke build checks the glued numbers.
    sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx["suppress_warnings"] = list(sphinx.get("suppress_warnings", [])) + ["mystnb.glue"]
    result = build_book(config, out)
    assert result.returncode == 0, (
        f"the {edition} book does not build cleanly:\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
    )
    return out / "_build" / "html" / "book"


def solution_labels():
    """(chapter stem, first words of the solution) for every solution of the book, gated ones too."""
    found = []
    pattern = r"```\{solution(?:-start)?\}[^\n]*\n(?::[^\n]*\n)*\n?(.*?)```"
    for source in chapters():
        for body in re.findall(pattern, source.read_text(), re.S):
            prose = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|\\[A-Za-z]+", " ", body, flags=re.S)
            words = re.findall(r"[A-Za-z]{6,}", prose)
            if len(words) >= 3:
                found.append((source.stem, " ".join(words[:3])))
    return found


@pytest.mark.build
def test_book_builds_with_warnings_as_errors(smoke_book: Path) -> None:
    html = smoke_book / "book"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert (html / "intro.html").exists()
    # The theme links Colab to the .ipynb only when it sits next to the .md: check each link.
    repo = config["repository"]["url"].rstrip("/").removeprefix("https://github.com/")
    for entry in toc_files()[1:]:  # every chapter after the preface
        if not (ROOT / f"{entry}.ipynb").exists():
            continue  # a page that is no notebook has nothing to launch
        stem = Path(entry).name
        page = (html / f"{stem}.html").read_text()
        link = f"https://colab.research.google.com/github/{repo}/blob/{config['repository']['branch']}/book/{stem}.ipynb"
        assert link in page, f"the Colab button of {stem}.html does not open {link}"


@pytest.mark.build
def test_student_edition_hides_the_solutions(tmp_path: Path) -> None:
    solutions = solution_labels()
    assert solutions, "the book has no exercise solutions to hide"
    html = build_edition("student", tmp_path)
    for stem, snippet in solutions:
        page = (html / f"{stem}.html").read_text()
        assert 'class="solution' not in page and "solution-title" not in page, f"{stem}.html shows a solution"
        assert snippet not in " ".join(re.findall(r"[A-Za-z]{6,}", page)), f"{stem}.html still shows {snippet!r}"
        assert 'class="exercise' in page or "exercise-title" in page, f"{stem}.html lost its exercises"


@pytest.mark.parametrize("scale", ["book", "smoke"])
def test_each_scale_keeps_its_own_execution_cache(scale: str, monkeypatch) -> None:
    # jupyter-cache keys a chapter on its code only: a smoke run in the book-scale cache would
    # be served to the next `make book` as if it were the book-scale result
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from edition_config import edition_config
    finally:
        sys.path.pop(0)
    monkeypatch.setenv("COMPANION_SCALE", scale)
    cache = Path(edition_config("student")["execute"]["cache"])
    book_out = "." if scale == "book" else f"_build/scale-{scale}"
    assert cache == (ROOT / book_out).resolve() / "_build" / ".jupyter_cache"
    makefile = (ROOT / "Makefile").read_text()
    assert "BOOK_OUT = $(if $(filter book,$(SCALE)),.,_build/scale-$(SCALE))" in makefile


@pytest.mark.parametrize("edition", ["student", "noexec"])
def test_edition_config_uses_only_keys_jupyter_book_reads(edition: str, monkeypatch) -> None:
    # `execute.cache_path` was silently ignored, so `make student` executed every chapter again
    # in its own cache: translate the generated config as jupyter-book does and check the cache
    from jupyter_book.config import get_validator, yaml_to_sphinx

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from edition_config import edition_config
    finally:
        sys.path.pop(0)
    monkeypatch.setenv("COMPANION_SCALE", "smoke")
    config = edition_config(edition)
    known = set(get_validator().schema["properties"]["execute"]["properties"])
    assert set(config["execute"]) <= known, f"keys jupyter-book does not read: {set(config['execute']) - known}"
    sphinx = yaml_to_sphinx(config)[0]  # (sphinx config, extra files)
    assert sphinx["nb_execution_cache_path"] == str(ROOT / "_build" / "scale-smoke" / "_build" / ".jupyter_cache")
